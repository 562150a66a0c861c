"""Containers with a hinged lid: a storage box and a round trash can."""

from __future__ import annotations

import math

import numpy as np

from rlscope.gen2sim.assets.asset import Asset, axis_angle_quat
from rlscope.gen2sim.assets.procedural.parts import METAL, PLASTIC, Builder, sample_mass

HANDLE_OUT = 0.03


def make_storage_box(rng: np.random.Generator, *, asset_id: str = "storage_box", width: float | None = None,
                     depth: float | None = None, height: float | None = None, mass: float | None = None) -> Asset:
    """An open box with a lid hinged at the back; a bar on the lid's front edge. Size includes the bar."""
    W = float(width if width is not None else rng.uniform(0.22, 0.45))
    D = float(depth if depth is not None else rng.uniform(0.18, 0.35))
    H = float(height if height is not None else rng.uniform(0.12, 0.3))
    M = float(mass if mass is not None else sample_mass("storage_box", rng))
    t, tl = 0.01, 0.02
    b = Builder(asset_id, "storage_box", "plastic")
    body = b.link("body", "body")
    yf, yb = -D / 2 + HANDLE_OUT, D / 2
    db, yc = yb - yf, (yf + yb) / 2
    hb = H - tl
    b.box(body, (W, db, t), (0, yc, t / 2), rgba=PLASTIC)
    b.box(body, (t, db, hb - t), (-W / 2 + t / 2, yc, t + (hb - t) / 2), rgba=PLASTIC)
    b.box(body, (t, db, hb - t), (W / 2 - t / 2, yc, t + (hb - t) / 2), rgba=PLASTIC)
    b.box(body, (W - 2 * t, t, hb - t), (0, yf + t / 2, t + (hb - t) / 2), rgba=PLASTIC)
    b.box(body, (W - 2 * t, t, hb - t), (0, yb - t / 2, t + (hb - t) / 2), rgba=PLASTIC)
    lid = b.link("lid", "lid", body, type="revolute", pos=(0, yb, hb), axis=(-1, 0, 0),
                 range=(0, float(rng.uniform(1.6, 2.2))), damping=float(rng.uniform(0.05, 0.3)), frictionloss=0.02)
    b.box(lid, (W, db, tl), (0, -db / 2, tl / 2), rgba=(0.85, 0.85, 0.85, 1))
    b.bar_handle(lid, "lid_handle", (0, -db, tl / 2), float(min(0.5 * W, 0.15)), "x", HANDLE_OUT - 0.002, "lid_joint",
                 rgba=METAL)
    params = {"width": W, "depth": D, "height": H}
    return b.build(size=(W, D, H), mass=M, params=params, fixed_base=False)


def make_trash_can(rng: np.random.Generator, *, asset_id: str = "trash_can", radius: float | None = None,
                   height: float | None = None, mass: float | None = None, segments: int = 16) -> Asset:
    """A round bin (``segments`` wall slabs) with a disc lid hinged at the back and a bar at its front."""
    R = float(radius if radius is not None else rng.uniform(0.12, 0.2))
    H = float(height if height is not None else rng.uniform(0.3, 0.5))
    M = float(mass if mass is not None else sample_mass("trash_can", rng))
    t, tl = 0.008, 0.02
    b = Builder(asset_id, "trash_can", "plastic")
    body = b.link("body", "body")
    hb = H - tl
    yc = HANDLE_OUT / 2  # the can's axis; the handle sticks out to -y
    apo = R * math.cos(math.pi / segments)  # apothem of the polygon whose corners lie on R
    seg_w = 2 * R * math.sin(math.pi / segments)
    colour = (0.35, 0.55, 0.4, 1)
    b.cylinder(body, apo - t, t, (0, yc, t / 2), rgba=colour)
    for k in range(segments):
        a = 2 * math.pi * (k + 0.5) / segments  # corners at multiples of 2 pi / segments, so x/y extents are R
        c = apo - t / 2
        q = axis_angle_quat([0, 0, 1], a)
        b.box(body, (t, seg_w, hb), (c * math.cos(a), yc + c * math.sin(a), hb / 2), rgba=colour, quat=q)
    lid = b.link("lid", "lid", body, type="revolute", pos=(0, yc + R, hb), axis=(-1, 0, 0),
                 range=(0, float(rng.uniform(1.5, 2.0))), damping=float(rng.uniform(0.05, 0.3)), frictionloss=0.02)
    b.cylinder(lid, R, tl, (0, -R, tl / 2), rgba=(0.3, 0.3, 0.3, 1))
    b.bar_handle(lid, "lid_handle", (0, -2 * R, tl / 2), 0.1, "x", HANDLE_OUT - 0.002, "lid_joint", rgba=METAL)
    params = {"radius": R, "height": H, "segments": segments}
    return b.build(size=(2 * R, 2 * R + HANDLE_OUT, H), mass=M, params=params, fixed_base=False, shape="round")
