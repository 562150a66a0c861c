"""Laptop: a base and a screen hinged at the back edge, with a lip at the screen's front edge."""

from __future__ import annotations

import numpy as np

from rlscope.gen2sim.assets.asset import Asset
from rlscope.gen2sim.assets.procedural.parts import DARK, METAL, Builder, sample_mass

LIP = 0.016
"""Lip (grasp tab) depth and height: at least 1.5 cm."""


def make_laptop(rng: np.random.Generator, *, asset_id: str = "laptop", width: float | None = None,
                depth: float | None = None, mass: float | None = None) -> Asset:
    """Closed at joint value 0; the lid opens to 1.9..2.3 rad. Depth includes the lip."""
    W = float(width if width is not None else rng.uniform(0.3, 0.38))
    D = float(depth if depth is not None else rng.uniform(0.21, 0.27))
    tb = float(rng.uniform(0.012, 0.02))
    ts = float(rng.uniform(0.006, 0.009))
    M = float(mass if mass is not None else sample_mass("laptop", rng))
    b = Builder(asset_id, "laptop", "metal")
    base = b.link("base", "base")
    yf, yb = -D / 2 + LIP, D / 2
    db, yc = yb - yf, (yf + yb) / 2
    b.box(base, (W, db, tb), (0, yc, tb / 2), rgba=METAL)
    b.box(base, (0.8 * W, 0.45 * db, 0.001), (0, yc + 0.08 * db, tb + 0.0005), rgba=DARK)  # keyboard
    screen = b.link("screen", "screen", base, type="revolute", pos=(0, yb, tb), axis=(-1, 0, 0),
                    range=(0, float(rng.uniform(1.9, 2.3))), damping=float(rng.uniform(0.05, 0.2)),
                    frictionloss=float(rng.uniform(0.05, 0.2)))
    b.box(screen, (W, db, ts), (0, -db / 2, ts / 2), rgba=METAL)
    b.box(screen, (0.9 * W, 0.85 * db, 0.001), (0, -db / 2, -0.0005), rgba=DARK)  # display, under the lid
    lip = b.link("lip", "handle", screen, pos=(0, -db - LIP / 2, ts - LIP / 2))
    b.box(lip, (0.08, LIP, LIP), (0, 0, 0), rgba=METAL, thin=True)
    b.mark_handle("lip", lip, "screen_joint", (0, 0, 0), 0.08, "x")
    params = {"width": W, "depth": D, "base_thickness": tb, "screen_thickness": ts}
    return b.build(size=(W, D, tb + ts), mass=M, params=params, fixed_base=False, shape="flat")
