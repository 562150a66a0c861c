"""Report of a reasoning-boundary study: the page of `rlscope boundary compare` on the first seed's runs (every
model against the base: findings, figures, tables, drill-down, manifests) with the study's own sections added:
the held-out set's classes, each finding of the paper checked per seed with its interval or test (saying so
where a seed does not show it), the mechanism (which strategy the samples use, per problem class, before and
after RL), the RL algorithms side by side, pass@k counting only fully correct chains of thought, the spread
over seeds, and the time each stage took."""

from __future__ import annotations

from pathlib import Path
from statistics import mean, pstdev
from typing import Any

from rlscope.report.compare import compare_page, findings as compare_findings, step_findings
from rlscope.report.page import Page, figure_axes, png

CLASS_NAMES = {"plain": "plain", "below_zero": "below zero", "division": "division"}
CLASS_HELP = {"plain": "the short strategy is right", "below_zero": "a subtraction goes below zero: only the long strategy is right",
              "division": "uses division, which only the teacher knows"}
COVERAGE_SHARE = 0.05
"""Base-only problems at the largest k, as a share of the held-out set, for the coverage finding to count as shown."""
NEW_SHARE = 0.02
"""RL-only problems with a correct chain of thought at the largest k, as a share of the held-out set, at most which
RL counts as finding (almost) nothing new."""
ALPHA = 0.01
"""Significance level of the coverage tests (McNemar) in the checks."""


def _section(seed_result: dict[str, Any]) -> dict[str, Any]:
    """The one benchmark section of a seed's comparison (the held-out problems)."""
    return next(iter(seed_result["compare"]["benchmarks"].values()))


def _k_top(sec: dict[str, Any]) -> int:
    return 256 if 256 in sec["ks"] else sec["ks"][-1]


def _families(sec: dict[str, Any]) -> dict[str, list[str]]:
    """RL algorithm -> its NAME@STEP runs by step."""
    fams: dict[str, list[tuple[int, str]]] = {}
    for c in sec["comparisons"]:
        if c.get("step") is not None:
            fams.setdefault(c["run"].rpartition("@")[0], []).append((c["step"], c["run"]))
    return {f: [r for _, r in sorted(v)] for f, v in fams.items()}


def _per_problem(counts: dict[str, tuple[int, int]], ids: list[str], ks: list[int]):
    """(K, P) pass@k of every problem of ``ids``."""
    import numpy as np

    from rlscope.boundary.analysis.boundary import per_problem_curves

    n = np.array([counts[p][0] for p in ids])
    c = np.array([counts[p][1] for p in ids])
    return per_problem_curves(n, c, ks)


def _ci(d: dict[str, float]) -> str:
    return f"{d['difference']:+.3f}, 95% CI [{d['low']:+.3f}, {d['high']:+.3f}]"


def seed_checks(seed_result: dict[str, Any], counts: dict[str, dict[str, tuple[int, int]]], seed: int = 0,
                n_boot: int = 1000) -> list[dict[str, Any]]:
    """Each finding of the paper on one seed: ``{"finding", "run", "shown", "text"}``, the text giving the value
    with its interval or test. ``counts``: model -> problem -> (n, c). Intervals are paired bootstraps over
    problems (:func:`rlscope.boundary.analysis.boundary.paired_difference`); coverage uses McNemar's exact test."""
    from rlscope.boundary.analysis.boundary import paired_difference

    sec = _section(seed_result)
    ref, ids, ks, k_top = sec["reference"], sec["problem_ids"], sec["ks"], _k_top(sec)
    top, P = ks.index(k_top), sec["problems"]
    per = {m: _per_problem(counts[m], ids, ks) for m in counts if all(p in counts[m] for p in ids)}
    comps = {c["run"]: c for c in sec["comparisons"]}
    checks: list[dict[str, Any]] = []

    def add(finding: str, run: str, shown: bool, text: str) -> None:
        checks.append({"finding": finding, "run": run, "shown": bool(shown), "text": text})

    for fam, runs in _families(sec).items():
        last = runs[-1]
        c = comps[last]
        gain = paired_difference(per[last][0], per[ref][0], n_boot, seed)
        add("RL improves pass@1", last, gain["low"] > 0,
            f"pass@1 {c['pass1'][last]:.3f} against {ref}'s {c['pass1'][ref]:.3f} ({_ci(gain)})")
        ci = c.get("crossover_interval") or {}
        if c["crossover_k"] is None:
            add("the curves cross", last, False, f"no crossover up to k = {ks[-1]}")
        else:
            share = ci.get("share")
            extra = f", 95% CI [{ci['low']:.1f}, {ci['high']:.1f}]" if ci.get("low") is not None else ""
            add("the curves cross", last, share is None or share >= 0.95,
                f"at k ≈ {c['crossover_k']:.1f}{extra}; {share:.0%} of bootstrap resamples cross" if share is not None
                else f"at k ≈ {c['crossover_k']:.1f}")
        lk = c["large_k"]
        if "low" in lk:
            add(f"{ref} leads at k = {k_top}", last, lk["low"] > 0,
                f"{ref} − {last} = {lk['difference']:+.3f}, 95% CI [{lk['low']:+.3f}, {lk['high']:+.3f}], p = {lk['p_value']:.3g}")
        cov, p = c["coverage"], c["coverage_mcnemar_p"]
        only_ref, only_run = len(cov["reference_only"]), len(cov["run_only"])
        add(f"{ref} solves problems RL never does (k = {k_top})", last,
            only_ref >= COVERAGE_SHARE * P and only_ref > only_run and p < ALPHA,
            f"{ref} only: {only_ref} of {P} ({only_ref / P:.0%}), {last} only: {only_run}; McNemar p = {p:.2g}")
        cot = seed_result.get("cot_comparisons", {}).get(last)
        if cot is not None:  # a right answer from a wrong chain is luck (an operation the base never saw, slips that cancel)
            new, lost = len(cot["coverage"]["rl_only"]), len(cot["coverage"]["base_only"])
            add(f"RL finds almost nothing new (k = {k_top})", last, new <= NEW_SHARE * P and new < lost,
                f"{last} only, with a correct chain of thought: {new} of {P} ({new / P:.1%}), {ref} only: {lost} "
                f"({last} only with any right answer: {only_run})")
        if len(runs) > 1:
            first = runs[0]
            up = paired_difference(per[last][0], per[first][0], n_boot, seed)
            down = paired_difference(per[first][top], per[last][top], n_boot, seed)
            add("more RL steps: pass@1 up, pass@K down", f"{first} → {last}", up["low"] > 0 and down["low"] > 0,
                f"pass@1 {up['difference']:+.3f} (95% CI [{up['low']:+.3f}, {up['high']:+.3f}]); pass@{k_top} "
                f"{-down['difference']:+.3f} (95% CI [{-down['high']:+.3f}, {-down['low']:+.3f}])")
        nll = sec.get("perplexity", {}).get(ref, {})
        if ref in nll and last in nll:
            add(f"RL answers more likely under {ref}", last, nll[last]["mean"] < nll[ref]["mean"],
                f"NLL per token under {ref}: {nll[last]['mean']:.3f} against {nll[ref]['mean']:.3f} for {ref}'s own")
        strat = seed_result.get("strategies", {})
        if "below_zero" in strat.get(ref, {}) and last in strat:
            b = strat[ref]["below_zero"]["strategies"]["long"]["share"]
            r = strat[last]["below_zero"]["strategies"]["long"]["share"]
            add("RL drops the long strategy", last, r < b / 2,
                f"share of long-strategy samples on below-zero problems: {ref} {b:.3f}, {last} {r:.4f}")
    if "distilled" in comps:
        c = comps["distilled"]
        cov, p = c["coverage"], c["coverage_mcnemar_p"]
        only_run, only_ref = len(cov["run_only"]), len(cov["reference_only"])
        add("distillation solves problems the base never does", "distilled", only_run > only_ref and p < ALPHA,
            f"distilled only: {only_run} of {P}, {ref} only: {only_ref}; McNemar p = {p:.2g}")
    return checks


def check_findings(result: dict[str, Any]) -> list[str]:
    """The checks in sentences: each finding with its value per seed, and plainly which seeds do not show it."""
    seeds = result["seeds"]
    keys = list(dict.fromkeys((c["finding"], c["run"]) for s in seeds for c in s.get("checks", [])))
    out = []
    for finding, run in keys:
        rows = [(s["seed"], next((c for c in s.get("checks", []) if (c["finding"], c["run"]) == (finding, run)), None))
                for s in seeds]
        missing = [str(seed) for seed, c in rows if c is None or not c["shown"]]
        values = "; ".join(f"seed {seed}: {c['text']}" for seed, c in rows if c is not None)
        if not missing:
            verdict = "shown" + (f" on all {len(seeds)} seeds" if len(seeds) > 1 else "")
        elif len(missing) == len(rows):
            verdict = "NOT shown" + (" on any seed" if len(seeds) > 1 else "")
        else:
            verdict = f"NOT shown on seed(s) {', '.join(missing)}"
        out.append(f"{finding} ({run}): {verdict}. {values}.")
    return out


def strategy_findings(result: dict[str, Any]) -> list[str]:
    """The mechanism in sentences (first seed): how the base and each model split their samples between the
    strategies on each problem class, and how often each is right there."""
    seed = result["seeds"][0]
    strat = seed.get("strategies") or {}
    out = []
    for model, by in strat.items():
        parts = []
        for cls, row in by.items():
            s = row["strategies"]
            acc = {k: s[k]["accuracy"] for k in ("short", "long")}
            parts.append(f"{CLASS_NAMES.get(cls, cls)}: long {s['long']['share']:.3f} (right {acc['long']:.2f})"
                         if acc["long"] is not None else f"{CLASS_NAMES.get(cls, cls)}: long {s['long']['share']:.3f}")
        out.append(f"{model} writes the long strategy in these shares of its samples: " + "; ".join(parts) + ".")
    return out


def study_findings(result: dict[str, Any]) -> list[str]:
    """What the study adds to the comparison: the correct-CoT curves and the seeds' spread."""
    seeds = result["seeds"]
    sec = _section(seeds[0])
    ref = sec["reference"]
    out = []
    for name, c in seeds[0].get("cot_comparisons", {}).items():
        out.append(f"Counting only answers with a fully correct chain of thought, {name.split(' ')[0]}: pass@1 "
                   f"{c['base_curve'][0]:.3f} → {c['other_curve'][0]:.3f}, pass@{c['ks'][-1]} {c['base_curve'][-1]:.3f} → "
                   f"{c['other_curve'][-1]:.3f} (base → model).")
    if len(seeds) > 1:
        for c in sec["comparisons"]:
            name = c["run"]
            p1, gap = [], []
            for s in seeds:
                other = _section(s)
                if name in other["curves"]:
                    p1.append(other["curves"][name][0]["pass_at_k"])
                    gap.append(other["curves"][name][-1]["pass_at_k"] - other["curves"][ref][-1]["pass_at_k"])
            out.append(f"Across {len(p1)} seeds, {name}: pass@1 {mean(p1):.3f} ± {pstdev(p1):.3f}; pass@{sec['ks'][-1]} minus "
                       f"the base's {mean(gap):+.3f} ± {pstdev(gap):.3f}.")
    return out


def findings(result: dict[str, Any]) -> list[str]:
    """Every finding of the study in sentences: the checks per seed, then the comparison's (first seed), the
    mechanism and the study's own."""
    sec = _section(result["seeds"][0])
    return (check_findings(result) + compare_findings(sec) + step_findings(sec) + strategy_findings(result)
            + study_findings(result))


def algorithm_rows(result: dict[str, Any]) -> list[list[Any]]:
    """The paper's algorithm table: per RL algorithm (its last checkpoint), pass@1, pass@K, ΔSE, crossover k and
    coverage against the base (problems only RL solves: with any right answer, and with a correct chain of thought);
    means over seeds (± sd) when there are several."""
    seeds = result["seeds"]
    sec0 = _section(seeds[0])
    ref = sec0["reference"]

    def fmt(vals: list[float | None], digits: int = 3) -> str:
        got = [v for v in vals if v is not None]
        if not got:
            return "none"
        m = f"{mean(got):.{digits}f}"
        return m if len(got) == 1 else f"{m} ± {pstdev(got):.{digits}f}" + ("" if len(got) == len(vals) else f" ({len(got)}/{len(vals)} seeds)")

    rows = []
    runs = [runs[-1] for runs in _families(sec0).values()]
    for run in [ref, *runs]:
        cols: dict[str, list] = {k: [] for k in ("p1", "pk", "dse", "cross", "ref_only", "run_only", "cot_only", "p")}
        for s in seeds:
            sec = _section(s)
            top = sec["ks"].index(_k_top(sec))
            cols["p1"].append(sec["curves"][run][0]["pass_at_k"])
            cols["pk"].append(sec["curves"][run][top]["pass_at_k"])
            c = next((c for c in sec["comparisons"] if c["run"] == run), None)
            if c is not None:
                cols["dse"].append(c["delta_se"])
                cols["cross"].append(c["crossover_k"])
                cols["ref_only"].append(len(c["coverage"]["reference_only"]))
                cols["run_only"].append(len(c["coverage"]["run_only"]))
                cols["p"].append(c["coverage_mcnemar_p"])
            cot = s.get("cot_comparisons", {}).get(run)
            if cot is not None:
                cols["cot_only"].append(len(cot["coverage"]["rl_only"]))
        if run == ref:
            rows.append([run, fmt(cols["p1"]), fmt(cols["pk"]), "–", "–", "–", "–", "–"])
        else:
            p = max(cols["p"]) if cols["p"] else None
            rows.append([run, fmt(cols["p1"]), fmt(cols["pk"]), fmt(cols["dse"]), fmt(cols["cross"], 1),
                         f"{fmt(cols['ref_only'], 1)} / {fmt(cols['run_only'], 1)}", fmt(cols["cot_only"], 1),
                         f"{p:.2g}" if p is not None else "–"])
    return rows


ALGORITHM_COLUMNS = ("model", "pass@1", "pass@K", "ΔSE", "crossover k", "base only / RL only (k = K)",
                     "RL only, correct CoT", "McNemar p (largest over seeds)")


def _class_bars(values: dict[str, dict[str, float]], ylabel: str, title: str) -> bytes:
    """Grouped bars: per problem class (x), one bar per model. ``values``: model -> class -> value."""
    models = list(values)
    classes = [c for c in CLASS_NAMES if any(c in by for by in values.values())]
    fig, ax = figure_axes(6.4, 3.6)
    width = 0.8 / max(len(models), 1)
    for j, m in enumerate(models):
        ax.bar([i + j * width for i in range(len(classes))], [values[m].get(c, 0.0) for c in classes], width=width, label=m,
               color="k" if j == 0 else None)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(classes))], [CLASS_NAMES[c] for c in classes])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return png(fig)


def _strategy_figure(result: dict[str, Any]) -> bytes:
    """Per problem class, the share of long-strategy samples of every model (first seed)."""
    strat = result["seeds"][0]["strategies"]
    return _class_bars({m: {c: row["strategies"]["long"]["share"] for c, row in by.items()} for m, by in strat.items()},
                       "share of samples", "long-strategy samples per problem class")


def _class_figure(result: dict[str, Any]) -> bytes:
    """Per problem class, the share of problems each model solves within its samples (first seed)."""
    by_class = result["seeds"][0]["classes"]
    return _class_bars({m: {c: v["solved"] / v["problems"] for c, v in by.items()} for m, by in by_class.items()},
                       "share of problems solved", "problems solved by at least one sample, per class")


def write_report(result: dict[str, Any], drills: dict, nlls: dict, out: Path) -> dict[str, str]:
    """``out/report.html`` (self-contained) and ``out/report.md`` (figures beside it): the first seed's comparison page
    (``drills`` and ``nlls`` as :func:`rlscope.report.compare.compare_page` takes them) and the study's sections."""
    seeds = result["seeds"]
    return compare_page(seeds[0]["compare"], drills, nlls, title="Reasoning-boundary study on the model organism",
                        preface=lambda page: study_sections(page, result)).write(out)


def study_sections(page: Page, result: dict[str, Any]) -> None:
    """The study's own sections (first on its page, above the first seed's comparison): the held-out classes, the
    findings checked per seed, the mechanism, the RL algorithms, correct chains of thought and seeds, timings."""
    seeds = result["seeds"]
    page.heading("The study")
    held = result.get("held_out") or {}
    if held.get("classes"):
        counts = {c: sum(v == c for v in held["classes"].values()) for c in CLASS_NAMES}
        page.paragraph(f"{len(held['classes'])} held-out problems by class: "
                       + "; ".join(f"{n} {CLASS_NAMES[c]} ({CLASS_HELP[c]})" for c, n in counts.items() if n) + ".")
    page.heading("Findings, checked per seed", level=3)
    page.findings(check_findings(result) or ["No check: the study has no RL checkpoint."])
    checks = [s.get("checks", []) for s in seeds]
    keys = list(dict.fromkeys((c["finding"], c["run"]) for cs in checks for c in cs))
    if keys:
        def cell(cs: list[dict], key: tuple[str, str]) -> str:
            c = next((c for c in cs if (c["finding"], c["run"]) == key), None)
            return "–" if c is None else ("✓ " if c["shown"] else "✗ not shown: ") + c["text"]

        page.table(["finding", "run", *(f"seed {s['seed']}" for s in seeds)],
                   [[f, r, *(cell(cs, (f, r)) for cs in checks)] for f, r in keys])
    if seeds[0].get("strategies"):
        page.heading("The mechanism: strategies per problem class", level=3)
        page.paragraph("Each sample is read as the short strategy (one result per step), the long one (tagged L:, the exact "
                       "value then the value mod 100 per step), a mix, or other (no chain). Shares are means over the class's "
                       "problems; 'right' is the accuracy of the samples written with that strategy.", note=True)
        page.findings(strategy_findings(result))
        page.figure(_strategy_figure(result), "strategies.png", "share of long-strategy samples per problem class and model")
        strat = seeds[0]["strategies"]
        rows = []
        for m, by in strat.items():
            for cls, row in by.items():
                s = row["strategies"]
                rows.append([m, CLASS_NAMES.get(cls, cls), row["problems"],
                             *(f"{s[k]['share']:.3f}" + (f" (right {s[k]['accuracy']:.2f})" if s[k]["accuracy"] is not None else "")
                               for k in ("short", "long", "mixed", "other"))])
        page.table(["model", "class", "problems", "short", "long", "mixed", "other"], rows)
    if seeds[0].get("classes"):
        page.figure(_class_figure(result), "classes.png", "problems solved per class and model")
        by_class = seeds[0]["classes"]
        page.table(["model", *(f"{CLASS_NAMES.get(c, c)}: pass@1 / solved" for c in next(iter(by_class.values())))],
                   [[m, *(f"{v['pass1']:.3f} / {v['solved']} of {v['problems']}" for v in by.values())] for m, by in by_class.items()])
    if _families(_section(seeds[0])):
        k_top = _k_top(_section(seeds[0]))
        page.heading("RL algorithms", level=3)
        page.paragraph(f"Each algorithm's last checkpoint against the base (K = {k_top})"
                       + (f", mean ± sd over {len(seeds)} seeds." if len(seeds) > 1 else "."), note=True)
        page.table([h.replace("K", str(k_top)) if "K" in h else h for h in ALGORITHM_COLUMNS], algorithm_rows(result))
    page.heading("Correct chains of thought and seeds", level=3)
    page.findings(study_findings(result) or ["One seed; no chain-of-thought comparison."])
    cot = seeds[0].get("cot_comparisons", {})
    if cot:
        first = next(iter(cot.values()))
        page.paragraph("pass@k counting a sample only when its whole chain of thought is right (answer-only pass@k at large "
                       "k includes lucky hits).", note=True)
        page.table(["k", "base", *(name.split(" ")[0] for name in cot)],
                   [[k, first["base_curve"][i], *(c["other_curve"][i] for c in cot.values())] for i, k in enumerate(first["ks"])])
    t = result.get("timings", {})
    if t:
        page.paragraph("Time: " + ", ".join(f"{k.removesuffix('_s')} {v:.0f} s" for k, v in t.items()))
    page.heading(f"The comparison of seed {seeds[0]['seed']}")
    page.paragraph("What `rlscope boundary compare` reports on the first seed's runs against the base.", note=True)
