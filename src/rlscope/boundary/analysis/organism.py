"""Analyses that read the samples themselves: correct-CoT counts and perplexity under the base model."""

from __future__ import annotations

import random
from pathlib import Path

from rlscope.boundary.runs import open_run


def cot_counts(run: Path) -> dict[str, tuple[int, int]]:
    """Per problem ``(n, c)`` where a sample counts only if its whole chain of thought is right.

    Answer-only pass@k at large k includes lucky hits (two slips cancel, products collide mod 100).
    """
    from rlscope.boundary.organism.task import cot_correct

    store = open_run(run)
    try:
        counts: dict[str, list[int]] = {}
        for rec in store.iter_samples():
            n_c = counts.setdefault(rec["problem_id"], [0, 0])
            n_c[0] += 1
            n_c[1] += int(bool(rec["correct"]) and cot_correct(rec["problem_id"], rec["completion"]))
        return {p: (n, c) for p, (n, c) in counts.items()}
    finally:
        store.close()


def perplexity_under(scorer_model: str, runs: dict[str, Path], samples: int, seed: int = 0) -> dict[str, dict[str, float]]:
    """Mean per-token NLL (and perplexity) of each run's answers under ``scorer_model``.

    A random subset of ``samples`` answers per run; the same problems' prompts are used as context.
    """
    import math

    from rlscope.llm.hf import HFSampler

    scorer = HFSampler(scorer_model, batch_size=256, threads=1)
    out: dict[str, dict[str, float]] = {}
    for name, run in runs.items():
        store = open_run(run)
        try:
            prompts = {fields["problem_id"]: prompt for fields, prompt in store.problems()}
            recs = list(store.iter_samples())
        finally:
            store.close()
        rng = random.Random(seed)
        pick = rng.sample(recs, min(samples, len(recs)))
        scores = scorer.score([prompts[r["problem_id"]] for r in pick], [r["completion"] for r in pick])
        total_lp = sum(s for s, _ in scores)
        total_tok = sum(t for _, t in scores)
        nll = -total_lp / max(total_tok, 1)
        correct = [s for s, r in zip(scores, pick) if r["correct"]]
        nll_correct = -sum(s for s, _ in correct) / max(sum(t for _, t in correct), 1) if correct else float("nan")
        out[name] = {"nll_per_token": nll, "perplexity": math.exp(nll), "nll_per_token_correct": nll_correct, "answers": len(pick)}
    return out
