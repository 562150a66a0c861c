"""The six math test sets of the reasoning-boundary paper, from local files or the hub.

Local files are the ones distributed with the paper's evaluation code
(``benchmarks/math/<name>/test.jsonl`` in a data folder); each set names its question and
gold answer differently:

==============  ==================  ====================================================
set             question            gold answer
==============  ==================  ====================================================
aime24          ``problem``         ``answer`` (string, kept as written: ``"025"``)
amc23           ``question``        ``answer`` float, ``27.0`` -> ``"27"``
gsm8k           ``question``        ``answer`` text after the last ``####``, commas removed
math500         ``problem``         ``answer`` (LaTeX)
minerva_math    ``problem``         the last ``\\boxed{...}`` of ``solution``
olympiadbench   ``question``        ``final_answer`` list, ``$`` removed, joined by ``", "``
==============  ==================  ====================================================

The hub copies use the same columns or a subset of them (``question``/``answer`` for
``math-ai/minervamath``), so one row reader serves both.
"""

from __future__ import annotations

import dataclasses
import logging
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
    find_default_file,
    first_column,
    number_text,
    problem_id,
    text_field,
)
from rlscope.boundary.verify.extract import last_boxed

logger = logging.getLogger(__name__)

__all__ = ["MATH_SETS", "MathSet", "gsm8k_gold", "load_math", "olympiad_gold"]

FIELDS = ("id", "question", "answer")
"""Keys a field mapping may override for a math set."""


# ----------------------------------------------------------------------------- gold answers


def gsm8k_gold(text: str) -> str:
    """The number after the last ``####`` with thousands separators removed (``"1,600"`` -> ``"1600"``)."""
    _, _, tail = text.rpartition("####")
    return tail.strip().replace(",", "")


def olympiad_gold(value: Any) -> str:
    """OlympiadBench ``final_answer``: ``$`` removed; several answers joined by ``", "``."""
    parts = value if isinstance(value, list) else [value]
    return ", ".join(number_text(p).replace("$", "").strip() for p in parts)


def _boxed_gold(text: Any) -> str | None:
    return last_boxed(str(text))


def _boxed_or_text(text: Any) -> str:
    text = str(text)
    boxed = last_boxed(text)
    return boxed.strip() if boxed is not None else text.strip()


# ----------------------------------------------------------------------------- the six sets


@dataclasses.dataclass(frozen=True)
class MathSet:
    """How one math test set is laid out, locally and on the hub."""

    name: str
    description: str
    rows: int
    """Problems in the paper's copy."""
    hub: HubSource
    question: tuple[str, ...]
    """Question columns, tried in order."""
    answer: tuple[tuple[str, Callable[[Any], str | None]], ...]
    """``(column, gold extractor)`` pairs, tried in order; the first present column wins."""
    custom_answer: Callable[[Any], str | None] = number_text
    """Extractor applied to a user-chosen answer column (``fields={"answer": ...}``)."""

    @property
    def relative_path(self) -> str:
        return f"benchmarks/math/{self.name}/test.jsonl"


def _aime_2024(row: Mapping[str, Any]) -> bool:
    return "2024" in str(row.get("url", ""))


MATH_SETS: dict[str, MathSet] = {
    s.name: s
    for s in (
        MathSet(
            name="aime24",
            description="AIME 2024 I+II (30 problems, integer answers 0-999)",
            rows=30,
            hub=HubSource("AI-MO/aimo-validation-aime", "train", keep=_aime_2024),
            question=("problem", "question"),
            answer=(("answer", number_text),),
        ),
        MathSet(
            name="amc23",
            description="AMC 2023 (40 problems, numeric answers)",
            rows=40,
            hub=HubSource("math-ai/amc23", "test"),
            question=("question", "problem"),
            answer=(("answer", number_text),),
        ),
        MathSet(
            name="gsm8k",
            description="GSM8K test (grade-school word problems, gold after ####)",
            rows=1319,
            hub=HubSource("openai/gsm8k", "test", config="main"),
            question=("question",),
            answer=(("answer", gsm8k_gold),),
            custom_answer=gsm8k_gold,
        ),
        MathSet(
            name="math500",
            description="MATH-500 (the PRM800K test subset of MATH, LaTeX answers)",
            rows=500,
            hub=HubSource("HuggingFaceH4/MATH-500", "test"),
            question=("problem",),
            answer=(("answer", number_text),),
        ),
        MathSet(
            name="minerva_math",
            description="Minerva MATH / OCWCourses (STEM, gold = last \\boxed{} of the solution)",
            rows=272,
            hub=HubSource("math-ai/minervamath", "test"),
            question=("problem", "question"),
            answer=(("answer", number_text), ("solution", _boxed_gold)),
            custom_answer=_boxed_or_text,
        ),
        MathSet(
            name="olympiadbench",
            description="OlympiadBench, English text-only math competition problems (OE_TO_maths_en_COMP)",
            rows=675,
            hub=HubSource("Hothan/OlympiadBench", "train", config="OE_TO_maths_en_COMP"),
            question=("question", "problem"),
            answer=(("final_answer", olympiad_gold), ("answer", olympiad_gold)),
            custom_answer=olympiad_gold,
        ),
    )
}


# ----------------------------------------------------------------------------- loading


def math_problem(
    spec: MathSet, row: Mapping[str, Any], where: Where, fields: Mapping[str, str] | None = None
) -> Problem:
    """Turn one row of ``spec``'s data into a :class:`Problem` (a :class:`DataError` if it cannot)."""
    fields = fields or {}
    id_columns = columns(fields, "id", ID_COLUMNS)
    pid = problem_id(row, where, id_columns, required="id" in fields)
    q_column, question = text_field(row, columns(fields, "question", spec.question), "question", pid, where)
    sources = ((fields["answer"], spec.custom_answer),) if "answer" in fields else spec.answer
    a_column = first_column(row, tuple(c for c, _ in sources))
    if a_column is None:
        wanted = " or ".join(repr(c) for c, _ in sources)
        raise where.error(f"problem {pid}: no answer field {wanted} (columns: {', '.join(row)})")
    extract = dict(sources)[a_column]
    gold = extract(row[a_column])
    if gold is None or not gold.strip():
        how = "no \\boxed{...} in" if extract is _boxed_gold else "empty gold answer in"
        raise where.error(f"problem {pid}: {how} answer field {a_column!r}")
    skip = {q_column, *spec.question}
    meta = {k: v for k, v in row.items() if k not in skip}
    return Problem(problem_id=pid, question=question, answer=gold, kind="math", meta=meta)


def math_rows(spec: MathSet, data: str | None) -> Iterator[tuple[dict[str, Any], Where]]:
    """The raw rows of ``spec``: from ``data``, else the default data folders, else the hub."""
    return dataset_rows(spec.name, spec.hub, data, "benchmarks/math", lambda: find_default_file(spec.relative_path))


def load_math(name: str, data: str | None = None, fields: Mapping[str, str] | None = None) -> Iterator[Problem]:
    """Problems of one of :data:`MATH_SETS`, lazily (see :func:`math_rows` for the data place)."""
    spec = MATH_SETS[name]
    fields = check_fields(fields, FIELDS, name)
    for row, where in math_rows(spec, data):
        yield math_problem(spec, row, where, fields)


def _loader(name: str) -> Callable[..., Iterable[Problem]]:
    def load(data: str | None = None, fields: Mapping[str, str] | None = None) -> Iterable[Problem]:
        return load_math(name, data, fields)

    load.__doc__ = f"Load {name} (a local file, the default data folder, or the hub)."
    return load


def _locator(relative: str) -> Callable[[], Path | None]:
    return lambda: find_default_file(relative)


def math_benchmarks() -> list[Benchmark]:
    """Registry entries for the six sets."""
    return [
        Benchmark(
            name=s.name,
            kind="math",
            description=s.description,
            load=_loader(s.name),
            rows=s.rows,
            locate=_locator(s.relative_path),
        )
        for s in MATH_SETS.values()
    ]
