"""What was extracted, per problem: each distinct answer with its count and verdict, and the problems whose
verdicts look systematically wrong. Pure functions over exported sample records.

A user reads this to spot what a grader misses: a frequent answer judged wrong that equals the gold once
spelling is ignored (a likely false negative of the verifier, or a gold written oddly), and problems where
most samples yield no answer at all (a prompt or extraction problem, not a model one).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from rlscope.boundary.verify.extract import normalize_answer

FREQUENT = 0.1
"""Share of a problem's samples from which an answer counts as frequent."""
MOSTLY_UNANSWERED = 0.5
"""Share of a problem's samples without an extracted answer from which the problem is flagged."""

_LOOSE_DROP_RE = re.compile(r"\\(?:text|mathrm|mbox|textbf|operatorname)\{([^{}]*)\}")
_LOOSE_STRIP_RE = re.compile(r"\\[,;:! ]|\\(?:left|right)|[\s{}$]|\^\\circ|\\%|%|\\\$")


def loose_key(answer: str) -> str:
    """A spelling-blind key: the verifier's normalization, then text wrappers, spacing, braces, degree and
    percent signs, a leading ``x =`` and case dropped. Equal keys with different verdicts are worth a look;
    the verifier does not apply this (it would accept ``10%`` for ``10``)."""
    s = normalize_answer(answer)
    s = _LOOSE_DROP_RE.sub(r"\1", s)
    s = _LOOSE_STRIP_RE.sub("", s)
    s = re.sub(r"^[A-Za-z](?:_\d)?=", "", s)
    return s.lower().rstrip(".")


@dataclasses.dataclass
class AnswerCount:
    """One distinct extracted answer of a problem (its spellings merged by normalization)."""

    answer: str | None
    """The most common spelling, or None for samples with no extracted answer."""
    count: int
    correct: int
    """How many of them were judged correct (spellings of one answer can differ in verdict only by a bug)."""
    likely_false_negative: bool = False
    """Judged wrong, frequent, and equal to the gold once spelling is ignored."""


@dataclasses.dataclass
class ProblemAnswers:
    problem_id: str
    gold: str | None
    samples: int
    answers: list[AnswerCount]
    """Most frequent first."""
    flags: list[str]
    """Human-readable reasons to look at this problem."""


def problem_answers(problem_id: str, gold: str | None, records: Iterable[Mapping[str, Any]]) -> ProblemAnswers:
    """Group one problem's samples (``extracted``, ``correct`` per record) by their normalized answer."""
    groups: dict[str, dict[str, Any]] = {}
    samples = 0
    for rec in records:
        samples += 1
        extracted = rec.get("extracted")
        key = "" if extracted is None else normalize_answer(extracted)
        g = groups.setdefault(key, {"spellings": {}, "count": 0, "correct": 0})
        g["count"] += 1
        g["correct"] += bool(rec.get("correct"))
        if extracted is not None:
            g["spellings"][extracted] = g["spellings"].get(extracted, 0) + 1
    gold_key = loose_key(gold) if gold else None
    answers = []
    for key, g in groups.items():
        answer = max(g["spellings"].items(), key=lambda kv: kv[1])[0] if key else None
        suspicious = (answer is not None and gold_key is not None and g["correct"] == 0
                      and g["count"] >= max(2, FREQUENT * samples) and loose_key(answer) == gold_key)
        answers.append(AnswerCount(answer, g["count"], g["correct"], suspicious))
    answers.sort(key=lambda a: (-a.count, a.answer is None, a.answer or ""))
    flags = [f"{a.count} of {samples} samples answer {a.answer!r}, judged wrong, but it equals the gold {gold!r} "
             "once spelling is ignored: a likely false negative" for a in answers if a.likely_false_negative]
    unanswered = sum(a.count for a in answers if a.answer is None)
    if samples and unanswered >= MOSTLY_UNANSWERED * samples:
        flags.append(f"no answer could be extracted from {unanswered} of {samples} samples")
    return ProblemAnswers(problem_id, gold, samples, answers, flags)


def answers_by_problem(records: Iterable[Mapping[str, Any]], problem: str | None = None) -> list[ProblemAnswers]:
    """:func:`problem_answers` for every problem of ``records`` (ordered as they come), or only ``problem``."""
    by_problem: dict[str, list[Mapping[str, Any]]] = {}
    gold: dict[str, str | None] = {}
    for rec in records:
        pid = rec["problem_id"]
        if problem is not None and pid != problem:
            continue
        by_problem.setdefault(pid, []).append(rec)
        gold[pid] = rec.get("gold")
    return [problem_answers(pid, gold[pid], recs) for pid, recs in by_problem.items()]


def collapsed(reference: list[Mapping[str, Any]], run: list[Mapping[str, Any]], share: float = 0.9) -> bool:
    """Whether a run collapsed onto one answer where the reference spread: its most frequent answer holds at least
    ``share`` of its samples while the reference gave two or more distinct answers. Each list holds a problem's
    answer clusters (``answer``, ``count``), most frequent first."""
    total = sum(a["count"] for a in run)
    return bool(run) and total > 0 and run[0]["count"] >= share * total and len(reference) >= 2


def answer_entropy(clusters: list[Mapping[str, Any]]) -> float:
    """Entropy (bits) of a problem's distribution over distinct extracted answers (no answer counts as one more
    outcome): 0 when every sample gives the same answer; an RL run that narrows its outputs lowers it."""
    import math

    counts = [a["count"] for a in clusters if a["count"] > 0]
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts) if total else 0.0
