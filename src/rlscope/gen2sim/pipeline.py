"""The Gen2Sim pipeline: assets -> tasks -> checks -> training -> evaluation -> report.

``rlscope gen2sim train TASK_DIR`` runs the last four stages for one task; ``rlscope gen2sim run``
runs all of them (the standard skills serve as the tasks until a proposer exists). Task code only
ever runs in the sandboxed worker (:mod:`rlscope.gen2sim.worker`); this process reads its files.

Run directory::

    RUN/manifest.json  job.json  task/ (a copy of the task)  checks.json
    RUN/subtasks/NAME/ metrics.jsonl checkpoint.pt best.pt result.json eval.json end_states.npy frames.npz
    RUN/chain/eval.json frames.npz       RUN/videos/*.gif   RUN/summary.json  RUN/report.html
Every stage is skipped when its outputs exist, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import tyro

from rlscope.config import atomic_write_text, write_manifest
from rlscope.errors import RlscopeError
from rlscope.gen2sim.rl.ppo import PPOConfig

log = logging.getLogger(__name__)

STANDARD_DIR = Path(__file__).resolve().parent / "tasks" / "standard"


def standard_tasks() -> list[str]:
    """Names of the shipped standard tasks."""
    return sorted(p.name for p in STANDARD_DIR.iterdir() if (p / "task.json").is_file())


def resolve_task_dir(spec: str | Path) -> Path:
    """A task directory, or the name of a standard task."""
    p = Path(spec)
    if (p / "task.json").is_file():
        return p
    if (STANDARD_DIR / str(spec) / "task.json").is_file():
        return STANDARD_DIR / str(spec)
    raise RlscopeError(f"{spec}: not a task directory (no task.json) nor a standard task ({', '.join(standard_tasks())})")


@dataclasses.dataclass(frozen=True)
class TrainTaskConfig:
    """`rlscope gen2sim train TASK_DIR`: train, chain, evaluate and report one task."""

    task: Annotated[str, tyro.conf.Positional]
    """A task directory (task.json + one .py per sub-task) or a standard task name (open_drawer, put_cube_in_drawer, ...)."""
    out: Path | None = None
    """Run directory (default runs/gen2sim/TASK_ID)."""
    steps: int = 0
    """Training steps per sub-task (0: each sub-task's own train_steps)."""
    seed: int = 0
    """Seed of environments, networks and action noise."""
    episodes: int = 100
    """Evaluation episodes per sub-task and for the chain."""
    nthread: int = 2
    """Physics threads (one per core)."""
    video: bool = True
    """Render rollout GIFs (offscreen EGL)."""
    report: bool = True
    """Write report.html / report.md."""
    unsafe: bool = False
    """Run task code without the sandbox when bubblewrap is missing (never needed where it is installed)."""
    progress: bool = True
    """Progress bars."""
    ppo: PPOConfig = PPOConfig()


def _worker(mode: str, run: Path, *extra: str, unsafe: bool) -> int:
    from rlscope.sandbox.process import run_python_module

    res = run_python_module("rlscope.gen2sim.worker", [mode, str(run), *extra], [run], unsafe=unsafe)
    if res.returncode not in (0, 3):
        tail = res.stderr_tail.strip().splitlines()[-1:] or [f"exit status {res.returncode}"]
        raise RlscopeError(f"the {mode} worker failed ({'killed by signal %d' % res.signal if res.signal else tail[0]})"
                           + ("; it ran out of memory" if res.oom_killed else ""))
    return res.returncode


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _video(run: Path, scene_model, frames: Path, name: str) -> str | None:
    import numpy as np

    if not frames.exists():
        return None
    data = np.load(frames)
    if data["states"].size == 0:
        return None
    try:
        from rlscope.gen2sim.render import render_gif
    except ImportError:  # pragma: no cover - render module ships with the package
        return None
    path = run / "videos" / f"{name}.gif"
    path.parent.mkdir(exist_ok=True)
    try:
        render_gif(scene_model, data["states"], data["eq_active"], path)
    except RlscopeError as exc:
        log.warning("no video: %s", exc)
        return None
    return f"videos/{name}.gif"


def run_train(cfg: TrainTaskConfig, print_fn=None) -> dict[str, Any]:
    """Train every sub-task in order, evaluate each and the chain, render, summarise, report."""
    from rlscope.gen2sim.sim.scene import build_scene
    from rlscope.gen2sim.tasks.task import load_task

    t0 = time.perf_counter()
    src = resolve_task_dir(cfg.task)
    task = load_task(src)
    run = cfg.out or Path("runs") / "gen2sim" / task.task_id
    run.mkdir(parents=True, exist_ok=True)
    if not (run / "task" / "task.json").exists():
        shutil.copytree(src, run / "task", dirs_exist_ok=True)
    task = load_task(run / "task")
    write_manifest(run, "train", cfg)
    job = {"steps": cfg.steps, "seed": cfg.seed, "episodes": cfg.episodes, "nthread": cfg.nthread, "progress": cfg.progress,
           "ppo": dataclasses.asdict(cfg.ppo)}
    atomic_write_text(run / "job.json", json.dumps(job, indent=2) + "\n")
    say = print_fn or (lambda *_: None)
    if _worker("check", run, unsafe=cfg.unsafe) != 0:
        checks = _read(run / "checks.json") or {}
        bad = {k: v["error"] for k, v in checks.items() if not v.get("ok")}
        first = next(iter(bad.items()))
        raise RlscopeError(f"task code failed its check in the sandbox: sub-task {first[0]}: {first[1].strip().splitlines()[-1]}"
                           f" (full traceback in {run / 'checks.json'})")
    scene = build_scene(task.scene, Path(task.root))
    subs: list[dict[str, Any]] = []
    for k, sub in enumerate(task.subtasks):
        out = run / "subtasks" / sub.name
        if not (out / "eval.json").exists():
            say(f"[{k + 1}/{len(task.subtasks)}] {sub.name}: training")
            if _worker("train", run, str(k), unsafe=cfg.unsafe) != 0:
                err = _read(out / "error.json") or {"error": "unknown"}
                raise RlscopeError(f"reward code of sub-task {sub.name} failed during training; traceback in "
                                   f"{out / 'error.json'}: {err['error'].strip().splitlines()[-1]}")
        ev, tr = _read(out / "eval.json"), _read(out / "result.json")
        video = _video(run, scene.model, out / "frames.npz", sub.name) if cfg.video else None
        subs.append({"name": sub.name, "description": sub.description,
                     "train": {"steps": tr["steps"], "seconds": tr["seconds"], "steps_per_s": tr["steps_per_s"],
                               "best_success": tr["best_success"]},
                     "eval": ev, "video": video})
        say(f"    {sub.name}: success {ev['success_rate']:.2f}, honest {ev['honest_success_rate']:.2f} "
            f"({tr['steps']} steps in {tr['seconds']:.0f} s)")
    chain = None
    if len(task.subtasks) > 1:
        if not (run / "chain" / "eval.json").exists():
            say("chain: evaluating all sub-tasks in sequence")
            if _worker("chain", run, unsafe=cfg.unsafe) != 0:
                raise RlscopeError(f"task code failed during the chain evaluation; see {run / 'chain' / 'error.json'}")
        chain = _read(run / "chain" / "eval.json")
        chain["video"] = _video(run, scene.model, run / "chain" / "frames.npz", "chain") if cfg.video else None
    summary = {"task_id": task.task_id, "description": task.description, "subtasks": subs, "chain": chain,
               "seconds_total": time.perf_counter() - t0}
    atomic_write_text(run / "summary.json", json.dumps(summary, indent=2) + "\n")
    if cfg.report:
        from rlscope.gen2sim.report import write_report

        summary["report"] = str(write_report(run))
    summary["run"] = str(run)
    return summary
