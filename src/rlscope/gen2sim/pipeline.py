"""The Gen2Sim pipeline: assets -> tasks -> checks -> training -> evaluation -> report.

``rlscope gen2sim train TASK_DIR`` runs the last four stages for one task; ``rlscope gen2sim run``
runs all of them, its tasks proposed by a language model or the offline proposer
(:mod:`rlscope.gen2sim.tasks.propose`) and validated before any training. Task code only ever runs in
the sandboxed worker (:mod:`rlscope.gen2sim.worker`); this process reads its files.

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

from rlscope.config import atomic_save_numpy, atomic_write_text, write_manifest
from rlscope.errors import RlscopeError
from rlscope.gen2sim.rl.ppo_config import PPOConfig
from rlscope.gen2sim.search import SearchConfig
from rlscope.gen2sim.tasks.propose import LLMConfig

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
class StageLimits:
    """Wall-clock limits of the sandboxed stages of a Gen2Sim run, in seconds. Past one, the stage is
    killed and the command ends with a line naming the sub-task and the limit; what was stored is kept."""

    check_s: float = 300.0
    """Checking every sub-task's code before training."""
    train_s: float = 7200.0
    """Training and evaluating one sub-task (its checkpoints let a rerun continue)."""
    chain_s: float = 1800.0
    """Evaluating the sub-tasks in sequence."""
    render_s: float = 900.0
    """Rendering the rollout videos."""
    call_s: float = 2.0
    """One call of a sub-task's compute_reward or is_success (on a whole batch of environments)."""


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
    arm: str | None = None
    """Carry the gripper with this arm (``panda``, from robosuite's model files) instead of letting it
    float; None: as the task's scene says."""
    resume: bool = False
    """Where the run directory holds another version of the task: continue that run with its own copy."""
    force: bool = False
    """Where the run directory holds another version of the task: discard that run and start over."""
    check: bool = True
    """Check the task's code in the sandbox before training (--no-check: for code validated just before, as the
    reward search's candidates are)."""
    starts: Path | None = None
    """Start states of a one-sub-task task's training and evaluation instead of its own (a .npy of MuJoCo states,
    one per row, e.g. the successful end states of an earlier stage's run): the reward search trains a later
    stage's candidates from where the earlier stage ends."""
    warm_start: Path | None = None
    """Continue each sub-task's training from WARM_START/SUB/checkpoint.pt (with its best.pt and metrics.jsonl)
    where there is one, instead of from a new policy: the reward search keeps its chosen candidates' policies in
    RUN/candidates/chosen/policies."""
    limits: StageLimits = StageLimits()
    ppo: PPOConfig = PPOConfig()


def with_arm(task, arm: str | None):
    """The task with its gripper carried by ``arm`` (unchanged for None)."""
    if arm is None:
        return task
    scene = task.scene
    return dataclasses.replace(task, scene=dataclasses.replace(scene, gripper=dataclasses.replace(scene.gripper, arm=arm)))


def copy_task(task, dest: Path) -> None:
    """Write the task into ``dest`` with every asset directory it uses copied under ``dest/assets/``
    (so a run directory is self-contained and the sandboxed worker sees all it needs)."""
    from rlscope.gen2sim.tasks.task import save_task

    root = Path(task.root)

    def local(ref: str) -> str:
        path = Path(ref) if Path(ref).is_absolute() else root / ref
        if not (path / "asset.json").is_file():
            raise RlscopeError(f"{path}: no asset.json (asset directory referenced by task {task.task_id})")
        target = dest / "assets" / path.resolve().name
        if not target.exists():
            shutil.copytree(path, target)
        return f"assets/{target.name}"

    scene = task.scene
    assets = tuple(dataclasses.replace(a, dir=local(a.dir)) if a.dir else a for a in scene.assets)
    objects = tuple(dataclasses.replace(o, asset=local(o.asset)) if o.asset else o for o in scene.objects)
    save_task(dataclasses.replace(task, scene=dataclasses.replace(scene, assets=assets, objects=objects)), dest)


RUN_OUTPUTS = ("task", "subtasks", "chain", "videos", "plots", "checks.json", "job.json", "summary.json", "report.html",
               "report.md", "start_states.npy")
"""What a training run writes into its directory (``--force`` removes these, nothing else)."""


def _changed_files(a: Path, b: Path) -> list[str]:
    """Relative paths whose content differs between two directory trees (or that only one holds)."""
    from rlscope.gen2sim.tasks.task import tree_digest

    da, db = tree_digest(a), tree_digest(b)
    return sorted(k for k in da.keys() | db.keys() if da.get(k) != db.get(k))


def place_task(task, run: Path, *, resume: bool, force: bool, say) -> None:
    """Copy ``task`` into ``run/task``, or check that the copy there is the same task.

    A run directory that holds another version of the task (its code or data changed since) is
    refused with the way out: ``force`` discards that run's outputs, ``resume`` keeps its copy.
    """
    held = run / "task"
    if not (held / "task.json").exists():
        copy_task(task, held)
        return
    incoming = run / ".task.incoming"
    shutil.rmtree(incoming, ignore_errors=True)
    copy_task(task, incoming)
    try:
        changed = _changed_files(held, incoming)
        if not changed:
            return
        if resume:
            say(f"note: {run} continues with its own copy of the task; these files differ from {task.root or task.task_id}: "
                + ", ".join(changed))
            return
        if not force:
            raise RlscopeError(f"{run} already holds a run of another version of task {task.task_id} (files that differ: "
                               f"{', '.join(changed)}); pass --force to discard that run and start over, --resume to "
                               "continue it with its own copy, or choose another --out")
        say(f"--force: discarding the run in {run} (its task differs: {', '.join(changed)})")
        for name in RUN_OUTPUTS:
            target = run / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        incoming.rename(held)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)


def _worker(mode: str, run: Path, *extra: str, cfg: TrainTaskConfig, what: str) -> int:
    """Run one stage in the sandboxed worker under its wall-clock limit; ``what`` names it in errors."""
    from rlscope.gen2sim.worker import launch

    return launch(mode, run, *extra, unsafe=cfg.unsafe, wall_s=getattr(cfg.limits, f"{mode}_s"), what=what,
                  limit_option=f"--limits.{mode}-s")


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _place_starts(starts: Path | None, run: Path, task) -> None:
    """Copy ``starts`` to ``run/start_states.npy``, where the sandboxed worker reads it (or remove one an earlier
    run left there); one clear error for a file that is not a 2-D array of states."""
    import numpy as np

    target = run / "start_states.npy"
    if starts is None:
        target.unlink(missing_ok=True)
        return
    if len(task.subtasks) != 1:
        raise RlscopeError(f"--starts: task {task.task_id} has {len(task.subtasks)} sub-tasks; start states replace the "
                           "start of a task of one sub-task (a later stage's start comes from the stage before it)")
    try:
        states = np.load(starts)
    except (OSError, ValueError) as exc:
        raise RlscopeError(f"--starts {starts}: not a .npy array of states ({exc})") from None
    if states.ndim != 2 or len(states) == 0 or not np.isfinite(states).all():
        raise RlscopeError(f"--starts {starts}: expected a 2-D array of finite MuJoCo states, one per row; got shape "
                           f"{states.shape}")
    atomic_save_numpy(target, states)


def _warm_start(warm: Path | None, name: str, out: Path) -> str:
    """Copy the policy to continue (``warm/NAME``: checkpoint.pt, best.pt, metrics.jsonl) into the sub-task's
    directory when it has no checkpoint of its own, and note where it came from in ``warm_start.json`` (with the
    steps and seconds of its result.json); returns the words the progress line adds."""
    src = None if warm is None else warm / name
    if src is None or not (src / "checkpoint.pt").exists() or (out / "checkpoint.pt").exists():
        return ""
    from rlscope.gen2sim.search import KEPT, keep_policy

    keep_policy(src, out, KEPT)
    done = _read(src / "result.json") or {}
    atomic_write_text(out / "warm_start.json", json.dumps({"from": str(src), "steps": done.get("steps"),
                                                            "seconds": done.get("seconds")}, indent=2) + "\n")
    return f" (continuing the policy in {src})"


def run_train(cfg: TrainTaskConfig, print_fn=None) -> dict[str, Any]:
    """Train every sub-task in order, evaluate each and the chain, render, summarise, report."""
    from rlscope.gen2sim.tasks.task import load_task

    t0 = time.perf_counter()
    src = resolve_task_dir(cfg.task)
    task = with_arm(load_task(src), cfg.arm)
    if task.scene.gripper.arm == "panda":
        from rlscope.gen2sim.sim.panda import model_file

        model_file()  # one clear line here rather than a failed check in the sandbox
    run = cfg.out or Path("runs") / "gen2sim" / (task.task_id + (f"-{cfg.arm}" if cfg.arm else ""))
    run.mkdir(parents=True, exist_ok=True)
    say = print_fn or (lambda *_: None)
    place_task(task, run, resume=cfg.resume, force=cfg.force, say=say)
    task = load_task(run / "task")
    if cfg.arm is not None and task.scene.gripper.arm != cfg.arm:
        raise RlscopeError(f"{run} holds a run of {task.task_id} with arm {task.scene.gripper.arm!r}, not {cfg.arm!r}; "
                           "choose another --out")
    write_manifest(run, "train", cfg)
    _place_starts(cfg.starts, run, task)
    job = {"steps": cfg.steps, "seed": cfg.seed, "episodes": cfg.episodes, "nthread": cfg.nthread, "progress": cfg.progress,
           "call_s": cfg.limits.call_s, "ppo": dataclasses.asdict(cfg.ppo)}
    atomic_write_text(run / "job.json", json.dumps(job, indent=2) + "\n")
    if cfg.check and _worker("check", run, cfg=cfg, what=f"the check of task {task.task_id}'s code") != 0:
        checks = _read(run / "checks.json") or {}
        bad = {k: v["error"] for k, v in checks.items() if not v.get("ok")}
        first = next(iter(bad.items()))
        raise RlscopeError(f"task code failed its check in the sandbox: sub-task {first[0]}: {first[1].strip().splitlines()[-1]}"
                           f" (details in {run / 'checks.json'})")
    subs: list[dict[str, Any]] = []
    for k, sub in enumerate(task.subtasks):
        out = run / "subtasks" / sub.name
        if not (out / "eval.json").exists():
            say(f"[{k + 1}/{len(task.subtasks)}] {sub.name}: training" + _warm_start(cfg.warm_start, sub.name, out))
            if _worker("train", run, str(k), cfg=cfg, what=f"sub-task {sub.name}'s training") != 0:
                err = _read(out / "error.json") or {"error": "unknown"}
                raise RlscopeError(f"reward code of sub-task {sub.name} failed during training; traceback in "
                                   f"{out / 'error.json'}: {err['error'].strip().splitlines()[-1]}")
        ev, tr = _read(out / "eval.json"), _read(out / "result.json")
        subs.append({"name": sub.name, "description": sub.description,
                     "train": {"steps": tr["steps"], "seconds": tr["seconds"], "steps_per_s": tr["steps_per_s"],
                               "best_success": tr["best_success"], "warm_start": _read(out / "warm_start.json")},
                     "eval": ev, "video": None})
        say(f"    {sub.name}: success {ev['success_rate']:.2f}, honest {ev['honest_success_rate']:.2f} "
            f"({tr['steps']} steps in {tr['seconds']:.0f} s)")
    chain = None
    if len(task.subtasks) > 1:
        if not (run / "chain" / "eval.json").exists():
            say("chain: evaluating all sub-tasks in sequence")
            if _worker("chain", run, cfg=cfg, what=f"the chain evaluation of task {task.task_id}") != 0:
                raise RlscopeError(f"task code failed during the chain evaluation; see {run / 'chain' / 'error.json'}")
        chain = _read(run / "chain" / "eval.json") | {"video": None}
    if cfg.video:
        rendered = run / "videos" / "rendered.json"  # rendered once; --force clears it with the rollouts
        if rendered.exists() or _worker("render", run, cfg=cfg, what=f"rendering task {task.task_id}'s videos") == 0:
            videos = _read(rendered) or {}
            for s in subs:
                s["video"] = videos.get(s["name"])
            if chain is not None:
                chain["video"] = videos.get("chain")
    validation = _read(src / "validation.json") or {}
    for s, sub in zip(subs, task.subtasks):
        s["code"] = sub.code
        s["validation"] = (validation.get("subtasks") or {}).get(sub.name)
    summary = {"task_id": task.task_id, "description": task.description, "subtasks": subs, "chain": chain,
               "proposal": _read(src / "proposal.json"), "search": _read(src / "search.json"),
               "seconds_total": time.perf_counter() - t0}
    atomic_write_text(run / "summary.json", json.dumps(summary, indent=2) + "\n")
    if cfg.report:
        from rlscope.gen2sim.report import write_report

        summary["report"] = str(write_report(run))
    summary["run"] = str(run)
    return summary


DEFAULT_INPUTS = ("procedural:cabinet",)
"""What ``rlscope gen2sim run`` (and ``make demo``) uses when given no inputs."""
DEMO_TASKS = ("open_cabinet_drawer_0", "put_cube_into_cabinet_drawer_0")
"""What `make demo` trains of the offline proposer's tasks for the default cabinet: a skill and a long-horizon task."""
DEFAULT_PROCEDURAL = {"cabinet": {"width": 0.5, "depth": 0.4, "height": 0.2, "n_drawers": 1, "doors": "none"}}
"""Dimensions of the default procedural assets (sized for the floating gripper's workspace)."""


@dataclasses.dataclass(frozen=True)
class RunLLMConfig(LLMConfig):
    """The language model of `gen2sim run` (its answers per scene are --proposals; --candidates are reward candidates)."""

    candidates: tyro.conf.Suppress[int] = 1


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """`rlscope gen2sim run [INPUT ...]`: assets -> tasks -> checks -> training -> evaluation -> report."""

    inputs: Annotated[tuple[str, ...], tyro.conf.Positional] = ()
    """Images, meshes, URDFs, PartNet-Mobility directories, asset directories or procedural:KIND (default: a
    procedural cabinet with one drawer); INPUT:CATEGORY gives one input its category (photo.png:mug). Each
    becomes asset NAME under OUT/assets/: the file's stem, a directory's name (a mobility.urdf: its folder's),
    with _2, _3, ... on repeats."""
    out: Path = Path("runs/gen2sim/run")
    """Output directory: assets/, tasks/, one run directory per task under runs/, index.html."""
    tasks: tuple[str, ...] = ()
    """Which tasks to train: proposed task ids or shell patterns (``open_*``), or standard task names; default: the
    first --max-tasks that pass validation."""
    max_tasks: int = 4
    """At most this many proposed tasks when --tasks is not given."""
    category: str | None = None
    """Category of the inputs that name none (mug, bottle, box, ...; PartNet-Mobility: its meta.json's)."""
    steps: int = 0
    """Training steps per sub-task (0: each sub-task's own)."""
    seed: int = 0
    episodes: int = 100
    """Evaluation episodes per sub-task and chain."""
    nthread: int = 2
    video: bool = True
    unsafe: bool = False
    """Run task code without the sandbox when bubblewrap is missing."""
    progress: bool = True
    arm: str | None = None
    """Carry the gripper with this arm (``panda``) in every task; None: as each task says."""
    resume: bool = False
    """Where a task's run directory holds another version of the task: continue that run with its own copy."""
    force: bool = False
    """Where a task's run directory holds another version of the task: discard that run and start over."""
    keep_going: bool = False
    """Use an input's asset even when its validation fails (by default the run stops there, exit status 2)."""
    accept_doubtful: bool = False
    """Build photo inputs from doubtful cut-outs instead of stopping (the mask over each photo is written to
    OUT/assets/NAME/segmentation.png either way; `gen2sim asset --box/--point` guides one)."""
    ray: str | None = None
    """Train the tasks in parallel as Ray tasks: 'local' (start Ray here), 'auto' (this machine's cluster) or
    ray://HOST:PORT; each asks for --nthread CPUs (and --ray-gpus GPUs)."""
    ray_gpus: float = 0.0
    """With --ray: GPUs each task's training asks for."""
    proposals: int = 1
    """Answers drawn per scene from a language model when proposing tasks (`gen2sim propose --candidates`)."""
    limits: StageLimits = StageLimits()
    ppo: PPOConfig = PPOConfig()
    model: Annotated[RunLLMConfig, tyro.conf.OmitArgPrefixes] = RunLLMConfig()
    search: Annotated[SearchConfig, tyro.conf.OmitArgPrefixes] = SearchConfig()
    """Reward candidates and reflection rounds before each task's training (rlscope.gen2sim.search)."""


def split_input(spec: str) -> tuple[str, str | None]:
    """(input, category) of one input of ``rlscope gen2sim run``: ``photo.png:mug`` names the category of
    that input; an existing path or ``procedural:KIND`` has none."""
    if spec.startswith("procedural:") or Path(spec).exists():
        return spec, None
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail and "/" not in tail and Path(head).exists():
        return head, tail
    return spec, None


def input_name(spec: str) -> str:
    """The asset name an input gets: a procedural kind, a directory's name, the folder of a PartNet-Mobility
    ``mobility.urdf`` (every such object has one), else the file's stem."""
    if spec.startswith("procedural:"):
        return spec.rsplit(":", 1)[-1]
    p = Path(spec)
    if p.is_dir():
        return p.resolve().name
    if p.name == "mobility.urdf":
        return p.resolve().parent.name
    return p.stem


def unique_names(names: list[str]) -> list[str]:
    """``names`` with a suffix (``_2``, ``_3``, ...) on every repeat, so that no two inputs share an asset."""
    out: list[str] = []
    for name in names:
        candidate, k = name, 2
        while candidate in out:
            candidate, k = f"{name}_{k}", k + 1
        out.append(candidate)
    return out


def build_inputs(specs: tuple[str, ...], out: Path, cfg, say=None) -> list[Path]:
    """Build (or reuse) the asset of every input, each under its own name (see :func:`input_name`), with its
    own category (``INPUT:CATEGORY``) or ``cfg.category``; returns their directories."""
    split = [split_input(s) for s in specs]
    names = unique_names([input_name(s) for s, _ in split])
    say = say or (lambda *_: None)
    dirs = []
    for (spec, category), name in zip(split, names):
        if name != input_name(spec):
            say(f"note: input {spec} is asset {name} ({input_name(spec)} is another input's)")
        dirs.append(_build_input(spec, out, cfg, name=name, category=category or cfg.category))
    return dirs


def _build_input(spec: str, out: Path, cfg, *, name: str | None = None, category: str | None = None) -> Path:
    """Build (or reuse) the asset of one input under ``out/NAME``; returns its directory."""
    from rlscope.gen2sim.assets.build import BuildOptions, build, build_procedural, write_asset
    from rlscope.gen2sim.assets.physics import LLMOptions
    from rlscope.gen2sim.assets.validate import validate_asset

    p = Path(spec)
    if (p / "asset.json").is_file():
        return p
    kind = spec.split(":", 1)[1] if spec.startswith("procedural:") else None
    if kind is None and not p.exists():
        raise RlscopeError(f"{spec}: no such file, asset directory or procedural:KIND (a category goes after the "
                           "path: photo.png:mug)")
    target = out / (name or input_name(spec))
    source = spec if kind else str(p.resolve())
    if (target / "asset.json").exists():
        held = json.loads((target / "asset.json").read_text()).get("params", {}).get("input")
        if held is not None and held != source:
            raise RlscopeError(f"{target} holds the asset of another input ({held}), not of {spec}; choose another "
                               "--out, or remove that directory to rebuild it")
    else:
        if kind:
            built = build_procedural(kind, target.name, BuildOptions(seed=cfg.seed), **DEFAULT_PROCEDURAL.get(kind, {}))
        else:
            llm = LLMOptions(llm=cfg.model.llm, cache_dir=str(cfg.out / "llm_cache"), cache=cfg.model.cache,
                             timeout_s=cfg.model.timeout_s, max_retries=cfg.model.max_retries)
            built = build([p], target.name, BuildOptions(category=category, seed=cfg.seed, llm=llm, mask_dir=str(target),
                                                         accept_doubtful=cfg.accept_doubtful))
        built.asset.params["input"] = source
        write_asset(built, target)
        report = validate_asset(built.asset, target)
        atomic_write_text(target / "validation.json", json.dumps(report.to_dict(), indent=2) + "\n")
        if not report.ok and not cfg.keep_going:
            (target / "asset.json").rename(target / "asset.json.invalid")  # rebuilt, not reused, on the next run
            raise RlscopeError(f"asset {target.name} (from {spec}) failed validation: {'; '.join(report.failures)} "
                               f"(see {target / 'validation.json'}; --keep-going to train on it anyway)")
    return target


def select_tasks(verdicts: dict[str, Any], proposed: list[str], patterns: tuple[str, ...], max_tasks: int) -> tuple[list[str], list[str]]:
    """(proposed task ids to train, standard task names to train): those ``patterns`` name, or the first
    ``max_tasks`` that passed validation. A pattern that names nothing is an error listing what there is."""
    import fnmatch

    valid = [t for t in proposed if verdicts.get(t, {}).get("ok")]
    if not patterns:
        return valid[:max_tasks], []
    chosen, standard = [], []
    for pat in patterns:
        hits = [t for t in proposed if fnmatch.fnmatchcase(t, pat)]
        if hits:
            bad = [t for t in hits if t not in valid]
            if bad and len(hits) == 1:
                raise RlscopeError(f"--tasks {pat}: task {bad[0]} failed validation (see its validation.json)")
            chosen += [t for t in hits if t in valid and t not in chosen]
        elif pat in standard_tasks():
            standard.append(pat)
        else:
            raise RlscopeError(f"--tasks {pat}: no proposed task matches (proposed: {', '.join(proposed) or 'none'}) and "
                               f"no standard task has that name ({', '.join(standard_tasks())})")
    return chosen, standard


def propose_command(cfg, print_fn=None) -> dict[str, Any]:
    """`rlscope gen2sim propose`: build (or reuse) the inputs' assets, then propose and validate their tasks."""
    from rlscope.gen2sim.tasks.propose import propose

    asset_dirs = build_inputs(cfg.inputs or DEFAULT_INPUTS, cfg.out / "assets", cfg, print_fn)
    return propose(cfg, asset_dirs, print_fn)


def run_pipeline(cfg: RunConfig, print_fn=None) -> dict[str, Any]:
    """The whole Gen2Sim loop on the inputs: assets, proposed and validated tasks, then one trained, evaluated,
    reported run per selected task."""
    from rlscope.gen2sim.tasks.propose import ProposeConfig, propose

    say = print_fn or (lambda *_: None)
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, "run", cfg)
    cfg.search.check()
    asset_dirs = build_inputs(cfg.inputs or DEFAULT_INPUTS, out / "assets", cfg, say)
    model = LLMConfig(**{**{f.name: getattr(cfg.model, f.name) for f in dataclasses.fields(LLMConfig)}, "candidates": cfg.proposals})
    pcfg = ProposeConfig(inputs=tuple(str(d) for d in asset_dirs), out=out, seed=cfg.seed, unsafe=cfg.unsafe,
                         call_s=cfg.limits.call_s, validate_s=cfg.limits.check_s, model=model)
    res = propose(pcfg, asset_dirs, say)
    for tid in res["proposed"]:
        v = res["tasks"].get(tid, {})
        reasons = v.get("error") or "; ".join(f"{k}: {p}" for k, s in v.get("subtasks", {}).items() for p in s["problems"])
        say(f"  {tid}: {'valid' if v.get('ok') else 'rejected: ' + reasons}")
    chosen, standard = select_tasks(res["tasks"], res["proposed"], cfg.tasks, cfg.max_tasks)
    if not chosen and not standard:
        raise RlscopeError("no proposed task passed validation (see validation.json under " + str(out / "tasks") + ")")
    dirs = [out / "tasks" / t for t in chosen]
    for name in standard:
        tdir = out / "tasks" / name
        if not (tdir / "task.json").exists():
            from rlscope.gen2sim.tasks.task import load_task

            copy_task(load_task(resolve_task_dir(name)), tdir)
        dirs.append(tdir)
    from rlscope.gen2sim.tasks.task import load_task

    jobs = []
    for tdir in dirs:
        task = load_task(tdir)
        say(f"== task {task.task_id}: {task.description}")
        warm = None
        if cfg.search.active:
            from rlscope.gen2sim.search import POLICIES, search_rewards

            say(f"reward search: {cfg.search.candidates} candidate(s) per sub-task, {cfg.search.rounds} round(s)")
            tdir = search_rewards(tdir, out / "runs" / task.task_id / "candidates", cfg.search, cfg, say)
            warm = tdir / POLICIES
        jobs.append(TrainTaskConfig(task=str(tdir), out=out / "runs" / task.task_id, steps=cfg.steps, seed=cfg.seed,
                                    episodes=cfg.episodes, nthread=cfg.nthread, video=cfg.video, unsafe=cfg.unsafe,
                                    progress=cfg.progress and cfg.ray is None, arm=cfg.arm, resume=cfg.resume,
                                    force=cfg.force, limits=cfg.limits, ppo=cfg.ppo, warm_start=warm))
    if cfg.ray is None:
        summaries = [run_train(tcfg, print_fn=print_fn) for tcfg in jobs]
    else:
        from rlscope.gen2sim.ray_train import train_on_ray

        summaries = train_on_ray(jobs, cfg.ray, num_cpus=cfg.nthread, num_gpus=cfg.ray_gpus, say=say)
    failed = [s for s in summaries if s.get("failed")]
    index = write_index(out, [s for s in summaries if not s.get("failed")])
    if failed:
        raise RlscopeError(f"{len(failed)} of {len(summaries)} task(s) failed: "
                           + "; ".join(f"{s['task_id']}: {s['error']}" for s in failed) + f" (the others: {index})")
    return {"out": str(out), "index": str(index), "runs": summaries, "proposals": res}


def write_index(out: Path, summaries: list[dict[str, Any]]) -> Path:
    """``out/index.html`` (and ``index.md``): one line per sub-task and chain with its success and a link to its
    task's report."""
    import html

    from rlscope.report.page import Page, Raw

    rows = []
    for s in summaries:
        rel = Path(s["run"]).resolve().relative_to(out.resolve())
        link = Raw(f"<a href='{html.escape(rel.as_posix())}/report.html'>{html.escape(s['task_id'])}</a>")
        for sub in s["subtasks"]:
            e = sub["eval"]
            rows.append([link, sub["name"], e["success_rate"], e["honest_success_rate"],
                         f"{e['penetration_max_m'] * 1000:.1f}", f"{sub['train']['seconds']:.0f}"])
        if s.get("chain"):
            c = s["chain"]
            rows.append([link, "chain", c["success_rate"], c["honest_success_rate"], f"{c['penetration_max_m'] * 1000:.1f}", ""])
    page = Page("Gen2Sim run")
    page.table(["task", "sub-task", "success", "honest success", "max penetration (mm)", "train s"], rows, searchable=True)
    path = Path(page.write(out, stem="index")["html"])
    atomic_write_text(out / "summary.json", json.dumps(summaries, indent=2) + "\n")
    return path
