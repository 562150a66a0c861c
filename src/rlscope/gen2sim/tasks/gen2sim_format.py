"""Code in the Gen2Sim paper's answer format, run unchanged through an adapter over the state API.

Such code defines ``compute_reward(self)`` returning ``(reward, success)`` and reads the scene through
``self.env`` on torch tensors, one row per environment (:data:`GEN2SIM_API`). Names are the scene's:
``get_pose_by_link_name("microwave", "door_handle")`` reads the link ``microwave/door_handle``; a free
object is read by its own name (``get_pose_by_link_name("cube", ...)``).

- :class:`Gen2SimEnv` is ``self.env`` over a :class:`~rlscope.gen2sim.sim.state.SimState`;
- :func:`compile_gen2sim` turns such code into the :class:`~rlscope.gen2sim.tasks.task.CompiledCode` every
  sub-task has (``compile_code`` sends code of format ``gen2sim`` here);
- :func:`static_problems_gen2sim` checks it without running it, as :mod:`rlscope.gen2sim.tasks.static` does
  code over the state API (the checks both formats share are :func:`~rlscope.gen2sim.tasks.static.screen`).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from rlscope.gen2sim.sim.state import UnknownName
from rlscope.gen2sim.tasks.static import (
    SceneNames,
    screen,
    string_constants,
    unknown_name,
)
from rlscope.gen2sim.tasks.task import CompiledCode, SubTask, TaskCodeError

GEN2SIM_API = """\
Available API from the simulator (torch tensors, one row per parallel environment; names as the scene lists them):
1. self.env.get_pose_by_link_name(asset_name, link_name)    # (N, 3) x, y, z position of the link (a free object: its own name)
2. self.env.get_robot_gripper_pose()                         # (N, 3) x, y, z position of the gripper (arguments are ignored)
3. self.env.get_state_by_joint_name(asset_name, joint_name)  # (N,) joint value (m or rad)
4. self.env.get_limits_by_joint_name(asset_name, joint_name) # {"lower": tensor, "upper": tensor} joint limits
Write `def compute_reward(self)` returning (reward (N,) float, success (N,) bool) with torch (`torch`, `np`, `math` are imported).
"""

GRIPPER_METHODS = frozenset({"get_robot_gripper_pose", "get_robot_gripper_position"})
"""The gripper's position (``get_robot_gripper_position`` is the name one published example uses)."""
METHODS = frozenset({"get_pose_by_link_name", "get_state_by_joint_name", "get_limits_by_joint_name"}) | GRIPPER_METHODS
"""What ``self.env`` offers."""
ALLOWED_IMPORTS = frozenset({"torch", "numpy", "math"})
"""Modules Gen2Sim-format code may import."""


class Gen2SimEnv:
    """``self.env`` of Gen2Sim-format code over a :class:`~rlscope.gen2sim.sim.state.SimState`.

    Every method returns float64 torch tensors sharing memory with the state's arrays; a name the scene does
    not have raises the state's own :class:`~rlscope.gen2sim.sim.state.UnknownName` (which lists those it has).
    """

    def __init__(self, state):
        self._state = state

    @staticmethod
    def _tensor(a: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))

    def get_pose_by_link_name(self, asset_name: str, link_name: str):
        """(N, 3) position of ``asset_name/link_name``, or of the free object ``asset_name``."""
        try:
            return self._tensor(self._state.object(asset_name).pos)
        except UnknownName:
            return self._tensor(self._state.link(f"{asset_name}/{link_name}").pos)

    def get_robot_gripper_pose(self, *args: Any, **kwargs: Any):
        """(N, 3) position of the gripper tip (the published prompt passes two arguments, which mean nothing)."""
        return self._tensor(self._state.gripper.pos)

    get_robot_gripper_position = get_robot_gripper_pose

    def get_state_by_joint_name(self, asset_name: str, joint_name: str):
        """(N,) value of the joint ``asset_name/joint_name`` (m or rad)."""
        return self._tensor(self._state.joint(f"{asset_name}/{joint_name}").pos)

    def get_limits_by_joint_name(self, asset_name: str, joint_name: str) -> dict[str, Any]:
        """{"lower": (), "upper": ()} limits of the joint (the smaller and the larger of its closed and open values)."""
        j = self._state.joint(f"{asset_name}/{joint_name}")
        return {"lower": self._tensor(np.float64(j.lower)), "upper": self._tensor(np.float64(j.upper))}


class _Self:
    """What ``self`` is to the code: it has ``env``."""

    def __init__(self, env: Gen2SimEnv):
        self.env = env


def _numpy(x):
    """A torch tensor as a NumPy array (anything else unchanged); floats become float64."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        x = x.astype(np.float64, copy=False)
    return x


def call_keeping_locals(fn: Callable, arg: Any) -> tuple[Any, dict[str, Any]]:
    """``fn(arg)`` and the local variables of that call as it returned: the code's intermediate terms (a
    distance, a joint state), which stand in for the named reward terms the format does not have."""
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


def _terms(local: dict[str, Any], reward: Any, n: int) -> dict[str, np.ndarray]:
    """The (n,) float tensors among ``local``, each finite wherever the reward is (a term the code masks away
    where it is not finite is no fault of the reward), as float64 arrays."""
    import torch

    ok = torch.isfinite(reward) if isinstance(reward, torch.Tensor) and tuple(reward.shape) == (n,) else None
    out = {}
    for k, v in local.items():
        if isinstance(v, torch.Tensor) and tuple(v.shape) == (n,) and v.is_floating_point():
            finite = torch.isfinite(v)
            if bool((finite | ~ok).all() if ok is not None else finite.all()):
                out[k] = _numpy(v)
    return out


def compile_gen2sim(sub: SubTask, call_s: float | None = None) -> CompiledCode:
    """Compile Gen2Sim-format code; call this only where untrusted code may run (a sandboxed worker).

    ``compute_reward(self)`` runs once per state object for both the reward and the success test. The reward's
    components are its (N,) float local variables as it returns (the format has no named terms; a term that
    never changes, such as a point's distance to itself, shows up in validation) and ``reward`` itself. What
    it returns is checked by :class:`CompiledCode` as for any sub-task: a (N, 1) reward or a float success is
    refused there, naming the sub-task.
    """
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
    except Exception as exc:  # noqa: BLE001 - whatever the code raises at import is its fault
        raise TaskCodeError(f"failed at import: {type(exc).__name__}: {exc}", where) from None
    fn = ns.get("compute_reward")
    if not callable(fn) or not hasattr(fn, "__code__"):
        raise TaskCodeError("defines no function compute_reward(self)", where)
    memo: dict[str, Any] = {"state": None, "out": None, "terms": {}}  # the last state seen, by identity

    def run(state):
        if memo["state"] is not state:
            memo["state"] = None  # a call that raises leaves nothing behind
            out, local = call_keeping_locals(fn, _Self(Gen2SimEnv(state)))
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(f"compute_reward(self) must return (reward, success), got {type(out).__name__}")
            memo.update(state=state, out=out, terms=_terms(local, out[0], state.n))
        return memo["out"]

    def reward(state):
        r = _numpy(run(state)[0])
        return r, {**memo["terms"], "reward": r}

    def success(state):
        return _numpy(run(state)[1])

    return CompiledCode(sub.name, reward, success, call_s)


def _env_of(node: ast.AST, selves: set[str]) -> bool:
    """Whether ``node`` is ``self.env`` (``selves``: the names ``self`` goes by)."""
    return isinstance(node, ast.Attribute) and node.attr == "env" and isinstance(node.value, ast.Name) \
        and node.value.id in selves


def _argument(call: ast.Call, i: int, keyword: str, constants: dict[str, str]) -> str | None:
    """The string the ``i``-th argument (or ``keyword=``) of ``call`` is written as, directly or through a
    module-level constant; None when it is not written as one."""
    node = call.args[i] if len(call.args) > i else next((k.value for k in call.keywords if k.arg == keyword), None)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return constants.get(node.id) if isinstance(node, ast.Name) else None


def static_problems_gen2sim(code: str, names: SceneNames, where: str = "task code") -> list[str]:
    """Problems of Gen2Sim-format code found without running it (empty: it may go on to the dynamic check).

    Those of every format (:func:`~rlscope.gen2sim.tasks.static.screen`: it parses, defines
    ``compute_reward(self)``, imports only torch, NumPy and math, no dunder or private attributes, no modules
    reached as attributes, no builtins that reach outside), then: ``self`` has only ``env``, ``self.env`` only
    the methods of :data:`GEN2SIM_API`, and every (asset, link) and (asset, joint) written as strings exists
    in ``names`` (with the close ones suggested).
    """
    tree, problems = screen(code, where, ("compute_reward",), "self", ALLOWED_IMPORTS)
    if tree is None:
        return problems
    # ``self``: compute_reward's argument, and any helper's argument so named
    selves = {"self"} | {n.args.args[0].arg for n in tree.body
                         if isinstance(n, ast.FunctionDef) and n.name == "compute_reward" and n.args.args}
    constants = string_constants(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if not isinstance(node, ast.Attribute) or node.attr.startswith("_"):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in selves and node.attr != "env":
            problems.append(f"{where}:{line}: {node.value.id}.{node.attr}: self has only env (self.env.METHOD(...))")
        elif _env_of(node.value, selves) and node.attr not in METHODS:
            problems.append(f"{where}:{line}: self.env.{node.attr} is not in the Gen2Sim API ({', '.join(sorted(METHODS))})")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _env_of(node.func.value, selves)):
            continue
        method = node.func.attr
        if method not in METHODS or method in GRIPPER_METHODS:
            continue
        second = "link_name" if method == "get_pose_by_link_name" else "joint_name"
        asset, part = _argument(node, 0, "asset_name", constants), _argument(node, 1, second, constants)
        if asset is None or part is None or (method == "get_pose_by_link_name" and asset in names.objects):
            continue
        call = f"self.env.{method}({asset!r}, {part!r})"
        if method == "get_pose_by_link_name":
            bad = unknown_name(f"{asset}/{part}", names.links | names.objects, "link", call, where, node.lineno)
        else:
            bad = unknown_name(f"{asset}/{part}", names.joints, "joint", call, where, node.lineno)
        if bad:
            problems.append(bad)
    return list(dict.fromkeys(problems))
