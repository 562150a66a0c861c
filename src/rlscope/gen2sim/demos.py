"""`rlscope gen2sim demos RUN`: demonstrations from a trained Gen2Sim task, written as a LeRobot dataset.

The trained sub-task policies are rolled out in sequence (the chain), in batches run by the sandboxed
worker (the task's reward and success code is untrusted); every step is recorded. The episodes whose
whole chain succeeded honestly (no deep interpenetration, no instability; see
:mod:`rlscope.gen2sim.rl.evaluate`) are written through the ``lerobot`` package (an optional extra) in the
LeRobotDataset format: per frame ``observation.state`` (the full physics state), ``action``,
``next.reward``, ``next.done``, ``next.success``, ``stage`` (the sub-task index) and the task text; with
``--video``, the front camera as ``observation.images.front``.

Batches are kept under ``RUN/demos/rollouts/`` and reused by a rerun, so an interrupted export resumes
at the batch it was rolling out. The dataset is assembled in a temporary directory beside ``--out`` and
moved into place only when complete.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro

from rlscope.errors import RlscopeError

log = logging.getLogger(__name__)

LEROBOT_HINT = "install the lerobot extra (`make lerobot`, or pip install 'lerobot==0.4.4' beside rlscope)"


@dataclasses.dataclass(frozen=True)
class DemosConfig:
    """`rlscope gen2sim demos RUN`: roll out a trained task's policies and write the successful, physically
    plausible episodes as a LeRobot dataset."""

    run: Annotated[Path, tyro.conf.Positional]
    """A trained task's run directory (what `gen2sim train` or `gen2sim run` wrote: summary.json and one
    best.pt per sub-task)."""
    episodes: int = 100
    """Demonstrations to write: successful, physically plausible episodes of the whole chain."""
    out: Path | None = None
    """Dataset directory (default RUN/demos/lerobot); an existing one is kept unless --overwrite."""
    repo_id: str | None = None
    """Dataset name recorded in its metadata (default rlscope/TASK_ID)."""
    max_rollouts: int = 0
    """Give up after this many rollouts, writing what succeeded (0: ten per demonstration asked for)."""
    batch: int = 32
    """Rollouts per sandboxed batch; finished batches are kept and reused by a rerun."""
    video: bool = False
    """Render the front camera into the dataset as video (``observation.images.front``)."""
    width: int = 160
    """Camera image width (pixels), with --video."""
    height: int = 120
    """Camera image height (pixels), with --video."""
    overwrite: bool = False
    """Replace an existing dataset at --out."""
    batch_s: float = 900.0
    """Wall-clock limit of one sandboxed batch of rollouts (seconds)."""
    unsafe: bool = False
    """Run task code without the sandbox when bubblewrap is missing (never needed where it is installed)."""
    progress: bool = True
    """Progress bar."""

    def validate(self) -> None:
        for name in ("episodes", "batch", "width", "height"):
            if getattr(self, name) < 1:
                raise RlscopeError(f"--{name.replace('_', '-')} {getattr(self, name)}: expected a positive number")
        if self.max_rollouts < 0:
            raise RlscopeError(f"--max-rollouts {self.max_rollouts}: expected 0 (ten per demonstration) or more")


def rollout_seed(seed: int, batch: int) -> int:
    """Environment seed of rollout batch ``batch`` of a run trained with ``seed``: apart from the seeds of
    training (``seed``) and evaluation (10,000 + seed, 20,000 + seed)."""
    return 1_000_000 * (seed + 1) + batch


def pack_rollouts(res) -> dict[str, np.ndarray]:
    """Flatten a recorded :class:`~rlscope.gen2sim.rl.evaluate.ChainResult` (every episode recorded) into arrays.

    With E episodes, stage k of episode i lasting T_ik steps, T_i = sum_k T_ik and T = sum_i T_i:

    - ``lengths`` (E,) int: T_i;
    - ``states`` (T, nstate): the state in which each step's action was taken; ``eq`` (T, neq): suction;
    - ``actions`` (T, 4), ``rewards`` (T,) (each stage's own reward), ``stage`` (T,) int;
    - ``final_states`` (E, nstate): the state after the last step;
    - ``success`` (E,) bool: every stage succeeded; ``honest`` (E,) bool: and the physics stayed plausible;
      ``penetration`` (E,): deepest interpenetration over all stages (m).
    """
    stages = res.stages
    episodes = stages[0].episodes
    parts: dict[str, list[np.ndarray]] = {"states": [], "eq": [], "actions": [], "rewards": [], "stage": []}
    lengths, finals = [], []
    for i in range(episodes):
        n = 0
        for k, st in enumerate(stages):
            steps = len(st.actions[i])
            parts["states"].append(st.frames[i][:steps])
            parts["eq"].append(st.frames_eq[i][:steps])
            parts["actions"].append(st.actions[i])
            parts["rewards"].append(st.rewards[i])
            parts["stage"].append(np.full(steps, k, dtype=np.int64))
            n += steps
        lengths.append(n)
        finals.append(stages[-1].frames[i][len(stages[-1].actions[i])])
    return {**{k: np.concatenate(v) for k, v in parts.items()}, "lengths": np.array(lengths, dtype=np.int64),
            "final_states": np.stack(finals), "success": res.success, "honest": res.honest,
            "penetration": np.max([s.penetration for s in stages], axis=0)}


def split_rollouts(packed: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """The episodes of :func:`pack_rollouts`' arrays: one dict per episode with its slices and flags."""
    out, start = [], 0
    for i, n in enumerate(packed["lengths"].tolist()):
        sl = slice(start, start + n)
        out.append({"states": packed["states"][sl], "eq": packed["eq"][sl], "actions": packed["actions"][sl],
                    "rewards": packed["rewards"][sl], "stage": packed["stage"][sl],
                    "success": bool(packed["success"][i]), "honest": bool(packed["honest"][i])})
        start += n
    return out


def check_run(run: Path) -> tuple[Any, dict[str, Any]]:
    """The task and summary of a trained run, or one error naming what is missing."""
    from rlscope.gen2sim.tasks.task import load_task

    summary_path = run / "summary.json"
    if not summary_path.exists():
        raise RlscopeError(f"{run}: not a trained Gen2Sim run (no summary.json); train it first with "
                           "`rlscope gen2sim train` or `rlscope gen2sim run`")
    task = load_task(run / "task")
    missing = [s.name for s in task.subtasks if not (run / "subtasks" / s.name / "best.pt").exists()]
    if missing:
        raise RlscopeError(f"{run}: no trained policy for sub-task(s) {', '.join(missing)} (subtasks/NAME/best.pt)")
    return task, json.loads(summary_path.read_text())


def collect(cfg: DemosConfig, task) -> tuple[list[dict[str, Any]], int, int]:
    """Roll out batches (reusing finished ones) until ``cfg.episodes`` honest successes or the rollout cap;
    returns the successful episodes (at most ``cfg.episodes``), the number of rollouts and how many of them
    succeeded honestly."""
    from tqdm import tqdm

    from rlscope.gen2sim.worker import launch

    cap = cfg.max_rollouts or 10 * cfg.episodes
    kept: list[dict[str, Any]] = []
    done = honest = 0
    bar = tqdm(total=cfg.episodes, desc="demonstrations", unit="ep", disable=not cfg.progress)
    batch = 0
    while len(kept) < cfg.episodes and done < cap:
        size = min(cfg.batch, cap - done)
        path = cfg.run / "demos" / "rollouts" / f"chunk_{batch:04d}.npz"
        if path.exists() and len(np.load(path)["lengths"]) != size:
            path.unlink()  # a batch of another size (an earlier --batch): rolled out again
        if not path.exists():
            code = launch("demos", cfg.run.resolve(), str(batch), str(size), unsafe=cfg.unsafe, wall_s=cfg.batch_s,
                          what=f"rollout batch {batch}", limit_option="--batch-s")
            if code != 0:
                err = cfg.run / "demos" / "error.json"
                raise RlscopeError(f"the task's code failed while rolling out: "
                                   f"{json.loads(err.read_text())['error'] if err.exists() else 'see the log'}")
        with np.load(path) as data:
            eps = split_rollouts(dict(data))
        good = [e for e in eps if e["honest"]]
        honest += len(good)
        good = good[: cfg.episodes - len(kept)]
        kept += good
        done += size
        bar.update(len(good))
        bar.set_postfix(rollouts=done, success=f"{honest / done:.2f}")
        batch += 1
    bar.close()
    return kept, done, honest


def features(nstate: int, stages: int, video: tuple[int, int] | None) -> dict[str, dict[str, Any]]:
    """The dataset's features (LeRobot's schema) for a state of ``nstate`` values; ``video``: (height, width)."""
    f = {
        "observation.state": {"dtype": "float32", "shape": (nstate,), "names": None},
        "action": {"dtype": "float32", "shape": (4,), "names": ["dx", "dy", "dz", "grip"]},
        "next.reward": {"dtype": "float32", "shape": (1,), "names": None},
        "next.done": {"dtype": "bool", "shape": (1,), "names": None},
        "next.success": {"dtype": "bool", "shape": (1,), "names": None},
        "stage": {"dtype": "int64", "shape": (1,), "names": [f"of {stages}"]},
    }
    if video:
        f["observation.images.front"] = {"dtype": "video", "shape": (*video, 3), "names": ["height", "width", "channels"]}
    return f


def write_dataset(cfg: DemosConfig, task, scene, episodes: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """Write ``episodes`` through lerobot into ``out`` (assembled beside it, then moved into place)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from tqdm import tqdm

    from rlscope.gen2sim.render import render_frames

    if not cfg.progress:
        import datasets

        datasets.disable_progress_bars()

    spec = scene.spec
    fps = round(1.0 / (spec.timestep * spec.substeps))
    nstate = episodes[0]["states"].shape[1] if episodes else 0
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    ds = LeRobotDataset.create(repo_id=cfg.repo_id or f"rlscope/{task.task_id}", fps=fps, root=tmp, robot_type="rlscope-gripper",
                               features=features(nstate, len(task.subtasks), (cfg.height, cfg.width) if cfg.video else None),
                               use_videos=cfg.video)
    text = task.description or task.task_id
    for ep in tqdm(episodes, desc="writing", unit="ep", disable=not cfg.progress):
        images = render_frames(scene.model, ep["states"], ep["eq"], width=cfg.width, height=cfg.height) if cfg.video else None
        last = len(ep["actions"]) - 1
        for t in range(last + 1):
            frame = {"observation.state": ep["states"][t].astype(np.float32), "action": ep["actions"][t].astype(np.float32),
                     "next.reward": np.array([ep["rewards"][t]], dtype=np.float32),
                     "next.done": np.array([t == last]), "next.success": np.array([t == last and ep["success"]]),
                     "stage": np.array([ep["stage"][t]], dtype=np.int64), "task": text}
            if images is not None:
                frame["observation.images.front"] = images[t]
            ds.add_frame(frame)
        ds.save_episode()
    ds.finalize()
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return {"fps": fps, "frames": int(sum(len(e["actions"]) for e in episodes))}


def make_demos(cfg: DemosConfig) -> dict[str, Any]:
    """Collect the demonstrations and write the dataset; returns a summary (also ``RUN/demos/summary.json``)."""
    from rlscope.config import atomic_write_text
    from rlscope.gen2sim.sim.scene import build_scene

    cfg.validate()
    try:
        import lerobot  # noqa: F401  (fail before rolling anything out)
    except ImportError as exc:
        raise RlscopeError(f"`gen2sim demos` writes LeRobot datasets: {LEROBOT_HINT} ({exc})") from exc
    task, _ = check_run(cfg.run)
    out = cfg.out or cfg.run / "demos" / "lerobot"
    if out.exists() and not cfg.overwrite:
        raise RlscopeError(f"{out} exists; --overwrite to replace it, or --out another directory")
    t0 = time.perf_counter()
    episodes, rollouts, honest = collect(cfg, task)
    t1 = time.perf_counter()
    if not episodes:
        raise RlscopeError(f"none of {rollouts} rollouts of {task.task_id} succeeded honestly; no dataset written "
                           "(train longer, or raise --max-rollouts)")
    if len(episodes) < cfg.episodes:
        log.warning("%d of %d demonstrations: only %d of %d rollouts succeeded honestly", len(episodes), cfg.episodes,
                    len(episodes), rollouts)
    scene = build_scene(task.scene, Path(task.root))
    written = write_dataset(cfg, task, scene, episodes, out)
    t2 = time.perf_counter()
    summary = {"task_id": task.task_id, "dataset": str(out), "episodes": len(episodes), "asked": cfg.episodes,
               "rollouts": rollouts, "success_rate": honest / rollouts, "video": cfg.video, **written,
               "rollout_s": t1 - t0, "write_s": t2 - t1, "episodes_per_min": 60 * len(episodes) / max(t2 - t0, 1e-9)}
    atomic_write_text(cfg.run / "demos" / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
