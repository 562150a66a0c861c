"""Building blocks of procedural assets: links of boxes and cylinders, bar handles, analytic inertia."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rlscope.gen2sim.assets.asset import (
    Asset, Geom, Handle, Inertial, Joint, Link, Physics, axis_angle_quat, quat_to_matrix,
)
from rlscope.gen2sim.assets.physics import MATERIALS, lookup_category

HANDLE_DIAMETER = 0.016
"""Bar handles are at least this thick (grippers and contacts need >= 1.5 cm)."""
GAP = 0.003
"""Clearance between neighbouring moving parts."""

Q_X90 = axis_angle_quat([1, 0, 0], math.pi / 2)
"""Turns a z-aligned cylinder to lie along y."""
Q_Y90 = axis_angle_quat([0, 1, 0], math.pi / 2)
"""Turns a z-aligned cylinder to lie along x."""

WOOD = (0.62, 0.45, 0.3, 1.0)
METAL = (0.72, 0.73, 0.75, 1.0)
DARK = (0.15, 0.15, 0.17, 1.0)
GLASS = (0.6, 0.75, 0.85, 0.5)
WHITE = (0.92, 0.92, 0.9, 1.0)
PLASTIC = (0.3, 0.45, 0.6, 1.0)


def _volume(g: Geom) -> float:
    if g.type == "box":
        return float(np.prod(g.size))
    if g.type == "cylinder":
        return math.pi * g.size[0] ** 2 * g.size[1]
    if g.type == "sphere":
        return 4 / 3 * math.pi * g.size[0] ** 3
    raise ValueError(g.type)


def _inertia_local(g: Geom, m: float) -> np.ndarray:
    """(3, 3) inertia of a solid primitive about its centre, in its own axes."""
    if g.type == "box":
        a, b, c = g.size
        return m / 12 * np.diag([b * b + c * c, a * a + c * c, a * a + b * b])
    if g.type == "cylinder":
        r, h = g.size
        i = m * (3 * r * r + h * h) / 12
        return np.diag([i, i, m * r * r / 2])
    if g.type == "sphere":
        return np.eye(3) * 0.4 * m * g.size[0] ** 2
    raise ValueError(g.type)


def primitives_inertial(geoms: Sequence[Geom], mass: float) -> Inertial:
    """Mass properties of a union of solid primitives (mass split by volume, overlaps ignored)."""
    vols = np.array([_volume(g) for g in geoms])
    masses = mass * vols / vols.sum()
    com = sum(m * np.asarray(g.pos) for m, g in zip(masses, geoms)) / mass
    inertia = np.zeros((3, 3))
    for m, g in zip(masses, geoms):
        R = quat_to_matrix(g.quat)
        d = np.asarray(g.pos) - com
        inertia += R @ _inertia_local(g, m) @ R.T + m * (d @ d * np.eye(3) - np.outer(d, d))
    return Inertial(float(mass), com.tolist(),
                    [inertia[0, 0], inertia[1, 1], inertia[2, 2], inertia[0, 1], inertia[0, 2], inertia[1, 2]])


class Builder:
    """Collects links, joints and handles, then distributes the mass and computes inertia."""

    def __init__(self, asset_id: str, category: str, material: str):
        self.asset_id = asset_id
        self.category = category
        self.material = material
        self.links: list[Link] = []
        self.joints: list[Joint] = []
        self.handles: list[tuple[str, str, str | None, list[float], float, str]] = []

    def link(self, name: str, semantic: str, parent: str | None = None, *, type: str = "fixed",
             pos: Sequence[float] = (0, 0, 0), quat: Sequence[float] = (1, 0, 0, 0), axis: Sequence[float] = (0, 0, 1),
             range: Sequence[float] = (0, 0), damping: float = 0.0, frictionloss: float = 0.0, stiffness: float = 0.0,
             material: str | None = None) -> str:
        mat = material or self.material
        self.links.append(Link(name=name, semantic=semantic, material=mat, friction=MATERIALS[mat].friction))
        if parent is not None:
            kind = {"revolute": "hinge", "continuous": "hinge", "prismatic": "slider"}.get(type, "static")
            self.joints.append(Joint(
                name=f"{name}_joint", type=type, parent=parent, child=name, pos=[float(v) for v in pos],
                quat=[float(v) for v in quat], axis=[float(v) for v in axis], range=[float(v) for v in range],
                damping=float(damping), frictionloss=float(frictionloss), stiffness=float(stiffness), semantic=kind,
                closed="lower" if type in ("revolute", "prismatic") else "",
            ))
        return name

    def _get(self, name: str) -> Link:
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(name)

    def box(self, link: str, size: Sequence[float], pos: Sequence[float], rgba=WOOD, quat=(1, 0, 0, 0), thin=False) -> None:
        g = Geom("box", [float(v) for v in size], [float(v) for v in pos], [float(v) for v in quat], rgba=list(rgba), thin=thin)
        self._add(link, g)

    def cylinder(self, link: str, radius: float, length: float, pos: Sequence[float], rgba=METAL, quat=(1, 0, 0, 0),
                 thin=False) -> None:
        g = Geom("cylinder", [float(radius), float(length)], [float(v) for v in pos], [float(v) for v in quat],
                 rgba=list(rgba), thin=thin)
        self._add(link, g)

    def _add(self, link: str, g: Geom) -> None:
        lk = self._get(link)
        lk.visuals.append(g)
        lk.collisions.append(Geom(**{**g.__dict__, "pos": list(g.pos), "quat": list(g.quat), "size": list(g.size),
                                     "rgba": list(g.rgba), "scale": list(g.scale)}))

    def bar_handle(self, parent: str, name: str, face: Sequence[float], length: float, along: str,
                   protrusion: float, joint: str | None, rgba=METAL, diameter: float = HANDLE_DIAMETER) -> str:
        """A bar handle on the ``-y`` face of ``parent``: ``face`` is the point on that face (parent frame)
        behind the bar's centre, ``along`` is ``x`` or ``z``, ``protrusion`` the distance from the face to the
        bar's outer surface. Returns the handle link's name."""
        r = diameter / 2
        standoff = protrusion - diameter
        if standoff < 0.004:
            raise ValueError(f"handle {name}: protrusion {protrusion:.3f} m leaves no room for standoffs")
        centre = [face[0], face[1] - standoff - r, face[2]]
        self.link(name, "handle", parent, pos=centre, material="metal")
        q = Q_Y90 if along == "x" else (1, 0, 0, 0)
        self.cylinder(name, r, length, (0, 0, 0), rgba=rgba, quat=q, thin=True)
        off = length / 2 - 0.012
        for s in (-1, 1):
            p = [s * off, (standoff + r) / 2, 0] if along == "x" else [0, (standoff + r) / 2, s * off]
            self.box(name, (0.012, standoff + r, 0.012), p, rgba=rgba, thin=True)
        self.handles.append((name, name, joint, [0.0, 0.0, 0.0], length, along))
        return name

    def mark_handle(self, name: str, link: str, joint: str | None, pos_link: Sequence[float], length: float, along: str) -> None:
        """Record an existing part (a knob, a lever, a button) as a handle."""
        self.handles.append((name, link, joint, [float(v) for v in pos_link], float(length), along))

    def build(self, *, size: Sequence[float], mass: float, params: dict, fixed_base: bool, shape: str = "boxy") -> Asset:
        vols = {lk.name: sum(_volume(g) for g in lk.collisions) for lk in self.links}
        total = sum(vols.values())
        masses = {n: max(mass * v / total, 1e-3) for n, v in vols.items()}
        scale = mass / sum(masses.values())
        for lk in self.links:
            lk.inertial = primitives_inertial(lk.collisions, masses[lk.name] * scale)
        _, info = lookup_category(self.category)
        asset = Asset(
            asset_id=self.asset_id, category=self.category, source="procedural", links=self.links, joints=self.joints,
            physics=Physics(material=self.material, size_cm=list(info.size_cm), mass_g=list(info.mass_g),
                            size=[float(v) for v in size], mass=float(mass), friction=MATERIALS[self.material].friction,
                            source="procedural", shape=shape),
            fixed_base=fixed_base, params=params,
        )
        poses = asset.link_poses()
        for name, link, joint, pos_link, length, along in self.handles:
            T = poses[link]
            p = T[:3, :3] @ np.asarray(pos_link) + T[:3, 3]
            ax_local = {"x": [1.0, 0, 0], "y": [0, 1.0, 0], "z": [0, 0, 1.0]}[along]
            ax = T[:3, :3] @ np.asarray(ax_local)
            ext = np.abs(ax) * length + (1 - np.abs(ax)) * HANDLE_DIAMETER
            moving = joint or _moving_ancestor(asset, link)
            asset.handles.append(Handle(name=name, link=link, joint=moving, pos=p.tolist(), size=ext.tolist(),
                                        axis=ax.tolist(), pos_link=list(pos_link)))
        return asset


def _moving_ancestor(asset: Asset, link: str) -> str | None:
    by_child = {j.child: j for j in asset.joints}
    while link in by_child:
        j = by_child[link]
        if j.type != "fixed":
            return j.name
        link = j.parent
    return None


def sample_mass(category: str, rng: np.random.Generator) -> float:
    _, info = lookup_category(category)
    return float(rng.uniform(*info.mass_g)) / 1000.0
