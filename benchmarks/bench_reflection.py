"""One round of the Gen2Sim reward search on the drawer-opening sub-task: K candidates from the offline proposer,
validated in the sandbox, short-trained, evaluated, their statistics and the next round's prompt written
(`rlscope gen2sim run --candidates K --rounds R` does this per round). Baseline: the candidates trained one after
the other (one process at a time); rlscope: side by side, one process per core (the default). Each in a fresh
directory, in one run; wall-clock seconds of the whole round.

    python benchmarks/bench_reflection.py [--task open_drawer] [--candidates 4] [--fraction F (default: the search's own, 0.5)]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")


def one_round(task: str, root: Path, candidates: int, fraction: float, workers: int) -> tuple[float, dict]:
    from rlscope.gen2sim.pipeline import RunConfig, resolve_task_dir
    from rlscope.gen2sim.search import SearchConfig, search_rewards

    cfg = SearchConfig(candidates=candidates, rounds=1, candidate_fraction=fraction, candidate_workers=workers)
    t = time.perf_counter()
    search_rewards(resolve_task_dir(task), root / "candidates", cfg, RunConfig(out=root))
    seconds = time.perf_counter() - t
    import json

    (rd,) = (root / "candidates").glob("*/round_1")  # the drawer task has one sub-task
    record = json.loads((rd / "round.json").read_text())
    assert (rd / f"feedback_{rd.parent.name}.md").exists()
    return seconds, record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="open_drawer")
    ap.add_argument("--candidates", type=int, default=4)
    from rlscope.gen2sim.search import SearchConfig

    ap.add_argument("--fraction", type=float, default=SearchConfig().candidate_fraction,
                    help="each candidate's share of its sub-task's budget")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    secs, records = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, workers in (("one at a time", 1), (f"side by side ({cores})", cores)):
            secs[name], records[name] = one_round(args.task, Path(tmp) / str(workers), args.candidates, args.fraction, workers)
    (sub, rs), = next(iter(records.values()))["subtasks"].items()
    successes = {n: " / ".join(f"{(c.get('eval') or {}).get('honest_success_rate', 0):.2f}" for c in r["subtasks"][sub]["candidates"])
                 for n, r in records.items()}
    base, fast = secs["one at a time"], secs[f"side by side ({cores})"]
    print(f"| sub-task | candidates x steps | one at a time (baseline) s | side by side s | speed-up | target |\n"
          f"|---|---|---|---|---|---|\n"
          f"| {args.task}: {sub} | {args.candidates} x {rs['steps']:,} | {base:.0f} | **{fast:.0f}** | {base / fast:.2f}x | "
          f"<= 120 s: {'met' if fast <= 120 else 'NOT met'} |")
    print(f"(honest success per candidate: {successes}; load average at start {load:.1f} on {cores} cores)")


if __name__ == "__main__":
    main()
