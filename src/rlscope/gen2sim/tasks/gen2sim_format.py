"""Code in the Gen2Sim paper's answer format, run unchanged through an adapter over the state API.

Such code defines ``compute_reward(self)`` returning ``(reward, success)`` and reads the scene through
``self.env`` on torch tensors, one row per environment (:data:`GEN2SIM_API`). Names are the scene's:
``get_pose_by_link_name("microwave", "door_handle")`` reads the link ``microwave/door_handle``; a free
object is read by its own name (``get_pose_by_link_name("cube", ...)``).
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from rlscope.gen2sim.tasks.static import SceneNames, unknown_name, unsafe_node
from rlscope.gen2sim.tasks.task import CompiledCode, SubTask, TaskCodeError

GEN2SIM_API = """\
Available API from the simulator (torch tensors, one row per parallel environment):
1. self.env.get_pose_by_link_name(asset_name, link_name)   # (N, 3) x, y, z position of the link (or of a free object)
2. self.env.get_robot_gripper_pose()                        # (N, 3) x, y, z position of the gripper
3. self.env.get_state_by_joint_name(asset_name, joint_name) # (N,) joint value (m or rad)
4. self.env.get_limits_by_joint_name(asset_name, joint_name) # {"lower": tensor, "upper": tensor}
Write `def compute_reward(self)` returning (reward (N,), success (N,) bool) with torch.
"""

METHODS = frozenset({"get_pose_by_link_name", "get_robot_gripper_pose", "get_robot_gripper_position",
                     "get_state_by_joint_name", "get_limits_by_joint_name"})
"""``self.env`` methods (``get_robot_gripper_position`` is the name one published example uses)."""
ALLOWED_IMPORTS = frozenset({"torch", "numpy", "math"})


class Gen2SimEnv:
    """``self.env`` of Gen2Sim-format code over a :class:`~rlscope.gen2sim.sim.state.SimState`."""

    def __init__(self, state):
        import torch

        self._state = state
        self._t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))

    def get_pose_by_link_name(self, asset_name: str, link_name: str):
        if asset_name in self._state._objects:
            return self._t(self._state.object(asset_name).pos)
        return self._t(self._state.link(f"{asset_name}/{link_name}").pos)

    def get_robot_gripper_pose(self, *_: Any):
        return self._t(self._state.gripper.pos)

    get_robot_gripper_position = get_robot_gripper_pose

    def get_state_by_joint_name(self, asset_name: str, joint_name: str):
        return self._t(self._state.joint(f"{asset_name}/{joint_name}").pos)

    def get_limits_by_joint_name(self, asset_name: str, joint_name: str) -> dict[str, Any]:
        import torch

        j = self._state.joint(f"{asset_name}/{joint_name}")
        return {"lower": torch.tensor(j.lower, dtype=torch.float64), "upper": torch.tensor(j.upper, dtype=torch.float64)}


class _Self:
    """What ``self`` is to the code: it has ``env``."""

    def __init__(self, env: Gen2SimEnv):
        self.env = env


def _numpy(x):
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x


def _call_keeping_locals(fn, arg):
    """``fn(arg)`` and the local variables of that call as it returned: the code's intermediate terms (a
    distance, a joint state), which the validation checks one by one as the reward's components."""
    import sys

    kept: dict[str, Any] = {}
    code = fn.__code__

    def tracer(frame, event, _):
        if frame.f_code is code:
            if event == "return":
                kept.update(frame.f_locals)
            return tracer
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        out = fn(arg)
    finally:
        sys.settrace(previous)
    return out, kept


def compile_gen2sim(sub: SubTask, call_s: float | None = None) -> CompiledCode:
    """Compile Gen2Sim-format code; call this only inside the sandboxed worker. The user's function runs once
    per state for both the reward and the success test; its (N,) float local variables are reported as the
    reward's components (the format has no named terms), so that a term that never changes is seen."""
    import math

    import torch

    where = sub.code_file or f"sub-task {sub.name}"
    try:
        code = compile(sub.code, where, "exec")
    except SyntaxError as exc:
        raise TaskCodeError(f"syntax error: {exc.msg}", f"{where}:{exc.lineno}") from None
    ns: dict[str, Any] = {"np": np, "torch": torch, "math": math, "__name__": f"rlscope_task_{sub.name}"}
    try:
        exec(code, ns)  # noqa: S102 - runs inside the sandboxed worker
    except Exception as exc:
        raise TaskCodeError(f"failed at import: {type(exc).__name__}: {exc}", where) from None
    fn = ns.get("compute_reward")
    if not callable(fn):
        raise TaskCodeError("defines no function compute_reward(self)", where)
    memo: dict[str, Any] = {"state": None, "out": None, "terms": {}}

    def run(state):
        if memo["state"] is not state:
            out, local = _call_keeping_locals(fn, _Self(Gen2SimEnv(state)))
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(f"compute_reward(self) must return (reward, success), got {type(out).__name__}")
            memo["state"], memo["out"] = state, out
            memo["terms"] = {k: _numpy(v).astype(np.float64) for k, v in local.items()
                             if isinstance(v, torch.Tensor) and tuple(v.shape) == (state.n,) and v.is_floating_point()}
        return memo["out"]

    def reward(state):
        r = _numpy(run(state)[0])
        return r, {**memo["terms"], "reward": r}

    def success(state):
        return _numpy(run(state)[1])

    return CompiledCode(sub.name, reward, success, call_s)


def static_problems_gen2sim(code: str, names: SceneNames, where: str = "task code") -> list[str]:
    """Problems of Gen2Sim-format code found without running it (see :func:`rlscope.gen2sim.tasks.static.static_problems`)."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return [f"{where}:{exc.lineno}: syntax error: {exc.msg}"]
    problems: list[str] = []
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "compute_reward"), None)
    if fn is None:
        problems.append(f"{where}: defines no function compute_reward(self)")
    elif len(fn.args.args) != 1 or fn.args.vararg or fn.args.kwonlyargs:
        problems.append(f"{where}:{fn.lineno}: compute_reward must take one argument, self")
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        bad = unsafe_node(node, where, ALLOWED_IMPORTS)
        if bad:
            problems.append(bad)
            continue
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        if not (isinstance(owner, ast.Attribute) and owner.attr == "env"):
            continue
        method = node.func.attr
        if method not in METHODS:
            problems.append(f"{where}:{line}: self.env.{method} is not in the Gen2Sim API ({', '.join(sorted(METHODS))})")
            continue
        args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in node.args[:2]]
        if method in ("get_robot_gripper_pose", "get_robot_gripper_position") or len(args) < 2 or None in args:
            continue
        asset, part = args
        if method == "get_pose_by_link_name":
            if asset in names.objects:
                continue
            bad = unknown_name(f"{asset}/{part}", names.links | names.objects, "link", f"self.env.{method}({asset!r}, {part!r})",
                               where, line)
        else:
            bad = unknown_name(f"{asset}/{part}", names.joints, "joint", f"self.env.{method}({asset!r}, {part!r})", where, line)
        if bad:
            problems.append(bad)
    return list(dict.fromkeys(problems))
