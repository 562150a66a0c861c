"""Worker cgroups, v1 and v2, against fake cgroup trees (the real one is exercised by the sandbox tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rlscope.sandbox.cgroups import CgroupError, WorkerCgroup, cgroup_version


def _v1_tree(root: Path) -> str:
    for controller in ("memory", "pids", "cpuacct"):
        (root / controller / "parent").mkdir(parents=True)
    return "4:memory:/parent\n8:pids:/parent\n2:cpuacct:/parent\n0::/\n"


def _fill_v1(group: WorkerCgroup) -> None:
    mem, pids, cpu = group.dirs
    (mem / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (mem / "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")
    (mem / "memory.usage_in_bytes").write_text("1000\n")
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (pids / "pids.max").write_text("max\n")
    (pids / "cgroup.procs").write_text("")
    (cpu / "cpuacct.usage").write_text("1500000000\n")


def test_v1(tmp_path):
    proc = _v1_tree(tmp_path)
    assert cgroup_version(tmp_path) == 1
    group = WorkerCgroup.create(tmp_path, proc)
    assert [d.parent for d in group.dirs] == [tmp_path / c / "parent" for c in ("memory", "pids", "cpuacct")]
    assert all(d.name.startswith(f"rlscope-{os.getpid()}-") for d in group.dirs)
    _fill_v1(group)
    group._has_memsw = True
    group.set_limits(256 << 20, 36)
    mem, pids, cpu = group.dirs
    assert (mem / "memory.limit_in_bytes").read_text() == str(256 << 20)
    assert (mem / "memory.memsw.limit_in_bytes").read_text() == str(256 << 20)
    assert (pids / "pids.max").read_text() == "36"
    assert group.cpu_seconds() == 1.5
    assert group.new_oom_kills() == 2 and group.new_oom_kills() == 0
    assert group.memory_usage() == 1000
    assert group.procs_files == [d / "cgroup.procs" for d in group.dirs]


def test_v2(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids io\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    own = tmp_path / "user.slice"
    own.mkdir()
    (own / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.subtree_control").write_text("memory pids\n")
    assert cgroup_version(tmp_path) == 2
    group = WorkerCgroup.create(tmp_path, "0::/user.slice\n")
    (d,) = group.dirs
    assert d.parent == own
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    (d / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    (d / "memory.current").write_text("4096\n")
    group.set_limits(128 << 20, 20)
    assert (d / "memory.max").read_text() == str(128 << 20)
    assert (d / "memory.swap.max").read_text() == "0"
    assert (d / "pids.max").read_text() == "20"
    assert group.cpu_seconds() == 2.5
    assert group.oom_kills() == 1
    assert group.memory_usage() == 4096


def test_v2_enables_missing_controllers_or_falls_back_to_the_root(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory pids\n")
    own = tmp_path / "busy"
    own.mkdir()
    (own / "cgroup.controllers").write_text("cpu\n")  # memory/pids not available below it
    (own / "cgroup.subtree_control").write_text("")
    group = WorkerCgroup.create(tmp_path, "0::/busy\n")
    assert group.dirs[0].parent == tmp_path


def test_missing_hierarchy_is_a_clear_error(tmp_path):
    with pytest.raises(CgroupError, match="no cgroup hierarchy"):
        WorkerCgroup.create(tmp_path, "0::/\n")
    (tmp_path / "memory").mkdir()
    with pytest.raises(CgroupError, match="pids"):
        WorkerCgroup.create(tmp_path, "4:memory:/\n")
    assert list((tmp_path / "memory").iterdir()) == []  # the half-made group was removed


def test_groups_of_dead_processes_are_swept(tmp_path):
    proc = _v1_tree(tmp_path)
    stale = tmp_path / "pids" / "parent" / "rlscope-999999999-0"
    stale.mkdir()
    (stale / "cgroup.procs").write_text("")
    WorkerCgroup.create(tmp_path, proc)
    # a real cgroupfs removes the directory with its files; here rmdir fails on the file, so
    # the sweep must at least have tried without raising
    assert (tmp_path / "pids" / "parent").is_dir()
