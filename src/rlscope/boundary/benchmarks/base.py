"""The problem record every benchmark loader yields."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

Kind = Literal["math", "code", "choice"]


@dataclasses.dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    ``problem_id`` is the dataset's own id (``id``, ``idx``, ``unique_id``, ``task_id``)
    where it has one, else the 0-based line number, always as a string.
    """

    problem_id: str
    """Stable id within the benchmark."""
    question: str
    """The problem statement shown to the model (before the prompt template)."""
    answer: str | None
    """Gold answer (math: a LaTeX/number string); None for code problems (tests decide)."""
    kind: Kind = "math"
    """Which verifier applies."""
    meta: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    """Extra fields (code: ``prompt``, ``entry_point``, ``test``; math: level, subject, ...)."""
