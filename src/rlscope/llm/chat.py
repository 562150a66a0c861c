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
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlscope.config import atomic_write_text
from rlscope.errors import RlscopeError
from rlscope.llm.base import SampleRequest, SamplingParams, sample_seed

log = logging.getLogger(__name__)

FORMS = "offline, openai:MODEL@URL (e.g. openai:qwen@http://127.0.0.1:8000/v1), openai:MODEL (OpenAI's API) or hf:PATH"
OPENAI_URL = "https://api.openai.com/v1"
BACKENDS = ("offline", "openai", "hf")
SEED_STREAM = "chat"
"""Name of the seed stream of chat candidates: candidate ``i`` is drawn with ``sample_seed(0, "chat", i)``."""

Messages = Sequence[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class LLMSpec:
    """Which language model answers (parsed from ``--llm`` by :func:`parse_llm`)."""

    backend: str
    """``offline`` (no model), ``openai`` (an OpenAI-compatible server) or ``hf`` (a local transformers model)."""
    model: str = ""
    """Served model name (openai) or local model directory (hf); empty for offline."""
    base_url: str = ""
    """API root of the OpenAI-compatible server, e.g. ``http://127.0.0.1:8000/v1`` (openai only)."""

    @property
    def label(self) -> str:
        """A stable name of the model: part of every cache key and provenance record; never holds a key."""
        if self.backend == "openai":
            return f"openai:{self.model}@{self.base_url}"
        return f"hf:{self.model}" if self.backend == "hf" else "offline"


def parse_llm(spec: str) -> LLMSpec:
    """Parse ``offline``, ``openai:MODEL@URL`` (``openai:MODEL`` alone: OpenAI's API) or ``hf:PATH``.

    Anything else raises :class:`RlscopeError` naming the spec and the accepted forms. A URL carrying
    credentials (``user:pass@host``) is refused: the key belongs in ``OPENAI_API_KEY``, not in a label.
    """
    text = spec.strip()
    if text == "offline":
        return LLMSpec("offline")
    kind, _, rest = text.partition(":")
    if kind == "openai" and rest:
        model, _, url = rest.partition("@")
        url = url or OPENAI_URL
        if model.strip() == model and model and url.startswith(("http://", "https://")) and "@" not in url:
            return LLMSpec("openai", model, url.rstrip("/"))
    if kind == "hf" and rest.strip():
        path = rest.strip()
        return LLMSpec("hf", path.rstrip("/") or path)
    raise RlscopeError(f"--llm {spec!r}: expected {FORMS}")


@dataclasses.dataclass(frozen=True)
class ChatReply:
    """One answer of :meth:`ChatClient.complete`."""

    text: str
    """The model's answer (never empty)."""
    cached: bool
    """Replayed from the cache (no request was made)."""
    key: str
    """Its cache key (see :func:`cache_key`)."""


def cache_key(label: str, messages: Messages, params: SamplingParams, candidate: int) -> str:
    """SHA-256 of the canonical JSON of {model label, messages, sampling parameters, candidate index}."""
    blob = json.dumps(
        {"model": label, "messages": [[r, c] for r, c in messages], "params": dataclasses.asdict(params),
         "candidate": candidate},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ChatClient:
    """Ask ``spec``'s model; every answer goes through the cache under ``cache_dir``.

    Parameters
    ----------
    spec : LLMSpec
        An ``openai`` or ``hf`` model (``offline`` needs no client and is refused).
    cache_dir : Path or None
        Where answers are cached (one JSON file per answer, ``cache_dir/ab/abcd....json``); None: no cache.
    use_cache : bool
        False (``--no-cache``) asks again even when an answer is cached; the fresh answer replaces it.
    timeout_s, max_retries, retry_backoff_s : float, int, float
        Per-call socket timeout (openai), retries after the first attempt (server errors, timeouts and
        empty answers), first retry delay (doubling on each retry).
    """

    def __init__(self, spec: LLMSpec, cache_dir: Path | None, use_cache: bool = True, timeout_s: float = 120.0,
                 max_retries: int = 3, retry_backoff_s: float = 1.0):
        if spec.backend == "offline":
            raise RlscopeError("the offline proposer needs no language model (--llm offline): nothing to ask")
        if spec.backend not in BACKENDS:
            raise RlscopeError(f"unknown language-model backend {spec.backend!r}; expected {FORMS}")
        if max_retries < 0:
            raise RlscopeError(f"max_retries must be >= 0, got {max_retries}")
        self.spec = spec
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.use_cache = use_cache
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self._sampler: Any = None
        self._lock = threading.Lock()

    def key(self, messages: Messages, params: SamplingParams, candidate: int = 0) -> str:
        """The cache key of one request (see :func:`cache_key`)."""
        return cache_key(self.spec.label, _normalize(messages), params, candidate)

    def path(self, key: str) -> Path | None:
        """The cache file of ``key`` (None without a cache)."""
        return self.cache_dir / key[:2] / f"{key}.json" if self.cache_dir is not None else None

    def complete(self, messages: Messages, params: SamplingParams, candidate: int = 0) -> ChatReply:
        """The answer to ``messages`` ((role, content) pairs), candidate ``candidate`` of several drawn for them.

        Candidates differ by their seed (``sample_seed(0, "chat", candidate)``), so each index is its own draw.
        """
        turns = _normalize(messages)
        if not turns:
            raise RlscopeError("a chat request needs at least one message")
        key = cache_key(self.spec.label, turns, params, candidate)
        path = self.path(key)
        if path is not None and self.use_cache:
            text = _read_entry(path)
            if text is not None:
                log.debug("%s: cached answer %s (candidate %d)", self.spec.label, key[:12], candidate)
                return ChatReply(text, True, key)
        text = self._ask(turns, params, candidate, key)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            entry = {
                "key": key,
                "model": self.spec.label,
                "messages": [[r, c] for r, c in turns],
                "params": dataclasses.asdict(params),
                "candidate": candidate,
                "seed": sample_seed(0, SEED_STREAM, candidate),
                "text": text,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            atomic_write_text(path, json.dumps(entry, indent=1, ensure_ascii=False) + "\n")
        return ChatReply(text, False, key)

    def _ask(self, turns: list[tuple[str, str]], params: SamplingParams, candidate: int, key: str) -> str:
        seed = sample_seed(0, SEED_STREAM, candidate)
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            log.info("%s: asking (candidate %d, %d message(s))", self.spec.label, candidate, len(turns))
            text = self._generate(turns, params, seed)
            if text.strip():
                return text
            if attempt + 1 < attempts:
                delay = self.retry_backoff_s * 2**attempt
                log.warning("%s returned empty content; retry %d/%d in %.1fs", self.spec.label, attempt + 1,
                            self.max_retries, delay)
                time.sleep(delay)
        raise RlscopeError(f"{self.spec.label} returned empty content {attempts} times for candidate {candidate} "
                           f"(cache key {key[:12]}); nothing was stored for it (answers cached before are kept)")

    def _generate(self, turns: list[tuple[str, str]], params: SamplingParams, seed: int) -> str:
        sampler = self._ensure_sampler()
        if self.spec.backend == "openai":
            request = SampleRequest("", seed, tuple(turns))
        else:
            request = SampleRequest(render_chat(sampler.tokenizer, turns), seed)
        return sampler.generate([request], params)[0].text

    def _ensure_sampler(self) -> Any:
        with self._lock:
            if self._sampler is None:
                if self.spec.backend == "openai":
                    from rlscope.llm.openai_compat import OpenAISampler

                    self._sampler = OpenAISampler(self.spec.model, base_url=self.spec.base_url, mode="chat",
                                                  concurrency=1, timeout_s=self.timeout_s, max_retries=self.max_retries,
                                                  retry_backoff_s=self.retry_backoff_s)
                else:
                    from rlscope.llm.hf import HFSampler

                    log.info("loading %s", self.spec.label)
                    self._sampler = HFSampler(self.spec.model)
            return self._sampler


def render_chat(tokenizer: Any, messages: Messages) -> str:
    """The text a local model continues: its own chat template, or plain role-labelled turns without one."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": r, "content": c} for r, c in messages], tokenize=False,
                                             add_generation_prompt=True)
    return "".join(f"{r.capitalize()}: {c}\n\n" for r, c in messages) + "Assistant:"


def _normalize(messages: Messages) -> list[tuple[str, str]]:
    turns = []
    for i, message in enumerate(messages):
        if not isinstance(message, (tuple, list)) or len(message) != 2 or not all(isinstance(x, str) for x in message):
            raise RlscopeError(f"chat message {i} must be a (role, content) pair of strings, got {message!r:.80}")
        turns.append((message[0], message[1]))
    return turns


def _read_entry(path: Path) -> str | None:
    """The cached answer at ``path``; None when absent or unreadable (then it is asked again and rewritten)."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("unreadable cache entry %s; asking again", path)
        return None
    text = entry.get("text") if isinstance(entry, dict) else None
    if not isinstance(text, str) or not text.strip():
        log.warning("cache entry %s holds no answer; asking again", path)
        return None
    return text
