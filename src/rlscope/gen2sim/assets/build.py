"""The asset pipeline: image(s) | mesh | URDF | procedural kind -> :class:`Asset` + meshes -> ``OUT/NAME/``.

Stages (each timed into ``asset.params["timings"]``): segment -> physics query -> lift -> repair ->
scale/mass/inertia -> convex decomposition -> export (meshes, hulls, URDF, MJCF, asset.json).
Validation and the preview run on the written directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlscope.errors import DataError, RlscopeError
from rlscope.gen2sim.assets import mesh as meshlib
from rlscope.gen2sim.assets import physics as phys
from rlscope.gen2sim.assets.asset import Asset, Geom, Link, Physics
from rlscope.gen2sim.assets.urdf import default_front as urdf_front

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
MESH_SUFFIXES = (".obj", ".stl", ".ply", ".off", ".glb", ".gltf")
MJCF_SUFFIXES = (".xml", ".mjcf")
URDF_SUFFIXES = (".urdf",)
PROCEDURAL_PREFIX = "procedural:"


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """Everything the pipeline needs besides the inputs (the CLI's AssetConfig maps onto this)."""

    category: str | None = None
    method: str = "auto"
    llm: phys.LLMOptions = phys.LLMOptions()
    seed: int = 0
    sample_physics: bool = True
    """Draw size and mass uniformly from the ranges (seeded); False: take the midpoints."""
    size_cm: float | None = None
    """Override the longest side (cm)."""
    mass_g: float | None = None
    """Override the mass (g)."""
    azimuths: tuple[float, ...] | None = None
    lifter: str | None = None
    lifter_weights: str | None = None
    resolution: int = 64
    coacd: meshlib.CoacdSettings = meshlib.CoacdSettings()
    up_axis: str | None = None
    """Mesh and URDF inputs: the file's up axis (+x -x +y -y +z -z); None: +z."""
    front: str | None = None
    """Mesh and URDF inputs: the file's front; None: -y (z up), +z (y up), -x (PartNet-Mobility)."""
    keep_scale: bool = False
    """Mesh inputs: keep the file's size (metres) even when it is implausible for the category."""
    fixed_base: bool | None = None
    """URDF inputs: stand fixed in the world; None: articulated furniture and anything over 10 kg."""
    box: tuple[int, int, int, int] | None = None
    """Image inputs (one photo): the object's box x0, y0, x1, y1 in the photo's pixels."""
    point: tuple[int, int] | None = None
    """Image inputs (one photo): a pixel x, y of the object."""
    segmenter: str = "grabcut"
    """Image inputs: the segmenter (grabcut, or a registered one / module:object)."""
    accept_doubtful: bool = False
    """Image inputs: build from a doubtful cut-out instead of stopping (the doubts become warnings)."""
    mask_dir: str | None = None
    """Image inputs: where the mask and its overlay on the photo are written (segmentation.png, mask.png), also
    when the cut-out is refused."""


@dataclasses.dataclass
class Built:
    asset: Asset
    meshes: dict[str, Any]
    """Relative path -> trimesh.Trimesh to write."""


@contextlib.contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - t0, 4)


def input_kind(inputs: Sequence[Path | str]) -> str:
    """image | mesh | urdf | procedural, from the inputs' suffixes (a directory: a PartNet-Mobility object,
    or any directory holding one URDF)."""
    if not inputs:
        raise RlscopeError("no input given (IMAGE(s), MESH, URDF or procedural:KIND)")
    names = [str(p) for p in inputs]
    if names[0].startswith(PROCEDURAL_PREFIX):
        if len(names) > 1:
            raise RlscopeError("a procedural asset takes no other input")
        return "procedural"
    if len(names) == 1 and Path(names[0]).is_dir():
        return "urdf"
    suffixes = {Path(n).suffix.lower() for n in names}
    if suffixes <= set(IMAGE_SUFFIXES):
        return "image"
    if len(names) > 1:
        raise RlscopeError(f"several inputs must all be images, got {', '.join(names)}")
    if suffixes <= set(MESH_SUFFIXES):
        return "mesh"
    if suffixes <= set(URDF_SUFFIXES):
        return "urdf"
    if suffixes <= set(MJCF_SUFFIXES):
        return "mjcf"
    raise RlscopeError(f"cannot tell what {names[0]} is: expected an image ({', '.join(IMAGE_SUFFIXES)}), a mesh "
                       f"({', '.join(MESH_SUFFIXES)}), a URDF (.urdf, or a PartNet-Mobility directory), an MJCF object (.xml) or procedural:KIND")


def build(inputs: Sequence[Path | str], name: str, opts: BuildOptions = BuildOptions()) -> Built:
    kind = input_kind(inputs)
    if kind == "image":
        return build_from_images([Path(p) for p in inputs], name, opts)
    if kind == "mesh":
        return build_from_mesh(Path(inputs[0]), name, opts)
    if kind == "urdf":
        return build_from_urdf(Path(inputs[0]), name, opts)
    if kind == "mjcf":
        return build_from_mjcf(Path(inputs[0]), name, opts)
    return build_procedural(str(inputs[0])[len(PROCEDURAL_PREFIX) :], name, opts)


def _physics_answer(name: str, opts: BuildOptions, timings: dict, warnings: list[str]) -> phys.PhysicsAnswer:
    with _timed(timings, "physics"):
        answer, notes = phys.query_physics(name, opts.category, opts.llm, seed=opts.seed)
    warnings += notes
    if answer.source == "table" and phys.lookup_category(opts.category)[0] is None:
        warnings.append(phys.default_note(opts.category))
        log.warning("%s: %s", name, warnings[-1])
    return answer


def _choose(answer: phys.PhysicsAnswer, opts: BuildOptions) -> tuple[float, float]:
    size, mass = phys.choose_values(answer, np.random.default_rng(opts.seed) if opts.sample_physics else None)
    if opts.size_cm is not None:
        size = opts.size_cm / 100
    if opts.mass_g is not None:
        mass = opts.mass_g / 1000
    if size <= 0 or mass <= 0:
        raise RlscopeError(f"size and mass must be positive, got {size} m, {mass} kg")
    return size, mass


def build_from_images(paths: Sequence[Path], name: str, opts: BuildOptions = BuildOptions()) -> Built:
    """Segment -> physics -> lift -> repair -> scale -> decompose."""
    from rlscope.gen2sim.assets.lift import LiftHints, lift
    from rlscope.gen2sim.assets.segment import segment_image

    timings: dict[str, float] = {}
    warnings: list[str] = []
    if (opts.box or opts.point) and len(paths) > 1:
        raise RlscopeError("--box / --point guide the segmentation of one photo; give one image, or none of them")
    with _timed(timings, "segment"):
        segs = [segment_image(p, box=opts.box, point=opts.point, segmenter=opts.segmenter) for p in paths]
    if opts.mask_dir:
        write_masks(segs, Path(opts.mask_dir))
    for p, s in zip(paths, segs):
        if not s.doubts:
            continue
        what = f"the cut-out of {Path(p).name} is doubtful (confidence {s.confidence:.2f}): " + "; ".join(s.doubts)
        if not (opts.accept_doubtful or s.guided):
            look = f"; see {Path(opts.mask_dir) / mask_names(len(paths))[paths.index(p)][0]}" if opts.mask_dir else ""
            raise RlscopeError(f"{what}{look}; guide it with --box x0,y0,x1,y1 or --point x,y, or --accept-doubtful")
        warnings.append(what)
    answer = _physics_answer(name, opts, timings, warnings)
    known = answer.source == "llm" or phys.lookup_category(opts.category)[0] is not None
    hints = LiftHints(category=opts.category, shape=answer.shape if known else None, depth_ratio=answer.depth_ratio,
                      azimuths=opts.azimuths, resolution=opts.resolution, seed=opts.seed)
    learned_opts = {"weights": opts.lifter_weights} if opts.lifter_weights else None
    with _timed(timings, "lift"):
        res = lift(segs, opts.method, hints, learned=opts.lifter, learned_options=learned_opts)
    warnings += res.warnings
    params = {"lift_method": res.method, "lift_reason": res.reason, "inputs": [Path(p).name for p in paths],
              "segmentation": [{"method": s.method, "confidence": s.confidence, "doubts": s.doubts, "guided": s.guided}
                               for s in segs]}
    return _rigid(res.mesh, name, "image", answer, opts, timings, warnings, params)


def mask_names(views: int) -> list[tuple[str, str]]:
    """(overlay, mask) file names of each view's segmentation."""
    return [("segmentation.png", "mask.png")] if views == 1 else [(f"segmentation_{i}.png", f"mask_{i}.png") for i in range(views)]


def write_masks(segs: Sequence, out: Path) -> None:
    """Each view's mask over its photo (the object's outline drawn, the rest dimmed) and the bare mask."""
    from PIL import Image

    from rlscope.gen2sim.assets.segment import overlay

    out.mkdir(parents=True, exist_ok=True)
    for seg, (over, bare) in zip(segs, mask_names(len(segs))):
        Image.fromarray(overlay(seg)).save(out / over)
        Image.fromarray(seg.mask.astype(np.uint8) * 255).save(out / bare)


def build_from_mesh(path: Path, name: str, opts: BuildOptions = BuildOptions()) -> Built:
    """Load -> repair -> physics -> scale -> decompose."""
    import trimesh

    timings: dict[str, float] = {}
    warnings: list[str] = []
    if not path.is_file():
        raise DataError("mesh file not found", str(path))
    try:
        mesh = trimesh.load(path, force="mesh")
    except Exception as exc:  # noqa: BLE001 - trimesh raises many kinds
        raise DataError(f"cannot load mesh: {exc}", str(path)) from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise DataError("the file holds no triangles", str(path))
    up = opts.up_axis or "+z"
    front = opts.front or urdf_front(up)
    try:
        R = meshlib.orientation_matrix(up, front)
    except DataError as exc:
        raise DataError(str(exc), str(path)) from None
    if not np.allclose(R, np.eye(3)):
        mesh = mesh.copy()
        T = np.eye(4)
        T[:3, :3] = R
        mesh.apply_transform(T)
    answer = _physics_answer(name, opts, timings, warnings)
    params = {"inputs": [path.name], "orientation": {"up": up, "front": front}}
    longest = float(max(mesh.extents))
    if opts.keep_scale:
        params["keep_scale"] = True
    elif opts.size_cm is None and phys.size_is_plausible(answer.size_cm, longest):
        params["keep_scale"] = True
        params["kept_file_size"] = True
    return _rigid(mesh, name, "mesh", answer, opts, timings, warnings, params)


def _rigid(mesh, name: str, source: str, answer: phys.PhysicsAnswer, opts: BuildOptions, timings: dict,
           warnings: list[str], params: dict) -> Built:
    with _timed(timings, "repair"):
        mesh, repairs = meshlib.repair_mesh(mesh, resolution=max(48, opts.resolution), what=f"{source} mesh")
    warnings += [f"repaired: {r}" for r in repairs]
    for r in repairs:
        log.warning("%s: repaired: %s", name, r)
    size, mass = _choose(answer, opts)
    if params.get("keep_scale"):
        size = float(max(mesh.extents))
    elif source == "mesh" and opts.size_cm is None:
        warnings.append(f"rescaled: the mesh's longest side is {max(mesh.extents):.4g} in file units, implausible in "
                        f"metres for {opts.category or 'an object'} ({answer.size_cm[0]:g}-{answer.size_cm[1]:g} cm, "
                        f"checked within {phys.PLAUSIBLE_FACTOR:g}x); scaled to {size * 100:.3g} cm (--size-cm to "
                        "choose, --keep-scale to keep the file's size)")
        log.warning("%s: %s", name, warnings[-1])
    mesh = meshlib.normalize_mesh(mesh, longest_side=size)
    inertial, density = phys.mesh_inertial(mesh, mass)
    with _timed(timings, "decompose"):
        dec = meshlib.decompose(mesh, opts.coacd)
    warnings += dec.warnings
    friction = phys.friction_of(answer.material)
    meshes: dict[str, Any] = {"meshes/visual.obj": mesh}
    visual = Geom("mesh", mesh="meshes/visual.obj", rgba=meshlib.mean_color(mesh))
    collisions = []
    for i, hull in enumerate(dec.hulls):
        key = f"hulls/hull_{i:03d}.obj"
        meshes[key] = hull
        collisions.append(Geom("mesh", mesh=key, rgba=visual.rgba))
    link = Link(name="body", semantic="body", visuals=[visual], collisions=collisions, inertial=inertial,
                material=answer.material, friction=friction)
    physics = Physics(material=answer.material, size_cm=list(answer.size_cm), mass_g=list(answer.mass_g),
                      size=[float(v) for v in mesh.extents], mass=mass, friction=friction, source=answer.source,
                      shape=answer.shape, density=density, llm=answer.raw)
    params = {**params, "seed": opts.seed, "decomposition": {"method": dec.method, "hulls": len(dec.hulls),
              "excess": round(dec.excess, 4), "seconds": round(dec.seconds, 3), "coacd": dataclasses.asdict(opts.coacd)},
              "timings": timings}
    asset = Asset(asset_id=name, category=opts.category, source=source, links=[link], physics=physics,
                  params=params, warnings=warnings)
    return Built(asset, meshes)


def build_from_urdf(path: Path, name: str, opts: BuildOptions = BuildOptions()) -> Built:
    """Import a URDF file or a PartNet-Mobility directory; concave collision meshes, watertight or not, are
    decomposed, and the applied size is measured again on the hulls."""
    from rlscope.gen2sim.assets.urdf import ImportOptions, import_urdf

    timings: dict[str, float] = {}
    options = ImportOptions(category=opts.category, up_axis=opts.up_axis, front=opts.front, size_cm=opts.size_cm,
                            mass_g=opts.mass_g, fixed_base=opts.fixed_base, seed=opts.seed,
                            sample_physics=opts.sample_physics)
    with _timed(timings, "import"):
        imported = import_urdf(path, asset_id=name, options=options)
    asset, meshes = imported.asset, imported.meshes
    methods: dict[str, int] = {}
    with _timed(timings, "decompose"):
        for link in asset.links:
            new = []
            for g in link.collisions:
                if g.type != "mesh":
                    new.append(g)
                    continue
                m = meshes[g.mesh]
                if meshlib.concavity(m) > opts.coacd.threshold * 2:
                    dec = meshlib.decompose(m, opts.coacd)
                    methods[dec.method] = methods.get(dec.method, 0) + 1
                    asset.warnings += dec.warnings
                    for i, h in enumerate(dec.hulls):
                        key = g.mesh.replace(".obj", f"_hull{i}.obj")
                        meshes[key] = h
                        new.append(Geom("mesh", pos=list(g.pos), quat=list(g.quat), mesh=key, rgba=list(g.rgba),
                                        thin=g.thin))
                    del meshes[g.mesh]
                else:
                    if not m.is_volume or m.convex_hull.extents.min() < meshlib.MIN_THICKNESS:
                        meshes[g.mesh] = meshlib.thicken(m.convex_hull)  # what MuJoCo collides with anyway
                    new.append(g)
            link.collisions = new
    asset.params["decomposition"] = {"decomposed": methods, "coacd": dataclasses.asdict(opts.coacd)}
    asset.params["timings"] = timings
    if asset.physics is not None:
        lo, hi = meshlib.asset_bounds(asset, meshes)
        asset.physics.size = (hi - lo).tolist()
    return Built(asset, meshes)


def build_from_mjcf(path: Path, name: str, opts: BuildOptions = BuildOptions()) -> Built:
    """Import an MJCF object: compiled by MuJoCo, written as a URDF, imported as one (see :mod:`mjcf_import`)."""
    import tempfile

    from rlscope.gen2sim.assets.mjcf_import import mjcf_to_urdf

    with tempfile.TemporaryDirectory(prefix="rlscope-mjcf-") as tmp:
        urdf, free = mjcf_to_urdf(path, Path(tmp))
        if opts.fixed_base is None:  # mounted where the file put it, unless it has a free joint
            opts = dataclasses.replace(opts, fixed_base=not free)
        try:
            built = build_from_urdf(urdf, name, opts)
        except DataError as exc:  # name the user's file, not the intermediate URDF
            raise DataError(str(exc).replace(str(urdf), path.name), str(path)) from None
    built.asset.source = "mjcf"
    built.asset.params["mjcf"] = path.name
    built.asset.params.pop("urdf", None)
    return built


def build_procedural(kind: str, name: str, opts: BuildOptions = BuildOptions(), **params: Any) -> Built:
    from rlscope.gen2sim.assets.procedural import generate

    t0 = time.perf_counter()
    if opts.mass_g is not None:
        params.setdefault("mass", opts.mass_g / 1000)
    try:
        asset = generate(kind, seed=opts.seed, asset_id=name, **params)
    except TypeError as exc:
        raise RlscopeError(f"procedural:{kind}: {exc}") from None
    asset.params["seed"] = opts.seed
    asset.params["kind"] = kind
    asset.params["timings"] = {"generate": round(time.perf_counter() - t0, 4)}
    return Built(asset, {})


# -- writing and reading -----------------------------------------------------------------
def write_asset(built: Built, out_dir: Path) -> dict[str, str]:
    """Write meshes, hulls, ``model.urdf``, ``model.xml``, ``semantics.txt`` and ``asset.json``."""
    from rlscope.config import atomic_write_text
    from rlscope.gen2sim.assets.mjcf import write_mjcf
    from rlscope.gen2sim.assets.urdf import build_urdf, semantics_txt

    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("meshes", "hulls"):
        if (out_dir / sub).is_dir():
            shutil.rmtree(out_dir / sub)
    asset = built.asset
    files: dict[str, str] = {}
    for rel, m in built.meshes.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        colored = getattr(m.visual, "kind", None) == "vertex" and rel.startswith("meshes/")
        m.export(path, file_type="obj", include_color=colored, include_normals=False, include_texture=False)
    if "meshes/visual.obj" in built.meshes:
        files["visual"] = "meshes/visual.obj"
        files["hulls"] = "hulls/"
    atomic_write_text(out_dir / "model.urdf", build_urdf(asset))
    files["urdf"] = "model.urdf"
    write_mjcf(asset, out_dir)
    files["mjcf"] = "model.xml"
    atomic_write_text(out_dir / "semantics.txt", semantics_txt(asset))
    files["semantics"] = "semantics.txt"
    files["asset"] = "asset.json"
    asset.files = {**asset.files, **files}
    asset.params.setdefault("timings", {})["export"] = round(time.perf_counter() - t0, 4)
    save_asset_json(asset, out_dir)
    return files


def save_asset_json(asset: Asset, out_dir: Path) -> None:
    from rlscope.config import atomic_write_text

    atomic_write_text(out_dir / "asset.json", asset.to_json())


def load_asset(asset_dir: Path | str) -> Asset:
    path = Path(asset_dir) / "asset.json"
    if not path.is_file():
        raise DataError("no asset.json here", str(asset_dir))
    try:
        return Asset.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, KeyError) as exc:
        raise DataError(f"malformed asset.json: {exc}", str(path)) from None
