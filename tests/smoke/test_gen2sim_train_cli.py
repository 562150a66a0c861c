"""The real `rlscope gen2sim train|run` CLI: sandboxed task code, learning, kill -9 and resume, reports."""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlscope.gen2sim.pipeline import STANDARD_DIR
from rlscope.sandbox.probe import probe

ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl"}
needs_sandbox = pytest.mark.skipif(probe().bwrap is None, reason="bubblewrap is not usable here")


def rlscope(*args, check=True, timeout=600, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "rlscope", *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=timeout, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlscope {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def _task_with_code(tmp_path: Path, code: str) -> Path:
    task = tmp_path / "task"
    shutil.copytree(STANDARD_DIR / "open_drawer", task)
    (task / "open_drawer.py").write_text(code)
    return task


@needs_sandbox
def test_open_drawer_learns_in_the_sandbox_and_reports(tmp_path):
    """The standard drawer skill, trained and evaluated over 100 episodes, succeeds honestly; the report loads."""
    run = tmp_path / "run"
    out = rlscope("gen2sim", "train", "open_drawer", "--out", run, "--no-progress")  # its default budget
    summary = json.loads((run / "summary.json").read_text())
    ev = summary["subtasks"][0]["eval"]
    assert ev["episodes"] == 100
    assert ev["honest_success_rate"] >= 0.8, ev
    assert ev["penetration_max_m"] < 0.01
    assert "open_drawer" in out.stdout and "report" in out.stdout
    metrics = [json.loads(line) for line in (run / "subtasks" / "open_drawer" / "metrics.jsonl").read_text().splitlines()]
    assert [m["update"] for m in metrics] == list(range(1, len(metrics) + 1))
    assert {"reward/reach", "reward/grasp", "reward/open"} <= set(metrics[-1])
    gif = run / "videos" / "open_drawer.gif"
    assert gif.exists() and gif.stat().st_size > 10_000
    from rlscope.report.browser import check_page, find_browser

    if find_browser() is None:
        pytest.skip("no Chromium here to check the page in")
    page = check_page(run / "report.html")
    assert page["images_broken"] == 0 and page["images_loaded"] == page["images_total"] >= 3


@needs_sandbox
def test_sandboxed_training_with_the_default_relative_run_directory(tmp_path):
    """No --out: the run directory is the default, relative to the working directory, as a user starts it."""
    rlscope("gen2sim", "train", "open_drawer", "--steps", 2048, "--episodes", 4, "--no-progress", "--no-video", cwd=tmp_path)
    run = tmp_path / "runs" / "gen2sim" / "open_drawer"
    assert json.loads((run / "checks.json").read_text())["open_drawer"] == {"ok": True}
    assert json.loads((run / "summary.json").read_text())["subtasks"][0]["eval"]["episodes"] == 4
    assert (run / "subtasks" / "open_drawer" / "best.pt").exists() and (run / "report.html").exists()


@needs_sandbox
def test_task_code_runs_only_inside_the_sandbox(tmp_path):
    """Task code that imports os or socket is refused before it runs; what it can reach without them (NumPy's
    file functions) sees no host files beyond the runtime, and what it writes stays in the sandbox."""
    marker = tmp_path / "escaped.txt"
    escape = ("import os, socket\n"
              f"open({str(marker)!r}, 'w').write('x')\n")
    task = _task_with_code(tmp_path, escape + (STANDARD_DIR / "open_drawer" / "open_drawer.py").read_text())
    proc = rlscope("gen2sim", "train", task, "--out", tmp_path / "refused", "--no-progress", check=False)
    assert proc.returncode == 2 and "imports os; task code may use only numpy and math" in proc.stderr
    assert not marker.exists()  # never run
    code = ("def _reads(path):\n"
            "    try:\n"
            "        np.fromfile(path, dtype=np.uint8, count=1)\n"
            "        return True\n"
            "    except OSError:\n"
            "        return False\n\n"
            f"HOME = _reads({__file__!r})\n"  # the host's files beyond the runtime are not there
            f"np.save({str(marker)!r}, np.zeros(1))\n"  # a write outside the run directory
            "def compute_reward(state):\n"
            "    if HOME:\n"
            "        raise RuntimeError('escaped: read a host file')\n"
            "    return state.joint('cabinet/drawer_0_joint').fraction, {}\n\n"
            "def is_success(state):\n    return state.joint('cabinet/drawer_0_joint').fraction >= 0.66\n")
    shutil.rmtree(tmp_path / "task")
    task = _task_with_code(tmp_path, code)
    rlscope("gen2sim", "train", task, "--out", tmp_path / "run", "--steps", 2048, "--episodes", 4, "--no-progress",
            "--no-video", "--no-report")
    assert not marker.exists() and not marker.with_suffix(".txt.npy").exists()  # the write went to the sandbox's /tmp
    assert json.loads((tmp_path / "run" / "checks.json").read_text())["open_drawer"] == {"ok": True}


@needs_sandbox
def test_reward_code_failing_during_training_is_reported_with_its_traceback(tmp_path):
    code = ("CALLS = [0]\n\n"  # fine in the check's few calls, raising once training is under way
            "def compute_reward(state):\n"
            "    CALLS[0] += 1\n"
            "    if CALLS[0] > 50:\n        raise ValueError('reward blew up at call 50')\n"
            "    return state.joint('cabinet/drawer_0_joint').fraction, {}\n\n"
            "def is_success(state):\n    return state.joint('cabinet/drawer_0_joint').fraction >= 0.66\n")
    task = _task_with_code(tmp_path, code)
    proc = rlscope("gen2sim", "train", task, "--out", tmp_path / "run", "--steps", 8192, "--no-progress", check=False)
    assert proc.returncode == 2
    assert "reward code of sub-task open_drawer failed" in proc.stderr and "blew up" in proc.stderr
    err = json.loads((tmp_path / "run" / "subtasks" / "open_drawer" / "error.json").read_text())
    assert "Traceback" in err["error"] and "ValueError" in err["error"]


@needs_sandbox
def test_killed_training_resumes_from_its_checkpoint(tmp_path):
    run = tmp_path / "run"
    args = ["-m", "rlscope", "gen2sim", "train", "open_drawer", "--out", str(run), "--steps", "40960", "--no-progress",
            "--no-video", "--no-report", "--episodes", "16"]
    proc = subprocess.Popen([sys.executable, *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    metrics = run / "subtasks" / "open_drawer" / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:
        if (run / "subtasks" / "open_drawer" / "checkpoint.pt").exists() and metrics.exists() \
                and len(metrics.read_text().splitlines()) >= 12:
            break
        assert proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its sandboxed worker
    proc.wait()
    done_before = len(metrics.read_text().splitlines())
    assert 10 <= done_before < 20
    rlscope(*args[2:])
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["update"] for r in rows] == list(range(1, 21))  # 40,960 / 2,048: no update lost or repeated
    result = json.loads((run / "subtasks" / "open_drawer" / "result.json").read_text())
    assert result["steps"] == 40_960
    assert (run / "subtasks" / "open_drawer" / "eval.json").exists()


def test_bad_task_dir_is_one_clear_line(tmp_path):
    proc = rlscope("gen2sim", "train", tmp_path, check=False)
    assert proc.returncode == 2 and "not a task directory" in proc.stderr and "open_drawer" in proc.stderr
    (tmp_path / "task.json").write_text('{"task_id": "x", "scene": {}, "subtasks": [{"name": "a", "code": "missing.py"}]}')
    proc = rlscope("gen2sim", "train", tmp_path, check=False)
    assert proc.returncode == 2 and "missing.py" in proc.stderr and "subtasks[0]" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@needs_sandbox
def test_run_from_a_photo_and_a_procedural_asset(tmp_path):
    """The whole loop on a bundled photo (lifted, given physics, used as the object to push) and a cabinet."""
    from rlscope.gen2sim.assets.samples import DATA_DIR

    out = tmp_path / "g2s"
    proc = rlscope("gen2sim", "run", DATA_DIR / "mug.png", "procedural:cabinet", "--category", "mug", "--out", out,
                   "--tasks", "push_mug", "open_cabinet_*", "--steps", 2048, "--episodes", 4, "--no-progress", "--no-video")
    # the offline proposer's tasks for both inputs, each validated in the sandbox; the mug goes into the drawer too
    for tid in ("open_cabinet_drawer_0", "close_cabinet_drawer_0", "put_mug_into_cabinet_drawer_0", "push_mug", "pick_place_mug"):
        assert f"  {tid}: valid" in proc.stdout, tid
        assert json.loads((out / "tasks" / tid / "validation.json").read_text())["ok"]
    summary = json.loads((out / "summary.json").read_text())
    assert {s["task_id"] for s in summary} == {"push_mug", "open_cabinet_drawer_0"}
    push = json.loads((out / "tasks" / "push_mug" / "task.json").read_text())
    assert push["scene"]["objects"][0]["asset"]  # the lifted mug, not a cube
    run_task = json.loads((out / "runs" / "push_mug" / "task" / "task.json").read_text())
    assert run_task["scene"]["objects"][0]["asset"] == "assets/mug"  # the run directory is self-contained
    assert (out / "runs" / "push_mug" / "task" / "assets" / "mug" / "asset.json").exists()
    assert (out / "index.html").read_text().count("report.html") == 2


@needs_sandbox
@pytest.mark.skipif(importlib.util.find_spec("robosuite") is None, reason="robosuite's model files are not installed")
def test_panda_arm_opens_the_drawer(tmp_path):
    """`--arm panda`: the same skill with the gripper carried by a Panda, learned and evaluated in the sandbox."""
    run = tmp_path / "run"
    out = rlscope("gen2sim", "train", "open_drawer", "--arm", "panda", "--out", run, "--no-progress", "--no-video",
                  "--no-report")
    assert "open_drawer" in out.stdout
    task = json.loads((run / "task" / "task.json").read_text())
    assert task["scene"]["gripper"]["arm"] == "panda"
    ev = json.loads((run / "summary.json").read_text())["subtasks"][0]["eval"]
    assert ev["honest_success_rate"] >= 0.8, ev
    proc = rlscope("gen2sim", "train", "open_drawer", "--arm", "none", "--out", run, check=False)
    assert proc.returncode == 2 and "another version of task open_drawer (files that differ: task.json)" in proc.stderr
    proc = rlscope("gen2sim", "train", "open_drawer", "--arm", "none", "--out", run, "--resume", check=False)
    assert proc.returncode == 2 and "arm 'panda', not 'none'" in proc.stderr


@needs_sandbox
@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_pick_and_place_learns_with_its_own_ppo_settings(tmp_path, seed):
    """pick_place_cube trains with the entropy bonus its task.json asks for and places the cube (≈ 100 s each)."""
    run = tmp_path / "run"
    rlscope("gen2sim", "train", "pick_place_cube", "--seed", seed, "--out", run, "--no-progress", "--no-video",
            "--no-report")
    import torch

    ck = torch.load(run / "subtasks" / "pick_place_cube" / "checkpoint.pt", weights_only=False)
    assert ck["ppo"]["ent_coef"] == 0.01
    ev = json.loads((run / "summary.json").read_text())["subtasks"][0]["eval"]
    assert ev["honest_success_rate"] >= 0.8, ev


@needs_sandbox
def test_a_run_holding_another_version_of_the_task_is_refused_with_the_way_out(tmp_path):
    """The user fixes the task's code and reruns into the same --out: no silent reuse of the first copy."""
    task = _task_with_code(tmp_path, (STANDARD_DIR / "open_drawer" / "open_drawer.py").read_text())
    run = tmp_path / "run"
    args = ("gen2sim", "train", task, "--out", run, "--steps", 2048, "--episodes", 4, "--no-progress", "--no-video",
            "--no-report")
    rlscope(*args)
    rlscope(*args)  # the same task again: continues (nothing to redo)
    fixed = (task / "open_drawer.py").read_text().replace(">= 0.66", ">= 0.7")
    assert fixed != (task / "open_drawer.py").read_text()
    (task / "open_drawer.py").write_text(fixed)
    proc = rlscope(*args, check=False)
    assert proc.returncode == 2
    assert "already holds a run of another version of task open_drawer (files that differ: open_drawer.py)" in proc.stderr
    assert "--force" in proc.stderr and "--resume" in proc.stderr
    proc = rlscope(*args, "--resume")
    assert "continues with its own copy" in proc.stdout and ">= 0.66" in (run / "task" / "open_drawer.py").read_text()
    proc = rlscope(*args, "--force")
    assert "discarding the run" in proc.stdout
    assert (run / "task" / "open_drawer.py").read_text() == fixed


BLOCKED_URDF = """<?xml version="1.0"?>
<robot name="blocked">
  <link name="base"><inertial><mass value="1.0"/><inertia ixx="0.01" iyy="0.01" izz="0.01" ixy="0" ixz="0" iyz="0"/></inertial>
    <visual><geometry><box size="0.6 0.2 0.02"/></geometry></visual><collision><geometry><box size="0.6 0.2 0.02"/></geometry></collision></link>
  <link name="wall"><inertial><mass value="0.2"/><inertia ixx="0.001" iyy="0.001" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial>
    <visual><geometry><box size="0.02 0.2 0.1"/></geometry></visual><collision><geometry><box size="0.02 0.2 0.1"/></geometry></collision></link>
  <link name="slider"><inertial><mass value="0.1"/><inertia ixx="0.001" iyy="0.001" izz="0.001" ixy="0" ixz="0" iyz="0"/></inertial>
    <visual><geometry><box size="0.05 0.05 0.05"/></geometry></visual><collision><geometry><box size="0.05 0.05 0.05"/></geometry></collision></link>
  <joint name="wall_hinge" type="revolute"><parent link="base"/><child link="wall"/><origin xyz="0.1 0 0.06"/>
    <axis xyz="0 0 1"/><limit lower="0" upper="0.05" effort="10" velocity="1"/></joint>
  <joint name="slide" type="prismatic"><parent link="base"/><child link="slider"/><origin xyz="-0.2 0 0.04"/>
    <axis xyz="1 0 0"/><limit lower="0" upper="0.45" effort="10" velocity="1"/></joint>
</robot>
"""


def test_an_asset_that_fails_validation_exits_non_zero_unless_kept(tmp_path):
    """A slider whose travel a wall blocks cannot reach its range: the command says so and fails."""
    urdf = tmp_path / "blocked.urdf"
    urdf.write_text(BLOCKED_URDF)
    args = ("gen2sim", "asset", urdf, "--name", "blocked", "--out", tmp_path / "assets", "--preview", "none")
    proc = rlscope(*args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "asset blocked failed validation: joint:slide: reached" in proc.stderr and "--keep-going" in proc.stderr
    report = json.loads((tmp_path / "assets" / "blocked" / "validation.json").read_text())
    assert report["ok"] is False and report["checks"]["joint:slide"] is False
    assert rlscope(*args, "--keep-going").returncode == 0


@needs_sandbox
@pytest.mark.parametrize("body, reason", [
    ("while True:\n        pass", "compute_reward ran past its per-call budget of 1 s (--limits.call-s)"),
    ("import time\n    time.sleep(3600)", "imports time; task code may use only numpy and math"),  # never run
])
def test_hanging_reward_code_ends_the_check_with_one_line(tmp_path, body, reason):
    code = (STANDARD_DIR / "open_drawer" / "open_drawer.py").read_text() + f"\n\ndef compute_reward(state):\n    {body}\n"
    task = _task_with_code(tmp_path, code)
    t0 = time.monotonic()
    proc = rlscope("gen2sim", "train", task, "--out", tmp_path / "run", "--no-progress", "--limits.call-s", 1, check=False,
                   timeout=120)
    assert proc.returncode == 2 and time.monotonic() - t0 < 60
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("rlscope: error: task code failed its check in the sandbox: sub-task open_drawer: ")
    assert reason in last and last.endswith(f"(details in {tmp_path / 'run' / 'checks.json'})")


@needs_sandbox
def test_a_stage_past_its_wall_clock_limit_ends_with_one_line_and_keeps_its_checkpoint(tmp_path):
    """15 s leaves time for the first checkpoints (every 10 updates) on a slow hour, not for 400k steps (~60 s)."""
    run = tmp_path / "run"
    args = ("gen2sim", "train", "open_drawer", "--out", run, "--no-progress", "--no-video", "--no-report", "--episodes", 4,
            "--steps", 400_000)
    t0 = time.monotonic()
    proc = rlscope(*args, "--limits.train-s", 15, check=False)
    assert proc.returncode == 2 and time.monotonic() - t0 < 45
    assert proc.stderr.strip().splitlines()[-1] == ("rlscope: error: sub-task open_drawer's training stopped at its "
                                                    "wall-clock limit of 15 s (--limits.train-s); what was stored is kept")
    assert (run / "subtasks" / "open_drawer" / "checkpoint.pt").exists()
    assert not (run / "subtasks" / "open_drawer" / "eval.json").exists()


@needs_sandbox
def test_a_broken_reward_fails_the_check_naming_the_component(tmp_path):
    code = (STANDARD_DIR / "open_drawer" / "open_drawer.py").read_text().replace(
        '"reach": -reach', '"reach": -reach * np.nan')
    assert "np.nan" in code
    proc = rlscope("gen2sim", "train", _task_with_code(tmp_path, code), "--out", tmp_path / "run", "--no-progress",
                   check=False)
    assert proc.returncode == 2
    assert "sub-task open_drawer: ValueError: reward component 'reach' is not finite (nan)" in proc.stderr
    assert not (tmp_path / "run" / "subtasks").exists()  # no training started


def test_gen2sim_run_stops_on_an_input_that_fails_validation(tmp_path):
    urdf = tmp_path / "blocked.urdf"
    urdf.write_text(BLOCKED_URDF)
    proc = rlscope("gen2sim", "run", urdf, "--out", tmp_path / "out", "--no-progress", check=False)
    assert proc.returncode == 2
    assert "asset blocked (from" in proc.stderr and "failed validation: joint:slide" in proc.stderr
    assert "--keep-going" in proc.stderr and not (tmp_path / "out" / "runs").exists()
