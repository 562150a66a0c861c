"""Mesh repair, normalisation and convex decomposition (trimesh, manifold3d, coacd).

A mesh that goes into the simulator is *boolean-clean*: watertight, consistently wound, outward
normals, positive volume, and accepted by manifold3d. :func:`repair_mesh` gets there by cheap
fixes first (merge vertices, drop degenerate faces, fill holes, fix winding) and by a voxel remesh
when they are not enough, and says what it did. :func:`decompose` runs CoACD in a worker process
that is killed after a time budget (the convex hull is used then, with a warning).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlscope.errors import DataError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class CoacdSettings:
    """CoACD settings. The defaults were chosen in ``benchmarks/bench_assets.py`` (quality at a bounded cost)."""

    threshold: float = 0.05
    """Concavity threshold: lower is finer (more hulls, slower)."""
    max_convex_hull: int = 16
    """Upper bound on the number of hulls (merged down to it)."""
    resolution: int = 1000
    """Surface sampling resolution of the concavity metric."""
    mcts_iterations: int = 30
    """Monte-Carlo tree search iterations per cut."""
    mcts_nodes: int = 10
    """Children explored per MCTS node."""
    mcts_max_depth: int = 2
    """MCTS search depth."""
    preprocess_resolution: int = 40
    """Voxel resolution of CoACD's own manifold preprocessing (used only when the input is not manifold)."""
    timeout_s: float | None = 60.0
    """Wall-clock budget; past it the worker is killed and the convex hull is used. None: run in-process."""
    seed: int = 0


def as_trimesh(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None):
    import trimesh

    mesh = trimesh.Trimesh(np.asarray(vertices, float), np.asarray(faces, np.int64), process=False)
    if colors is not None:
        mesh.visual.vertex_colors = colors
    return mesh


def check_mesh(mesh) -> list[str]:
    """Why ``mesh`` is not boolean-clean (empty list: it is)."""
    problems = []
    if len(mesh.faces) == 0:
        return ["it has no faces"]
    if not mesh.is_watertight:
        problems.append("not watertight")
    if not mesh.is_winding_consistent:
        problems.append("inconsistent winding")
    if mesh.is_watertight and mesh.volume <= 0:
        problems.append("inside-out (negative volume)")
    if not problems and not _manifold_ok(mesh):
        problems.append("rejected by manifold3d")
    return problems


def _manifold_ok(mesh) -> bool:
    import manifold3d

    m = manifold3d.Manifold(
        manifold3d.Mesh(vert_properties=np.asarray(mesh.vertices, np.float32), tri_verts=np.asarray(mesh.faces, np.uint32))
    )
    return m.status() == manifold3d.Error.NoError and not m.is_empty()


def repair_mesh(mesh, *, resolution: int = 64, what: str = "mesh") -> tuple[Any, list[str]]:
    """Make a mesh boolean-clean; returns ``(mesh, repairs)`` with one sentence per repair.

    Raises :class:`DataError` when nothing usable is left (no faces, no volume).
    """
    import trimesh

    repairs: list[str] = []
    if mesh is None or len(mesh.faces) == 0 or len(mesh.vertices) < 4:
        raise DataError(f"{what} has no faces")
    if not np.isfinite(mesh.vertices).all():
        raise DataError(f"{what} has non-finite vertex coordinates")
    if not check_mesh(mesh):
        return mesh, repairs
    mesh = mesh.copy()
    n_v, n_f = len(mesh.vertices), len(mesh.faces)
    mesh.merge_vertices()
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.update_faces(mesh.unique_faces())
    mesh.remove_unreferenced_vertices()
    if len(mesh.faces) == 0:
        raise DataError(f"{what} has only degenerate faces")
    if len(mesh.vertices) != n_v or len(mesh.faces) != n_f:
        repairs.append(f"merged {n_v - len(mesh.vertices)} duplicate vertices and dropped {n_f - len(mesh.faces)} degenerate/duplicate faces")
    problems = check_mesh(mesh)
    if not problems:
        return mesh, repairs
    if "not watertight" in problems:
        before = len(mesh.faces)
        trimesh.repair.fill_holes(mesh)
        if len(mesh.faces) != before:
            repairs.append(f"filled holes with {len(mesh.faces) - before} faces")
    trimesh.repair.fix_winding(mesh)
    trimesh.repair.fix_inversion(mesh, multibody=True)
    after = check_mesh(mesh)
    if not after:
        repairs.append(f"fixed a {', '.join(problems)} mesh by filling holes and fixing winding/normals")
        return mesh, repairs
    remeshed = voxel_remesh(mesh, resolution=resolution)
    repairs.append(
        f"remeshed through a {resolution}^3 voxel grid because the {what} was {', '.join(after)} "
        f"(parts thinner than 1/{resolution} of the longest side are thickened)"
    )
    if check_mesh(remeshed):
        raise DataError(f"{what} could not be repaired ({', '.join(check_mesh(remeshed))} after remeshing)")
    return remeshed, repairs


def voxel_remesh(mesh, *, resolution: int = 64):
    """A watertight surface of the filled voxelisation of ``mesh`` (keeps vertex colours by nearest neighbour)."""
    pitch = float(max(mesh.extents)) / resolution
    if pitch <= 0:
        raise DataError("mesh has zero extent")
    vox = mesh.voxelized(pitch)
    try:
        vox = vox.fill()
    except Exception:  # noqa: BLE001 - filling may fail on open shells; the surface voxels remain
        pass
    grid = vox.matrix.astype(np.float32)
    out = surface_from_volume(grid, spacing=pitch, origin=vox.transform[:3, 3], smooth=0.6)
    _transfer_colors(mesh, out)
    return out


def surface_from_volume(volume: np.ndarray, spacing: float | tuple[float, float, float] = 1.0, origin=(0.0, 0.0, 0.0),
                        smooth: float = 0.0, max_faces: int = 6000):
    """Watertight mesh of the 0.5 level of an occupancy volume ``(X, Y, Z)`` (padded, optionally blurred)."""
    from skimage import measure

    vol = np.pad(np.asarray(volume, np.float32), 2)
    if smooth > 0:
        from scipy.ndimage import gaussian_filter

        vol = gaussian_filter(vol, smooth)
    if vol.max() < 0.5:
        raise DataError("the occupancy volume is empty")
    sp = np.broadcast_to(np.asarray(spacing, float), (3,))
    verts, faces, _, _ = measure.marching_cubes(vol, level=0.5, spacing=tuple(sp))
    verts = verts - 2 * sp + np.asarray(origin, float)
    mesh = as_trimesh(verts, faces[:, ::-1])
    mesh.merge_vertices()
    if mesh.volume < 0:
        mesh.invert()
    return simplify(mesh, max_faces)


def simplify(mesh, max_faces: int = 6000):
    """Decimate with manifold3d (keeps the mesh manifold); returns the input when already small."""
    import manifold3d

    if len(mesh.faces) <= max_faces:
        return mesh
    man = manifold3d.Manifold(
        manifold3d.Mesh(vert_properties=np.asarray(mesh.vertices, np.float32), tri_verts=np.asarray(mesh.faces, np.uint32))
    )
    if man.status() != manifold3d.Error.NoError:
        return mesh
    tol = float(max(mesh.extents)) / 400
    out = man
    for _ in range(8):
        out = man.simplify(tol)
        if out.num_tri() <= max_faces:
            break
        tol *= 1.8
    m = out.to_mesh()
    res = as_trimesh(np.asarray(m.vert_properties)[:, :3], np.asarray(m.tri_verts))
    _transfer_colors(mesh, res)
    return res


def _transfer_colors(src, dst) -> None:
    if getattr(src.visual, "kind", None) != "vertex":
        return
    from scipy.spatial import cKDTree

    _, idx = cKDTree(src.vertices).query(dst.vertices)
    dst.visual.vertex_colors = np.asarray(src.visual.vertex_colors)[idx]


def normalize_mesh(mesh, longest_side: float | None = None, extents: tuple[float, float, float] | None = None):
    """Scale (uniformly to ``longest_side``, or per axis to ``extents``) and put the bbox bottom centre at 0."""
    mesh = mesh.copy()
    lo, hi = mesh.bounds
    mesh.apply_translation([-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]])
    if extents is not None:
        mesh.vertices = mesh.vertices * (np.asarray(extents, float) / np.maximum(mesh.extents, 1e-12))
    elif longest_side is not None:
        mesh.apply_scale(longest_side / float(max(mesh.extents)))
    return mesh


AXES = {"+x": (1.0, 0.0, 0.0), "-x": (-1.0, 0.0, 0.0), "+y": (0.0, 1.0, 0.0), "-y": (0.0, -1.0, 0.0),
        "+z": (0.0, 0.0, 1.0), "-z": (0.0, 0.0, -1.0)}
"""Axis names of ``--up-axis`` and ``--front`` (``x``, ``y``, ``z`` mean the + ones)."""


def axis_vector(name: str, what: str = "axis") -> np.ndarray:
    """(3,) unit vector of an axis name (``+x`` ... ``-z``, or ``x``/``y``/``z``); one clear error otherwise."""
    key = str(name).strip().lower()
    key = "+" + key if key in ("x", "y", "z") else key
    if key not in AXES:
        raise DataError(f"{what} {name!r}: expected one of {', '.join(AXES)}")
    return np.asarray(AXES[key])


def orientation_matrix(up: str = "+z", front: str = "-y") -> np.ndarray:
    """(3, 3) rotation taking a file's ``up`` axis to +z and its ``front`` to -y (the project's convention).

    ``orientation_matrix("+y", "+z")`` turns a y-up model that faces +z (glTF, many generators) upright.
    """
    u, f = axis_vector(up, "up axis"), axis_vector(front, "front")
    if abs(float(u @ f)) > 1e-9:
        raise DataError(f"front {front} is not perpendicular to up axis {up}: give a front among "
                        + ", ".join(k for k, v in AXES.items() if abs(float(np.asarray(v) @ u)) < 1e-9))
    src = np.stack([np.cross(-f, u), -f, u], axis=1)  # file axes that become world x, y, z: (3, 3)
    return src.T


def solid_volume(mesh, resolution: int = 48) -> float:
    """Volume of a mesh (m^3): exact when watertight, else that of its filled voxelisation at
    ``resolution`` cells along the longest side (an open box counts its walls, not its inside)."""
    if mesh.is_volume:
        return float(mesh.volume)
    pitch = float(max(mesh.extents)) / resolution
    if pitch <= 0:
        return 0.0
    vox = mesh.voxelized(pitch)
    try:
        vox = vox.fill()
    except Exception:  # noqa: BLE001 - filling may fail on open shells; the surface voxels remain
        pass
    return float(vox.matrix.sum()) * pitch**3


def concavity(mesh) -> float:
    """Convex-hull volume / :func:`solid_volume` - 1: 0 for a convex solid, large for an open box or a cup."""
    vol = solid_volume(mesh)
    hull = mesh.convex_hull
    if vol <= 0:
        return 0.0
    return max(0.0, float(hull.volume) / vol - 1.0)


MIN_THICKNESS = 0.003
"""Collision hulls thinner than this (m) are thickened to it (a flat panel has no volume for MuJoCo)."""


def thicken(hull, minimum: float = MIN_THICKNESS):
    """A convex hull at least ``minimum`` thick along its thinnest principal direction (flat panels)."""
    import trimesh

    pts = np.asarray(hull.vertices, float)
    if len(pts) < 3:
        return hull
    centred = pts - pts.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    normal = vt[-1]
    span = float(np.ptp(centred @ normal))
    if span >= minimum:
        return hull
    off = normal * (minimum - span) / 2
    return trimesh.Trimesh(np.vstack([pts + off, pts - off])).convex_hull


def mean_color(mesh) -> list[float]:
    """RGBA in [0, 1]: the mean vertex colour, or light grey."""
    if getattr(mesh.visual, "kind", None) == "vertex":
        c = np.asarray(mesh.visual.vertex_colors, float)[:, :4] / 255.0
        return [float(v) for v in c.mean(axis=0)]
    return [0.7, 0.7, 0.7, 1.0]


# -- convex decomposition ----------------------------------------------------------------
@dataclasses.dataclass
class Decomposition:
    hulls: list
    """Convex trimesh.Trimesh parts."""
    method: str
    """single | coacd | convex_hull (fallback)."""
    seconds: float
    excess: float
    """Sum of hull volumes / mesh volume - 1 (0 is a perfect fit; overlaps count twice)."""
    warnings: list[str] = dataclasses.field(default_factory=list)


def decompose(mesh, settings: CoacdSettings = CoacdSettings()) -> Decomposition:
    """Convex decomposition (CoACD) within ``settings.timeout_s``.

    A boolean-clean mesh is decomposed as it is. An open or non-manifold one (a drawer with no top, a
    cabinet with no front, a triangle soup) is measured by its filled voxelisation (:func:`solid_volume`)
    and handed to CoACD, whose own voxel preprocessing makes it manifold first; flat pieces are
    thickened (:func:`thicken`). A nearly convex mesh is its own hull.
    """
    t0 = time.perf_counter()
    volume = solid_volume(mesh)
    hull = thicken(mesh.convex_hull)
    warnings: list[str] = []
    if volume <= 0 or hull.volume <= volume * (1 + settings.threshold * 0.5):
        return Decomposition([hull], "single", time.perf_counter() - t0, hull.volume / max(volume, 1e-12) - 1)
    args = (np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int32), dataclasses.asdict(settings))
    try:
        if settings.timeout_s is None:
            parts = _coacd_parts(*args)
        else:
            parts = _run_with_timeout(_coacd_parts, args, settings.timeout_s)
        method = "coacd"
    except TimeoutError:
        warnings.append(f"CoACD exceeded its {settings.timeout_s:.0f} s budget; using the convex hull as collision")
        parts, method = [(np.asarray(hull.vertices), np.asarray(hull.faces))], "convex_hull"
    hulls = []
    for v, f in parts:
        if len(v) < 4:
            continue
        h = thicken(as_trimesh(v, f).convex_hull)
        if h.volume > 1e-6 * volume and len(h.vertices) >= 4:
            hulls.append(h)
    if not hulls:
        warnings.append("CoACD returned no usable hull; using the convex hull")
        hulls, method = [hull], "convex_hull"
    excess = sum(h.volume for h in hulls) / volume - 1
    return Decomposition(hulls, method, time.perf_counter() - t0, float(excess), warnings)


def _coacd_parts(vertices: np.ndarray, faces: np.ndarray, settings: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    import coacd

    coacd.set_log_level("error")
    parts = coacd.run_coacd(
        coacd.Mesh(np.asarray(vertices, np.float64), np.asarray(faces, np.int32)),
        threshold=float(settings["threshold"]),
        max_convex_hull=int(settings["max_convex_hull"]),
        preprocess_mode="auto",
        preprocess_resolution=int(settings["preprocess_resolution"]),
        resolution=int(settings["resolution"]),
        mcts_nodes=int(settings["mcts_nodes"]),
        mcts_iterations=int(settings["mcts_iterations"]),
        mcts_max_depth=int(settings["mcts_max_depth"]),
        seed=int(settings["seed"]),
    )
    return [(np.asarray(v), np.asarray(f)) for v, f in parts]


def _run_with_timeout(fn, args: tuple, timeout_s: float):
    """Run CoACD in a child process (``python -m rlscope.gen2sim.assets.mesh``), killed after ``timeout_s``.

    A child interpreter rather than multiprocessing: it does not re-import the caller's main module,
    and killing it cannot leave locks held in this process. Raises TimeoutError.
    """
    import json
    import subprocess
    import sys
    import tempfile

    vertices, faces, settings = args
    with tempfile.TemporaryDirectory(prefix="rlscope-coacd-") as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, vertices=vertices, faces=faces, settings=json.dumps(settings))
        proc = subprocess.Popen([sys.executable, "-m", "rlscope.gen2sim.assets.mesh", str(src), str(dst)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise TimeoutError(f"CoACD ran past {timeout_s} s") from None
        if proc.returncode != 0 or not dst.exists():
            tail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"CoACD worker failed (exit {proc.returncode}): {tail[0]}")
        with np.load(dst) as data:
            n = int(data["n"])
            return [(data[f"v{i}"], data[f"f{i}"]) for i in range(n)]


def _worker_main(src: str, dst: str) -> int:
    import json

    with np.load(src) as data:
        parts = _coacd_parts(data["vertices"], data["faces"], json.loads(str(data["settings"])))
    out = {"n": np.asarray(len(parts))}
    for i, (v, f) in enumerate(parts):
        out[f"v{i}"], out[f"f{i}"] = v, f
    np.savez(dst, **out)
    return 0


# -- geometry of assets ------------------------------------------------------------------
def geom_mesh(geom, meshes: dict[str, Any] | None = None, sections: int = 24):
    """A trimesh of one :class:`~rlscope.gen2sim.assets.asset.Geom` in its link's frame."""
    import trimesh

    from rlscope.gen2sim.assets.asset import pose_matrix

    if geom.type == "box":
        m = trimesh.creation.box(extents=geom.size)
    elif geom.type == "cylinder":
        m = trimesh.creation.cylinder(radius=geom.size[0], height=geom.size[1], sections=sections)
    elif geom.type == "capsule":
        m = trimesh.creation.capsule(radius=geom.size[0], height=geom.size[1], count=[sections, sections])
    elif geom.type == "sphere":
        m = trimesh.creation.icosphere(subdivisions=2, radius=geom.size[0])
    elif geom.type == "mesh":
        if meshes is None or geom.mesh not in meshes:
            raise KeyError(f"mesh {geom.mesh!r} not loaded")
        m = meshes[geom.mesh].copy()
        if list(geom.scale) != [1.0, 1.0, 1.0]:
            m.vertices = m.vertices * np.asarray(geom.scale)
    else:
        raise ValueError(f"unknown geom type {geom.type!r}")
    m.apply_transform(pose_matrix(geom.pos, geom.quat))
    return m


def link_solid(link, meshes: dict[str, Any] | None = None):
    """The link's collision geometry (visual if none) as one mesh of convex pieces, or None."""
    import trimesh

    geoms = link.collisions or link.visuals
    if not geoms:
        return None
    parts = []
    for g in geoms:
        m = geom_mesh(g, meshes)
        parts.append(m if m.is_volume else m.convex_hull)
    return trimesh.util.concatenate(parts)


def asset_bounds(asset, meshes: dict[str, Any] | None = None, which: str = "collisions") -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of the asset's collision (or visual) geometry in the asset frame at the default configuration."""
    poses = asset.link_poses()
    pts = []
    for link in asset.links:
        geoms = getattr(link, which) or (link.visuals if which == "collisions" else [])
        for g in geoms:
            v = np.asarray(geom_mesh(g, meshes).vertices)
            T = poses[link.name]
            pts.append(v @ T[:3, :3].T + T[:3, 3])
    if not pts:
        raise DataError(f"asset {asset.asset_id} has no geometry")
    allp = np.vstack(pts)
    return allp.min(axis=0), allp.max(axis=0)


if __name__ == "__main__":
    import sys

    sys.exit(_worker_main(sys.argv[1], sys.argv[2]))
