"""The fast path of math verification: settle a (gold, answer) pair without SymPy, or say it cannot.

Pure functions over normalized answers (:func:`~rlscope.boundary.verify.extract.normalize_answer`):
equal strings (``exact``); plain numbers compared exactly (integers, ``a/b``, ``\\frac{a}{b}``) or,
with a decimal, under a tolerance; constant expressions (``\\frac{\\sqrt{3}}{2}``, ``6+9i``) and
tuples, intervals, sets, unions and matrices of them, evaluated in floating point
(``numeric``/``mismatch``); expressions in one-letter variables, evaluated at fixed points, only to
settle a ``mismatch``. Only clear cases are settled: values equal up to float noise, or too far apart
for any rounding; readings that differ between people and parsers (``3\\frac{1}{2}``, ``2^23``) are
not. It must never decide differently from the full check (:func:`rlscope.boundary.verify.checker.check_pair`).
"""

from __future__ import annotations

import cmath
import fractions
import math
import re
from collections.abc import Sequence



_INT = r"-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
_NUM_RE = re.compile(r"^(?P<num>" + _INT + r"(?:\.\d*)?|-?\.\d+)$")
_SLASH_RE = re.compile(r"^(?P<sign>-?)(?P<p>\d+)/(?P<q>\d+)$")
_FRAC_RE = re.compile(r"^(?P<sign>-?)\\frac(?:\{(?P<p>-?\d+)\}\{(?P<q>-?\d+)\}|(?P<p1>\d)(?P<q1>\d))$")


def _as_number(s: str) -> tuple[fractions.Fraction, bool] | None:
    """``(value, exact)`` for a plain number (``exact`` is False for decimals), else None."""
    m = _NUM_RE.match(s)
    if m:
        if re.match(r"^-?0,", s):
            return None  # "0,111": a decimal comma to Math-Verify, never a thousands separator
        text = m.group("num").replace(",", "")
        if text.endswith("."):
            text = text[:-1]
        return fractions.Fraction(text), "." not in text
    m = _SLASH_RE.match(s)
    if m and int(m.group("q")) != 0:
        value = fractions.Fraction(int(m.group("p")), int(m.group("q")))
        return (-value if m.group("sign") else value), True
    m = _FRAC_RE.match(s)
    if m:
        p, q = (m.group("p"), m.group("q")) if m.group("p") is not None else (m.group("p1"), m.group("q1"))
        if int(q) != 0:
            value = fractions.Fraction(int(p), int(q))
            return (-value if m.group("sign") else value), True
    return None


_TOKEN_RE = re.compile(
    r"\s*(\d+\.\d*|\.\d+|\d+|\\(?:frac|sqrt|pi|cdot|times)(?![a-zA-Z])|i(?![a-zA-Z])|[-+*/^(){}\[\]]"
    r"|[a-df-hj-zA-DF-HJ-Z])\s*"
)
# Variables: single letters but e and i (Euler's number and the imaginary unit to Math-Verify),
# case-insensitive as in Math-Verify (x+Y == X+y).
_VARIABLE_RE = re.compile(r"[a-df-hj-zA-DF-HJ-Z]")
# Math-Verify strips trailing unit words, even one letter ("5 t", "12cm" -> 5, 12): leave
# expressions ending in letters after a number, brace or space to it.
_UNIT_LIKE_TAIL_RE = re.compile(r"(?:\d|\}|\s)\s*[a-zA-Z]+\s*$")
_COMMAND_RE = re.compile(r"\\(?:begin|end)\{[a-zA-Z]*\}|\\[a-zA-Z]+")
_REL_TIGHT = 1e-9  # closer than this (relative): the same constant
_REL_LOOSE = 1e-6  # farther than this: different under Math-Verify's 6-decimal rounding too


class _Unsupported(Exception):
    """The expression uses something the numeric evaluator does not handle."""


class _Evaluator:
    """Evaluate a LaTeX expression to a complex number, variables set from ``env``.

    Handles numbers, ``+ - * /``, ``\\cdot``, ``\\times``, ``^``, ``\\frac``, ``\\sqrt``, ``\\pi``,
    the imaginary unit ``i``, one-letter variables, parentheses and braces. Anything else
    (functions, subscripts, relations, ``\\infty``,
    ``\\%``, readings on which TeX and Math-Verify differ such as ``2^23`` or ``3\\frac{1}{2}``)
    raises ``_Unsupported``, and the pair goes to the symbolic check.
    """

    def __init__(self, s: str, env: dict[str, float]):
        self.env = env
        self.tokens: list[str] = []
        pos = 0
        while pos < len(s):
            m = _TOKEN_RE.match(s, pos)
            if m is None:
                raise _Unsupported(s[pos:])
            self.tokens.append(m.group(1))
            pos = m.end()
        self.i = 0

    def run(self) -> complex:
        if not self.tokens:
            raise _Unsupported("empty")
        value = self.expr()
        if self.i != len(self.tokens):
            raise _Unsupported("trailing tokens")
        if not cmath.isfinite(value):
            raise _Unsupported("not finite")
        return value

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise _Unsupported(f"expected {expected}")
        self.i += 1
        return tok

    def expr(self) -> complex:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> complex:
        value = self.unary()
        while True:
            tok = self.peek()
            if tok in ("*", "\\cdot", "\\times"):
                self.take()
                value *= self.unary()
            elif tok == "/":
                self.take()
                value /= self.unary()
            elif tok is not None and (tok[0].isalnum() or tok[0] in ".({" or tok in ("\\sqrt", "\\pi")):
                value *= self.unary()  # implicit product: 2\sqrt{3}, 3\pi, 9i, 2xy
            elif tok == "\\frac":
                raise _Unsupported("3\\frac{1}{2} reads as a mixed number to people, a product to parsers")
            else:
                return value

    def unary(self) -> complex:
        if self.peek() in ("-", "+"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.power()

    def power(self) -> complex:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take()
        exponent = self.arg()
        if exponent.imag or abs(exponent.real) > 64 or abs(base) > 1e12:
            raise _Unsupported("power")
        e = exponent.real
        if e != int(e) and (base.imag or base.real < 0):
            raise _Unsupported("branch of a root")
        if base.imag:
            return base ** int(e)
        return complex(base.real**e)

    def arg(self) -> complex:
        """A command argument: ``{...}`` or a single token (``\\frac12``: one digit each)."""
        tok = self.peek()
        if tok == "{":
            return self.atom()
        if tok is not None and tok.isdigit():
            if len(tok) > 1:  # TeX reads 2^23 as 2^2 3, Math-Verify as 2^{23}
                raise _Unsupported("multi-digit bare argument")
            self.take()
            return complex(int(tok))
        if tok == "\\pi" or (tok is not None and tok.isalpha()):
            return self.atom()
        raise _Unsupported("argument")

    def atom(self) -> complex:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return complex(float(tok))
        if tok == "\\pi":
            return complex(math.pi)
        if tok == "i":
            return 1j
        if tok.isalpha():
            if not self.env:
                raise _Unsupported("variable")
            return complex(self.env[tok.lower()])
        if tok in ("(", "{"):
            value = self.expr()
            self.take(")" if tok == "(" else "}")
            return value
        if tok == "\\frac":
            two = self.peek()
            if two is not None and two.isdigit() and len(two) == 2:  # \frac43
                self.tokens[self.i : self.i + 1] = [two[0], two[1]]
            num = self.arg()
            den = self.arg()
            if den == 0:
                raise _Unsupported("division by zero")
            return num / den
        if tok == "\\sqrt":
            index = 2.0
            if self.peek() == "[":
                self.take()
                index_value = self.expr()
                self.take("]")
                if index_value.imag or index_value.real != int(index_value.real) or index_value.real < 2:
                    raise _Unsupported("root index")
                index = index_value.real
            radicand = self.arg()
            if radicand.imag or radicand.real < 0:
                raise _Unsupported("root of a negative or complex number")
            return complex(radicand.real ** (1.0 / index))
        raise _Unsupported(tok)


def _evaluate(s: str, env: dict[str, float] | None = None) -> complex | None:
    try:
        return _Evaluator(s, env or {}).run()
    except (_Unsupported, ZeroDivisionError, OverflowError, ValueError, RecursionError):
        return None


_OPEN = ("(", "[", "\\{")
_CLOSE = (")", "]", "\\}")
_MATRIX_RE = re.compile(r"^\\begin\{([pbvBV]?matrix)\}(.*)\\end\{\1\}$", re.DOTALL)
_THOUSANDS_RE = re.compile(r"^-?\d{1,3}$")


def _split_top(s: str) -> tuple[str, list[str]]:
    """``(brackets, items)``: the brackets enclosing all of ``s`` (a tuple, interval or set,
    e.g. ``"[)"``; ``""`` when none) and its top-level comma-separated items."""
    opened = next((o for o in _OPEN if s.startswith(o)), "")
    close = next((c for c in _CLOSE if s.endswith(c)), "")
    depth = 0
    for i, ch in enumerate(s):
        depth += (ch in "([{") - (ch in ")]}")
        if depth == 0 and ch != "\\" and i < len(s) - 1:
            opened = close = ""  # "(1)(2)", "(1,2)\cup(3,4)": no single outer pair
            break
    if not (opened and close):
        opened = close = ""
    inner = s[len(opened) : len(s) - len(close)]
    parts: list[str] = []
    depth = start = 0
    for i, ch in enumerate(inner):
        depth += (ch in "([{") - (ch in ")]}")
        if ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    return opened + close, parts


_INFINITY = {"\\infty": complex(math.inf), "+\\infty": complex(math.inf), "-\\infty": complex(-math.inf)}
_INTERVAL_KINDS = ("()", "[]", "(]", "[)")


def _cell_value(cell: str, env: dict[str, float]) -> complex | None:
    return _INFINITY[cell] if cell in _INFINITY else _evaluate(cell, env)


def _structure(s: str, env: dict[str, float]) -> tuple[str, tuple[int, ...], list[complex]] | None:
    r"""``(kind, shape, values)`` of a constant answer, or None when something is not a constant.

    Kinds: a matrix environment (``pmatrix``...); ``union`` of intervals (``(2,12)\cup(12,102)``,
    kind ``union:()()``, values the endpoints); otherwise the enclosing brackets of a
    number/tuple/interval/set (``""``, ``"()"``, ``"[)"``, ``"\{\}"``).
    """
    m = _MATRIX_RE.match(s)
    if m:
        rows = [row.split("&") for row in m.group(2).split("\\\\") if row.strip()]
        if not rows or len({len(r) for r in rows}) != 1:
            return None
        cells = [c for row in rows for c in row]
        kind, shape = m.group(1), (len(rows), len(rows[0]))
    elif "\\cup" in s:
        kinds, cells = [], []
        for part in s.split("\\cup"):
            part_kind, part_cells = _split_top(part)
            if part_kind not in _INTERVAL_KINDS or len(part_cells) != 2:
                return None
            kinds.append(part_kind)
            cells += part_cells
        kind, shape = "union:" + "".join(kinds), (len(kinds), 2)
    else:
        kind, cells = _split_top(s)
        if any(_THOUSANDS_RE.match(a) and re.match(r"^\d{3}$", b) for a, b in zip(cells, cells[1:])):
            return None  # "1,000": a thousands separator or a list; Math-Verify reads 1000
        if kind in ("", "\\{\\}") and ("\\pm" in s or "\\mp" in s):
            cells = _expand_pm(cells)  # 1\pm\sqrt{5}: the set of both values, as in Math-Verify
            if cells is None:
                return None
        shape = (len(cells),)
    values = [_cell_value(c, env) for c in cells]
    if any(v is None for v in values):
        return None
    return kind, shape, values  # type: ignore[return-value]


def _expand_pm(cells: list[str]) -> list[str] | None:
    out: list[str] = []
    for c in cells:
        n = c.count("\\pm") + c.count("\\mp")
        if n > 1:
            return None
        if n == 0:
            out.append(c)
        else:
            out += [c.replace("\\pm", "+").replace("\\mp", "-"), c.replace("\\pm", "-").replace("\\mp", "+")]
    return out


def _close(a: complex, b: complex, rel: float) -> bool:
    if cmath.isinf(a) or cmath.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def _compare_values(gold: Sequence[complex], answer: Sequence[complex]) -> tuple[bool, str] | None:
    """Element-wise: all equal up to float noise, some clearly different, or undecided."""
    if all(_close(g, a, _REL_TIGHT) for g, a in zip(gold, answer)):
        return True, "numeric"
    if any(not _close(g, a, _REL_LOOSE) for g, a in zip(gold, answer)):
        return False, "mismatch"
    return None


def _same(a: float, b: float) -> bool | None:
    """Equal up to float noise (True), clearly different (False), or too close to tell (None)."""
    if _close(a, b, _REL_TIGHT):
        return True
    return None if _close(a, b, _REL_LOOSE) else False


_Interval = tuple[str, float, str, float]  # (left bracket, low, right bracket, high)


def _merged_intervals(kind: str, values: list[complex]) -> list[_Interval] | None:
    """An interval or a union as sorted, disjoint, non-touching intervals: the unique spelling
    of the set (brackets at infinite ends set to round). None when unsure."""
    brackets = kind.removeprefix("union:")
    if any(v.imag for v in values):
        return None
    raw = [
        (brackets[2 * i], values[2 * i].real, brackets[2 * i + 1], values[2 * i + 1].real)
        for i in range(len(brackets) // 2)
    ]
    merged: list[_Interval] = []
    for lo_b, lo, hi_b, hi in sorted(raw, key=lambda iv: iv[1]):
        lo_b, hi_b = ("(" if math.isinf(lo) else lo_b), (")" if math.isinf(hi) else hi_b)
        if _same(lo, hi) is not False or lo > hi:
            return None  # empty, a single point, or unclear
        if merged:
            p_lo_b, p_lo, p_hi_b, p_hi = merged[-1]
            touch = _same(p_hi, lo)
            if touch is None or _same(p_lo, lo) is None or _same(p_hi, hi) is None:
                return None
            # Overlapping, or touching at a point one of them contains: one interval.
            if (touch is False and lo < p_hi) or (touch and (p_hi_b == "]" or lo_b == "[")):
                if _same(p_lo, lo):
                    p_lo_b = "[" if "[" in (p_lo_b, lo_b) else "("
                if _same(p_hi, hi):
                    p_hi_b = "]" if "]" in (p_hi_b, hi_b) else ")"
                elif hi > p_hi:
                    p_hi, p_hi_b = hi, hi_b
                merged[-1] = (p_lo_b, p_lo, p_hi_b, p_hi)
                continue
        merged.append((lo_b, lo, hi_b, hi))
    return merged


def _compare_unions(g_kind: str, g_vals: list[complex], a_kind: str, a_vals: list[complex]) -> tuple[bool, str] | None:
    gold = _merged_intervals(g_kind, g_vals)
    answer = _merged_intervals(a_kind, a_vals)
    if gold is None or answer is None:
        return None
    if len(gold) != len(answer):
        return False, "mismatch"
    outcome: tuple[bool, str] | None = (True, "numeric")
    for (g_lo_b, g_lo, g_hi_b, g_hi), (a_lo_b, a_lo, a_hi_b, a_hi) in zip(gold, answer):
        lo, hi = _same(g_lo, a_lo), _same(g_hi, a_hi)
        if lo is False or hi is False or (lo and g_lo_b != a_lo_b) or (hi and g_hi_b != a_hi_b):
            return False, "mismatch"
        if lo is None or hi is None:
            outcome = None
    return outcome


def _points(n: int) -> list[dict[str, float]]:
    """``n`` fixed assignments of distinct, irregular values in (0.3, 1.9) to the variables."""
    letters = "abcdfghjklmnopqrstuvwxyz"
    return [
        {c: 0.3 + ((j + 1) * 0.6180339887 + k * 0.4142135624) % 1.6 for j, c in enumerate(letters)} for k in range(n)
    ]


_POINTS = _points(2)


def _evaluate_check(gold_norm: str, answer_norm: str) -> tuple[bool, str] | None:
    """Compare answers (numbers, tuples, intervals, sets, unions, matrices) by value.

    Constants are settled either way. Expressions in variables are evaluated at fixed points:
    a clear difference at one point settles ``mismatch``; agreement at all of them is left to
    the symbolic check (it is evidence, not proof).
    """
    has_variables = any(_VARIABLE_RE.search(_COMMAND_RE.sub("", s)) for s in (gold_norm, answer_norm))
    if has_variables and any(_UNIT_LIKE_TAIL_RE.search(s) for s in (gold_norm, answer_norm)):
        return None
    for env in _POINTS if has_variables else [{}]:
        outcome = _compare_structures(gold_norm, answer_norm, env)
        if outcome is None or not outcome[0]:
            return outcome
    return None if has_variables else (True, "numeric")


def _compare_structures(gold_norm: str, answer_norm: str, env: dict[str, float]) -> tuple[bool, str] | None:
    gold = _structure(gold_norm, env)
    answer = _structure(answer_norm, env)
    if gold is None or answer is None:
        return None
    (g_kind, g_shape, g_vals), (a_kind, a_shape, a_vals) = gold, answer
    g_scalar, a_scalar = (g_kind, g_shape) == ("", (1,)), (a_kind, a_shape) == ("", (1,))
    special = ("matrix", "union")
    if any(k in g_kind or k in a_kind for k in special):
        sides = ((g_kind, g_shape), (a_kind, a_shape))
        if all(k.startswith("union") or (k in _INTERVAL_KINDS and n == (2,)) for k, n in sides):
            # unions of intervals, or one against a single interval
            return _compare_unions(g_kind, g_vals, a_kind, a_vals)
        if (g_scalar and len(a_vals) > 1) or (a_scalar and len(g_vals) > 1):
            return False, "mismatch"  # a number against a vector, matrix or union
        if g_kind == a_kind and g_shape == a_shape:  # two matrices
            return _compare_values(g_vals, a_vals)
        return None
    if g_kind == a_kind and g_shape == a_shape:
        if g_kind in ("", "\\{\\}") and len(g_vals) > 1:
            # A bare list or a set: order does not matter, repeats might.
            key = lambda v: (round(v.real, 9), round(v.imag, 9))  # noqa: E731
            if len(set(map(key, g_vals))) != len(g_vals) or len(set(map(key, a_vals))) != len(a_vals):
                return None
            g_vals, a_vals = sorted(g_vals, key=key), sorted(a_vals, key=key)
        return _compare_values(g_vals, a_vals)
    # Different shapes or brackets ("-2,1" vs "8", "[1,3)" vs "(1,5)"): whatever the reading
    # (set, tuple, interval), they differ if some value has no counterpart on the other side.
    unmatched = any(not any(_close(g, a, _REL_LOOSE) for a in a_vals) for g in g_vals) or any(
        not any(_close(g, a, _REL_LOOSE) for g in g_vals) for a in a_vals
    )
    return (False, "mismatch") if unmatched else None


def fast_check(gold_norm: str, answer_norm: str) -> tuple[bool, str] | None:
    """Settle a pair without sympy, or None when it needs the symbolic check."""
    try:
        return _fast_check_unsafe(gold_norm, answer_norm)
    except (ValueError, OverflowError, ZeroDivisionError, RecursionError):  # 5000-digit numbers and such
        return None


def _fast_check_unsafe(gold_norm: str, answer_norm: str) -> tuple[bool, str] | None:
    if gold_norm and gold_norm == answer_norm:
        return True, "exact"
    gold = _as_number(gold_norm)
    answer = _as_number(answer_norm)
    if gold is None or answer is None:
        return _evaluate_check(gold_norm, answer_norm)
    (g, g_exact), (a, a_exact) = gold, answer
    if g == a:
        return True, "numeric"
    if g_exact and a_exact:
        return False, "mismatch"
    # A decimal is involved: Math-Verify rounds to 6 places (1/3 == 0.333333); the band
    # between a float-noise difference and one no rounding hides goes to the symbolic check.
    return _compare_values([complex(g)], [complex(a)])
