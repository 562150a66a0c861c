"""Worker processes that run a checker over math (gold, answer) pairs, each pair under a time limit.

Math-Verify times out with SIGALRM, which only works in a main thread; here it runs with its
own timeouts off in the main thread of each worker, under a CPU-time limit per pair
(``timeout_s``, ``ITIMER_PROF``). A worker still busy past a wall-clock deadline
(``hard_timeout_s``, for code that never returns to Python) is killed and replaced. Either way
the pair's verdict is ``timeout``. The parent uses no signals, so the pool may be used from any thread.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

from rlscope.boundary.verify.checker import WARM_UP, check_pair
from rlscope.errors import RlscopeError

_log = logging.getLogger(__name__)

Checker = Callable[[str, str], tuple[bool, str]]
"""``checker(gold, answer) -> (correct, reason)``, run inside a worker process."""

_STARTUP_TIMEOUT_S = 120.0
_MAX_START_FAILURES = 3


class _PairTimeout(BaseException):
    """Raised by the CPU-time alarm; a BaseException so ``except Exception`` cannot swallow it."""


def _worker_main(conn: multiprocessing.connection.Connection, checker: Checker, timeout_s: float) -> None:
    """Worker loop: receive ``(task_id, gold, answer)``, send ``(task_id, correct, reason)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and kills us
    logging.getLogger("math_verify").setLevel(logging.ERROR)  # "timeout disabled" notices
    import math_verify  # noqa: F401  (before reporting ready: it pulls in SymPy, ~1 s)

    armed = False

    def on_alarm(signum: int, frame: Any) -> None:
        if armed:
            raise _PairTimeout

    signal.signal(signal.SIGPROF, on_alarm)
    conn.send("ready")
    warm_up = list(WARM_UP) if checker is check_pair else []
    if not warm_up:
        conn.send("warm")
    while True:
        try:
            if warm_up and not conn.poll(0):  # idle: warm up, one pair at a time
                try:
                    check_pair(*warm_up.pop(0))
                except Exception:
                    pass
                if not warm_up:
                    conn.send("warm")
                continue
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        task_id, gold, answer = msg
        try:
            armed = True
            # Fires after timeout_s of CPU time, then every 50 ms until disarmed, in case
            # library code catches the first one.
            signal.setitimer(signal.ITIMER_PROF, timeout_s, 0.05)
            try:
                correct, reason = checker(gold, answer)
            finally:
                armed = False
                signal.setitimer(signal.ITIMER_PROF, 0)
        except _PairTimeout:
            correct, reason = False, "timeout"
        except Exception as exc:  # a checker bug or a sympy crash: one verdict, not the run
            correct, reason = False, f"error: {type(exc).__name__}"
        conn.send((task_id, bool(correct), str(reason)))


@dataclasses.dataclass
class _Worker:
    proc: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    started: float
    ready: bool = False
    warm: bool = False
    task: int | None = None
    deadline: float = 0.0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()


class CheckerPool:
    """Worker processes that run a checker over pairs, each under a hard deadline."""

    def __init__(self, size: int, checker: Checker, timeout_s: float, hard_timeout_s: float):
        self.size = size
        self.checker = checker
        self.timeout_s = timeout_s
        self.hard_timeout_s = hard_timeout_s
        self.workers: list[_Worker] = []
        self._ctx = multiprocessing.get_context("spawn")  # safe from threads and after torch/CUDA
        self._start_failures = 0

    def _spawn(self) -> _Worker:
        parent_conn, child_conn = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_worker_main,
            args=(child_conn, self.checker, self.timeout_s),
            name="rlscope-math-verify",
            daemon=True,
        )
        proc.start()
        child_conn.close()
        _log.debug("started math-verify worker pid %s", proc.pid)
        return _Worker(proc=proc, conn=parent_conn, started=time.monotonic())

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self.workers[self.workers.index(worker)] = self._spawn()

    def start(self, wait: bool) -> None:
        """Start all workers; with ``wait``, return once they are ready and warmed up."""
        while len(self.workers) < self.size:
            self.workers.append(self._spawn())
        if wait:
            self.run([], wait_warm=True)

    def run(self, pairs: Sequence[tuple[str, str]], wait_warm: bool = False) -> tuple[list[tuple[bool, str]], int]:
        """Check every pair; returns the results in order and the number of workers killed."""
        results: list[tuple[bool, str] | None] = [None] * len(pairs)
        todo = collections.deque(range(len(pairs)))
        killed = 0
        while len(self.workers) < min(self.size, len(pairs)):
            self.workers.append(self._spawn())
        while (
            todo
            or any(w.task is not None for w in self.workers)
            or (wait_warm and not all(w.warm for w in self.workers))
        ):
            now = time.monotonic()
            for w in list(self.workers):
                if w.ready and w.task is None and todo:
                    i = todo.popleft()
                    try:
                        w.conn.send((i, *pairs[i]))
                    except OSError:  # died while idle: requeue the pair on a replacement
                        _log.warning("math-verify worker pid %s died while idle", w.proc.pid)
                        todo.appendleft(i)
                        self._replace(w)
                        continue
                    w.task, w.deadline = i, now + self.hard_timeout_s
            waiting = {
                w.conn: w for w in self.workers if not w.ready or w.task is not None or (wait_warm and not w.warm)
            }
            deadlines = [
                w.deadline if w.task is not None else w.started + _STARTUP_TIMEOUT_S for w in waiting.values()
            ]
            wait_s = max(0.0, min(deadlines) - now) if deadlines else 0.0
            for conn in multiprocessing.connection.wait(list(waiting), timeout=wait_s):
                w = waiting[conn]  # type: ignore[index]
                try:
                    msg = conn.recv()  # type: ignore[union-attr]
                except (EOFError, OSError):
                    self._on_death(w, results)
                    continue
                if msg == "ready":
                    w.ready = True
                    self._start_failures = 0
                elif msg == "warm":  # may come before a result: the pair waited for the warm-up
                    w.warm = True
                else:
                    i, correct, reason = msg
                    results[i] = (correct, reason)
                    w.task = None
            now = time.monotonic()
            for w in list(self.workers):
                if w.ready and w.task is not None and now > w.deadline:
                    _log.warning(
                        "math-verify worker pid %s exceeded %.1f s on one pair; killing it",
                        w.proc.pid,
                        self.hard_timeout_s,
                    )
                    results[w.task] = (False, "timeout")
                    killed += 1
                    self._replace(w)
                elif not w.ready and now > w.started + _STARTUP_TIMEOUT_S:
                    self._on_death(w, results)
                elif not w.warm and now > w.started + _STARTUP_TIMEOUT_S:
                    w.warm = True  # stop waiting on a stuck warm-up; a real pair sent there still has a deadline
        return [r if r is not None else (False, "error: lost") for r in results], killed

    def _on_death(self, worker: _Worker, results: list[tuple[bool, str] | None]) -> None:
        if worker.task is not None:
            _log.warning("math-verify worker pid %s died during a pair", worker.proc.pid)
            results[worker.task] = (False, "error: worker died")
        elif not worker.ready:
            self._start_failures += 1
            if self._start_failures >= _MAX_START_FAILURES:
                for w in self.workers:  # pairs in flight elsewhere are abandoned with the pool
                    w.kill()
                self.workers.clear()
                raise RlscopeError(
                    f"math-verify worker processes fail to start ({self._start_failures} tries, "
                    f"last exit code {worker.proc.exitcode}); workers use the 'spawn' start method, "
                    "so a calling script needs an `if __name__ == '__main__':` guard, and "
                    "`import math_verify` must work"
                )
        self._replace(worker)

    def close(self) -> None:
        for w in self.workers:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
        for w in self.workers:
            w.proc.join(timeout=2)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=5)
            w.conn.close()
        self.workers.clear()
