"""Shared sandbox fixtures: one warm sandbox for the whole test run, and checks of the host around it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rlscope.sandbox import Limits, Sandbox, SandboxUnavailable

SECRET = "rlscope-test-secret-7f3a9c61"
"""Put in this process's environment before the sandbox starts; no program may ever print it."""

TEST_LIMITS = Limits(cpu_time_s=1.0, wall_time_s=5.0, memory_mb=128, tmp_mb=8, output_bytes=64_000)


def own_cgroup_dirs() -> list[Path]:
    """Cgroup directories this test process created (live sandboxes' workers)."""
    out = []
    for base in Path("/sys/fs/cgroup").glob("**/rlscope-*"):
        if base.name.startswith(f"rlscope-{os.getpid()}-"):
            out.append(base)
    return out


def processes_in_own_cgroups() -> list[int]:
    """Host pids whose cgroup is one of this process's sandbox cgroups."""
    marker = f"rlscope-{os.getpid()}-"
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "cgroup").read_text()
        except OSError:
            continue
        if marker in text:
            pids.append(int(entry.name))
    return pids


def worker_process_counts(box: Sandbox) -> list[int]:
    return [len(group.pids()) for group in box._pool.cgroups()]


@pytest.fixture(scope="session")
def secret() -> str:
    return SECRET


@pytest.fixture(scope="session")
def box():
    os.environ["RLSCOPE_TEST_SECRET"] = SECRET
    try:
        sandbox = Sandbox(workers=2, limits=TEST_LIMITS, site_packages=True)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    yield sandbox
    sandbox.close()
    assert processes_in_own_cgroups() == [], "sandbox processes outlived the sandbox"


@pytest.fixture()
def clean_box(box):
    """The shared sandbox, checked after the test: same workers, nothing left running in them."""
    workers = sorted(box._pool.pids())
    baseline = worker_process_counts(box)
    yield box
    assert sorted(box._pool.pids()) == workers, "a worker died and was restarted"
    assert worker_process_counts(box) == baseline, "processes were left behind"
    after = box.run("import os\nprint(sorted(os.listdir('/tmp')), sorted(os.listdir('/dev/shm')))")
    assert after.outcome.value == "PASS" and after.stdout == "[] []\n", after
