"""Procedural photo-like sample images (the bundled ``gen2sim/data`` files are made by this module).

Each image is drawn from a known profile, so tests can compare what the pipeline lifts with
what was drawn. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def _background(h: int, w: int, top: tuple[float, ...], bottom: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    t = np.linspace(0, 1, h)[:, None, None]
    img = (1 - t) * np.asarray(top) + t * np.asarray(bottom)  # (H, 1, 3)
    img = np.repeat(img, w, axis=1)
    return img + rng.normal(0, 1.5, img.shape)


def _shade_round(img: np.ndarray, mask: np.ndarray, axis_x: float, radius: np.ndarray, colour: tuple[float, ...]) -> None:
    """Lambert shading of a body of revolution seen from the front; ``radius`` is per row."""
    h, w = mask.shape
    xs = np.arange(w)[None, :] - axis_x
    r = np.maximum(radius[:, None], 1e-6)
    nx = np.clip(xs / r, -1, 1)
    nz = np.sqrt(1 - nx**2)
    light = np.array([-0.45, 0.35, 0.82])
    light /= np.linalg.norm(light)
    lam = np.clip(nx * light[0] + nz * light[2] + 0.15 * light[1], 0, 1)
    spec = np.clip(nx * 0.3 + nz * 0.95, 0, 1) ** 40
    shade = (0.25 + 0.75 * lam)[..., None] * np.asarray(colour) + 90 * spec[..., None]
    img[mask] = shade[mask]


def bottle_profile(h: int) -> np.ndarray:
    """Radius (pixels) per row of the drawn bottle, for an image of height ``h`` (0 outside the bottle)."""
    r = np.zeros(h)
    top, bottom = int(0.08 * h), int(0.92 * h)
    for y in range(top, bottom):
        t = (y - top) / (bottom - top)
        if t < 0.06:
            r[y] = 0.055 * h  # cap
        elif t < 0.25:
            r[y] = 0.045 * h  # neck
        elif t < 0.42:
            s = (t - 0.25) / 0.17
            r[y] = (0.045 + (0.13 - 0.045) * (0.5 - 0.5 * np.cos(np.pi * s))) * h  # shoulder
        else:
            r[y] = 0.13 * h
    return r


def bottle_image(size: int = 256, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: a green bottle on a grey-white gradient, no alpha."""
    rng = np.random.default_rng(seed)
    h = w = size
    img = _background(h, w, (236, 236, 232), (205, 205, 200), rng)
    r = bottle_profile(h)
    axis = w / 2
    xs = np.arange(w)[None, :]
    mask = np.abs(xs - axis) <= r[:, None]
    mask &= r[:, None] > 0
    # contact shadow
    base = int(0.92 * h)
    yy, xx = np.mgrid[0:h, 0:w]
    shadow = np.exp(-(((xx - axis - 8) / (0.2 * w)) ** 2) - ((yy - base) / 5.0) ** 2)
    img *= (1 - 0.35 * shadow)[..., None]
    _shade_round(img, mask, axis, r, (40, 120, 60))
    cap = mask & (yy < int(0.08 * h + 0.06 * 0.84 * h))
    img[cap] = img[cap] * 0.4 + np.array([170, 30, 30]) * 0.6
    return np.clip(img, 0, 255).astype(np.uint8)


def mug_image(size: int = 256, seed: int = 1) -> np.ndarray:
    """(H, W, 4) uint8: a red mug with a handle on the right, with an alpha matte."""
    rng = np.random.default_rng(seed)
    h = w = size
    img = _background(h, w, (250, 250, 250), (250, 250, 250), rng)
    top, bottom = int(0.25 * h), int(0.8 * h)
    axis = 0.44 * w
    radius = np.zeros(h)
    radius[top:bottom] = np.linspace(0.19 * w, 0.17 * w, bottom - top)
    xs = np.arange(w)[None, :]
    yy, xx = np.mgrid[0:h, 0:w]
    body = (np.abs(xs - axis) <= radius[:, None]) & (radius[:, None] > 0)
    # handle: a ring on the right side
    cx, cy = axis + 0.19 * w, (top + bottom) / 2
    ring = np.hypot((xx - cx) / 1.0, (yy - cy) / 1.25)
    handle = (ring <= 0.12 * w) & (ring >= 0.065 * w) & (xx > axis + 0.1 * w)
    img_rgb = img.copy()
    _shade_round(img_rgb, body, axis, radius, (200, 40, 40))
    hs = np.clip(1 - (ring - 0.09 * w) ** 2 / (0.03 * w) ** 2, 0.2, 1)
    img_rgb[handle & ~body] = (hs[..., None] * np.array([180, 35, 35]))[handle & ~body]
    mask = body | handle
    alpha = np.where(mask, 255, 0).astype(np.float64)
    # soft edge
    from scipy.ndimage import gaussian_filter

    alpha = gaussian_filter(alpha, 0.7)
    img_rgb[alpha < 1] = 0  # nothing to see where the matte is clear (keeps the file small)
    out = np.dstack([np.clip(img_rgb, 0, 255), np.clip(alpha, 0, 255)])
    return out.astype(np.uint8)


def box_image(size: int = 256, seed: int = 2, aspect: float = 1.4) -> np.ndarray:
    """(H, W, 3) uint8: the front face of a cardboard box on a blue-grey background, no alpha."""
    rng = np.random.default_rng(seed)
    h = w = size
    img = _background(h, w, (120, 140, 170), (100, 115, 140), rng)
    bw = 0.62 * w
    bh = bw / aspect
    x0, y0 = (w - bw) / 2, 0.55 * h - bh / 2
    yy, xx = np.mgrid[0:h, 0:w]
    face = (xx >= x0) & (xx < x0 + bw) & (yy >= y0) & (yy < y0 + bh)
    tone = 1.0 - 0.08 * (yy - y0) / bh + rng.normal(0, 0.02, (h, w))
    colour = np.array([196, 150, 98])
    img[face] = (tone[..., None] * colour)[face]
    tape = face & (np.abs(yy - (y0 + 0.18 * bh)) < 0.05 * bh)
    img[tape] = img[tape] * 0.85 + 30
    return np.clip(img, 0, 255).astype(np.uint8)


def silhouette_views(kind: str = "box", size: int = 128, dims: tuple[float, float, float] = (0.6, 0.3, 0.4)) -> list[np.ndarray]:
    """Orthographic RGBA views of a box (x, y, z extents as fractions of the image) at azimuths 0 and 90 deg."""
    if kind != "box":
        raise ValueError(f"unknown view kind {kind!r}")
    views = []
    for width in (dims[0], dims[1]):
        img = np.zeros((size, size, 4), np.uint8)
        x0 = int(size * (0.5 - width / 2))
        x1 = int(size * (0.5 + width / 2))
        z0 = int(size * (0.5 - dims[2] / 2))
        z1 = int(size * (0.5 + dims[2] / 2))
        img[z0:z1, x0:x1] = (90, 160, 200, 255)
        views.append(img)
    return views


def write_samples(out: Path = DATA_DIR) -> list[Path]:
    """Write the bundled sample images; returns their paths."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "mug.png", out / "bottle.jpg", out / "box.png"]
    Image.fromarray(mug_image(), "RGBA").save(paths[0], optimize=True)
    Image.fromarray(bottle_image()).save(paths[1], quality=90)
    Image.fromarray(box_image()).save(paths[2], optimize=True)
    return paths

