"""What isolation this machine offers: bubblewrap, cgroups. Probed once per process."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import subprocess

from rlscope.sandbox.cgroups import CgroupError, WorkerCgroup, cgroup_version


@dataclasses.dataclass(frozen=True)
class Isolation:
    """The mechanisms available, each with the reason when it is not."""

    bwrap: str | None
    """Path of a working ``bwrap``, else None."""
    bwrap_error: str | None
    """Why bubblewrap cannot be used."""
    cgroup_version: int | None
    """1 or 2 when worker cgroups can be created here, else None."""
    cgroup_error: str | None
    """Why cgroups cannot be used."""
    root: bool
    """Running as root (the sandbox then drops its processes to an unprivileged uid)."""

    def line(self) -> str:
        """One line for logs and errors."""
        b = f"bubblewrap {self.bwrap}" if self.bwrap else f"no bubblewrap ({self.bwrap_error})"
        c = f"cgroup v{self.cgroup_version}" if self.cgroup_version else f"no cgroups ({self.cgroup_error})"
        return f"{b}; {c}"


def _check_bwrap(root: bool) -> tuple[str | None, str | None]:
    path = shutil.which("bwrap")
    if path is None:
        return None, "bwrap not found on PATH (Debian/Ubuntu: apt-get install bubblewrap)"
    cmd = [path, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent"]
    if not root:
        cmd.append("--unshare-user")
    cmd += ["--", "/bin/true"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20, env={}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{path} cannot run: {exc}"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return None, f"{path} cannot create namespaces here: {last}"
    return path, None


def _check_cgroups() -> tuple[int | None, str | None]:
    if cgroup_version() is None:
        return None, "no cgroup filesystem at /sys/fs/cgroup"
    try:
        group = WorkerCgroup.create()
    except (CgroupError, OSError) as exc:
        return None, str(exc)
    try:
        group.set_limits(256 << 20, 16)
    except OSError as exc:
        return None, f"cannot write cgroup limits: {exc}"
    finally:
        group.destroy()
    return group.version, None


@functools.lru_cache(maxsize=1)
def probe() -> Isolation:
    """Probe once: a trial ``bwrap`` run and a trial cgroup (both removed again)."""
    root = os.geteuid() == 0
    bwrap, bwrap_error = _check_bwrap(root)
    version, cgroup_error = _check_cgroups()
    return Isolation(bwrap, bwrap_error, version, cgroup_error, root)
