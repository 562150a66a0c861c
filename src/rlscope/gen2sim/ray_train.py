"""Gen2Sim trainings as Ray tasks: each selected task's run (`run_train`: its sub-tasks in order, evaluation,
chain, report) is one Ray task asking for its CPUs (and GPUs), so tasks train side by side on a machine or a
cluster. Every run writes into its own run directory; a task whose worker dies is re-run by Ray and resumes
from what its run directory holds (finished sub-tasks are not retrained); one that fails for good is recorded
as failed, with its error, not lost."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

RETRIES = 2
"""Times Ray re-runs a task whose worker process died."""


def _train(tcfg) -> dict[str, Any]:
    from rlscope.gen2sim.pipeline import run_train

    return run_train(tcfg)


def train_on_ray(jobs: list, address: str, num_cpus: float, num_gpus: float = 0.0,
                 say: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    """Run every `TrainTaskConfig` of ``jobs`` as a Ray task; returns their summaries in ``jobs`` order, a failed one
    as ``{"task_id", "run", "failed": True, "error"}``."""
    from rlscope.ray_pool import connect, ray_module

    ray = ray_module()
    connect(address)
    remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=RETRIES, retry_exceptions=False)(_train)
    refs = {remote.remote(tcfg): i for i, tcfg in enumerate(jobs)}
    out: list[dict[str, Any] | None] = [None] * len(jobs)
    pending = list(refs)
    while pending:
        (ref,), pending = ray.wait(pending, num_returns=1)
        i = refs[ref]
        name = jobs[i].out.name
        try:
            out[i] = ray.get(ref)
            say(f"   {name}: trained ({sum(1 for _ in out[i]['subtasks'])} sub-task(s))")
        except Exception as exc:  # a task's own error, or its worker died more than RETRIES times
            cause = getattr(exc, "cause", None) or exc
            msg = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
            log.warning("task %s failed: %s", name, msg)
            say(f"   {name}: failed: {msg}")
            out[i] = {"task_id": name, "run": str(jobs[i].out), "failed": True, "error": msg}
    return out  # type: ignore[return-value]
