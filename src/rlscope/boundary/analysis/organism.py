"""Analyses of the organism's samples themselves: correct-CoT counts."""

from __future__ import annotations

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
