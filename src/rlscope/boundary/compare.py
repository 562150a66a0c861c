"""`rlscope boundary compare RUN RUN ...`: the paper's comparisons on any verified runs.

The first run (or ``--base``) is the reference, typically the base model; every other run (an RL-trained
model, a distilled one) is compared with it on the problems both hold (aligned by id): pass@k curves with
bootstrap intervals, the crossover k where the reference catches up (with a bootstrap interval), whether the
difference at the largest k is significant (paired bootstrap over problems), ΔSE, pass@1 gain, coverage
sets, accuracy histograms, Cover@τ, and pass@k without the problems whose answer can be guessed (yes/no, a
choice letter, a small integer). Each run keeps its own number of samples per problem; curves go up to the
smallest n of the runs compared (or ``--k-max``).

Writes ``compare.json``, ``passk.csv`` (k, then pass@k per run), ``coverage.csv`` (problem id, then
solved at least once per run) and ``report.html`` / ``report.md`` (:mod:`rlscope.report.compare`) into ``--out``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro

from rlscope.boundary.config import require
from rlscope.config import atomic_write_text, write_manifest
from rlscope.errors import RlscopeError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class CompareConfig:
    """`rlscope boundary compare RUN RUN ...`: compare verified runs of the same benchmark with a reference run."""

    runs: Annotated[tuple[Path, ...], tyro.conf.Positional]
    """Run directories (verified); the first is the reference unless --base names another."""
    base: Path | None = None
    """The reference run (default: the first)."""
    out: Path = Path("runs/compare")
    """Where compare.json, passk.csv and coverage.csv go."""
    k_max: int = 0
    """Largest k of the curves (0: the smallest number of samples per problem among the runs)."""
    bootstrap: int = 1000
    """Bootstrap replicates over problems (intervals, the crossover's interval, the large-k test)."""
    seed: int = 0
    """Seed of the bootstrap."""
    json: bool = False
    """Print compare.json's summary on stdout instead of a table."""
    report: bool = True
    """Write report.html and report.md (findings, figures, tables, a per-problem drill-down, the runs' manifests)."""

    def validate(self) -> None:
        require(len(self.runs) + (self.base is not None and self.base not in self.runs) >= 2, "RUN",
                "at least two runs (a reference and one to compare with it)", len(self.runs))
        require(self.k_max >= 0, "--k-max", "0 (up to the smallest n) or a positive k", self.k_max)
        require(self.bootstrap >= 0, "--bootstrap", "0 or more replicates", self.bootstrap)


def _counts(run: Path) -> dict[str, tuple[int, int]]:
    from rlscope.boundary.runs import open_run

    store = open_run(run)
    try:
        counts = store.correct_counts()
    finally:
        store.close()
    if not counts:
        raise RlscopeError(f"{run}: no verified samples; run `rlscope boundary verify --run {run}` first")
    return counts


def _label(run: Path, taken: set[str]) -> str:
    name = run.resolve().name
    label, k = name, 2
    while label in taken:
        label, k = f"{name}_{k}", k + 1
    taken.add(label)
    return label


def compare_runs(cfg: CompareConfig) -> dict[str, Any]:
    """Every comparison of the reference with each other run; writes the files named in the module docstring."""
    from rlscope.boundary.analysis.boundary import (
        accuracy_histogram, align, cover_at_tau, coverage, crossover_interval, crossover_k, guessable, paired_difference,
        per_problem_curves,
    )
    from rlscope.passk import bootstrap_ci, ks_for

    cfg.validate()
    base = cfg.base or cfg.runs[0]
    others = [r for r in cfg.runs if r != base]
    taken: set[str] = set()
    labels = {r: _label(r, taken) for r in [base, *others]}
    counts = {r: _counts(r) for r in [base, *others]}
    ref = counts[base]
    shared = [p for p in ref if all(p in counts[r] for r in others)]
    for r in others:
        common = sum(p in counts[r] for p in ref)
        if not common:
            raise RlscopeError(f"{r} and {base} share no problem ids: are they runs of the same benchmark?")
        if common < max(len(ref), len(counts[r])):
            log.warning("%s holds %d verified problems, %s %d; %d are in both", r, len(counts[r]), base, len(ref), common)
    if not shared:
        raise RlscopeError(f"no problem is verified in every run ({', '.join(map(str, cfg.runs))})")
    n_min = int(min(min(counts[r][p][0] for p in shared) for r in counts))
    ks = [k for k in ks_for(n_min) if not cfg.k_max or k <= cfg.k_max] or [1]
    arrays = {r: align({p: ref[p] for p in shared}, {p: counts[r][p] for p in shared}) for r in counts}
    per = {r: per_problem_curves(a[3], a[4], ks) for r, a in arrays.items()}
    curves = {}
    for r in counts:
        n, c = arrays[r][3], arrays[r][4]
        cis = bootstrap_ci(n, c, ks, n_boot=cfg.bootstrap, seed=cfg.seed) if cfg.bootstrap else {}
        curves[labels[r]] = [{"k": k, "pass_at_k": float(per[r][i].mean()),
                              **({"ci_low": cis[k][0], "ci_high": cis[k][1]} if k in cis else {})} for i, k in enumerate(ks)]
    k_top = 256 if 256 in ks else ks[-1]
    top = ks.index(k_top)
    comparisons = []
    nb, cb = arrays[base][3], arrays[base][4]
    for r in others:
        no, co = arrays[r][3], arrays[r][4]
        rc, oc = per[base].mean(axis=1).tolist(), per[r].mean(axis=1).tolist()
        cov = coverage(cb, co, shared)
        comparisons.append({
            "run": labels[r], "path": str(r), "problems": len(shared),
            "pass1": {labels[base]: rc[0], labels[r]: oc[0]}, "pass1_gain": oc[0] - rc[0],
            "crossover_k": crossover_k(ks, rc, oc),
            "crossover_interval": crossover_interval(ks, per[base], per[r], cfg.bootstrap, cfg.seed) if cfg.bootstrap else None,
            "large_k": {"k": k_top, **(paired_difference(per[base][top], per[r][top], cfg.bootstrap, cfg.seed)
                                       if cfg.bootstrap else {"difference": rc[top] - oc[top]})},
            "delta_se": rc[top] - oc[0], "delta_se_k": k_top,
            "coverage": {"both": cov["both"], "reference_only": cov["base_only"], "run_only": cov["rl_only"],
                         "neither": cov["neither"]},
            "run_solves_subset_of_reference": not cov["rl_only"],
            "histogram": {labels[base]: accuracy_histogram(nb, cb), labels[r]: accuracy_histogram(no, co)},
        })
    golds = _golds(base)
    easy = np.array([guessable(golds.get(p)) for p in shared])
    for comp, r in zip(comparisons, others):
        if easy.any() and not easy.all():
            keep = ~easy
            comp["without_guessable"] = {
                "problems": int(keep.sum()), "pass1": {labels[base]: float(per[base][0][keep].mean()), labels[r]: float(per[r][0][keep].mean())},
                f"pass{k_top}": {labels[base]: float(per[base][top][keep].mean()), labels[r]: float(per[r][top][keep].mean())}}
    result = {"reference": labels[base],
              "guessable": [p for p, e in zip(shared, easy) if e],
              "taus": TAUS, "cover": {labels[r]: cover_at_tau(a[3], a[4], TAUS) for r, a in arrays.items()}, "runs": {labels[r]: str(r) for r in counts}, "problems": len(shared),
              "manifests": {labels[r]: _manifest(r) for r in counts},
              "samples_per_problem": {labels[r]: {"min": int(arrays[r][3].min()), "max": int(arrays[r][3].max())} for r in counts},
              "ks": ks, "curves": curves, "comparisons": comparisons,
              "solved": {labels[r]: {"never": int((a[4] == 0).sum()), "always": int((a[4] == a[3]).sum())}
                         for r, a in arrays.items()}}
    from rlscope.boundary.analysis.answers import answer_entropy

    nll = _nll([base, *others], labels, set(shared))
    result["perplexity"] = {scorer: {name: {"mean": float(v.mean()), "q25": float(np.quantile(v, 0.25)),
                                            "median": float(np.median(v)), "q75": float(np.quantile(v, 0.75)),
                                            "samples": int(len(v))} for name, v in per.items()}
                            for scorer, per in nll.items()}
    drill = {labels[r]: drilldown(r, set(shared)) for r in counts}
    result["answer_entropy"] = {name: float(np.mean([answer_entropy(d["clusters"]) for d in per_problem.values()]))
                                for name, per_problem in drill.items()}
    _write(cfg, result, shared, arrays, labels)
    if cfg.report:
        from rlscope.report.compare import write_compare_report

        result["report"] = write_compare_report(result, drill, nll, cfg.out)["html"]
    return result


def _nll(runs: list[Path], labels: dict[Path, str], shared: set[str]) -> dict[str, dict[str, np.ndarray]]:
    """Per scorer every run was scored under (`rlscope boundary perplexity`): per run, the per-token NLL of each
    of its samples on the shared problems."""
    from rlscope.boundary.perplexity import common_scorers, nll_per_token

    out = {}
    for scorer in common_scorers(runs):
        per = {labels[r]: np.array([x for (p, _), x in nll_per_token(r, scorer).items() if p in shared]) for r in runs}
        out[scorer] = {name: v for name, v in per.items() if len(v)}
    return out


TAUS = [0.125, 0.25, 0.5, 0.75, 1.0]
"""Accuracy thresholds of Cover@τ."""


def _golds(run: Path) -> dict[str, str | None]:
    from rlscope.boundary.runs import open_run

    store = open_run(run)
    try:
        return {f["problem_id"]: f["answer"] for f, _ in store.problems()}
    finally:
        store.close()


def _manifest(run: Path) -> dict[str, Any]:
    """The run's manifest (commands, settings, versions), or {} for a run without one."""
    path = run / "manifest.json"
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        log.warning("%s is not valid JSON; the report shows no manifest for %s", path, run)
        return {}


EXAMPLE_CHARS = 600
"""Characters of an example completion shown in the drill-down."""


def drilldown(run: Path, problems: set[str]) -> dict[str, dict[str, Any]]:
    """Per problem of ``problems``: its question and gold, the run's answer clusters (distinct extracted answers with
    counts and verdicts) and one correct and one wrong example completion."""
    from rlscope.boundary.analysis.answers import problem_answers
    from rlscope.boundary.runs import open_run

    store = open_run(run)
    try:
        fields = {f["problem_id"]: f for f, _ in store.problems()}
        by: dict[str, list[dict[str, Any]]] = {}
        for rec in store.iter_samples():
            if rec["problem_id"] in problems:
                by.setdefault(rec["problem_id"], []).append(rec)
    finally:
        store.close()
    out = {}
    for pid, recs in by.items():
        pa = problem_answers(pid, recs[0]["gold"], recs)
        good = next((r["completion"] for r in recs if r["correct"]), None)
        bad = next((r["completion"] for r in recs if r["correct"] is False), None)
        out[pid] = {"question": (fields.get(pid) or {}).get("question", ""), "gold": pa.gold,
                    "clusters": [{"answer": a.answer, "count": a.count, "correct": a.correct} for a in pa.answers],
                    "examples": {"correct": good and good[:EXAMPLE_CHARS], "wrong": bad and bad[:EXAMPLE_CHARS]}}
    return out


def _write(cfg: CompareConfig, result: dict[str, Any], shared: list[str], arrays: dict, labels: dict) -> None:
    out = cfg.out
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, "compare", cfg)
    atomic_write_text(out / "compare.json", json.dumps(result, indent=2) + "\n")
    names = list(result["curves"])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["k", *names])
    for i, k in enumerate(result["ks"]):
        w.writerow([k, *(f"{result['curves'][n][i]['pass_at_k']:.6f}" for n in names)])
    atomic_write_text(out / "passk.csv", buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["problem_id", *names])
    solved = {labels[r]: (a[4] > 0) for r, a in arrays.items()}
    for i, p in enumerate(shared):
        w.writerow([p, *(int(solved[n][i]) for n in names)])
    atomic_write_text(out / "coverage.csv", buf.getvalue())


def summary_rows(result: dict[str, Any]) -> list[list[str]]:
    """One row per compared run: pass@1 of both, pass@K of both, crossover, ΔSE, coverage counts."""
    ref = result["reference"]
    rows = []
    top = len(result["ks"]) - 1 if 256 not in result["ks"] else result["ks"].index(256)
    for c in result["comparisons"]:
        cross = "none up to k = %d" % result["ks"][-1] if c["crossover_k"] is None else f"{c['crossover_k']:.1f}"
        ci = c["crossover_interval"]
        if c["crossover_k"] is not None and ci and ci["low"] is not None:
            cross += f" [{ci['low']:.1f}, {ci['high']:.1f}]"
        lk = c["large_k"]
        sig = f" (p = {lk['p_value']:.3f})" if "p_value" in lk else ""
        cov = c["coverage"]
        rows.append([c["run"], f"{c['pass1'][ref]:.3f} / {c['pass1'][c['run']]:.3f}",
                     f"{result['curves'][ref][top]['pass_at_k']:.3f} / {result['curves'][c['run']][top]['pass_at_k']:.3f}",
                     f"{lk['difference']:+.3f}{sig}", cross, f"{c['delta_se']:.3f}",
                     f"{len(cov['both'])} / {len(cov['reference_only'])} / {len(cov['run_only'])} / {len(cov['neither'])}"])
    return rows

