"""Single-lever faucet: a deck plate, a column with a spout, and a lever that lifts."""

from __future__ import annotations

import numpy as np

from rlscope.gen2sim.assets.asset import Asset
from rlscope.gen2sim.assets.procedural.parts import METAL, Q_Y90, Builder, sample_mass

LEVER = 0.016
"""Lever cross-section (>= 1.5 cm)."""


def make_faucet(rng: np.random.Generator, *, asset_id: str = "faucet", height: float | None = None,
                reach: float | None = None, lever_length: float | None = None, mass: float | None = None) -> Asset:
    """The spout points to -y (front); the lever points back (+y) and lifts about x."""
    hc = float(height if height is not None else rng.uniform(0.14, 0.22))
    ls = float(reach if reach is not None else rng.uniform(0.12, 0.18))
    ll = float(lever_length if lever_length is not None else rng.uniform(0.08, 0.12))
    M = float(mass if mass is not None else sample_mass("faucet", rng))
    b = Builder(asset_id, "faucet", "metal")
    rc, tp = 0.022, 0.012  # column radius, plate thickness
    pl_w, pl_d = 0.07, 0.1
    # the bounding box spans y from the spout tip (-ls - 0.011) to the lever end; centre it
    y0 = -ls - 0.011
    y1 = max(pl_d / 2, ll)
    yo = -(y0 + y1) / 2  # shift so the bbox is centred on y = 0
    base = b.link("base", "base")
    b.box(base, (pl_w, pl_d, tp), (0, yo, tp / 2), rgba=METAL)
    b.cylinder(base, rc, hc, (0, yo, tp + hc / 2), rgba=METAL)
    zs = tp + 0.8 * hc
    b.box(base, (0.022, ls, 0.022), (0, yo - ls / 2, zs), rgba=METAL)  # spout arm
    b.box(base, (0.022, 0.022, 0.04), (0, yo - ls, zs - 0.02), rgba=METAL)  # nozzle
    top = tp + hc
    lever = b.link("lever", "lever", base, type="revolute", pos=(0, yo, top + LEVER / 2), axis=(1, 0, 0),
                   range=(0, float(rng.uniform(0.5, 0.8))), damping=float(rng.uniform(0.005, 0.02)), frictionloss=0.02)
    b.cylinder(lever, LEVER / 2, 0.03, (0, 0, 0), rgba=METAL, quat=Q_Y90, thin=True)  # hub
    b.box(lever, (LEVER, ll, LEVER), (0, ll / 2, 0), rgba=METAL, thin=True)
    b.mark_handle("lever", lever, "lever_joint", (0, 0.7 * ll, 0), ll, "y")
    params = {"height": hc, "reach": ls, "lever_length": ll}
    return b.build(size=(pl_w, y1 - y0, top + LEVER), mass=M, params=params, fixed_base=True, shape="irregular")
