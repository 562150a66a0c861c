"""What one sandboxed execution ended as: the outcome, why, and the limits it ran under."""

from __future__ import annotations

import dataclasses
import enum
import math
import signal as _signal
from typing import Any


class Outcome(str, enum.Enum):
    """How a program ended. Decided outside the sandbox."""

    PASS = "PASS"
    """Script: exited 0. Tests: every check held."""
    FAIL = "FAIL"
    """Script: exited non-zero. Tests: a check failed, or the program reported no (or a malformed) result."""
    TIMEOUT = "TIMEOUT"
    """The CPU-time limit (all processes of the program together) or the wall-clock backstop ran out."""
    OOM = "OOM"
    """The memory limit was hit (killed by the cgroup OOM killer, or ``MemoryError``)."""
    CRASH = "CRASH"
    """Killed by a signal (``signal`` says which), e.g. a segfault through ``ctypes``."""
    OUTPUT_LIMIT = "OUTPUT_LIMIT"
    """More stdout/stderr, or a larger result, than the limits allow."""
    ERROR = "ERROR"
    """Tests: the program raised (loading, or inside a call the checks needed); ``error`` holds the traceback."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one execution. Stored with every result.

    Time is limited by CPU time, so that verdicts do not change with machine load; the
    wall-clock limit is only a backstop for programs that sleep or block.
    """

    cpu_time_s: float = 5.0
    """CPU time of the program and all its processes together (cgroup accounting; per process
    ``RLIMIT_CPU`` as a backstop)."""
    wall_time_s: float | None = None
    """Wall-clock backstop; None: ``3 * cpu_time_s + 5``."""
    memory_mb: int = 512
    """Memory of the program and all its processes together (cgroup; ``RLIMIT_AS`` in the fallback)."""
    processes: int = 32
    """Processes and threads the program may have at once (pids cgroup; ``RLIMIT_NPROC`` in the fallback)."""
    file_size_mb: int = 16
    """Largest file the program may write (``RLIMIT_FSIZE``)."""
    open_files: int = 64
    """Open file descriptors (``RLIMIT_NOFILE``)."""
    tmp_mb: int = 32
    """Size of the private tmpfs work directory (``/tmp``, also ``/dev/shm``)."""
    output_bytes: int = 1 << 20
    """stdout + stderr together; beyond it the program is killed (OUTPUT_LIMIT). Kept in full up to it."""
    result_bytes: int = 8 << 20
    """Size of the result channel (the outputs a program reports for checking)."""

    def __post_init__(self) -> None:
        if not (self.cpu_time_s > 0 and math.isfinite(self.cpu_time_s)):
            raise ValueError(f"cpu_time_s must be a positive number, got {self.cpu_time_s!r}")
        if self.wall_time_s is not None and not self.wall_time_s > 0:
            raise ValueError(f"wall_time_s must be positive, got {self.wall_time_s!r}")
        for name in ("memory_mb", "processes", "file_size_mb", "open_files", "tmp_mb", "output_bytes", "result_bytes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")

    @property
    def wall_s(self) -> float:
        """The wall-clock backstop in effect."""
        return self.wall_time_s if self.wall_time_s is not None else 3.0 * self.cpu_time_s + 5.0

    def to_dict(self) -> dict[str, Any]:
        """All fields, with the wall-clock backstop resolved; also the form sent to the zygote."""
        cached = self.__dict__.get("_wire")
        if cached is None:
            cached = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
            cached["wall_time_s"] = self.wall_s
            object.__setattr__(self, "_wire", cached)
        return dict(cached)


def signal_name(signum: int | None) -> str | None:
    """``11 -> "SIGSEGV"`` (None stays None)."""
    if signum is None:
        return None
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return f"SIG{signum}"


@dataclasses.dataclass(frozen=True)
class SandboxResult:
    """The result of one sandboxed execution."""

    outcome: Outcome
    """How it ended."""
    limits: Limits
    """The limits it ran under."""
    exit_code: int | None = None
    """Exit status when the program exited by itself."""
    signal: int | None = None
    """The signal that ended it, when one did."""
    duration_s: float = 0.0
    """Wall-clock time from start to the end of its last process."""
    cpu_s: float | None = None
    """CPU time it used (user + system, all its processes)."""
    stdout: str = ""
    """Captured stdout (at most ``limits.output_bytes`` together with stderr)."""
    stderr: str = ""
    """Captured stderr."""
    error: str | None = None
    """ERROR: the traceback the program raised (capped)."""
    detail: str = ""
    """One line on why (which limit, which check, which exception)."""
    passed: int | None = None
    """Tests: how many of the compared calls/checks held (None for scripts)."""
    total: int | None = None
    """Tests: how many were compared."""
    isolation: str = ""
    """The mechanisms it ran under, e.g. ``bwrap+uid65534+userns+seccomp+cgroup-v1``."""
    outputs: list[Any] | None = dataclasses.field(default=None, compare=False)
    """Calls mode: what each call returned (exact built-ins; other objects as ``codec.Opaque``)."""

    @property
    def signal_name(self) -> str | None:
        return signal_name(self.signal)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.PASS

    @property
    def reason(self) -> str:
        """Short lowercase reason in the style of the boundary verdicts: ``pass``, ``crash: SIGSEGV``, ``error: KeyError``."""
        base = self.outcome.value.lower()
        if self.outcome is Outcome.CRASH and self.signal is not None:
            return f"{base}: {self.signal_name}"
        if self.outcome is Outcome.ERROR and self.detail:
            return f"{base}: {self.detail.split(':', 1)[0][:80]}"
        return base

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the outcome as its name, the signal also by name, the limits in full."""
        out: dict[str, Any] = {
            "outcome": self.outcome.value,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "signal_name": self.signal_name,
            "duration_s": round(self.duration_s, 6),
            "cpu_s": None if self.cpu_s is None else round(self.cpu_s, 6),
            "stdout": self.stdout,
            "stderr": self.stderr,
            "error": self.error,
            "detail": self.detail,
            "passed": self.passed,
            "total": self.total,
            "isolation": self.isolation,
            "limits": self.limits.to_dict(),
        }
        if self.outputs is not None:
            from rlscope.sandbox import codec

            out["outputs"] = [codec.encode(v) for v in self.outputs]
        return out
