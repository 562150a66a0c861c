"""One cgroup per sandbox worker: memory, process count and CPU-time accounting (v1 and v2).

A worker's cgroup holds its bubblewrap process, the zygote and the program of the moment, so
the limits written before each job bound that job. v1 uses the ``memory``, ``pids`` and
``cpuacct`` hierarchies; v2 one directory with the ``memory`` and ``pids`` controllers. The
groups are made below the cgroup this process is in (below the hierarchy root where v2 forbids
that), named ``rlscope-<pid>-<n>``; groups left by dead processes are removed on the way.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import re
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
_V1_CONTROLLERS = ("memory", "pids", "cpuacct")
_NAME_RE = re.compile(r"^rlscope-(\d+)-\d+$")
_counter = itertools.count()


class CgroupError(OSError):
    """Cgroups cannot be used here (missing controller, no permission, ...)."""


def _read(path: Path) -> str:
    with open(path) as f:
        return f.read()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _own_paths(proc_cgroup: str) -> dict[str, str]:
    """``/proc/self/cgroup`` -> {controller: path}; the v2 entry under the key ``""``."""
    out: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for name in controllers.split(",") if controllers else [""]:
            out[name] = path
    return out


def cgroup_version(root: Path = CGROUP_ROOT) -> int | None:
    """2 for a unified hierarchy, 1 for v1 (or hybrid) controllers, None for none."""
    if (root / "cgroup.controllers").exists():
        return 2
    if any((root / c).is_dir() for c in _V1_CONTROLLERS):
        return 1
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_and_remove(dirs: list[Path], procs_file: Path) -> None:
    for _ in range(50):
        try:
            pids = [int(p) for p in _read(procs_file).split()]
        except OSError:
            pids = []
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
    for d in dirs:
        for _ in range(100):
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    log.debug("cannot remove cgroup %s: %s", d, exc)
                    break
                time.sleep(0.01)


class WorkerCgroup:
    """The cgroup(s) of one worker. Create with :meth:`create`; ``procs_files`` take the first pid."""

    version: int
    dirs: list[Path]

    def __init__(self, version: int, dirs: list[Path]):
        self.version = version
        self.dirs = dirs
        self._limits: tuple[int, int] | None = None
        self._oom_kills = 0
        self._has_memsw = version == 1 and (self._mem / "memory.memsw.limit_in_bytes").exists()
        self._fds: dict[str, int] = {}

    def _pread(self, path: Path) -> str:
        """Read a control file through a descriptor kept open (it is read before and after every job)."""
        key = str(path)
        fd = self._fds.get(key)
        if fd is None:
            fd = self._fds[key] = os.open(key, os.O_RDONLY | os.O_CLOEXEC)
        return os.pread(fd, 4096, 0).decode()

    # -- creation -------------------------------------------------------------------------------

    @classmethod
    def create(cls, root: Path = CGROUP_ROOT, proc_cgroup: str | None = None) -> WorkerCgroup:
        """A fresh cgroup for one worker; raises :class:`CgroupError` with the reason."""
        version = cgroup_version(root)
        if version is None:
            raise CgroupError(errno.ENOENT, f"no cgroup hierarchy at {root}")
        if proc_cgroup is None:
            proc_cgroup = _read(Path("/proc/self/cgroup"))
        own = _own_paths(proc_cgroup)
        name = f"rlscope-{os.getpid()}-{next(_counter)}"
        if version == 1:
            dirs = []
            try:
                for controller in _V1_CONTROLLERS:
                    base = root / controller
                    if not base.is_dir():
                        raise CgroupError(errno.ENOENT, f"cgroup v1 controller {controller!r} is not mounted")
                    parent = base / own.get(controller, "/").lstrip("/")
                    _sweep(parent)
                    d = parent / name
                    d.mkdir()
                    dirs.append(d)
            except OSError as exc:
                for d in reversed(dirs):
                    with contextlib.suppress(OSError):
                        d.rmdir()
                raise CgroupError(exc.errno or errno.EPERM, f"cannot create cgroup v1 {name}: {exc}") from None
            return cls(1, dirs)
        return cls(2, [_create_v2(root, own.get("", "/"), name)])

    # -- paths ----------------------------------------------------------------------------------

    @property
    def _mem(self) -> Path:
        return self.dirs[0]

    @property
    def _pids(self) -> Path:
        return self.dirs[1] if self.version == 1 else self.dirs[0]

    @property
    def _cpu(self) -> Path:
        return self.dirs[2] if self.version == 1 else self.dirs[0]

    @property
    def procs_files(self) -> list[Path]:
        """Write a pid into each of these to put that process (and its future children) in."""
        return [d / "cgroup.procs" for d in self.dirs]

    # -- limits and accounting ----------------------------------------------------------------

    def set_limits(self, memory_bytes: int, pids: int) -> None:
        """Memory (no swap beyond it) and task count; written only when they change."""
        if self._limits == (memory_bytes, pids):
            return
        if self.version == 1:
            mem, memsw = self._mem / "memory.limit_in_bytes", self._mem / "memory.memsw.limit_in_bytes"
            current = int(_read(mem))
            # memsw >= memory must hold after each single write
            order = [memsw, mem] if memory_bytes > current else [mem, memsw]
            for path in order:
                if path is mem or self._has_memsw:
                    _write(path, str(memory_bytes))
        else:
            _write(self._mem / "memory.max", str(memory_bytes))
            with contextlib.suppress(OSError):
                _write(self._mem / "memory.swap.max", "0")
        _write(self._pids / "pids.max", str(pids))
        self._limits = (memory_bytes, pids)

    def memory_usage(self) -> int:
        name = "memory.usage_in_bytes" if self.version == 1 else "memory.current"
        return int(_read(self._mem / name))

    def cpu_seconds(self) -> float:
        """CPU time used by everything that ever ran in the group."""
        if self.version == 1:
            return int(self._pread(self._cpu / "cpuacct.usage")) / 1e9
        for line in self._pread(self._cpu / "cpu.stat").splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        return 0.0

    def oom_kills(self) -> int:
        """How many processes the OOM killer has killed in the group so far."""
        path = self._mem / ("memory.oom_control" if self.version == 1 else "memory.events")
        for line in self._pread(path).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def new_oom_kills(self) -> int:
        """OOM kills since the previous call."""
        total = self.oom_kills()
        new, self._oom_kills = total - self._oom_kills, total
        return new

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in _read(self._pids / "cgroup.procs").split()]
        except OSError:
            return []

    def kill(self) -> None:
        """Kill every process in the group (the group stays)."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                _write(self.dirs[0] / "cgroup.kill", "1")
                return
        for pid in self.pids():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def destroy(self) -> None:
        """Kill whatever is left in the group and remove it."""
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        self.kill()
        _kill_and_remove(self.dirs, self._pids / "cgroup.procs")


def _sweep(parent: Path) -> None:
    """Remove groups left behind by rlscope processes that no longer run."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for d in entries:
        m = _NAME_RE.match(d.name)
        if m and d.is_dir() and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            _kill_and_remove([d], d / "cgroup.procs")


def _create_v2(root: Path, own: str, name: str) -> Path:
    """A v2 group with memory + pids enabled. Tries below our own group, then the hierarchy root
    (a group that has processes cannot enable controllers for its children)."""
    errors = []
    candidates = [root / own.lstrip("/")]
    if candidates[0] != root:
        candidates.append(root)
    for parent in candidates:
        try:
            enabled = set(_read(parent / "cgroup.subtree_control").split())
            missing = {"memory", "pids"} - enabled
            if missing:
                available = set(_read(parent / "cgroup.controllers").split())
                if not missing <= available:
                    raise CgroupError(errno.ENOENT, f"controllers {sorted(missing - available)} not available")
                _write(parent / "cgroup.subtree_control", " ".join("+" + c for c in sorted(missing)))
            _sweep(parent)
            d = parent / name
            d.mkdir()
            return d
        except OSError as exc:
            errors.append(f"{parent}: {exc}")
    raise CgroupError(errno.EPERM, "cannot create a cgroup v2 group: " + "; ".join(errors))
