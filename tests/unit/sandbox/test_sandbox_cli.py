"""`rlscope sandbox run FILE` through its function: one JSON line, exit status 0 whatever the program did."""

from __future__ import annotations

import json

import pytest

from rlscope.sandbox import probe
from rlscope.sandbox.cli import SandboxRunConfig, run_command
from rlscope.sandbox.probe import Isolation


@pytest.fixture(autouse=True)
def _need_sandbox():
    iso = probe()
    if iso.bwrap is None or iso.cgroup_version is None:
        pytest.skip(iso.line())


@pytest.mark.parametrize(
    ("code", "timeout", "outcome", "exit_code"),
    [
        ("print('hello')", 5.0, "PASS", 0),
        ("import sys\nprint('bad', file=sys.stderr)\nsys.exit(4)", 5.0, "FAIL", 4),
        ("while True:\n    pass", 0.3, "TIMEOUT", None),
        ("import ctypes\nctypes.string_at(0)", 5.0, "CRASH", None),
    ],
)
def test_run_command(tmp_path, capsys, code, timeout, outcome, exit_code):
    path = tmp_path / "program.py"
    path.write_text(code)
    assert run_command(SandboxRunConfig(file=path, timeout=timeout, memory=256)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["outcome"] == outcome and data["exit_code"] == exit_code
    assert {"signal", "duration_s", "stdout", "stderr"} <= set(data)
    assert data["limits"]["cpu_time_s"] == timeout and data["limits"]["memory_mb"] == 256


def test_run_command_reports_stdout_stderr(tmp_path, capsys):
    path = tmp_path / "p.py"
    path.write_text("import sys\nprint('out')\nprint('err', file=sys.stderr)\nprint(sys.stdin.read())")
    stdin = tmp_path / "in.txt"
    stdin.write_text("fed")
    assert run_command(SandboxRunConfig(file=path, stdin=stdin)) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["stdout"], data["stderr"]) == ("out\nfed\n", "err\n")


def test_run_command_fails_only_for_the_sandbox(tmp_path, capsys, monkeypatch):
    assert run_command(SandboxRunConfig(file=tmp_path / "missing.py")) == 1
    path = tmp_path / "p.py"
    path.write_text("print(1)")
    fake = Isolation(None, "bwrap not found on PATH", 1, None, True)
    monkeypatch.setattr("rlscope.sandbox.runner.probe", lambda: fake)
    assert run_command(SandboxRunConfig(file=path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "missing.py" in err[0] and "bwrap not found" in err[1]
