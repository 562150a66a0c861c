"""Report of a reasoning-boundary study: findings in words, a table, plots; Markdown + self-contained HTML."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import mean, pstdev

from rlscope.report.page import Page, figure_axes, png


def _fmt(x: float | None, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{nd}f}"


def _rows(seed_result: dict) -> list[dict]:
    rows = []
    ppl = seed_result["perplexity"]
    first = next(iter(seed_result["comparisons"].values()), None)
    if first is not None:
        rows.append({
            "model": "base", "pass@1": first["base_curve"][0], f"pass@{first['ks'][-1]}": first["base_curve"][-1],
            "crossover_k": None, "delta_se": None, "base_only": None, "other_only": None,
            "nll": ppl.get("base", {}).get("nll_per_token"),
        })
    for name, c in seed_result["comparisons"].items():
        rows.append({
            "model": name, "pass@1": c["other_curve"][0], f"pass@{c['ks'][-1]}": c["other_curve"][-1],
            "crossover_k": c["crossover_k"], "delta_se": c["delta_se"],
            "base_only": c["coverage_counts"]["base_only"], "other_only": c["coverage_counts"]["rl_only"],
            "nll": ppl.get(name, {}).get("nll_per_token"),
        })
    return rows


def _base_lead(c: dict) -> tuple[float, int, bool]:
    """Largest base-minus-other pass@k gap past the crossover, its k, and whether the two CIs separate there."""
    best, k_best = 0.0, c["ks"][-1]
    for k, b, o in zip(c["ks"], c["base_curve"], c["other_curve"]):
        if k >= c["crossover_k"] and b - o > best:
            best, k_best = b - o, k
    b_ci, o_ci = c.get("base_ci") or {}, c.get("other_ci") or {}
    b_int, o_int = b_ci.get(k_best, b_ci.get(str(k_best))), o_ci.get(k_best, o_ci.get(str(k_best)))
    significant = bool(b_int and o_int and b_int[0] > o_int[1])
    return best, k_best, significant


def findings(result: dict) -> list[str]:
    """Plain statements of what was measured, including when the expected phenomenon does not appear."""
    out = []
    seeds = result["seeds"]
    s0 = seeds[0]
    for name, c in s0["comparisons"].items():
        kmax = c["ks"][-1]
        gain = c["pass1_gain"]
        end_gap = c["other_curve"][-1] - c["base_curve"][-1]
        cov = c["coverage_counts"]
        line = f"**{name}** vs base on {c['problems']} held-out problems: pass@1 {_fmt(c['base_curve'][0])} → {_fmt(c['other_curve'][0])} ({gain:+.3f}); "
        line += f"pass@{kmax} {_fmt(c['base_curve'][-1])} → {_fmt(c['other_curve'][-1])} ({end_gap:+.3f}). "
        if c["crossover_k"] is not None:
            lead, k_lead, significant = _base_lead(c)
            line += (
                f"The curves cross at k ≈ {c['crossover_k']:.1f}; beyond it the base leads by at most {lead:.3f} "
                f"(k = {k_lead}), " + ("outside" if significant else "within") + " the bootstrap 95% intervals. "
            )
        elif gain > 0:
            line += f"The curves do not cross within k ≤ {kmax}: this model stays ahead. "
        else:
            line += "This model does not lead at k = 1. "
        line += f"ΔSE (base pass@{c['delta_se_k']} − pass@1) = {_fmt(c['delta_se'])}. "
        line += f"Solved at least once in {kmax} samples: base only {cov['base_only']}, {name} only {cov['rl_only']}, both {cov['both']}, neither {cov['neither']}."
        out.append(line)
    first = next(iter(s0["comparisons"].values()), None)
    if first is not None and first["base_curve"][-1] >= 0.999:
        out.append(
            f"The base solves every held-out problem within {first['ks'][-1]} samples, so a coverage advantage of the base "
            "can only show as RL losing problems; a harder test set (more operations) or fewer samples leaves more room."
        )
    ppl = s0["perplexity"]
    if "base" in ppl:
        for name, p in ppl.items():
            if name != "base":
                rel = "lower" if p["nll_per_token"] < ppl["base"]["nll_per_token"] else "higher"
                out.append(
                    f"Answers of **{name}** have NLL {_fmt(p['nll_per_token'])}/token under the base ({rel} than the base's own "
                    f"answers, {_fmt(ppl['base']['nll_per_token'])}): "
                    + ("they lie inside the base's distribution." if rel == "lower" else "they are less typical for the base.")
                )
    steps: dict[str, list[tuple[int, float, float]]] = {}
    for name, c in s0["comparisons"].items():
        if "@" in name:
            algo, step = name.split("@")
            steps.setdefault(algo, []).append((int(step), c["other_curve"][0], c["other_curve"][-1]))
    for algo, pts in steps.items():
        pts.sort()
        kmax = s0["comparisons"][f"{algo}@{pts[0][0]}"]["ks"][-1]
        trend = " → ".join(f"{p1:.3f}/{pk:.3f}" for _, p1, pk in pts)
        out.append(f"{algo} over steps {', '.join(str(s) for s, _, _ in pts)}: pass@1/pass@{kmax} = {trend}.")
    for name, c in s0.get("cot_comparisons", {}).items():
        out.append(
            f"Counting only answers with a fully correct chain of thought, {name.split(' ')[0]}: pass@1 {_fmt(c['base_curve'][0])} → "
            f"{_fmt(c['other_curve'][0])}, pass@{c['ks'][-1]} {_fmt(c['base_curve'][-1])} → {_fmt(c['other_curve'][-1])}."
        )
    if len(seeds) > 1:
        for name in s0["comparisons"]:
            vals = [s["comparisons"][name] for s in seeds if name in s["comparisons"]]
            p1 = [v["other_curve"][0] for v in vals]
            pk = [v["other_curve"][-1] - v["base_curve"][-1] for v in vals]
            out.append(
                f"Across {len(vals)} seeds, {name}: pass@1 {mean(p1):.3f} ± {pstdev(p1):.3f}; pass@k_max minus base {mean(pk):+.3f} ± {pstdev(pk):.3f}."
            )
    return out


def _plots(result: dict) -> dict[str, bytes]:
    s0 = result["seeds"][0]
    comps = s0["comparisons"]
    figs: dict[str, bytes] = {}
    fig, ax = figure_axes(6.4, 4.2)
    first = next(iter(comps.values()))
    ks = first["ks"]
    ax.plot(ks, first["base_curve"], "k-o", ms=3, label="base")
    for name, c in comps.items():
        ax.plot(c["ks"], c["other_curve"], "-o", ms=3, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k")
    ax.set_ylabel("pass@k")
    ax.set_title("pass@k on held-out problems")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figs["passk.png"] = png(fig)
    fig, ax = figure_axes(6.4, 3.6)
    bins = len(first["base_hist"])
    width = 1.0 / bins
    x = [i * width for i in range(bins)]
    ax.bar([v - width * 0.2 for v in x], first["base_hist"], width=width * 0.4, align="edge", label="base", color="k")
    last = list(comps)[-1]
    ax.bar([v + width * 0.2 for v in x], comps[last]["other_hist"], width=width * 0.4, align="edge", label=last)
    ax.set_xlabel("per-problem accuracy")
    ax.set_ylabel("problems")
    ax.set_title("accuracy histogram")
    ax.legend(fontsize=8)
    figs["accuracy_hist.png"] = png(fig)
    return figs


def write_report(result: dict, out: Path) -> dict[str, str]:
    """``out/report.md`` (figures beside it) and the self-contained ``out/report.html``."""
    page = Page("Reasoning-boundary study")
    page.findings([f.replace("**", "") for f in findings(result)], markdown=findings(result))
    rows = _rows(result["seeds"][0])
    if rows:
        page.table(list(rows[0]), [[_fmt(v) if isinstance(v, float) else ("—" if v is None else str(v)) for v in r.values()]
                                   for r in rows])
    t = result.get("timings", {})
    if t:
        page.paragraph("Time: " + ", ".join(f"{k.removesuffix('_s')} {v:.0f}s" for k, v in t.items()))
    for name, data in _plots(result).items():
        page.figure(data, name, name)
    return page.write(out)
