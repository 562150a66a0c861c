"""Chained modular arithmetic: a verifiable reasoning task with a chain of thought.

A problem starts from a 2-digit number and applies 1-8 operations ``+d``, ``-d``, ``*d``
(``d`` in 1..9), everything mod 100::

    question   37*4+9-3=
    trace      37*4=48,48+9=57,57-3=54#### 54

The trace writes every step out with its operand and result (each step only needs what is right
before it, plus the next operation of the question), then gives the answer after ``####`` (which
the boundary's math verifier extracts). A blind guess is right about 1% of the time.
Imperfect traces carry one arithmetic slip: one intermediate result is wrong and the later
steps are computed correctly *from the wrong value*, so the final answer is wrong too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path

from rlscope.boundary.benchmarks.base import Problem

OPS = ("+", "-", "*")
MOD = 100
ANSWER_MARK = "####"


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


def apply_op(x: int, op: str, d: int) -> int:
    if op == "+":
        return (x + d) % MOD
    if op == "-":
        return (x - d) % MOD
    return (x * d) % MOD


def run_steps(start: int, ops, slip_at: int | None = None, slip_value: int | None = None) -> list[int]:
    """Intermediate results; with a slip, step ``slip_at`` yields ``slip_value`` and later steps continue from it."""
    out, x = [], start
    for i, (op, d) in enumerate(ops):
        x = apply_op(x, op, d)
        if i == slip_at:
            x = slip_value  # type: ignore[assignment]
        out.append(x)
    return out


def format_trace(start: int, ops, steps: list[int]) -> str:
    prev = [start] + steps[:-1]
    return ",".join(f"{a}{op}{d}={s}" for a, (op, d), s in zip(prev, ops, steps)) + f"{ANSWER_MARK} {steps[-1]}"


def parse_question(question: str) -> ArithProblem:
    q = question.strip().rstrip("=")
    i = 0
    while i < len(q) and q[i].isdigit():
        i += 1
    start, ops = int(q[:i]), []
    while i < len(q):
        ops.append((q[i], int(q[i + 1])))
        i += 2
    return ArithProblem(start, tuple(ops))


def is_test_problem(p: ArithProblem, test_fraction: float = 0.1) -> bool:
    """Deterministic train/test split by a hash of the question."""
    h = int.from_bytes(hashlib.blake2b(p.question.encode(), digest_size=8).digest(), "little")
    return (h % 10_000) < test_fraction * 10_000


def random_problem(rng: random.Random, min_ops: int = 1, max_ops: int = 8) -> ArithProblem:
    n = rng.randint(min_ops, max_ops)
    return ArithProblem(rng.randint(10, 99), tuple((rng.choice(OPS), rng.randint(1, 9)) for _ in range(n)))


def sample_problems(
    n: int, split: str, seed: int, min_ops: int = 1, max_ops: int = 8, test_fraction: float = 0.1
) -> list[ArithProblem]:
    """``n`` distinct problems of one split (``train`` or ``test``)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[ArithProblem] = []
    want_test = split == "test"
    while len(out) < n:
        p = random_problem(rng, min_ops, max_ops)
        if p.question in seen or is_test_problem(p, test_fraction) != want_test:
            continue
        seen.add(p.question)
        out.append(p)
    return out


def trace_with_slip(p: ArithProblem, rng: random.Random, slip_prob: float) -> str:
    """A trace; with probability ``slip_prob`` one step's result is wrong (a plausible confusion)."""
    if rng.random() >= slip_prob:
        return format_trace(p.start, p.ops, p.steps())
    k = rng.randrange(len(p.ops))
    truth = run_steps(p.start, p.ops)[k]
    wrong = truth
    while wrong == truth:
        kind = rng.random()
        if kind < 0.5:
            wrong = (truth + rng.choice([-10, -2, -1, 1, 2, 10])) % MOD  # off-by / carry slip
        else:
            prev = p.start if k == 0 else run_steps(p.start, p.ops)[k - 1]
            op, d = p.ops[k]
            wrong = apply_op(prev, op, max(1, min(9, d + rng.choice([-1, 1]))))  # neighbouring table entry
    return format_trace(p.start, p.ops, run_steps(p.start, p.ops, slip_at=k, slip_value=wrong))


def to_problem(p: ArithProblem) -> Problem:
    return Problem(p.question, p.question, str(p.answer), "math", {"difficulty": p.difficulty})


def write_benchmark(problems: list[ArithProblem], path: Path) -> Path:
    """Write problems as a JSONL benchmark readable with ``jsonl:PATH``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for p in problems:
            fh.write(json.dumps({"id": p.question, "question": p.question, "answer": str(p.answer), "difficulty": p.difficulty}) + "\n")
    return path


def cot_correct(question: str, completion: str) -> bool:
    """Whether every intermediate result of the chain of thought is right (not only the final answer)."""
    p = parse_question(question)
    return completion.strip() == format_trace(p.start, p.ops, p.steps())


def iter_traces(n: int, seed: int, slip_prob: float, min_ops: int = 1, max_ops: int = 8) -> Iterator[str]:
    """Pretraining documents ``question + trace`` from the train split."""
    rng = random.Random(seed)
    for p in sample_problems(n, "train", seed, min_ops, max_ops):
        yield p.question + trace_with_slip(p, rng, slip_prob)
