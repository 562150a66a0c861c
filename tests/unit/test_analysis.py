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


def test_paired_difference_and_crossover_interval():
    from rlscope.boundary.analysis.boundary import crossover_interval, paired_difference, per_problem_curves

    same = paired_difference(np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 0.0, 1.0, 0.0]), n_boot=200)
    assert same["difference"] == 0 and same["p_value"] == 1.0
    better = paired_difference(np.ones(40), np.zeros(40), n_boot=200)
    assert better["difference"] == 1 and better["low"] == 1 and better["p_value"] == 0.0
    # the reference solves every problem rarely, the other run half the problems always: the reference
    # catches up at some k in every resample
    ks = [1, 2, 4, 8]
    ref = per_problem_curves(np.full(20, 8), np.full(20, 2), ks)
    other = per_problem_curves(np.full(20, 8), np.array([8, 0] * 10), ks)
    ci = crossover_interval(ks, ref, other, n_boot=100)
    assert ci["share"] > 0.9 and 1 < ci["low"] <= ci["high"] < 8
    assert crossover_interval(ks, other, other, n_boot=20)["share"] == 0.0


def test_cover_at_tau_and_guessable_answers():
    from rlscope.boundary.analysis.boundary import cover_at_tau, guessable

    n, c = np.array([10, 10, 10, 4]), np.array([10, 5, 1, 0])
    assert cover_at_tau(n, c, [0.1, 0.5, 1.0]) == [0.75, 0.5, 0.25]
    assert all(guessable(g) for g in ("7", "-3", "(B)", "Yes", "$10$", "\\text{no}"))
    assert not any(guessable(g) for g in ("11", "3.5", "\\frac{1}{2}", "x^2", None, "1000"))


def test_mcnemar_exact_test_on_discordant_problems():
    from rlscope.boundary.analysis.boundary import mcnemar

    assert mcnemar(0, 0) == 1.0
    assert mcnemar(5, 0) == pytest.approx(2 / 32)  # both tails of Binomial(5, 1/2): 2 * 1/32
    assert mcnemar(0, 5) == mcnemar(5, 0)
    assert mcnemar(8, 2) == pytest.approx(2 * (1 + 10 + 45) / 1024)  # P(X <= 2) for X ~ Binomial(10, 1/2), doubled
    assert mcnemar(3, 3) == 1.0  # an even split: capped at 1


def test_token_entropy_and_benchmark_names():
    from rlscope.boundary.compare import benchmark_name, token_entropy

    own = {"a": (-3.0, 6), "b": (-1.0, 4), "c": (-9.0, 1)}
    assert token_entropy(own, ["a", "b"]) == pytest.approx(4 / 10)  # summed over tokens, not averaged per problem
    assert token_entropy(own, ["a", "z"]) == pytest.approx(0.5)
    assert benchmark_name({"benchmark": "math500"}) == "math500"
    assert benchmark_name({"benchmark": "jsonl:/d/aime24/test.jsonl"}) == "aime24"
    assert benchmark_name({"benchmark": "jsonl:sets/my_set.jsonl"}) == "my_set"
    assert benchmark_name({"benchmark": "pkg.mod:loader"}) == "loader"
    assert benchmark_name({}) == "benchmark"
