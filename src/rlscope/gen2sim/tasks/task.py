"""A task is data plus code, in the form a language model writes it.

A task directory holds ``task.json`` and one Python file per sub-task::

    {"task_id": "open_drawer", "description": "...",
     "scene": {"assets": [{"name": "cabinet", "procedural": "cabinet", "params": {...}}],
               "objects": [{"name": "cube", "size": [0.05, 0.05, 0.05]}]},
     "subtasks": [{"name": "open", "description": "...", "code": "open.py",
                   "observe": ["handle:cabinet/drawer_0_handle", "joint:cabinet/drawer_0_joint"],
                   "episode_steps": 100, "train_steps": 150000,
                   "init": {"gripper_noise": 0.05, "joints": {"cabinet/drawer_0_joint": [0.0, 0.2]},
                            "objects": {"cube": {"xy": [[-0.05, -0.15], [0.05, -0.05]]}},
                            "goals": {"goal": [[-0.1, -0.2, 0.0], [0.1, -0.1, 0.0]]}}}]}

Each sub-task's file defines ``compute_reward(state) -> (reward, components)`` and
``is_success(state) -> bool array`` over the state API (:data:`rlscope.gen2sim.sim.state.STATE_API`).
Sub-tasks run in order; in a chain each starts from the end states of the previous one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rlscope.errors import DataError
from rlscope.gen2sim.sim.scene import SceneSpec

OBSERVE_KINDS = ("handle", "joint", "object", "goal", "link")


class TaskCodeError(DataError):
    """Task code does not compile, or lacks a required function."""


class RewardCodeError(RuntimeError):
    """Task code raised, or returned something of the wrong shape, while running; ``.text`` holds the traceback."""

    def __init__(self, subtask: str, text: str):
        super().__init__(f"reward code of sub-task {subtask!r} failed:\n{text}")
        self.subtask = subtask
        self.text = text


@dataclasses.dataclass(frozen=True)
class InitSpec:
    """How an episode starts when it does not continue a previous sub-task."""

    gripper_noise: float = 0.03
    """Half-width of the uniform offset added to the gripper start on each axis (m)."""
    joints: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    """Joint -> (low, high) range of its starting value as a fraction of its travel (0 = closed, 1 = fully open;
    default: closed)."""
    objects: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Object -> {"xy": [[xlo, ylo], [xhi, yhi]]}: range of its start position on the floor."""
    goals: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = dataclasses.field(default_factory=dict)
    """Goal name -> (low corner, high corner) of the box it is drawn from."""


@dataclasses.dataclass(frozen=True)
class SubTask:
    """One skill: a reward, a success test, what the policy observes and how episodes start."""

    name: str
    description: str
    code: str
    """Python source defining compute_reward(state) and is_success(state)."""
    observe: tuple[str, ...] = ()
    """Observation terms beyond the gripper's own: ``handle:NAME``, ``joint:NAME``, ``object:NAME``, ``goal:NAME``, ``link:NAME``."""
    episode_steps: int = 100
    """Control steps per episode."""
    train_steps: int = 150_000
    """Default training budget in environment steps."""
    init: InitSpec = InitSpec()
    suction: bool = True
    """Whether the grip command may switch suction on (off for pushing)."""
    ppo: dict[str, Any] = dataclasses.field(default_factory=dict)
    """PPO settings this skill trains best with (``PPOConfig`` field -> value, e.g. ``{"ent_coef": 0.01}``);
    each applies where the run leaves that setting at its default."""
    code_file: str = ""
    """Where the code came from (for error messages)."""
    format: str = "state"
    """How the code is written: ``state`` (``compute_reward(state)`` and ``is_success(state)`` over the state API)
    or ``gen2sim`` (the Gen2Sim paper's ``compute_reward(self) -> (reward, success)`` over ``self.env``, run
    through :mod:`rlscope.gen2sim.tasks.gen2sim_format`)."""


@dataclasses.dataclass(frozen=True)
class Task:
    """A described task: a scene and ordered sub-tasks."""

    task_id: str
    description: str
    scene: SceneSpec
    subtasks: tuple[SubTask, ...]
    root: str = ""
    """Directory the task was loaded from (resolves relative asset paths)."""


class CallTimeout(BaseException):
    """Raised inside task code that runs past its per-call budget (a BaseException, so that the code's own
    ``except Exception`` cannot swallow it)."""


@contextlib.contextmanager
def call_budget(seconds: float | None, what: str):
    """End the enclosed call with :class:`CallTimeout` once it has run ``seconds`` of wall-clock time.

    On the main thread a real-time timer interrupts the call itself (a busy loop, a sleep), firing again
    every 50 ms should the code catch it; elsewhere the call is only measured after it returns."""
    if not seconds:
        yield
        return
    t0 = time.monotonic()
    armed = threading.current_thread() is threading.main_thread()
    if armed:
        def interrupt(signum, frame):
            raise CallTimeout(what)

        previous = signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if time.monotonic() - t0 > seconds:
        raise CallTimeout(what)


def _numeric(value: Any, n: int, what: str) -> np.ndarray:
    """``value`` as a (n,) float array, or a TypeError saying what it is instead."""
    arr = value if isinstance(value, np.ndarray) else None
    if arr is None or arr.shape != (n,) or arr.dtype.kind not in "fiu":
        got = f"{type(value).__name__} {value!r}"[:80] if arr is None else f"array of shape {arr.shape} and dtype {arr.dtype}"
        raise TypeError(f"{what} must be a ({n},) float array (one value per environment), got {got}")
    return arr.astype(np.float64, copy=False)


@dataclasses.dataclass
class CompiledCode:
    """The two functions of a sub-task, called with checks of what they return and a per-call time budget.

    Every failure (an exception, a wrong type, shape or dtype, a non-finite value where the simulation was
    fine, a call over budget) becomes a :class:`RewardCodeError` naming the sub-task and the offending term.
    """

    subtask: str
    reward_fn: Callable
    success_fn: Callable
    call_s: float | None = None
    """Wall-clock budget of one call (s); None: unlimited."""

    def _call(self, fn: Callable, name: str, state):
        try:
            with call_budget(self.call_s, name):
                return fn(state)
        except CallTimeout:
            raise RewardCodeError(self.subtask, f"{name} ran past its per-call budget of {self.call_s:g} s "
                                                "(--limits.call-s)") from None
        except Exception:
            raise RewardCodeError(self.subtask, traceback.format_exc(limit=8)) from None

    def reward(self, state, valid: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(reward (N,), components name -> (N,)); ``valid`` (N,) bool marks the environments whose simulation
        is sound: a non-finite value there is the code's fault."""
        n = state.n
        out = self._call(self.reward_fn, "compute_reward", state)
        try:
            if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
                raise TypeError(f"compute_reward must return (reward, components dict), got {type(out).__name__}")
            reward = _numeric(out[0], n, "the reward").copy()
            comps = {str(k): _numeric(v, n, f"reward component {k!r}") for k, v in out[1].items()}
            # components first: a non-finite term makes the total non-finite too, and the term is the news
            for name, arr in [*((f"reward component {k!r}", v) for k, v in comps.items()), ("the reward", reward)]:
                bad = ~np.isfinite(arr) if valid is None else valid & ~np.isfinite(arr)
                if bad.any():
                    raise ValueError(f"{name} is not finite ({arr[bad][0]}) in {int(bad.sum())} of {n} environments")
        except (TypeError, ValueError) as exc:
            raise RewardCodeError(self.subtask, f"{type(exc).__name__}: {exc}") from None
        return reward, comps

    def success(self, state) -> np.ndarray:
        """(N,) bool: is_success's own array (a plain bool or an array of another shape or dtype is refused)."""
        out = self._call(self.success_fn, "is_success", state)
        if not (isinstance(out, np.ndarray) and out.shape == (state.n,) and out.dtype == np.bool_):
            got = f"{type(out).__name__} {out!r}"[:80] if not isinstance(out, np.ndarray) else \
                f"array of shape {out.shape} and dtype {out.dtype}"
            raise RewardCodeError(self.subtask, f"TypeError: is_success must return a ({state.n},) bool array "
                                                f"(one flag per environment), got {got}")
        return out.copy()


CODE_FORMATS = ("state", "gen2sim")


def compile_code(sub: SubTask, call_s: float | None = None) -> CompiledCode:
    """Compile a sub-task's code. Call this only where untrusted code may run (a sandboxed worker)."""
    if sub.format == "gen2sim":
        from rlscope.gen2sim.tasks.gen2sim_format import compile_gen2sim

        return compile_gen2sim(sub, call_s)
    where = sub.code_file or f"sub-task {sub.name}"
    try:
        code = compile(sub.code, where, "exec")
    except SyntaxError as exc:
        raise TaskCodeError(f"syntax error: {exc.msg}", f"{where}:{exc.lineno}") from None
    ns: dict[str, Any] = {"np": np, "__name__": f"rlscope_task_{sub.name}"}
    try:
        exec(code, ns)  # noqa: S102 - runs inside the sandboxed training worker
    except Exception as exc:
        raise TaskCodeError(f"failed at import: {type(exc).__name__}: {exc}", where) from None
    for fn in ("compute_reward", "is_success"):
        if not callable(ns.get(fn)):
            raise TaskCodeError(f"defines no function {fn}(state)", where)
    return CompiledCode(sub.name, ns["compute_reward"], ns["is_success"], call_s)


def _init_spec(d: dict[str, Any], where: str) -> InitSpec:
    try:
        joints = {k: (float(v[0]), float(v[1])) for k, v in d.get("joints", {}).items()}
        goals = {k: (tuple(map(float, v[0])), tuple(map(float, v[1]))) for k, v in d.get("goals", {}).items()}
        return InitSpec(gripper_noise=float(d.get("gripper_noise", 0.03)), joints=joints, objects=dict(d.get("objects", {})),
                        goals=goals)  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError) as exc:
        raise DataError(f"bad 'init': {exc}", where) from None


def confined(root: Path, ref: str, where: str) -> Path:
    """``ref`` (a path written in a task file) resolved against the task directory ``root``.

    Refused with a :class:`DataError` naming ``where`` when it is absolute or leaves ``root`` (``..``, or
    a symlink anywhere on the way that points outside), before anything at that path is read.
    """
    if not isinstance(ref, str) or not ref:
        raise DataError(f"expected a path inside the task directory, got {ref!r}", where)
    if Path(ref).is_absolute():
        raise DataError(f"{ref!r} is absolute; paths in a task are relative to its directory", where)
    top = root.resolve()
    path = (root / ref).resolve()
    if not path.is_relative_to(top):
        raise DataError(f"{ref!r} leaves the task directory ({path} is not inside {top})", where)
    return path


def check_tree(top: Path, where: str) -> None:
    """Refuse a directory under which a symlink points outside ``top`` (before it is copied or read)."""
    base = top.resolve()
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink() and not p.resolve().is_relative_to(base):
                raise DataError(f"{p} is a symlink to {p.resolve()}, outside {base}", where)


def tree_digest(top: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``top`` (to tell two copies of a task apart)."""
    import hashlib

    return {str(p.relative_to(top)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(top.rglob("*")) if p.is_file()}


def load_task(task_dir: Path | str) -> Task:
    """Read a task directory; errors name the file and field.

    Every path in ``task.json`` (sub-task code, asset directories) must stay inside the task directory
    (:func:`confined`); this is checked before any of them is read.
    """
    root = Path(task_dir)
    path = root / "task.json"
    if not path.is_file():
        raise DataError("no task.json here (a task directory holds task.json and one .py file per sub-task)", str(root))
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg}", f"{path}:{exc.lineno}") from None
    for key in ("task_id", "subtasks", "scene"):
        if key not in d:
            raise DataError(f"missing field {key!r}", str(path))
    scene = SceneSpec.from_dict(d["scene"], f"{path}: scene")
    for i, a in enumerate(scene.assets):
        if a.dir is not None:
            check_tree(confined(root, a.dir, f"{path}: scene.assets[{i}].dir"), f"{path}: scene.assets[{i}].dir")
    for i, o in enumerate(scene.objects):
        if o.asset is not None:
            check_tree(confined(root, o.asset, f"{path}: scene.objects[{i}].asset"), f"{path}: scene.objects[{i}].asset")
    subs = []
    for i, s in enumerate(d["subtasks"]):
        where = f"{path}: subtasks[{i}]"
        if "name" not in s or "code" not in s:
            raise DataError("each sub-task needs 'name' and 'code' (a .py file next to task.json)", where)
        code_path = confined(root, s["code"], f"{where}.code")
        if not code_path.is_file():
            raise DataError(f"code file {s['code']!r} not found", where)
        observe = tuple(s.get("observe", ()))
        for term in observe:
            if term.split(":", 1)[0] not in OBSERVE_KINDS or ":" not in term:
                raise DataError(f"observe term {term!r}: expected KIND:NAME with KIND one of {OBSERVE_KINDS}", where)
        known = {"name", "description", "code", "observe", "episode_steps", "train_steps", "init", "suction", "ppo", "format"}
        if set(s) - known:
            raise DataError(f"unknown field(s) {sorted(set(s) - known)}; expected {sorted(known)}", where)
        if s.get("format", "state") not in CODE_FORMATS:
            raise DataError(f"format {s['format']!r}: expected one of {CODE_FORMATS}", where)
        subs.append(SubTask(name=s["name"], description=s.get("description", ""), code=code_path.read_text(encoding="utf-8"),
                            observe=observe, episode_steps=int(s.get("episode_steps", 100)),
                            train_steps=int(s.get("train_steps", 150_000)), init=_init_spec(s.get("init", {}), where),
                            suction=bool(s.get("suction", True)), ppo=_ppo_settings(s.get("ppo", {}), f"{where}.ppo"),
                            code_file=str(code_path), format=s.get("format", "state")))
    if not subs:
        raise DataError("a task needs at least one sub-task", str(path))
    return Task(task_id=str(d["task_id"]), description=str(d.get("description", "")), scene=scene, subtasks=tuple(subs),
                root=str(root.resolve()))


def _ppo_settings(d: Any, where: str) -> dict[str, Any]:
    """A sub-task's ``ppo`` object, checked against ``PPOConfig``'s fields and their types."""
    if not isinstance(d, dict):
        raise DataError(f"expected an object of PPO settings, got {type(d).__name__}", where)
    if not d:
        return {}
    from rlscope.gen2sim.rl.ppo_config import PPOConfig

    defaults = PPOConfig()
    out = {}
    for key, value in d.items():
        if not hasattr(defaults, key):
            names = sorted(f.name for f in dataclasses.fields(PPOConfig))
            raise DataError(f"unknown PPO setting {key!r}; expected one of {names}", where)
        kind = type(getattr(defaults, key))
        allowed = {bool: (bool,), int: (int,), float: (int, float)}[kind]
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, allowed):
            raise DataError(f"PPO setting {key!r}: expected {kind.__name__}, got {value!r}", where)
        out[key] = kind(value)
    return out


def save_task(task: Task, out_dir: Path | str) -> Path:
    """Write ``task.json`` and the sub-task code files."""
    from rlscope.config import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    subs = []
    for s in task.subtasks:
        fname = f"{s.name}.py"
        atomic_write_text(out / fname, s.code)
        subs.append({"name": s.name, "description": s.description, "code": fname, "observe": list(s.observe),
                     "episode_steps": s.episode_steps, "train_steps": s.train_steps, "suction": s.suction,
                     "init": json.loads(json.dumps(dataclasses.asdict(s.init)))})
        if s.ppo:
            subs[-1]["ppo"] = dict(s.ppo)
        if s.format != "state":
            subs[-1]["format"] = s.format
    d = {"task_id": task.task_id, "description": task.description, "scene": json.loads(json.dumps(task.scene.to_dict())),
         "subtasks": subs}
    atomic_write_text(out / "task.json", json.dumps(d, indent=2) + "\n")
    return out
