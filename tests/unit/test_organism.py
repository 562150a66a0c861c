import random
import re

import pytest

from rlscope.boundary.organism.task import (
    ArithProblem,
    cot_correct,
    format_trace,
    is_test_problem,
    iter_traces,
    parse_question,
    run_steps,
    sample_problems,
    to_problem,
    trace_with_slip,
)
from rlscope.boundary.verify.extract import extract_answer


def test_steps_and_format():
    p = ArithProblem(37, (("*", 4), ("+", 9), ("-", 3)))
    assert p.question == "37*4+9-3="
    assert p.steps() == [48, 57, 54]  # 148 mod 100 = 48
    assert format_trace(p.start, p.ops, p.steps()) == "37*4=48,48+9=57,57-3=54#### 54"
    assert parse_question(p.question) == p
    assert run_steps(10, (("-", 9), ("-", 5))) == [1, 96]  # negative wraps mod 100


def test_slip_propagates_and_changes_the_answer():
    rng = random.Random(0)
    p = ArithProblem(23, (("+", 4), ("*", 3), ("-", 2), ("+", 7)))
    slipped = [t for t in (trace_with_slip(p, rng, 1.0) for _ in range(200))]
    for t in slipped:
        assert not cot_correct(p.question, t)
        steps = [int(x.split("=")[1]) for x in t.split("####")[0].split(",")]
        operands = [int(re.split(r"[-+*]", x)[0]) for x in t.split("####")[0].split(",")]
        assert operands[1:] == steps[:-1]  # each step starts from the previous (possibly wrong) result
        k = next(i for i, (a, b) in enumerate(zip(steps, p.steps())) if a != b)
        # later steps are computed correctly from the wrong value
        assert steps[k + 1 :] == run_steps(steps[k], p.ops[k + 1 :])
    clean = trace_with_slip(p, rng, 0.0)
    assert cot_correct(p.question, clean)


def test_splits_are_disjoint_and_deterministic():
    train = sample_problems(2000, "train", 0)
    test = sample_problems(300, "test", 0)
    assert not {p.question for p in train} & {p.question for p in test}
    assert all(is_test_problem(p) for p in test) and not any(is_test_problem(p) for p in train)
    assert [p.question for p in sample_problems(50, "test", 0)] == [p.question for p in test[:50]]
    docs = list(iter_traces(100, 3, 0.4))
    assert sum(not cot_correct(d[: d.index("=") + 1], d[d.index("=") + 1 :]) for d in docs) == pytest.approx(40, abs=15)


def test_answer_format_is_what_the_verifier_extracts():
    for p in sample_problems(50, "test", 1):
        prob = to_problem(p)
        trace = format_trace(p.start, p.ops, p.steps())
        assert extract_answer(trace) == prob.answer
        assert cot_correct(prob.question, trace)
