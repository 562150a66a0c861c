"""Preview images: MuJoCo offscreen rendering (EGL or OSMesa) when an offscreen GL works, else a
flat-shaded projection drawn with PIL.

MuJoCo picks its GL backend from ``MUJOCO_GL`` when it is first imported, so the MuJoCo render
runs in a child process (``python -m rlscope.gen2sim.assets.preview``) with ``MUJOCO_GL`` set
(default ``egl``), killed after a timeout; the projection is the fallback.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from rlscope.gen2sim.assets.asset import Asset

log = logging.getLogger(__name__)

PREVIEW_SIZE = (480, 360)


def render_preview(asset: Asset, asset_dir: Path, out: Path, *, backend: str = "auto",
                   size: tuple[int, int] = PREVIEW_SIZE, timeout_s: float = 60.0) -> str:
    """Write a PNG preview; returns what drew it (``mujoco-egl``, ``mujoco-osmesa``, ``projection``)."""
    if backend not in ("auto", "mujoco", "projection"):
        raise ValueError(f"preview backend must be auto, mujoco or projection, got {backend!r}")
    if backend in ("auto", "mujoco"):
        gl = os.environ.get("MUJOCO_GL") or "egl"
        env = {**os.environ, "MUJOCO_GL": gl}
        if gl in ("egl", "osmesa"):
            env.setdefault("PYOPENGL_PLATFORM", gl)
        cmd = [sys.executable, "-m", "rlscope.gen2sim.assets.preview", str(asset_dir), str(out), str(size[0]), str(size[1])]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
            if proc.returncode == 0 and out.exists():
                return f"mujoco-{gl}"
            reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        except subprocess.TimeoutExpired:
            reason = f"timed out after {timeout_s:.0f} s"
        if backend == "mujoco":
            from rlscope.errors import RlscopeError

            raise RlscopeError(f"MuJoCo offscreen rendering (MUJOCO_GL={gl}) failed: {reason}")
        log.info("MuJoCo offscreen rendering unavailable (%s); drawing a projection", reason)
    render_projection(asset, asset_dir, out, size=size)
    return "projection"


def render_mujoco(asset_dir: Path, out: Path, size: tuple[int, int] = PREVIEW_SIZE) -> None:
    """Render the asset standing on the table with MuJoCo (needs a working offscreen GL)."""
    import mujoco
    from PIL import Image

    from rlscope.gen2sim.assets.mjcf import TABLE_TOP, build_mjcf

    asset = Asset.from_json((asset_dir / "asset.json").read_text())
    xml = build_mjcf(asset, asset_dir.resolve(), free=False, scene=True, pos=(0, 0, TABLE_TOP))
    model = mujoco.MjModel.from_xml_string(xml)
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, size[0])
    model.vis.global_.offheight = max(model.vis.global_.offheight, size[1])
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    with mujoco.Renderer(model, size[1], size[0]) as renderer:
        renderer.update_scene(data, camera="preview")
        pixels = renderer.render()
    Image.fromarray(pixels).save(out)


def render_projection(asset: Asset, asset_dir: Path, out: Path, size: tuple[int, int] = PREVIEW_SIZE) -> None:
    """Painter's-algorithm render of the visual geometry (flat shading, fixed three-quarter view)."""
    import trimesh
    from PIL import Image, ImageDraw

    from rlscope.gen2sim.assets.mesh import geom_mesh

    meshes: dict[str, object] = {}
    poses = asset.link_poses()
    tris, cols = [], []
    for link in asset.links:
        for g in link.visuals or link.collisions:
            if g.type == "mesh" and g.mesh not in meshes:
                meshes[g.mesh] = trimesh.load(asset_dir / g.mesh, force="mesh", process=False)
            m = geom_mesh(g, meshes, sections=16)
            T = poses[link.name]
            v = np.asarray(m.vertices) @ T[:3, :3].T + T[:3, 3]
            tris.append(v[np.asarray(m.faces)])  # (F, 3, 3)
            if getattr(m.visual, "kind", None) == "vertex":
                vc = np.asarray(m.visual.vertex_colors, float)[np.asarray(m.faces)].mean(1) / 255
                cols.append(vc)
            else:
                cols.append(np.tile(np.asarray(g.rgba, float), (len(m.faces), 1)))
    if not tris:
        Image.new("RGB", size, (235, 235, 235)).save(out)
        return
    tri = np.concatenate(tris)
    col = np.concatenate(cols)
    az, el = np.deg2rad(-35.0), np.deg2rad(25.0)
    right = np.array([np.cos(az), np.sin(az), 0.0])
    fwd = np.array([-np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), -np.sin(el)])  # looking direction
    up = np.cross(right, fwd)
    centre = tri.reshape(-1, 3).mean(0)
    p = tri - centre
    x, y, depth = p @ right, p @ up, p @ fwd  # (F, 3)
    scale = 0.8 * min(size) / max(np.ptp(x), np.ptp(y), 1e-9)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    light = -fwd + 0.6 * up
    light /= np.linalg.norm(light)
    shade = 0.35 + 0.65 * np.abs(n @ light)
    img = Image.new("RGB", size, (235, 235, 235))
    draw = ImageDraw.Draw(img)
    order = np.argsort(-depth.mean(1))  # far first
    cx, cy = size[0] / 2, size[1] / 2
    for f in order:
        pts = [(cx + scale * x[f, k], cy - scale * y[f, k]) for k in range(3)]
        c = tuple(int(255 * min(1.0, v)) for v in col[f, :3] * shade[f])
        draw.polygon(pts, fill=c)
    img.save(out)


def _main(argv: list[str]) -> int:
    asset_dir, out = Path(argv[0]), Path(argv[1])
    size = (int(argv[2]), int(argv[3])) if len(argv) >= 4 else PREVIEW_SIZE
    render_mujoco(asset_dir, out, size)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
