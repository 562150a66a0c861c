"""Long isolated runs: a whole Python process (e.g. a training run that executes generated reward
code) inside bubblewrap, with limits.

Unlike the warm pool (many short programs), this starts one fresh process per run: a read-only
system and Python environment, the project's package read-only, one writable output directory, a
private ``/tmp``, no network, its own PID/IPC/UTS namespaces, an unprivileged uid, an empty
environment apart from what is passed, a new session, killed with its parent; a cgroup bounds its
memory and process count, rlimits its CPU time, file size and core dumps.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from rlscope.sandbox.cgroups import CgroupError, WorkerCgroup
from rlscope.sandbox.pool import ReadOnlyBinds, SandboxUnavailable
from rlscope.sandbox.probe import probe

log = logging.getLogger(__name__)

_NOBODY = 65534
_JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 126; shift; done; shift; exec "$@"'
_PASS_ENV = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "RLSCOPE_LOG", "MUJOCO_GL", "PYOPENGL_PLATFORM")


@dataclasses.dataclass(frozen=True)
class ProcessLimits:
    """Limits of one isolated run."""

    cpu_s: int = 4 * 3600
    """CPU time of the whole run (s)."""
    memory_mb: int = 8192
    """Memory (cgroup), MB."""
    pids: int = 256
    """Processes and threads."""
    file_mb: int = 2048
    """Largest file it may write, MB."""
    wall_s: float | None = None
    """Wall-clock time of the whole run (s), after which it is killed; None: no limit."""


@dataclasses.dataclass
class ProcessRun:
    returncode: int
    signal: int | None
    isolated: bool
    """False when it ran unsandboxed (``unsafe``)."""
    oom_killed: bool
    stderr_tail: str
    timed_out: bool = False
    """Killed at its wall-clock limit (``ProcessLimits.wall_s``)."""


def _package_root() -> str:
    import rlscope

    return str(Path(rlscope.__file__).resolve().parent.parent)


def isolated_command(argv: Sequence[str], writable: Sequence[Path | str], bwrap: str, env: dict[str, str]) -> list[str]:
    """The bubblewrap command line that runs ``argv`` isolated, with ``writable`` bound read-write."""
    cmd = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
           "--unshare-user", "--uid", str(_NOBODY), "--gid", str(_NOBODY),
           "--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
    # a private /tmp, /proc and /dev first: what is bound next may lie under /tmp (a virtual environment, a run
    # directory) and must be mounted over the tmpfs, not hidden by it
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    binds = ReadOnlyBinds(cmd)
    binds.system(site_packages=True)
    binds.ro(sys.prefix)  # the virtual environment (pyvenv.cfg), when there is one
    binds.ro(_package_root())
    for d in ("/usr/share/glvnd", "/usr/share/egl", "/etc/fonts"):
        binds.ro(d)
    for w in writable:
        binds.rw(inside_path(w))
    # the sandbox's user has no passwd entry: libraries asking for a user name (torch's compile cache) read LOGNAME/USER
    base = {"HOME": "/tmp", "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "USER": "sandbox", "LOGNAME": "sandbox"}
    for k, v in {**base, **env}.items():
        cmd += ["--setenv", k, v]
    cmd += ["--chdir", "/tmp", "--", *argv]
    return cmd


def _limit(limits: ProcessLimits):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb << 20, limits.file_mb << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def inside_path(path: Path | str) -> str:
    """How the isolated process names a host path: absolute, with every symlink resolved.

    The isolated process starts in its own ``/tmp``, not in the caller's working directory, and only
    resolved directories are bound into it, so a relative path, or one through a symlink, would name
    nothing (or something else) inside."""
    return str(Path(path).resolve())


def run_python_module(module: str, args: Sequence[str | Path], writable: Sequence[Path | str], *,
                      limits: ProcessLimits = ProcessLimits(), unsafe: bool = False,
                      env: dict[str, str] | None = None) -> ProcessRun:
    """Run ``python -m module args`` isolated; stdout/stderr pass through (progress bars stay visible).

    Every :class:`~pathlib.Path` in ``args`` reaches the module as :func:`inside_path` gives it
    (absolute and resolved), so callers may hold relative or symlinked paths; ``str`` arguments pass
    unchanged. Raises :class:`SandboxUnavailable` (one line: what is missing) when bubblewrap cannot
    run here, unless ``unsafe``, which runs the module as a plain child process with the rlimits only.
    """
    iso = probe()
    passed = {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
    passed.update(env or {})
    argv = [sys.executable, "-m", module, *(inside_path(a) if isinstance(a, Path) else str(a) for a in args)]
    isolated = iso.bwrap is not None
    if not isolated:
        if not unsafe:
            raise SandboxUnavailable(f"cannot isolate generated code: {iso.line()}; pass --unsafe to run it unsandboxed")
        log.warning("running %s WITHOUT a sandbox (%s)", module, iso.line())
        cmd = argv
        child_env = {**os.environ, **passed}
    else:
        cmd = isolated_command(argv, writable, iso.bwrap, passed)
        child_env = {}
    group = None
    if isolated and iso.cgroup_version:
        try:
            group = WorkerCgroup.create()
            group.set_limits(limits.memory_mb << 20, limits.pids)
        except (CgroupError, OSError) as exc:
            log.warning("no cgroup for the isolated run: %s", exc)
            group = None
    if group is not None:  # join the cgroup before exec, so every descendant is in it
        cmd = ["/bin/sh", "-c", _JOIN, "sh", *map(str, group.procs_files), "--", *cmd]
    proc = subprocess.Popen(cmd, env=child_env, preexec_fn=_limit(limits), stderr=subprocess.PIPE, text=True,
                            errors="replace", start_new_session=not isolated)
    timer = None
    expired = threading.Event()
    if limits.wall_s is not None:
        def expire() -> None:
            expired.set()
            _kill(proc, group, isolated)

        timer = threading.Timer(limits.wall_s, expire)
        timer.daemon = True
        timer.start()
    tail: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if not line.startswith("\r") and "it/s]" not in line and "step/s]" not in line:
                tail.append(line)
                tail = tail[-60:]
            os.write(2, line.encode(errors="replace"))
        proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        proc.wait()
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if proc.poll() is None:
            _kill(proc, group, isolated)
            proc.wait()
        oom = False
        if group is not None:
            oom = group.oom_kills() > 0
            group.destroy()
    rc = proc.returncode
    return ProcessRun(returncode=rc, signal=-rc if rc < 0 else None, isolated=isolated, oom_killed=oom,
                      stderr_tail="".join(tail), timed_out=expired.is_set())


def _kill(proc: subprocess.Popen, group: WorkerCgroup | None, isolated: bool) -> None:
    """Kill the run and everything it started: its cgroup when it has one, else bubblewrap (whose children
    die with it) or, unsandboxed, its process group."""
    if group is not None:
        group.kill()
    try:
        if isolated:
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
