"""A Sampler that spreads requests over Ray actors, each holding one backend instance.

``RaySampler(backend, model, kwargs, address, workers)`` builds ``workers`` actors (an HF model per CPU
worker, a vLLM engine per GPU) through :mod:`rlscope.ray_pool`; :meth:`generate` cuts the requests into
blocks, and each finished block's completions come back to the caller (``on_result``) at once, so the
sampling loop stores them in the run's one store as they arrive. Each request carries its own seed, so a
block re-run after a worker died draws the same samples again, and the store's idempotent inserts keep one
copy of each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rlscope.llm.base import Completion, SampleRequest, SamplingParams


class _SamplerActor:
    """One backend instance in a Ray worker process."""

    def __init__(self, backend: str, model: str, kwargs: dict[str, Any]):
        from rlscope.llm.base import get_sampler

        self.sampler = get_sampler(backend, model, **kwargs)

    def generate(self, requests: list[SampleRequest], params: SamplingParams) -> list[Completion]:
        return list(self.sampler.generate(requests, params))


class RaySampler:
    """See the module docstring. ``block``: requests per block (default: the backend's batch size, else 64)."""

    streams = True

    def __init__(self, backend: str, model: str, kwargs: dict[str, Any], address: str, workers: int,
                 block: int | None = None):
        from rlscope.ray_pool import ActorPool, connect

        connect(address, num_cpus=workers)
        threads = kwargs.get("threads") or 1
        gpus = 1 if backend == "vllm" or str(kwargs.get("device", "")).startswith("cuda") else 0
        self.pool = ActorPool(_SamplerActor, (backend, model, kwargs), workers, num_cpus=threads, num_gpus=gpus)
        self.name = f"{backend}:{model} on {workers} Ray workers"
        self.block = block or int(kwargs.get("batch_size") or 64)
        self.workers = workers
        self.tokens = [0] * workers
        self.start = time.perf_counter()

    def generate(self, requests: Sequence[SampleRequest], params: SamplingParams,
                 on_result: Callable[[int, Completion], None] | None = None) -> list[Completion]:
        """Completions in request order; with ``on_result``, each one is also handed over as its block finishes."""
        blocks = [(list(requests[i:i + self.block]), params) for i in range(0, len(requests), self.block)]
        out: list[Completion | None] = [None] * len(requests)
        for b, actor, completions in self.pool.map("generate", blocks):
            self.tokens[actor] += sum(c.num_tokens for c in completions)
            for k, c in enumerate(completions):
                out[b * self.block + k] = c
                if on_result is not None:
                    on_result(b * self.block + k, c)
        return out  # type: ignore[return-value]

    def throughput(self) -> str:
        """Tokens per second of each worker so far, e.g. ``w0 812, w1 790``."""
        dt = max(time.perf_counter() - self.start, 1e-9)
        return ", ".join(f"w{i} {t / dt:.0f}" for i, t in enumerate(self.tokens))

    def close(self) -> None:
        self.pool.close()
