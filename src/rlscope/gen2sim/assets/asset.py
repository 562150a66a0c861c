"""The asset schema: what ``asset.json`` holds and what later stages (task proposer, RL) read.

Frames and units
----------------
* Lengths in metres, masses in kilograms, angles in radians, quaternions ``(w, x, y, z)``.
* The asset frame: z up, origin at the centre of the bottom face of the bounding box (at the
  default joint configuration), the front (doors, drawers, handles, screen, the side seen in an
  input photo) facing ``-y``.
* The root link's frame is the asset frame. A joint places its child link's frame in its parent
  link's frame (``pos``, ``quat``) at joint value 0; the joint axis is expressed in the child frame
  and passes through its origin (URDF and MJCF conventions agree on this).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

SCHEMA_VERSION = 1

GEOM_TYPES = ("box", "cylinder", "sphere", "capsule", "mesh")
JOINT_TYPES = ("revolute", "prismatic", "continuous", "fixed")


@dataclasses.dataclass
class Geom:
    """One visual or collision shape in its link's frame."""

    type: str
    """box | cylinder | sphere | capsule | mesh."""
    size: list[float] = dataclasses.field(default_factory=list)
    """box: full extents (x, y, z); cylinder/capsule: (radius, length along z); sphere: (radius,); mesh: []."""
    pos: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.0, 0.0])
    """Position in the link frame."""
    quat: list[float] = dataclasses.field(default_factory=lambda: [1.0, 0.0, 0.0, 0.0])
    """Orientation in the link frame (w, x, y, z)."""
    mesh: str | None = None
    """mesh: path of an OBJ file relative to the asset directory."""
    scale: list[float] = dataclasses.field(default_factory=lambda: [1.0, 1.0, 1.0])
    """mesh: scale applied to the file's vertices."""
    rgba: list[float] = dataclasses.field(default_factory=lambda: [0.7, 0.7, 0.7, 1.0])
    """Colour (the mean vertex colour for coloured meshes)."""
    thin: bool = False
    """A thin part (handle, knob, lip): simulated with a stiffer contact (solimp 0.99)."""


@dataclasses.dataclass
class Inertial:
    """Mass properties of one link."""

    mass: float
    """kg."""
    com: list[float]
    """Centre of mass in the link frame."""
    inertia: list[float]
    """(ixx, iyy, izz, ixy, ixz, iyz) about the centre of mass, in link-frame axes (kg m^2)."""


@dataclasses.dataclass
class Link:
    """A rigid part with PartNet-Mobility-style semantics."""

    name: str
    semantic: str = "body"
    """What the part is: body, frame, drawer, door, lid, handle, button, knob, screen, base, lever, sash, ..."""
    visuals: list[Geom] = dataclasses.field(default_factory=list)
    collisions: list[Geom] = dataclasses.field(default_factory=list)
    inertial: Inertial | None = None
    material: str = "plastic"
    friction: float = 0.5
    """Sliding friction coefficient of its collision geoms (from the material table)."""


@dataclasses.dataclass
class Joint:
    """A joint between two links (URDF semantics)."""

    name: str
    type: str
    """revolute | prismatic | continuous | fixed."""
    parent: str
    child: str
    pos: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.0, 0.0])
    """Child frame origin in the parent frame at joint value 0."""
    quat: list[float] = dataclasses.field(default_factory=lambda: [1.0, 0.0, 0.0, 0.0])
    """Child frame orientation in the parent frame at joint value 0."""
    axis: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.0, 1.0])
    """Unit axis in the child frame (rotation axis, or direction of translation)."""
    range: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.0])
    """(lower, upper) in rad or m; 0 is the default (closed) configuration and lies within it. A continuous
    joint records one turn, (0, 2 pi), to measure turns by; it is no limit (the MJCF hinge is unlimited)."""
    damping: float = 0.0
    """Viscous damping (N s/m or N m s/rad)."""
    frictionloss: float = 0.0
    """Dry friction (N or N m)."""
    stiffness: float = 0.0
    """Spring stiffness towards 0 (buttons); MJCF only, URDF has no field for it."""
    semantic: str = ""
    """PartNet-Mobility joint kind: hinge | slider | static."""
    closed: str = ""
    """Which end of ``range`` is the part's closed configuration: ``lower`` or ``upper``; empty: inferred
    (:meth:`closed_end`). Importers record what they infer; ``rlscope gen2sim asset --closed`` overrides it."""

    def __post_init__(self) -> None:
        if self.closed not in ("", "lower", "upper"):
            raise ValueError(f"joint {self.name}: 'closed' must be 'lower', 'upper' or empty, got {self.closed!r}")

    def closed_end(self) -> str:
        """``lower`` or ``upper``: as recorded, else the end nearer 0 (the modelled rest pose; the lower on a tie)."""
        if self.closed:
            return self.closed
        lo, hi = self.range
        return "upper" if abs(hi) < abs(lo) else "lower"

    def ends(self) -> tuple[float, float]:
        """(closed value, open value): a fraction of travel 0 .. 1 runs from the first to the second."""
        lo, hi = float(self.range[0]), float(self.range[1])
        return (hi, lo) if self.closed_end() == "upper" else (lo, hi)


@dataclasses.dataclass
class Handle:
    """A graspable part, described so a proposer or a policy can find it."""

    name: str
    link: str
    """The link that holds the handle geometry."""
    joint: str | None
    """The joint the handle operates (door hinge, drawer slide, ...), if any."""
    pos: list[float]
    """Centre of the handle in the asset frame at the default configuration."""
    size: list[float]
    """Extents of the grasped bar in the asset frame (x, y, z) at the default configuration."""
    axis: list[float]
    """Long axis of the bar in the asset frame."""
    pos_link: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.0, 0.0])
    """Centre of the handle in its link's frame (follows the part when it moves)."""


@dataclasses.dataclass
class Physics:
    """Physical parameters, their ranges and where they came from."""

    material: str
    size_cm: list[float]
    """Plausible range (lo, hi) of the longest side, cm."""
    mass_g: list[float]
    """Plausible range (lo, hi) of the mass, g."""
    size: list[float]
    """Bounding-box extents (x, y, z) actually applied, m."""
    mass: float
    """Total mass actually applied, kg."""
    friction: float
    source: str
    """llm | table | urdf | procedural."""
    shape: str = "irregular"
    """round | boxy | flat | irregular (guides the choice of lifting method)."""
    density: float | None = None
    """Effective density (mass / mesh volume), kg/m^3, when a mesh gives a volume."""
    llm: dict[str, Any] | None = None
    """The raw language-model answer and the backend/model that gave it."""


@dataclasses.dataclass
class Asset:
    """An asset: links, joints, semantics, physics. Serialised as ``asset.json``."""

    asset_id: str
    category: str | None
    source: str
    """image | mesh | urdf | procedural."""
    links: list[Link]
    joints: list[Joint] = dataclasses.field(default_factory=list)
    handles: list[Handle] = dataclasses.field(default_factory=list)
    physics: Physics | None = None
    fixed_base: bool = False
    """Meant to stand fixed in a scene (a cabinet, a window); the MJCF still gets no free joint then."""
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    """How it was made: lift method, procedural dimensions, seeds, coacd settings, ..."""
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    """Relative paths of what was written: urdf, mjcf, preview, visual, ..."""
    warnings: list[str] = dataclasses.field(default_factory=list)
    """Doubts and repairs, one sentence each."""
    schema_version: int = SCHEMA_VERSION

    # -- structure -------------------------------------------------------------------------
    @property
    def root(self) -> str:
        children = {j.child for j in self.joints}
        roots = [link.name for link in self.links if link.name not in children]
        return roots[0]

    def link(self, name: str) -> Link:
        for link in self.links:
            if link.name == name:
                return link
        raise KeyError(name)

    def joint(self, name: str) -> Joint:
        for joint in self.joints:
            if joint.name == name:
                return joint
        raise KeyError(name)

    def movable_joints(self) -> list[Joint]:
        return [j for j in self.joints if j.type != "fixed"]

    def total_mass(self) -> float:
        return float(sum(link.inertial.mass for link in self.links if link.inertial is not None))

    def link_poses(self) -> dict[str, np.ndarray]:
        """(4, 4) pose of every link frame in the asset frame at the default configuration."""
        poses = {self.root: np.eye(4)}
        pending = list(self.joints)
        while pending:
            progressed = False
            for joint in list(pending):
                if joint.parent in poses:
                    poses[joint.child] = poses[joint.parent] @ pose_matrix(joint.pos, joint.quat)
                    pending.remove(joint)
                    progressed = True
            if not progressed:
                raise ValueError(f"joints do not form a tree: {[j.name for j in pending]}")
        return poses

    def describe(self) -> str:
        """A few lines a language model can read: parts, what they are, how they move."""
        size = self.physics.size if self.physics else None
        head = f"{self.asset_id}"
        if self.category:
            head += f" (a {self.category})"
        if size:
            head += f", {size[0] * 100:.0f} x {size[1] * 100:.0f} x {size[2] * 100:.0f} cm"
        if self.physics:
            head += f", {self.physics.mass:.2f} kg, {self.physics.material}"
        lines = [head + "."]
        by_child = {j.child: j for j in self.joints}
        poses = self.link_poses()
        for link in self.links:
            joint = by_child.get(link.name)
            p = poses[link.name][:3, 3]
            where = f"at ({p[0]:+.2f}, {p[1]:+.2f}, {p[2]:+.2f}) m"
            if joint is None:
                lines.append(f"- link {link.name}: {link.semantic} (root)")
            elif joint.type == "fixed":
                lines.append(f"- link {link.name}: {link.semantic}, fixed to {joint.parent}, {where}")
            else:
                unit = "m" if joint.type == "prismatic" else "rad"
                lines.append(
                    f"- link {link.name}: {link.semantic}, {joint.type} joint {joint.name} on {joint.parent}, "
                    f"axis {_fmt(joint.axis)}, range [{joint.range[0]:.2f}, {joint.range[1]:.2f}] {unit}, {where}"
                )
        for h in self.handles:
            op = f" (operates {h.joint})" if h.joint else ""
            lines.append(f"- handle {h.name} on link {h.link}{op} at {_fmt(h.pos)} m")
        return "\n".join(lines)

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(_round(self.to_dict()), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Asset:
        version = data.get("schema_version", SCHEMA_VERSION)
        if version > SCHEMA_VERSION:
            raise ValueError(f"asset schema version {version} is newer than this rlscope ({SCHEMA_VERSION})")
        links = [
            Link(
                **{
                    **link,
                    "visuals": [Geom(**g) for g in link.get("visuals", [])],
                    "collisions": [Geom(**g) for g in link.get("collisions", [])],
                    "inertial": Inertial(**link["inertial"]) if link.get("inertial") else None,
                }
            )
            for link in data["links"]
        ]
        return cls(
            **{
                **data,
                "links": links,
                "joints": [Joint(**j) for j in data.get("joints", [])],
                "handles": [Handle(**h) for h in data.get("handles", [])],
                "physics": Physics(**data["physics"]) if data.get("physics") else None,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Asset:
        return cls.from_dict(json.loads(text))


def _fmt(v: list[float]) -> str:
    return "(" + ", ".join(f"{x:+.2f}" for x in v) + ")"


def _round(obj: Any) -> Any:
    if isinstance(obj, float):
        return float(f"{obj:.9g}") if math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v) for v in obj]
    return obj


# -- small rigid-transform helpers (numpy) -------------------------------------------------
def quat_to_matrix(quat: list[float] | np.ndarray) -> np.ndarray:
    """(w, x, y, z) -> (3, 3) rotation matrix."""
    w, x, y, z = np.asarray(quat, dtype=float) / np.linalg.norm(quat)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(mat: np.ndarray) -> list[float]:
    """(3, 3) rotation matrix -> (w, x, y, z), w >= 0."""
    m = np.asarray(mat, dtype=float)
    tr = np.trace(m)
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q) / np.linalg.norm(q)
    if q[0] < 0:
        q = -q
    return [float(v) for v in q]


def rpy_to_matrix(rpy: list[float]) -> np.ndarray:
    """URDF roll-pitch-yaw (fixed axes x, y, z) -> (3, 3) rotation matrix."""
    r, p, y = rpy
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx


def matrix_to_rpy(mat: np.ndarray) -> list[float]:
    """(3, 3) rotation matrix -> URDF roll-pitch-yaw."""
    m = np.asarray(mat, dtype=float)
    pitch = math.asin(-max(-1.0, min(1.0, m[2, 0])))
    if abs(math.cos(pitch)) > 1e-9:
        roll = math.atan2(m[2, 1], m[2, 2])
        yaw = math.atan2(m[1, 0], m[0, 0])
    else:  # gimbal lock: fold roll into yaw
        roll = 0.0
        yaw = math.atan2(-m[0, 1], m[1, 1])
    return [roll, pitch, yaw]


def pose_matrix(pos: list[float], quat: list[float]) -> np.ndarray:
    """(4, 4) homogeneous transform from a position and a (w, x, y, z) quaternion."""
    out = np.eye(4)
    out[:3, :3] = quat_to_matrix(quat)
    out[:3, 3] = pos
    return out


def axis_angle_quat(axis: list[float], angle: float) -> list[float]:
    """(w, x, y, z) of a rotation by ``angle`` about ``axis``."""
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a)
    s = math.sin(angle / 2)
    return [math.cos(angle / 2), *(a * s).tolist()]
