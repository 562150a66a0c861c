"""Run untrusted Python (model completions, LLM-written reward code) and judge it from outside.

Isolation: bubblewrap (read-only system, no network, own pid/IPC/UTS namespaces), an
unprivileged uid, a user namespace per zygote and a pid + mount + IPC namespace per program,
seccomp, cgroups (memory, processes, CPU time) and rlimits. A warm pool of zygotes forks one
child per program. The program reports outputs only; expected values never enter the sandbox.
See ``docs/sandbox.md``.
"""

from rlscope.sandbox.pool import SandboxError, SandboxUnavailable
from rlscope.sandbox.probe import Isolation, probe
from rlscope.sandbox.runner import DEFAULT_PRELOAD, Job, Sandbox, run, run_batch
from rlscope.sandbox.verdict import Limits, Outcome, SandboxResult

__all__ = [
    "DEFAULT_PRELOAD",
    "Isolation",
    "Job",
    "Limits",
    "Outcome",
    "Sandbox",
    "SandboxError",
    "SandboxResult",
    "SandboxUnavailable",
    "probe",
    "run",
    "run_batch",
]
