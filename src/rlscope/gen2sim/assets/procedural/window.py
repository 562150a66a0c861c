"""Sliding window: a frame with a fixed pane at the back and a sash sliding sideways in the front track."""

from __future__ import annotations

import numpy as np

from rlscope.gen2sim.assets.asset import Asset
from rlscope.gen2sim.assets.procedural.parts import GAP, GLASS, METAL, WHITE, Builder, sample_mass

HANDLE_OUT = 0.04


def make_window(rng: np.random.Generator, *, asset_id: str = "window", width: float | None = None,
                height: float | None = None, frame_depth: float | None = None, mass: float | None = None) -> Asset:
    """Depth of the bounding box = frame depth + handle protrusion."""
    W = float(width if width is not None else rng.uniform(0.6, 1.0))
    H = float(height if height is not None else rng.uniform(0.5, 0.9))
    Df = float(frame_depth if frame_depth is not None else rng.uniform(0.08, 0.12))
    M = float(mass if mass is not None else sample_mass("window", rng))
    D = Df + HANDLE_OUT
    fb = 0.045  # frame bar width
    b = Builder(asset_id, "window", "wood")
    frame = b.link("frame", "frame")
    yf = -D / 2 + HANDLE_OUT
    yc = yf + Df / 2
    b.box(frame, (W, Df, fb), (0, yc, fb / 2), rgba=WHITE)
    b.box(frame, (W, Df, fb), (0, yc, H - fb / 2), rgba=WHITE)
    b.box(frame, (fb, Df, H - 2 * fb), (-W / 2 + fb / 2, yc, H / 2), rgba=WHITE)
    b.box(frame, (fb, Df, H - 2 * fb), (W / 2 - fb / 2, yc, H / 2), rgba=WHITE)
    wi, hi = W - 2 * fb, H - 2 * fb
    y_back = yc + Df / 4
    y_front = yc - Df / 4
    # fixed pane in the back track (right half)
    pane_w = wi / 2 + 0.02
    b.box(frame, (pane_w, 0.02, hi), (wi / 2 - pane_w / 2, y_back, H / 2), rgba=WHITE)
    # sash in the front track (left half), slides to +x
    sash_w, sash_h = wi / 2 + 0.02, hi - 2 * GAP
    sd = 0.025
    travel = wi - sash_w - 0.01
    sash = b.link("sash", "window", frame, type="prismatic", pos=(-wi / 2 + sash_w / 2, y_front, H / 2), axis=(1, 0, 0),
                  range=(0, float(rng.uniform(0.7, 0.95)) * travel), damping=float(rng.uniform(3, 10)),
                  frictionloss=float(rng.uniform(1, 4)))
    st = 0.035  # stile / rail width
    b.box(sash, (st, sd, sash_h), (-sash_w / 2 + st / 2, 0, 0), rgba=WHITE)
    b.box(sash, (st, sd, sash_h), (sash_w / 2 - st / 2, 0, 0), rgba=WHITE)
    b.box(sash, (sash_w - 2 * st, sd, st), (0, 0, sash_h / 2 - st / 2), rgba=WHITE)
    b.box(sash, (sash_w - 2 * st, sd, st), (0, 0, -sash_h / 2 + st / 2), rgba=WHITE)
    b.box(sash, (sash_w - 2 * st, 0.006, sash_h - 2 * st), (0, 0, 0), rgba=GLASS)
    # the handle's outer surface lands 2 mm inside the bounding box front (y = -D / 2)
    protrusion = (y_front - sd / 2) + D / 2 - 0.002
    b.bar_handle(sash, "sash_handle", (-sash_w / 2 + st / 2, -sd / 2, 0), float(min(0.4 * sash_h, 0.18)), "z",
                 protrusion, "sash_joint", rgba=METAL)
    params = {"width": W, "height": H, "frame_depth": Df}
    return b.build(size=(W, D, H), mass=M, params=params, fixed_base=True, shape="flat")
