"""Host side of the sandbox: launch zygotes (in bubblewrap, in their cgroups) and run jobs on them.

A :class:`WorkerPool` keeps ``workers`` zygotes warm; each runs one job at a time, so the
limits written to a worker's cgroup before a job bound exactly that job. With ``warm=False``
every job gets a fresh bubblewrap + zygote (the baseline the pool is measured against).

This module returns raw runs (:class:`RawRun`); :mod:`rlscope.sandbox.runner` turns them into
verdicts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import os
import queue
import select
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import weakref
from pathlib import Path

from rlscope.errors import RlscopeError
from rlscope.sandbox import zygote as proto
from rlscope.sandbox.cgroups import CgroupError, WorkerCgroup
from rlscope.sandbox.probe import Isolation
from rlscope.sandbox.verdict import Limits

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
_INSIDE_DIR = "/opt/rlscope"
_NOBODY = 65534
_START_TIMEOUT_S = 60.0
_GRACE_S = 5.0
_POLL_S = 0.05
_PIDS_OVERHEAD = 4
"""bwrap, its pid-1 reaper, the zygote's starter and the zygote share the worker's pids limit."""


class SandboxUnavailable(RlscopeError):
    """The isolation the caller asked for cannot be had here (one line: what is missing, what to do)."""


class SandboxError(RlscopeError):
    """The sandbox itself failed (not the program it ran)."""


@dataclasses.dataclass
class RawRun:
    """What the zygote reported about one job, plus what the host measured."""

    exit_code: int | None = None
    signal: int | None = None
    cpu_s: float | None = None
    wall_s: float = 0.0
    killed: str | None = None
    """Who ended it early: ``wall``, ``cpu``, ``output``, ``result``; None if it ended by itself."""
    oom_kills: int = 0
    cgroup_cpu_s: float | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    result: bytes = b""
    setup_error: str | None = None


@dataclasses.dataclass(frozen=True)
class PoolOptions:
    """How workers are launched."""

    workers: int = 2
    warm: bool = True
    site_packages: bool = False
    use_bwrap: bool = True
    use_cgroups: bool = True
    preload: tuple[str, ...] | None = None


def _python() -> str:
    return os.path.realpath(sys.executable)


def _site_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    return sorted({p for p in (paths.get("purelib"), paths.get("platlib")) if p and os.path.isdir(p)})


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


class ReadOnlyBinds:
    """Builds bubblewrap arguments that show a read-only system: /usr, /lib*, the Python prefix, and
    whatever else is asked for, nothing of the host's home or data. Parent directories it has to
    create are 0755 (bwrap would make them 0700: unreadable after a uid drop)."""

    def __init__(self, cmd: list[str]):
        self.cmd = cmd
        self.bound: list[str] = []
        self._made: set[str] = {"/"}

    def _parents(self, dest: str) -> None:
        parent = os.path.dirname(dest)
        if parent in self._made or _under(parent, self.bound):
            return
        self._parents(parent)
        self.cmd.extend(["--perms", "0755", "--dir", parent])
        self._made.add(parent)

    def ro(self, path: str, dest: str | None = None, flag: str = "--ro-bind") -> None:
        dest = dest or path
        if os.path.exists(path) and not _under(dest, self.bound):
            self._parents(dest)
            self.cmd.extend([flag, path, dest])
            self.bound.append(dest)

    def rw(self, path: str) -> None:
        self.ro(path, flag="--bind")

    def system(self, site_packages: bool) -> None:
        self.ro("/usr")
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                self.cmd.extend(["--symlink", os.readlink(top), top])
            else:
                self.ro(top)
        for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
            self.ro(etc)
        for prefix in {sys.base_prefix, sys.base_exec_prefix, os.path.dirname(os.path.dirname(_python()))}:
            self.ro(os.path.realpath(prefix))
        if site_packages:
            for d in _site_dirs():
                self.ro(d)


def bwrap_command(bwrap: str, root: bool, site_packages: bool, options_json: str) -> list[str]:
    """The bubblewrap command line of one zygote: read-only system, nothing of the host's home or data."""
    cmd = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not root:
        cmd.append("--unshare-user")
    cmd += ["--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
    binds = ReadOnlyBinds(cmd)
    binds.system(site_packages)
    for name in ("zygote.py", "codec.py"):
        binds.ro(str(_HERE / name), f"{_INSIDE_DIR}/{name}")
    cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(1 << 20), "--tmpfs", "/tmp", "--remount-ro", "/"]
    if root:  # the zygote uses these once, to drop to an unprivileged uid
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SYS_RESOURCE"]
    # from source, not a .pyc: measured, children of a zygote that ran from bytecode cost more
    cmd += ["--chdir", "/tmp", "--", _python(), "-I", "-S", "-B", f"{_INSIDE_DIR}/zygote.py", options_json]
    return cmd


class _Worker:
    """One zygote process and its cgroup."""

    def __init__(self, pool: WorkerPool, oneshot: bool):
        self.pool = pool
        self.oneshot = oneshot
        self.proc: subprocess.Popen | None = None
        self.cgroup: WorkerCgroup | None = None
        self.baseline = 0
        self.features: list[str] = []
        self._ids = itertools.count(1)
        self._stderr = None
        self._reader: proto.FrameReader | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        pool = self.pool
        if pool.cgroup_version:
            try:
                self.cgroup = WorkerCgroup.create()
            except CgroupError as exc:
                raise SandboxUnavailable(f"sandbox: {exc}") from None
        options = {
            "ns": pool.use_bwrap,
            "oneshot": self.oneshot,
            "paths": _site_dirs() if pool.options.site_packages else [],
            "private_paths": [_INSIDE_DIR, str(_HERE)],
            "seccomp": True,
        }
        if pool.options.preload is not None:
            options["preload"] = list(pool.options.preload)
        elif self.oneshot:
            options["preload"] = []  # nothing to share with later programs
        if pool.use_bwrap and pool.isolation.root:
            options.update(drop_uid=_NOBODY, drop_gid=_NOBODY)
        options_json = json.dumps(options)
        if pool.use_bwrap:
            iso = pool.isolation
            cmd = bwrap_command(iso.bwrap or "bwrap", iso.root, pool.options.site_packages, options_json)
        else:
            cmd = [_python(), "-I", "-S", "-B", str(_HERE / "zygote.py"), options_json]
        if self.cgroup is not None:  # join the cgroup before exec, so every descendant is in it
            script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 126; shift; done; shift; exec "$@"'
            cmd = ["/bin/sh", "-c", script, "sh", *map(str, self.cgroup.procs_files), "--", *cmd]
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={"PATH": "/usr/bin:/bin"},
            cwd="/",
            close_fds=True,
            start_new_session=True,
        )
        self._reader = proto.FrameReader(self.proc.stdout.fileno(), chunk=1 << 20)
        frame = self._read_frame(time.monotonic() + _START_TIMEOUT_S)
        if frame is None or frame[0] != proto.READY:
            detail = frame[1].decode(errors="replace") if frame else self._stderr_tail() or "no reply"
            self.stop()
            raise SandboxUnavailable(f"sandbox: the zygote did not start: {detail}")
        ready = json.loads(frame[1])
        self.features = ready.get("features", [])
        if self.cgroup is not None:
            self.baseline = self.cgroup.memory_usage()
            self.cgroup.new_oom_kills()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5.0)
            with contextlib.suppress(OSError):
                proc.stdout.close()
        if self.cgroup is not None:
            self.cgroup.destroy()
            self.cgroup = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        with contextlib.suppress(OSError):
            self._stderr.seek(0)
            lines = self._stderr.read().decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else ""
        return ""

    # -- I/O ----------------------------------------------------------------------------------

    def _send(self, kind: bytes, payload: dict) -> None:
        proto.write_frame(self.proc.stdin.fileno(), kind, json.dumps(payload).encode())

    def _read_frame(self, deadline: float, on_idle=None) -> tuple[bytes, bytes] | None:
        """The next frame, or None at EOF / deadline. ``on_idle`` runs every poll interval."""
        reader = self._reader
        fd = reader.fd
        while True:
            frame = reader.pop()
            if frame is not None:
                return frame
            if reader.eof:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], min(remaining, _POLL_S) if on_idle else remaining)
            if ready:
                reader.feed()
            elif on_idle is not None:
                on_idle()

    # -- one job -------------------------------------------------------------------------------

    def execute(self, spec: dict, limits: Limits) -> RawRun:
        job_id = next(self._ids)
        fallback = {"as": self.cgroup is None, "nproc": self.cgroup is None}
        job = dict(spec, id=job_id, limits=limits.to_dict(), fallback=fallback)
        cpu0 = None
        if self.cgroup is not None:
            try:
                self.cgroup.set_limits(self.baseline + (limits.memory_mb << 20), limits.processes + _PIDS_OVERHEAD)
            except OSError as exc:  # e.g. a lower limit than the zygote now uses: start afresh
                raise _WorkerLost(f"cannot set the worker's cgroup limits: {exc}") from None
            cpu0 = self.cgroup.cpu_seconds()
        try:
            self._send(proto.JOB, job)
        except OSError as exc:
            raise _WorkerLost(f"sandbox worker gone ({exc})") from None
        killed_cpu = False

        def check_cpu() -> None:
            nonlocal killed_cpu
            if cpu0 is not None and not killed_cpu and self.cgroup.cpu_seconds() - cpu0 > limits.cpu_time_s:
                killed_cpu = True
                with contextlib.suppress(OSError):  # gone: the read below reports it
                    self._send(proto.KILL, {"id": job_id, "reason": "cpu"})

        deadline = time.monotonic() + limits.wall_s + _GRACE_S
        frame = self._read_frame(deadline, on_idle=check_cpu if cpu0 is not None else None)
        if frame is None or frame[0] != proto.DONE:
            why = "stopped answering" if frame is None and not self._reader.eof else "died"
            raise _WorkerLost(f"sandbox worker {why} ({self._stderr_tail() or 'no message'})")
        header, blobs = proto.unpack_done(frame[1])
        self.last_header = header
        run = RawRun(
            exit_code=header.get("exit_code"),
            signal=header.get("signal"),
            cpu_s=header.get("cpu_s"),
            wall_s=float(header.get("wall_s", 0.0)),
            killed=header.get("killed"),
            stdout=blobs[0] if blobs else b"",
            stderr=blobs[1] if len(blobs) > 1 else b"",
            result=blobs[2] if len(blobs) > 2 else b"",
            setup_error=header.get("setup_error"),
        )
        if self.cgroup is not None:
            run.cgroup_cpu_s = self.cgroup.cpu_seconds() - cpu0
            run.oom_kills = self.cgroup.new_oom_kills()
        if killed_cpu and run.killed in (None, "host"):
            run.killed = "cpu"
        return run


class _WorkerLost(Exception):
    pass


def _close_all(workers: list[_Worker]) -> None:
    for w in workers:
        with contextlib.suppress(Exception):
            w.stop()


class WorkerPool:
    """``workers`` warm zygotes (or one fresh zygote per job with ``warm=False``)."""

    def __init__(self, isolation: Isolation, options: PoolOptions, cgroup_version: int | None):
        self.isolation = isolation
        self.options = options
        self.use_bwrap = options.use_bwrap
        self.cgroup_version = cgroup_version
        self._workers: list[_Worker] = []
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, options.workers))
        self._closed = False
        self._finalizer = weakref.finalize(self, _close_all, self._workers)
        self.features: list[str] = []
        if options.warm:
            try:
                for _ in range(max(1, options.workers)):
                    self._add_worker()
            except BaseException:
                self.close()
                raise

    def _add_worker(self) -> _Worker:
        w = _Worker(self, oneshot=False)
        w.start()
        with self._lock:
            self._workers.append(w)
        self.features = w.features
        self._idle.put(w)
        return w

    def _replace(self, w: _Worker) -> None:
        w.stop()
        with self._lock:
            if w in self._workers:
                self._workers.remove(w)
        if not self._closed:
            self._add_worker()

    def execute(self, spec: dict, limits: Limits) -> RawRun:
        """Run one job (thread-safe; blocks while every worker is busy)."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        if not self.options.warm:
            return self._execute_oneshot(spec, limits)
        for attempt in range(2):
            w = self._idle.get()
            try:
                run = w.execute(spec, limits)
            except _WorkerLost as exc:
                log.warning("%s; restarting it", exc)
                self._replace(w)
                if attempt:
                    raise SandboxError(str(exc)) from None
                continue
            except BaseException:
                self._replace(w)
                raise
            self._idle.put(w)
            return run
        raise AssertionError("unreachable")

    def _execute_oneshot(self, spec: dict, limits: Limits) -> RawRun:
        with self._slots:
            w = _Worker(self, oneshot=True)
            try:
                w.start()
                self.features = w.features
                return w.execute(spec, limits)
            except _WorkerLost as exc:
                raise SandboxError(str(exc)) from None
            finally:
                w.stop()

    def pids(self) -> list[int]:
        """Host pids of the workers' bubblewrap/zygote processes (for leak checks)."""
        with self._lock:
            return [w.proc.pid for w in self._workers if w.proc is not None]

    def cgroups(self) -> list[WorkerCgroup]:
        with self._lock:
            return [w.cgroup for w in self._workers if w.cgroup is not None]

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._workers)
            self._workers.clear()
        _close_all(workers)

