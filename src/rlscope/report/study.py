"""Report of a reasoning-boundary study: the page of `rlscope boundary compare` on the first seed's runs (every
model against the base: findings, figures, tables, drill-down, manifests) with the study's own section added:
pass@k counting only fully correct chains of thought, the spread over seeds, and the time each stage took."""

from __future__ import annotations

from pathlib import Path
from statistics import mean, pstdev
from typing import Any

from rlscope.report.compare import compare_page, findings as compare_findings, step_findings


def _section(seed_result: dict[str, Any]) -> dict[str, Any]:
    """The one benchmark section of a seed's comparison (the held-out problems)."""
    return next(iter(seed_result["compare"]["benchmarks"].values()))


def study_findings(result: dict[str, Any]) -> list[str]:
    """What the study adds to the comparison: the correct-CoT curves, a base that solves everything, the seeds."""
    seeds = result["seeds"]
    sec = _section(seeds[0])
    ref, top = sec["reference"], len(sec["ks"]) - 1
    out = []
    if sec["curves"][ref][top]["pass_at_k"] >= 0.999:
        out.append(f"The base solves every held-out problem within {sec['ks'][top]} samples, so a coverage advantage of "
                   "the base can only show as the other models losing problems; a harder test set (more operations) or "
                   "fewer samples leaves more room.")
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
    """Every finding of the study in sentences: the comparison's (first seed), then the study's own."""
    sec = _section(result["seeds"][0])
    return compare_findings(sec) + step_findings(sec) + study_findings(result)


def write_report(result: dict[str, Any], drills: dict, nlls: dict, out: Path) -> dict[str, str]:
    """``out/report.html`` (self-contained) and ``out/report.md`` (figures beside it): the first seed's comparison page
    (``drills`` and ``nlls`` as :func:`rlscope.report.compare.compare_page` takes them) and the study's section."""
    page = compare_page(result["seeds"][0]["compare"], drills, nlls, title="Reasoning-boundary study on the model organism")
    page.heading("The study")
    page.findings(study_findings(result) or ["One seed; no chain-of-thought comparison."])
    cot = result["seeds"][0].get("cot_comparisons", {})
    if cot:
        first = next(iter(cot.values()))
        page.paragraph("pass@k counting a sample only when its whole chain of thought is right (answer-only pass@k at large "
                       "k includes lucky hits).", note=True)
        page.table(["k", "base", *(name.split(" ")[0] for name in cot)],
                   [[k, first["base_curve"][i], *(c["other_curve"][i] for c in cot.values())] for i, k in enumerate(first["ks"])])
    t = result.get("timings", {})
    if t:
        page.paragraph("Time: " + ", ".join(f"{k.removesuffix('_s')} {v:.0f} s" for k, v in t.items()))
    return page.write(out)
