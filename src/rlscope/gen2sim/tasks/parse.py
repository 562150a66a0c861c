"""A language model's answer as tasks: lenient about prose and markdown, strict about the code.

Two formats are read (:func:`parse_answer`):

1. This project's (what :mod:`rlscope.gen2sim.tasks.prompt` asks for): ``Task: NAME`` and ``Description:``,
   then one ``Sub-task: NAME`` section per sub-task in order, each with ``Description:``, optional
   ``Start: JOINT=closed|open|half|LOW-HIGH`` lines and a code block defining ``compute_reward(state)`` and
   ``is_success(state)``. A task with no sub-task heading and one code block is one sub-task.
2. The Gen2Sim paper's: ``Task: Name``, ``Task Description: "..."`` and a code block defining
   ``compute_reward(self)`` (returning ``(reward, success)`` over ``self.env``). A ``Task:`` block without code
   but with ``Sub-tasks: A, B, C`` (or ``Decomposition:``, ``->`` between names, a numbered list) is a
   long-horizon task made of those tasks' code in that order.

Headings may be numbered, bold or ``#``-prefixed; fences may carry a language tag or none. Each task that
cannot be used is left out with one error naming it and what was expected; the others are kept.
"""

from __future__ import annotations

import ast
import dataclasses
import re

START_WORDS = {"closed": (0.0, 0.0), "open": (0.75, 1.0), "half": (0.4, 0.6)}
"""``Start:`` values and the fraction of travel each stands for."""


@dataclasses.dataclass(frozen=True)
class ParsedSubtask:
    """One sub-task as the answer gives it."""

    name: str
    """Normalised id (``[a-z0-9_]+``)."""
    description: str
    code: str
    format: str
    """``state`` (this project's) or ``gen2sim`` (the paper's ``compute_reward(self)``)."""
    start: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    """Joint -> (low, high) fraction of travel it starts in (from ``Start:`` lines)."""


@dataclasses.dataclass(frozen=True)
class ParsedTask:
    """One task: its sub-tasks in order."""

    name: str
    """Normalised id."""
    description: str
    subtasks: tuple[ParsedSubtask, ...]


@dataclasses.dataclass(frozen=True)
class ParseResult:
    """The usable tasks of an answer and, per unusable one, why."""

    tasks: tuple[ParsedTask, ...]
    errors: tuple[str, ...]
    """One line each, naming the task (and sub-task) and what was expected."""


def normalise(name: str) -> str:
    """``OpenMicrowaveDoor`` / ``open the door`` / ``Open-Door`` -> ``open_microwave_door`` / ``open_the_door`` / ``open_door``."""
    name = re.sub(r"[*`_\"']+", " ", name).strip()
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


_HEAD = r"^[ \t>#*_0-9.)(-]*"  # markdown decoration and numbering before a heading word
_TASK = re.compile(_HEAD + r"task(?!\s*description)\s*(?:\d+\s*)?[:*_ ]+[ \t]*(?P<rest>.*)$", re.I | re.M)
_SUB = re.compile(_HEAD + r"sub[-\s]?task(?!\s*decomposition)\s*(?:\d+\s*)?[:*_ ]+[ \t]*(?P<rest>.*)$", re.I | re.M)
_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)^[ \t]*```", re.M | re.S)
_DESC = re.compile(_HEAD + r"(?:task\s+)?description\s*[:*_ ]+[ \t]*(?P<rest>.*)$", re.I | re.M)
_START = re.compile(_HEAD + r"start\s*[:*_ ]+[ \t]*(?P<rest>.*)$", re.I | re.M)
_DECOMP = re.compile(_HEAD + r"(?:sub[-\s]?tasks|sub[-\s]?task\s+decomposition|decomposition)\s*[:*_ ]+[ \t]*(?P<rest>.*)$",
                     re.I | re.M)


def _clean(text: str) -> str:
    return text.strip().strip("*_` ").strip().strip('"“”').strip()


def _defs(code: str) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(code)
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _code_format(code: str) -> str:
    return "gen2sim" if re.search(r"def\s+compute_reward\s*\(\s*self\b", code) or "self.env" in code else "state"


def _check_code(code: str, fmt: str) -> str | None:
    """Why the code cannot be used (None: it defines what its format needs)."""
    try:
        defs = _defs(code)
    except SyntaxError as exc:
        return f"the code does not parse: {exc.msg} (line {exc.lineno})"
    need = ("compute_reward",) if fmt == "gen2sim" else ("compute_reward", "is_success")
    arg = "self" if fmt == "gen2sim" else "state"
    for fn in need:
        if fn not in defs:
            return f"the code defines no {fn}({arg})"
        if len(defs[fn].args.args) != 1:
            return f"{fn} must take one argument ({arg}), it takes {len(defs[fn].args.args)}"
    return None


def _start(text: str) -> tuple[dict[str, tuple[float, float]], list[str]]:
    out, bad = {}, []
    for line in _START.finditer(text):
        for item in re.split(r"[,;]", line["rest"]):
            item = _clean(item)
            if not item:
                continue
            m = re.fullmatch(r"([A-Za-z0-9_./-]+)\s*[=:]\s*([A-Za-z]+|[0-9.]+\s*(?:-|\.\.|to)\s*[0-9.]+)", item)
            if m is None:
                bad.append(f"Start line {item!r}: expected JOINT=closed|open|half|LOW-HIGH")
                continue
            value = m[2].lower()
            if value in START_WORDS:
                out[m[1]] = START_WORDS[value]
            elif re.fullmatch(r"[0-9.]+\s*(?:-|\.\.|to)\s*[0-9.]+", value):
                lo, hi = (float(v) for v in re.split(r"\s*(?:-|\.\.|to)\s*", value))
                if not 0.0 <= lo <= hi <= 1.0:
                    bad.append(f"Start line {item!r}: the range must lie within 0..1")
                    continue
                out[m[1]] = (lo, hi)
            else:
                bad.append(f"Start line {item!r}: expected closed, open, half or LOW-HIGH")
    return out, bad


def _sections(text: str, pattern: re.Pattern) -> list[tuple[str, str]]:
    """(heading rest, body) of every section starting at a line ``pattern`` matches (fenced code is skipped)."""
    fences = [(m.start(), m.end()) for m in _FENCE.finditer(text)]
    heads = [m for m in pattern.finditer(text) if not any(a <= m.start() < b for a, b in fences)]
    return [(m["rest"], text[m.end(): heads[k + 1].start() if k + 1 < len(heads) else len(text)]) for k, m in enumerate(heads)]


def _first(pattern: re.Pattern, text: str) -> str:
    m = pattern.search(_FENCE.sub("", text))
    return _clean(m["rest"]) if m else ""


def _subtask(name: str, body: str, where: str) -> tuple[ParsedSubtask | None, list[str]]:
    blocks = _FENCE.findall(body)
    if not blocks:
        return None, [f"{where}: no code block (expected a fenced block defining compute_reward and is_success)"]
    code = max((c for _, c in blocks), key=lambda c: ("compute_reward" in c, len(c)))
    fmt = _code_format(code)
    why = _check_code(code, fmt)
    if why:
        return None, [f"{where}: {why}"]
    start, bad = _start(body)
    if bad:
        return None, [f"{where}: {b}" for b in bad]
    return ParsedSubtask(name=normalise(name), description=_first(_DESC, body), code=code.rstrip() + "\n", format=fmt,
                         start=start), []


def _names(listing: str, after: str) -> list[str]:
    """Task names of a decomposition line, or of the numbered list right after it."""
    items = [s for s in re.split(r"\s*(?:,|->|→|=>|;|\bthen\b)\s*", _clean(listing)) if _clean(s)]
    if not items:
        items = re.findall(r"^\s*(?:\d+[.)]|[-*])\s*(.+?)\s*$", after, re.M)
    return [normalise(re.sub(r"^\d+[.)]\s*", "", _clean(s))) for s in items]


def parse_answer(text: str) -> ParseResult:
    """The tasks of an answer in either format (see the module docstring)."""
    tasks: list[ParsedTask] = []
    errors: list[str] = []
    by_name: dict[str, ParsedTask] = {}
    pending: list[tuple[str, str, list[str]]] = []  # decomposition blocks, resolved once every task is known
    for head, body in _sections(text, _TASK):
        name = normalise(head)
        if not name:
            continue
        where = f"task {name!r}"
        desc = _first(_DESC, body)
        subs = _sections(body, _SUB)
        if subs:
            parsed, problems = [], []
            for sub_head, sub_body in subs:
                sub, errs = _subtask(sub_head, sub_body, f"{where}, sub-task {normalise(sub_head)!r}")
                problems += errs
                if sub is not None:
                    parsed.append(sub)
            if problems:
                errors += problems
                continue
            task = ParsedTask(name, desc, tuple(parsed))
        elif _FENCE.search(body):
            sub, errs = _subtask(name, body, where)
            if sub is None:
                errors += errs
                continue
            task = ParsedTask(name, desc, (dataclasses.replace(sub, description=sub.description or desc),))
        else:
            decomp = _DECOMP.search(body)
            if decomp is None:
                errors.append(f"{where}: no code block and no sub-tasks (expected Sub-task sections with code, or "
                              "'Sub-tasks: A, B, C' naming other tasks)")
                continue
            pending.append((name, desc, _names(decomp["rest"], body[decomp.end():])))
            continue
        if len({s.name for s in task.subtasks}) != len(task.subtasks):
            errors.append(f"{where}: two sub-tasks share a name")
            continue
        tasks.append(task)
        by_name[name] = task
    for name, desc, parts in pending:
        missing = [p for p in parts if p not in by_name]
        if not parts or missing:
            errors.append(f"task {name!r}: its sub-tasks {missing or parts} are not tasks of this answer "
                          f"(known: {', '.join(by_name) or 'none'})")
            continue
        subs = tuple(dataclasses.replace(by_name[p].subtasks[0], name=p) if len(by_name[p].subtasks) == 1 else None
                     for p in parts)
        if any(s is None for s in subs):
            errors.append(f"task {name!r}: a sub-task it names has sub-tasks of its own")
            continue
        tasks.append(ParsedTask(name, desc, subs))  # type: ignore[arg-type]
    if not tasks and not errors:
        errors.append("no task found: expected blocks starting 'Task: NAME', each with 'Sub-task: NAME' sections and a "
                      "fenced code block defining compute_reward(state) and is_success(state)")
    return ParseResult(tuple(tasks), tuple(errors))
