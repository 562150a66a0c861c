"""Pull the final answer out of a math completion, and normalize answers for comparison.

Both functions are pure. ``extract_answer`` looks, in order, for the last ``\\boxed{...}``
(or ``\\fbox{...}``, or ``\\boxed 5``), the text after the last ``####``, a "the answer is X"
phrase, and finally the last number in the text. ``normalize_answer`` rewrites LaTeX spellings
that cannot change the value (``\\dfrac`` -> ``\\frac``, ``\\left(`` -> ``(``, spacing commands,
unit wrappers, ...) so that equal normalized strings are equal answers: it is used to
deduplicate samples and as an exact fast path before symbolic comparison.
"""

from __future__ import annotations

import re

__all__ = ["decimal_point", "extract_answer", "last_boxed", "normalize_answer"]

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_HASH_RE = re.compile(r"####")
_ANSWER_IS_RE = re.compile(
    r"\b(?:final\s+answer|the\s+answer|answer)\s*(?:is|:|=)\s*:?",
    re.IGNORECASE,
)
# Thousands separators only in the canonical 1,234,567 (or 1 234 567) shape; otherwise a comma splits numbers.
# A decimal comma where it is neither a thousands separator nor a list: a leading 0 ("0,111") or two decimals
# ("1,22"); not "1,234", "-2,1" (a list) or anything with a space after the comma.
_NUMBER_RE = re.compile(
    r"-?\\[dt]?frac\{\d+\}\{\d+\}|"
    r"(?<![\w.^_,])-?(?:0,\d+|\d+,\d{2})(?![\d,])|"
    r"(?<![\w.^_])-?(?:\d{1,3}(?:,\d{3})+(?![\d])|\d{1,3}(?: \d{3})+(?![\d.,/])|\d+)(?:\.\d+)?(?:\s*/\s*\d+(?!\d|\.\d))?"
    r"|(?<![\w.^_])-?\.\d+"
)
_DECIMAL_COMMA_RE = re.compile(r"^-?(?:0,\d+|\d+,\d{2})$")


def decimal_point(answer: str) -> str:
    """An answer that is one number written with a decimal comma where that comma can be neither a thousands
    separator nor a list (``0,111``, ``1,22``), written with a point; any other answer unchanged."""
    s = answer.strip()
    return s.replace(",", ".") if _DECIMAL_COMMA_RE.match(s) else answer


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """The content of the brace group opening at ``text[start] == '{'`` and the index after it."""
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2  # skip escaped characters such as \{ and \}
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
        i += 1
    return None


def _boxes(text: str) -> tuple[list[tuple[int, int, str]], int | None]:
    """The complete, non-empty ``\\boxed``/``\\fbox`` answers as (start, end, content), and where the first
    truncated one (a box never closed: the completion was cut inside its answer) starts, if any."""
    found: list[tuple[int, int, str]] = []
    for match in _BOX_RE.finditer(text):
        i = match.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            group = _braced(text, i)
            if group is None:
                return found, match.start()
            content, end = group[0].strip(), group[1]
        elif i > match.end():  # "\boxed 5": up to the next space or math delimiter
            content = re.split(r"[\s$]", text[i:], maxsplit=1)[0]
            end = i + len(content)
        else:
            continue
        if content:
            found.append((match.start(), end, content))
    return found, None


def last_boxed(text: str) -> str | None:
    """Content of the last complete, non-empty ``\\boxed{...}`` (or ``\\fbox``) in ``text``, braces balanced
    (escaped braces do not count): the one box parser, for gold solutions and completions alike."""
    boxes, _ = _boxes(text)
    return boxes[-1][2] if boxes else None


_BOX_JOINER_RE = re.compile(r"^(?:\s|\$|,|;|&|\\[()\[\]]|\\q?quad|\\text\{[^{}]{0,40}\}|\band\b|\bor\b)*$")


def _final_boxes(text: str, boxes: list[tuple[int, int, str]]) -> str:
    """The last box, or the last run of boxes joined by nothing but commas, "and", spaces or math delimiters
    (``\\boxed{1},\\boxed{2}``: a multi-answer completion), as ``a, b``."""
    run = [boxes[-1]]
    for prev in reversed(boxes[:-1]):
        if not _BOX_JOINER_RE.match(text[prev[1]:run[0][0]]):
            break
        run.insert(0, prev)
    return ", ".join(content for _, _, content in run)


_MATH_SPANS = [
    (left, re.compile(right))
    for left, right in (("$$", r"(?<!\\)\$\$"), ("$", r"(?<!\\)\$"), ("\\(", r"\\\)"), ("\\[", r"\\\]"))
]


def _clean_phrase(s: str) -> tuple[str | None, bool]:
    """Trim a free-text answer (after ``####`` or "the answer is") to the answer itself;
    also says whether it was a math span (``$...$``)."""
    s = s.strip().lstrip("*").strip()
    for left, right in _MATH_SPANS:
        if s.startswith(left):
            # "$x = 5$ because ...": the first math span ("\$" is a dollar sign, not its end).
            end = right.search(s, len(left))
            inner = s[len(left) : end.start()] if end else s[len(left) :].split("\n", 1)[0]
            return inner.strip() or None, True
    s = s.split("\n", 1)[0]
    s = re.split(r"(?<=[^\d\s])\.(?:\s|$)|\.\s", s, maxsplit=1)[0]
    s = s.strip().rstrip(".").strip().strip("*").strip()
    number = _NUMBER_RE.match(s)
    if number:
        rest = s[number.end() :]
        if not rest.strip() or re.match(r"\s+[A-Za-z]", rest):
            # "12", "1,234", "12 apples": the number alone
            return _number_text(number.group(0)), False
    return s or None, False


def _number_text(s: str) -> str:
    """A matched number as a plain one: spaces dropped, a decimal comma made a point, thousands commas removed."""
    return decimal_point(re.sub(r"\s+", "", s)).replace(",", "")


_PHRASE_START_RE = re.compile(r"[\d\-$\\(\[{.]|[A-Za-z]\s*=|\(?[A-Ea-e]\)?$")
_EXPRESSION_RE = re.compile(r"^(?=.*[\d^+*/-])(?!.*[A-Za-z]{3})[A-Za-z0-9^_+\-*/()\[\]{}\\.,= ]+$")
"""A stated answer that is an expression in prose (``x^3+3x-6``), not words (no run of three letters)."""


_LETTER_RE = re.compile(r"[A-Za-z]")
_COMMAND_RE = re.compile(r"\\[A-Za-z]+")
_SPAN_RE = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)


def _last_statement(text: str) -> str | None:
    """What the completion states last, when nothing marks its answer: its last math span (``$x \\geq 5$``,
    ``$E$``, a matrix: a relation, set or expression is kept whole) unless a number follows it, else its last
    number, as a grader that reads the final expression does."""
    spans = [(m.start(), m.end(), next(g for g in m.groups() if g is not None).strip()) for m in _SPAN_RE.finditer(text)]
    spans = [s for s in spans if s[2]]
    numbers = list(_NUMBER_RE.finditer(text))
    if spans and (not numbers or numbers[-1].start() < spans[-1][1]):
        inner = spans[-1][2].rstrip(".,;").strip()
        lhs, eq, rhs = inner.rpartition("=")
        if eq and rhs.strip() and not _LETTER_RE.search(_COMMAND_RE.sub("", lhs)) and "<" not in lhs and ">" not in lhs:
            return rhs.strip()  # "$2 \\times 58 = 116$": a computation, whose result is what it states
        if inner:
            return inner
    return _number_text(numbers[-1].group(0)) if numbers else None


def extract_answer(text: str) -> str | None:
    """Extract the final answer from a completion (see :func:`_extract`); an answer that is one number written
    with a decimal comma where it cannot be a thousands separator (``0,111``, ``1,22``) comes back with a point."""
    answer = _extract(text)
    return None if answer is None else decimal_point(answer)


def _extract(text: str) -> str | None:
    """Extract the final answer from a completion.

    Parameters
    ----------
    text : str
        The model's completion.

    Returns
    -------
    str or None
        The answer as written (un-normalized), or None when the completion states none.

    Examples
    --------
    >>> extract_answer(r"so $\\boxed{\\frac{1}{2}}$.")
    '\\\\frac{1}{2}'
    >>> extract_answer("She pays 3 * 4 = 12 dollars.\\n#### 12")
    '12'
    >>> extract_answer("The total is 1,234 apples")
    '1234'
    """
    if not text:
        return None
    boxes, truncated = _boxes(text)
    if truncated is not None:
        text = text[:truncated]  # what a cut-off box held is no answer: nothing after its start is read
    if boxes:
        after = list(_ANSWER_IS_RE.finditer(text, boxes[-1][1]))  # only the text after the last box
        if after and "final" in after[-1].group(0).lower():
            stated = _stated(text, after[-1])  # "The final answer is 7" after an intermediate box
            if stated:
                return stated
        return _final_boxes(text, boxes)
    hashes = list(_HASH_RE.finditer(text))
    if hashes:
        after, _ = _clean_phrase(text[hashes[-1].end() :])
        if after:
            return after
    phrases = list(_ANSWER_IS_RE.finditer(text))
    if phrases:
        stated = _stated(text, phrases[-1])
        if stated:
            return stated
    return _last_statement(text)


def _stated(text: str, phrase: re.Match) -> str | None:
    """The answer after an "answer is" phrase, when it looks like one (a math span, a number, an expression)."""
    answer, is_math = _clean_phrase(text[phrase.end() :])
    if answer and (is_math or _PHRASE_START_RE.match(answer) or _EXPRESSION_RE.match(answer)):
        return answer
    return None


# --- normalization -----------------------------------------------------------------------

_UNITS = (
    "cm|mm|km|m|meters?|metres?|centimeters?|millimeters?|kilometers?|inch|inches|in|feet|foot|ft|"
    "yards?|yd|miles?|mi|mph|units?|square\\s+units?|sq\\s*units?|square\\s+(?:feet|inches|meters|"
    "centimeters|miles|yards)|cubic\\s+(?:feet|inches|meters|centimeters|units)|degrees?|deg|"
    "radians?|cents?|dollars?|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?|years?|"
    "grams?|g|kg|kilograms?|pounds?|lbs?|ounces?|oz|liters?|litres?|L|ml|mL|gallons?|cups?|people|"
    "students?|apples?|marbles?|ways|times|points?"
)
_UNIT_TAIL_RE = re.compile(
    r"(?<=\S)\s*\\(?:text|mbox|mathrm|textnormal)\{\s*(?:" + _UNITS + r")\s*\}(?:\^\{?[23]\}?)?\s*$"
)
_WRAPPER_RE = re.compile(r"^\\(?:text|textbf|mbox|textnormal)\{(.*)\}$", re.DOTALL)
_DEGREE_RE = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°")
_LEFT_RIGHT_RE = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?=[()\[\]|.\\<>])")
_SPACING_RE = re.compile(r"\\\\|\\[,!;:> ]|\\q?quad(?![a-zA-Z])|~")  # row breaks matched to be kept
_STYLE_RE = re.compile(r"\\(?:displaystyle|textstyle)(?![a-zA-Z])")


_SPACED_GROUPS_RE = re.compile(r"^-?\d{1,3}(?:,\s+\d{3})+$")
"""Numbers in thousands-separator shape but with spaces after the commas: a list of numbers."""


def _drop_invisible_delims(s: str) -> str:
    # "\left." / "\right." are invisible delimiters once the command word is gone.
    return re.sub(r"\\(?:left|right)\.", "", s)


def _squeeze_spaces(s: str) -> str:
    # Whitespace never matters in math mode, except where it ends a control word
    # ("\cdot x" is not "\cdotx"): keep a single space there.
    s = re.sub(r"(\\[a-zA-Z]+)\s+(?=[a-zA-Z])", lambda m: m.group(1) + "\x00", s)
    s = re.sub(r"\s+", "", s)
    return s.replace("\x00", " ")


def normalize_answer(s: str) -> str:
    """Rewrite an answer into a canonical spelling without changing its value.

    Conservative by design: two strings that normalize equal denote the same answer
    (different answers may still normalize differently; that is what the symbolic check is for).

    Parameters
    ----------
    s : str
        An extracted or gold answer.

    Returns
    -------
    str
        The canonical form ('' for an empty answer).

    Examples
    --------
    >>> normalize_answer(r"$\\left( 3, \\dfrac{\\pi}{2} \\right)$.")
    '(3,\\\\frac{\\\\pi}{2})'
    >>> normalize_answer(r"12\\text{ cm}")
    '12'
    """
    s = s.strip()
    for _ in range(3):  # wrappers may nest ("$\text{(C)}$.")
        prev = s
        s = s.strip().strip("$").strip()
        if s.endswith("."):
            s = s[:-1].rstrip()
        if s.startswith("\\$"):  # a currency sign
            s = s[2:].lstrip()
        if s.startswith("\\boxed{") and s.endswith("}") and _braced(s, 6) == (s[7:-1], len(s)):
            s = s[7:-1].strip()
        m = _WRAPPER_RE.match(s)
        if m and _braced(s, s.index("{")) == (m.group(1), len(s)):
            s = m.group(1).strip()
        s = _UNIT_TAIL_RE.sub("", s)
        if s == prev:
            break
    if _SPACED_GROUPS_RE.match(s):
        return re.sub(r",\s+", ", ", s)  # "32, 349" is a list, never 32349: the space is kept
    s = decimal_point(s)  # "1,22" is 1.22, as extraction reads it
    s = _drop_invisible_delims(s)
    s = _LEFT_RIGHT_RE.sub("", s)
    s = _SPACING_RE.sub(lambda m: m.group(0) if m.group(0) == "\\\\" else " ", s)
    s = _STYLE_RE.sub(" ", s)
    s = re.sub(r"\\[dt]frac(?![a-zA-Z])", r"\\frac", s)
    s = _DEGREE_RE.sub("", s)
    s = _squeeze_spaces(s)
    return s.rstrip(".")
