"""Analyses of the organism's samples themselves: correct-CoT counts, and which strategy each sample uses per
problem class (the mechanism behind the study's findings)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

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


def strategy_counts(run: Path) -> dict[str, dict[str, tuple[int, int]]]:
    """problem id -> strategy (short, long, mixed, other; :func:`rlscope.boundary.organism.task.strategy_of`) ->
    (samples written with it, correct ones), over a run's verified samples."""
    from rlscope.boundary.organism.task import strategy_of

    store = open_run(run)
    try:
        out: dict[str, dict[str, list[int]]] = {}
        for rec in store.iter_samples():
            if rec["correct"] is None:
                continue
            n_c = out.setdefault(rec["problem_id"], {}).setdefault(strategy_of(rec["completion"]), [0, 0])
            n_c[0] += 1
            n_c[1] += int(bool(rec["correct"]))
        return {p: {s: (n, c) for s, (n, c) in by.items()} for p, by in out.items()}
    finally:
        store.close()


def strategy_table(counts: Mapping[str, Mapping[str, tuple[int, int]]], classes: Mapping[str, str],
                   problems: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per problem class: its problems, samples, and per strategy the share of samples written with it and their
    accuracy; each problem weighs the same (shares and accuracies are means over the class's problems of the
    per-problem values; an accuracy is over the problems where the strategy was used at least once).

    ``counts``: problem -> strategy -> (n, c), as :func:`strategy_counts`; ``classes``: problem -> class.
    Returns class -> {"problems": P, "samples": N, "strategies": {strategy: {"share": s, "accuracy": a | None,
    "problems_using": U}}}.
    """
    from rlscope.boundary.organism.task import STRATEGIES

    keep = list(problems) if problems is not None else list(counts)
    out: dict[str, dict[str, Any]] = {}
    for cls in dict.fromkeys(classes[p] for p in keep if p in classes and p in counts):
        pids = [p for p in keep if classes.get(p) == cls and p in counts]
        totals = {p: sum(n for n, _ in counts[p].values()) for p in pids}
        strategies = {}
        for s in STRATEGIES:
            shares = [counts[p].get(s, (0, 0))[0] / totals[p] for p in pids if totals[p]]
            used = [p for p in pids if counts[p].get(s, (0, 0))[0]]
            accs = [counts[p][s][1] / counts[p][s][0] for p in used]
            strategies[s] = {"share": sum(shares) / len(shares) if shares else 0.0,
                             "accuracy": sum(accs) / len(accs) if accs else None, "problems_using": len(used)}
        out[cls] = {"problems": len(pids), "samples": sum(totals.values()), "strategies": strategies}
    return out


def class_outcomes(counts: Mapping[str, tuple[int, int]], classes: Mapping[str, str],
                   problems: Iterable[str] | None = None) -> dict[str, dict[str, float | int]]:
    """Per problem class: problems, mean accuracy (pass@1) and problems solved by at least one sample.

    ``counts``: problem -> (n, c); ``classes``: problem -> class.
    """
    keep = list(problems) if problems is not None else list(counts)
    out: dict[str, dict[str, float | int]] = {}
    for cls in dict.fromkeys(classes[p] for p in keep if p in classes and p in counts):
        pids = [p for p in keep if classes.get(p) == cls and p in counts]
        out[cls] = {"problems": len(pids),
                    "pass1": sum(counts[p][1] / counts[p][0] for p in pids) / len(pids),
                    "solved": sum(counts[p][1] > 0 for p in pids)}
    return out
