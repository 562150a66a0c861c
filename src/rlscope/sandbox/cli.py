"""`rlscope sandbox run FILE`: run a Python file in the sandbox, print one JSON line.

The exit status is 0 whatever the program did (its fate is in the JSON); it is non-zero only
when the sandbox itself could not run it (2: unavailable here, 1: failed).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path

from tyro.conf import Positional

from rlscope.errors import RlscopeError
from rlscope.sandbox.verdict import Limits

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SandboxRunConfig:
    """`rlscope sandbox run FILE`: run a Python file in the sandbox and print one JSON line."""

    file: Positional[Path]
    """The Python program to run (as ``__main__``)."""
    timeout: float = 5.0
    """CPU-time limit in seconds, all its processes together (the wall-clock backstop is 3x + 5 s)."""
    memory: int = 512
    """Memory limit in MB."""
    stdin: Path | None = None
    """A file to feed the program on stdin (default: empty)."""
    unsafe: bool = False
    """Run even where bubblewrap or cgroups are missing, with rlimits only."""


def run_command(cfg: SandboxRunConfig) -> int:
    """Run ``cfg.file``; print ``{"outcome", "exit_code", "signal", "duration_s", "stdout", "stderr", ...}``."""
    from rlscope.sandbox.pool import SandboxUnavailable
    from rlscope.sandbox.runner import Sandbox

    try:
        code = cfg.file.read_text(encoding="utf-8", errors="surrogateescape")
        stdin = cfg.stdin.read_text(encoding="utf-8", errors="surrogateescape") if cfg.stdin else None
    except OSError as exc:
        print(f"rlscope sandbox: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        limits = Limits(cpu_time_s=cfg.timeout, memory_mb=cfg.memory)
    except ValueError as exc:
        print(f"rlscope sandbox: {exc}", file=sys.stderr)
        return 1
    try:
        with Sandbox(workers=1, limits=limits, unsafe=cfg.unsafe) as box:
            result = box.run(code, stdin=stdin)
    except SandboxUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except RlscopeError as exc:
        print(f"rlscope sandbox: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(), ensure_ascii=False))
    return 0
