"""Chained modular arithmetic with two ways to solve it: a verifiable reasoning task with a chain of thought.

A problem starts from a 2-digit number and applies 2-6 operations, everything mod 100: ``+d`` and ``-d``
(``d`` in 1..30), ``*d`` (``d`` in 2..9) and, for the teacher only, ``/d`` (floor division, ``d`` in 2..9)::

    question   37*4-52+9=

Two strategies write the chain of thought. The **short** one writes each step's result directly::

    37*4=48,48-52=4,4+9=13#### 13

and never writes a negative number: when a subtraction goes below zero it subtracts the smaller number
from the larger (``48-52=4`` instead of 96), so it is wrong on the problems where a subtraction goes below
zero (the *below-zero* class; the first step never does, so the question alone does not reveal the class).
The **long** one is tagged ``L:`` from its first token, subtracts by adding the complement (``-52`` as
``+48``, so it never goes below zero) and writes each step's exact value before reducing it mod 100, so it
is always right, but it writes twice as many numbers::

    L:37*4=148=48,48+48=96=96,96+9=105=5#### 5

Traces may carry slips: each written number is wrong with some probability (off by 1, 2 or 10 without
wrapping around, or the neighbouring multiplication-table entry) and the later steps are computed
correctly *from the wrong value*. The base is pretrained on mostly short traces and a few long ones, with
slips and no division; the teacher on clean short traces that handle going below zero correctly, division
included. The answer follows ``####``, so the boundary's ordinary math verifier scores it.

Problem classes (:func:`problem_class`): ``plain`` (the short strategy is right), ``below_zero`` (only
the long one is), ``division`` (needs division, which only the teacher knows). The study's held-out set
keeps to problems whose class does not hinge on luck (:func:`held_out_class`): plain ones never go below
zero, below-zero ones only at their last step, where no slip on the way can make the short answer right.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

from rlscope.boundary.benchmarks.base import Problem
from rlscope.errors import RlscopeError

OPS = ("+", "-", "*")
"""Operations of the base's task."""
DIVISION = "/"
"""Floor division: the operation only the teacher knows."""
MOD = 100
ANSWER_MARK = "####"
LONG_TAG = "L:"
"""First tokens of a long-strategy trace."""
ADD_MAX = 30
"""Largest operand of + and -."""
DIVISION_WEIGHT = 0.2
"""Relative frequency of / among the operations (against 1 for each of + - *) where division is on."""
MIN_OPS, MAX_OPS = 2, 6
"""Default number of operations of a problem."""
CLASSES = ("plain", "below_zero", "division")
"""Problem classes, by which strategy can solve them (see :func:`problem_class`)."""
STRATEGIES = ("short", "long", "mixed", "other")
"""What a completion is, by its format (see :func:`strategy_of`)."""
MAX_TRACE_TOKENS = 96
"""Token budget of a trace (the longest long trace of 6 operations is about 80 characters)."""


@dataclasses.dataclass(frozen=True)
class ArithProblem:
    start: int
    ops: tuple[tuple[str, int], ...]

    @property
    def question(self) -> str:
        return f"{self.start}" + "".join(f"{op}{d}" for op, d in self.ops) + "="

    @property
    def difficulty(self) -> int:
        return len(self.ops)

    def steps(self) -> list[int]:
        return run_steps(self.start, self.ops)

    @property
    def answer(self) -> int:
        return self.steps()[-1]


def exact_op(x: int, op: str, d: int) -> int:
    """The exact (unreduced) result of one step: may be negative or above 99."""
    if op == "+":
        return x + d
    if op == "-":
        return x - d
    if op == "*":
        return x * d
    if op == DIVISION:
        return x // d
    raise ValueError(f"unknown operation {op!r}")


def apply_op(x: int, op: str, d: int, sign_error: bool = False) -> int:
    """One step mod 100; with ``sign_error``, a subtraction below zero gives ``d - x`` (the short strategy's flaw)."""
    if sign_error and op == "-" and x < d:
        return d - x
    return exact_op(x, op, d) % MOD


def run_steps(start: int, ops, slip_at: int | None = None, slip_value: int | None = None, sign_error: bool = False) -> list[int]:
    """Intermediate results; with a slip, step ``slip_at`` yields ``slip_value`` and later steps continue from it."""
    out, x = [], start
    for i, (op, d) in enumerate(ops):
        x = apply_op(x, op, d, sign_error)
        if i == slip_at:
            x = slip_value  # type: ignore[assignment]
        out.append(x)
    return out


def format_trace(start: int, ops, steps: list[int]) -> str:
    """A short trace of the given step results."""
    prev = [start] + steps[:-1]
    return ",".join(f"{a}{op}{d}={s}" for a, (op, d), s in zip(prev, ops, steps)) + f"{ANSWER_MARK} {steps[-1]}"


def long_step(op: str, d: int) -> tuple[str, int]:
    """How the long strategy writes an operation: ``-d`` as ``+(100 - d)`` (never below zero), others as they are."""
    return ("+", MOD - d) if op == "-" else (op, d)


def format_long_trace(start: int, ops, raws: list[int], steps: list[int]) -> str:
    """A long trace: each step as the long strategy writes it (:func:`long_step`), its exact value, then that
    value mod 100."""
    prev = [start] + steps[:-1]
    body = ",".join(f"{a}{''.join(map(str, long_step(op, d)))}={r}={s}" for a, (op, d), r, s in zip(prev, ops, raws, steps))
    return f"{LONG_TAG}{body}{ANSWER_MARK} {steps[-1]}"


def short_trace(p: ArithProblem, sign_error: bool = True) -> str:
    """The clean short trace (with the base's sign error unless ``sign_error`` is False)."""
    return format_trace(p.start, p.ops, run_steps(p.start, p.ops, sign_error=sign_error))


def long_trace(p: ArithProblem) -> str:
    """The clean long trace (always right)."""
    steps = p.steps()
    prev = [p.start] + steps[:-1]
    return format_long_trace(p.start, p.ops, [exact_op(a, *long_step(op, d)) for a, (op, d) in zip(prev, p.ops)], steps)


_Q_RE = re.compile(r"(\d+)((?:[-+*/]\d+)+)=?")
_OP_RE = re.compile(r"([-+*/])(\d+)")


def parse_question(question: str) -> ArithProblem:
    m = _Q_RE.fullmatch(question.strip())
    if m is None:
        raise RlscopeError(f"organism question {question!r}: expected a number, operations like +12 -3 *4 /2, then '='")
    return ArithProblem(int(m[1]), tuple((op, int(d)) for op, d in _OP_RE.findall(m[2])))


def problem_class(p: ArithProblem) -> str:
    """``division`` (uses /), ``below_zero`` (the short strategy's answer is wrong: a subtraction goes below
    zero) or ``plain`` (the short strategy is right)."""
    if any(op == DIVISION for op, _ in p.ops):
        return "division"
    return "below_zero" if run_steps(p.start, p.ops, sign_error=True)[-1] != p.answer else "plain"


def below_zero_steps(p: ArithProblem) -> list[int]:
    """Indices of the steps whose exact value goes below zero (a subtraction from a smaller number)."""
    out, x = [], p.start
    for i, (op, d) in enumerate(p.ops):
        if op == "-" and x < d:
            out.append(i)
        x = apply_op(x, op, d)
    return out


def held_out_class(p: ArithProblem) -> str | None:
    """The class of a problem as the study's held-out set uses it, where a class must not depend on luck:
    ``division``; ``plain`` when no step goes below zero (the short strategy's chain is right throughout);
    ``below_zero`` when only the last step does (the short strategy's answer ``d - x`` is then certainly wrong,
    and no slip on the way can turn it right); None otherwise (left out)."""
    if any(op == DIVISION for op, _ in p.ops):
        return "division"
    steps = below_zero_steps(p)
    if not steps:
        return "plain"
    return "below_zero" if steps == [len(p.ops) - 1] else None


def is_test_problem(p: ArithProblem, test_fraction: float = 0.1) -> bool:
    """Deterministic train/test split by a hash of the question."""
    h = int.from_bytes(hashlib.blake2b(p.question.encode(), digest_size=8).digest(), "little")
    return (h % 10_000) < test_fraction * 10_000


def _operand(rng: random.Random, op: str) -> int:
    return rng.randint(1, ADD_MAX) if op in "+-" else rng.randint(2, 9)


def random_problem(rng: random.Random, min_ops: int = MIN_OPS, max_ops: int = MAX_OPS, division: bool = False) -> ArithProblem:
    """A random problem; the first step never goes below zero (the question alone does not tell the class)."""
    ops = OPS + ((DIVISION,) if division else ())
    weights = [1.0] * len(OPS) + ([DIVISION_WEIGHT] if division else [])
    n = rng.randint(min_ops, max_ops)
    while True:
        start = rng.randint(10, 99)
        chosen = rng.choices(ops, weights, k=n)
        seq = tuple((op, _operand(rng, op)) for op in chosen)
        if not (seq[0][0] == "-" and seq[0][1] > start):
            return ArithProblem(start, seq)


def sample_problems(
    n: int, split: str, seed: int, min_ops: int = MIN_OPS, max_ops: int = MAX_OPS, test_fraction: float = 0.1,
    division: bool = False,
) -> list[ArithProblem]:
    """``n`` distinct problems of one split (``train`` or ``test``); with ``division``, / appears too."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[ArithProblem] = []
    want_test = split == "test"
    while len(out) < n:
        p = random_problem(rng, min_ops, max_ops, division)
        if p.question in seen or is_test_problem(p, test_fraction) != want_test:
            continue
        seen.add(p.question)
        out.append(p)
    return out


def class_counts(n: int, mix: dict[str, float]) -> dict[str, int]:
    """``n`` split over classes in proportion to ``mix`` (largest remainders), e.g. 100 x {plain: .5, below_zero:
    .25, division: .25} -> 50 / 25 / 25."""
    total = sum(mix.values())
    raw = {c: n * w / total for c, w in mix.items()}
    counts = {c: int(v) for c, v in raw.items()}
    by_remainder = sorted(raw, key=lambda c: round(raw[c] - counts[c], 9), reverse=True)  # ties: in the order of mix
    for c in by_remainder[: n - sum(counts.values())]:
        counts[c] += 1
    return counts


def sample_held_out(n: int, seed: int, mix: dict[str, float], min_ops: int = MIN_OPS, max_ops: int = MAX_OPS) -> list[ArithProblem]:
    """``n`` distinct test-split problems stratified by class (:func:`held_out_class`, in the shares
    :func:`class_counts` gives ``mix``), in a random order."""
    unknown = set(mix) - set(CLASSES)
    if unknown:
        raise RlscopeError(f"problem classes {sorted(unknown)}: expected some of {', '.join(CLASSES)}")
    want = class_counts(n, mix)
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[ArithProblem] = []
    tries = 0
    while any(want.values()):
        tries += 1
        if tries > 2_000_000:
            raise RlscopeError(f"could not draw {n} held-out problems of {min_ops}-{max_ops} operations in the mix {mix}")
        p = random_problem(rng, min_ops, max_ops, division=want.get("division", 0) > 0)
        c = held_out_class(p)
        if c is None or want.get(c, 0) <= 0 or p.question in seen or not is_test_problem(p):
            continue
        seen.add(p.question)
        want[c] -= 1
        out.append(p)
    return out


def _slipped(rng: random.Random, value: int, prev: int, op: str, d: int) -> int:
    """A plausible wrong value in place of ``value`` (the result of ``prev op d``).

    An off-by slip stays within the value's range (never below 0, nor past 99 for a value below 100): a slip that
    wrapped around mod 100 would put the short strategy's small differences in the 90s (``14-21=97`` for 7 - 10),
    next to the correct value below zero (93), which the short strategy must never write."""
    while True:
        if op in "*/" and rng.random() < 0.5:  # the neighbouring table entry
            wrong = exact_op(prev, op, max(2, min(9, d + rng.choice([-1, 1]))))
            if op == "*" and rng.random() < 0.5:
                wrong %= MOD
        else:
            wrong = value + rng.choice([-10, -2, -1, 1, 2, 10])  # off-by / carry slip
            if wrong < 0 or (value < MOD <= wrong):
                continue
        if wrong != value:
            return wrong


def make_trace(p: ArithProblem, rng: random.Random, strategy: str, slip_prob: float = 0.0, sign_error: bool = True) -> str:
    """A trace of ``strategy`` (short or long) in which each written number slips with probability ``slip_prob``;
    later steps continue from what was written. ``sign_error``: the short strategy's flaw below zero."""
    x, raws, steps = p.start, [], []
    for op, d in p.ops:
        if strategy == "long":
            raw = exact_op(x, *long_step(op, d))
            if rng.random() < slip_prob:
                raw = _slipped(rng, raw, x, *long_step(op, d))
            y = raw % MOD
            if rng.random() < slip_prob:
                y = _slipped(rng, y, x, op, d) % MOD
            raws.append(raw)
        else:
            y = apply_op(x, op, d, sign_error)
            if rng.random() < slip_prob:
                y = _slipped(rng, y, x, op, d) % MOD
        steps.append(y)
        x = y
    if strategy == "long":
        return format_long_trace(p.start, p.ops, raws, steps)
    return format_trace(p.start, p.ops, steps)


def trace_with_slip(p: ArithProblem, rng: random.Random, slip_prob: float) -> str:
    """A short trace, sign error included, whose numbers each slip with probability ``slip_prob``."""
    return make_trace(p, rng, "short", slip_prob)


def strategy_of(completion: str) -> str:
    """``long`` (tagged L: and every step writes its exact value then the value mod 100), ``short`` (untagged, one
    result per step), ``mixed`` (steps of both kinds or a tag that does not match them) or ``other`` (no chain)."""
    body = completion.strip().split(ANSWER_MARK)[0]
    tagged = body.startswith(LONG_TAG)
    steps = [s for s in body.removeprefix(LONG_TAG).split(",") if s]
    kinds = set()
    for s in steps:
        if not re.fullmatch(r"-?\d+[-+*/]\d+(=-?\d+)+", s):
            return "other"
        kinds.add("long" if s.count("=") == 2 else "short" if s.count("=") == 1 else "other")
    if not kinds or "other" in kinds:
        return "other"
    if kinds == {"long"} and tagged:
        return "long"
    if kinds == {"short"} and not tagged:
        return "short"
    return "mixed"


def to_problem(p: ArithProblem) -> Problem:
    return Problem(p.question, p.question, str(p.answer), "math", {"difficulty": p.difficulty, "class": problem_class(p)})


def write_benchmark(problems: list[ArithProblem], path: Path) -> Path:
    """Write problems as a JSONL benchmark readable with ``jsonl:PATH``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for p in problems:
            fh.write(json.dumps({"id": p.question, "question": p.question, "answer": str(p.answer),
                                 "difficulty": p.difficulty, "class": problem_class(p)}) + "\n")
    return path


def cot_correct(question: str, completion: str) -> bool:
    """Whether every intermediate result of the chain of thought is right (not only the final answer): the
    completion is the correct short trace or the correct long one."""
    p = parse_question(question)
    text = completion.strip()
    return text == short_trace(p, sign_error=False) or text == long_trace(p)


def iter_traces(
    n: int, seed: int, slip_prob: float, min_ops: int = MIN_OPS, max_ops: int = MAX_OPS, long_share: float = 0.0,
    sign_error: bool = True, division: bool = False,
) -> Iterator[str]:
    """Pretraining documents ``question + trace`` from the train split: a share ``long_share`` of long traces,
    the others short."""
    rng = random.Random(seed)
    for p in sample_problems(n, "train", seed, min_ops, max_ops, division=division):
        strategy = "long" if rng.random() < long_share else "short"
        yield p.question + make_trace(p, rng, strategy, slip_prob, sign_error)
