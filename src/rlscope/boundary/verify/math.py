"""Verify math completions against gold answers, fast enough for pass@k at large k.

At k = 256..1024 samples per problem most extracted answers repeat, so the verifier

1. extracts each completion's answer (:func:`~rlscope.boundary.verify.extract.extract_answer`);
2. deduplicates per gold answer on the normalized answer, and looks each distinct
   (gold, answer) pair up in a bounded cache kept across calls;
3. settles what it can cheaply (:mod:`rlscope.boundary.verify.fastpath`);
4. sends the rest to the full check (:func:`~rlscope.boundary.verify.checker.check_pair`, Math-Verify)
   in worker processes with time limits (:mod:`rlscope.boundary.verify.pool`).
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import logging
import threading
import weakref
from collections.abc import Sequence

from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.verify.base import Verdict
from rlscope.boundary.verify.extract import extract_answer, normalize_answer
from rlscope.boundary.verify.checker import check_pair
from rlscope.boundary.verify.fastpath import fast_check
from rlscope.boundary.verify.pool import Checker, CheckerPool
from rlscope.errors import DataError

__all__ = ["MathVerifier", "VerifyStats", "check_pair", "verify_one"]

_log = logging.getLogger(__name__)


@dataclasses.dataclass
class VerifyStats:
    """Running counts for one verifier (pairs are distinct (gold, normalized answer) pairs)."""

    samples: int = 0
    """Completions verified."""
    no_answer: int = 0
    """Completions with no extractable answer."""
    pairs: int = 0
    """Distinct pairs met, summed over calls (duplicates within a call counted once)."""
    cache_hits: int = 0
    """Pairs answered from the cross-call cache."""
    fast: int = 0
    """Pairs settled by the exact/numeric fast path."""
    slow: int = 0
    """Pairs sent to Math-Verify in a worker."""
    timeouts: int = 0
    """Slow pairs that ran out of time."""
    killed: int = 0
    """Workers killed at the hard deadline."""


class MathVerifier:
    """Batch verifier for math answers.

    Parameters
    ----------
    workers : int
        Worker processes for the symbolic check (started on first need).
    timeout_s : float
        CPU-time budget per distinct (gold, answer) pair in a worker.
    hard_timeout_s : float, optional
        Wall-clock limit per pair after which the worker is killed; defaults to
        ``3 * timeout_s + 5``.
    cache_size : int
        Pair verdicts kept across calls (least recently used dropped first).
    checker : callable, optional
        ``checker(gold, answer) -> (correct, reason)`` run in the workers; must be a picklable
        module-level function. Defaults to :func:`check_pair` (Math-Verify).

    Examples
    --------
    >>> with MathVerifier() as verifier:  # doctest: +SKIP
    ...     verdicts = verifier.verify([(problem, completion) for completion in samples])
    """

    def __init__(
        self,
        workers: int = 2,
        timeout_s: float = 5.0,
        *,
        hard_timeout_s: float | None = None,
        cache_size: int = 65536,
        checker: Checker | None = None,
    ):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.timeout_s = timeout_s
        self.hard_timeout_s = hard_timeout_s if hard_timeout_s is not None else 3 * timeout_s + 5
        self.cache_size = cache_size
        self.stats = VerifyStats()
        self._pool = CheckerPool(workers, checker or check_pair, timeout_s, self.hard_timeout_s)
        self._cache: collections.OrderedDict[tuple[str, str], tuple[bool, str]] = collections.OrderedDict()
        self._gold_norm: dict[str, str] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._finalizer = weakref.finalize(self, CheckerPool.close, self._pool)

    def verify(self, items: Sequence[tuple[Problem, str]]) -> list[Verdict]:
        """Verify ``(problem, completion)`` items; verdicts come back in the same order.

        Raises
        ------
        DataError
            If a problem has no gold answer (a code problem routed here).
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("MathVerifier is closed")
            return self._verify(items)

    def _verify(self, items: Sequence[tuple[Problem, str]]) -> list[Verdict]:
        for problem, _ in items:
            if problem.answer is None:
                raise DataError(f"problem {problem.problem_id!r} has no gold answer to verify against")
        verdicts: list[Verdict | None] = [None] * len(items)
        groups: dict[tuple[str, str], list[int]] = {}
        extracted: list[str | None] = []
        outcomes: dict[tuple[str, str], tuple[bool, str]] = {}
        slow_keys: list[tuple[str, str]] = []
        norm_of: dict[str, str] = {}  # answers repeat: normalize each spelling once
        for i, (problem, completion) in enumerate(items):
            answer = extract_answer(completion)
            extracted.append(answer)
            if answer is None:
                answer_norm = ""
            elif answer in norm_of:
                answer_norm = norm_of[answer]
            else:
                answer_norm = norm_of[answer] = normalize_answer(answer)
            if not answer_norm:
                verdicts[i] = Verdict(False, answer, "no_answer")
                self.stats.no_answer += 1
                continue
            key = (problem.answer or "", answer_norm)
            if key in groups:
                groups[key].append(i)
                continue
            groups[key] = [i]
            if key in self._cache:
                self._cache.move_to_end(key)
                outcomes[key] = self._cache[key]
                self.stats.cache_hits += 1
                continue
            gold = key[0]
            if gold not in self._gold_norm:
                self._gold_norm[gold] = normalize_answer(gold)
            fast = fast_check(self._gold_norm[gold], answer_norm)
            if fast is not None:
                outcomes[key] = fast
                self.stats.fast += 1
            else:
                if not slow_keys:
                    self._pool.start(wait=False)  # workers import SymPy while we go on extracting
                slow_keys.append(key)
        self.stats.samples += len(items)
        self.stats.pairs += len(groups)

        if slow_keys:
            # Each pair goes to Math-Verify as first written in this batch.
            pairs = [(gold, extracted[groups[(gold, norm)][0]] or norm) for gold, norm in slow_keys]
            results, killed = self._pool.run(pairs)
            self.stats.slow += len(slow_keys)
            self.stats.killed += killed
            for key, outcome in zip(slow_keys, results):
                outcomes[key] = outcome
                if outcome[1] == "timeout":
                    self.stats.timeouts += 1
        for key, outcome in outcomes.items():
            if outcome[1] != "timeout" and not outcome[1].startswith("error"):
                self._cache[key] = outcome
                self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if len(self._gold_norm) > self.cache_size:
            self._gold_norm.clear()

        for key, indices in groups.items():
            correct, reason = outcomes[key]
            for i in indices:
                verdicts[i] = Verdict(correct, extracted[i], reason)
        return verdicts  # type: ignore[return-value]

    def start(self, wait: bool = True) -> None:
        """Start the worker processes now rather than on the first pair that needs them.

        Their start-up (importing SymPy, about a second, then warming up its code paths while
        idle) overlaps other work; with ``wait``, return once that is done.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("MathVerifier is closed")
            self._pool.start(wait)

    def close(self) -> None:
        """Stop the worker processes. Idempotent."""
        with self._lock:
            self._closed = True
            self._finalizer()

    def __enter__(self) -> MathVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default: MathVerifier | None = None
_default_lock = threading.Lock()


def verify_one(gold: str, completion: str) -> Verdict:
    """Verify one completion against a gold answer with a shared single-worker verifier.

    Convenient for scripts and notebooks; batch with :class:`MathVerifier` for real runs.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = MathVerifier(workers=1)
            atexit.register(_default.close)
        verifier = _default
    return verifier.verify([(Problem(problem_id="-", question="", answer=gold), completion)])[0]
