"""The Sampler protocol shared by every text-generation backend.

A backend turns prompts into completions. Each requested sample carries its own
seed (:func:`sample_seed`), so a resumed run draws what an uninterrupted run
would have drawn wherever the backend honours per-request seeds (HF: always,
vLLM: yes, OpenAI-compatible servers: when they support ``seed``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from rlscope.errors import RlscopeError
from rlscope.registry import Registry, import_object


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """Sampling parameters (defaults follow the paper's protocol, except the token budget)."""

    temperature: float = 0.6
    """Softmax temperature; 0 means greedy."""
    top_p: float = 0.95
    """Nucleus sampling mass."""
    max_new_tokens: int = 1024
    """Upper bound on generated tokens per sample (the paper uses 16,384)."""
    stop: tuple[str, ...] = ()
    """Strings that end a completion (not included in the text)."""


@dataclasses.dataclass(frozen=True)
class SampleRequest:
    """One sample to draw: a prompt and the seed of that particular sample."""

    prompt: str
    seed: int
    messages: tuple[tuple[str, str], ...] = ()
    """Chat messages (role, content); when set, chat backends send these instead of ``prompt``."""


@dataclasses.dataclass(frozen=True)
class Completion:
    """One generated sample."""

    text: str
    num_tokens: int
    finish_reason: str = "stop"
    """``stop`` (EOS or stop string), ``length`` (hit max_new_tokens)."""
    token_ids: tuple[int, ...] | None = dataclasses.field(default=None, compare=False, repr=False)
    """Generated token ids (incl. a final EOS), where the backend exposes them (hf)."""


@runtime_checkable
class Sampler(Protocol):
    """A text-generation backend."""

    name: str

    def generate(self, requests: Sequence[SampleRequest], params: SamplingParams) -> list[Completion]:
        """Draw one completion per request, in order. Requests sharing a prompt should share its prefill.

        A backend whose requests finish one by one (a server) sets a class attribute ``streams = True`` and
        accepts ``on_result=callback``: ``callback(index, completion)`` as each finishes, so the caller
        stores it at once and a later failure loses nothing that finished."""
        ...


def sample_seed(base_seed: int, problem_id: str, sample_idx: int) -> int:
    """Deterministic 63-bit seed of one sample, independent of batching and resumption."""
    h = hashlib.blake2b(f"{base_seed}\x00{problem_id}\x00{sample_idx}".encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)


SAMPLERS: Registry[type] = Registry("backend")
"""Backends registered from outside the package (``SAMPLERS.add(name, cls)``)."""

BUILTIN_SAMPLERS = {
    "hf": "rlscope.llm.hf:HFSampler",
    "vllm": "rlscope.llm.vllm:VLLMSampler",
    "openai": "rlscope.llm.openai_compat:OpenAISampler",
}
"""Built-in backends, imported lazily (vLLM is heavy and GPU-only)."""


def get_sampler(backend: str, model: str, **kwargs: object) -> Sampler:
    """Build a sampler by backend name (``hf``, ``vllm``, ``openai``) or ``module:Class`` path."""
    if backend in BUILTIN_SAMPLERS and backend not in SAMPLERS:
        cls = import_object(BUILTIN_SAMPLERS[backend])
    elif backend in SAMPLERS or ":" in backend:
        cls = SAMPLERS.get(backend)
    else:
        known = ", ".join(sorted(set(BUILTIN_SAMPLERS) | set(SAMPLERS.names())))
        raise RlscopeError(f"unknown backend {backend!r}; known: {known} (or a module:Class path)")
    return cls(model, **kwargs)  # type: ignore[operator]
