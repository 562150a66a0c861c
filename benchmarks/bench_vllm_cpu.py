"""vLLM's CPU build against the HF sampler on the organism: tokens/s, side by side in one run.

Run in the vLLM environment: `make vllm && .venv-vllm/bin/python benchmarks/bench_vllm_cpu.py [--problems 100 --n 64]`.
Both backends draw the same samples (the organism's held-out problems, temperature 1, 80 new tokens at most)
through `rlscope boundary sample`; the time is the sampling loop's own, without loading the model.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sample(backend: str, model: str, cwd: Path, n: int) -> dict:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "rlscope", "boundary", "sample", "--model", model, "--benchmark",
                           "jsonl:organism.jsonl", "--run", f"runs/{backend}", "--backend", backend, "--n", str(n),
                           "--template", "organism", "--temperature", "1.0", "--max-new-tokens", "80", "--no-progress"],
                          capture_output=True, text=True, cwd=cwd)
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    wall = time.perf_counter() - t
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("sampled")][-1]
    secs = float(line.split(" in ")[1].split("s,")[0])
    toks = float(line.split("s, ")[1].split(" tokens/s")[0])
    return {"backend": backend, "sampling_s": secs, "tokens_per_s": toks, "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=100)
    ap.add_argument("--n", type=int, default=64)
    args = ap.parse_args()
    from rlscope.boundary.organism.shipped import shipped_model
    from rlscope.boundary.organism.task import sample_problems, write_benchmark

    model = shipped_model("shipped:base")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        write_benchmark(sample_problems(args.problems, "test", seed=12345), cwd / "organism.jsonl")
        rows = [sample("hf", model, cwd, args.n), sample("vllm", model, cwd, args.n)]
    print(f"organism base, {args.problems} problems x {args.n} samples, 2 CPU cores")
    print("| backend | tokens/s (sampling) | sampling s | wall s (with model load) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['tokens_per_s']:.0f} | {r['sampling_s']:.1f} | {r['wall_s']:.1f} |")
    print(f"vLLM / HF tokens/s: {rows[1]['tokens_per_s'] / rows[0]['tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()
