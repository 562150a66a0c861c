import numpy as np
import pytest

from rlscope.boundary.analysis.boundary import accuracy_histogram, compare, coverage, crossover_k


def test_crossover_interpolates_in_log_k():
    ks = [1, 2, 4, 8]
    assert crossover_k(ks, [0.2, 0.4, 0.7, 0.9], [0.5, 0.6, 0.7, 0.75]) == pytest.approx(4.0)
    # between k=2 (diff -.2) and k=4 (diff +.2): halfway in log2 -> 2**1.5
    assert crossover_k(ks, [0.2, 0.4, 0.8, 0.9], [0.5, 0.6, 0.6, 0.7]) == pytest.approx(2**1.5)
    assert crossover_k(ks, [0.5, 0.6, 0.7, 0.8], [0.4, 0.5, 0.6, 0.7]) is None  # RL never leads
    assert crossover_k(ks, [0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]) is None  # base never catches up


def test_coverage_and_histogram():
    cov = coverage(np.array([0, 3, 1, 0]), np.array([0, 5, 0, 2]), ["a", "b", "c", "d"])
    assert cov == {"both": ["b"], "base_only": ["c"], "rl_only": ["d"], "neither": ["a"]}
    assert accuracy_histogram(np.array([10, 10, 10, 10]), np.array([0, 10, 5, 1]), bins=10) == [1, 1, 0, 0, 0, 1, 0, 0, 0, 1]


def test_compare_reports_the_boundary_phenomenon():
    # base: moderate accuracy everywhere (wide coverage); RL: sharp on most, dead on a few
    base = {f"p{i}": (256, 100) for i in range(10)}
    rl = {f"p{i}": (256, 250 if i < 8 else 0) for i in range(10)}
    cmp = compare("rl", base, rl, n_boot=100)
    assert cmp.pass1_gain == pytest.approx(0.8 * 250 / 256 - 100 / 256)
    assert cmp.crossover_k is not None and 1 < cmp.crossover_k < 8
    assert cmp.delta_se_k == 256
    assert cmp.delta_se == pytest.approx(1.0 - 0.8 * 250 / 256)
    assert cmp.summary()["coverage_counts"] == {"both": 8, "base_only": 2, "rl_only": 0, "neither": 0}
