"""The verdict of one sample."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Outcome of verifying one completion against its problem."""

    correct: bool
    """Whether the sample counts as solving the problem."""
    extracted: str | None
    """The answer extracted from the completion (None when nothing was found)."""
    reason: str
    """Why: ``exact``, ``numeric``, ``math_verify``, ``no_answer``, ``mismatch``, ``timeout``, ``error: ...``,
    or a sandbox outcome for code."""
