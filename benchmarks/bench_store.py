"""Store write throughput: verdict rows/s with durability kept (WAL, synchronous=FULL).

Compares, in one run:
  - rlscope Store: batched transactions (the way sample/verify commit),
  - baseline: one transaction per row (what a naive writer does), same pragmas.

    python benchmarks/bench_store.py [--rows 200000] [--batch 2048]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rlscope.store import Store, VerdictRow


def rows(n: int, k: int = 256) -> list[VerdictRow]:
    return [VerdictRow(f"p{i // k}", i % k, i % 3 == 0, str(i % 17), "math_verify", "MathVerifier") for i in range(n)]


def bench_batched(path: Path, data: list[VerdictRow], batch: int) -> float:
    store = Store(path)
    t = time.perf_counter()
    for s in range(0, len(data), batch):
        store.put_verdicts(data[s : s + batch])
    dt = time.perf_counter() - t
    assert store.count_verdicts() == len(data)
    store.close()
    return dt


def bench_per_row(path: Path, data: list[VerdictRow]) -> float:
    store = Store(path)
    t = time.perf_counter()
    for r in data:
        store.put_verdicts([r])
    dt = time.perf_counter() - t
    store.close()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--baseline-rows", type=int, default=2_000, help="rows for the per-row baseline (slow)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = rows(args.rows)
        t_batched = bench_batched(Path(tmp) / "a", data, args.batch)
        t_row = bench_per_row(Path(tmp) / "b", data[: args.baseline_rows])
        durability = Store(Path(tmp) / "a").conn.execute("PRAGMA synchronous").fetchone()[0]
    r_batched = args.rows / t_batched
    r_row = args.baseline_rows / t_row
    print(f"SQLite WAL, synchronous={'FULL' if durability == 2 else durability}")
    print(f"{'method':<34}{'rows':>10}{'seconds':>10}{'rows/s':>12}{'speedup':>9}")
    print(f"{'baseline: one commit per row':<34}{args.baseline_rows:>10}{t_row:>10.2f}{r_row:>12.0f}{1:>9.1f}")
    print(f"{f'rlscope Store, batches of {args.batch}':<34}{args.rows:>10}{t_batched:>10.2f}{r_batched:>12.0f}{r_batched / r_row:>9.1f}")
    print(f"target >= 20,000 rows/s: {'met' if r_batched >= 20_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
