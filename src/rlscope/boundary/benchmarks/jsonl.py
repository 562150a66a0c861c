"""Any JSONL file as a benchmark: ``jsonl:PATH`` with a field mapping.

Each line is one JSON object. By default the question is in ``question``, the gold answer in
``answer`` and the id in the first of ``id``, ``idx``, ``unique_id``, ``task_id`` (else the
0-based line number). ``fields={"question": "problem", "answer": "target", "id": "uid"}``
names other columns. Every other column goes to ``Problem.meta`` as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, get_args

from rlscope.boundary.benchmarks.base import Kind, Problem
from rlscope.boundary.benchmarks.sources import (
    ID_COLUMNS,
    Where,
    check_fields,
    columns,
    first_column,
    number_text,
    problem_id,
    read_jsonl,
    resolve_data_file,
    text_field,
)
from rlscope.errors import RlscopeError

logger = logging.getLogger(__name__)

__all__ = ["PREFIX", "load_jsonl"]

PREFIX = "jsonl:"
"""Benchmark names starting with this are paths to a JSONL file (or a folder holding ``test.jsonl``)."""

FIELDS = ("id", "question", "answer")
"""Keys a field mapping may override."""

KINDS: tuple[str, ...] = get_args(Kind)


def _gold(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(number_text(v) for v in value)
    return number_text(value)


def jsonl_problem(row: Mapping[str, Any], where: Where, fields: Mapping[str, str], kind: Kind) -> Problem:
    """One row -> :class:`Problem`. The answer is required except for ``kind="code"``."""
    pid = problem_id(row, where, columns(fields, "id", ID_COLUMNS), required="id" in fields)
    q_column, question = text_field(row, columns(fields, "question", ("question",)), "question", pid, where)
    a_column = fields.get("answer", "answer")
    answer: str | None = None
    if first_column(row, (a_column,)) is not None:
        answer = _gold(row[a_column])
    if kind != "code" and not answer:
        raise where.error(
            f"problem {pid}: no answer field {a_column!r} (columns: {', '.join(row)}); "
            "map another column with fields={'answer': ...}"
        )
    meta = {k: v for k, v in row.items() if k != q_column}
    if kind == "code":
        meta.setdefault("prompt", question)
    return Problem(problem_id=pid, question=question, answer=answer, kind=kind, meta=meta)


def load_jsonl(
    path: str, fields: Mapping[str, str] | None = None, kind: Kind = "math"
) -> Iterator[Problem]:
    """Problems from a JSONL file (or a folder holding ``test.jsonl``), lazily."""
    if kind not in KINDS:
        raise RlscopeError(f"unknown problem kind {kind!r}; known: {', '.join(KINDS)}")
    checked = check_fields(fields, FIELDS, PREFIX + path)
    file = resolve_data_file(path, "jsonl")
    logger.info("loading benchmark from %s (kind=%s, fields=%s)", file, kind, checked or "default")
    return (jsonl_problem(row, where, checked, kind) for row, where in read_jsonl(file))
