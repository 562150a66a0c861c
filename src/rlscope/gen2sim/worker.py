"""The process that executes task code: ``python -m rlscope.gen2sim.worker MODE RUN_DIR [K]``.

It is started by the pipeline inside the sandbox (:func:`rlscope.sandbox.process.run_python_module`)
with only ``RUN_DIR`` writable; the main process never imports task code. Modes:

* ``check RUN_DIR``: compile every sub-task's code and call it on a batch of start states; writes
  ``checks.json`` (per sub-task: ok, or the error with its traceback).
* ``train RUN_DIR K``: train sub-task K (resuming from its checkpoint), evaluate its best policy,
  write ``subtasks/NAME/{eval.json,end_states.npy,frames.npz}``. Sub-task K > 0 starts from the
  successful end states of sub-task K-1; sub-task 0 from ``start_states.npy`` when the run has one.
* ``chain RUN_DIR``: evaluate the whole chain; writes ``chain/{eval.json,frames.npz}``.
* ``validate TASKS_DIR CALL_S``: validate every proposed task under ``TASKS_DIR`` that has no
  ``validation.json`` yet (:func:`rlscope.gen2sim.tasks.validate.validate_subtask`); writes it per task:
  ``{"ok": ..., "subtasks": {NAME: {"ok", "problems", "warnings", "seconds"}}}``, a rejected candidate
  with its reasons (its code raised, returned NaN or the wrong shape, ran past CALL_S, ...).
* ``demos RUN_DIR CHUNK EPISODES``: roll out the trained policies in sequence over ``EPISODES`` new episodes
  (seeded by ``CHUNK``), recording every step; writes ``demos/rollouts/chunk_CHUNK.npz``
  (:func:`rlscope.gen2sim.demos.pack_rollouts`).
* ``render RUN_DIR``: draw the recorded rollouts (``subtasks/*/frames.npz``, ``chain/frames.npz``) into
  ``videos/NAME.gif``; writes ``videos/rendered.json`` (name -> file, or null where there is none).

``job.json`` carries the run's settings, among them ``call_s``, the budget of one call of task code.

Exit status 3 means the task code failed; ``error.json`` in the sub-task's directory holds the traceback.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from pathlib import Path

import numpy as np

from rlscope.config import atomic_save_numpy, atomic_write_text

log = logging.getLogger(__name__)
CODE_FAILED = 3


def launch(mode: str, target: Path, *extra: str, unsafe: bool, wall_s: float, what: str, limit_option: str) -> int:
    """Run ``mode`` of this worker on ``target`` (its only writable path) in the sandbox, from the host, under a
    wall-clock limit; returns its exit status (0 or :data:`CODE_FAILED`). Past the limit, or when the worker
    dies otherwise, raises an :class:`~rlscope.errors.RlscopeError` naming ``what`` and ``limit_option``."""
    from rlscope.errors import RlscopeError
    from rlscope.sandbox.process import ProcessLimits, run_python_module

    res = run_python_module("rlscope.gen2sim.worker", [mode, target, *extra], [target], unsafe=unsafe,
                            limits=ProcessLimits(wall_s=wall_s))
    if res.timed_out:
        raise RlscopeError(f"{what} stopped at its wall-clock limit of {wall_s:g} s ({limit_option}); what was stored is kept")
    if res.returncode not in (0, CODE_FAILED):
        tail = res.stderr_tail.strip().splitlines()[-1:] or [f"exit status {res.returncode}"]
        raise RlscopeError(f"the {mode} worker failed ({'killed by signal %d' % res.signal if res.signal else tail[0]})"
                           + ("; it ran out of memory" if res.oom_killed else ""))
    return res.returncode


def _job(run: Path) -> dict:
    return json.loads((run / "job.json").read_text())


def _setup(run: Path):
    from rlscope.gen2sim.sim.scene import build_scene
    from rlscope.gen2sim.tasks.task import load_task

    task = load_task(run / "task")
    return task, build_scene(task.scene, Path(task.root))


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def _frames(frames: list[np.ndarray], frames_eq: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The first recorded episode's states and equality-constraint flags, as frames.npz holds them."""
    return {"states": frames[0] if frames else np.zeros((0, 0)), "eq_active": frames_eq[0] if frames_eq else np.zeros((0, 0))}


def start_states(run: Path, task, k: int) -> np.ndarray | None:
    """End states of sub-task k-1's evaluation to start sub-task k from (successful ones when any); for k = 0,
    ``start_states.npy`` when the run has one (`gen2sim train --starts`), else None (the sub-task's own)."""
    if k == 0:
        given = run / "start_states.npy"
        return np.load(given) if given.exists() else None
    prev = run / "subtasks" / task.subtasks[k - 1].name
    states = np.load(prev / "end_states.npy")
    ok = np.load(prev / "end_success.npy")
    return states[ok] if ok.any() else states


def _call_s(job: dict) -> float | None:
    return float(job["call_s"]) if job.get("call_s") else None


def check(run: Path) -> int:
    from rlscope.gen2sim.tasks.task import RewardCodeError, TaskCodeError
    from rlscope.gen2sim.tasks.validate import check_subtask

    task, scene = _setup(run)
    call_s = _call_s(_job(run))
    results = {}
    failed = False
    for sub in task.subtasks:
        try:
            problems = check_subtask(scene, sub, call_s)
            results[sub.name] = {"ok": not problems} | ({"error": "; ".join(problems)} if problems else {})
        except (TaskCodeError, RewardCodeError) as exc:
            results[sub.name] = {"ok": False, "error": str(exc)}
        except Exception:  # the state API raised on a wrong name, or similar: the code's fault too
            results[sub.name] = {"ok": False, "error": traceback.format_exc(limit=6)}
        failed |= not results[sub.name]["ok"]
    _write_json(run / "checks.json", results)
    return CODE_FAILED if failed else 0


def _verdict(scene, sub, call_s: float | None) -> dict:
    from rlscope.gen2sim.tasks.task import RewardCodeError, TaskCodeError
    from rlscope.gen2sim.tasks.validate import validate_subtask

    try:
        v = validate_subtask(scene, sub, call_s)
        return {"ok": v.ok, "problems": list(v.problems), "warnings": list(v.warnings), "seconds": round(v.seconds, 3)}
    except (TaskCodeError, RewardCodeError) as exc:
        return {"ok": False, "problems": [str(exc)], "warnings": []}
    except Exception as exc:  # the state API raised on a wrong name, or similar: the code's fault too
        return {"ok": False, "problems": [f"{type(exc).__name__}: {exc}"], "warnings": []}


def validate(tasks_dir: Path, call_s: float | None) -> int:
    from rlscope.gen2sim.sim.scene import build_scene
    from rlscope.gen2sim.tasks.task import load_task

    failed = False
    for path in sorted(tasks_dir.glob("*/task.json")):
        tdir = path.parent
        if (tdir / "validation.json").exists():
            continue
        try:
            task = load_task(tdir)
            scene = build_scene(task.scene, Path(task.root))
        except Exception as exc:
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "subtasks": {}}
        else:
            subs = {sub.name: _verdict(scene, sub, call_s) for sub in task.subtasks}
            result = {"ok": all(v["ok"] for v in subs.values()), "subtasks": subs}
        failed |= not result["ok"]
        _write_json(tdir / "validation.json", result)
        log.info("validated %s: %s", tdir.name, "ok" if result["ok"] else "rejected")
    return CODE_FAILED if failed else 0


def train_one(run: Path, k: int) -> int:
    from rlscope.gen2sim.rl.evaluate import evaluate
    from rlscope.gen2sim.rl.ppo import PPOConfig, with_task_settings
    from rlscope.gen2sim.rl.train import TrainConfig, load_policy, make_envs, train
    from rlscope.gen2sim.tasks.task import RewardCodeError, TaskCodeError, compile_code

    job = _job(run)
    task, scene = _setup(run)
    sub = task.subtasks[k]
    out = run / "subtasks" / sub.name
    out.mkdir(parents=True, exist_ok=True)
    try:
        code = compile_code(sub, _call_s(job))
        starts = start_states(run, task, k)
        ppo = with_task_settings(PPOConfig(**job.get("ppo", {})), sub.ppo)
        cfg = TrainConfig(total_steps=int(job.get("steps") or 0), seed=int(job.get("seed", 0)), nthread=int(job.get("nthread", 2)),
                          progress=bool(job.get("progress", True)), ppo=ppo)
        envs = make_envs(scene, sub, code, cfg, starts)
        try:
            train(envs, cfg, out)
        finally:
            for env in envs:
                env.close()
        policy = load_policy(out / "best.pt")
        res = evaluate(scene, sub, code, policy, episodes=int(job.get("episodes", 100)), seed=10_000 + cfg.seed,
                       record=1, start_states=starts, nthread=cfg.nthread)
    except (TaskCodeError, RewardCodeError) as exc:
        _write_json(out / "error.json", {"subtask": sub.name, "error": str(exc)})
        log.error("%s", exc)
        return CODE_FAILED
    atomic_save_numpy(out / "end_states.npy", res.end_states)
    atomic_save_numpy(out / "end_success.npy", res.honest)
    atomic_save_numpy(out / "frames.npz", _frames(res.frames, res.frames_eq))
    _write_json(out / "eval.json", res.summary())
    return 0


def chain(run: Path) -> int:
    from rlscope.gen2sim.rl.evaluate import evaluate_chain
    from rlscope.gen2sim.rl.train import load_policy
    from rlscope.gen2sim.tasks.task import RewardCodeError, compile_code

    job = _job(run)
    task, scene = _setup(run)
    try:
        codes = [compile_code(s, _call_s(job)) for s in task.subtasks]
        policies = [load_policy(run / "subtasks" / s.name / "best.pt") for s in task.subtasks]
        res = evaluate_chain(scene, list(task.subtasks), codes, policies, episodes=int(job.get("episodes", 100)),
                             seed=20_000 + int(job.get("seed", 0)), record=1, nthread=int(job.get("nthread", 2)))
    except RewardCodeError as exc:
        _write_json(run / "chain" / "error.json", {"error": str(exc)})
        return CODE_FAILED
    frames = [np.concatenate([s.frames[0] for s in res.stages])] if res.stages[0].frames else []
    frames_eq = [np.concatenate([s.frames_eq[0] for s in res.stages])] if res.stages[0].frames_eq else []
    (run / "chain").mkdir(exist_ok=True)
    atomic_save_numpy(run / "chain" / "frames.npz", _frames(frames, frames_eq))
    _write_json(run / "chain" / "eval.json", res.summary())
    return 0


def demos(run: Path, chunk: int, episodes: int) -> int:
    from rlscope.gen2sim.demos import pack_rollouts, rollout_seed
    from rlscope.gen2sim.rl.evaluate import evaluate_chain
    from rlscope.gen2sim.rl.train import load_policy
    from rlscope.gen2sim.tasks.task import RewardCodeError, compile_code

    job = _job(run)
    task, scene = _setup(run)
    try:
        codes = [compile_code(s, _call_s(job)) for s in task.subtasks]
        policies = [load_policy(run / "subtasks" / s.name / "best.pt") for s in task.subtasks]
        res = evaluate_chain(scene, list(task.subtasks), codes, policies, episodes=episodes,
                             seed=rollout_seed(int(job.get("seed", 0)), chunk), record=episodes, nthread=int(job.get("nthread", 2)))
    except RewardCodeError as exc:
        _write_json(run / "demos" / "error.json", {"error": str(exc)})
        return CODE_FAILED
    path = run / "demos" / "rollouts" / f"chunk_{chunk:04d}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_numpy(path, pack_rollouts(res))
    return 0


def render(run: Path) -> int:
    from rlscope.errors import RlscopeError
    from rlscope.gen2sim.render import render_gif

    task, scene = _setup(run)
    rendered: dict[str, str | None] = {}
    names = [(s.name, run / "subtasks" / s.name / "frames.npz") for s in task.subtasks] + [("chain", run / "chain" / "frames.npz")]
    for name, frames in names:
        if not frames.exists():
            continue
        data = np.load(frames)
        if data["states"].size == 0:
            rendered[name] = None
            continue
        try:
            render_gif(scene.model, data["states"], data["eq_active"], run / "videos" / f"{name}.gif")
            rendered[name] = f"videos/{name}.gif"
        except RlscopeError as exc:
            log.warning("no video of %s: %s", name, exc)
            rendered[name] = None
    _write_json(run / "videos" / "rendered.json", rendered)
    return 0


def main(argv: list[str]) -> int:
    import os

    logging.basicConfig(level=os.environ.get("RLSCOPE_LOG", "WARNING").upper(), format="%(levelname)s %(name)s: %(message)s")
    mode, run = argv[0], Path(argv[1])
    if mode == "check":
        return check(run)
    if mode == "train":
        return train_one(run, int(argv[2]))
    if mode == "chain":
        return chain(run)
    if mode == "render":
        return render(run)
    if mode == "demos":
        return demos(run, int(argv[2]), int(argv[3]))
    if mode == "validate":
        return validate(run, float(argv[2]) or None)
    print(f"unknown mode {mode!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
