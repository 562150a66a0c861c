"""Reward search before training: K candidates per sub-task, short trainings side by side, R rounds of
reflection, the best candidate on to full training (Eureka's loop, on Gen2Sim's sub-tasks).

The sub-tasks are searched in order, stage by stage. Each round, the sub-task gets ``--candidates`` reward
candidates (:mod:`rlscope.gen2sim.tasks.candidates`): answers a language model samples at temperature, or variants
of the proposed code from the offline proposer. A round's candidates are validated in one sandboxed launch, then
each valid one trains for ``--candidate-fraction`` of the sub-task's budget and is evaluated by the sub-task's own
success test, the short trainings running side by side (``--candidate-workers`` processes, one per core by default;
Ray tasks with ``--ray``). A later stage's candidates start where the earlier stage's chosen candidate left its
evaluation episodes (its successful end states), as the stage's full training starts from the earlier stage's end
states: a reward judged from the sub-task's own start states can fail from the chain's. Candidates are ranked by
honest evaluation success, then by training success in the last tenth of training, the earlier among equals
(returns do not compare across rewards); the next round's prompt (or the offline proposer's next variants) comes
from the best one so far and the statistics of the round (:mod:`rlscope.gen2sim.tasks.reflect`). Per round and
sub-task, pass@k over the candidates uses the boundary system's estimator (:func:`rlscope.passk.pass_at_k`): a
candidate passes when its honest success reaches ``--success-at``.

The full training continues the chosen candidate's policy (``chosen/policies/SUB``, `gen2sim train --warm-start`)
rather than drawing a new one: the short training was one draw of PPO, and the chosen one is the draw that worked.

Everything is kept under ``RUN/candidates/``::

    source.json                         the proposed task's digest and the search settings
    SUB/start_states.npy                where a later stage's candidates start (the earlier stage's chosen end states)
    SUB/round_R/plan.json               the round's candidates: code, where each came from, the prompt
    SUB/round_R/prompt_SUB.md           what the language model was sent (or the guidance the variants follow)
    SUB/round_R/tasks/SUB-IDX/          each candidate as a one-sub-task task, with its validation.json
    SUB/round_R/runs/SUB-IDX/           its short training and evaluation (a `gen2sim train` run directory)
    SUB/round_R/feedback_SUB.md         the reflection on the round (the next round's prompt carries it)
    SUB/round_R/round.json              results, statistics, the best candidate, pass@k
    search.json                         every round, and the chosen candidate per sub-task
    chosen/                             the task with the chosen code: what the full training trains
    chosen/policies/SUB/                the chosen candidate's checkpoint, best policy and metrics, continued in full

A killed search resumes where it stopped: a finished round is read back, a finished candidate is not
retrained, one in training continues from its checkpoint, answers come from the cache.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from rlscope.config import atomic_save_numpy, atomic_write_text
from rlscope.errors import RlscopeError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """The reward search before each task's training (`--candidates 1 --rounds 1`: none, the proposed code trains)."""

    candidates: int = 4
    """Reward candidates per sub-task in each round: answers sampled at temperature from the language model of
    --rewards, or variants of the proposed code from the offline proposer."""
    rounds: int = 2
    """Rounds of reflection: each round's candidates come from the best one so far and the training statistics
    of the round before."""
    candidate_fraction: float = 0.5
    """Each candidate's short training: this fraction of its sub-task's budget (at least one PPO batch; half of
    it is where the drawer's candidates first differ in success, benchmarks/bench_reflection.py)."""
    candidate_episodes: int = 20
    """Evaluation episodes of each candidate."""
    candidate_workers: int = 0
    """Short trainings side by side (0: one per core); with --ray, Ray places them."""
    success_at: float = 0.5
    """Honest success at which a candidate counts as solving its sub-task, for pass@k over candidates."""
    rewards: str = "proposer"
    """Who writes the candidates: ``proposer`` (the model of --llm; the offline proposer's variants for
    ``offline``), ``offline``, or a language model (``openai:MODEL@URL``, ``hf:PATH``) writing the rewards of
    tasks that --llm proposed; the proposed code is then trained beside its candidates as the baseline."""

    @property
    def active(self) -> bool:
        return self.candidates > 1 or self.rounds > 1

    def check(self) -> None:
        if self.candidates < 1 or self.rounds < 1:
            raise RlscopeError(f"--candidates and --rounds must be at least 1 (got {self.candidates} and {self.rounds})")
        if not 0 < self.candidate_fraction <= 1:
            raise RlscopeError(f"--candidate-fraction must be in (0, 1], got {self.candidate_fraction}")
        if self.candidate_episodes < 1:
            raise RlscopeError(f"--candidate-episodes must be at least 1, got {self.candidate_episodes}")


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _write(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def rank_key(c: dict[str, Any]) -> tuple:
    """Sort key of a candidate record, best last: trained before untrained, then honest evaluation success, then
    training success in the last tenth of training. Returns are left out: candidates' rewards differ in scale, so
    their returns do not compare (a reward scaled x9 would win on return alone)."""
    e = c.get("eval")
    if not e:
        return (0, -1.0, -1.0)
    tenths = (((c.get("stats") or {}).get("success") or {}).get("tenths") or [None])
    last = tenths[-1] if tenths[-1] is not None else -1.0
    return (1, float(e.get("honest_success_rate", 0.0)), float(last))


def best_of(candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The best trained candidate (None when none was trained); the earlier one among equals (the proposal, then the
    best so far, before new variants)."""
    trained = [c for c in candidates if c.get("eval")]
    return max(trained, key=rank_key) if trained else None  # max keeps the first of equals


def passk_over_candidates(candidates: list[dict[str, Any]], success_at: float) -> dict[str, Any]:
    """pass@k over a round's candidates of one sub-task: n candidates (failed ones included), c of them whose
    honest evaluation success reaches ``success_at``; k = 1, 2, 4, ..., n (:func:`rlscope.passk.pass_at_k`)."""
    from rlscope.passk import ks_for, pass_at_k

    n = len(candidates)
    c = sum(1 for x in candidates if (x.get("eval") or {}).get("honest_success_rate", 0.0) >= success_at)
    return {"n": n, "c": c, "passk": {str(k): float(pass_at_k(n, c, k)) for k in ks_for(n)} if n else {}}


# -- the generators of candidates ------------------------------------------------------------------------------
def reward_model(cfg: SearchConfig, llm: str) -> str:
    """The model that writes the candidates: ``offline`` or an LLM spec."""
    return llm if cfg.rewards == "proposer" else cfg.rewards


def _offline_round(sub, r: int, k: int, seed: int, history: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """(candidates, the guidance they follow) of round ``r`` of one sub-task from the offline proposer."""
    from rlscope.gen2sim.tasks.candidates import Variant, first_variants, next_variants, reward_terms, variant_code
    from rlscope.gen2sim.tasks.reflect import diagnose, guidance

    terms = reward_terms(sub.code)
    if r == 1:
        plans = [(v, "round one: the proposal and fixed re-weightings") for v in first_variants(terms, k, seed)]
        note = ("Round 1: the proposed reward and re-weightings of its terms "
                f"({', '.join(terms) or 'no terms found: success bonuses only'}).")
    else:
        best = best_of(history)
        tried = [Variant.from_dict(c["variant"]) for c in history if c.get("variant") is not None]
        base = Variant.from_dict(best["variant"]) if best and best.get("variant") is not None else Variant()
        d = diagnose(best, history)
        plans = next_variants(base, d, terms, k, tried, seed + r)
        note = (f"Round {r}: variants of the best so far ({base.describe()}), following the guidance:\n"
                + "\n".join(f"- {g}" for g in guidance(d)))
    out = []
    for i, (v, why) in enumerate(plans):
        rec = {"idx": i, "source": "offline", "what": v.describe(), "why": why, "variant": v.to_dict()}
        try:
            rec["code"] = variant_code(sub.code, v)
        except ValueError as exc:
            rec["error"] = str(exc)
        out.append(rec)
    return out, note


def _llm_round(client, params, sub, first: list[tuple[str, str]], r: int, k: int, history: list[dict[str, Any]],
               feedback: str | None) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """(candidates, the messages sent) of round ``r`` of one sub-task: ``k`` answers of the language model."""
    from rlscope.gen2sim.tasks.candidates import CandidateError, reflection_messages, reward_from_answer, with_success

    messages = list(first)
    if r > 1:
        best = best_of(history) or next((c for c in history if c.get("answer")), None)
        if best is not None and best.get("answer") and feedback:
            messages = reflection_messages(first, best["answer"], feedback, sub.name)
    out = []
    for i in range(k):
        text = client.complete(messages, params, candidate=i).text
        rec: dict[str, Any] = {"idx": i, "source": "llm", "what": f"answer {i}", "answer": text}
        try:
            rec["code"] = with_success(reward_from_answer(text), sub.code,
                                       header=f"reward: round {r}, candidate {i}, by {client.spec.label}")
        except CandidateError as exc:
            rec["error"] = f"the answer cannot be used: {exc}"
        out.append(rec)
    return out, messages


def _render(messages: list[tuple[str, str]]) -> str:
    return "\n\n".join(f"## {role}\n\n{content}" for role, content in messages) + "\n"


# -- short trainings ---------------------------------------------------------------------------------------------
def _train_jobs(jobs: list, ctx, workers: int, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Run ``gen2sim train`` jobs side by side; a job whose task code fails is returned as
    ``{"failed": True, "error": ...}``, in the order of ``jobs``."""
    from rlscope.gen2sim.pipeline import run_train

    if not jobs:
        return []
    if getattr(ctx, "ray", None):
        from rlscope.gen2sim.ray_train import train_on_ray

        return train_on_ray(jobs, ctx.ray, num_cpus=1, num_gpus=getattr(ctx, "ray_gpus", 0.0), say=say)

    def one(tcfg) -> dict[str, Any]:
        try:
            return run_train(tcfg)
        except RlscopeError as exc:
            return {"failed": True, "error": str(exc)}

    out: list[dict[str, Any] | None] = [None] * len(jobs)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        futures = {pool.submit(one, j): i for i, j in enumerate(jobs)}
        for f in as_completed(futures):
            out[futures[f]] = f.result()
    return out  # type: ignore[return-value]


def _error_text(run: Path, sub: str, fallback: str) -> str:
    """The traceback a failed candidate left (its training's error.json, its check), else ``fallback``."""
    err = _read(run / "subtasks" / sub / "error.json")
    if err and err.get("error"):
        return err["error"]
    checks = _read(run / "checks.json") or {}
    bad = [v.get("error", "") for v in checks.values() if not v.get("ok")]
    return bad[0] if bad else fallback


def _results(rec: dict[str, Any], run: Path, sub: str, summary: dict[str, Any] | None) -> None:
    """Fill a candidate record from its run directory: evaluation, training, statistics, or its error."""
    from rlscope.gen2sim.report import read_metrics
    from rlscope.gen2sim.tasks.reflect import training_statistics

    if summary is None or summary.get("failed"):
        rec["error"] = _error_text(run, sub, (summary or {}).get("error", "not trained"))
        return
    s = summary["subtasks"][0]
    rec["eval"] = s["eval"]
    rec["train"] = s["train"]
    rec["stats"] = training_statistics(read_metrics(run / "subtasks" / sub / "metrics.jsonl"))


# -- the search ----------------------------------------------------------------------------------------------
def _defining_digest(task_dir: Path) -> dict[str, str]:
    from rlscope.gen2sim.tasks.task import tree_digest

    return {k: v for k, v in tree_digest(task_dir).items() if k == "task.json" or k.endswith(".py") or k.startswith("assets/")}


def _place(where: Path, task_dir: Path, settings: dict[str, Any], ctx, say) -> None:
    """``where/source.json``: the proposed task's digest and the settings; a search of another version of the
    task, or with other settings, is refused (``--force`` discards it, ``--resume`` keeps it). The number of
    rounds is not among them: more rounds continue a search, fewer read its first rounds."""
    held = _read(where / "source.json")
    now = {"digest": _defining_digest(task_dir), "settings": settings}
    if held is not None and held != now:
        what = "task" if held.get("digest") != now["digest"] else "search settings"
        if getattr(ctx, "force", False):
            say(f"--force: discarding the reward search in {where} (its {what} differ)")
            shutil.rmtree(where)
        elif getattr(ctx, "resume", False):
            say(f"note: {where} continues its reward search, whose {what} differ")
            return
        else:
            raise RlscopeError(f"{where} holds a reward search of another version of this task or other settings (its "
                               f"{what} differ); pass --force to discard it and start over, --resume to continue it, "
                               "or choose another --out")
    _write(where / "source.json", now)


def search_rewards(task_dir: Path, where: Path, cfg: SearchConfig, ctx, say: Callable[[str], None] | None = None) -> Path:
    """Search rewards for every sub-task of the task in ``task_dir`` (see the module docstring); returns the
    directory of the task with the chosen code (``where/chosen``).

    ``ctx`` holds the run's settings: ``steps``, ``seed``, ``unsafe``, ``limits``, ``ppo``, ``model`` (the
    :class:`~rlscope.gen2sim.tasks.propose.LLMConfig`), ``out`` (its ``llm_cache``), and optionally ``arm``,
    ``ray``, ``ray_gpus``, ``force``, ``resume``.
    """
    from rlscope.gen2sim.pipeline import copy_task, with_arm
    from rlscope.gen2sim.tasks.task import load_task

    cfg.check()
    say = say or (lambda *_: None)
    task = with_arm(load_task(task_dir), getattr(ctx, "arm", None))
    model = reward_model(cfg, ctx.model.llm)
    settings = {"candidates": cfg.candidates, "candidate_fraction": cfg.candidate_fraction,
                "candidate_episodes": cfg.candidate_episodes, "success_at": cfg.success_at, "rewards": model,
                "steps": ctx.steps, "seed": ctx.seed, "ppo": dataclasses.asdict(ctx.ppo), "arm": getattr(ctx, "arm", None)}
    where.mkdir(parents=True, exist_ok=True)
    _place(where, task_dir, settings, ctx, say)
    workers = cfg.candidate_workers or len(os.sched_getaffinity(0))
    batch = ctx.ppo.num_envs * ctx.ppo.rollout_steps
    searched = [k for k, s in enumerate(task.subtasks) if s.format == "state"]
    for k, s in enumerate(task.subtasks):
        if k not in searched:
            say(f"  {s.name}: not searched (code in the Gen2Sim paper's format keeps its own success test)")

    client = params = None
    firsts: dict[str, list[tuple[str, str]]] = {}
    if model != "offline":
        from rlscope.gen2sim.tasks.candidates import reward_messages
        from rlscope.gen2sim.tasks.describe import describe_scene, render_description
        from rlscope.llm.base import SamplingParams
        from rlscope.llm.chat import ChatClient, parse_llm

        spec = parse_llm(model)
        if spec.backend != "offline":
            client = ChatClient(spec, Path(ctx.out) / "llm_cache", use_cache=ctx.model.cache, timeout_s=ctx.model.timeout_s,
                                max_retries=ctx.model.max_retries)
            params = SamplingParams(temperature=ctx.model.temperature, top_p=1.0, max_new_tokens=ctx.model.max_new_tokens)
            text = render_description(describe_scene(task.scene, Path(task.root)))
            firsts = {task.subtasks[k].name: reward_messages(text, task, k) for k in searched}

    history: dict[str, list[dict[str, Any]]] = {task.subtasks[k].name: [] for k in searched}
    by_stage: dict[str, list[dict[str, Any]]] = {}
    picks: dict[str, dict[str, Any] | None] = {}
    for k in searched:
        sub = task.subtasks[k]
        sdir = where / sub.name
        starts = _start_states(where, task, k, picks)
        feedback: dict[str, str] = {}
        by_stage[sub.name] = []
        for r in range(1, cfg.rounds + 1):
            rdir = sdir / f"round_{r}"
            done = _read(rdir / "round.json")
            if done is None:
                done = _run_round(r, rdir, task, [k], cfg, ctx, client, params, firsts, history, feedback, workers, batch,
                                  say, starts)
            by_stage[sub.name].append(done)
            rs = done["subtasks"][sub.name]
            history[sub.name] += [dict(c, round=r) for c in rs["candidates"] if not c.get("baseline")]
            feedback[sub.name] = rs["feedback"]
            best = rs.get("best")
            say(f"  {sub.name}: round {r}: pass@1 {rs['passk'].get('1', 0):.2f} over {rs['n']} candidate(s), "
                f"best {best if best is not None else 'none'}"
                + (f" (success {_best(rs)['eval']['honest_success_rate']:.2f})" if best is not None else ""))
        picks[sub.name] = best_of(history[sub.name])
    rounds = _merge_rounds(by_stage, cfg.rounds)

    out = where / "chosen"
    chosen_subs, chosen = [], {}
    validations = {}
    for s in task.subtasks:
        pick = picks.get(s.name)
        if pick is None:
            chosen[s.name] = None
            chosen_subs.append(s)
            continue
        chosen[s.name] = {"round": pick["round"], "idx": pick["idx"], "source": pick["source"], "what": pick.get("what"),
                          "eval": pick["eval"], "train": pick.get("train")}
        chosen_subs.append(dataclasses.replace(s, code=pick["code"], code_file=""))
        validations[s.name] = pick.get("validation")
    record = {"settings": settings | {"rounds": cfg.rounds}, "subtasks": {name: [dict(rd["subtasks"][name], round=rd["round"]) for rd in rounds
                                                        if name in rd["subtasks"]] for name in history},
              "chosen": chosen, "passk": [rd["passk"] for rd in rounds], "seconds": [rd["seconds"] for rd in rounds]}
    copy_task(dataclasses.replace(task, subtasks=tuple(chosen_subs)), out)
    for name, pick in picks.items():
        if pick is not None:
            keep_policy(_candidate_run(where, name, pick) / "subtasks" / name, out / POLICIES / name)
    held = _read(task_dir / "validation.json") or {}
    subs_v = dict(held.get("subtasks") or {})
    subs_v.update({n: v for n, v in validations.items() if v})
    _write(out / "validation.json", {"ok": all(v.get("ok", True) for v in subs_v.values()), "subtasks": subs_v})
    proposal = _read(task_dir / "proposal.json")
    if proposal is not None:
        _write(out / "proposal.json", proposal)
    _write(out / "search.json", record)
    _write(where / "search.json", record)
    return out


POLICIES = "policies"
"""Under the chosen task: SUB/ holds the chosen candidate's checkpoint.pt, best.pt and metrics.jsonl (the full
training continues them: `gen2sim train --warm-start CHOSEN/policies`) and its result.json."""
KEPT = ("checkpoint.pt", "best.pt", "metrics.jsonl")
"""What a training continues from."""


def _candidate_run(where: Path, name: str, c: dict[str, Any]) -> Path:
    """The run directory of candidate ``c`` (a record with its ``round``) of sub-task ``name``."""
    return where / name / f"round_{c['round']}" / "runs" / f"{name}-{c['idx']}"


def keep_policy(src: Path, dest: Path, names: tuple[str, ...] = (*KEPT, "result.json")) -> None:
    """Copy a sub-task's policy files ``names`` (those that exist) from training directory ``src`` to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in names:
        if (src / f).exists():
            shutil.copyfile(src / f, dest / f)


def _start_states(where: Path, task, k: int, picks: dict[str, dict[str, Any] | None]) -> Path | None:
    """Where stage ``k``'s candidates start: the successful end states (all of them when none succeeded) of the
    evaluation of the chosen candidate of stage k-1, written once to ``where/SUB/start_states.npy``; None for the
    first stage, or when stage k-1 was not searched (its own start states, then)."""
    import numpy as np

    if k == 0 or picks.get(task.subtasks[k - 1].name) is None:
        return None
    path = where / task.subtasks[k].name / "start_states.npy"
    if not path.exists():
        prev = task.subtasks[k - 1].name
        run = _candidate_run(where, prev, picks[prev]) / "subtasks" / prev
        states, ok = np.load(run / "end_states.npy"), np.load(run / "end_success.npy")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save_numpy(path, states[ok] if ok.any() else states)
    return path


def _merge_rounds(by_stage: dict[str, list[dict[str, Any]]], n: int) -> list[dict[str, Any]]:
    """Round R of every stage as one round: its sub-tasks, pass@k over all of them, the seconds they took."""
    from rlscope.passk import pass_at_k_curve

    out = []
    for r in range(1, n + 1):
        subs = {name: rounds[r - 1]["subtasks"][name] for name, rounds in by_stage.items() if len(rounds) >= r}
        sized = [s for s in subs.values() if s["n"]]
        out.append({"round": r, "subtasks": subs, "seconds": sum(rounds[r - 1]["seconds"] for rounds in by_stage.values()
                                                                  if len(rounds) >= r),
                    "passk": {str(k): v for k, v in pass_at_k_curve([s["n"] for s in sized], [s["c"] for s in sized]).items()}})
    return out


def _best(rs: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in rs["candidates"] if c["idx"] == rs["best"] and not c.get("baseline"))


def _short_steps(cfg: SearchConfig, ctx, sub, batch: int) -> int:
    """A candidate's training budget: ``--candidate-fraction`` of its sub-task's, at least one PPO batch."""
    return max(batch, int(cfg.candidate_fraction * (ctx.steps or sub.train_steps)))


def _run_round(r, rdir, task, searched, cfg, ctx, client, params, firsts, history, feedback, workers, batch, say,
               starts: Path | None = None) -> dict[str, Any]:
    """Plan (or read the plan of), validate, train and judge round ``r`` of the sub-tasks ``searched``, their
    candidates starting from ``starts`` (a .npy of states) or their own start states; writes ``round.json``."""
    from rlscope.gen2sim.pipeline import TrainTaskConfig, copy_task
    from rlscope.gen2sim.tasks.propose import validate_tasks
    from rlscope.gen2sim.tasks.reflect import round_feedback
    from rlscope.passk import pass_at_k_curve

    t0 = time.perf_counter()
    plan = _read(rdir / "plan.json")
    if plan is None:
        plan = {}
        for k in searched:
            sub = task.subtasks[k]
            if client is None:
                cands, note = _offline_round(sub, r, cfg.candidates, ctx.seed, history[sub.name])
                prompt = note + "\n"
            else:
                cands, messages = _llm_round(client, params, sub, firsts[sub.name], r, cfg.candidates, history[sub.name],
                                             feedback.get(sub.name))
                prompt = _render(messages)
                if r == 1:  # the proposed code beside the language model's candidates, on the same budget
                    cands.append({"idx": "base", "source": "proposed", "what": "the proposed code", "code": sub.code,
                                  "baseline": True})
            plan[sub.name] = {"candidates": cands, "prompt": prompt}
        _write(rdir / "plan.json", plan)
    names: dict[str, tuple[int, dict[str, Any]]] = {}
    for k in searched:
        sub = task.subtasks[k]
        atomic_write_text(rdir / f"prompt_{sub.name}.md", plan[sub.name]["prompt"])
        for c in plan[sub.name]["candidates"]:
            if c.get("code") is None:
                continue
            name = f"{sub.name}-{c['idx']}"
            names[name] = (k, c)
            tdir = rdir / "tasks" / name
            if not (tdir / "task.json").exists():
                one = dataclasses.replace(task.subtasks[k], code=c["code"], code_file="")
                copy_task(dataclasses.replace(task, task_id=f"{task.task_id}-{name}", subtasks=(one,)), tdir)
    verdicts = validate_tasks(rdir / "tasks", unsafe=ctx.unsafe, call_s=ctx.limits.call_s, wall_s=ctx.limits.check_s) \
        if names else {}
    jobs, slots = [], []
    for name, (k, c) in names.items():
        v = verdicts.get(name) or {}
        sv = (v.get("subtasks") or {}).get(task.subtasks[k].name) or {"ok": v.get("ok", False),
                                                                      "problems": [v.get("error", "not validated")]}
        c["validation"] = sv
        if not sv.get("ok"):
            continue
        sub = task.subtasks[k]
        run = rdir / "runs" / name
        if (run / "summary.json").exists():
            _results(c, run, sub.name, _read(run / "summary.json"))
            continue
        jobs.append(TrainTaskConfig(task=str(rdir / "tasks" / name), out=run, steps=_short_steps(cfg, ctx, sub, batch), seed=ctx.seed,
                                    episodes=cfg.candidate_episodes, nthread=1, video=False, report=False, unsafe=ctx.unsafe,
                                    progress=False, check=False, limits=ctx.limits, ppo=ctx.ppo, starts=starts))
        slots.append((name, c, sub))
    if jobs:
        where = " from the previous stage's end states" if starts is not None else ""
        pace = "Ray places them" if getattr(ctx, "ray", None) else f"{workers} at a time"
        say(f"  {', '.join(task.subtasks[k].name for k in searched)}: round {r}: training {len(jobs)} candidate(s){where}, {pace}")
    for (name, c, sub), summary in zip(slots, _train_jobs(jobs, ctx, workers, say)):
        _results(c, rdir / "runs" / name, sub.name, summary)
    result: dict[str, Any] = {"round": r, "subtasks": {}}
    for k in searched:
        sub = task.subtasks[k]
        cands = plan[sub.name]["candidates"]
        for c in cands:
            c.setdefault("validation", None)
        own = [c for c in cands if not c.get("baseline")]
        best = best_of(history[sub.name] + own)
        best_here = best_of(own)
        steps = _short_steps(cfg, ctx, sub, batch)
        text = round_feedback(sub.name, r, own, best, steps, sub.episode_steps)
        atomic_write_text(rdir / f"feedback_{sub.name}.md", text)
        result["subtasks"][sub.name] = {"candidates": cands, "best": best_here["idx"] if best_here else None,
                                        "prompt": plan[sub.name]["prompt"], "feedback": text,
                                        "steps": steps, **passk_over_candidates(own, cfg.success_at)}
    subs = list(result["subtasks"].values())
    result["passk"] = {str(k): v for k, v in pass_at_k_curve([s["n"] for s in subs if s["n"]],
                                                              [s["c"] for s in subs if s["n"]]).items()}
    result["seconds"] = time.perf_counter() - t0
    _write(rdir / "round.json", result)
    return result
