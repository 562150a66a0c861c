"""Reading results out of a run: the pass@k table (JSON/CSV), per-sample export (JSONL/CSV/Parquet) and the
per-problem view of extracted answers."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from rlscope.boundary.analysis.answers import ProblemAnswers, answers_by_problem
from rlscope.boundary.config import AnswersConfig, ExportConfig, PassKConfig
from rlscope.boundary.runs import open_run
from rlscope.config import atomic_write_text
from rlscope.errors import RlscopeError
from rlscope.passk import bootstrap_ci, ks_for, pass_at_k

EXPORT_FIELDS = ("problem_id", "sample_idx", "gold", "completion", "extracted", "correct", "reason", "finish_reason",
                 "num_tokens", "seed", "source")
"""Columns of an export, in order: the sample, its problem's gold answer, its verdict and how it was drawn."""


def compute_passk(cfg: PassKConfig) -> dict[str, Any]:
    """pass@k over the run's verified problems; writes ``passk.json`` and ``passk.csv`` into the run."""
    cfg.validate()
    store = open_run(cfg.run)
    try:
        counts = store.correct_counts()
        all_ids = [fields["problem_id"] for fields, _ in store.problems()]
        sampled = store.sample_counts()
        unverified = store.count_unverified()
    finally:
        store.close()
    total_problems = len(all_ids)
    if not counts:
        raise RlscopeError(f"{cfg.run}: no verified samples yet; run `rlscope boundary verify --run {cfg.run}`")
    without_samples = sum(p not in sampled for p in all_ids)
    without_verdicts = sum(p in sampled and p not in counts for p in all_ids)
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
        "problems_without_samples": without_samples,
        "problems_without_verdicts": without_verdicts,
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


def run_answers(cfg: AnswersConfig) -> list[ProblemAnswers]:
    """Each problem's distinct extracted answers and flags (:mod:`rlscope.boundary.analysis.answers`), or only
    ``cfg.problem``'s."""
    cfg.validate()
    store = open_run(cfg.run)
    try:
        found = answers_by_problem(store.iter_samples(), cfg.problem)
    finally:
        store.close()
    if cfg.problem is not None and not found:
        raise RlscopeError(f"{cfg.run} has no samples of problem {cfg.problem!r}")
    return found


def export_samples(cfg: ExportConfig) -> int:
    """Write one record per sample (:data:`EXPORT_FIELDS`) as JSONL, CSV or Parquet; returns the count.

    A file is written beside its destination and renamed into place, so a failed export leaves no
    half-written file."""
    fmt = cfg.resolved_format()
    store = open_run(cfg.run)
    try:
        records = ({k: r[k] for k in EXPORT_FIELDS} for r in store.iter_samples())
        if cfg.out is None:
            return _write_text(records, sys.stdout, "jsonl")
        tmp = cfg.out.with_name(f".{cfg.out.name}.tmp")
        try:
            if fmt == "parquet":
                count = _write_parquet(records, tmp)
            else:
                with open(tmp, "w", encoding="utf-8", newline="") as fh:
                    count = _write_text(records, fh, fmt)
            tmp.replace(cfg.out)
        finally:
            tmp.unlink(missing_ok=True)
        return count
    finally:
        store.close()


def _write_text(records, fh, fmt: str) -> int:
    count = 0
    writer = csv.DictWriter(fh, fieldnames=list(EXPORT_FIELDS)) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for rec in records:
        if writer is not None:
            writer.writerow(rec)
        else:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        count += 1
    return count


def _write_parquet(records, out: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"sample_idx": pa.int64(), "correct": pa.bool_(), "num_tokens": pa.int64(), "seed": pa.int64()}
    schema = pa.schema([(name, types.get(name, pa.string())) for name in EXPORT_FIELDS])
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
