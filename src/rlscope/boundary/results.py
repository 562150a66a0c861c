"""Reading results out of a run: the pass@k table (JSON/CSV) and per-sample export (JSONL/Parquet)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from rlscope.boundary.config import ExportConfig, PassKConfig
from rlscope.boundary.runs import open_run
from rlscope.config import atomic_write_text
from rlscope.errors import RlscopeError
from rlscope.passk import bootstrap_ci, ks_for, pass_at_k

EXPORT_FIELDS = ("problem_id", "sample_idx", "completion", "extracted", "correct")


def compute_passk(cfg: PassKConfig) -> dict[str, Any]:
    """pass@k over the run's verified problems; writes ``passk.json`` and ``passk.csv`` into the run."""
    store = open_run(cfg.run)
    try:
        counts = store.correct_counts()
        total_problems = len(store.problems())
        unverified = store.count_unverified()
    finally:
        store.close()
    if not counts:
        raise RlscopeError(f"{cfg.run}: no verified samples yet; run `rlscope boundary verify --run {cfg.run}`")
    pids = list(counts)
    n = np.array([counts[p][0] for p in pids])
    c = np.array([counts[p][1] for p in pids])
    n_min = int(n.min())
    ks = ks_for(n_min)
    rows = []
    cis = bootstrap_ci(n, c, ks, n_boot=cfg.bootstrap, alpha=1 - cfg.confidence) if cfg.bootstrap else {}
    for k in ks:
        per = np.asarray(pass_at_k(n, c, k))
        row = {"k": k, "pass_at_k": float(per.mean())}
        if k in cis:
            row["ci_low"], row["ci_high"] = cis[k]
        rows.append(row)
    result = {
        "problems": len(pids),
        "problems_in_run": total_problems,
        "samples_per_problem": {"min": n_min, "max": int(n.max())},
        "unverified_samples": unverified,
        "confidence": cfg.confidence if cfg.bootstrap else None,
        "solved_at_least_once": int((c > 0).sum()),
        "curve": rows,
        "per_problem": {p: {"n": int(a), "c": int(b)} for p, a, b in zip(pids, n, c)},
    }
    atomic_write_text(cfg.run / "passk.json", json.dumps(result, indent=2) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["k", "pass_at_k", "ci_low", "ci_high"])
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    atomic_write_text(cfg.run / "passk.csv", buf.getvalue())
    return result


def export_samples(cfg: ExportConfig) -> int:
    """Write one record per sample; returns the count."""
    fmt = cfg.format
    if fmt == "auto":
        fmt = "parquet" if cfg.out is not None and cfg.out.suffix == ".parquet" else "jsonl"
    if fmt == "parquet" and cfg.out is None:
        raise RlscopeError("Parquet export needs --out FILE")
    store = open_run(cfg.run)
    try:
        records = ({k: r[k] for k in EXPORT_FIELDS} for r in store.iter_samples())
        if fmt == "parquet":
            return _write_parquet(records, Path(cfg.out))  # type: ignore[arg-type]
        return _write_jsonl(records, cfg.out)
    finally:
        store.close()


def _write_jsonl(records, out: Path | None) -> int:
    count = 0
    fh = open(out, "w", encoding="utf-8") if out is not None else sys.stdout
    try:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            count += 1
    finally:
        if out is not None:
            fh.close()
    return count


def _write_parquet(records, out: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("problem_id", pa.string()),
            ("sample_idx", pa.int64()),
            ("completion", pa.string()),
            ("extracted", pa.string()),
            ("correct", pa.bool_()),
        ]
    )
    count = 0
    with pq.ParquetWriter(out, schema) as writer:
        batch: list[dict] = []
        for rec in records:
            batch.append(rec)
            if len(batch) >= 50_000:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count += len(batch)
                batch = []
        if batch or count == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count
