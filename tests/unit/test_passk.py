import math
from fractions import Fraction

import numpy as np
import pytest

from rlscope.passk import bootstrap_ci, ks_for, pass_at_k, pass_at_k_brute, pass_at_k_curve


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 10])
def test_matches_brute_force_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(pass_at_k_brute(n, c, k), abs=1e-12), (n, c, k)


def exact(n, c, k):
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


def test_stable_at_n_1024_against_exact_rationals():
    n = 1024
    cs = np.array([0, 1, 2, 3, 10, 100, 500, 1000, 1023, 1024])
    for k in [1, 2, 16, 256, 512, 1000, 1024]:
        got = pass_at_k(n, cs, k)
        want = np.array([float(exact(n, int(c), k)) for c in cs])
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_vectorized_shapes_and_monotonicity():
    n = np.full(6, 64)
    c = np.array([0, 1, 4, 16, 63, 64])
    ks = ks_for(64)
    vals = np.stack([pass_at_k(n, c, k) for k in ks])  # (K, P)
    assert vals.shape == (len(ks), 6)
    assert np.all(np.diff(vals, axis=0) >= -1e-15)  # non-decreasing in k
    assert np.all(np.diff(vals, axis=1) >= -1e-15)  # non-decreasing in c
    assert vals[0, 0] == 0 and np.all(vals[:, -1] == 1)
    # mixed n per problem
    mixed = pass_at_k(np.array([4, 8, 16]), np.array([1, 1, 1]), 2)
    np.testing.assert_allclose(mixed, [pass_at_k_brute(4, 1, 2), pass_at_k_brute(8, 1, 2), 2 / 16])


def test_pass_at_1_is_the_mean_accuracy():
    rng = np.random.default_rng(0)
    c = rng.integers(0, 129, size=50)
    assert pass_at_k(128, c, 1) == pytest.approx(c / 128)


@pytest.mark.parametrize("n,c,k", [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_rejects_impossible_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_ks_and_curve():
    assert ks_for(1) == [1]
    assert ks_for(256) == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert ks_for(100)[-2:] == [64, 100]
    curve = pass_at_k_curve([8, 8], [0, 4])
    assert list(curve) == [1, 2, 4, 8]
    assert curve[1] == pytest.approx(0.25)
    assert curve[8] == pytest.approx(0.5)


def test_bootstrap_ci_brackets_the_estimate_and_narrows():
    rng = np.random.default_rng(1)
    small_c = rng.integers(0, 17, size=20)
    big_c = rng.integers(0, 17, size=2000)
    ks = [1, 4, 16]
    ci_small = bootstrap_ci(np.full(20, 16), small_c, ks, n_boot=500)
    ci_big = bootstrap_ci(np.full(2000, 16), big_c, ks, n_boot=500)
    for k in ks:
        est = float(np.mean(pass_at_k(16, small_c, k)))
        lo, hi = ci_small[k]
        assert lo <= est <= hi
        assert (ci_big[k][1] - ci_big[k][0]) < (hi - lo)
