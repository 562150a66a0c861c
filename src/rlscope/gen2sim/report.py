"""Report of a Gen2Sim run: findings in words, a table of sub-tasks, learning curves, reward terms and
rollout videos; Markdown + HTML written into the run directory.

Reads what the pipeline wrote (``summary.json``, ``subtasks/NAME/metrics.jsonl``, ``videos/*.gif``)
and writes ``report.md``, ``report.html`` and ``plots/*.png`` through :class:`rlscope.report.page.Page`.
The plots are embedded in the HTML (and files beside the Markdown); the videos, which can be large, are
referenced by relative paths, so the run directory can be moved or served as it is. ``summary.json``
stays the machine-readable record.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from rlscope.errors import DataError
from rlscope.report.page import Highlighted, ListItem, Page, figure_axes, png

log = logging.getLogger(__name__)

HONEST_TARGET = 0.8
"""Honest success rate a sub-task must reach to count as solved in the findings."""
SUSPICIOUS_GAP = 0.05
"""Success minus honest success above which the findings flag successes that need implausible physics."""

_COLUMNS = ["sub-task", "train steps", "train time", "steps/s", "best train success", "eval episodes", "success",
            "honest success", "max penetration (mm)", "p95 penetration (mm)"]
_HONEST_NOTE = ("Honest success counts only successful episodes whose physics stayed plausible "
                "(penetration below the threshold, no unstable simulation).")


# -- reading ---------------------------------------------------------------------------------
def read_summary(run_dir: Path) -> dict[str, Any]:
    """``run_dir/summary.json``, checked for the fields the report needs."""
    path = run_dir / "summary.json"
    if not path.exists():
        raise DataError("no summary.json: the run has not finished its evaluation", str(path))
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"not JSON: {exc}", str(path)) from None
    if not isinstance(summary, dict) or not isinstance(summary.get("subtasks"), list):
        raise DataError("expected an object with a 'subtasks' list", str(path))
    for i, s in enumerate(summary["subtasks"]):
        if not isinstance(s, dict) or "name" not in s:
            raise DataError(f"subtasks[{i}] has no 'name'", str(path))
    return summary


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl`` (one per PPO update; ``NaN`` allowed); [] when it is missing."""
    if not path.exists():
        return []
    rows = []
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == len(lines):  # a run interrupted while writing its last line
                log.warning("%s:%d: ignoring a truncated last line", path, n)
                break
            raise DataError(f"not JSON: {exc}", str(path), n) from None
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _series(rows: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one metric, as float arrays; rows without the key are left out, NaN kept.

    Returns
    -------
    steps : (K,) float
    values : (K,) float
    """
    pts = [(r.get("steps", r.get("update", i)), r[key]) for i, r in enumerate(rows) if key in r]
    if not pts:
        return np.zeros(0), np.zeros(0)
    a = np.array([(_num(s), _num(v)) for s, v in pts], dtype=float)  # (K, 2)
    return a[:, 0], a[:, 1]


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


# -- formatting ------------------------------------------------------------------------------
def _ok(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _pct(x: Any) -> str:
    return f"{100 * x:.1f}%" if _ok(x) else "—"


def _mm(x: Any) -> str:
    return f"{1000 * x:.2f}" if _ok(x) else "—"


def _int(x: Any) -> str:
    return f"{int(x):,}" if _ok(x) else "—"


def _rate(x: Any) -> str:
    return f"{x:,.0f}" if _ok(x) else "—"


def _duration(s: Any) -> str:
    if not _ok(s):
        return "—"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "subtask"


def table_rows(summary: dict[str, Any]) -> list[list[str]]:
    """One row of formatted cells per sub-task (columns as in the report), then the chain if any."""
    rows = []
    for s in summary["subtasks"]:
        t, e = s.get("train") or {}, s.get("eval") or {}
        rows.append([s["name"], _int(t.get("steps")), _duration(t.get("seconds")), _rate(t.get("steps_per_s")),
                     _pct(t.get("best_success")), _int(e.get("episodes")), _pct(e.get("success_rate")),
                     _pct(e.get("honest_success_rate")), _mm(e.get("penetration_max_m")), _mm(e.get("penetration_p95_m"))])
    c = summary.get("chain")
    if c:
        rows.append(["chain (all in sequence)", "", "", "", "", _int(c.get("episodes")), _pct(c.get("success_rate")),
                     _pct(c.get("honest_success_rate")), _mm(c.get("penetration_max_m")), _mm(c.get("penetration_p95_m"))])
    return rows


# -- findings --------------------------------------------------------------------------------
def findings(summary: dict[str, Any], metrics: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Plain statements of what the run measured, including what went wrong or was not measured."""
    subs = summary["subtasks"]
    out: list[str] = []
    if not subs:
        return ["The run has no sub-tasks."]
    evals = {s["name"]: s.get("eval") or {} for s in subs}
    honest = {n: e.get("honest_success_rate") for n, e in evals.items()}
    solved = [n for n, h in honest.items() if _ok(h) and h >= HONEST_TARGET]
    unsolved = [n for n, h in honest.items() if _ok(h) and h < HONEST_TARGET]
    missing = [n for n, h in honest.items() if not _ok(h)]
    line = f"{len(solved)} of {len(subs)} sub-tasks reach at least {HONEST_TARGET:.0%} honest success (success with plausible physics)"
    line += (": " + ", ".join(f"{n} ({_pct(honest[n])})" for n in solved) + "." if solved else ".")
    if unsolved:
        line += " Below: " + ", ".join(f"{n} ({_pct(honest[n])}, success {_pct(evals[n].get('success_rate'))})" for n in unsolved) + "."
    if missing:
        line += " Not evaluated: " + ", ".join(missing) + "."
    out.append(line)

    for n, e in evals.items():
        sr, hr = e.get("success_rate"), e.get("honest_success_rate")
        if _ok(sr) and _ok(hr) and sr - hr > SUSPICIOUS_GAP:
            out.append(f"{n}: {_pct(sr - hr)} of the evaluation episodes succeed only with implausible physics "
                       f"(penetration above {_mm(e.get('plausible_below_m'))} mm or an unstable simulation); "
                       "the policy may exploit the simulator rather than solve the task.")
        bad = e.get("bad_episodes")
        if _ok(bad) and bad > 0:
            out.append(f"{n}: {int(bad)} evaluation episode(s) ended on an unstable or non-finite simulation.")

    over, under = [], []
    for n, e in evals.items():
        mx, thr = e.get("penetration_max_m"), e.get("plausible_below_m")
        if _ok(mx) and _ok(thr):
            (over if mx > thr else under).append(n)
    if over:
        parts = []
        for n in over:
            e = evals[n]
            common = _ok(e.get("penetration_p95_m")) and e["penetration_p95_m"] > e["plausible_below_m"]
            parts.append(f"{n} (max {_mm(e['penetration_max_m'])} mm, p95 {_mm(e.get('penetration_p95_m'))} mm"
                         + ("; more than 5% of episodes exceed it" if common else "; rare spikes only") + ")")
        out.append(f"Penetration exceeded the plausibility threshold ({_mm(evals[over[0]]['plausible_below_m'])} mm) in: "
                   + ", ".join(parts) + ".")
    if under and not over:
        worst = max(under, key=lambda n: evals[n]["penetration_max_m"])
        out.append(f"Penetration stayed below the plausibility threshold ({_mm(evals[worst]['plausible_below_m'])} mm) in every "
                   f"sub-task; the largest was {_mm(evals[worst]['penetration_max_m'])} mm, in {worst}.")
    elif under:
        out.append("It stayed below the threshold in: "
                   + ", ".join(f"{n} (max {_mm(evals[n]['penetration_max_m'])} mm)" for n in under) + ".")
    if not over and not under:
        out.append("Penetration was not measured.")

    for s in subs:
        n, best, sr = s["name"], (s.get("train") or {}).get("best_success"), evals[s["name"]].get("success_rate")
        if _ok(best) and _ok(sr) and best - sr > 0.2:
            out.append(f"{n}: evaluation success ({_pct(sr)}) falls well short of the best training success ({_pct(best)}).")
        warm = (s.get("train") or {}).get("warm_start")
        if warm and _ok(warm.get("steps")):
            out.append(f"{n}: the full training continued the reward search's chosen candidate from its {_int(warm['steps'])} "
                       f"steps ({_duration(warm.get('seconds'))}); the table counts them in its steps, not in its time.")
        trend = _trend(metrics.get(n, []))
        if trend:
            out.append(f"{n}: {trend}")

    out.append(_chain_finding(summary.get("chain"), [s["name"] for s in subs]))
    rates = [s["train"]["steps_per_s"] for s in subs if _ok((s.get("train") or {}).get("steps_per_s"))]
    steps = sum(int(s["train"]["steps"]) for s in subs if _ok((s.get("train") or {}).get("steps")))
    if rates:
        span = f"{min(rates):,.0f}" if round(min(rates)) == round(max(rates)) else f"{min(rates):,.0f}–{max(rates):,.0f}"
        line = f"Training took {steps:,} environment steps in all, at {span} steps/s"
        total = summary.get("seconds_total")
        out.append(line + (f"; the whole run took {_duration(total)}." if _ok(total) else "."))
    return out


def _trend(rows: list[dict[str, Any]]) -> str | None:
    """How the training success rate moved, from the first to the last tenth of the updates."""
    if not rows:
        return "no training metrics were found."
    _, sr = _series(rows, "charts/success_rate")
    if len(sr) == 0 or not np.isfinite(sr).any():
        return "no training episode ended during the logged updates (the success rate is undefined throughout)."
    k = max(1, len(sr) // 10)
    first, last = sr[:k], sr[-k:]
    if not np.isfinite(first).any() or not np.isfinite(last).any():
        return None
    a, b = float(np.nanmean(first)), float(np.nanmean(last))
    verb = "rose" if b > a + 0.05 else "fell" if b < a - 0.05 else "stayed flat"
    return f"training success {verb} from {_pct(a)} (first tenth of the updates) to {_pct(b)} (last tenth)."


def _chain_finding(chain: dict[str, Any] | None, names: list[str]) -> str:
    if not chain:
        return "No chained evaluation (all sub-tasks in sequence) was run."
    line = (f"Chaining all sub-tasks in sequence over {_int(chain.get('episodes'))} episodes: success {_pct(chain.get('success_rate'))}, "
            f"honest {_pct(chain.get('honest_success_rate'))}.")
    stages = [x for x in chain.get("per_stage_success") or []]
    if stages:
        labels = names if len(names) == len(stages) else [f"stage {i + 1}" for i in range(len(stages))]
        line += " Per stage: " + ", ".join(f"{lab} {_pct(v)}" for lab, v in zip(labels, stages)) + "."
        finite = [(v, lab) for v, lab in zip(stages, labels) if _ok(v)]
        if finite:
            v, lab = min(finite)
            line += f" The weakest stage is {lab} ({_pct(v)})."
    return line


# -- plots -----------------------------------------------------------------------------------
def _smooth(y: np.ndarray) -> np.ndarray:
    """NaN-aware running mean over about 5% of the points. y: (K,) -> (K,)."""
    w = max(1, len(y) // 20)
    if w == 1:
        return y
    ok = np.isfinite(y)
    num = np.convolve(np.where(ok, y, 0.0), np.ones(w), mode="same")
    den = np.convolve(ok.astype(float), np.ones(w), mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-12), np.nan)


def _draw(ax, x: np.ndarray, y: np.ndarray, label: str | None = None, color: str | None = None) -> bool:
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return False
    (line,) = ax.plot(x[ok], y[ok], ".", ms=3, alpha=0.35, color=color)
    ys = _smooth(y)
    oks = np.isfinite(ys) & np.isfinite(x)
    ax.plot(x[oks], ys[oks], "-", lw=1.5, color=line.get_color(), label=label)
    return True


def plot_learning(rows: list[dict[str, Any]], name: str, threshold_m: float | None = None) -> bytes:
    """Success rate, episodic return and (if logged) max penetration vs env steps, as PNG bytes (a panel with
    nothing to plot says "no data")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("charts/success_rate", "success rate"), ("charts/episodic_return", "episodic return")]
    if any("charts/max_penetration" in r for r in rows):
        panels.append(("charts/max_penetration", "max penetration (mm)"))
    fig, axes = plt.subplots(len(panels), 1, figsize=(6.4, 1.9 * len(panels) + 0.6), sharex=True)
    for ax, (key, label) in zip(axes, panels):
        x, y = _series(rows, key)
        scale = 1000.0 if key == "charts/max_penetration" else 1.0
        if not _draw(ax, x, y * scale):
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="0.5")
        if key == "charts/success_rate":
            ax.set_ylim(-0.03, 1.03)
        if key == "charts/max_penetration" and threshold_m is not None and _ok(threshold_m):
            ax.axhline(1000 * threshold_m, color="r", ls="--", lw=1, label="plausible below")
            ax.legend(fontsize=7, loc="upper right")
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("environment steps")
    axes[0].set_title(f"{name}: training")
    return png(fig)


def plot_rewards(rows: list[dict[str, Any]], name: str) -> bytes | None:
    """Every ``reward/*`` series (mean per step) vs env steps, as PNG bytes; None when none is logged."""
    keys = sorted({k for r in rows for k in r if k.startswith("reward/")})
    if not keys:
        return None
    fig, ax = figure_axes(6.4, 3.4)
    for key in keys:
        x, y = _series(rows, key)
        _draw(ax, x, y, label=key.removeprefix("reward/"))
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean per step")
    ax.set_title(f"{name}: reward terms")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return png(fig)


# -- the report ------------------------------------------------------------------------------
def _video_path(run_dir: Path, video: Any) -> str | None:
    """Relative path (POSIX) of a video that exists in the run, else None."""
    if not video:
        return None
    p = Path(video)
    if p.is_absolute():
        try:
            p = p.relative_to(run_dir.resolve())
        except ValueError:
            log.warning("video %s lies outside the run directory; not shown", video)
            return None
    if not (run_dir / p).is_file():
        log.warning("video %s is listed in summary.json but missing", run_dir / p)
        return None
    return p.as_posix()


def _origin(proposal: dict[str, Any] | None) -> str:
    """One sentence on where the task came from."""
    if not proposal:
        return "A hand-written task (not proposed)."
    if proposal.get("proposer") == "offline":
        return "Proposed by the offline proposer (from the asset's semantics and joint types)."
    rep = ", after one repair round" if proposal.get("repaired") else ""
    return (f"Proposed by {proposal.get('model')} (candidate {proposal.get('candidate', 0)}{rep}) for the scene "
            f"{proposal.get('scene')}; the prompt and the raw answers are kept with the task.")


def _verdict_text(verdict: dict[str, Any] | None) -> str:
    if verdict is None:
        return "not validated"
    if verdict.get("ok"):
        return f"validated in {verdict.get('seconds', 0):.1f} s" + (f", {len(verdict['warnings'])} warning(s)" if verdict.get("warnings") else "")
    return "rejected: " + "; ".join(verdict.get("problems", []))


def write_report(run_dir: Path) -> Path:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` into ``run_dir``; returns the HTML path.

    Raises
    ------
    DataError
        ``summary.json`` is missing or malformed, or a ``metrics.jsonl`` line is not JSON.
    """
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    subs = summary["subtasks"]
    metrics = {s["name"]: read_metrics(run_dir / "subtasks" / s["name"] / "metrics.jsonl") for s in subs}
    chain = summary.get("chain")

    page = Page(f"Gen2Sim run: {summary.get('task_id', run_dir.name)}")
    if summary.get("description"):
        page.paragraph(summary["description"])
    page.heading("Findings")
    page.findings(findings(summary, metrics))
    page.heading("Proposed decomposition")
    page.paragraph(_origin(summary.get("proposal")))
    page.ordered_list([ListItem(s["name"], s.get("description") or "", _verdict_text(s.get("validation")),
                                (s.get("validation") or {}).get("warnings") or (), s.get("code"),
                                code_summary=f"code of {s['name']}", language="python") for s in subs])
    if summary.get("search"):
        search_section(page, summary["search"])
    page.heading("Sub-tasks")
    rows = table_rows(summary)
    if chain:
        rows[-1] = Highlighted(rows[-1])
    page.table(_COLUMNS, rows)
    page.paragraph(_HONEST_NOTE, note=True)

    (run_dir / "plots").mkdir(exist_ok=True)  # the figures' files beside report.md
    for s in subs:
        name, rows_m = s["name"], metrics[s["name"]]
        page.heading(name)
        if s.get("description"):
            page.paragraph(s["description"])
        notes = []
        if rows_m:
            page.figure(plot_learning(rows_m, name, (s.get("eval") or {}).get("plausible_below_m")),
                        f"plots/{_slug(name)}_learning.png", f"{name}: learning curves")
            rewards = plot_rewards(rows_m, name)
            if rewards is None:
                notes.append("No reward terms were logged.")
            else:
                page.figure(rewards, f"plots/{_slug(name)}_rewards.png", f"{name}: reward terms")
        else:
            notes.append("No training metrics (metrics.jsonl) were found.")
        _video(page, run_dir, s.get("video"), f"{name}: evaluation rollout", notes)
    if chain:
        page.heading("chain (all sub-tasks in sequence)")
        _video(page, run_dir, chain.get("video"), "chain: evaluation rollout", [])
    page.write(run_dir)
    out = run_dir / "report.html"
    log.info("wrote %s", out)
    return out


# -- reward search ----------------------------------------------------------------------------
def _proposed_record(rounds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The proposed code's record in a sub-task's first round: the baseline beside a language model's candidates,
    or the offline proposer's unchanged variant."""
    first = rounds[0]["candidates"] if rounds else []
    return next((c for c in first if c.get("baseline")), None) or next((c for c in first if c.get("what") == "as proposed"), None)


def _cand_cells(c: dict[str, Any]) -> list[Any]:
    e, v = c.get("eval") or {}, c.get("validation")
    tenths = (((c.get("stats") or {}).get("success") or {}).get("tenths") or [None])
    if v is not None and not v.get("ok"):
        status = "rejected: " + "; ".join(v.get("problems", []))[:300]
    elif c.get("error"):
        status = "failed: " + str(c["error"]).strip().splitlines()[-1][:300]
    else:
        status = "trained"
    return [c["idx"], c.get("what") or c.get("source"), status, _pct(e.get("success_rate")), _pct(e.get("honest_success_rate")),
            f"{e['mean_return']:.3g}" if _ok(e.get("mean_return")) else "—", _pct(tenths[-1]),
            _duration((c.get("train") or {}).get("seconds"))]


def search_section(page: Page, search: dict[str, Any]) -> None:
    """The reward search (:mod:`rlscope.gen2sim.search`): settings, pass@k over candidates per round, the chosen
    candidate beside the proposed code, then every round's candidates, prompts, reflections and code (collapsed)."""
    st = search.get("settings", {})
    source = st.get("rewards", "offline")
    how = "variants of the proposed code from the offline proposer" if source == "offline" else \
        f"answers of {source} sampled at temperature (the proposed code trained beside them as the baseline)"
    page.heading("Reward search")
    page.paragraph(f"{st.get('candidates')} reward candidate(s) per sub-task in each of {st.get('rounds')} round(s): {how}. Each "
                   f"trained for {st.get('candidate_fraction', 0):.0%} of its sub-task's budget and was evaluated over "
                   f"{st.get('candidate_episodes')} episodes by the sub-task's own success test (the same for every candidate); "
                   "the best (honest success, then training success in the last tenth, the earlier among equals) went on to "
                   "full training below, continuing its own policy. The sub-tasks were searched in order: a later stage's "
                   "candidates started where the earlier stage's chosen candidate ended its evaluation episodes. "
                   f"A candidate passes when its honest success reaches {st.get('success_at', 0.5):.0%}; pass@k is "
                   "the boundary system's unbiased estimator over a round's candidates.")
    subs = search.get("subtasks", {})
    ks = sorted({int(k) for rounds in subs.values() for rd in rounds for k in rd.get("passk", {})})
    rows = []
    for name, rounds in subs.items():
        for rd in rounds:
            best = next((c for c in rd["candidates"] if c["idx"] == rd.get("best") and not c.get("baseline")), None)
            rows.append([name, rd["round"], rd.get("n"), rd.get("c"), *[_num3(rd.get("passk", {}).get(str(k))) for k in ks],
                         best["idx"] if best else "none", _pct((best or {}).get("eval", {}).get("honest_success_rate"))])
    page.table(["sub-task", "round", "candidates", "passing", *[f"pass@{k}" for k in ks], "best", "best honest success"], rows)
    chosen = search.get("chosen", {})
    rows = []
    for name, rounds in subs.items():
        pick, base = chosen.get(name), _proposed_record(rounds)
        label = "a language model" if (pick or {}).get("source") == "llm" else "the offline proposer"
        rows.append([name, f"round {pick['round']}, candidate {pick['idx']} ({pick.get('what')}), by {label}" if pick
                     else "none trained: the proposed code", _pct((pick or {}).get("eval", {}).get("honest_success_rate")),
                     _pct(((base or {}).get("eval") or {}).get("honest_success_rate"))])
    page.table(["sub-task", "chosen candidate (its code is the one trained in full)", "its honest success",
                "the proposed code's honest success (same short budget)"], rows)
    for name, rounds in subs.items():
        for rd in rounds:
            page.heading(f"{name}: round {rd['round']}", level=3)
            cells = []
            for c in rd["candidates"]:
                row = _cand_cells(c)
                cells.append(Highlighted(row) if c["idx"] == rd.get("best") and not c.get("baseline") else row)
            page.table(["candidate", "from", "status", "success", "honest", "return", "training success (last tenth)",
                        "train time"], cells)
            page.details(f"{name}, round {rd['round']}: prompt", rd.get("prompt") or "")
            page.details(f"{name}, round {rd['round']}: reflection on the round (the next round's feedback)", rd.get("feedback") or "")
            page.ordered_list([ListItem(f"candidate {c['idx']}", c.get("what") or "", (c.get("why") or ""),
                                        ((c.get("validation") or {}).get("warnings") or ()), c.get("code"),
                                        code_summary=f"code of candidate {c['idx']}", language="python")
                               for c in rd["candidates"] if c.get("code")])


def _num3(x: Any) -> str:
    return f"{x:.3f}" if _ok(x) else "—"


def _video(page: Page, run_dir: Path, video: Any, alt: str, notes: list[str]) -> None:
    """The rollout video by its relative path (or "No video."), then the section's notes."""
    path = _video_path(run_dir, video)
    if path:
        page.media(path, alt)
    else:
        notes.append("No video.")
    for n in notes:
        page.paragraph(n, note=True)
