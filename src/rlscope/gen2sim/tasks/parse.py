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

Headings may be numbered, bold or ``#``-prefixed and need a colon (``**Task 2:** OpenDrawer``); fences may
carry a language tag or none; prose around them is skipped. A code block's format is read from what it
defines (``compute_reward(self)`` or ``self.env``: the Gen2Sim format). Each task that cannot be used is left
out with one error naming it (and its sub-task) and what was expected; the others are kept. Scene names are
not checked here (:mod:`rlscope.gen2sim.tasks.static` does, against the scene).
"""

from __future__ import annotations

import ast
import dataclasses
import re

START_WORDS = {"closed": (0.0, 0.0), "open": (0.75, 1.0), "half": (0.4, 0.6)}
"""``Start:`` values and the fraction of a joint's travel each stands for (0 = closed, 1 = fully open)."""
EXPECTED = ("expected blocks starting 'Task: NAME', each with 'Sub-task: NAME' sections holding a fenced code block "
            "that defines compute_reward(state) and is_success(state) (or, in the Gen2Sim format, 'Task: Name', "
            "'Task Description: ...' and a code block defining compute_reward(self))")
"""What an answer should look like, for the error of an answer without any task."""


@dataclasses.dataclass(frozen=True)
class ParsedSubtask:
    """One sub-task as the answer gives it."""

    name: str
    """Normalised id (``[a-z0-9_]+``), unique within its task."""
    description: str
    """What the answer says the sub-task does (may be empty)."""
    code: str
    """The Python source of its code block(s)."""
    format: str
    """``state`` (this project's ``compute_reward(state)``, ``is_success(state)``) or ``gen2sim`` (the paper's
    ``compute_reward(self)``)."""
    start: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    """Joint -> (low, high) fraction of its travel it starts in (from ``Start:`` lines; empty: the default)."""


@dataclasses.dataclass(frozen=True)
class ParsedTask:
    """One task: its sub-tasks in order."""

    name: str
    """Normalised id (``[a-z0-9_]+``)."""
    description: str
    """What the answer says the task is (may be empty)."""
    subtasks: tuple[ParsedSubtask, ...]
    """In the order they run; at least one."""


@dataclasses.dataclass(frozen=True)
class ParseResult:
    """The usable tasks of an answer and, per unusable one, why."""

    tasks: tuple[ParsedTask, ...]
    """The tasks that parsed, in the order of the answer (long-horizon Gen2Sim tasks after the others)."""
    errors: tuple[str, ...]
    """One line each, naming the task (and sub-task) and what was expected."""


def normalise(name: str) -> str:
    """A name as an id: ``OpenMicrowaveDoor`` -> ``open_microwave_door``, ``**Open-Door**`` -> ``open_door``,
    ``open the door (long)`` -> ``open_the_door``."""
    name = re.sub(r"\(.*?\)|[*`\"'“”]+", " ", name).strip()
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _key(name: str) -> str:
    """What two names of one task share however they are written (case, spaces, underscores, dashes)."""
    return normalise(name).replace("_", "")


_HEAD = r"^[ \t>#*_0-9.)(-]*"  # markdown decoration and numbering before a heading word


def _heading(words: str) -> re.Pattern:
    """A line ``WORDS[ N]: rest``, decorated or numbered as markdown has it; ``rest`` is the text after the colon."""
    return re.compile(_HEAD + rf"(?:{words})[ \t]*(?:\d+[ \t]*)?[*_ \t]*:[*_ \t]*(?P<rest>.*)$", re.IGNORECASE | re.MULTILINE)


_TASK = _heading(r"task")
_SUB = _heading(r"sub[- \t]?task")
_DESC = _heading(r"(?:(?:sub[- \t]?)?task[ \t]+)?description")
_START = _heading(r"start")
_DECOMP = _heading(r"sub[- \t]?tasks|sub[- \t]?task[ \t]+decomposition|decomposition")
_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.MULTILINE | re.DOTALL)
_RANGE = re.compile(r"(\d*\.?\d+)\s*(?:-|–|\.\.|to)\s*(\d*\.?\d+)")
_CODE_TAGS = ("", "python", "py", "python3")


def _clean(text: str) -> str:
    return text.strip().strip("*_`#: \t").strip().strip('"“”').strip()


def _prose(text: str) -> str:
    """``text`` without its fenced code (headings and ``Start:`` lines are read from this)."""
    return _FENCE.sub("", text)


def _first(pattern: re.Pattern, text: str) -> str:
    m = pattern.search(_prose(text))
    return _clean(m["rest"]) if m else ""


def _sections(text: str, pattern: re.Pattern) -> tuple[str, list[tuple[str, str]]]:
    """The text before the first line ``pattern`` matches outside fenced code, and (heading rest, body) of every
    section starting at such a line."""
    fences = [(m.start(), m.end()) for m in _FENCE.finditer(text)]
    heads = [m for m in pattern.finditer(text) if not any(a <= m.start() < b for a, b in fences)]
    ends = [m.start() for m in heads[1:]] + [len(text)]
    return text[:heads[0].start()] if heads else text, [(m["rest"], text[m.end():end]) for m, end in zip(heads, ends)]


def code_format(code: str) -> str:
    """``gen2sim`` for code defining ``compute_reward(self)`` or using ``self.env``, else ``state``."""
    return "gen2sim" if re.search(r"def\s+compute_reward\s*\(\s*self\b", code) or "self.env" in code else "state"


def _code(body: str) -> str | None:
    """The code of a section: its Python (or untagged) fenced blocks that define a function, joined (a model
    may give compute_reward and is_success in two blocks); None when there is none."""
    blocks = [c for tag, c in _FENCE.findall(body) if tag.lower() in _CODE_TAGS]
    defining = [c.strip("\n") for c in blocks if re.search(r"^def\s", c, re.MULTILINE)]
    return "\n\n\n".join(defining) + "\n" if defining else None


def _check_code(code: str, fmt: str) -> str | None:
    """Why the code cannot be used (None: it defines what its format needs)."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return f"the code does not parse: {exc.msg} (line {exc.lineno} of the code block)"
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    need, arg = (("compute_reward",), "self") if fmt == "gen2sim" else (("compute_reward", "is_success"), "state")
    for fn in need:
        if fn not in defs:
            return f"the code defines no {fn}({arg})"
        n = len(defs[fn].args.posonlyargs) + len(defs[fn].args.args)
        if n != 1 or defs[fn].args.vararg or defs[fn].args.kwonlyargs:
            return f"{fn} must take one argument ({arg}), it takes {n}"
    return None


def _start_value(value: str) -> tuple[float, float] | None:
    """A ``Start:`` value as (low, high) fractions of travel; None when it is none of the forms."""
    value = value.strip().lower()
    if value in START_WORDS:
        return START_WORDS[value]
    m = _RANGE.fullmatch(value)
    if m:
        return float(m[1]), float(m[2])
    return (float(value),) * 2 if re.fullmatch(r"\d*\.?\d+", value) else None


def parse_start(text: str) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """The ``Start:`` lines of ``text`` (outside fenced code): joint -> (low, high), and one problem per item
    that is not ``JOINT=closed|open|half|LOW-HIGH`` with 0 <= LOW <= HIGH <= 1."""
    out, bad = {}, []
    for line in _START.finditer(_prose(text)):
        for item in re.split(r"[,;]", line["rest"]):
            item = _clean(item.replace("`", "").replace("*", ""))
            if not item or item.lower() in ("none", "default", "-", "n/a"):
                continue
            m = re.fullmatch(r"([A-Za-z0-9_./-]+)\s*[=:]\s*(.+)", item)
            span = _start_value(m[2]) if m else None
            if span is None:
                bad.append(f"Start {item!r}: expected JOINT=closed, open, half or LOW-HIGH (fractions of its travel)")
            elif not 0.0 <= span[0] <= span[1] <= 1.0:
                bad.append(f"Start {item!r}: the range must lie within 0..1, low first")
            else:
                out[m[1]] = span
    return out, bad


def _subtask(name: str, body: str, description: str, where: str) -> tuple[ParsedSubtask | None, list[str]]:
    code = _code(body)
    if code is None:
        return None, [(f"{where}: no code block (expected a fenced ```python block defining compute_reward(state) "
                       "and is_success(state), or compute_reward(self) in the Gen2Sim format)")]
    fmt = code_format(code)
    why = _check_code(code, fmt)
    if why:
        return None, [f"{where}: {why}"]
    start, bad = parse_start(body)
    if bad:
        return None, [f"{where}: {b}" for b in bad]
    return ParsedSubtask(name=name, description=_first(_DESC, body) or description, code=code, format=fmt, start=start), []


def _unique(subs: list[ParsedSubtask]) -> tuple[ParsedSubtask, ...]:
    """Sub-tasks whose names repeat made unique (``open``, ``open_2``, ...)."""
    seen: dict[str, int] = {}
    out = []
    for s in subs:
        seen[s.name] = seen.get(s.name, 0) + 1
        out.append(s if seen[s.name] == 1 else dataclasses.replace(s, name=f"{s.name}_{seen[s.name]}"))
    return tuple(out)


def _listed(rest: str, after: str) -> list[str]:
    """Task names of a decomposition line, or of the numbered or bulleted list on the lines right after it."""
    items = [_clean(s) for s in re.split(r"\s*(?:,|->|→|=>|;|\bthen\b)\s*", _clean(rest))]
    items = [s for s in items if s]
    if not items:
        for line in after.splitlines():
            m = re.match(r"^\s*(?:\d+[.)]|[-*+])\s*(.+?)\s*$", line)
            if m:
                items.append(m[1])
            elif line.strip() or items:
                break
    return [re.sub(r"^\d+[.)]\s*", "", _clean(s)) for s in items]


def _task(name: str, body: str, where: str) -> tuple[ParsedTask | None, list[str], list[str] | None]:
    """A task section: the task, or its errors, or (for a Gen2Sim decomposition) the names it is made of."""
    preamble, sections = _sections(body, _SUB)
    if sections:
        desc = _first(_DESC, preamble)
        subs, errors = [], []
        for i, (head, sub_body) in enumerate(sections, 1):
            sub_name = normalise(head) or f"subtask_{i}"
            sub, errs = _subtask(sub_name, sub_body, "", f"{where}, sub-task {sub_name!r}")
            errors += errs
            subs += [sub] if sub else []
        return (None, errors, None) if errors else (ParsedTask(name, desc, _unique(subs)), [], None)
    desc = _first(_DESC, body)
    if _code(body) is not None:
        sub, errs = _subtask(name, body, desc, where)
        return (None, errs, None) if sub is None else (ParsedTask(name, desc, (sub,)), [], None)
    decomp = _DECOMP.search(_prose(body))
    if decomp is None:
        return None, [(f"{where}: no code block and no sub-tasks (expected 'Sub-task: NAME' sections with code, a "
                       "code block, or 'Sub-tasks: A, B, C' naming other tasks of the answer)")], None
    prose = _prose(body)
    names = _listed(decomp["rest"], prose[decomp.end():])
    if not names:
        return None, [f"{where}: its decomposition names no task (expected 'Sub-tasks: A, B, C' or 'A -> B')"], None
    return None, [], names


def parse_answer(text: str) -> ParseResult:
    """The tasks of an answer in either format (see the module docstring)."""
    tasks: list[ParsedTask] = []
    errors: list[str] = []
    known: dict[str, ParsedTask] = {}  # by _key
    broken: set[str] = set()
    composed: list[tuple[str, str, list[str]]] = []  # decompositions, resolved once every task is known
    _, sections = _sections(text, _TASK)
    for head, body in sections:
        name = normalise(head)
        if not name:
            errors.append("a 'Task:' heading without a name (expected 'Task: NAME')")
            continue
        where = f"task {name!r}"
        if _key(name) in known or _key(name) in broken or any(_key(c[0]) == _key(name) for c in composed):
            errors.append(f"{where}: a second task of that name (the first one is kept)")
            continue
        task, errs, parts = _task(name, body, where)
        errors += errs
        if parts is not None:
            composed.append((name, _first(_DESC, body), parts))
        elif task is None:
            broken.add(_key(name))
        else:
            tasks.append(task)
            known[_key(name)] = task
    for name, desc, parts in composed:
        where = f"task {name!r}"
        left_out = [normalise(p) for p in parts if _key(p) in broken]
        missing = [normalise(p) for p in parts if _key(p) not in known and _key(p) not in broken]
        if left_out or missing:
            why = []
            if left_out:
                why.append(f"{', '.join(left_out)} failed to parse (see {'its' if len(left_out) == 1 else 'their'} errors)")
            if missing:
                why.append(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not a task of this answer "
                           f"(known: {', '.join(t.name for t in known.values()) or 'none'})")
            errors.append(f"{where}: its sub-tasks are the tasks it names, but {'; '.join(why)}")
            broken.add(_key(name))
            continue
        subs: list[ParsedSubtask] = []
        for p in parts:
            part = known[_key(p)]
            subs += [dataclasses.replace(part.subtasks[0], name=part.name)] if len(part.subtasks) == 1 else part.subtasks
        task = ParsedTask(name, desc, _unique(subs))
        tasks.append(task)
        known[_key(name)] = task
    if not sections:
        errors.append(f"no task found: {EXPECTED}")
    return ParseResult(tuple(tasks), tuple(dict.fromkeys(errors)))
