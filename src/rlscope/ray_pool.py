"""Work spread over Ray actors, results streamed back to the process that keeps the one durable store.

Ray is an optional extra (``pip install 'rlscope[ray]'``), imported only here and only when asked for.
An :class:`ActorPool` holds ``workers`` actors, each built once (a model loaded once per worker), and
feeds them blocks of work: a new block goes to whichever actor finishes first, and each result comes back
to the caller as soon as it is ready, tagged with its block and the actor that made it. Actors restart when
their process dies and Ray re-runs the block they held (``max_restarts`` / ``max_task_retries``), so a
killed worker costs time, not work: callers store results with idempotent inserts keyed by (problem,
sample), so a block computed twice is stored once.

Why hand-made actors and not ``ray.data.llm``: the store must receive every block as it finishes (a run can
be killed and resumed at any point), the same pool serves the HF, vLLM and OpenAI backends and the
verifiers, and Ray Data's LLM processor covers vLLM alone and writes datasets rather than feeding a store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

from rlscope.errors import RlscopeError

log = logging.getLogger(__name__)

LOCAL = "local"
"""Address meaning: start a Ray instance on this machine (for the duration of the command)."""


def ray_module():
    """The ``ray`` package, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise RlscopeError("--ray needs Ray: pip install 'rlscope[ray]'") from None
    return ray


def connect(address: str, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at ``address`` ('auto': the one this machine belongs to; 'ray://HOST:PORT': a remote
    head), or start a local instance with ``num_cpus`` CPUs for ``local``. Idempotent within a process."""
    ray = ray_module()
    if ray.is_initialized():
        return
    quiet = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if address == LOCAL:
            ray.init(num_cpus=num_cpus or os.cpu_count(), **quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RlscopeError(f"--ray {address}: could not connect to a Ray cluster ({exc}); 'local' starts one here") from None
    log.info("Ray: %s", ray.cluster_resources())


class ActorPool:
    """``workers`` actors of class ``cls`` built with ``args``; :meth:`map` streams ``method`` over blocks."""

    def __init__(self, cls: type, args: Sequence[Any], workers: int, num_cpus: float = 1, num_gpus: float = 0):
        ray = ray_module()
        remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=-1, max_task_retries=-1)(cls)
        self.actors = [remote.remote(*args) for _ in range(workers)]
        self.done = [0] * workers
        """Blocks each actor finished."""

    def map(self, method: str, blocks: Sequence[tuple]) -> Iterator[tuple[int, int, Any]]:
        """Call ``actor.method(*block)`` for every block, one block in flight per actor; yields ``(block index, actor
        index, result)`` as each finishes (in finishing order). A block whose actor died is re-run by Ray."""
        ray = ray_module()
        todo = list(range(len(blocks)))[::-1]
        running: dict[Any, tuple[int, int]] = {}

        def submit(actor: int) -> None:
            if todo:
                b = todo.pop()
                running[getattr(self.actors[actor], method).remote(*blocks[b])] = (b, actor)

        for a in range(len(self.actors)):
            submit(a)
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            b, actor = running.pop(ref)
            result = ray.get(ref)
            self.done[actor] += 1
            submit(actor)
            yield b, actor, result

    def close(self) -> None:
        """End the actors (their processes exit)."""
        ray = ray_module()
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
