"""Scaling on Ray: 1 worker against 2 on this machine, for boundary sampling and for Gen2Sim training, in one run.

  - sampling: `rlscope boundary sample --ray local --ray-workers W` of the organism base model (one torch
    thread per worker), W = 1 then 2, each into a fresh run; tokens/s from the command's own summary (Ray's
    start-up and model loading included, as a user sees them);
  - Gen2Sim: two tasks (open_drawer, close_drawer) trained as Ray tasks on a Ray instance of 1 CPU (one
    after the other) then of 2 CPUs (side by side); wall-clock seconds.

    python benchmarks/bench_ray.py [--problems 100] [--n 64] [--steps 16384]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

TRAIN = """
import sys, time
from pathlib import Path
from rlscope.gen2sim.pipeline import TrainTaskConfig
from rlscope.gen2sim.ray_train import train_on_ray
from rlscope.ray_pool import connect
out, cpus, steps = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
connect("local", num_cpus=cpus)
jobs = [TrainTaskConfig(task=t, out=out / t, steps=steps, episodes=8, nthread=1, video=False, progress=False, report=False)
        for t in ("open_drawer", "close_drawer")]
t = time.perf_counter()
got = train_on_ray(jobs, "local", num_cpus=1)
assert not any(g.get("failed") for g in got), got
print(f"seconds {time.perf_counter() - t:.1f}")
"""


def sample(bench: Path, run: Path, workers: int, n: int) -> float:
    from rlscope.boundary.organism.shipped import shipped_model

    cmd = [sys.executable, "-m", "rlscope", "boundary", "sample", "--model", shipped_model("shipped:base"),
           "--benchmark", f"jsonl:{bench}", "--run", str(run), "-n", str(n), "--template", "organism", "--temperature", "1",
           "--top-p", "1", "--max-new-tokens", "80", "--threads", "1", "--batch-size", "32", "--ray", "local",
           "--ray-workers", str(workers), "--no-progress"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV, check=True).stdout
    return float(re.search(r"(\d+) tokens/s", out)[1])


def train(out: Path, cpus: int, steps: int) -> float:
    got = subprocess.run([sys.executable, "-c", TRAIN, str(out), str(cpus), str(steps)], capture_output=True, text=True,
                         env=ENV, check=True).stdout
    return float(re.search(r"seconds ([\d.]+)", got)[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=100)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--steps", type=int, default=16384, help="PPO steps per Gen2Sim task")
    args = ap.parse_args()
    from rlscope.boundary.organism.task import sample_problems, write_benchmark

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bench = write_benchmark(sample_problems(args.problems, "test", seed=7), root / "org.jsonl")
        t = time.perf_counter()
        tok = {w: sample(bench, root / f"sample{w}", w, args.n) for w in (1, 2)}
        secs = {c: train(root / f"train{c}", c, args.steps) for c in (1, 2)}
        print(f"| what | 1 worker | 2 workers | ratio |\n|---|---|---|---|\n"
              f"| boundary sampling, organism ({args.problems} problems x {args.n}), tokens/s | {tok[1]:.0f} | {tok[2]:.0f} | "
              f"{tok[2] / tok[1]:.2f}x |\n"
              f"| Gen2Sim training, 2 tasks x {args.steps} steps, seconds | {secs[1]:.0f} | {secs[2]:.0f} | "
              f"{secs[1] / secs[2]:.2f}x |")
        print(f"(total {time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
