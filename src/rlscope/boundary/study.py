"""The reasoning-boundary study end to end on the model organism.

base -> RL variants (checkpoints over steps) + distilled -> sample n answers per held-out
problem -> verify -> answers scored under the base (`rlscope boundary perplexity`) -> every run
compared with the base (`rlscope boundary compare`: pass@k, crossover, ΔSE, coverage, histograms,
perplexity, answer collapse) + correct-CoT pass@k + per problem class the outcome and the strategy
each sample uses (the mechanism) + each finding checked per seed with its interval or test -> report
(JSON + Markdown + HTML): the study's sections first, then the first seed's comparison page.

The held-out problems are stratified by class (:func:`rlscope.boundary.organism.task.held_out_class`):
plain (the short strategy is right), below zero (only the long strategy is) and division (only the
teacher knows it). Every stage is resumable (training checkpoints, sampling and verification stores).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import multiprocessing
import time
from pathlib import Path
from typing import Annotated

import tyro

from rlscope.boundary.organism.shipped import shipped_model
from rlscope.config import atomic_write_text, write_manifest

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """`rlscope boundary study`: reproduce the reasoning-boundary findings on the model organism."""

    out: Path = Path("runs/study")
    """Study directory (resumable: finished stages are skipped)."""
    base: str = "shipped:base"
    """Base model: an HF folder, or shipped:base (pretrained by `rlscope boundary pretrain`)."""
    teacher: str = "shipped:teacher"
    """Stronger model for the distillation comparison (shipped:teacher, a folder, or 'none')."""
    algos: tuple[str, ...] = ("grpo",)
    """RL algorithms to train from the base (grpo dr_grpo ppo rloo reinforce_pp remax dapo, or all)."""
    rl_steps: int = 100
    """RL steps per algorithm."""
    checkpoints: tuple[int, ...] = (10, 50, 100)
    """RL steps whose checkpoints are evaluated (pass@k over steps)."""
    rl_lr: float = 2e-4
    """RL learning rate."""
    kl_coef: float = 0.1
    """KL penalty to the base during RL (k3, on every token; 0 turns it off). The findings in docs/organism.md were
    measured with 0.1 on seeds 0, 1 and 2."""
    rl_temperature: float = 1.0
    """Sampling temperature of RL's rollouts (evaluation samples at --temperature)."""
    distill_steps: int = 150
    """SFT steps of the base on the teacher's answers (0: skip distillation)."""
    problems: int = 200
    """Held-out test problems (the findings in docs/organism.md were measured on 200)."""
    below_zero_share: float = 0.5
    """Share of held-out problems on which the short strategy is wrong (the last subtraction goes below zero)."""
    division_share: float = 0.15
    """Share of held-out problems that use division, which only the teacher knows (0 without a teacher)."""
    min_ops: int = 2
    """Fewest operations of a held-out problem."""
    max_ops: int = 6
    """Most operations of a held-out problem."""
    n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 256
    """Samples per problem (k up to n)."""
    temperature: float = 1.0
    """Evaluation sampling temperature."""
    seeds: tuple[int, ...] = (0,)
    """Seeds; with several, RL, sampling and the analyses are repeated and their spread reported."""
    workers: int = 2
    """Parallel sampling processes (one torch thread each)."""
    perplexity_samples: int = 1024
    """Answers per model scored under the base for the perplexity analysis (the first ones of each problem)."""
    progress: bool = True
    """Show progress bars."""


def _sample_and_verify(model: str, bench: str, run: Path, n: int, temperature: float, seed: int, progress: bool) -> dict:
    """One model's evaluation (runs in a worker process)."""
    import torch

    torch.set_num_threads(1)
    from rlscope.boundary.config import SampleConfig, VerifyConfig
    from rlscope.boundary.organism.task import MAX_TRACE_TOKENS
    from rlscope.boundary.runs import open_run
    from rlscope.boundary.sample import run_sample
    from rlscope.boundary.verify.run import run_verify

    run_sample(
        SampleConfig(
            model=model, benchmark=bench, run=run, n=n, template="organism", temperature=temperature, top_p=1.0,
            max_new_tokens=MAX_TRACE_TOKENS, seed=seed, batch_size=256, threads=1, progress=progress,
        )
    )
    run_verify(VerifyConfig(run=run, workers=1, progress=False))
    store = open_run(run)
    try:
        return store.correct_counts()
    finally:
        store.close()


def _parallel(jobs: list[tuple], workers: int) -> list:
    if workers <= 1 or len(jobs) <= 1:
        return [_sample_and_verify(*j) for j in jobs]
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(pool.map(_sample_and_verify, *zip(*jobs)))


BUILT_IN_ALGORITHMS = ("grpo", "dr_grpo", "ppo", "rloo", "reinforce_pp", "remax", "dapo")
"""The RL algorithms of `--algos all`, in the order of the report's table (then any others registered)."""


def algorithms(names: tuple[str, ...]) -> list[str]:
    """The RL algorithms to train: ``all`` means every registered one (the paper's algorithm comparison)."""
    from rlscope.boundary.rl.algorithms import ALGORITHMS, get_algorithm

    get_algorithm("grpo")  # registers the built-in ones
    every = [*BUILT_IN_ALGORITHMS, *(a for a in ALGORITHMS.names() if a not in BUILT_IN_ALGORITHMS)]
    out: list[str] = []
    for name in names:
        for algo in every if name == "all" else [name]:
            if algo not in out:
                out.append(algo)
    return out


def held_out_mix(cfg: StudyConfig, with_teacher: bool) -> dict[str, float]:
    """The held-out set's class shares (division only when there is a teacher to learn it from)."""
    from rlscope.errors import RlscopeError

    div = cfg.division_share if with_teacher else 0.0
    for name, v in (("--below-zero-share", cfg.below_zero_share), ("--division-share", cfg.division_share)):
        if not 0.0 <= v <= 1.0:
            raise RlscopeError(f"{name} {v}: expected a share between 0 and 1")
    if cfg.below_zero_share + div > 1.0:
        raise RlscopeError(f"--below-zero-share {cfg.below_zero_share} + --division-share {div}: expected at most 1 together")
    mix = {"plain": 1.0 - cfg.below_zero_share - div, "below_zero": cfg.below_zero_share, "division": div}
    return {c: w for c, w in mix.items() if w > 0}


def run_study(cfg: StudyConfig) -> dict:
    from rlscope.boundary.analysis.boundary import compare
    from rlscope.boundary.analysis.organism import class_outcomes, cot_counts, strategy_counts, strategy_table
    from rlscope.boundary.compare import CompareConfig, build_comparison
    from rlscope.boundary.organism.distill import DistillConfig, distill
    from rlscope.boundary.organism.task import problem_class, sample_held_out, write_benchmark
    from rlscope.boundary.rl.trainer import RLConfig, train
    from rlscope.report.study import seed_checks, write_report

    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, "study", cfg)
    base = shipped_model(cfg.base)
    teacher = shipped_model(cfg.teacher) if cfg.teacher != "none" else None
    if not 1 <= cfg.min_ops <= cfg.max_ops:
        from rlscope.errors import RlscopeError

        raise RlscopeError(f"--min-ops {cfg.min_ops} / --max-ops {cfg.max_ops}: expected 1 <= min_ops <= max_ops")
    mix = held_out_mix(cfg, teacher is not None and cfg.distill_steps > 0)
    algos = algorithms(cfg.algos)
    held_out = sample_held_out(cfg.problems, seed=12345, mix=mix, min_ops=cfg.min_ops, max_ops=cfg.max_ops)
    classes = {p.question: problem_class(p) for p in held_out}
    bench_path = write_benchmark(held_out, out / "organism.jsonl")
    bench = f"jsonl:{bench_path}"
    timings: dict[str, float] = {}
    per_seed: list[dict] = []
    pages: list[tuple[dict, dict]] = []  # the first seed's drill-downs and scores, for the report
    for seed in cfg.seeds:
        sdir = out / f"seed{seed}"
        models: dict[str, str] = {"base": base}
        for algo in algos:
            t = time.perf_counter()
            rl_out = sdir / "rl" / algo
            train(
                RLConfig(
                    model=base, out=rl_out, algo=algo, steps=cfg.rl_steps, save_steps=tuple(cfg.checkpoints),
                    lr=cfg.rl_lr, kl_coef=cfg.kl_coef, temperature=cfg.rl_temperature, seed=seed, threads=max(1, cfg.workers), progress=cfg.progress,
                )
            )
            for step in cfg.checkpoints:
                models[f"{algo}@{step}"] = str(rl_out / f"step_{step}")
            dt = time.perf_counter() - t
            timings["rl_s"] = timings.get("rl_s", 0) + dt
            if len(algos) > 1:
                timings[f"rl_{algo}_s"] = timings.get(f"rl_{algo}_s", 0) + dt
        if teacher is not None and cfg.distill_steps > 0:
            t = time.perf_counter()
            dist_out = sdir / "distilled"
            if not (dist_out / "config.json").exists():
                distill(DistillConfig(student=base, teacher=teacher, out=dist_out, steps=cfg.distill_steps, seed=seed, threads=max(1, cfg.workers)))
            models["distilled"] = str(dist_out)
            timings["distill_s"] = timings.get("distill_s", 0) + time.perf_counter() - t
        t = time.perf_counter()
        names = list(models)
        runs = {m: sdir / "runs" / m.replace("@", "_step") for m in names}
        jobs = [(models[m], bench, runs[m], cfg.n, cfg.temperature, seed, False) for m in names]
        counts = dict(zip(names, _parallel(jobs, cfg.workers)))
        timings["sample_verify_s"] = timings.get("sample_verify_s", 0) + time.perf_counter() - t
        t = time.perf_counter()
        _score_under(base, [runs[m] for m in names], -(-cfg.perplexity_samples // cfg.problems))
        cmp, drills, nlls = build_comparison(CompareConfig(runs=tuple(runs[m] for m in names), labels=tuple(names),
                                                           report=sdir / "compare", seed=seed, html=False))
        cot = {m: cot_counts(runs[m]) for m in names}
        cot_cmp = {m: compare(m + " (correct CoT)", cot["base"], cot[m], n_boot=0).summary() for m in names if m != "base"}
        strategies = {m: strategy_table(strategy_counts(runs[m]), classes) for m in names}
        by_class = {m: class_outcomes(counts[m], classes) for m in names}
        seed_result = {"seed": seed, "models": models, "compare": cmp, "cot_comparisons": cot_cmp,
                       "strategies": strategies, "classes": by_class}
        seed_result["checks"] = seed_checks(seed_result, counts, seed=seed)
        timings["analysis_s"] = timings.get("analysis_s", 0) + time.perf_counter() - t
        per_seed.append(seed_result)
        if not pages:
            pages.append((drills, nlls))
    result = {"config": dataclasses.asdict(cfg) | {"out": str(cfg.out)}, "held_out": {"mix": mix, "classes": classes},
              "algorithms": algos, "seeds": per_seed, "timings": timings}
    atomic_write_text(out / "study.json", json.dumps(result, indent=2, default=str) + "\n")
    result["report"] = write_report(result, *pages[0], out)
    return result


def _score_under(model: str, runs: list[Path], per_problem: int) -> None:
    """Score the first ``per_problem`` samples of each problem of each run under ``model``, stored with the runs as
    "base" (resumable; `compare` reads them)."""
    from rlscope.boundary.perplexity import PerplexityConfig, score_run

    for run in runs:
        score_run(PerplexityConfig(run=run, scorer=model, name="base", limit=per_problem, batch_size=64, progress=False))
