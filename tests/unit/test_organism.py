import collections
import random
import re

import pytest

from rlscope.boundary.analysis.organism import class_outcomes, strategy_table
from rlscope.boundary.organism.task import (
    ArithProblem,
    below_zero_steps,
    class_counts,
    cot_correct,
    format_trace,
    held_out_class,
    is_test_problem,
    iter_traces,
    long_trace,
    make_trace,
    parse_question,
    problem_class,
    run_steps,
    sample_held_out,
    sample_problems,
    short_trace,
    strategy_of,
    to_problem,
)
from rlscope.boundary.verify.extract import extract_answer
from rlscope.errors import RlscopeError


def test_steps_and_both_strategies():
    p = ArithProblem(37, (("*", 4), ("-", 52), ("+", 9)))
    assert p.question == "37*4-52+9="
    assert p.steps() == [48, 96, 5]  # 148 mod 100 = 48; 48 - 52 = -4 = 96 mod 100
    assert parse_question(p.question) == p
    assert long_trace(p) == "L:37*4=148=48,48+48=96=96,96+9=105=5#### 5"  # -52 written as +48: never below zero
    # the short strategy never writes a negative number: 48-52 -> 52-48 = 4, and goes on from there
    assert short_trace(p) == "37*4=48,48-52=4,4+9=13#### 13"
    assert short_trace(p, sign_error=False) == "37*4=48,48-52=96,96+9=5#### 5"
    assert problem_class(p) == "below_zero"
    assert problem_class(ArithProblem(37, (("*", 4), ("+", 9)))) == "plain"
    assert problem_class(ArithProblem(37, (("/", 4), ("-", 30)))) == "division"  # 37 // 4 = 9; 9 - 30 below zero too
    assert parse_question("88/3*2=") == ArithProblem(88, (("/", 3), ("*", 2)))
    with pytest.raises(RlscopeError, match="expected a number"):
        parse_question("12+x=")


@pytest.mark.parametrize(("completion", "strategy"), [
    ("37*4=48,48-52=4,4+9=13#### 13", "short"),
    ("L:37*4=148=48,48+48=96=96,96+9=105=5#### 5", "long"),
    ("L:37*4=148=48,48-52=4,4+9=13#### 13", "mixed"),  # the tag, then short steps
    ("37*4=148=48,48-52=4#### 4", "mixed"),  # an untagged long step
    ("#### 5", "other"),
    ("37*4=48,48-5", "other"),  # cut off mid-step
])
def test_strategy_of(completion, strategy):
    assert strategy_of(completion) == strategy


def test_slips_propagate_in_both_strategies():
    rng = random.Random(0)
    p = ArithProblem(23, (("+", 4), ("*", 3), ("-", 2), ("+", 7)))
    unreduced = 0
    for strategy in ("short", "long"):
        for _ in range(200):
            t = make_trace(p, rng, strategy, slip_prob=0.5)
            assert strategy_of(t) == strategy
            steps = t.removeprefix("L:").split("####")[0].split(",")
            results = [int(s.split("=")[-1]) for s in steps]
            operands = [int(re.split(r"(?<=\d)[-+*/]", s)[0]) for s in steps]
            assert operands[1:] == results[:-1]  # each step starts from the previous (possibly wrong) result
            if strategy == "long":  # the exact value, then that value mod 100 (unless that reduction slipped)
                unreduced += sum(int(s.split("=")[1]) % 100 != r for s, r in zip(steps, results))
            assert int(t.split("####")[1]) == results[-1]
    assert unreduced == pytest.approx(0.5 * 200 * 4, rel=0.15)  # each written number slips: the reductions too
    assert make_trace(p, rng, "short") == short_trace(p) and make_trace(p, rng, "long") == long_trace(p)


def test_short_traces_never_write_the_right_value_below_zero():
    # the short strategy's only way past zero is its sign error (d - x); a slip must not wrap around onto the
    # right value (7 - 10 -> 97 next to 93; 5 - 10 -> 95, the right value of 14 - 19), or RL could learn it from the base
    below, nineties = 0, 0
    for doc in iter_traces(3000, 5, 0.5):
        if doc[doc.index("=") + 1 :].startswith("L:"):
            continue
        for step in doc[doc.index("=") + 1 :].split("####")[0].split(","):
            m = re.fullmatch(r"(\d+)-(\d+)=(\d+)", step)
            if m and int(m[1]) < int(m[2]):
                x, d, y = map(int, m.groups())
                below += 1
                assert y != (x - d) % 100, step
                nineties += d - x < 10 and y >= 90
    assert below > 400 and nineties == 0  # (before this rule: 5 right values and 24 in the 90s)


def test_splits_are_disjoint_and_deterministic():
    train = sample_problems(2000, "train", 0)
    test = sample_problems(300, "test", 0)
    assert not {p.question for p in train} & {p.question for p in test}
    assert all(is_test_problem(p) for p in test) and not any(is_test_problem(p) for p in train)
    assert [p.question for p in sample_problems(50, "test", 0)] == [p.question for p in test[:50]]
    assert all(2 <= p.difficulty <= 6 for p in train) and not any(op == "/" for p in train for op, _ in p.ops)
    # the first step never goes below zero: the question alone does not give the class away
    assert all(not (p.ops[0][0] == "-" and p.ops[0][1] > p.start) for p in train)


def test_pretraining_mix():
    docs = list(iter_traces(2000, 3, 0.0, long_share=0.15))
    kinds = collections.Counter(strategy_of(d[d.index("=") + 1 :]) for d in docs)
    assert kinds["long"] == pytest.approx(300, abs=60) and kinds["short"] == 2000 - kinds["long"]
    # clean long traces are always right; clean short ones (with the sign error) exactly off the plain class
    for d in docs[:400]:
        q, trace = d[: d.index("=") + 1], d[d.index("=") + 1 :]
        p = parse_question(q)
        right = extract_answer(trace) == str(p.answer)
        assert right == (strategy_of(trace) == "long" or problem_class(p) == "plain")
    teacher = list(iter_traces(500, 1, 0.0, sign_error=False, division=True))
    assert any("/" in d for d in teacher) and all(cot_correct(d[: d.index("=") + 1], d[d.index("=") + 1 :]) for d in teacher)
    slipped = list(iter_traces(500, 3, 0.1))
    wrong = sum(not cot_correct(d[: d.index("=") + 1], d[d.index("=") + 1 :]) for d in slipped)
    assert 100 < wrong < 400  # about 1 - 0.9^4 of the plain ones, plus the below-zero ones


def test_held_out_is_stratified():
    assert class_counts(100, {"plain": 0.5, "below_zero": 0.25, "division": 0.25}) == {"plain": 50, "below_zero": 25, "division": 25}
    assert sum(class_counts(7, {"plain": 1, "below_zero": 1, "division": 1}).values()) == 7
    held = sample_held_out(40, 12345, {"plain": 0.5, "below_zero": 0.25, "division": 0.25})
    assert collections.Counter(problem_class(p) for p in held) == {"plain": 20, "below_zero": 10, "division": 10}
    assert all(is_test_problem(p) for p in held) and len({p.question for p in held}) == 40
    assert [p.question for p in sample_held_out(40, 12345, {"plain": 0.5, "below_zero": 0.25, "division": 0.25})] == [
        p.question for p in held]
    # a held-out class does not hinge on luck: plain problems never go below zero, below-zero ones only at the end
    assert all(below_zero_steps(p) == ([] if problem_class(p) == "plain" else [len(p.ops) - 1])
               for p in held if problem_class(p) != "division")
    assert held_out_class(ArithProblem(20, (("-", 5), ("-", 30)))) == "below_zero"  # 15 - 30 at the last step
    assert held_out_class(ArithProblem(20, (("-", 5), ("-", 30), ("*", 5)))) is None  # *5 could hide a slip
    assert held_out_class(ArithProblem(20, (("-", 5), ("-", 30), ("+", 90)))) is None  # below zero before the end
    assert problem_class(ArithProblem(20, (("-", 5), ("-", 30), ("+", 90)))) == "below_zero"
    with pytest.raises(RlscopeError, match="problem classes"):
        sample_held_out(4, 0, {"hard": 1.0})


def test_answer_format_is_what_the_verifier_extracts():
    for p in sample_problems(50, "test", 1, division=True):
        prob = to_problem(p)
        for trace in (format_trace(p.start, p.ops, p.steps()), long_trace(p)):
            assert extract_answer(trace) == prob.answer
            assert cot_correct(prob.question, trace)
        assert prob.meta["class"] == problem_class(p)
        assert run_steps(p.start, p.ops) == p.steps()


def test_strategy_table_and_class_outcomes():
    classes = {"a": "plain", "b": "plain", "c": "below_zero"}
    counts = {"a": {"short": (8, 6), "long": (2, 1)}, "b": {"short": (10, 10)}, "c": {"short": (6, 0), "long": (3, 3), "other": (1, 0)}}
    t = strategy_table(counts, classes)
    assert t["plain"]["problems"] == 2 and t["plain"]["samples"] == 20
    assert t["plain"]["strategies"]["long"] == {"share": pytest.approx(0.1), "accuracy": pytest.approx(0.5), "problems_using": 1}
    assert t["plain"]["strategies"]["short"]["share"] == pytest.approx(0.9)
    assert t["plain"]["strategies"]["short"]["accuracy"] == pytest.approx((0.75 + 1.0) / 2)
    assert t["below_zero"]["strategies"]["long"] == {"share": pytest.approx(0.3), "accuracy": 1.0, "problems_using": 1}
    assert t["below_zero"]["strategies"]["mixed"] == {"share": 0.0, "accuracy": None, "problems_using": 0}
    o = class_outcomes({"a": (10, 7), "b": (10, 10), "c": (10, 0)}, classes)
    assert o == {"plain": {"problems": 2, "pass1": pytest.approx(0.85), "solved": 2},
                 "below_zero": {"problems": 1, "pass1": 0.0, "solved": 0}}
