"""Microwave: a hollow oven body, a hinged door with a bar handle, a push button and a timer knob."""

from __future__ import annotations

import math

import numpy as np

from rlscope.gen2sim.assets.asset import Asset
from rlscope.gen2sim.assets.procedural.parts import DARK, GAP, GLASS, METAL, Q_X90, WHITE, Builder, sample_mass

HANDLE_OUT = 0.04


def make_microwave(rng: np.random.Generator, *, asset_id: str = "microwave", width: float | None = None,
                   depth: float | None = None, height: float | None = None, mass: float | None = None,
                   hinge: str | None = None) -> Asset:
    """Bounding box width x depth x height includes the door handle; the door is hinged on ``hinge`` (left|right)."""
    W = float(width if width is not None else rng.uniform(0.45, 0.6))
    D = float(depth if depth is not None else rng.uniform(0.33, 0.42))
    H = float(height if height is not None else rng.uniform(0.26, 0.34))
    hinge = hinge or "left"
    if hinge not in ("left", "right"):
        raise ValueError(f"hinge must be left or right, got {hinge!r}")
    M = float(mass if mass is not None else sample_mass("microwave", rng))
    t, td = 0.01, 0.02  # wall, door thickness
    pw = 0.26 * W  # control panel width
    b = Builder(asset_id, "microwave", "metal")
    body = b.link("body", "body")
    yf = -D / 2 + HANDLE_OUT + td  # body front face (the door lies in front of it)
    yb = D / 2
    dc, yc = yb - yf, (yf + yb) / 2
    sgn = -1 if hinge == "left" else 1  # door side: x in sgn * [W/2 - (W - pw), W/2]
    # shell: bottom, top, back, outer wall on the door side, and the control block on the other side
    b.box(body, (W, dc, t), (0, yc, t / 2), rgba=WHITE)
    b.box(body, (W, dc, t), (0, yc, H - t / 2), rgba=WHITE)
    b.box(body, (W, t, H - 2 * t), (0, yb - t / 2, H / 2), rgba=WHITE)
    b.box(body, (t, dc - t, H - 2 * t), (sgn * (W / 2 - t / 2), yc - t / 2, H / 2), rgba=WHITE)
    px = -sgn * (W / 2 - pw / 2)  # control panel centre x
    b.box(body, (pw, dc - t, H - 2 * t), (px, yc - t / 2, H / 2), rgba=DARK)
    # door: hinged on its outer edge, lying in front of the body
    dw = W - pw - GAP
    door = b.link("door", "door", body, type="revolute", pos=(sgn * W / 2, yf, H / 2),
                  axis=(0, 0, -1) if hinge == "left" else (0, 0, 1), range=(0, float(rng.uniform(1.6, 2.0))),
                  damping=float(rng.uniform(0.1, 0.4)), frictionloss=float(rng.uniform(0.02, 0.1)))
    b.box(door, (dw, td, H - 2 * GAP), (-sgn * dw / 2, -td / 2, 0), rgba=DARK)
    b.box(door, (dw - 0.08, 0.002, H - 0.08), (-sgn * dw / 2, -td - 0.001, 0), rgba=GLASS)
    b.bar_handle(door, "door_handle", (-sgn * (dw - 0.035), -td, 0), float(min(0.7 * H, 0.2)), "z", HANDLE_OUT - 0.002,
                 "door_joint", rgba=METAL)
    # knob (timer) and button on the control panel
    knob_r = 0.022
    knob = b.link("knob", "knob", body, type="revolute", pos=(px, yf, 0.62 * H), axis=(0, 1, 0),
                  range=(0, float(rng.uniform(0.75, 0.9)) * 2 * math.pi), damping=0.01, frictionloss=0.01)
    b.cylinder(knob, knob_r, 0.02, (0, -0.01, 0), rgba=METAL, quat=Q_X90, thin=True)
    b.box(knob, (0.006, 0.004, 0.016), (0, -0.022, 0.008), rgba=DARK, thin=True)
    b.mark_handle("knob", knob, "knob_joint", (0, -0.01, 0), 2 * knob_r, "y")
    button = b.link("button", "button", body, type="prismatic", pos=(px, yf, 0.3 * H), axis=(0, 1, 0),
                    range=(0, 0.006), damping=0.5, stiffness=200.0, frictionloss=0.05, material="plastic")
    b.box(button, (0.05, 0.016, 0.025), (0, -0.008, 0), rgba=WHITE, thin=True)
    b.mark_handle("button", button, "button_joint", (0, -0.016, 0), 0.05, "x")
    params = {"width": W, "depth": D, "height": H, "hinge": hinge}
    return b.build(size=(W, D, H), mass=M, params=params, fixed_base=False)
