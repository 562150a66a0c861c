"""Verify every stored sample that has no verdict yet: store(generations) -> verifiers -> store(verdicts)."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter, defaultdict
from typing import Protocol

from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.config import VerifyConfig
from rlscope.boundary.runs import open_run, problems_by_id, writer
from rlscope.boundary.verify.base import Verdict
from rlscope.config import write_manifest
from rlscope.store import VerdictRow

log = logging.getLogger(__name__)


class Verifier(Protocol):
    """Decides each (problem, completion) pair; order preserved."""

    def verify(self, items: list[tuple[Problem, str]]) -> list[Verdict]: ...

    def close(self) -> None: ...


def make_verifier(kind: str, cfg: VerifyConfig) -> Verifier:
    if cfg.ray is not None:
        from rlscope.boundary.verify.ray_verifier import RayVerifier

        return RayVerifier(kind, cfg)
    if kind == "math":
        from rlscope.boundary.verify.math import MathVerifier

        return MathVerifier(workers=cfg.workers, timeout_s=cfg.timeout_s)
    if kind == "code":
        from rlscope.boundary.verify.code import CodeVerifier

        return CodeVerifier(workers=cfg.workers)
    from rlscope.errors import RlscopeError

    raise RlscopeError(f"no verifier for problems of kind {kind!r}")


@dataclasses.dataclass
class VerifySummary:
    verified: int
    correct: int
    reasons: dict[str, int]
    seconds: float
    errors: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    """Error reason (``error: gold unparsable``, ...) -> the problems it happened on, in order."""


COMMIT_EVERY = 512
"""Verdicts are committed in groups of this many samples: a kill loses at most one group of work."""


def run_verify(cfg: VerifyConfig) -> VerifySummary:
    """Verify every stored sample without a verdict (all of them with ``force``), as the run's one writer."""
    cfg.validate()
    open_run(cfg.run).close()  # a missing run is an error before anything is created
    with writer(cfg.run, "verify"):
        return _verify(cfg)


def _verify(cfg: VerifyConfig) -> VerifySummary:
    store = open_run(cfg.run)
    verifiers: dict[str, Verifier] = {}
    try:
        if cfg.force:
            store.delete_verdicts()
        write_manifest(cfg.run, "verify", cfg)
        problems = problems_by_id(store)
        total = store.count_unverified()
        summary = VerifySummary(0, 0, {}, 0.0)
        reasons: Counter[str] = Counter()
        bar = None
        if cfg.progress and total:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="sample", dynamic_ncols=True, desc="verify")
        start = time.perf_counter()
        for rows in store.iter_unverified(COMMIT_EVERY):
            by_kind: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
            for row in rows:
                by_kind[problems[row[0]].kind].append(row)
            out: list[VerdictRow] = []
            for kind, krows in by_kind.items():
                if kind not in verifiers:
                    verifiers[kind] = make_verifier(kind, cfg)
                verdicts = verifiers[kind].verify([(problems[pid], comp) for pid, _, comp in krows])
                name = getattr(verifiers[kind], "name", type(verifiers[kind]).__name__)
                for (pid, idx, _), v in zip(krows, verdicts):
                    out.append(VerdictRow(pid, idx, v.correct, v.extracted, v.reason, name))
                    reasons[v.reason.split(":")[0]] += 1
                    if v.reason.startswith("error") and pid not in summary.errors.setdefault(v.reason, []):
                        summary.errors[v.reason].append(pid)
            store.put_verdicts(out)
            summary.verified += len(out)
            summary.correct += sum(r.correct for r in out)
            if bar is not None:
                bar.update(len(out))
        if bar is not None:
            bar.close()
        summary.seconds = time.perf_counter() - start
        summary.reasons = dict(reasons)
        return summary
    finally:
        for v in verifiers.values():
            v.close()
        store.close()
