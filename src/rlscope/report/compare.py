"""The report of `rlscope boundary compare`: findings in sentences from the numbers (each with its interval or
test), the pass@k curves and accuracy histograms, the tables, a searchable per-problem drill-down and each
run's manifest, on one self-contained page (:mod:`rlscope.report.page`)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlscope.report.page import Page, Raw, figure_axes, png


def _k_top(result: dict[str, Any]) -> int:
    return 256 if 256 in result["ks"] else result["ks"][-1]


def findings(result: dict[str, Any]) -> list[str]:
    """Sentences on one benchmark's section, one per measured fact, each carrying its interval or test where there
    is one."""
    ref, k_top = result["reference"], _k_top(result)
    out = [f"{len(result['comparisons'])} run(s) compared with {ref} on {result['problems']} problems of "
           f"{result['benchmark']}; pass@k up to k = {result['ks'][-1]} (the smallest number of samples per problem "
           "among the runs)."]
    tok = result.get("token_entropy") or {}
    if tok:
        out.append("Token entropy, from each run's log-probabilities under its own model (nats per token): "
                   + ", ".join(f"{name} {v:.3f}" for name, v in tok.items()) + ".")
    ent = result.get("answer_entropy") or {}
    if ent:
        out.append("Output entropy over distinct answers, mean per problem (bits): "
                   + ", ".join(f"{name} {v:.2f}" for name, v in ent.items()) + ".")
    cover = result["cover"]
    out.append("Cover@0.5 (problems solved by at least half the samples): "
               + ", ".join(f"{name} {vals[result['taus'].index(0.5)]:.3f}" for name, vals in cover.items()) + ".")
    for c in result["comparisons"]:
        run = c["run"]
        out.append(f"{run}: pass@1 {c['pass1'][run]:.3f} against {ref}'s {c['pass1'][ref]:.3f} ({c['pass1_gain']:+.3f}).")
        lk = c["large_k"]
        if "p_value" in lk:
            verdict = "significant" if lk["p_value"] < 0.05 else "not significant"
            out.append(f"At k = {lk['k']}, {ref} minus {run} is {lk['difference']:+.3f} (95% CI [{lk['low']:+.3f}, "
                       f"{lk['high']:+.3f}], paired bootstrap over problems, p = {lk['p_value']:.3f}: {verdict}).")
        if c["crossover_k"] is None:
            lead = "never leads" if c["pass1_gain"] <= 0 else "keeps its lead"
            out.append(f"No crossover up to k = {result['ks'][-1]}: {run} {lead} over {ref}.")
        else:
            ci = c.get("crossover_interval") or {}
            extra = (f" (95% CI [{ci['low']:.1f}, {ci['high']:.1f}]; {ci['share']:.0%} of bootstrap resamples cross)"
                     if ci.get("low") is not None else "")
            out.append(f"{ref} catches up with {run} at k ≈ {c['crossover_k']:.1f}{extra}.")
        out.append(f"ΔSE = {ref} pass@{k_top} − {run} pass@1 = {c['delta_se']:.3f}.")
        cov = c["coverage"]
        subset = ("every problem it solves is one the reference solves too" if c["run_solves_subset_of_reference"]
                  else f"it solves {len(cov['run_only'])} problem(s) the reference never does")
        within = f"in the first {result['coverage_k']} samples" if result.get("coverage_k") else "over all samples"
        p = c["coverage_mcnemar_p"]
        test = (f"McNemar's exact test on the {len(cov['reference_only']) + len(cov['run_only'])} problems only one "
                f"solves: p = {p:.3g}, " + ("significant" if p < 0.05 else "not significant"))
        out.append(f"Coverage {within}: {run} solves {len(cov['both']) + len(cov['run_only'])} problems, {ref} "
                   f"{len(cov['both']) + len(cov['reference_only'])}; {ref} alone solves {len(cov['reference_only'])}, "
                   f"and {subset} ({test}).")
        wg = c.get("without_guessable")
        if wg:
            key = f"pass{k_top}"
            out.append(f"Without the {len(result['guessable'])} problem(s) whose answer can be guessed (yes/no, a choice, a "
                       f"small integer): pass@1 {wg['pass1'][ref]:.3f} / {wg['pass1'][run]:.3f} and pass@{k_top} "
                       f"{wg[key][ref]:.3f} / {wg[key][run]:.3f} ({ref} / {run}, {wg['problems']} problems).")
        for scorer, per in result.get("perplexity", {}).items():
            if ref in per and run in per:
                out.append(f"Under {scorer}, {run}'s answers have a per-token NLL of {per[run]['mean']:.3f} (perplexity "
                           f"{math.exp(per[run]['mean']):.2f}) against {per[ref]['mean']:.3f} for {ref}'s.")
        sv = result["solved"]
        out.append(f"Problems no sample solves / every sample solves: {ref} {sv[ref]['never']} / {sv[ref]['always']}, "
                   f"{run} {sv[run]['never']} / {sv[run]['always']}.")
    return out


def _curves_figure(result: dict[str, Any]) -> bytes:
    fig, ax = figure_axes(6.4, 4.2)
    ks = result["ks"]
    for name, rows in result["curves"].items():
        style = "k-o" if name == result["reference"] else "-o"
        line = ax.plot(ks, [r["pass_at_k"] for r in rows], style, ms=3, label=name)[0]
        if all("ci_low" in r for r in rows):
            ax.fill_between(ks, [r["ci_low"] for r in rows], [r["ci_high"] for r in rows], color=line.get_color(), alpha=0.15)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k")
    ax.set_ylabel("pass@k")
    ax.set_title("pass@k (95% bootstrap bands over problems)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return png(fig)


def _histogram_figure(result: dict[str, Any]) -> bytes:
    hists = {result["reference"]: result["comparisons"][0]["histogram"][result["reference"]]}
    hists.update({c["run"]: c["histogram"][c["run"]] for c in result["comparisons"]})
    fig, ax = figure_axes(6.4, 3.6)
    bins = len(next(iter(hists.values())))
    width = 0.8 / (bins * len(hists))
    for j, (name, h) in enumerate(hists.items()):
        ax.bar([i / bins + j * width for i in range(bins)], h, width=width, align="edge", label=name,
               color="k" if name == result["reference"] else None)
    ax.set_xlabel("per-problem accuracy")
    ax.set_ylabel("problems")
    ax.set_title("accuracy histogram")
    ax.legend(fontsize=8)
    return png(fig)


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _perplexity_figure(result: dict[str, Any], scorer: str, values: dict[str, Any]) -> bytes:
    fig, ax = figure_axes(6.4, 3.6)
    for name, v in values.items():
        ax.hist(v, bins=30, histtype="step", linewidth=1.5, label=name, color="k" if name == result["reference"] else None)
    ax.set_xlabel(f"per-token NLL under {scorer}")
    ax.set_ylabel("samples")
    ax.set_title(f"how likely {scorer} finds each run's answers")
    ax.legend(fontsize=8)
    return png(fig)


ANSWER_CHARS = 160
"""Characters of an extracted answer shown in the drill-down."""


def _clusters(clusters: list[dict[str, Any]], top: int = 3) -> str:
    """The ``top`` most frequent answers, and the correct one wherever it ranks."""
    shown = [a for i, a in enumerate(clusters) if i < top or a["correct"]]
    parts = []
    for a in shown:
        mark = "✓" if a["correct"] else "✗"
        text = "(none)" if a["answer"] is None else str(a["answer"])
        text = text if len(text) <= ANSWER_CHARS else text[:ANSWER_CHARS] + " …"  # a program, say
        parts.append(f"{html.escape(text)} ×{a['count']} {mark}")
    more = f" … +{len(clusters) - len(shown)} more" if len(clusters) > len(shown) else ""
    return "<br>".join(parts) + more


def _examples(name: str, d: dict[str, Any]) -> str:
    ex = d["examples"]
    body = "".join(f"<b>{kind}</b><pre>{html.escape(text)}</pre>" for kind, text in (("correct", ex["correct"]), ("wrong", ex["wrong"]))
                   if text)
    return f"<details><summary>{html.escape(name)} samples</summary>{body}</details>" if body else ""


def collapse_findings(result: dict[str, Any], drill: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Per compared run: the problems where it collapsed onto one answer while the reference spread, and how many of
    those it then got wrong where the reference had found the right answer."""
    from rlscope.boundary.analysis.answers import collapsed

    ref = result["reference"]
    out = []
    for c in result["comparisons"]:
        run = c["run"]
        hit = [p for p in result["problem_ids"] if collapsed(drill[ref][p]["clusters"], drill[run][p]["clusters"])]
        lost = [p for p in hit if not drill[run][p]["clusters"][0]["correct"] and any(a["correct"] for a in drill[ref][p]["clusters"])]
        if hit:
            out.append(f"{run} puts at least 90% of its samples on one answer in {len(hit)} problem(s) where {ref} gave several; "
                       f"in {len(lost)} of them that answer is wrong although {ref} found the right one"
                       + (f" ({', '.join(lost[:8])}{' …' if len(lost) > 8 else ''})." if lost else "."))
    return out


def step_findings(result: dict[str, Any]) -> list[str]:
    """Per family of NAME@STEP runs with two or more steps: pass@1 and pass@K over the steps."""
    ref, k_top = result["reference"], _k_top(result)
    top = result["ks"].index(k_top)
    fams: dict[str, list[tuple[int, str]]] = {}
    for c in result["comparisons"]:
        if c.get("step") is not None:
            fams.setdefault(c["run"].rpartition("@")[0], []).append((c["step"], c["run"]))
    out = []
    for fam, steps in fams.items():
        if len(steps) < 2:
            continue
        steps.sort()
        trend = " → ".join(f"{result['curves'][run][0]['pass_at_k']:.3f} / {result['curves'][run][top]['pass_at_k']:.3f}"
                           for _, run in steps)
        out.append(f"{fam} over steps {', '.join(str(s) for s, _ in steps)}: pass@1 / pass@{k_top} = {trend} "
                   f"({ref}: {result['curves'][ref][0]['pass_at_k']:.3f} / {result['curves'][ref][top]['pass_at_k']:.3f}).")
    return out


def overview_findings(result: dict[str, Any]) -> list[str]:
    """Across benchmarks, per run: where it leads at k = 1 and where the reference leads at the largest k."""
    rows = [r for r in result["overview"] if r["benchmark"] != "mean"]
    out = []
    for run in dict.fromkeys(r["run"] for r in rows):
        mine = [r for r in rows if r["run"] == run]
        up = [r["benchmark"] for r in mine if r["pass1"] > r["pass1_reference"]]
        down = [r["benchmark"] for r in mine if r["passk_reference"] > r["passk"]]
        out.append(f"{run} against {result['reference']} on {len(mine)} benchmarks: higher pass@1 on {len(up)} "
                   f"({', '.join(up) or 'none'}); {result['reference']} higher at the largest k on {len(down)} "
                   f"({', '.join(down) or 'none'}).")
    return out


OVERVIEW_COLUMNS = ("benchmark", "run", "problems", "K", "pass@1 ref", "pass@1 run", "pass@K ref", "pass@K run", "ΔSE",
                    "crossover k", "ref only", "run only", "McNemar p")


def compare_page(result: dict[str, Any], drills: dict[str, dict[str, dict[str, dict[str, Any]]]],
                 nlls: dict[str, dict[str, dict[str, dict[str, list[float]]]]], title: str | None = None,
                 preface: Callable[[Page], None] | None = None) -> Page:
    """The page of a comparison (``drills``: benchmark -> run -> problem -> drill-down; ``nlls``: benchmark -> scorer
    -> run -> problem -> per-token NLLs): ``preface(page)``'s blocks first if given, an overview when there are
    several benchmarks, one section per benchmark, then the runs' manifests. Callers may add blocks before
    writing it."""
    sections = result["benchmarks"]
    runs = list(dict.fromkeys(c["run"] for s in sections.values() for c in s["comparisons"]))
    page = Page(title or f"Reasoning boundary: {', '.join(runs)} against {result['reference']}")
    if preface is not None:
        preface(page)
    if len(sections) > 1:
        page.heading("Overview")
        page.findings(overview_findings(result))
        page.table(OVERVIEW_COLUMNS, [[r["benchmark"], r["run"], r["problems"], r["k"], r["pass1_reference"], r["pass1"],
                                       r["passk_reference"], r["passk"], r["delta_se"], r["crossover_k"], r["reference_only"],
                                       r["run_only"], r["mcnemar_p"]] for r in result["overview"]])
    for bench, section in sections.items():
        _section(page, section, drills[bench], nlls.get(bench, {}), f"{bench}: " if len(sections) > 1 else "")
    page.heading("Runs")
    for path, manifest in result["manifests"].items():
        page.details(path, json.dumps(manifest, indent=2) if manifest else "(no manifest)")
    return page


def write_compare_report(result: dict[str, Any], drills: dict[str, dict[str, dict[str, dict[str, Any]]]],
                         nlls: dict[str, dict[str, dict[str, dict[str, list[float]]]]], out: Path) -> dict[str, str]:
    """``out/report.html`` and ``out/report.md`` of a comparison (arguments as :func:`compare_page`)."""
    return compare_page(result, drills, nlls).write(out)


def _section(page: Page, result: dict[str, Any], drill: dict[str, dict[str, dict[str, Any]]],
             nll: dict[str, dict[str, dict[str, list[float]]]], prefix: str) -> None:
    from rlscope.boundary.compare import SUMMARY_COLUMNS, nll_on, summary_rows

    ref, k_top = result["reference"], _k_top(result)
    slug = _slug(result["benchmark"])
    page.heading(f"{prefix}findings")
    page.findings(findings(result) + step_findings(result) + collapse_findings(result, drill))
    page.heading(f"{prefix}pass@k and accuracy")
    page.figure(_curves_figure(result), f"passk_{slug}.png", f"pass@k curves of every run on {result['benchmark']}")
    page.figure(_histogram_figure(result), f"accuracy_hist_{slug}.png", f"per-problem accuracy histograms on {result['benchmark']}")
    page.table([h.replace("K", str(k_top)) if "K" in h else h for h in SUMMARY_COLUMNS], summary_rows(result))
    page.table(["k", *result["curves"]], [[k, *(rows[i]["pass_at_k"] for rows in result["curves"].values())]
                                          for i, k in enumerate(result["ks"])])
    page.paragraph("Cover@τ: the fraction of problems whose accuracy is at least τ (a problem solved once by luck among many "
                   "samples counts for pass@k at large k, not here).", note=True)
    page.table(["run", *(f"Cover@{t:g}" for t in result["taus"])], [[name, *vals] for name, vals in result["cover"].items()])
    for scorer, per in result.get("perplexity", {}).items():
        page.heading(f"{prefix}perplexity under {scorer}")
        page.figure(_perplexity_figure(result, scorer, nll_on(nll[scorer], result["problem_ids"])),
                    f"perplexity_{slug}_{_slug(scorer)}.png", f"per-token NLL under {scorer}")
        page.table(["run", "samples", "mean NLL / token", "perplexity", "quartiles of NLL / token"],
                   [[name, v["samples"], v["mean"], math.exp(v["mean"]), f"{v['q25']:.3f} / {v['median']:.3f} / {v['q75']:.3f}"]
                    for name, v in per.items()])
    page.heading(f"{prefix}coverage")
    for c in result["comparisons"]:
        cov = c["coverage"]
        page.details(f"{c['run']}: problems solved only by {ref} ({len(cov['reference_only'])}), only by {c['run']} "
                     f"({len(cov['run_only'])}), by neither ({len(cov['neither'])})",
                     f"only {ref}: {', '.join(cov['reference_only']) or '-'}\nonly {c['run']}: {', '.join(cov['run_only']) or '-'}\n"
                     f"neither: {', '.join(cov['neither']) or '-'}")
    page.heading(f"{prefix}per problem")
    page.paragraph("Search by id, question, gold or answer; click a heading to sort. Accuracy is correct / samples; "
                   "answers are the most frequent distinct extracted answers with their counts (✓ judged correct); "
                   "collapsed: the run put at least 90% of its samples on one answer where the reference gave several.",
                   note=True)
    from rlscope.boundary.analysis.answers import collapsed

    names = list(result["curves"])
    rows = []
    for pid in result["problem_ids"]:
        first = drill[ref][pid]
        row: list[Any] = [pid, first["question"][:300], first["gold"]]
        for name in names:
            d = drill[name][pid]
            n = sum(a["count"] for a in d["clusters"])
            c = sum(a["correct"] for a in d["clusters"])
            row += [Raw(f"<span data-v='{c / max(n, 1):.4f}'>{c}/{n}</span>"), Raw(_clusters(d["clusters"]) + _examples(name, d))]
        row.append(", ".join(name for name in names[1:] if collapsed(first["clusters"], drill[name][pid]["clusters"])) or "—")
        rows.append(row)
    page.table(["problem", "question", "gold", *(h for name in names for h in (f"{name} accuracy", f"{name} answers")),
                "collapsed"], rows, searchable=True)
