"""A sampler for any OpenAI-compatible server (``vllm serve``, SGLang, llama.cpp, Ollama, OpenAI).

Only the standard library is used (``urllib`` and a thread pool): each sample is one
HTTP call with ``n=1`` and its own ``seed``, so a server that honours ``seed`` (vLLM
does) draws per-sample reproducible completions, whatever the batching. A server
with prefix caching (vLLM: on by default) shares the prefill between the samples
of one prompt even though they arrive as separate calls.

``group_by_prompt=True`` instead sends the samples of one prompt as one call with
``n > 1``. That saves request overhead but gives up per-sample seeds: the call
carries the seed of the group's first request only (vLLM then seeds its ``i``-th
choice with ``seed + i``), so the draws depend on how requests were grouped, and a
resumed run does not reproduce an uninterrupted one.

:meth:`OpenAISampler.score` asks for prompt logprobs instead (``echo`` with ``max_tokens=0``), for
``rlscope boundary perplexity --backend openai``.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from rlscope.errors import RlscopeError
from rlscope.llm.base import Completion, SampleRequest, SamplingParams

logger = logging.getLogger(__name__)

MODES = ("completions", "chat")
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth retrying: rate limits, overload, gateway and server errors."""
MAX_BACKOFF_S = 60.0


class _Unreachable(Exception):
    """The server did not answer (refused, reset, timed out): retried, then reported."""


class _Retryable(Exception):
    """The server answered with a status worth retrying (429, 5xx)."""

    def __init__(self, status: int, message: str, retry_after_s: float | None):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.retry_after_s = retry_after_s


class OpenAISampler:
    """Draw samples from an OpenAI-compatible HTTP server.

    Parameters
    ----------
    model : str
        Model name the server knows (``--served-model-name`` for vLLM).
    base_url : str
        API root, usually ending in ``/v1``.
    api_key : str, optional
        Sent as ``Authorization: Bearer``; defaults to ``$OPENAI_API_KEY``, and no header when neither is set.
    mode : {"completions", "chat"}
        ``completions`` posts the prompt as is to ``/completions`` (the prompt is already templated);
        ``chat`` posts it as one user message to ``/chat/completions`` (the server applies its chat template).
    concurrency : int
        Calls in flight at once.
    timeout_s : float
        Socket timeout of one call (connecting, and each wait for data), in seconds.
    max_retries : int
        Retries after the first attempt, on 429/5xx, refused, reset or timed-out connections.
    retry_backoff_s : float
        First retry delay; doubles on each retry (a ``Retry-After`` header takes precedence), capped at 60 s.
    extra_body : dict, optional
        Extra JSON fields merged into every request body (e.g. ``{"top_k": 20}``); they override ours.
    group_by_prompt : bool
        Send the samples of one prompt as one call with ``n > 1``. Per-sample seeds are then NOT honoured
        (see the module docstring), and per-sample token counts are estimated.
    """

    name = "openai"
    streams = True
    """:meth:`generate` reports each finished request through ``on_result`` as it arrives."""

    def __init__(
        self,
        model: str,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key: str | None = None,
        mode: str = "completions",
        concurrency: int = 8,
        timeout_s: float = 600.0,
        max_retries: int = 3,
        retry_backoff_s: float = 1.0,
        extra_body: dict[str, Any] | None = None,
        group_by_prompt: bool = False,
    ):
        if mode not in MODES:
            raise RlscopeError(f"openai backend: mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not base_url.startswith(("http://", "https://")):
            raise RlscopeError(f"openai backend: base_url must start with http:// or https://, got {base_url!r}")
        if concurrency < 1:
            raise RlscopeError(f"openai backend: concurrency must be >= 1, got {concurrency}")
        if max_retries < 0:
            raise RlscopeError(f"openai backend: max_retries must be >= 0, got {max_retries}")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.mode = mode
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.extra_body = dict(extra_body or {})
        self.group_by_prompt = group_by_prompt
        self.url = f"{self.base_url}/{'chat/completions' if mode == 'chat' else 'completions'}"
        self._reached = False

    def generate(self, requests: Sequence[SampleRequest], params: SamplingParams,
                 on_result: Callable[[int, Completion], None] | None = None) -> list[Completion]:
        """Draw one completion per request, in request order (calls may finish in any order).

        ``on_result(index, completion)`` is called (on this thread) as each call finishes, so a caller can
        store it at once: when a call finally fails, everything that finished before is already reported."""
        if not requests:
            return []
        groups = _group_indices(requests) if self.group_by_prompt else [[i] for i in range(len(requests))]
        results: list[Completion | None] = [None] * len(requests)
        abort = threading.Event()

        def finished(group: list[int], completions: list[Completion]) -> None:
            for idx, completion in zip(group, completions):
                results[idx] = completion
                if on_result is not None:
                    on_result(idx, completion)

        if not self._reached:
            # The first call goes alone: a server that is down fails once, not once per thread.
            first = groups.pop(0)
            finished(first, self._call(requests[first[0]], len(first), params, abort))
            self._reached = True
        if not groups:
            return results  # type: ignore[return-value]
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(self.concurrency, len(groups)))
        error: BaseException | None = None
        try:
            futures = {pool.submit(self._call, requests[g[0]], len(g), params, abort): g for g in groups}
            for fut in concurrent.futures.as_completed(futures):
                if fut.cancelled():
                    continue
                try:
                    finished(futures[fut], fut.result())
                except RlscopeError as exc:  # report the others that finish, then raise the first failure
                    if error is None:
                        error = exc
                        abort.set()
                        for other in futures:
                            other.cancel()
            if error is not None:
                raise error
        except BaseException:
            abort.set()  # calls in their retry wait give up at once
            raise
        finally:
            # On an error, drop the calls not yet started instead of waiting for them.
            pool.shutdown(wait=False, cancel_futures=True)
        return results  # type: ignore[return-value]

    def score(self, prompts: Sequence[str], completions: Sequence[str], batch_size: int = 16) -> list[tuple[float, int]]:
        """Log-likelihood of each completion given its prompt, from the server's prompt logprobs:
        ``(sum log p, number of tokens)``, as :meth:`rlscope.llm.hf.HFSampler.score` returns it.

        Each ``batch_size`` texts (prompt + completion) go as one ``/completions`` call with ``echo``,
        ``logprobs`` and ``max_tokens=0``: the server returns the log-probability of every token of the text
        it was given (see :func:`completion_logprob` for which tokens are the completion's). The server
        tokenizes the text whole, and no end-of-sequence token follows it, so unlike the hf and vllm scores
        the probability of stopping is not included.
        """
        if self.mode != "completions":
            raise RlscopeError("openai backend: scoring needs mode='completions' (prompt logprobs come from /completions)")
        if len(prompts) != len(completions):
            raise RlscopeError(f"score: {len(prompts)} prompts but {len(completions)} completions")
        if batch_size < 1:
            raise RlscopeError(f"score: batch_size must be >= 1, got {batch_size}")
        out: list[tuple[float, int]] = []
        for start in range(0, len(prompts), batch_size):
            comps = list(completions[start : start + batch_size])
            texts = [p + c for p, c in zip(prompts[start : start + batch_size], comps)]
            body: dict[str, Any] = {"model": self.model, "prompt": texts, "max_tokens": 0, "echo": True, "logprobs": 1,
                                    "temperature": 0.0}
            body.update(self.extra_body)
            hint = "; this server may not take a list of prompts: score with batch size 1" if len(texts) > 1 else ""
            choices = self._choices(self._send(json.dumps(body).encode()), len(texts), hint)
            for text, comp, choice in zip(texts, comps, choices):
                try:
                    out.append(completion_logprob(choice.get("logprobs"), text, choice.get("text"), len(comp)))
                except ValueError as exc:
                    raise RlscopeError(f"{self.url}: {exc}") from None
        return out

    def _payload(self, request: SampleRequest, n: int, params: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": request.seed,
            "n": n,
        }
        if self.mode == "chat":
            turns = request.messages or (("user", request.prompt),)
            body["messages"] = [{"role": role, "content": content} for role, content in turns]
        else:
            body["prompt"] = request.prompt
        if params.stop:
            body["stop"] = list(params.stop)
        body.update(self.extra_body)
        return body

    def _call(
        self, request: SampleRequest, n: int, params: SamplingParams, abort: threading.Event | None = None
    ) -> list[Completion]:
        """One call with retries; returns ``n`` completions. Gives up early once ``abort`` is set."""
        return self._parse(self._send(json.dumps(self._payload(request, n, params)).encode(), abort), n)

    def _send(self, data: bytes, abort: threading.Event | None = None) -> dict[str, Any]:
        """POST ``data`` with retries (429/5xx, refused, reset, timed out); gives up early once ``abort`` is set."""
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            try:
                response = self._post(data)
                break
            except (_Unreachable, _Retryable) as exc:
                if attempt + 1 == attempts:
                    raise self._give_up(exc, attempts) from exc
                delay = min(self.retry_backoff_s * 2**attempt, MAX_BACKOFF_S)
                if isinstance(exc, _Retryable) and exc.retry_after_s is not None:
                    delay = min(exc.retry_after_s, MAX_BACKOFF_S)
                if abort is not None and abort.is_set():
                    raise self._give_up(exc, attempt + 1) from exc
                logger.warning("%s: %s; retry %d/%d in %.1fs", self.url, exc, attempt + 1, self.max_retries, delay)
                if abort is not None:
                    if abort.wait(delay):
                        raise self._give_up(exc, attempt + 1) from exc
                else:
                    time.sleep(delay)
        return response

    def _post(self, data: bytes) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            body = _read_error_body(exc)
            message = _error_message(body)
            if exc.code in RETRY_STATUS:
                raise _Retryable(exc.code, message, _retry_after(exc.headers.get("Retry-After"))) from None
            raise RlscopeError(self._client_error(exc.code, message)) from None
        except urllib.error.URLError as exc:
            raise _Unreachable(str(exc.reason)) from None
        except (TimeoutError, socket.timeout) as exc:  # socket.timeout is TimeoutError from 3.10 on
            raise _Unreachable(f"no answer within {self.timeout_s:g}s") from exc
        except (ConnectionError, http.client.HTTPException) as exc:
            raise _Unreachable(f"{type(exc).__name__}: {exc}") from exc
        try:
            response = json.loads(raw)
        except ValueError:
            raise RlscopeError(f"{self.url} answered with non-JSON: {_snippet(raw)}") from None
        if not isinstance(response, dict):
            raise RlscopeError(f"{self.url} answered with unexpected JSON: {_snippet(raw)}")
        return response

    def _client_error(self, status: int, message: str) -> str:
        hint = ""
        if status in (401, 403):
            hint = "; check api_key (or $OPENAI_API_KEY)"
        elif status == 404:
            hint = f"; check base_url (usually ends in /v1) and that the server serves model {self.model!r}"
        return f"{self.url} rejected the request (HTTP {status}): {message}{hint}"

    def _give_up(self, exc: Exception, attempts: int) -> RlscopeError:
        if isinstance(exc, _Retryable):
            return RlscopeError(f"{self.url} kept failing ({exc}) after {attempts} attempts; the server may be overloaded")
        return RlscopeError(
            f"cannot reach the OpenAI-compatible server at {self.url} ({exc}) after {attempts} attempts; "
            "check that the server is running and that --base-url is right "
            "(or raise --timeout-s / lower --concurrency if it is overloaded)"
        )

    def _choices(self, response: dict[str, Any], n: int, hint: str = "") -> list[dict[str, Any]]:
        """The ``n`` choices of a response, in index order; an error answer or another count raises."""
        choices = response.get("choices")
        if "error" in response and not choices:
            raise RlscopeError(f"{self.url} answered with an error: {_error_message(json.dumps(response).encode())}")
        if not isinstance(choices, list) or len(choices) != n or not all(isinstance(c, dict) for c in choices):
            got = len(choices) if isinstance(choices, list) else "no"
            raise RlscopeError(f"{self.url} returned {got} choices, expected {n}{hint}")
        return sorted(choices, key=lambda c: c.get("index", 0))

    def _parse(self, response: dict[str, Any], n: int) -> list[Completion]:
        hint = "; this server may not support n > 1: set group_by_prompt=False" if n > 1 else ""
        choices = self._choices(response, n, hint)
        texts = [self._text(c) for c in choices]
        usage = response.get("usage") or {}
        total = usage.get("completion_tokens")
        if isinstance(total, int) and n == 1:
            counts = [total]
        elif isinstance(total, int):
            # usage covers all n choices together: split it in proportion to text length (an estimate).
            counts = _split_count(total, texts)
        else:
            # No usage from this server: whitespace-separated words stand in for tokens (an undercount).
            counts = [len(t.split()) for t in texts]
        return [
            Completion(text=t, num_tokens=k, finish_reason=c.get("finish_reason") or "stop")
            for t, k, c in zip(texts, counts, choices)
        ]

    def _text(self, choice: dict[str, Any]) -> str:
        if self.mode == "chat":
            text = (choice.get("message") or {}).get("content")
        else:
            text = choice.get("text")
        if not isinstance(text, str):
            field = "message.content" if self.mode == "chat" else "text"
            raise RlscopeError(f"{self.url} returned a choice whose {field} is {json.dumps(text)}, not a string "
                               "(nothing is stored for that request)")
        return text


NEEDS_ECHO = "scoring needs echo + logprobs support on /completions (vLLM's `vllm serve` has it)"


def completion_logprob(logprobs: Any, sent: str, echoed: Any, completion_chars: int) -> tuple[float, int]:
    """Sum and count of the log-probabilities of the tokens of the last ``completion_chars`` characters of ``sent``.

    Parameters
    ----------
    logprobs : dict
        A choice's OpenAI-style ``logprobs`` for the echoed text: ``tokens``, ``token_logprobs`` (the first
        is None: nothing precedes it) and ``text_offset`` (each token's first character), one entry per token.
    sent : str
        The text sent (prompt + completion).
    echoed : str or None
        The choice's ``text``: ``sent``, followed by whatever the server generated anyway.
    completion_chars : int
        Length of the completion, the tail of ``sent``.

    The boundary is counted back from the end of ``sent`` (the last token's offset plus its length, less what
    was generated after ``sent``), not forward from its start: vLLM's offsets add up the tokens' decoded
    texts, where a BOS token it puts in front adds characters and a special token of the prompt may add
    none. Tokens starting at or after the boundary are the completion's; a token straddling it counts
    with the prompt. Raises ValueError (with the reason) on missing or malformed logprobs.
    """
    if not isinstance(logprobs, dict) or not isinstance(logprobs.get("token_logprobs"), list) \
            or not logprobs["token_logprobs"]:
        raise ValueError(f"returned no prompt logprobs: {NEEDS_ECHO}")
    tokens, values, offsets = logprobs.get("tokens"), logprobs["token_logprobs"], logprobs.get("text_offset")
    if not isinstance(tokens, list) or not isinstance(offsets, list) or not len(tokens) == len(values) == len(offsets) \
            or not all(isinstance(t, str) for t in tokens) or not all(isinstance(o, int) for o in offsets):
        raise ValueError("returned malformed logprobs: expected tokens (strings), token_logprobs and text_offset "
                         "(integers) as lists of one length")
    if isinstance(echoed, str) and not echoed.startswith(sent):
        raise ValueError(f"did not echo the text sent: {NEEDS_ECHO}")
    generated = len(echoed) - len(sent) if isinstance(echoed, str) else 0
    end = offsets[-1] + len(tokens[-1]) - generated
    if end < completion_chars:
        raise ValueError(f"returned tokens spelling {end} characters, fewer than the completion's {completion_chars}")
    boundary = end - completion_chars
    total, count = 0.0, 0
    for off, value in zip(offsets, values):
        if boundary <= off < end:
            if not isinstance(value, (int, float)):
                raise ValueError(f"returned no logprob ({value!r}) for a completion token at character {off}")
            total += value
            count += 1
    return total, count


def _group_indices(requests: Sequence[SampleRequest]) -> list[list[int]]:
    """Indices of requests grouped by prompt, groups in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault(r.prompt, []).append(i)
    return list(groups.values())


def _split_count(total: int, texts: Sequence[str]) -> list[int]:
    """Split ``total`` tokens over texts in proportion to their lengths; the parts sum to ``total``."""
    lengths = [len(t) for t in texts]
    denom = sum(lengths)
    if denom == 0:
        base, extra = divmod(total, len(texts))
        return [base + (i < extra) for i in range(len(texts))]
    counts = [total * n // denom for n in lengths]
    counts[lengths.index(max(lengths))] += total - sum(counts)
    return counts


def _read_error_body(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except (OSError, http.client.HTTPException):
        return b""


def _error_message(body: bytes) -> str:
    """The server's message from an error body (OpenAI, vLLM and FastAPI shapes), else the body itself."""
    try:
        data = json.loads(body)
    except ValueError:
        return _snippet(body) or "(empty body)"
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        for value in (err, data.get("message"), data.get("detail")):
            if isinstance(value, str):
                return value
    return _snippet(body)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _snippet(raw: bytes, limit: int = 200) -> str:
    text = raw.decode("utf-8", "replace").strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."
