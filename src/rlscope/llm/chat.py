"""Chat completions for the steps that ask a language model (Gen2Sim's task proposal), with a disk cache.

``--llm`` takes one of three forms (:func:`parse_llm`): ``offline`` (no model), ``openai:MODEL@URL`` (any
OpenAI-compatible server: vLLM serve, llama.cpp server, Ollama, OpenAI; the key from ``OPENAI_API_KEY``)
or ``hf:PATH`` (a local transformers model, prompted through its chat template).

Every answer is cached on disk (:class:`ChatClient`), keyed by the model, the messages, the sampling
parameters and the candidate index, so a rerun replays exactly and costs nothing. A cache entry is one
JSON file holding the messages and the answer; the API key is never part of it, nor of any log line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from rlscope.config import atomic_write_text
from rlscope.errors import RlscopeError
from rlscope.llm.base import SampleRequest, SamplingParams, sample_seed

log = logging.getLogger(__name__)

FORMS = "offline, openai:MODEL@URL (e.g. openai:qwen@http://127.0.0.1:8000/v1) or hf:PATH"
OPENAI_URL = "https://api.openai.com/v1"


@dataclasses.dataclass(frozen=True)
class LLMSpec:
    """Which language model answers."""

    backend: str
    """offline | openai | hf."""
    model: str = ""
    """Served model name (openai) or local model directory (hf)."""
    base_url: str = ""
    """API root of an OpenAI-compatible server (openai)."""

    @property
    def label(self) -> str:
        """A stable name of the model (part of every cache key; never holds a key)."""
        if self.backend == "openai":
            return f"openai:{self.model}@{self.base_url}"
        return f"hf:{self.model}" if self.backend == "hf" else "offline"


def parse_llm(spec: str) -> LLMSpec:
    """``offline``, ``openai:MODEL@URL`` (``openai:MODEL`` alone: OpenAI's API) or ``hf:PATH``."""
    spec = spec.strip()
    if spec == "offline":
        return LLMSpec("offline")
    kind, _, rest = spec.partition(":")
    if kind == "openai" and rest:
        model, _, url = rest.partition("@")
        url = url or OPENAI_URL
        if model and url.startswith(("http://", "https://")):
            return LLMSpec("openai", model, url.rstrip("/"))
    if kind == "hf" and rest:
        return LLMSpec("hf", rest)
    raise RlscopeError(f"--llm {spec!r}: expected {FORMS}")


@dataclasses.dataclass(frozen=True)
class ChatReply:
    """One answer."""

    text: str
    cached: bool
    """Replayed from the cache (no request was made)."""
    key: str
    """Its cache key."""


class ChatClient:
    """Ask ``spec``'s model; every answer goes through the cache under ``cache_dir``.

    ``use_cache=False`` asks again (the fresh answer replaces the cached one). An empty answer counts as a
    failure: it is retried with backoff, then reported in one line; what was cached before stays.
    """

    def __init__(self, spec: LLMSpec, cache_dir: Path | None, use_cache: bool = True, timeout_s: float = 120.0,
                 max_retries: int = 3, retry_backoff_s: float = 1.0):
        if spec.backend == "offline":
            raise RlscopeError("the offline proposer needs no language model (--llm offline)")
        self.spec = spec
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.use_cache = use_cache
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self._sampler = None

    def key(self, messages: Sequence[tuple[str, str]], params: SamplingParams, candidate: int) -> str:
        blob = json.dumps({"model": self.spec.label, "messages": [list(m) for m in messages],
                           "params": dataclasses.asdict(params), "candidate": candidate}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _path(self, key: str) -> Path | None:
        return self.cache_dir / key[:2] / f"{key}.json" if self.cache_dir is not None else None

    def complete(self, messages: Sequence[tuple[str, str]], params: SamplingParams, candidate: int = 0) -> ChatReply:
        """The answer to ``messages`` (candidate ``candidate`` of several drawn for the same messages)."""
        messages = [(str(r), str(c)) for r, c in messages]
        key = self.key(messages, params, candidate)
        path = self._path(key)
        if path is not None and self.use_cache and path.exists():
            try:
                return ChatReply(json.loads(path.read_text(encoding="utf-8"))["text"], True, key)
            except (json.JSONDecodeError, KeyError):
                log.warning("unreadable cache entry %s; asking again", path)
        text = self._ask(messages, params, candidate)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps({"key": key, "model": self.spec.label, "messages": [list(m) for m in messages],
                                                "params": dataclasses.asdict(params), "candidate": candidate, "text": text,
                                                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1) + "\n")
        return ChatReply(text, False, key)

    def _ask(self, messages: list[tuple[str, str]], params: SamplingParams, candidate: int) -> str:
        seed = sample_seed(0, "chat", candidate)
        for attempt in range(self.max_retries + 1):
            completion = self._generate(messages, params, seed)
            if completion.strip():
                return completion
            if attempt < self.max_retries:
                delay = self.retry_backoff_s * 2**attempt
                log.warning("%s returned empty content; retry %d/%d in %.1fs", self.spec.label, attempt + 1, self.max_retries, delay)
                time.sleep(delay)
        raise RlscopeError(f"{self.spec.label} returned empty content {self.max_retries + 1} times for candidate {candidate}; "
                           "nothing was stored for it (answers cached before are kept)")

    def _generate(self, messages: list[tuple[str, str]], params: SamplingParams, seed: int) -> str:
        if self.spec.backend == "openai":
            if self._sampler is None:
                from rlscope.llm.openai_compat import OpenAISampler

                self._sampler = OpenAISampler(self.spec.model, base_url=self.spec.base_url, mode="chat", concurrency=1,
                                              timeout_s=self.timeout_s, max_retries=self.max_retries,
                                              retry_backoff_s=self.retry_backoff_s)
            return self._sampler.generate([SampleRequest("", seed, tuple(messages))], params)[0].text
        if self._sampler is None:
            from rlscope.llm.hf import HFSampler

            self._sampler = HFSampler(self.spec.model)
        return self._sampler.generate([SampleRequest(render_chat(self._sampler.tokenizer, messages), seed)], params)[0].text


def render_chat(tokenizer, messages: Sequence[tuple[str, str]]) -> str:
    """The text a local model continues: its own chat template, or plain role-labelled turns without one."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": r, "content": c} for r, c in messages], tokenize=False,
                                             add_generation_prompt=True)
    return "".join(f"{r.capitalize()}: {c}\n\n" for r, c in messages) + "Assistant:"
