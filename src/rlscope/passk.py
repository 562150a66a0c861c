"""Unbiased pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code").

Pure numpy. For a problem with ``n`` samples of which ``c`` are correct,

    pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n - c + 1}^{n} (1 - k / i)

The product form avoids the huge binomials (stable at n = 1024 and beyond).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def pass_at_k(n: ArrayLike, c: ArrayLike, k: ArrayLike) -> NDArray[np.float64] | float:
    """Unbiased pass@k, broadcast over ``n``, ``c`` and ``k``.

    Parameters
    ----------
    n : int or (P,) int array
        Samples per problem.
    c : int or (P,) int array
        Correct samples per problem, ``0 <= c <= n``.
    k : int or array of int
        ``1 <= k <= n``.

    Returns
    -------
    float or array with the broadcast shape of ``(n, c, k)``.
    """
    n_arr, c_arr, k_arr = np.broadcast_arrays(
        np.asarray(n, dtype=np.int64), np.asarray(c, dtype=np.int64), np.asarray(k, dtype=np.int64)
    )
    if np.any(c_arr < 0) or np.any(c_arr > n_arr):
        raise ValueError("pass_at_k needs 0 <= c <= n")
    if np.any(k_arr < 1) or np.any(k_arr > n_arr):
        raise ValueError("pass_at_k needs 1 <= k <= n")
    flat_n, flat_c, flat_k = n_arr.ravel(), c_arr.ravel(), k_arr.ravel()
    out = np.empty(flat_n.shape, dtype=np.float64)
    for key in set(zip(flat_n.tolist(), flat_k.tolist())):
        nn, kk = key
        sel = (flat_n == nn) & (flat_k == kk)
        out[sel] = _pass_at_k_fixed(nn, kk, flat_c[sel])
    result = out.reshape(n_arr.shape)
    return float(result) if result.ndim == 0 else result


def _pass_at_k_fixed(n: int, k: int, c: NDArray[np.int64]) -> NDArray[np.float64]:
    """pass@k for one (n, k) over many ``c``: (P,) -> (P,).

    ``log(1 - pass@k) = sum_{i=n-c+1}^{n} log(1 - k/i)``, evaluated with a cumulative
    sum over ``i`` so the whole vector costs O(n + P).
    """
    i = np.arange(1, n + 1, dtype=np.float64)  # (n,)
    with np.errstate(divide="ignore"):
        terms = np.log1p(-np.minimum(k / i, 1.0))  # (n,), -inf where i <= k
    # tail[j] = sum of terms[i] for i in (n - j, n], j = 0..n
    tail = np.concatenate([[0.0], np.cumsum(terms[::-1])])  # (n + 1,)
    fail = np.exp(tail[c])  # probability that k draws (no replacement) miss every correct sample
    res = 1.0 - fail
    res[n - c < k] = 1.0
    return res


def pass_at_k_brute(n: int, c: int, k: int) -> float:
    """Reference: fraction of k-subsets of n samples that contain a correct one (small n only)."""
    from itertools import combinations

    samples = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    return sum(any(samples[j] for j in s) for s in subsets) / len(subsets)


def ks_for(n: int) -> list[int]:
    """Powers of two up to ``n``, plus ``n`` itself: 1, 2, 4, ..., n."""
    ks = [1 << p for p in range(0, max(n, 1).bit_length()) if (1 << p) <= n]
    if n not in ks:
        ks.append(n)
    return ks


def pass_at_k_curve(n: ArrayLike, c: ArrayLike, ks: list[int] | None = None) -> dict[int, float]:
    """Mean pass@k over problems for each k (problems with fewer than k samples are excluded)."""
    n_arr = np.asarray(n, dtype=np.int64)
    c_arr = np.asarray(c, dtype=np.int64)
    if n_arr.size == 0:
        return {}
    if ks is None:
        ks = ks_for(int(n_arr.min()))
    curve: dict[int, float] = {}
    for k in ks:
        ok = n_arr >= k
        if ok.any():
            curve[k] = float(np.mean(pass_at_k(n_arr[ok], c_arr[ok], k)))
    return curve


def bootstrap_ci(
    n: ArrayLike,
    c: ArrayLike,
    ks: list[int],
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[int, tuple[float, float]]:
    """Percentile bootstrap CI of mean pass@k, resampling problems with replacement.

    Parameters
    ----------
    n, c : (P,) int arrays
    ks : values of k (each <= min n)
    n_boot : bootstrap replicates
    alpha : 1 - confidence level

    Returns
    -------
    {k: (low, high)}
    """
    n_arr = np.asarray(n, dtype=np.int64)
    c_arr = np.asarray(c, dtype=np.int64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_arr.size, size=(n_boot, n_arr.size))  # (B, P)
    out: dict[int, tuple[float, float]] = {}
    for k in ks:
        per_problem = np.asarray(pass_at_k(n_arr, c_arr, k))  # (P,)
        means = per_problem[idx].mean(axis=1)  # (B,)
        lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
        out[k] = (float(lo), float(hi))
    return out
