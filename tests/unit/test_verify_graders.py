"""Verification against a trusted grader's own test table: Math-Verify's cases (tests/data/README.md), each
prediction given to rlscope's verifier as a model completion."""

import json
import re
from pathlib import Path

import pytest

from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.verify.extract import extract_answer, normalize_answer
from rlscope.boundary.verify.fastpath import fast_check
from rlscope.boundary.verify.math import MathVerifier, check_pair

CASES = [json.loads(line) for line in (Path(__file__).resolve().parents[1] / "data" / "math_verify_cases.jsonl")
         .read_text(encoding="utf-8").splitlines()]


def gold_answer(gold: str) -> str:
    """A gold as a benchmark stores it: its boxed answer, or the content of its math delimiters."""
    if "\\boxed" in gold:
        return extract_answer(gold) or gold
    m = re.fullmatch(r"\s*\$+(.*?)\$+\s*\.?\s*", gold, re.S)
    return m.group(1) if m else gold


@pytest.fixture(scope="module")
def verdicts():
    with MathVerifier(workers=2, timeout_s=5.0) as v:
        return v.verify([(Problem(str(i), "", gold_answer(c["gold"])), c["pred"]) for i, c in enumerate(CASES)])


def test_agrees_with_math_verify_tests_with_no_false_accept(verdicts):
    assert len(CASES) == 231
    wrong = [(c["case"], c["gold"], c["pred"][-80:], v.extracted) for c, v in zip(CASES, verdicts) if v.correct != c["expected"]]
    false_accepts = [(c["case"], c["gold"], c["pred"][-80:]) for c, v in zip(CASES, verdicts) if v.correct and not c["expected"]]
    assert false_accepts == []
    assert 1 - len(wrong) / len(CASES) >= 0.98, wrong


def test_the_fast_path_agrees_with_math_verify_on_every_case():
    settled = 0
    for c in CASES:
        gold, answer = gold_answer(c["gold"]), extract_answer(c["pred"])
        if not answer:
            continue
        fast = fast_check(normalize_answer(gold), normalize_answer(answer))
        if fast is not None:
            settled += 1
            assert fast[0] == check_pair(gold, answer)[0], (c["case"], gold, answer, fast)
    assert settled >= 50
