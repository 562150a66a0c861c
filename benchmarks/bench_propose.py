"""Task proposal and validation speed, per procedural asset kind.

For each kind: the offline proposer's tasks for one asset (proposal and writing), then their validation in
the sandbox two ways side by side:

- **one launch per candidate** (the baseline: a sandboxed worker started for each proposed task, as a
  tool that validates candidates one by one would);
- **rlscope** (one sandboxed worker validates every candidate of the asset).

The "one candidate" column is the slowest single-candidate launch (sandbox start included); the targets are
< 10 s for proposal and validation of all tasks of one asset, < 2 s to validate one candidate.

    python benchmarks/bench_propose.py [--kinds cabinet,microwave,...]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from rlscope.gen2sim.assets.build import BuildOptions, build_procedural, write_asset
from rlscope.gen2sim.tasks.propose import ProposeConfig, propose, validate_tasks

KINDS = ("cabinet", "microwave", "storage_box", "trash_can", "laptop", "window", "faucet")
CABINET = {"width": 0.5, "depth": 0.4, "height": 0.2, "n_drawers": 1, "doors": "none"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default=",".join(KINDS))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for kind in args.kinds.split(","):
            adir = root / "assets" / kind
            write_asset(build_procedural(kind, kind, BuildOptions(seed=0), **(CABINET if kind == "cabinet" else {})), adir)
            out = root / kind
            t0 = time.perf_counter()
            res = propose(ProposeConfig(out=out, validate=False), [adir])
            t_propose = time.perf_counter() - t0
            tasks = res["proposed"]
            # baseline: one sandboxed launch per candidate
            singles = []
            for tid in tasks:
                alone = root / f"{kind}-alone" / tid
                shutil.copytree(out / "tasks" / tid, alone / tid)
                t1 = time.perf_counter()
                v = validate_tasks(alone, unsafe=False, call_s=2.0, wall_s=300.0)
                singles.append(time.perf_counter() - t1)
                assert v[tid]["ok"], (tid, v[tid])
            t1 = time.perf_counter()
            verdicts = validate_tasks(out / "tasks", unsafe=False, call_s=2.0, wall_s=300.0)
            t_batch = time.perf_counter() - t1
            assert all(verdicts[t]["ok"] for t in tasks)
            rows.append((kind, len(tasks), sum(len(v["subtasks"]) for v in verdicts.values()), t_propose, sum(singles),
                         t_batch, t_propose + t_batch, max(singles)))
            print(f"{kind}: {rows[-1]}", flush=True)
    print()
    print("| asset | tasks | sub-tasks | propose s | validate, one launch per candidate s | validate, rlscope s "
          "| propose + validate s | one candidate s |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, n, subs, tp, ts, tb, total, one in rows:
        print(f"| {kind} | {n} | {subs} | {tp:.2f} | {ts:.1f} | {tb:.1f} | **{total:.1f}** | {one:.2f} |")


if __name__ == "__main__":
    main()
