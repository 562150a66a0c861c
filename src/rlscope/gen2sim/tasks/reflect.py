"""Reflection on reward candidates: what their short trainings measured, and what to change.

After a round of short trainings (:mod:`rlscope.gen2sim.search`), each candidate's ``metrics.jsonl`` becomes
statistics over training (:func:`training_statistics`: the success rate, the return and every reward term,
as the mean of each tenth of training and the mean, min and max over it). :func:`diagnose` reads the best
candidate's statistics the way Eureka's reflection asks a model to: a term that makes most of the reward's
magnitude (rescale it), no success anywhere (rewrite rather than tune), terms that training could not move
(drop or rewrite them). :func:`round_feedback` writes all of it, with tracebacks and validation warnings,
as the text a language model reads in the next round; the offline proposer applies the same diagnosis
itself (:func:`rlscope.gen2sim.tasks.candidates.next_variants`).

Pure functions of the records a round writes (plain dicts); nothing here runs task code.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

TENTHS = 10
"""Pieces training is cut into for the statistics (fewer when it had fewer updates)."""
DOMINANT_SHARE = 0.6
"""A reward term whose mean magnitude is more than this share of all terms' together dominates the reward."""
FLAT_CHANGE = 0.05
"""A term whose value moved by less than this fraction of its magnitude from the first to the last tenth of
training was not optimised (its magnitude: at least :data:`NEGLIGIBLE_SHARE` of all terms' together, so that a
term stuck near zero beside larger ones counts as unmoved)."""
NEGLIGIBLE_SHARE = 0.05
"""Share of all terms' mean magnitudes below which a term's own size is negligible."""


def series_statistics(values: Sequence[float]) -> dict[str, Any] | None:
    """Statistics of one metric over training (one value per update, NaN where undefined).

    Parameters
    ----------
    values : (U,) float
        The metric after each update, in order.

    Returns
    -------
    {"tenths": (min(U, 10),) list of the mean within each tenth of the updates (None where all NaN),
     "mean", "min", "max": over all updates} or None when no value is finite.
    """
    v = np.asarray(values, dtype=float)  # (U,)
    if v.size == 0 or not np.isfinite(v).any():
        return None
    tenths = []
    for chunk in np.array_split(v, min(TENTHS, v.size)):
        ok = chunk[np.isfinite(chunk)]
        tenths.append(float(ok.mean()) if ok.size else None)
    ok = v[np.isfinite(v)]
    return {"tenths": tenths, "mean": float(ok.mean()), "min": float(ok.min()), "max": float(ok.max())}


def training_statistics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Statistics over training from the rows of a ``metrics.jsonl`` (one per PPO update):
    ``{"updates", "steps", "success", "return", "terms": {name: ...}}``, each metric as
    :func:`series_statistics` gives it (reward terms are their mean per step within each update)."""

    def col(key: str) -> list[float]:
        return [float(r[key]) if isinstance(r.get(key), (int, float)) else math.nan for r in rows]

    terms = sorted({k for r in rows for k in r if k.startswith("reward/")})
    return {"updates": len(rows), "steps": int(rows[-1].get("steps", 0)) if rows else 0,
            "success": series_statistics(col("charts/success_rate")),
            "return": series_statistics(col("charts/episodic_return")),
            "terms": {k.removeprefix("reward/"): series_statistics(col(k)) for k in terms}}


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """What the statistics of a round say to change."""

    zero_success: bool
    """No candidate of the round succeeded in any evaluation episode (nor in training)."""
    dominant: str | None = None
    """The best candidate's reward term that dominates its reward, if one does."""
    share: float = 0.0
    """That term's share of the terms' mean magnitudes."""
    flat: tuple[str, ...] = ()
    """The best candidate's terms that training did not move."""


def diagnose(best: dict[str, Any] | None, candidates: Sequence[dict[str, Any]]) -> Diagnosis:
    """:class:`Diagnosis` of a round from its candidates' records (``eval``, ``stats``) and the best one's."""
    zero = not any(((c.get("eval") or {}).get("success_rate") or 0) > 0
                   or (((c.get("stats") or {}).get("success") or {}).get("max") or 0) > 0 for c in candidates)
    terms = {k: v for k, v in ((best or {}).get("stats") or {}).get("terms", {}).items() if v is not None}
    if not terms:
        return Diagnosis(zero)
    size = {k: abs(v["mean"]) for k, v in terms.items()}
    total = sum(size.values())
    dominant, share = None, 0.0
    if total > 0 and len(size) > 1:
        top = max(size, key=size.get)  # type: ignore[arg-type]
        if size[top] / total > DOMINANT_SHARE:
            dominant, share = top, size[top] / total
    flat = []
    for k, v in terms.items():
        first, last = v["tenths"][0], v["tenths"][-1]
        if first is None or last is None or len(v["tenths"]) < 2 or k == "success":
            continue
        if abs(last - first) <= FLAT_CHANGE * max(abs(first), abs(last), NEGLIGIBLE_SHARE * total, 1e-6):
            flat.append(k)
    return Diagnosis(zero, dominant, share, tuple(flat))


def guidance(d: Diagnosis, failed: int = 0) -> list[str]:
    """The advice of a diagnosis, in words (what a language model is told to do next)."""
    out = []
    if d.zero_success:
        out.append("No candidate succeeded even once: rewrite the reward rather than re-weighting it (a different "
                   "shaping of the approach, a term for each stage of the motion, a bonus where the success test holds).")
    if d.dominant:
        out.append(f"The term '{d.dominant}' makes {d.share:.0%} of the reward's magnitude: rescale it (or the others) "
                   "so that no single term dominates.")
    if d.flat:
        out.append(f"Training did not move the term(s) {', '.join(repr(t) for t in d.flat)}: the policy cannot optimise "
                   "them as written; drop or rewrite them.")
    if failed:
        out.append(f"{failed} candidate(s) could not be trained (see the errors above): keep to the state API and "
                   "return finite (N,) arrays.")
    if not out:
        out.append("Keep what works in the best candidate; change the weights or forms of the terms that lag.")
    return out


def _num(x: Any, fmt: str = ".3g") -> str:
    return format(x, fmt) if isinstance(x, (int, float)) and math.isfinite(x) else "n/a"


def _stats_line(label: str, s: dict[str, Any] | None) -> str:
    if s is None:
        return f"  {label}: no value during training"
    tenths = " ".join(_num(x) for x in s["tenths"])
    return f"  {label}: {tenths} | mean {_num(s['mean'])}, min {_num(s['min'])}, max {_num(s['max'])}"


def _last_line(text: str) -> str:
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else str(text)


def candidate_line(c: dict[str, Any]) -> str:
    """One line on a candidate: its success and return, or why it was not trained."""
    name = f"Candidate {c['idx']} ({c.get('what') or c.get('source')})"
    v = c.get("validation") or {}
    if v and not v.get("ok", True):
        return f"{name}: rejected by validation: {'; '.join(_last_line(p) for p in v.get('problems', []))}"
    if c.get("error"):
        return f"{name}: failed: {_last_line(c['error'])}"
    e = c.get("eval") or {}
    stats = c.get("stats") or {}
    last = ((stats.get("success") or {}).get("tenths") or [None])[-1]
    return (f"{name}: evaluation success {_num(e.get('success_rate'), '.2f')} (honest {_num(e.get('honest_success_rate'), '.2f')}), "
            f"mean return {_num(e.get('mean_return'))}; training success in the last tenth {_num(last, '.2f')}")


def round_feedback(sub: str, round_no: int, candidates: Sequence[dict[str, Any]], best: dict[str, Any] | None,
                   steps: int, episode_steps: int) -> str:
    """The reflection text after round ``round_no`` of sub-task ``sub``: every candidate's result, the best one's
    statistics over training term by term (the best so far, named with its round, when it is not one of this
    round's ``candidates``), errors and warnings, then :func:`guidance`."""
    lines = [f"Round {round_no} of sub-task {sub}: {len(candidates)} candidate reward(s), each trained for {steps:,} "
             "environment steps and evaluated by the sub-task's success test (the same for every candidate). Episodes "
             f"last {episode_steps} steps: they end at the time limit, and success is judged at the last step.", ""]
    lines += [candidate_line(c) for c in candidates]
    if best is not None and best.get("stats"):
        s = best["stats"]
        which = (f"the best, candidate {best['idx']}" if any(c is best for c in candidates)
                 else f"the best so far, candidate {best['idx']} of round {best.get('round')}")
        lines += ["", f"Statistics of {which}, over its training ({s['updates']} updates): the "
                      "mean of each tenth of training, then the mean, min and max over it (reward terms: mean per step):",
                  _stats_line("success rate", s["success"]), _stats_line("episodic return", s["return"])]
        lines += [_stats_line(f"reward term '{k}'", v) for k, v in s["terms"].items()]
        warnings = (best.get("validation") or {}).get("warnings") or []
        lines += [f"  validation warning: {w}" for w in warnings]
    errors = [c for c in candidates if c.get("error") or not (c.get("validation") or {}).get("ok", True)]
    for c in errors:
        text = c.get("error") or "\n".join((c.get("validation") or {}).get("problems", []))
        lines += ["", f"Error of candidate {c['idx']}:", str(text).strip()[-1500:]]
    for c in candidates:
        if c is not best and (c.get("validation") or {}).get("warnings"):
            lines += [f"Validation warning of candidate {c['idx']}: {w}" for w in c["validation"]["warnings"]]
    d = diagnose(best, candidates)
    lines += ["", "Guidance:"] + [f"- {g}" for g in guidance(d, len(errors))]
    return "\n".join(lines) + "\n"
