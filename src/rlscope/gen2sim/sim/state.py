"""The state API: what reward and success code may read. Stated once here; the environment, the
validation of generated code and the prompts of a task proposer all use this module.

Task code is written against a batch of ``N`` environments at once: every quantity is a NumPy array
whose first axis is the environment. Code must therefore use NumPy (``np``) and no Python ``if`` on
arrays (use ``np.where``). Units: metres, radians, seconds; world frame z up, floor at z = 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

STATE_API = """\
State API (all arrays have a leading axis N = number of parallel environments):
  state.gripper.pos          (N, 3) position of the gripper tip (between the finger tips)
  state.gripper.vel          (N, 3) tip velocity
  state.gripper.opening      (N,)   finger opening, 0 = closed .. 1 = fully open
  state.gripper.grasping     (N,)   bool, something is held (suction on and attached)
  state.is_grasping(name)    (N,)   bool, the handle or object `name` is held
  state.link(name).pos       (N, 3) position of a part's frame (e.g. "cabinet/drawer_0")
  state.link(name).quat      (N, 4) orientation (w, x, y, z)
  state.handle(name).pos     (N, 3) centre of a handle (e.g. "cabinet/drawer_0_handle"); follows its part
  state.joint(name).pos      (N,)   joint value (m or rad), e.g. "cabinet/drawer_0_joint"
  state.joint(name).vel      (N,)   joint velocity
  state.joint(name).closed, .open   float joint values closed and fully open (either limit, as the asset says)
  state.joint(name).lower, .upper   float limits (min and max of the two)
  state.joint(name).fraction (N,)   (pos - closed) / (open - closed), 0 = closed .. 1 = fully open
  state.object(name).pos     (N, 3) centre of a free object (e.g. "cube")
  state.object(name).quat    (N, 4)
  state.object(name).vel     (N, 3)
  state.goal(name)           (N, 3) a goal position of the task, drawn per episode
  state.penetration          (N,)   deepest interpenetration of the gripper or objects with anything (m, >= 0)
  state.t                    (N,)   control steps since the episode began
Write `compute_reward(state) -> (reward (N,), components dict of (N,) arrays)` and
`is_success(state) -> (N,) bool` with NumPy only (`np` is imported); no Python `if` on arrays.
"""


@dataclasses.dataclass(frozen=True)
class Gripper:
    pos: np.ndarray
    vel: np.ndarray
    opening: np.ndarray
    grasping: np.ndarray


@dataclasses.dataclass(frozen=True)
class Pose:
    pos: np.ndarray
    quat: np.ndarray


@dataclasses.dataclass(frozen=True)
class Handle:
    pos: np.ndarray


@dataclasses.dataclass(frozen=True)
class JointState:
    pos: np.ndarray
    vel: np.ndarray
    closed: float
    """Joint value of the closed configuration (the lower or the upper limit, as the asset records)."""
    open: float
    """Joint value fully open (the other limit)."""

    @property
    def lower(self) -> float:
        return min(self.closed, self.open)

    @property
    def upper(self) -> float:
        return max(self.closed, self.open)

    @property
    def fraction(self) -> np.ndarray:
        span = self.open - self.closed
        return (self.pos - self.closed) / (span if abs(span) > 1e-9 else 1e-9)


@dataclasses.dataclass(frozen=True)
class ObjectState:
    pos: np.ndarray
    quat: np.ndarray
    vel: np.ndarray


class UnknownName(KeyError):
    """Task code asked for a name the scene does not have (the message lists those it has)."""

    def __str__(self) -> str:
        return str(self.args[0])


class SimState:
    """A read-only view of a batch of scenes (see :data:`STATE_API`).

    Parameters
    ----------
    sens : (N, S) float
        Sensor readings after the last physics step, laid out as ``layout`` says.
    layout : mapping
        Sensor name -> slice (``Scene.sensors``).
    joints : mapping
        Joint name -> (closed value, open value).
    attached : (N,) int
        Index into ``graspables`` of what each env holds, -1 for nothing.
    graspables : sequence of str
    goals : mapping
        Goal name -> (N, 3).
    t : (N,) int
    """

    def __init__(self, sens: np.ndarray, layout: Mapping[str, slice], joints: Mapping[str, tuple[float, float]],
                 attached: np.ndarray, graspables: list[str], goals: Mapping[str, np.ndarray], t: np.ndarray,
                 finger_travel: float, objects: list[str]):
        self._s = sens
        self._layout = layout
        self._joints = joints
        self._attached = attached
        self._graspables = graspables
        self._goals = goals
        self._objects = objects
        self.t = t
        self.gripper = Gripper(pos=sens[:, layout["tip"]], vel=sens[:, layout["tipvel"]],
                               opening=1.0 - sens[:, layout["finger"]][:, 0] / finger_travel, grasping=attached >= 0)

    @property
    def n(self) -> int:
        return self._s.shape[0]

    def _get(self, key: str, kind: str, choices: list[str]) -> np.ndarray:
        sl = self._layout.get(key)
        if sl is None:
            raise UnknownName(f"no {kind} named {key.split(':', 1)[1]!r}; this scene has {sorted(choices)}")
        return self._s[:, sl]

    def _names(self, prefix: str) -> list[str]:
        return [k.split(":", 1)[1] for k in self._layout if k.startswith(prefix + ":")]

    def link(self, name: str) -> Pose:
        return Pose(pos=self._get(f"pos:{name}", "link", self._names("pos")),
                    quat=self._get(f"quat:{name}", "link", self._names("quat")))

    def handle(self, name: str) -> Handle:
        return Handle(pos=self._get(f"hpos:{name}", "handle", self._names("hpos")))

    def joint(self, name: str) -> JointState:
        if name not in self._joints:
            raise UnknownName(f"no joint named {name!r}; this scene has {sorted(self._joints)}")
        closed, opened = self._joints[name]
        return JointState(pos=self._s[:, self._layout[f"qpos:{name}"]][:, 0], vel=self._s[:, self._layout[f"qvel:{name}"]][:, 0],
                          closed=closed, open=opened)

    def object(self, name: str) -> ObjectState:
        if name not in self._objects:
            raise UnknownName(f"no object named {name!r}; this scene has {sorted(self._objects)}")
        return ObjectState(pos=self._s[:, self._layout[f"pos:{name}"]], quat=self._s[:, self._layout[f"quat:{name}"]],
                           vel=self._s[:, self._layout[f"vel:{name}"]])

    def goal(self, name: str) -> np.ndarray:
        if name not in self._goals:
            raise UnknownName(f"no goal named {name!r}; this task has {sorted(self._goals)}")
        return self._goals[name]

    def is_grasping(self, name: str) -> np.ndarray:
        if name not in self._graspables:
            raise UnknownName(f"nothing graspable named {name!r}; this scene has {sorted(self._graspables)}")
        return self._attached == self._graspables.index(name)

    @property
    def penetration(self) -> np.ndarray:
        return penetration(self._s, self._layout)


def penetration(sens: np.ndarray, layout: Mapping[str, slice]) -> np.ndarray:
    """Deepest penetration (m, >= 0) over the gripper's and the objects' contact sensors.

    sens : (..., S) -> (...,)
    """
    out = np.zeros(sens.shape[:-1])
    for key, sl in layout.items():
        if key.startswith("contact:"):
            found, dist = sens[..., sl.start], sens[..., sl.start + 1]
            out = np.maximum(out, np.where(found > 0, np.maximum(-dist, 0.0), 0.0))
    return out
