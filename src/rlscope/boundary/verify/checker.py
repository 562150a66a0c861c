"""The full check of one math (gold, answer) pair: Math-Verify's ``parse`` + ``verify``, as the verifier's
worker processes run it (with Math-Verify's own timeouts off: the worker bounds the time)."""

from __future__ import annotations

import re
from typing import Any

from rlscope.boundary.verify.extract import decimal_point


_gold_cache: dict[str, list[Any]] = {}
_GOLD_CACHE_SIZE = 4096


def _wrap(s: str) -> str:
    return s if "\\boxed" in s else "\\boxed{" + s + "}"


_DIGIT_GROUP_RE = re.compile(r"(?<=\d)\\[,;:! ](?=\d{3}(?!\d))")
"""A thin space between digit groups (``1\\,000``): a thousands separator."""


def check_pair(gold: str, answer: str) -> tuple[bool, str]:
    """Compare ``answer`` with ``gold`` through Math-Verify (the default worker checker).

    Both are bare answers (no surrounding text). Math-Verify's own timeouts are off: call it
    from a process that bounds its time (the verifier's workers do). Digit groups joined by a thin
    space (``1\\,000``) and a decimal comma (``0,111``) are read as the fast path reads them.

    Returns
    -------
    (bool, str)
        Whether they match, and the reason (``math_verify``, ``mismatch``, ``error: ...``).
    """
    import math_verify

    gold, answer = (decimal_point(_DIGIT_GROUP_RE.sub("", s)) for s in (gold, answer))
    gold_parsed = _gold_cache.get(gold)
    if gold_parsed is None:
        gold_parsed = math_verify.parse(_wrap(gold), parsing_timeout=None)  # type: ignore[arg-type]
        if len(_gold_cache) >= _GOLD_CACHE_SIZE:
            _gold_cache.pop(next(iter(_gold_cache)))
        _gold_cache[gold] = gold_parsed
    if not gold_parsed:
        return False, "error: gold unparsable"
    answer_parsed = math_verify.parse(_wrap(answer), parsing_timeout=None)  # type: ignore[arg-type]
    if not answer_parsed:
        return False, "mismatch"
    if math_verify.verify(gold_parsed, answer_parsed, timeout_seconds=None):
        return True, "math_verify"
    return False, "mismatch"


# One pair per code path SymPy and the LaTeX parser set up on first use (up to ~0.3 s each);
# idle workers run them so that the first real pairs of each kind do not pay for it.
WARM_UP = [
    ("\\frac{1}{2}", "x^2+1"),
    ("x^2-1", "(x-1)(x+1)"),
    ("23", "y = 2x + 3"),
    ("\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 0 & 1 \\end{pmatrix}"),
    ("(2,12) \\cup (12,102)", "(-\\infty, 3)"),
    ("[1,3)", "1 \\le x < 3"),
    ("\\{1,2\\}", "1 \\pm \\sqrt{2}"),
    ("10\\%", "0.1"),
    ("\\text{(A)}", "\\cot x"),
]
