"""Ray, for real: a local Ray instance (2 CPUs) samples and verifies the organism's answers into one store, a
worker killed mid-run loses and duplicates nothing, and Gen2Sim tasks train as Ray tasks."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray (pip install 'rlscope[ray]') is required")

from rlscope.boundary.organism.shipped import shipped_model  # noqa: E402
from rlscope.boundary.organism.task import sample_problems, write_benchmark  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_DEDUP_LOGS": "0"}
ENV.pop("RLSCOPE_LOG", None)


def rlscope(*args, check=True, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "rlscope", *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlscope {' '.join(map(str, args))} failed:\n{proc.stderr[-3000:]}")
    return proc


def sample_args(bench: Path, run: Path, n: int, batch: int) -> list:
    return ["boundary", "sample", "--model", shipped_model("shipped:base"), "--benchmark", f"jsonl:{bench}", "--run", run,
            "-n", n, "--template", "organism", "--temperature", 1, "--top-p", 1, "--max-new-tokens", 80, "--threads", 1,
            "--batch-size", batch]


def rows(run: Path, query: str) -> list:
    with sqlite3.connect(run / "results.sqlite") as db:
        return sorted(db.execute(query))


def test_sampling_and_verification_on_ray_match_a_local_run(tmp_path):
    bench = write_benchmark(sample_problems(12, "test", seed=3), tmp_path / "org.jsonl")
    rlscope(*sample_args(bench, tmp_path / "local", 8, 16), "--no-progress")
    rlscope("boundary", "verify", "--run", tmp_path / "local", "--no-progress")
    on_ray = rlscope(*sample_args(bench, tmp_path / "ray", 8, 16), "--ray", "local", "--ray-workers", 2)
    assert "workers_tok_s=w0" in on_ray.stderr and ", w1 " in on_ray.stderr  # each worker's throughput in the progress
    rlscope("boundary", "verify", "--run", tmp_path / "ray", "--ray", "local", "--ray-workers", 2, "--no-progress")
    gen = "SELECT problem_id, sample_idx, completion, seed FROM generations"
    ver = "SELECT problem_id, sample_idx, correct, extracted, verifier FROM verdicts"
    local, ray = rows(tmp_path / "local", gen), rows(tmp_path / "ray", gen)
    assert len(ray) == 96 and ray == local  # per-sample seeds: the same samples, wherever they were drawn
    assert rows(tmp_path / "ray", ver) == rows(tmp_path / "local", ver)
    assert {r[4] for r in rows(tmp_path / "ray", ver)} == {"MathVerifier"}


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(tmp_path):
    bench = write_benchmark(sample_problems(30, "test", seed=4), tmp_path / "org.jsonl")
    run = tmp_path / "ray"
    args = [*sample_args(bench, run, 16, 8), "--ray", "local", "--ray-workers", 2, "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "rlscope", *map(str, args)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    killed = None
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and killed is None:
        time.sleep(0.5)
        if (run / "results.sqlite").exists() and len(rows(run, "SELECT sample_idx FROM generations")) >= 48:
            pids = subprocess.run(["pgrep", "-f", "_SamplerActor"], capture_output=True, text=True).stdout.split()
            if pids:
                killed = int(pids[0])
                os.kill(killed, signal.SIGKILL)
    out, err = proc.communicate(timeout=600)
    assert killed is not None, f"no sampler worker found to kill (exit {proc.returncode}): {err[-2000:]}"
    assert proc.returncode == 0, err[-3000:]
    got = rows(run, "SELECT problem_id, sample_idx, completion FROM generations")
    assert len(got) == 30 * 16 == len({(p, i) for p, i, _ in got})  # complete, one row per sample
    rlscope(*sample_args(bench, tmp_path / "local", 16, 8), "--no-progress")
    assert got == rows(tmp_path / "local", "SELECT problem_id, sample_idx, completion FROM generations")


@pytest.mark.skipif(not Path("/usr/bin/bwrap").exists() and os.environ.get("CI") != "true", reason="no bubblewrap")
def test_gen2sim_tasks_train_as_ray_tasks_and_a_failure_is_recorded(tmp_path):
    from rlscope.gen2sim.pipeline import TrainTaskConfig
    from rlscope.gen2sim.ray_train import train_on_ray

    jobs = [TrainTaskConfig(task=name, out=tmp_path / name, steps=2048, episodes=4, nthread=1, video=False, progress=False,
                            report=False) for name in ("open_drawer", "close_drawer")]
    jobs.append(TrainTaskConfig(task=str(tmp_path / "no_such_task"), out=tmp_path / "broken", video=False, progress=False))
    said: list[str] = []
    try:
        got = train_on_ray(jobs, "local", num_cpus=1, say=said.append)
    finally:
        import ray

        ray.shutdown()
    assert [g.get("task_id") for g in got[:2]] == ["open_drawer", "close_drawer"]
    for g, job in zip(got[:2], jobs):
        ev = json.loads((job.out / "subtasks" / g["subtasks"][0]["name"] / "eval.json").read_text())
        assert 0.0 <= ev["success_rate"] <= 1.0 and ev["episodes"] == 4  # trained and evaluated in its own directory
    assert got[2]["failed"] and "not a task directory" in got[2]["error"] and got[2]["task_id"] == "broken"
    assert any("broken: failed" in s for s in said)
