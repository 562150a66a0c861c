"""Reasoning-boundary analyses of two (or more) models' verified samples. Pure functions over counts.

Inputs are per-problem ``(n, c)``: samples drawn and samples correct, aligned on problem ids.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from rlscope.passk import bootstrap_ci, ks_for, pass_at_k


def align(a: dict[str, tuple[int, int]], b: dict[str, tuple[int, int]]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Problems present in both: ids, n_a, c_a, n_b, c_b (each (P,))."""
    ids = [p for p in a if p in b]
    arr = lambda d, j: np.array([d[p][j] for p in ids], dtype=np.int64)  # noqa: E731
    return ids, arr(a, 0), arr(a, 1), arr(b, 0), arr(b, 1)


def curve(n: np.ndarray, c: np.ndarray, ks: list[int]) -> list[float]:
    """Mean pass@k over problems for each k: (P,), (P,) -> (K,)."""
    return [float(np.mean(pass_at_k(n, c, k))) for k in ks]


def crossover_k(ks: list[int], base: list[float], rl: list[float]) -> float | None:
    """The k at which the base curve overtakes the RL curve, interpolated in log2 k (meeting at 1.0 is no crossing).

    Returns None when RL does not lead at k = ks[0] or the base never catches up within ``ks``.
    """
    diff = [b - r for b, r in zip(base, rl)]
    if not diff or diff[0] >= 0:
        return None
    for i in range(1, len(ks)):
        if diff[i] > 1e-12:
            x0, x1 = math.log2(ks[i - 1]), math.log2(ks[i])
            frac = -diff[i - 1] / (diff[i] - diff[i - 1])
            return float(2 ** (x0 + frac * (x1 - x0)))
    return None


def coverage(c_base: np.ndarray, c_rl: np.ndarray, ids: list[str]) -> dict[str, list[str]]:
    """Which problems each model solves at least once among its samples."""
    b, r = c_base > 0, c_rl > 0
    return {
        "both": [p for p, x, y in zip(ids, b, r) if x and y],
        "base_only": [p for p, x, y in zip(ids, b, r) if x and not y],
        "rl_only": [p for p, x, y in zip(ids, b, r) if y and not x],
        "neither": [p for p, x, y in zip(ids, b, r) if not x and not y],
    }


def accuracy_histogram(n: np.ndarray, c: np.ndarray, bins: int = 10) -> list[int]:
    """Counts of problems by per-problem accuracy c/n in ``bins`` equal bins over [0, 1]; exact 0 and 1 land
    in the first and last bin."""
    acc = c / np.maximum(n, 1)
    hist, _ = np.histogram(acc, bins=bins, range=(0.0, 1.0))
    return hist.tolist()


@dataclasses.dataclass
class Comparison:
    """Base vs one other model on the same problems."""

    name: str
    problems: int
    ks: list[int]
    base_curve: list[float]
    other_curve: list[float]
    base_ci: dict[int, tuple[float, float]]
    other_ci: dict[int, tuple[float, float]]
    crossover_k: float | None
    delta_se: float | None
    """Sampling-efficiency gap: base pass@K_max (256 where available) minus the other model's pass@1."""
    delta_se_k: int
    pass1_gain: float
    coverage: dict[str, list[str]]
    base_hist: list[int]
    other_hist: list[int]

    def summary(self) -> dict:
        d = dataclasses.asdict(self)
        d["coverage_counts"] = {k: len(v) for k, v in self.coverage.items()}
        return d


def compare(name: str, base: dict[str, tuple[int, int]], other: dict[str, tuple[int, int]], n_boot: int = 1000, seed: int = 0) -> Comparison:
    ids, nb, cb, no, co = align(base, other)
    if not ids:
        raise ValueError("the two runs share no problems")
    ks = ks_for(int(min(nb.min(), no.min())))
    bc, oc = curve(nb, cb, ks), curve(no, co, ks)
    k_se = 256 if 256 in ks else ks[-1]
    return Comparison(
        name=name,
        problems=len(ids),
        ks=ks,
        base_curve=bc,
        other_curve=oc,
        base_ci=bootstrap_ci(nb, cb, ks, n_boot=n_boot, seed=seed) if n_boot else {},
        other_ci=bootstrap_ci(no, co, ks, n_boot=n_boot, seed=seed) if n_boot else {},
        crossover_k=crossover_k(ks, bc, oc),
        delta_se=bc[ks.index(k_se)] - oc[0],
        delta_se_k=k_se,
        pass1_gain=oc[0] - bc[0],
        coverage=coverage(cb, co, ids),
        base_hist=accuracy_histogram(nb, cb),
        other_hist=accuracy_histogram(no, co),
    )


def per_problem_curves(n: np.ndarray, c: np.ndarray, ks: list[int]) -> np.ndarray:
    """Unbiased pass@k of every problem at every k: (P,), (P,) -> (K, P)."""
    return np.stack([np.asarray(pass_at_k(n, c, k), dtype=float) for k in ks])


def paired_difference(ref: np.ndarray, other: np.ndarray, n_boot: int = 1000, seed: int = 0,
                      alpha: float = 0.05) -> dict[str, float]:
    """Mean of ``ref - other`` over problems with a paired bootstrap over problems (the same resampled problems
    for both runs): (P,), (P,) -> {"difference", "low", "high", "p_value"} (two-sided, for a zero difference)."""
    d = np.asarray(ref, float) - np.asarray(other, float)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(len(d), size=(n_boot, len(d)))].mean(axis=1)
    p = 2 * min(float((means <= 0).mean()), float((means >= 0).mean()))
    return {"difference": float(d.mean()), "low": float(np.quantile(means, alpha / 2)),
            "high": float(np.quantile(means, 1 - alpha / 2)), "p_value": min(1.0, p)}


def crossover_interval(ks: list[int], ref: np.ndarray, other: np.ndarray, n_boot: int = 1000, seed: int = 0,
                       alpha: float = 0.05) -> dict[str, float | None]:
    """Bootstrap over problems of :func:`crossover_k` (the reference catching up with the other run):
    (K, P), (K, P) -> {"low", "high"} over the replicates that cross, and "share", the fraction that do."""
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(n_boot):
        idx = rng.integers(ref.shape[1], size=ref.shape[1])
        k = crossover_k(ks, ref[:, idx].mean(axis=1).tolist(), other[:, idx].mean(axis=1).tolist())
        if k is not None:
            found.append(k)
    if not found:
        return {"low": None, "high": None, "share": 0.0}
    return {"low": float(np.quantile(found, alpha / 2)), "high": float(np.quantile(found, 1 - alpha / 2)),
            "share": len(found) / n_boot}


def cover_at_tau(n: np.ndarray, c: np.ndarray, taus: list[float]) -> list[float]:
    """Cover@τ: the fraction of problems whose per-problem accuracy c/n is at least τ, for each τ (arXiv
    2510.08325): (P,), (P,) -> (T,). Unlike pass@k at large k it does not credit a problem solved by luck in
    one sample of many."""
    acc = np.asarray(c, float) / np.maximum(np.asarray(n, float), 1)
    return [float((acc >= t - 1e-12).mean()) for t in taus]


GUESSABLE_WORDS = frozenset({"yes", "no", "true", "false", "a", "b", "c", "d", "e"})
"""Gold answers a model can hit by guessing: yes/no, true/false, a multiple-choice letter."""


def guessable(gold: str | None, small: int = 10) -> bool:
    """Whether a gold answer lies in a small answer space: yes/no, a choice letter, or an integer of magnitude at
    most ``small`` (guessing among a dozen values solves such a problem within a few dozen samples)."""
    if gold is None:
        return False
    text = gold.strip().strip("$").strip().lower().removeprefix("\\text{").removesuffix("}").strip("() .")
    if text in GUESSABLE_WORDS:
        return True
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return False
    return value.is_integer() and abs(value) <= small


def mcnemar(only_ref: int, only_run: int) -> float:
    """Exact two-sided McNemar test of paired coverage (solved / not solved per problem by two runs): the
    p-value of a split at least this uneven of the ``only_ref + only_run`` discordant problems under a fair
    coin. 1.0 when no problem is discordant. Small p with ``only_ref > only_run``: the reference covers
    problems the run lost, beyond chance."""
    m, low = only_ref + only_run, min(only_ref, only_run)
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, i) for i in range(low + 1)) / 2 ** m
    return min(1.0, 2 * tail)
