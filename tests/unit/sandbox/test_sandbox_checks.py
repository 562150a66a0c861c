"""Strict comparison, and tests discovered then replayed outside the sandbox (no sandbox needed here)."""

from __future__ import annotations

import pytest

from rlscope.sandbox import codec
from rlscope.sandbox.checks import Call, CheckPlan, strict_equal


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        (1, 1, True),
        (1, True, False),
        (True, 1, False),
        (1.0, 1, False),
        (1, 1.0, False),
        (0.1 + 0.2, 0.30000000000000004, True),
        ("a", "a", True),
        ([1, 2], [1, 2], True),
        ([1, 2], (1, 2), False),
        ([1, 2], [1, 2.0], False),
        ([[1]], [[True]], False),
        ({"a": 1}, {"a": 1}, True),
        ({1: "a"}, {True: "a"}, False),
        ({"a": 1}, {"a": 1.0}, False),
        ({1, 2}, {1, 2}, True),
        ({1, 2}, {1.0, 2}, False),
        (frozenset({1}), {1}, False),
        (None, None, True),
        (None, 0, False),
        (float("nan"), float("nan"), False),
        (b"x", bytearray(b"x"), False),
    ],
)
def test_strict_equal(gold, pred, expected):
    assert strict_equal(pred, gold) is expected


CHECK = """
import math

def check(candidate):
    assert candidate(2) == 4
    assert abs(candidate(1.5) - 2.25) < 1e-9
    for x in range(3):
        assert candidate(x) == x * x, "wrong for " + str(candidate(x))
"""


def _replay(plan: CheckPlan, outputs: list[object]):
    calls = plan.discover()
    records = [{"out": codec.encode(o)} for o in outputs]
    return calls, plan.replay(calls, records)


def test_discovery_finds_every_call_without_enforcing_asserts():
    plan = CheckPlan(CHECK, "square")
    calls = plan.discover()
    assert [codec.decode(c.args) for c in calls] == [(2,), (1.5,), (0,), (1,), (2,)]


def test_replay_passes_correct_outputs():
    plan = CheckPlan(CHECK, "square")
    _, verdict = _replay(plan, [4, 2.25, 0, 1, 4])
    assert verdict.status == "pass"


@pytest.mark.parametrize("outputs", [[4, 2.25, 0, 1, 5], [4.0, 2.25, 0, 1, 4], [True, 2.25, 0, 1, 4], [4, "x", 0, 1, 4]])
def test_replay_fails_wrong_or_loosely_typed_outputs(outputs):
    plan = CheckPlan(CHECK, "square")
    _, verdict = _replay(plan, outputs)
    assert verdict.status == "fail", verdict


def test_assertion_messages_do_not_derail_the_replay():
    # the message calls the candidate again, off the recorded script
    plan = CheckPlan(CHECK, "square")
    _, verdict = _replay(plan, [4, 2.25, 0, 7, 4])
    assert verdict.status == "fail" and "test line" in verdict.detail


def test_a_raised_exception_is_an_error_with_its_traceback():
    plan = CheckPlan(CHECK, "square")
    calls = plan.discover()
    records = [{"exc": {"type": "ZeroDivisionError", "message": "boom", "traceback": "TB"}}] + [{"out": 0}] * 4
    verdict = plan.replay(calls, records)
    assert verdict.status == "error" and verdict.error == "TB" and "ZeroDivisionError" in verdict.detail


def test_calls_that_depend_on_outputs_are_rediscovered():
    test = "def check(candidate):\n    n = candidate(1)\n    assert candidate(n) == 3\n"
    plan = CheckPlan(test, "f")
    calls = plan.discover()
    assert len(calls) == 2  # the second argument is a placeholder at first
    verdict = plan.replay(calls, [{"out": 2}, {"out": 3}])
    assert verdict.status == "more"
    again = verdict.calls
    assert [codec.decode(c.args) for c in again] == [(1,), (2,)]
    assert plan.replay(again, [{"out": 2}, {"out": 3}]).status == "pass"


def test_asserts_style_and_context_helpers():
    context = "def helper(x):\n    return x + 1\n\ndef f(x):\n    '''stub'''\n"
    test = "assert f(helper(1)) == 4\nassert f(0) != 1\n"
    plan = CheckPlan(test, "f", context=context, style="asserts")
    calls, verdict = _replay(plan, [4, 0])
    assert [codec.decode(c.args) for c in calls] == [(2,), (0,)]
    assert verdict.status == "pass"
    assert _replay(plan, [4, 1])[1].status == "fail"


def test_seeded_random_inputs_repeat_between_discovery_and_replay():
    test = "import random\ndef check(candidate):\n    for _ in range(3):\n        x = random.randint(0, 10**6)\n        assert candidate(x) == x\n"
    plan = CheckPlan(test, "f")
    calls = plan.discover()
    outputs = [codec.decode(c.args)[0] for c in calls]
    assert plan.replay(calls, [{"out": o} for o in outputs]).status == "pass"


def test_a_test_using_an_undefined_name_is_a_harness_problem():
    plan = CheckPlan("def check(candidate):\n    assert candidate(1) == other_function(1)\n", "f")
    _, verdict = _replay(plan, [1])
    assert verdict.status == "harness"


def test_call_keys_tell_bool_from_int():
    assert Call.of((True,)).key != Call.of((1,)).key
    assert Call.of((1,)).key == Call.of([1]).key
    assert not Call.of((lambda: 1,)).portable()
