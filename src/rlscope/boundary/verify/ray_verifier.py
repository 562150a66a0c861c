"""Verification spread over Ray workers: each worker process holds the verifier of one kind of problem (math,
code) and decides blocks of (problem, completion) pairs; the verdicts come back in order to the process that
keeps the run's store. Code still runs only inside each worker's sandbox."""

from __future__ import annotations

import dataclasses

from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.config import VerifyConfig
from rlscope.boundary.verify.base import Verdict

BLOCK = 64
"""Pairs per block sent to a worker."""


class _VerifierActor:
    """One verifier in a Ray worker process."""

    def __init__(self, kind: str, cfg: VerifyConfig):
        from rlscope.boundary.verify.run import make_verifier

        self.verifier = make_verifier(kind, cfg)

    def name(self) -> str:
        return type(self.verifier).__name__

    def verify(self, items: list[tuple[Problem, str]]) -> list[Verdict]:
        return self.verifier.verify(items)


class RayVerifier:
    """The verifier of ``kind`` on ``cfg.ray_workers`` Ray workers (each with ``cfg.workers`` processes of its own)."""

    def __init__(self, kind: str, cfg: VerifyConfig):
        from rlscope.ray_pool import ActorPool, connect, ray_module

        connect(cfg.ray or "local", num_cpus=cfg.ray_workers)
        self.pool = ActorPool(_VerifierActor, (kind, dataclasses.replace(cfg, ray=None)), cfg.ray_workers)
        self.name = ray_module().get(self.pool.actors[0].name.remote())

    def verify(self, items: list[tuple[Problem, str]]) -> list[Verdict]:
        blocks = [(items[i:i + BLOCK],) for i in range(0, len(items), BLOCK)]
        out: list[Verdict | None] = [None] * len(items)
        for b, _, verdicts in self.pool.map("verify", blocks):
            out[b * BLOCK:b * BLOCK + len(verdicts)] = verdicts
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self.pool.close()
