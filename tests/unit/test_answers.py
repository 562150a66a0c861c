"""Per-problem answer view: distinct answers with counts and verdicts, and the flags that point at grader misses."""

import pytest

from rlscope.boundary.analysis.answers import answers_by_problem, loose_key, problem_answers


def _records(*groups):
    return [{"problem_id": "p", "gold": "10", "extracted": ans, "correct": ok} for ans, ok, n in groups for _ in range(n)]


def test_spellings_are_merged_and_ordered_by_frequency():
    res = problem_answers("p", "10", _records(("10", True, 2), (r"\boxed{10}", True, 1), ("11", False, 4), (None, False, 1)))
    assert [(a.answer, a.count, a.correct) for a in res.answers] == [("11", 4, 0), ("10", 3, 3), (None, 1, 0)]
    assert res.samples == 8 and res.flags == []


def test_a_frequent_wrong_answer_equal_to_the_gold_once_spelling_is_ignored_is_flagged():
    res = problem_answers("p", r"\text{Monday}", [{"extracted": "monday", "correct": False}] * 6
                          + [{"extracted": "Tuesday", "correct": False}] * 4)
    monday = res.answers[0]
    assert monday.likely_false_negative and not res.answers[1].likely_false_negative
    assert len(res.flags) == 1 and "6 of 10 samples answer 'monday'" in res.flags[0] and "likely false negative" in res.flags[0]


def test_a_rare_or_correct_lookalike_is_not_flagged():
    rare = problem_answers("p", "10", _records(("11", False, 30), (r"10\%", False, 1)))
    assert rare.flags == []
    judged_right = problem_answers("p", "10", _records((r"10\%", True, 5)))
    assert judged_right.flags == []


def test_problems_where_most_samples_have_no_answer_are_flagged():
    res = problem_answers("p", "10", _records((None, False, 5), ("10", True, 4)))
    assert res.flags == ["no answer could be extracted from 5 of 9 samples"]


@pytest.mark.parametrize("a, b", [(r"\text{ Monday }", "monday"), ("x = 5", "5"), (r"90^\circ", "90"), (r"10\%", "10"),
                                  (r"\left(1, 2\right)", "(1,2)")])
def test_loose_key_ignores_spelling(a, b):
    assert loose_key(a) == loose_key(b)


def test_loose_key_keeps_values_apart():
    assert loose_key("12") != loose_key("21") and loose_key("(1,2)") != loose_key("[1,2]")


def test_one_problem_or_all_in_order():
    recs = [{"problem_id": pid, "gold": "1", "extracted": "1", "correct": True} for pid in ("b", "a", "b")]
    assert [p.problem_id for p in answers_by_problem(recs)] == ["b", "a"]
    assert [p.samples for p in answers_by_problem(recs, "b")] == [2]
