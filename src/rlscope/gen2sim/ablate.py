"""`rlscope gen2sim ablate-decomposition TASK`: Gen2Sim's claim that decomposed rewards succeed where one reward
for the whole task fails, measured.

The long-horizon task trains twice on the same total budget: as proposed (one policy per sub-task, each with its
own reward, chained), and as one sub-task whose reward covers the whole task
(:func:`rlscope.gen2sim.tasks.candidates.undecomposed`: the sub-tasks' code composed into one function, the
reward of the current stage plus a bonus per completed stage, success when the last sub-task's test holds,
episodes as long as the sub-tasks' together). Both go through the same reward search when one is asked for
(``--candidates``/``--rounds``; a language model of ``--rewards`` writes the one reward as it writes a sub-task's).
The decomposition's success is its chain's; the single reward's is its one policy's. Both are honest rates
over the same number of evaluation episodes.

Writes ``OUT/tasks/{TASK,TASK_undecomposed}/``, ``OUT/runs/{decomposed,undecomposed}/`` (a `gen2sim train` run
directory each, with its report), ``OUT/ablation.json`` and ``OUT/ablation.{html,md}``; a rerun reuses what
is there.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import tyro

from rlscope.config import atomic_write_text, write_manifest
from rlscope.errors import RlscopeError
from rlscope.gen2sim.pipeline import RunLLMConfig, StageLimits
from rlscope.gen2sim.rl.ppo_config import PPOConfig
from rlscope.gen2sim.search import SearchConfig

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AblateConfig:
    """`rlscope gen2sim ablate-decomposition TASK`: the decomposition against one reward for the whole task."""

    task: Annotated[str, tyro.conf.Positional]
    """A task directory of a long-horizon task (at least two sub-tasks) or a standard task name (put_cube_in_drawer)."""
    out: Path | None = None
    """Output directory (default runs/gen2sim/ablate/TASK_ID)."""
    steps: int = 0
    """Training steps per sub-task of the decomposition (0: each sub-task's own); the single reward trains for their
    sum."""
    seed: int = 0
    episodes: int = 100
    """Evaluation episodes of the chain and of the single policy."""
    nthread: int = 2
    video: bool = False
    """Render rollout GIFs into both runs."""
    unsafe: bool = False
    """Run task code without the sandbox when bubblewrap is missing."""
    progress: bool = True
    arm: str | None = None
    """Carry the gripper with this arm (``panda``) in both runs."""
    resume: bool = False
    """Where a run directory holds another version of its task: continue that run with its own copy."""
    force: bool = False
    """Where a run directory holds another version of its task: discard that run and start over."""
    limits: StageLimits = StageLimits()
    ppo: PPOConfig = PPOConfig()
    model: Annotated[RunLLMConfig, tyro.conf.OmitArgPrefixes] = RunLLMConfig()
    search: Annotated[SearchConfig, tyro.conf.OmitArgPrefixes] = SearchConfig(candidates=1, rounds=1)
    """The reward search of both runs (none by default: the proposed code and its composition train as they are)."""


def _side(name: str, summary: dict[str, Any], decomposed: bool) -> dict[str, Any]:
    """One column of the comparison from a run's summary."""
    subs = summary["subtasks"]
    e = summary["chain"] if decomposed and summary.get("chain") else subs[-1]["eval"]
    out = {"reward": name, "subtasks": [s["name"] for s in subs], "train_steps": sum(s["train"]["steps"] for s in subs),
           "train_seconds": sum(s["train"]["seconds"] for s in subs), "episodes": e["episodes"],
           "success_rate": e["success_rate"], "honest_success_rate": e["honest_success_rate"], "run": summary["run"]}
    if decomposed and summary.get("chain"):
        out["per_stage_success"] = summary["chain"].get("per_stage_success")
    return out


def ablate_decomposition(cfg: AblateConfig, print_fn=None) -> dict[str, Any]:
    """Train the task decomposed and undecomposed on the same budget; returns and writes the comparison."""
    from rlscope.gen2sim.pipeline import TrainTaskConfig, copy_task, resolve_task_dir, run_train, with_arm
    from rlscope.gen2sim.search import POLICIES, search_rewards
    from rlscope.gen2sim.tasks.candidates import CandidateError, undecomposed
    from rlscope.gen2sim.tasks.task import load_task

    say = print_fn or (lambda *_: None)
    cfg.search.check()
    task = with_arm(load_task(resolve_task_dir(cfg.task)), cfg.arm)
    n = len(task.subtasks)
    if n < 2:
        raise RlscopeError(f"task {task.task_id} has one sub-task: nothing to ablate (a long-horizon task has several, e.g. "
                           "put_cube_in_drawer)")
    try:
        whole = undecomposed(task)
    except CandidateError as exc:
        raise RlscopeError(f"task {task.task_id}: {exc}") from None
    out = cfg.out or Path("runs") / "gen2sim" / "ablate" / task.task_id
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, "ablate-decomposition", cfg)
    sides = []
    for name, t, steps in (("decomposed", task, cfg.steps), ("undecomposed", whole, cfg.steps * n)):
        tdir = out / "tasks" / t.task_id
        copy_task(t, tdir)
        run = out / "runs" / name
        say(f"== {name}: {' -> '.join(s.name for s in t.subtasks)} "
            f"({steps * len(t.subtasks) if steps else sum(s.train_steps for s in t.subtasks):,} training steps in all)")
        warm = None
        if cfg.search.active:
            say(f"reward search: {cfg.search.candidates} candidate(s) per sub-task, {cfg.search.rounds} round(s)")
            tdir = search_rewards(tdir, run / "candidates", cfg.search, dataclasses.replace(cfg, steps=steps, out=out), say)
            warm = tdir / POLICIES
        summary = run_train(TrainTaskConfig(task=str(tdir), out=run, steps=steps, seed=cfg.seed, episodes=cfg.episodes,
                                            nthread=cfg.nthread, video=cfg.video, unsafe=cfg.unsafe, progress=cfg.progress,
                                            resume=cfg.resume, force=cfg.force, limits=cfg.limits, ppo=cfg.ppo,
                                            warm_start=warm), print_fn=say)
        sides.append(_side(name, summary, name == "decomposed"))
    result = {"task_id": task.task_id, "description": task.description, "steps_per_subtask": cfg.steps, "seed": cfg.seed,
              "search": {"candidates": cfg.search.candidates, "rounds": cfg.search.rounds} if cfg.search.active else None,
              "decomposed": sides[0], "undecomposed": sides[1]}
    atomic_write_text(out / "ablation.json", json.dumps(result, indent=2) + "\n")
    result["report"] = write_ablation_report(out, result)
    return result


def ablation_rows(result: dict[str, Any]) -> list[list[str]]:
    """The side-by-side table: one row per reward (decomposed, undecomposed)."""
    rows = []
    for key in ("decomposed", "undecomposed"):
        s = result[key]
        what = " -> ".join(s["subtasks"]) + (" (chained)" if key == "decomposed" else " (one reward)")
        rows.append([key, what, f"{s['train_steps']:,}", f"{s['train_seconds']:.0f} s", str(s["episodes"]),
                     f"{s['success_rate']:.2f}", f"{s['honest_success_rate']:.2f}"])
    return rows


ABLATION_COLUMNS = ["reward", "policies", "training steps", "train time", "episodes", "success", "honest success"]


def write_ablation_report(out: Path, result: dict[str, Any]) -> str:
    """``out/ablation.html`` and ``ablation.md``: the finding in words, the table, links to both runs' reports."""
    import html

    from rlscope.report.page import Page, Raw

    d, u = result["decomposed"], result["undecomposed"]
    page = Page(f"Decomposition ablation: {result['task_id']}")
    if result.get("description"):
        page.paragraph(result["description"])
    diff = d["honest_success_rate"] - u["honest_success_rate"]
    verdict = ("the decomposition succeeds more often" if diff > 0.05 else "one reward for the whole task succeeds more often"
               if diff < -0.05 else "neither succeeds clearly more often")
    page.findings([f"Decomposed into {len(d['subtasks'])} sub-tasks, each with its own policy and reward, chained: honest "
                   f"success {d['honest_success_rate']:.2f} over {d['episodes']} episodes; one reward for the whole task, "
                   f"one policy: {u['honest_success_rate']:.2f}, after {u['train_steps']:,} training steps against "
                   f"{d['train_steps']:,}: {verdict}."]
                  + ([f"Per stage of the chain: {', '.join(f'{n} {v:.2f}' for n, v in zip(d['subtasks'], d['per_stage_success']))}."]
                     if d.get("per_stage_success") else []))
    page.table(ABLATION_COLUMNS, ablation_rows(result))
    links = []
    for key in ("decomposed", "undecomposed"):
        rel = Path(result[key]["run"]).resolve().relative_to(out.resolve()).as_posix()
        links.append([key, Raw(f"<a href='{html.escape(rel)}/report.html'>{html.escape(rel)}/report.html</a>")])
    page.table(["run", "report"], links)
    return page.write(out, stem="ablation")["html"]
