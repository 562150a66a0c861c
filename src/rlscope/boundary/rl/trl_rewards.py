"""Rewards for TRL's ``GRPOTrainer`` (and ``RLOOTrainer``) from the boundary's math verifier.

Train a large model with TRL and score its answers with the same extraction and equivalence
checks that ``rlscope boundary verify`` uses to measure pass@k, so the reward the policy is
trained on and the correctness it is evaluated on cannot drift apart::

    from rlscope.boundary.rl.trl_rewards import verifier_reward
    trainer = GRPOTrainer(model=..., reward_funcs=verifier_reward("answer"), train_dataset=ds, args=...)

TRL is an optional dependency: nothing here imports it. A reward function is called as
``reward(prompts=..., completions=..., completion_ids=..., **columns)`` with one list entry per
completion; every dataset column other than ``prompt`` arrives as a keyword argument.
Details: docs/algorithms/trl.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.benchmarks.sources import number_text

__all__ = ["VerifierReward", "completion_text", "prompt_records", "verifier_reward"]

log = logging.getLogger(__name__)


def completion_text(completion: Any) -> str:
    """The text of one completion as TRL passes it to reward functions.

    A standard completion is a string. A conversational one is a list of messages
    ``[{"role": "assistant", "content": ...}]`` (after tool calls, also ``tool`` messages); the
    assistant turns are joined in order. A message's ``content`` may itself be a list of parts
    (``[{"type": "text", "text": ...}]``), whose text parts are joined.
    """
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _content_text(completion.get("content"))
    messages = list(completion)
    if messages and all(isinstance(m, Mapping) for m in messages):
        turns = [m for m in messages if m.get("role", "assistant") == "assistant"]
        return "\n".join(_content_text(m.get("content")) for m in turns)
    return "".join(completion_text(m) for m in messages)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        return str(content.get("text") or "")
    return "".join(_content_text(part) for part in content)


def _gold_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ", ".join(number_text(v) for v in value) or None
    return number_text(value) or None


class VerifierReward:
    """A TRL reward function: 1.0 when the math verifier accepts a completion, else 0.0.

    Use :func:`verifier_reward` to make one (its parameters are this class's). Rows whose gold
    answer is missing get ``None``, which TRL reads as "not applicable" (NaN, left out of the
    reward statistics), so this reward can be combined with others on a mixed dataset.

    The :class:`~rlscope.boundary.verify.math.MathVerifier` (and its worker processes, started
    with the ``spawn`` method: guard training scripts with ``if __name__ == "__main__":``) is
    created on the first call, not at construction, and is not pickled with the object.
    """

    def __init__(
        self, answer_column: str = "answer", workers: int = 1, timeout_s: float = 5.0, name: str = "rlscope_math"
    ):
        self.answer_column = answer_column
        self.workers = workers
        self.timeout_s = timeout_s
        self.__name__ = name  # TRL logs the reward as rewards/<__name__>/mean
        self._verifier = None
        self._lock = threading.Lock()

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        if completions is None:
            raise TypeError("the reward function needs `completions`")
        if self.answer_column not in kwargs:
            columns = ", ".join(sorted(k for k in kwargs if k not in _TRL_KWARGS)) or "none"
            raise KeyError(
                f"no dataset column {self.answer_column!r} among the reward function's arguments (columns: {columns}); "
                "keep it in the dataset (GRPOConfig(remove_unused_columns=False), TRL's default) or pass "
                "verifier_reward(answer_column=...)"
            )
        golds = list(kwargs[self.answer_column])
        if len(golds) != len(completions):
            raise ValueError(f"{len(completions)} completions but {len(golds)} values of {self.answer_column!r}")
        rows: list[int] = []
        items: list[tuple[Problem, str]] = []
        for i, (gold, completion) in enumerate(zip(golds, completions)):
            gold_text = _gold_text(gold)
            if gold_text is None:
                continue
            rows.append(i)
            items.append((Problem(problem_id=str(i), question="", answer=gold_text), completion_text(completion)))
        rewards: list[float | None] = [None] * len(completions)
        if items:
            verdicts = self.verifier.verify(items)
            for i, verdict in zip(rows, verdicts):
                rewards[i] = 1.0 if verdict.correct else 0.0
            log_metric = kwargs.get("log_metric")
            if callable(log_metric):
                log_metric("verify/no_answer_frac", sum(v.reason == "no_answer" for v in verdicts) / len(verdicts))
                log_metric("verify/timeout_frac", sum(v.reason == "timeout" for v in verdicts) / len(verdicts))
        if len(rows) < len(completions):
            log.debug(
                "%d of %d completions have no gold answer in %r", len(completions) - len(rows), len(completions),
                self.answer_column,
            )
        return rewards

    @property
    def verifier(self):  # -> MathVerifier
        """The math verifier, created on first use."""
        with self._lock:
            if self._verifier is None:
                from rlscope.boundary.verify.math import MathVerifier

                self._verifier = MathVerifier(workers=self.workers, timeout_s=self.timeout_s)
            return self._verifier

    def close(self) -> None:
        """Stop the verifier's worker processes (a later call starts them again)."""
        with self._lock:
            if self._verifier is not None:
                self._verifier.close()
                self._verifier = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_verifier"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VerifierReward({self.answer_column!r}, workers={self.workers}, timeout_s={self.timeout_s})"


_TRL_KWARGS = frozenset({"completion_ids", "trainer_state", "log_extra", "log_metric", "environments"})


def verifier_reward(
    answer_column: str = "answer", *, workers: int = 1, timeout_s: float = 5.0, name: str = "rlscope_math"
) -> VerifierReward:
    """A reward function for ``trl.GRPOTrainer(reward_funcs=...)`` scored by the math verifier.

    Parameters
    ----------
    answer_column : str
        Dataset column holding each problem's gold answer (a string or a number).
    workers : int
        Verifier worker processes for the symbolic (Math-Verify) check; cheap cases (equal
        strings, plain numbers) are settled in the calling process.
    timeout_s : float
        CPU-time limit per distinct (gold, answer) pair; a timeout scores 0.
    name : str
        Name of the reward in TRL's logs (``rewards/<name>/mean``).

    Returns
    -------
    VerifierReward
        ``reward(prompts, completions, **columns) -> list[float | None]``: 1.0 correct, 0.0
        wrong or no answer, None where the gold answer is missing. When TRL passes
        ``log_metric``, also logs ``verify/no_answer_frac`` and ``verify/timeout_frac``.
    """
    return VerifierReward(answer_column, workers=workers, timeout_s=timeout_s, name=name)


def prompt_records(problems: Iterable[Problem], template: str = "qwen-boxed") -> list[dict[str, str]]:
    """Rows for a TRL training dataset: ``prompt`` rendered with a boundary prompt template, ``answer``, ``problem_id``.

    Training on the template that ``rlscope boundary sample --template`` later evaluates with
    keeps the train and test prompts identical. ``datasets.Dataset.from_list(prompt_records(...))``.
    """
    from rlscope.boundary.prompts import get_template

    tpl = get_template(template)
    rows = []
    for p in problems:
        if p.answer is None:
            continue
        rows.append({"prompt": tpl.render(p), "answer": p.answer, "problem_id": p.problem_id})
    return rows
