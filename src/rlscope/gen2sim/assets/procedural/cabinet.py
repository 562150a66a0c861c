"""Cabinet with N drawers and/or hinged doors (left, right or double)."""

from __future__ import annotations

import numpy as np

from rlscope.gen2sim.assets.asset import Asset
from rlscope.gen2sim.assets.procedural.parts import GAP, METAL, WOOD, Builder, sample_mass

PANEL = 0.018
HANDLE_OUT = 0.045
"""Distance from the fronts to the handles' outer surface (part of the requested depth)."""


def make_cabinet(rng: np.random.Generator, *, asset_id: str = "cabinet", width: float | None = None,
                 depth: float | None = None, height: float | None = None, n_drawers: int | None = None,
                 doors: str | None = None, mass: float | None = None) -> Asset:
    """A carcass with ``n_drawers`` drawers on top and ``doors`` (none | left | right | double) below.

    Size (width x depth x height) is the whole bounding box, handles included.
    """
    W = float(width if width is not None else rng.uniform(0.45, 0.9))
    D = float(depth if depth is not None else rng.uniform(0.35, 0.55))
    H = float(height if height is not None else rng.uniform(0.5, 1.0))
    if n_drawers is None:
        n_drawers = int(rng.integers(0, 4))
    if doors is None:
        doors = str(rng.choice(["none", "left", "right", "double"]))
    if doors not in ("none", "left", "right", "double"):
        raise ValueError(f"doors must be none, left, right or double, got {doors!r}")
    if n_drawers == 0 and doors == "none":
        n_drawers = 1
    M = float(mass if mass is not None else sample_mass("cabinet", rng))
    t = PANEL
    b = Builder(asset_id, "cabinet", "wood")
    body = b.link("body", "frame")
    yf, yb = -D / 2 + HANDLE_OUT, D / 2  # carcass front and back
    dc, yc = yb - yf, (yf + yb) / 2
    b.box(body, (t, dc, H), (-W / 2 + t / 2, yc, H / 2))
    b.box(body, (t, dc, H), (W / 2 - t / 2, yc, H / 2))
    wi = W - 2 * t
    b.box(body, (wi, dc, t), (0, yc, H - t / 2))
    b.box(body, (wi, dc, t), (0, yc, t / 2))
    b.box(body, (wi, t, H - 2 * t), (0, yb - t / 2, H / 2))
    hi = H - 2 * t
    # split the interior: drawers on top, doors below, separated by a shelf
    if n_drawers and doors != "none":
        drawer_h = min(0.6 * hi, n_drawers * max(0.12, 0.2 * hi))
        z_split = H - t - drawer_h
        b.box(body, (wi, dc - t, t), (0, yc - t / 2, z_split - t / 2))
        door_z = (t, z_split - t)
    elif n_drawers:
        z_split, door_z = t, None
    else:
        z_split, door_z = H - t, (t, H - t)
    damping = float(rng.uniform(2.0, 8.0))
    dd = dc - 2 * t - 0.01  # drawer depth
    if n_drawers:
        edges = np.linspace(H - t, z_split, n_drawers + 1)
        for k in range(n_drawers):
            z1, z0 = edges[k], edges[k + 1]
            fh = z1 - z0 - 2 * GAP
            fw = wi - 2 * GAP
            name = f"drawer_{k}"
            travel = float(rng.uniform(0.6, 0.85)) * dd
            b.link(name, "drawer", body, type="prismatic", pos=(0, yf + t / 2, (z0 + z1) / 2), axis=(0, -1, 0),
                   range=(0, travel), damping=damping, frictionloss=float(rng.uniform(0.5, 2.0)))
            b.box(name, (fw, t, fh), (0, 0, 0), rgba=WOOD)
            side_h = 0.7 * fh
            zb = -fh / 2 + side_h / 2
            inner = fw - 2 * 0.004
            b.box(name, (0.012, dd, side_h), (-inner / 2 + 0.006, t / 2 + dd / 2, zb))
            b.box(name, (0.012, dd, side_h), (inner / 2 - 0.006, t / 2 + dd / 2, zb))
            b.box(name, (inner - 0.024, dd, 0.01), (0, t / 2 + dd / 2, -fh / 2 + 0.005))
            b.box(name, (inner - 0.024, 0.012, side_h), (0, t / 2 + dd - 0.006, zb))
            length = float(min(0.6 * fw, 0.3))
            b.bar_handle(name, f"{name}_handle", (0, -t / 2, 0), length, "x", HANDLE_OUT - 0.002, f"{name}_joint", rgba=METAL)
    if door_z is not None:
        z0, z1 = door_z
        dh = z1 - z0 - 2 * GAP
        zc = (z0 + z1) / 2
        sides = {"left": ["left"], "right": ["right"], "double": ["left", "right"]}[doors]
        dw = wi / len(sides) - 2 * GAP
        open_max = float(rng.uniform(1.5, 2.0))
        for side in sides:
            sgn = -1 if side == "left" else 1  # hinge at x = sgn * wi / 2
            name = f"door_{side}"
            b.link(name, "door", body, type="revolute", pos=(sgn * (wi / 2 - GAP), yf, zc),
                   axis=(0, 0, -1) if side == "left" else (0, 0, 1), range=(0, open_max),
                   damping=float(rng.uniform(0.2, 1.0)), frictionloss=float(rng.uniform(0.05, 0.3)))
            b.box(name, (dw, t, dh), (-sgn * dw / 2, t / 2, 0), rgba=WOOD)
            length = float(min(0.5 * dh, 0.25))
            b.bar_handle(name, f"{name}_handle", (-sgn * (dw - 0.045), 0, 0), length, "z", HANDLE_OUT - 0.002,
                         f"{name}_joint", rgba=METAL)
    params = {"width": W, "depth": D, "height": H, "n_drawers": n_drawers, "doors": doors}
    return b.build(size=(W, D, H), mass=M, params=params, fixed_base=True)
