"""Long isolated runs: a whole Python process in bubblewrap with one writable directory."""

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from rlscope.sandbox import process
from rlscope.sandbox.pool import SandboxUnavailable
from rlscope.sandbox.probe import probe

needs_bwrap = pytest.mark.skipif(probe().bwrap is None, reason="bubblewrap is not usable here")

PROBE = """
import json, os, socket, sys
out = sys.argv[1]
facts = {"uid": os.getuid(), "env": sorted(os.environ), "cwd": os.getcwd(),
         "sees_tests": os.path.exists(sys.argv[2]), "sees_home_tmp": os.path.exists(sys.argv[3])}
try:
    open(sys.argv[3] + "/leak.txt", "w").write("x")
    facts["wrote_outside"] = True
except OSError:
    facts["wrote_outside"] = False
try:
    socket.create_connection(("1.1.1.1", 53), timeout=1)
    facts["net"] = True
except OSError:
    facts["net"] = False
open(os.path.join(out, "facts.json"), "w").write(json.dumps(facts))
sys.exit(7)
"""


@needs_bwrap
def test_module_runs_isolated_with_only_its_directory_writable(tmp_path, monkeypatch):
    out = tmp_path / "out"  # the one writable directory; the probe script is placed there so the sandbox can read it
    out.mkdir()
    (out / "probe_mod.py").write_text(PROBE)
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.setenv("RLSCOPE_SECRET_TOKEN", "s3cret")
    monkeypatch.setenv("PYTHONPATH", str(out))
    cmd = process.isolated_command([sys.executable, str(out / "probe_mod.py"), str(out), __file__, str(outside)], [out],
                                   probe().bwrap, {})
    import subprocess

    proc = subprocess.run(cmd, env=dict(__import__("os").environ), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 7, proc.stderr
    facts = json.loads((out / "facts.json").read_text())
    assert facts["uid"] == 65534
    assert "RLSCOPE_SECRET_TOKEN" not in facts["env"] and "PYTHONPATH" not in facts["env"]
    assert facts["sees_tests"] is False  # the host's files beyond the runtime are not there
    assert not (outside / "leak.txt").exists()  # a write there, if any, went to the sandbox's private /tmp
    assert facts["net"] is False


@needs_bwrap
def test_run_python_module_passes_exit_status_and_limits(tmp_path):
    res = process.run_python_module("rlscope", ["version"], [tmp_path])
    assert res.returncode == 0 and res.isolated
    res = process.run_python_module("rlscope", ["no-such-command"], [tmp_path])
    assert res.returncode == 2 and "unknown command" in res.stderr_tail


def test_refuses_without_bubblewrap_unless_unsafe(tmp_path, monkeypatch):
    iso = dataclasses.replace(probe(), bwrap=None, bwrap_error="bwrap not found on PATH")
    monkeypatch.setattr(process, "probe", lambda: iso)
    with pytest.raises(SandboxUnavailable, match="--unsafe"):
        process.run_python_module("rlscope", ["version"], [tmp_path])
    res = process.run_python_module("rlscope", ["version"], [tmp_path], unsafe=True)
    assert res.returncode == 0 and res.isolated is False


def test_isolated_command_binds_only_what_it_must(tmp_path):
    cmd = process.isolated_command(["python", "-c", "pass"], [tmp_path], "bwrap", {"OMP_NUM_THREADS": "1"})
    text = " ".join(cmd)
    assert "--unshare-net" in cmd and "--die-with-parent" in cmd and "--clearenv" in cmd
    assert f"--bind {tmp_path.resolve()} {tmp_path.resolve()}" in text
    assert "--ro-bind / /" not in text and f"-bind {Path.home()} " not in text  # not the whole root, not home
    assert cmd.index("--tmpfs") < cmd.index("--ro-bind")  # /tmp first: binds under /tmp stay visible
    assert "--setenv OMP_NUM_THREADS 1" in text


COPY = """
import pathlib, sys
src, dst = map(pathlib.Path, sys.argv[1:3])
dst.write_text(src.read_text() + " seen inside")
"""


@needs_bwrap
def test_relative_spaced_and_symlinked_paths_reach_the_isolated_process(tmp_path, monkeypatch):
    """The isolated process starts in its own /tmp: path arguments must name the same files there."""
    real = tmp_path / "real dir with spaces"
    real.mkdir()
    (real / "copy_mod.py").write_text(COPY)
    (real / "in.txt").write_text("hello")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "link to run").symlink_to(real, target_is_directory=True)
    monkeypatch.chdir(tmp_path / "work")
    rel = Path("link to run")  # relative, through a symlink, with spaces: as a user's --out may be
    res = process.run_python_module("copy_mod", [rel / "in.txt", rel / "out.txt"], [rel], env={"PYTHONPATH": str(real)})
    assert res.returncode == 0, res.stderr_tail
    assert (real / "out.txt").read_text() == "hello seen inside"
    assert process.inside_path(rel) == str(real.resolve())


@needs_bwrap
def test_a_run_past_its_wall_clock_limit_is_killed_with_everything_it_started(tmp_path):
    """A sleeping process never reaches a CPU-time limit; the wall-clock limit ends it, children included."""
    import time

    (tmp_path / "sleeper.py").write_text("import subprocess, sys, time\n"
                                         "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
                                         "time.sleep(600)\n")
    t0 = time.monotonic()
    res = process.run_python_module("sleeper", [], [tmp_path], env={"PYTHONPATH": str(tmp_path)},
                                    limits=process.ProcessLimits(wall_s=1.5))
    assert res.timed_out and res.returncode != 0
    assert time.monotonic() - t0 < 30
    fast = process.run_python_module("rlscope", ["version"], [tmp_path], limits=process.ProcessLimits(wall_s=60))
    assert fast.returncode == 0 and not fast.timed_out
