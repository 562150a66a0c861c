"""Lifting segmented images to watertight meshes: classical lifters, and an interface for learned ones.

Classical lifters (CPU, no weights)
-----------------------------------
* ``revolution``: one view of a round object (cup, bottle, bowl, fruit). The symmetry axis is the
  median of the rows' midpoints; each row's radius is the distance from the axis to the nearer
  silhouette edge (so a mug's handle does not widen the body); the profile is swept around z.
* ``extrusion``: one view of a flat or boxy object. The silhouette is extruded along the viewing
  direction by ``depth_ratio`` times its width (from the category table or the language model).
* ``visual_hull``: several views, orthographic, taken at known azimuths around the vertical axis
  (view ``i`` after turning the camera by ``azimuths[i]`` degrees counter-clockwise seen from above:
  0 is the front, 90 the object's right side; by default 0, 90, 180, 270 for up to four views).
  Voxels inside every silhouette are kept.

All return a mesh in pixel units, z up, the front facing ``-y``, with vertex colours sampled from
the (front) image; the pipeline scales it to the physical size afterwards.

Learned lifters
---------------
:class:`Lifter` is the protocol; :class:`LearnedLifter` adds the checks every learned model needs
(its package importable, weights in a local directory, a GPU) and runs the model with the hub in
offline mode, so nothing is ever downloaded. Register one with ``LIFTERS.add(name, cls)`` or pass
``module:Class`` as the method. See ``docs/gen2sim-assets.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rlscope.errors import RlscopeError
from rlscope.gen2sim.assets.mesh import as_trimesh, surface_from_volume
from rlscope.gen2sim.assets.segment import Segmentation
from rlscope.registry import Registry

log = logging.getLogger(__name__)

CLASSICAL = ("revolution", "extrusion", "visual_hull")


@dataclasses.dataclass(frozen=True)
class LiftHints:
    """What a lifter may use besides the images."""

    category: str | None = None
    shape: str | None = None
    """round | boxy | flat | irregular (category table or language model)."""
    depth_ratio: float = 0.6
    """extrusion: depth / width of the object."""
    azimuths: tuple[float, ...] | None = None
    """visual_hull: azimuth (degrees) of each view; default evenly spaced over 360."""
    resolution: int = 64
    """Voxel resolution (extrusion, visual hull) or profile rings (revolution)."""
    seed: int = 0


@runtime_checkable
class Lifter(Protocol):
    """Turns one or more segmented views into a watertight mesh (z up, front facing -y, any scale)."""

    name: str

    def available(self) -> tuple[bool, str]:
        """Whether it can run here, and why not."""
        ...

    def lift(self, views: Sequence[Segmentation], hints: LiftHints) -> Any:
        """Return a ``trimesh.Trimesh``."""
        ...


@dataclasses.dataclass
class LiftResult:
    mesh: Any
    method: str
    reason: str
    warnings: list[str] = dataclasses.field(default_factory=list)


# -- classical ----------------------------------------------------------------------------
def _crop(seg: Segmentation, pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = seg.bbox
    return seg.mask[y0:y1, x0:x1], seg.rgb[y0:y1, x0:x1]


def mirror_iou(mask: np.ndarray, axis: float) -> float:
    """IoU of a mask and its mirror image about the vertical line at column ``axis``."""
    w = mask.shape[1]
    shift = int(round(2 * axis - (w - 1)))
    mirrored = np.zeros_like(mask)
    src = mask[:, ::-1]
    if shift >= 0:
        mirrored[:, shift:] = src[:, : w - shift]
    else:
        mirrored[:, : w + shift] = src[:, -shift:]
    return float((mask & mirrored).sum() / max(1, (mask | mirrored).sum()))


def symmetry_axis(mask: np.ndarray) -> float:
    """Column of the vertical symmetry axis of a (cropped) mask: the mirror line of best IoU.

    Searched in half-pixel steps around the median of the rows' midpoints, so that a mug's
    handle, which shifts the midpoints of the rows it spans, does not move the axis.
    """
    mids = []
    for row in mask:
        xs = np.flatnonzero(row)
        if len(xs):
            mids.append((xs[0] + xs[-1]) / 2)
    w = mask.shape[1]
    center = float(np.median(mids))
    candidates = np.arange(max(0.0, center - 0.3 * w), min(w - 1.0, center + 0.3 * w) + 0.25, 0.5)
    scores = [mirror_iou(mask, c) for c in candidates]
    return float(candidates[int(np.argmax(scores))]) if len(candidates) else center


def revolution_profile(mask: np.ndarray) -> tuple[float, np.ndarray]:
    """(axis column, radius per row) of a cropped mask; radius is to the nearer silhouette edge."""
    axis = symmetry_axis(mask)
    radius = np.zeros(mask.shape[0])
    for i, row in enumerate(mask):
        xs = np.flatnonzero(row)
        if len(xs):
            radius[i] = max(0.0, min(axis - xs[0], xs[-1] - axis) + 0.5)
    return axis, radius


def lift_revolution(seg: Segmentation, rings: int = 64, sections: int = 48):
    """Surface of revolution of one silhouette (see module docstring)."""
    mask, rgb = _crop(seg)
    h = mask.shape[0]
    axis, radius = revolution_profile(mask)
    # rows (top -> bottom) resampled into ``rings`` levels, bottom first
    edges = np.linspace(0, h, min(rings, h) + 1)
    r = np.array([radius[int(a) : max(int(a) + 1, int(b))].mean() for a, b in zip(edges[:-1], edges[1:])])[::-1]
    rows = ((edges[:-1] + edges[1:]) / 2)[::-1]
    z = h - rows
    z[0], z[-1] = 0.0, float(h)
    from scipy.ndimage import gaussian_filter1d

    r = gaussian_filter1d(r, 0.7, mode="nearest")
    r = np.maximum(r, 0.02 * r.max())
    theta = np.linspace(0, 2 * np.pi, sections, endpoint=False)
    n = len(r)
    ring_v = np.stack(
        [np.outer(r, np.cos(theta)), np.outer(r, np.sin(theta)), np.repeat(z[:, None], sections, 1)], axis=-1
    ).reshape(-1, 3)  # (n * S, 3)
    verts = np.vstack([ring_v, [[0, 0, z[0]]], [[0, 0, z[-1]]]])
    bottom, top = n * sections, n * sections + 1
    faces = []
    for k in range(n - 1):
        for j in range(sections):
            a, b = k * sections + j, k * sections + (j + 1) % sections
            c, d = a + sections, b + sections
            faces += [(a, b, d), (a, d, c)]
    for j in range(sections):
        faces.append((bottom, (j + 1) % sections, j))
        t0 = (n - 1) * sections
        faces.append((top, t0 + j, t0 + (j + 1) % sections))
    # colours: the front image column at x = axis + r cos(theta), the row of the ring
    cols = np.clip(np.round(axis + np.outer(r, np.cos(theta))), 0, mask.shape[1] - 1).astype(int)
    rws = np.clip(np.round(np.repeat(rows[:, None], sections, 1)), 0, h - 1).astype(int)
    colors = _sample_colors(mask, rgb, rws.ravel(), cols.ravel())
    colors = np.vstack([colors, _sample_colors(mask, rgb, [h - 1], [int(axis)]), _sample_colors(mask, rgb, [0], [int(axis)])])
    mesh = as_trimesh(verts, np.asarray(faces), colors)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _sample_colors(mask: np.ndarray, rgb: np.ndarray, rows, cols) -> np.ndarray:
    """RGBA uint8 at (row, col), falling back to the mean object colour off the mask."""
    rows, cols = np.asarray(rows, int), np.asarray(cols, int)
    mean = rgb[mask].mean(axis=0)
    c = rgb[rows, cols].astype(float)
    c[~mask[rows, cols]] = mean
    return np.hstack([c, np.full((len(c), 1), 255.0)]).astype(np.uint8)


def _fit(mask: np.ndarray, rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    h, w = mask.shape
    s = min(1.0, max_side / max(h, w))
    if s >= 1.0:
        return mask.astype(np.float32), rgb
    size = (max(2, round(w * s)), max(2, round(h * s)))
    return cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA), cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def lift_extrusion(seg: Segmentation, depth_ratio: float = 0.6, resolution: int = 64):
    """Extrude one silhouette along the viewing direction (y) by ``depth_ratio`` times its width."""
    mask, rgb = _crop(seg)
    m, small = _fit(mask, rgb, resolution)  # (H, W) float in [0, 1]
    h, w = m.shape
    depth = max(2, round(depth_ratio * w))
    occ = np.broadcast_to(m.T[:, None, ::-1], (w, depth, h))  # (X, Y, Z), z up
    mesh = surface_from_volume(occ, smooth=0.5)
    mesh.apply_translation([0, -depth / 2, 0])
    v = mesh.vertices
    cols = np.clip(np.round(v[:, 0]), 0, w - 1).astype(int)
    rows = np.clip(np.round(h - 1 - v[:, 2]), 0, h - 1).astype(int)
    mesh.visual.vertex_colors = _sample_colors(m > 0.5, small, rows, cols)
    return mesh


def lift_visual_hull(views: Sequence[Segmentation], azimuths: Sequence[float] | None = None, resolution: int = 64):
    """Carve a voxel grid with several orthographic silhouettes (see module docstring)."""
    if len(views) < 2:
        raise RlscopeError("visual_hull needs at least two views")
    if azimuths is None:
        azimuths = default_azimuths(len(views))
    if len(azimuths) != len(views):
        raise RlscopeError(f"visual_hull: {len(views)} views but {len(azimuths)} azimuths")
    nz = resolution
    silhouettes = []
    for seg in views:
        mask, rgb = _crop(seg)
        h, w = mask.shape
        s = nz / h  # every view normalised to the same height
        import cv2

        size = (max(2, round(w * s)), nz)
        silhouettes.append(
            (cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5, cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
        )
    half = max(sil.shape[1] for sil, _ in silhouettes) / 2
    n_xy = int(np.ceil(2 * half))
    c = (np.arange(n_xy) + 0.5) - n_xy / 2
    x, y = np.meshgrid(c, c, indexing="ij")  # (X, Y)
    occ = np.ones((n_xy, n_xy, nz), bool)
    for (sil, _), az in zip(silhouettes, azimuths):
        a = np.deg2rad(az)
        u = x * np.cos(a) + y * np.sin(a)  # image-right coordinate of every column
        w = sil.shape[1]
        col = np.floor(u + w / 2).astype(int)
        inside = (col >= 0) & (col < w)
        col = np.clip(col, 0, w - 1)
        for k in range(nz):
            occ[:, :, k] &= inside & sil[nz - 1 - k][col]
    if not occ.any():
        raise RlscopeError("visual_hull: the silhouettes do not intersect (check the azimuths)")
    mesh = surface_from_volume(occ.astype(np.float32), smooth=0.5)
    mesh.apply_translation([-n_xy / 2, -n_xy / 2, 0])
    front_mask, front_rgb = silhouettes[0]
    w0 = front_mask.shape[1]
    v = mesh.vertices
    a0 = np.deg2rad(azimuths[0])
    u = v[:, 0] * np.cos(a0) + v[:, 1] * np.sin(a0)
    cols = np.clip(np.floor(u + w0 / 2), 0, w0 - 1).astype(int)
    rows = np.clip(np.round(nz - 1 - v[:, 2]), 0, nz - 1).astype(int)
    mesh.visual.vertex_colors = _sample_colors(front_mask, front_rgb, rows, cols)
    return mesh


def default_azimuths(n: int) -> list[float]:
    """Front, right side, back, left side (90 degree steps) for up to 4 views; evenly spaced beyond."""
    return [90.0 * i for i in range(n)] if n <= 4 else [360.0 * i / n for i in range(n)]


class RevolutionLifter:
    name = "revolution"

    def available(self) -> tuple[bool, str]:
        return True, ""

    def lift(self, views: Sequence[Segmentation], hints: LiftHints):
        return lift_revolution(views[0], rings=hints.resolution)


class ExtrusionLifter:
    name = "extrusion"

    def available(self) -> tuple[bool, str]:
        return True, ""

    def lift(self, views: Sequence[Segmentation], hints: LiftHints):
        return lift_extrusion(views[0], hints.depth_ratio, hints.resolution)


class VisualHullLifter:
    name = "visual_hull"

    def available(self) -> tuple[bool, str]:
        return True, ""

    def lift(self, views: Sequence[Segmentation], hints: LiftHints):
        return lift_visual_hull(views, hints.azimuths, hints.resolution)


# -- learned ------------------------------------------------------------------------------
@contextlib.contextmanager
def offline_hub() -> Iterator[None]:
    """Hugging Face hub, transformers and diffusers in offline mode for the duration (nothing downloads)."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class LearnedLifter:
    """Base of learned image-to-3D lifters: local weights only, GPU required, lazy imports.

    Subclasses set ``name``, ``package`` (the import name that must be installed), ``weights_env``
    (an environment variable that may hold the weights directory) and implement :meth:`run`,
    which gets the object as an RGBA ``PIL.Image`` (background cleared by our segmentation) and
    returns a ``trimesh.Trimesh`` in the model's own frame; ``up_axis`` says which of its axes is up.
    """

    name = "learned"
    package = ""
    weights_env = ""
    up_axis = "y"
    needs_gpu = True

    def __init__(self, weights: str | os.PathLike | None = None, device: str = "cuda", **options: Any):
        env = os.environ.get(self.weights_env) if self.weights_env else None
        self.weights = Path(weights) if weights else (Path(env) if env else None)
        self.device = device
        self.options = options
        self._model: Any = None

    def available(self) -> tuple[bool, str]:
        if self.package and importlib.util.find_spec(self.package) is None:
            return False, f"package {self.package!r} is not installed"
        if self.weights is None or not self.weights.is_dir():
            where = f" (or ${self.weights_env})" if self.weights_env else ""
            return False, f"no local weights directory given{where}: {self.weights}"
        if self.needs_gpu:
            try:
                import torch
            except ImportError:
                return False, "torch is not installed"
            if not torch.cuda.is_available():
                return False, "no CUDA device"
        return True, ""

    def lift(self, views: Sequence[Segmentation], hints: LiftHints):
        ok, why = self.available()
        if not ok:
            raise RlscopeError(f"lifter {self.name} cannot run: {why}")
        image = object_rgba(views[0])
        with offline_hub():
            mesh = self.run(image, hints)
        return to_z_up(mesh, self.up_axis)

    def run(self, image: Any, hints: LiftHints):  # pragma: no cover - needs weights and a GPU
        raise NotImplementedError


def object_rgba(seg: Segmentation, size: int = 512, margin: float = 0.1):
    """The object centred on a transparent square canvas (what image-to-3D models expect)."""
    from PIL import Image

    x0, y0, x1, y1 = seg.bbox
    rgba = np.dstack([seg.rgb, seg.mask.astype(np.uint8) * 255])[y0:y1, x0:x1]
    side = int(max(x1 - x0, y1 - y0) * (1 + 2 * margin))
    canvas = np.zeros((side, side, 4), np.uint8)
    oy, ox = (side - (y1 - y0)) // 2, (side - (x1 - x0)) // 2
    canvas[oy : oy + y1 - y0, ox : ox + x1 - x0] = rgba
    return Image.fromarray(canvas, "RGBA").resize((size, size), Image.LANCZOS)


def to_z_up(mesh, up_axis: str):
    """Rotate a mesh whose up axis is ``y`` (most image-to-3D models, glTF) to z up, front -y."""
    if up_axis == "z":
        return mesh
    if up_axis != "y":
        raise RlscopeError(f"unknown up axis {up_axis!r}")
    mesh = mesh.copy()
    # y-up, front +z  ->  z-up, front -y: rotate +90 deg about x
    mesh.apply_transform(np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], float))
    return mesh


class Hunyuan3DLifter(LearnedLifter):
    """Hunyuan3D-2 shape generation (package ``hy3dgen``), weights from a local directory."""

    name = "hunyuan3d"
    package = "hy3dgen"
    weights_env = "RLSCOPE_HUNYUAN3D_WEIGHTS"

    def run(self, image: Any, hints: LiftHints):  # pragma: no cover - needs weights and a GPU
        import torch
        from hy3dgen.shapegen import Hunyuan3DDiTFlowMatchingPipeline

        if self._model is None:
            self._model = Hunyuan3DDiTFlowMatchingPipeline.from_pretrained(str(self.weights), **self.options)
        generator = torch.Generator(device=self.device).manual_seed(hints.seed)
        return self._model(image=image, generator=generator)[0]


class TrellisLifter(LearnedLifter):
    """TRELLIS image-to-3D (package ``trellis``), weights from a local directory."""

    name = "trellis"
    package = "trellis"
    weights_env = "RLSCOPE_TRELLIS_WEIGHTS"

    def run(self, image: Any, hints: LiftHints):  # pragma: no cover - needs weights and a GPU
        from trellis.pipelines import TrellisImageTo3DPipeline

        if self._model is None:
            self._model = TrellisImageTo3DPipeline.from_pretrained(str(self.weights))
            self._model.to(self.device)
        out = self._model.run(image.convert("RGB"), seed=hints.seed, formats=["mesh"])
        m = out["mesh"][0]
        return as_trimesh(m.vertices.detach().cpu().numpy(), m.faces.detach().cpu().numpy())


LIFTERS: Registry[type] = Registry("lifter")
"""Lifters by name; ``module:Class`` paths work too (constructor ``Class(**options)``)."""
LIFTERS.add("revolution", RevolutionLifter)
LIFTERS.add("extrusion", ExtrusionLifter)
LIFTERS.add("visual_hull", VisualHullLifter)
LIFTERS.add("hunyuan3d", Hunyuan3DLifter)
LIFTERS.add("trellis", TrellisLifter)


def choose_method(views: Sequence[Segmentation], hints: LiftHints) -> tuple[str, str]:
    """Pick a classical method: (name, reason)."""
    if len(views) > 1:
        return "visual_hull", f"{len(views)} views"
    if hints.shape == "round":
        return "revolution", f"{hints.category or 'the object'} is round"
    if hints.shape in ("boxy", "flat"):
        return "extrusion", f"{hints.category or 'the object'} is {hints.shape}"
    mask, _ = _crop(views[0])
    sym = mirror_iou(mask, symmetry_axis(mask))
    fill = mask.mean()
    if sym > 0.85 and fill < 0.92:
        return "revolution", f"silhouette is mirror-symmetric (IoU {sym:.2f}) and not rectangular (fill {fill:.2f})"
    return "extrusion", f"silhouette is rectangular (fill {fill:.2f}) or asymmetric (mirror IoU {sym:.2f})"


def make_lifter(name: str, **options: Any) -> Lifter:
    cls = LIFTERS.get(name)
    return cls(**options) if options else cls()  # type: ignore[operator]


def lift(views: Sequence[Segmentation], method: str = "auto", hints: LiftHints = LiftHints(),
         learned: str | None = None, learned_options: dict[str, Any] | None = None) -> LiftResult:
    """Lift views to a mesh with ``method`` (auto, a classical name, a registered name or ``module:Class``).

    ``learned``: a learned lifter tried first when ``method`` is auto; when it cannot run here
    (no package, no local weights, no GPU) the classical choice is used and a warning says why.
    """
    warnings: list[str] = []
    if method == "auto" and learned:
        lifter = make_lifter(learned, **(learned_options or {}))
        ok, why = lifter.available()
        if ok:
            return LiftResult(lifter.lift(views, hints), lifter.name, "learned lifter available")
        warnings.append(f"learned lifter {learned} unavailable ({why}); used a classical lifter")
    if method == "auto":
        method, reason = choose_method(views, hints)
    else:
        reason = "requested"
    lifter = make_lifter(method, **(learned_options or {})) if method not in CLASSICAL else make_lifter(method)
    ok, why = lifter.available()
    if not ok:
        raise RlscopeError(f"lifter {method} cannot run: {why}")
    if method in ("revolution", "extrusion") and len(views) > 1:
        warnings.append(f"{method} uses only the first of {len(views)} views")
    mesh = lifter.lift(views, hints)
    return LiftResult(mesh, getattr(lifter, "name", method), reason, warnings)
