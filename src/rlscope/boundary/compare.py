"""`rlscope boundary compare RUN RUN ...`: the paper's comparisons on any verified runs.

The first run (or ``--base``) is the reference, typically the base model; every other run (an RL-trained
model, a distilled one) is compared with it on the problems both hold (aligned by id): pass@k curves with
bootstrap intervals, the crossover k where the reference catches up (with a bootstrap interval), whether the
difference at the largest k is significant (paired bootstrap over problems), ΔSE, pass@1 gain, coverage
sets with McNemar's test, accuracy histograms, Cover@τ, answer entropy and collapse, and pass@k without the
problems whose answer can be guessed (yes/no, a choice letter, a small integer). Each run keeps its own
number of samples per problem; curves go up to the smallest n of the runs compared (or ``--k-max``).

Runs of several benchmarks (one run per benchmark per model) are grouped by the benchmark they were
sampled or imported from; each benchmark gets its own section, the reference of each being the run that
carries the reference's label, and an overview table sets the benchmarks side by side.

Writes ``compare.json``, ``passk.csv`` (benchmark, k, then pass@k per run), ``coverage.csv`` (benchmark,
problem id, then solved per run) and ``report.html`` / ``report.md`` (:mod:`rlscope.report.compare`) into
``--report``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
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
    """`rlscope boundary compare RUN RUN ...`: compare verified runs with a reference run, per benchmark."""

    runs: Annotated[tuple[Path, ...], tyro.conf.Positional]
    """Run directories (verified), one per benchmark per model; the first is the reference unless --base names another."""
    base: Path | None = None
    """The reference run (default: the first); on other benchmarks, the runs with the same label are the reference."""
    labels: tuple[str, ...] = ()
    """Names of the runs, one per RUN in order (default: each run directory's name); NAME@STEP marks a training step."""
    report: Annotated[Path, tyro.conf.arg(aliases=["--out"])] = Path("runs/compare")
    """Directory that receives compare.json, the CSV tables, report.html and report.md."""
    k_max: int = 0
    """Largest k of the curves (0: the smallest number of samples per problem among the runs)."""
    coverage_k: int = 0
    """Coverage counts a problem as solved when one of its first K samples is correct (0: any sample)."""
    bootstrap: int = 1000
    """Bootstrap replicates over problems (intervals, the crossover's interval, the large-k test)."""
    seed: int = 0
    """Seed of the bootstrap."""
    json: bool = False
    """Print compare.json's summary on stdout instead of tables."""
    html: bool = True
    """Write report.html and report.md (findings, figures, tables, a per-problem drill-down, the runs' manifests)."""

    def validate(self) -> None:
        require(len(self.runs) + (self.base is not None and self.base not in self.runs) >= 2, "RUN",
                "at least two runs (a reference and one to compare with it)", len(self.runs))
        require(not self.labels or len(self.labels) == len(self.runs), "--labels", f"one label per RUN ({len(self.runs)})",
                len(self.labels))
        require(self.k_max >= 0, "--k-max", "0 (up to the smallest n) or a positive k", self.k_max)
        require(self.coverage_k >= 0, "--coverage-k", "0 (all samples) or a positive number of samples", self.coverage_k)
        require(self.bootstrap >= 0, "--bootstrap", "0 or more replicates", self.bootstrap)


TAUS = [0.125, 0.25, 0.5, 0.75, 1.0]
"""Accuracy thresholds of Cover@τ."""
EXAMPLE_CHARS = 600
"""Characters of an example completion shown in the drill-down."""


@dataclasses.dataclass
class RunData:
    """What the comparison reads of one run, in one pass over its samples."""

    path: Path
    label: str
    benchmark: str
    """Short benchmark name (math500, the JSONL file's name, ...)."""
    counts: dict[str, tuple[int, int]]
    """problem id -> (verified samples, correct ones)."""
    solved: dict[str, bool]
    """problem id -> solved by one of the first ``coverage_k`` samples (all when 0)."""
    drill: dict[str, dict[str, Any]]
    """problem id -> question, gold, answer clusters, example completions."""
    manifest: dict[str, Any]
    own: dict[str, tuple[float, int]] = dataclasses.field(default_factory=dict)
    """problem id -> (summed log-probability, tokens) of its samples under the model that drew them (scores
    named ``self``), where the run has them."""

    @property
    def step(self) -> int | None:
        """The training step of a NAME@STEP label."""
        tail = self.label.rpartition("@")[2]
        return int(tail) if "@" in self.label and tail.isdigit() else None


def benchmark_name(settings: dict[str, Any]) -> str:
    """A run's benchmark as a short name: ``math500``; ``jsonl:.../aime24/test.jsonl`` -> ``aime24``;
    ``jsonl:my_set.jsonl`` -> ``my_set``; ``pkg.mod:loader`` -> ``loader``."""
    spec = str(settings.get("benchmark") or "")
    if spec.startswith("jsonl:"):
        path = Path(spec[6:])
        return path.parent.name if path.stem in ("test", "train", "validation", "dev") and path.parent.name else path.stem
    return spec.rpartition(":")[2] or "benchmark"


def load_run(path: Path, label: str, coverage_k: int = 0) -> RunData:
    """Read a verified run: its benchmark, per-problem counts, coverage and drill-down (see :class:`RunData`)."""
    from rlscope.boundary.runs import open_run

    store = open_run(path)
    try:
        from rlscope.boundary.sample import SELF_SCORER

        settings = store.get_meta("sampling") or store.get_meta("import") or {}
        own: dict[str, tuple[float, int]] = {}
        for (pid, _), (lp, n) in store.scores(SELF_SCORER).items():
            a, b = own.get(pid, (0.0, 0))
            own[pid] = (a + lp, b + n)
        questions = {f["problem_id"]: f["question"] for f, _ in store.problems()}
        counts, solved, drill = {}, {}, {}
        for pid, group in itertools.groupby(store.iter_samples(), key=lambda r: r["problem_id"]):
            recs = [r for r in group if r["correct"] is not None]
            if recs:
                counts[pid] = (len(recs), sum(bool(r["correct"]) for r in recs))
                solved[pid] = any(r["correct"] and (not coverage_k or r["sample_idx"] < coverage_k) for r in recs)
                drill[pid] = _drill(questions.get(pid, ""), recs)
    finally:
        store.close()
    if not counts:
        raise RlscopeError(f"{path}: no verified samples; run `rlscope boundary verify --run {path}` first")
    return RunData(path, label, benchmark_name(settings), counts, solved, drill, _manifest(path), own)


def _drill(question: str, recs: list[dict[str, Any]]) -> dict[str, Any]:
    """A problem's question and gold, its answer clusters (distinct extracted answers with counts and verdicts) and
    one correct and one wrong example completion."""
    from rlscope.boundary.analysis.answers import problem_answers

    pa = problem_answers(recs[0]["problem_id"], recs[0]["gold"], recs)
    good = next((r["completion"] for r in recs if r["correct"]), None)
    bad = next((r["completion"] for r in recs if r["correct"] is False), None)
    return {"question": question, "gold": pa.gold,
            "clusters": [{"answer": a.answer, "count": a.count, "correct": a.correct} for a in pa.answers],
            "examples": {"correct": good and good[:EXAMPLE_CHARS], "wrong": bad and bad[:EXAMPLE_CHARS]}}


def _manifest(run: Path) -> dict[str, Any]:
    """The run's manifest (commands, settings, versions), or {} for a run without one."""
    path = run / "manifest.json"
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        log.warning("%s is not valid JSON; the report shows no manifest for %s", path, run)
        return {}


def group_runs(runs: list[RunData], reference: str) -> dict[str, tuple[RunData, list[RunData]]]:
    """benchmark -> (its reference run, the runs compared with it); labels made unique per benchmark. A benchmark
    without a run labelled ``reference``, or with nothing to compare, is left out with a warning."""
    by: dict[str, list[RunData]] = {}
    for r in runs:
        taken = {x.label for x in by.get(r.benchmark, [])}
        label, i = r.label, 2
        while label in taken:
            label, i = f"{r.label}_{i}", i + 1
        r.label = label
        by.setdefault(r.benchmark, []).append(r)
    out = {}
    for bench, group in by.items():
        ref = next((r for r in group if r.label == reference), None)
        others = [r for r in group if r is not ref]
        if ref is None or not others:
            why = f"no run labelled {reference!r} (the reference)" if ref is None else "no run besides the reference"
            log.warning("benchmark %s: %s; left out (%s)", bench, why, ", ".join(str(r.path) for r in group))
            continue
        out[bench] = (ref, others)
    if not out:
        raise RlscopeError("nothing to compare: no benchmark has the reference and another run ("
                           + "; ".join(f"{r.path}: {r.benchmark}, label {r.label}" for r in runs)
                           + "); name matching runs with --labels")
    return out


def compare_runs(cfg: CompareConfig) -> dict[str, Any]:
    """Every comparison, per benchmark; writes the files named in the module docstring. The result holds
    ``reference``, ``benchmarks`` (name -> section), ``overview`` (one row per benchmark and run) and ``report``."""
    result, drills, nlls = build_comparison(cfg)
    _write(cfg, result)
    if cfg.html:
        from rlscope.report.compare import write_compare_report

        result["report"] = write_compare_report(result, drills, nlls, cfg.report)["html"]
    return result


def build_comparison(cfg: CompareConfig) -> tuple[dict[str, Any], dict, dict]:
    """The comparison's result (as :func:`compare_runs`), with what its report shows beyond it: per benchmark, the
    runs' drill-downs (run -> problem -> drill-down) and scores (scorer -> run -> problem -> per-token NLLs)."""
    cfg.validate()
    base = cfg.base or cfg.runs[0]
    named = list(zip(cfg.runs, cfg.labels or [p.resolve().name for p in cfg.runs]))
    first = next(((p, lab) for p, lab in named if p == base), (base, base.resolve().name))
    runs = [load_run(p, lab, cfg.coverage_k) for p, lab in [first, *(x for x in named if x[0] != base)]]  # reference first
    groups = group_runs(runs, first[1])
    nlls = {b: _nll([ref, *others]) for b, (ref, others) in groups.items()}
    sections = {b: compare_benchmark(ref, others, cfg, nlls[b]) for b, (ref, others) in groups.items()}
    result = {"reference": first[1], "benchmarks": sections, "overview": overview(sections),
              "manifests": {str(r.path): r.manifest for r in runs}}
    drills = {b: {r.label: r.drill for r in (ref, *others)} for b, (ref, others) in groups.items()}
    return result, drills, nlls


def compare_benchmark(ref: RunData, others: list[RunData], cfg: CompareConfig,
                      nll: dict[str, dict[str, dict[str, list[float]]]] | None = None) -> dict[str, Any]:
    """One benchmark's section: the reference against each other run on the problems all of them hold (``nll``:
    scorer -> run -> problem -> per-token NLL of its scored samples, from :func:`_nll`)."""
    from rlscope.boundary.analysis.answers import answer_entropy
    from rlscope.boundary.analysis.boundary import (
        accuracy_histogram, cover_at_tau, coverage, crossover_interval, crossover_k, guessable, mcnemar, paired_difference,
        per_problem_curves,
    )
    from rlscope.passk import bootstrap_ci, ks_for

    for r in others:
        common = sum(p in r.counts for p in ref.counts)
        if not common:
            raise RlscopeError(f"{r.path} and {ref.path} share no problem ids: are they runs of the same benchmark?")
        if common < max(len(ref.counts), len(r.counts)):
            log.warning("%s holds %d verified problems, %s %d; %d are in both", r.path, len(r.counts), ref.path,
                        len(ref.counts), common)
    shared = [p for p in ref.counts if all(p in r.counts for r in others)]
    if not shared:
        raise RlscopeError(f"no problem is verified in every run of {ref.benchmark}")
    allruns = [ref, *others]
    n = {r.label: np.array([r.counts[p][0] for p in shared]) for r in allruns}
    c = {r.label: np.array([r.counts[p][1] for p in shared]) for r in allruns}
    n_min = int(min(v.min() for v in n.values()))
    ks = [k for k in ks_for(n_min) if not cfg.k_max or k <= cfg.k_max] or [1]
    per = {lab: per_problem_curves(n[lab], c[lab], ks) for lab in n}
    curves = {}
    for lab in n:
        cis = bootstrap_ci(n[lab], c[lab], ks, n_boot=cfg.bootstrap, seed=cfg.seed) if cfg.bootstrap else {}
        curves[lab] = [{"k": k, "pass_at_k": float(per[lab][i].mean()),
                        **({"ci_low": cis[k][0], "ci_high": cis[k][1]} if k in cis else {})} for i, k in enumerate(ks)]
    k_top = 256 if 256 in ks else ks[-1]
    top = ks.index(k_top)
    rl = ref.label
    easy = np.array([guessable(ref.drill[p]["gold"]) for p in shared])
    solved = {r.label: np.array([r.solved[p] for p in shared]) for r in allruns}
    comparisons = []
    for r in others:
        lab = r.label
        rc, oc = per[rl].mean(axis=1).tolist(), per[lab].mean(axis=1).tolist()
        cov = coverage(solved[rl], solved[lab], shared)
        comp = {
            "run": lab, "path": str(r.path), "step": r.step, "problems": len(shared),
            "pass1": {rl: rc[0], lab: oc[0]}, "pass1_gain": oc[0] - rc[0],
            "crossover_k": crossover_k(ks, rc, oc),
            "crossover_interval": crossover_interval(ks, per[rl], per[lab], cfg.bootstrap, cfg.seed) if cfg.bootstrap else None,
            "large_k": {"k": k_top, **(paired_difference(per[rl][top], per[lab][top], cfg.bootstrap, cfg.seed)
                                       if cfg.bootstrap else {"difference": rc[top] - oc[top]})},
            "delta_se": rc[top] - oc[0], "delta_se_k": k_top,
            "coverage": {"both": cov["both"], "reference_only": cov["base_only"], "run_only": cov["rl_only"],
                         "neither": cov["neither"]},
            "coverage_mcnemar_p": mcnemar(len(cov["base_only"]), len(cov["rl_only"])),
            "run_solves_subset_of_reference": not cov["rl_only"],
            "histogram": {rl: accuracy_histogram(n[rl], c[rl]), lab: accuracy_histogram(n[lab], c[lab])},
        }
        if easy.any() and not easy.all():
            keep = ~easy
            comp["without_guessable"] = {
                "problems": int(keep.sum()), "pass1": {rl: float(per[rl][0][keep].mean()), lab: float(per[lab][0][keep].mean())},
                f"pass{k_top}": {rl: float(per[rl][top][keep].mean()), lab: float(per[lab][top][keep].mean())}}
        comparisons.append(comp)
    nll_shared = {scorer: nll_on(per, shared) for scorer, per in (nll or {}).items()}
    return {
        "benchmark": ref.benchmark, "reference": rl, "problems": len(shared), "problem_ids": shared,
        "coverage_k": cfg.coverage_k or None, "runs": {r.label: str(r.path) for r in allruns},
        "samples_per_problem": {lab: {"min": int(v.min()), "max": int(v.max())} for lab, v in n.items()},
        "ks": ks, "curves": curves, "comparisons": comparisons,
        "guessable": [p for p, e in zip(shared, easy) if e],
        "taus": TAUS, "cover": {lab: cover_at_tau(n[lab], c[lab], TAUS) for lab in n},
        "solved": {lab: {"never": int((c[lab] == 0).sum()), "always": int((c[lab] == n[lab]).sum())} for lab in n},
        "token_entropy": {r.label: token_entropy(r.own, shared) for r in allruns if any(p in r.own for p in shared)},
        "answer_entropy": {r.label: float(np.mean([answer_entropy(r.drill[p]["clusters"]) for p in shared])) for r in allruns},
        "perplexity": {scorer: {lab: {"mean": float(v.mean()), "q25": float(np.quantile(v, 0.25)),
                                      "median": float(np.median(v)), "q75": float(np.quantile(v, 0.75)), "samples": int(len(v))}
                                for lab, v in by.items()} for scorer, by in nll_shared.items()},
    }


def _nll(runs: list[RunData]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Per scorer every run was scored under (`rlscope boundary perplexity`): per run and problem, the per-token
    NLL of each of its scored samples."""
    from rlscope.boundary.perplexity import common_scorers, nll_per_token

    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    from rlscope.boundary.sample import SELF_SCORER

    for scorer in common_scorers([r.path for r in runs]):
        if scorer == SELF_SCORER:  # each run under its own model: its token entropy, not a shared yardstick
            continue
        for r in runs:
            by = out.setdefault(scorer, {}).setdefault(r.label, {})
            for (p, _), x in nll_per_token(r.path, scorer).items():
                by.setdefault(p, []).append(x)
    return out


def token_entropy(own: dict[str, tuple[float, int]], problems: list[str]) -> float:
    """Mean token entropy (nats per token) of a run's samples on ``problems``, estimated from their log-probabilities
    under the model that drew them: the summed negative log-probability over the summed tokens (exact in
    expectation when the samples were drawn at temperature 1 without truncation; under truncated or cooler
    sampling, the cross-entropy of the sampling distribution under the model)."""
    lp = sum(own[p][0] for p in problems if p in own)
    n = sum(own[p][1] for p in problems if p in own)
    return -lp / max(n, 1)


def nll_on(per_run: dict[str, dict[str, list[float]]], problems: list[str]) -> dict[str, np.ndarray]:
    """run -> the per-token NLLs of its scored samples on ``problems`` (runs with none left out)."""
    out = {lab: np.array([x for p in problems for x in by.get(p, ())]) for lab, by in per_run.items()}
    return {lab: v for lab, v in out.items() if len(v)}


def overview(sections: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per benchmark and compared run (pass@1 and pass@K of both, ΔSE, crossover, coverage and its test),
    then per run the mean over benchmarks when there are several."""
    rows = []
    for bench, s in sections.items():
        ref, top = s["reference"], s["ks"].index(s["comparisons"][0]["delta_se_k"])
        for c in s["comparisons"]:
            run = c["run"]
            rows.append({"benchmark": bench, "run": run, "problems": s["problems"], "k": s["ks"][top],
                         "pass1_reference": c["pass1"][ref], "pass1": c["pass1"][run],
                         "passk_reference": s["curves"][ref][top]["pass_at_k"], "passk": s["curves"][run][top]["pass_at_k"],
                         "delta_se": c["delta_se"], "crossover_k": c["crossover_k"],
                         "reference_only": len(c["coverage"]["reference_only"]), "run_only": len(c["coverage"]["run_only"]),
                         "mcnemar_p": c["coverage_mcnemar_p"]})
    if len(sections) > 1:
        for run in dict.fromkeys(r["run"] for r in rows):
            mine = [r for r in rows if r["run"] == run]
            rows.append({"benchmark": "mean", "run": run, "problems": sum(r["problems"] for r in mine), "k": None,
                         **{key: float(np.mean([r[key] for r in mine]))
                            for key in ("pass1_reference", "pass1", "passk_reference", "passk", "delta_se")},
                         "crossover_k": None, "reference_only": sum(r["reference_only"] for r in mine),
                         "run_only": sum(r["run_only"] for r in mine), "mcnemar_p": None})
    return rows


def _write(cfg: CompareConfig, result: dict[str, Any]) -> None:
    out = cfg.report
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, "compare", cfg)
    atomic_write_text(out / "compare.json", json.dumps(result, indent=2) + "\n")
    sections = result["benchmarks"]
    names = list(dict.fromkeys(lab for s in sections.values() for lab in s["curves"]))
    passk, cov = io.StringIO(), io.StringIO()
    pw, cw = csv.writer(passk), csv.writer(cov)
    pw.writerow(["benchmark", "k", *names])
    cw.writerow(["benchmark", "problem_id", *names])
    for bench, s in sections.items():
        for i, k in enumerate(s["ks"]):
            pw.writerow([bench, k, *(f"{s['curves'][n][i]['pass_at_k']:.6f}" if n in s["curves"] else "" for n in names)])
        ref = s["reference"]
        solved_by = {ref: set()} | {c["run"]: set(c["coverage"]["both"] + c["coverage"]["run_only"]) for c in s["comparisons"]}
        for c in s["comparisons"]:
            solved_by[ref] |= set(c["coverage"]["both"] + c["coverage"]["reference_only"])
        for p in s["problem_ids"]:
            cw.writerow([bench, p, *(int(p in solved_by[n]) if n in solved_by else "" for n in names)])
    atomic_write_text(out / "passk.csv", passk.getvalue())
    atomic_write_text(out / "coverage.csv", cov.getvalue())


def summary_rows(section: dict[str, Any]) -> list[list[str]]:
    """One row per compared run of a benchmark: pass@1 of both, pass@K of both, the large-k difference, crossover,
    ΔSE, coverage counts and McNemar's p."""
    ref = section["reference"]
    rows = []
    for c in section["comparisons"]:
        top = section["ks"].index(c["delta_se_k"])
        cross = "none up to k = %d" % section["ks"][-1] if c["crossover_k"] is None else f"{c['crossover_k']:.1f}"
        ci = c["crossover_interval"]
        if c["crossover_k"] is not None and ci and ci["low"] is not None:
            cross += f" [{ci['low']:.1f}, {ci['high']:.1f}]"
        lk = c["large_k"]
        sig = f" (p = {lk['p_value']:.3f})" if "p_value" in lk else ""
        cov = c["coverage"]
        rows.append([c["run"], f"{c['pass1'][ref]:.3f} / {c['pass1'][c['run']]:.3f}",
                     f"{section['curves'][ref][top]['pass_at_k']:.3f} / {section['curves'][c['run']][top]['pass_at_k']:.3f}",
                     f"{lk['difference']:+.3f}{sig}", cross, f"{c['delta_se']:.3f}",
                     f"{len(cov['both'])} / {len(cov['reference_only'])} / {len(cov['run_only'])} / {len(cov['neither'])}"
                     f" (p = {c['coverage_mcnemar_p']:.3g})"])
    return rows


SUMMARY_COLUMNS = ("run", "pass@1 (ref / run)", "pass@K (ref / run)", "ref − run at K", "crossover k [95% CI]",
                   "ΔSE (ref pass@K − run pass@1)", "solved: both / ref only / run only / neither (McNemar p)")
"""Headings of :func:`summary_rows` (K: 256, or the largest k)."""
