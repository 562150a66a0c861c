"""Run untrusted Python: ``run(code, tests | entry point + inputs, limits) -> SandboxResult``.

Three kinds of job, one sandbox:

- **script** (no tests): run the code as ``__main__``; PASS when it exits 0, FAIL otherwise.
- **calls** (``entry_point`` + ``inputs`` [+ ``expected``]): define the code, call the entry
  point on each input inside; compare the reported outputs to ``expected`` outside, type-strictly.
- **tests** (``tests`` + ``entry_point``): benchmark test code (HumanEval ``check(candidate)`` or
  MBPP-style asserts); the calls it makes run inside, the test itself is replayed outside
  (:mod:`rlscope.sandbox.checks`).

Use a :class:`Sandbox` to keep workers warm across many runs; the module-level :func:`run` and
:func:`run_batch` start one for the call when none is given.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rlscope.sandbox import codec
from rlscope.sandbox.checks import Call, TestStyle, describe, plan_for, strict_equal
from rlscope.sandbox.pool import PoolOptions, RawRun, SandboxError, SandboxUnavailable, WorkerPool
from rlscope.sandbox.probe import probe
from rlscope.sandbox.verdict import Limits, Outcome, SandboxResult, signal_name
from rlscope.sandbox.zygote import _PRELOAD

DEFAULT_PRELOAD: tuple[str, ...] = tuple(_PRELOAD)
"""Modules every zygote imports once (what HumanEval-style programs import most)."""

log = logging.getLogger(__name__)

_MAX_ROUNDS = 4
_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(message: str) -> None:
    with _warned_lock:
        if message in _warned:
            return
        _warned.add(message)
    log.warning("%s", message)


@dataclasses.dataclass(frozen=True)
class Job:
    """One program to run, and how to judge it."""

    code: str
    """The program (Python source)."""
    tests: str | None = None
    """Test code that decides (needs ``entry_point``): defines ``check(candidate)`` (``test_style="check"``)
    or asserts on ``entry_point(...)`` directly (``"asserts"``)."""
    entry_point: str | None = None
    """The function under test."""
    inputs: Sequence[Sequence[Any]] | None = None
    """Calls mode: the positional arguments of each call of ``entry_point``."""
    expected: Sequence[Any] | None = None
    """Calls mode: the output each call must return (compared outside, type-strictly)."""
    context: str = ""
    """Trusted code the tests may use (e.g. the benchmark prompt with its helper functions)."""
    test_style: TestStyle = "check"
    """How ``tests`` is written."""
    stdin: str | None = None
    """Script mode: what the program reads on stdin (empty when None)."""
    limits: Limits | None = None
    """Limits of this job (None: the sandbox's)."""
    strict: bool = True
    """Compare outputs type-strictly (``True`` is not ``1``)."""

    @property
    def mode(self) -> str:
        if self.tests is not None:
            return "tests"
        if self.inputs is not None:
            return "calls"
        return "script"

    def __post_init__(self) -> None:
        if self.tests is not None and not self.entry_point:
            raise ValueError("tests need an entry_point (the function they call)")
        if self.inputs is not None and not self.entry_point:
            raise ValueError("inputs need an entry_point (the function to call)")
        if self.expected is not None and (self.inputs is None or len(self.expected) != len(self.inputs)):
            raise ValueError("expected needs inputs of the same length")


class Sandbox:
    """A warm pool of sandboxed zygotes. Thread-safe; use as a context manager.

    Parameters
    ----------
    workers : int
        Zygotes kept warm (programs run in parallel); default: the number of CPUs.
    limits : Limits
        Default limits of every job.
    unsafe : bool
        Run even where bubblewrap or cgroups are missing (with rlimits only). Off by default:
        the sandbox then refuses, naming what is missing.
    warm : bool
        False starts a fresh bubblewrap + zygote per program (slow; the benchmark baseline).
    site_packages : bool
        Also expose this environment's site-packages (read-only), e.g. for numpy.
    use_cgroups : bool
        False forces the rlimit fallback (needs ``unsafe``), as where cgroups are missing.
    preload : sequence of str, optional
        Modules the zygote imports once so that programs do not (default: :data:`DEFAULT_PRELOAD`,
        common stdlib); e.g. ``(*DEFAULT_PRELOAD, "numpy")`` for reward code.
    """

    def __init__(
        self,
        workers: int | None = None,
        limits: Limits | None = None,
        *,
        unsafe: bool = False,
        warm: bool = True,
        site_packages: bool = False,
        use_cgroups: bool = True,
        preload: Sequence[str] | None = None,
    ):
        import os

        self.limits = limits or Limits()
        self.workers = max(1, workers or 2 * (os.cpu_count() or 1))
        iso = probe()
        use_bwrap = iso.bwrap is not None
        if not use_bwrap:
            if not unsafe:
                raise SandboxUnavailable(
                    f"sandbox: {iso.bwrap_error}; refusing to run untrusted code "
                    "(pass unsafe=True / --unsafe to run it with rlimits only)"
                )
            _warn_once(f"sandbox: {iso.bwrap_error}; running untrusted code WITHOUT isolation, rlimits only (unsafe=True)")
        cgroup_version = iso.cgroup_version if use_cgroups else None
        if cgroup_version is None:
            reason = iso.cgroup_error if use_cgroups else "turned off by the caller"
            if not unsafe:
                raise SandboxUnavailable(
                    f"sandbox: no cgroups ({reason}); refusing to run untrusted code without memory and process "
                    "limits (pass unsafe=True / --unsafe to fall back to RLIMIT_AS/RLIMIT_NPROC)"
                )
            _warn_once(f"sandbox: no cgroups ({reason}); memory and process limits fall back to RLIMIT_AS/RLIMIT_NPROC")
        options = PoolOptions(
            workers=self.workers,
            warm=warm,
            site_packages=site_packages,
            use_bwrap=use_bwrap,
            use_cgroups=cgroup_version is not None,
            preload=tuple(preload) if preload is not None else None,
        )
        self._pool = WorkerPool(iso, options, cgroup_version)
        parts = ["bwrap" if use_bwrap else "none"]
        if not warm:
            parts[0] += "-oneshot"
        self._cgroup_part = f"cgroup-v{cgroup_version}" if cgroup_version else "rlimits"
        self._base = parts
        self.unsafe = not use_bwrap or cgroup_version is None

    @property
    def isolation(self) -> str:
        """The mechanisms in force, e.g. ``bwrap+uid65534+userns+seccomp+cgroup-v1``."""
        return "+".join([*self._base, *self._pool.features, self._cgroup_part])

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running -------------------------------------------------------------------------------------

    def run(
        self,
        code: str,
        tests: str | None = None,
        *,
        entry_point: str | None = None,
        inputs: Sequence[Sequence[Any]] | None = None,
        expected: Sequence[Any] | None = None,
        context: str = "",
        test_style: TestStyle = "check",
        stdin: str | None = None,
        limits: Limits | None = None,
    ) -> SandboxResult:
        """Run one program; see :class:`Job` for the arguments."""
        job = Job(code, tests, entry_point, inputs, expected, context, test_style, stdin, limits)
        return self.run_job(job)

    def run_batch(self, jobs: Sequence[Job], progress: bool = False) -> list[SandboxResult]:
        """Run many jobs on all workers; results in the order of ``jobs``."""
        if not jobs:
            return []
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(jobs), unit="prog", desc="sandbox", dynamic_ncols=True)

        def one(job: Job) -> SandboxResult:
            result = self.run_job(job)
            if bar is not None:
                bar.update(1)
            return result

        try:
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sandbox") as ex:
                return list(ex.map(one, jobs))
        finally:
            if bar is not None:
                bar.close()

    def run_job(self, job: Job) -> SandboxResult:
        limits = job.limits or self.limits
        if job.mode == "script":
            raw = self._execute({"mode": "script", "code": job.code, "stdin": job.stdin}, limits)
            return self._judge_script(raw, limits)
        if job.mode == "calls":
            calls = [Call.of(args) for args in job.inputs or ()]
            raw = self._execute(self._calls_spec(job, calls), limits)
            return self._judge_calls(raw, limits, job)
        return self._run_tests(job, limits)

    # -- internals ------------------------------------------------------------------------------------

    def _execute(self, spec: dict[str, Any], limits: Limits) -> RawRun:
        raw = self._pool.execute(spec, limits)
        if raw.setup_error:
            raise SandboxError(f"sandbox setup failed: {raw.setup_error}")
        return raw

    @staticmethod
    def _calls_spec(job: Job, calls: list[Call]) -> dict[str, Any]:
        return {"mode": "calls", "code": job.code, "entry_point": job.entry_point, "calls": [c.wire() for c in calls]}

    def _result(self, raw: RawRun, limits: Limits, outcome: Outcome, detail: str = "", **extra: Any) -> SandboxResult:
        cpu = raw.cpu_s
        if raw.killed == "cpu" and raw.cgroup_cpu_s is not None:
            cpu = raw.cgroup_cpu_s
        return SandboxResult(
            outcome=outcome,
            limits=limits,
            exit_code=raw.exit_code,
            signal=raw.signal,
            duration_s=raw.wall_s,
            cpu_s=cpu,
            stdout=raw.stdout.decode("utf-8", "replace"),
            stderr=raw.stderr.decode("utf-8", "replace"),
            detail=detail,
            isolation=self.isolation,
            **extra,
        )

    def _abnormal(self, raw: RawRun, limits: Limits, exc_types: Sequence[str]) -> SandboxResult | None:
        """The outcome when the program did not end by itself normally (None when it did)."""
        if raw.killed in ("output", "result"):
            what = "stdout + stderr" if raw.killed == "output" else "result channel"
            cap = limits.output_bytes if raw.killed == "output" else limits.result_bytes
            return self._result(raw, limits, Outcome.OUTPUT_LIMIT, f"{what} over the {cap}-byte limit")
        if raw.killed == "cpu":
            used = raw.cgroup_cpu_s if raw.cgroup_cpu_s is not None else raw.cpu_s
            return self._result(raw, limits, Outcome.TIMEOUT, f"CPU time limit {limits.cpu_time_s:g} s exceeded ({used:.2f} s)")
        if raw.killed == "wall":
            return self._result(raw, limits, Outcome.TIMEOUT, f"wall-clock limit {limits.wall_s:g} s exceeded")
        if raw.killed is not None:
            return self._result(raw, limits, Outcome.TIMEOUT, f"stopped ({raw.killed})")
        if raw.signal == signal.SIGKILL and raw.oom_kills > 0:
            return self._result(raw, limits, Outcome.OOM, f"killed by the OOM killer at the {limits.memory_mb} MB limit")
        if "MemoryError" in exc_types:
            return self._result(raw, limits, Outcome.OOM, f"MemoryError at the {limits.memory_mb} MB limit")
        if raw.signal == signal.SIGXCPU or (raw.signal == signal.SIGKILL and (raw.cpu_s or 0.0) >= limits.cpu_time_s):
            return self._result(raw, limits, Outcome.TIMEOUT, f"CPU time limit {limits.cpu_time_s:g} s exceeded (RLIMIT_CPU)")
        if raw.signal is not None:
            return self._result(raw, limits, Outcome.CRASH, f"killed by {signal_name(raw.signal)}")
        return None

    @staticmethod
    def _record(raw: RawRun) -> dict[str, Any] | None:
        if not raw.result:
            return None
        try:
            record = json.loads(raw.result)
        except (ValueError, RecursionError):
            return None
        return record if isinstance(record, dict) else None

    def _judge_script(self, raw: RawRun, limits: Limits) -> SandboxResult:
        record = self._record(raw) or {}
        exc = record.get("exc") if isinstance(record.get("exc"), dict) else None
        abnormal = self._abnormal(raw, limits, [str(exc.get("type"))] if exc else [])
        if abnormal is not None:
            return abnormal
        if raw.exit_code == 0:
            return self._result(raw, limits, Outcome.PASS, "exit status 0")
        detail = f"exit status {raw.exit_code}"
        if exc:
            detail += f" ({exc.get('type')}: {str(exc.get('message', ''))[:200]})"
        return self._result(raw, limits, Outcome.FAIL, detail, error=exc.get("traceback") if exc else None)

    def _outputs(self, raw: RawRun, limits: Limits, n_calls: int) -> tuple[SandboxResult | None, list[dict[str, Any]]]:
        """Settle everything but the comparison: (a final result, or None and the call records)."""
        record = self._record(raw)
        load = record.get("load") if record else None
        calls = record.get("calls") if record else None
        types = []
        if isinstance(load, dict):
            types.append(str(load.get("type")))
        if isinstance(calls, list):
            types += [str(c["exc"].get("type")) for c in calls if isinstance(c, dict) and isinstance(c.get("exc"), dict)]
        abnormal = self._abnormal(raw, limits, types)
        if abnormal is not None:
            return abnormal, []
        if record is None:
            why = "no result reported" if not raw.result else "malformed result"
            return self._result(raw, limits, Outcome.FAIL, f"{why} (exit status {raw.exit_code})"), []
        if isinstance(load, dict):
            detail = f"{load.get('type')}: {str(load.get('message', ''))[:200]}"
            return self._result(raw, limits, Outcome.ERROR, detail, error=str(load.get("traceback", ""))), []
        ok = isinstance(calls, list) and len(calls) == n_calls
        ok = ok and all(isinstance(c, dict) and (("out" in c) != isinstance(c.get("exc"), dict)) for c in calls)
        if not ok:
            return self._result(raw, limits, Outcome.FAIL, f"malformed result (expected {n_calls} call records)"), []
        return None, calls

    def _judge_calls(self, raw: RawRun, limits: Limits, job: Job) -> SandboxResult:
        n = len(job.inputs or ())
        final, records = self._outputs(raw, limits, n)
        if final is not None:
            return final
        outputs: list[Any] = []
        for i, rec in enumerate(records):
            if "exc" in rec:
                exc = rec["exc"]
                detail = f"call {i}: {exc.get('type')}: {str(exc.get('message', ''))[:200]}"
                return self._result(raw, limits, Outcome.ERROR, detail, error=str(exc.get("traceback", "")), total=n)
            try:
                outputs.append(codec.decode(rec["out"]))
            except codec.CodecError as exc:
                return self._result(raw, limits, Outcome.FAIL, f"call {i}: {exc}", total=n)
        if job.expected is None:
            return self._result(raw, limits, Outcome.PASS, f"{n} calls returned", outputs=outputs, total=n)
        equal = strict_equal if job.strict else (lambda a, b: a == b)
        passed = 0
        first = None
        for i, (got, want) in enumerate(zip(outputs, job.expected)):
            if equal(got, want):
                passed += 1
            elif first is None:
                first = f"call {i}: expected {describe(want)}, got {describe(got)}"
        outcome = Outcome.PASS if passed == n else Outcome.FAIL
        return self._result(raw, limits, outcome, first or f"{n} calls checked", outputs=outputs, passed=passed, total=n)

    def _run_tests(self, job: Job, limits: Limits) -> SandboxResult:
        try:
            plan = plan_for(job.tests or "", job.entry_point or "", job.context, job.test_style, job.strict)
        except SyntaxError as exc:
            raise SandboxError(f"the test code does not parse: {exc}") from None
        calls = plan.discover()
        raw = None
        for _ in range(_MAX_ROUNDS):
            if not all(c.portable() for c in calls):
                return self._harness_error(limits, "the tests pass arguments that cannot cross into the sandbox")
            raw = self._execute(self._calls_spec(job, calls), limits)
            final, records = self._outputs(raw, limits, len(calls))
            if final is not None:
                return final
            verdict = plan.replay(calls, records)
            if verdict.status == "more" and verdict.calls and [c.key for c in verdict.calls] != [c.key for c in calls]:
                calls = verdict.calls
                continue
            n = len(calls)
            if verdict.status == "pass":
                return self._result(raw, limits, Outcome.PASS, verdict.detail, passed=n, total=n)
            if verdict.status == "fail":
                return self._result(raw, limits, Outcome.FAIL, verdict.detail, total=n)
            if verdict.status == "error":
                return self._result(raw, limits, Outcome.ERROR, verdict.detail, error=verdict.error, total=n)
            detail = verdict.detail or "the tests' calls keep changing with the outputs"
            return self._result(raw, limits, Outcome.ERROR, f"tests: {detail}", total=n)
        return self._result(raw, limits, Outcome.ERROR, f"tests: no stable set of calls after {_MAX_ROUNDS} rounds")

    def _harness_error(self, limits: Limits, detail: str) -> SandboxResult:
        return SandboxResult(outcome=Outcome.ERROR, limits=limits, detail=f"tests: {detail}", isolation=self.isolation)


def _with_sandbox(sandbox: Sandbox | None, unsafe: bool, workers: int | None, fn: Callable[[Sandbox], Any]) -> Any:
    if sandbox is not None:
        return fn(sandbox)
    with Sandbox(workers=workers, unsafe=unsafe) as box:
        return fn(box)


def run(
    code: str,
    tests: str | None = None,
    *,
    entry_point: str | None = None,
    inputs: Sequence[Sequence[Any]] | None = None,
    expected: Sequence[Any] | None = None,
    context: str = "",
    test_style: TestStyle = "check",
    stdin: str | None = None,
    limits: Limits | None = None,
    sandbox: Sandbox | None = None,
    unsafe: bool = False,
) -> SandboxResult:
    """Run one untrusted program and judge it outside the sandbox.

    ``run(code)`` runs a script; ``run(code, entry_point="f", inputs=[(1,), (2,)], expected=[1, 4])``
    calls ``f``; ``run(code, tests, entry_point="f")`` applies benchmark tests. Pass a
    :class:`Sandbox` to reuse warm workers; otherwise a one-worker sandbox lives for this call.
    """
    job = Job(code, tests, entry_point, inputs, expected, context, test_style, stdin, limits)
    return _with_sandbox(sandbox, unsafe, 1, lambda box: box.run_job(job))


def run_batch(
    jobs: Sequence[Job],
    *,
    sandbox: Sandbox | None = None,
    workers: int | None = None,
    unsafe: bool = False,
    progress: bool = False,
) -> list[SandboxResult]:
    """Run many :class:`Job` s in parallel; results in order."""
    return _with_sandbox(sandbox, unsafe, workers, lambda box: box.run_batch(jobs, progress=progress))


__all__ = ["DEFAULT_PRELOAD", "Job", "Sandbox", "SandboxError", "SandboxUnavailable", "run", "run_batch"]
