"""Record and replay an OpenAI-compatible chat server, so that tests (and users) need no live model.

A recording is a JSONL file, one exchange per line::

    {"request": {"model", "messages", "temperature", "top_p", "max_tokens", "seed"}, "response": <server JSON>}

:class:`Recorder` writes one: a loopback proxy in front of a live server (``python -m rlscope.llm.record
--upstream URL --out FILE``). :class:`ReplayServer` serves one back on loopback, matching each request on
(model, messages, seed), or on (model, messages) alone when no recorded seed matches, so replays are
deterministic. Neither ever stores the ``Authorization`` header.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rlscope.errors import DataError, RlscopeError

log = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"
REQUEST_FIELDS = ("model", "messages", "temperature", "top_p", "max_tokens", "seed")
"""The request fields kept in a recording (the rest of a request body is not recorded)."""
FAULTS = ("empty", "hang")
"""Named faults of :class:`ReplayServer`; a three-digit string (``"500"``) answers with that HTTP status."""

_APPEND_LOCK = threading.Lock()


def request_of(body: dict[str, Any]) -> dict[str, Any]:
    """The recorded part of a chat request body; messages reduced to their role and content."""
    request = {k: body.get(k) for k in REQUEST_FIELDS}
    messages = body.get("messages")
    if isinstance(messages, list):
        request["messages"] = [
            {"role": m.get("role"), "content": m.get("content")} if isinstance(m, dict) else m for m in messages
        ]
    return request


def match_key(request: dict[str, Any], with_seed: bool = True) -> str:
    """Canonical key of a request: (model, messages, seed), or (model, messages) with ``with_seed=False``."""
    messages = request.get("messages")
    turns = [[m.get("role"), m.get("content")] if isinstance(m, dict) else m for m in messages or []]
    parts: list[Any] = [request.get("model"), turns]
    if with_seed:
        parts.append(request.get("seed"))
    return json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class RecordedResponses:
    """Recorded exchanges, looked up by request. When several match, the one recorded last wins."""

    def __init__(self, exchanges: Iterable[dict[str, Any]] = (), source: str = "recorded exchanges"):
        self.source = source
        self.exchanges: list[dict[str, Any]] = []
        self._exact: dict[str, dict[str, Any]] = {}
        self._loose: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        for ex in exchanges:
            self.add(ex["request"], ex["response"])

    @classmethod
    def load(cls, path: str | Path) -> RecordedResponses:
        """Read a JSONL recording; a malformed line raises :class:`DataError` naming its file and line."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise RlscopeError(f"no recorded exchanges at {path} (record some with python -m rlscope.llm.record)") from None
        exchanges = []
        for no, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                ex = json.loads(line)
            except ValueError as exc:
                raise DataError(f"not JSON ({exc})", str(path), no) from None
            if not (isinstance(ex, dict) and isinstance(ex.get("request"), dict) and isinstance(ex.get("response"), dict)):
                raise DataError('expected {"request": {...}, "response": {...}}', str(path), no)
            if not isinstance(ex["request"].get("messages"), list):
                raise DataError("request.messages must be a list", str(path), no)
            exchanges.append(ex)
        return cls(exchanges, source=str(path))

    def add(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        """Add one exchange (it wins over earlier ones with the same key)."""
        request = request_of(request)
        exchange = {"request": request, "response": response}
        with self._lock:
            self.exchanges.append(exchange)
            self._exact[match_key(request)] = response
            self._loose[match_key(request, with_seed=False)] = response

    def find(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The recorded response to a request body: exact (model, messages, seed), else (model, messages)."""
        request = request_of(body)
        with self._lock:
            found = self._exact.get(match_key(request))
            return found if found is not None else self._loose.get(match_key(request, with_seed=False))

    def __len__(self) -> int:
        return len(self.exchanges)


def append_exchange(path: str | Path, request: dict[str, Any], response: dict[str, Any]) -> None:
    """Append one exchange to a JSONL recording as a single line, written with one ``O_APPEND`` write."""
    line = json.dumps({"request": request_of(request), "response": response}, ensure_ascii=False) + "\n"
    data = line.encode("utf-8")
    with _APPEND_LOCK:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, data)
            while written < len(data):  # a regular file takes it in one write; be safe anyway
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)


def error_body(message: str, kind: str, code: int) -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": kind, "code": code}}


class _Loopback:
    """A ``ThreadingHTTPServer`` on loopback, served from a daemon thread; a context manager."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0):
        try:
            self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise RlscopeError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.stopping = threading.Event()
        self.host, self.port = self.httpd.server_address[:2]
        self.url = f"http://{self.host}:{self.port}/v1"
        """The API root to point a client at (``--llm openai:MODEL@<url>``)."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving (requests still hanging are released) and free the port."""
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait(self) -> None:
        """Block until :meth:`close` is called (or the process is interrupted)."""
        while not self.stopping.wait(0.5):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send_raw(self, status: int, raw: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timed out) first
            pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        self._send_raw(status, json.dumps(payload).encode())

    def do_GET(self) -> None:
        self._send(404, error_body(f"no route GET {self.path}", "not_found_error", 404))


def _empty_response(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": "chatcmpl-empty", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


def _check_fault(fault: str) -> str:
    if fault in FAULTS or (len(fault) == 3 and fault.isdigit()):
        return fault
    raise RlscopeError(f"unknown fault {fault!r}; expected one of {', '.join(FAULTS)} or an HTTP status such as '500'")


class ReplayServer(_Loopback):
    """Serve recorded exchanges as an OpenAI-compatible chat endpoint on ``127.0.0.1`` (a free port).

    Parameters
    ----------
    recorded : path, RecordedResponses or iterable of exchanges
        What to answer. A request that matches nothing gets HTTP 404 with an OpenAI-style error naming it.
    faults : sequence of str
        Served first, one per request, before normal service: ``"500"`` (or any HTTP status: that status
        with an error body), ``"empty"`` (a normal body whose ``message.content`` is ``""``), ``"hang"``
        (no answer for ``hang_s`` seconds, longer than a client's timeout). More may be appended to
        :attr:`faults` while serving.
    hang_s : float
        How long a ``"hang"`` holds the request (released at once by :meth:`close`).
    """

    def __init__(self, recorded: str | Path | RecordedResponses | Iterable[dict[str, Any]],
                 faults: Sequence[str] = (), hang_s: float = 60.0):
        if isinstance(recorded, RecordedResponses):
            self.recorded = recorded
        elif isinstance(recorded, (str, Path)):
            self.recorded = RecordedResponses.load(recorded)
        else:
            self.recorded = RecordedResponses(recorded)
        self.faults = [_check_fault(f) for f in faults]
        """Faults still to serve, first one next."""
        self.hang_s = hang_s
        self._requests: list[dict[str, Any]] = []
        self._headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        super().__init__(_ReplayHandler)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The request bodies received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The request headers received so far, in arrival order (a copy; kept in memory only)."""
        with self._lock:
            return list(self._headers)

    def _arrived(self, body: dict[str, Any], headers: dict[str, str]) -> str | None:
        """Note a request; returns the fault to serve for it, if any."""
        with self._lock:
            self._requests.append(body)
            self._headers.append(headers)
            return self.faults.pop(0) if self.faults else None


class _ReplayHandler(_Handler):
    def do_POST(self) -> None:
        server: ReplayServer = self.server.owner  # type: ignore[attr-defined]
        raw = self._body()
        if self.path != CHAT_PATH:
            return self._send(404, error_body(f"no route POST {self.path}; replayed: POST {CHAT_PATH}",
                                              "not_found_error", 404))
        try:
            body = json.loads(raw)
        except ValueError:
            return self._send(400, error_body("request body is not JSON", "invalid_request_error", 400))
        if not isinstance(body, dict):
            return self._send(400, error_body("request body is not a JSON object", "invalid_request_error", 400))
        fault = server._arrived(body, dict(self.headers))
        if fault == "hang":
            server.stopping.wait(server.hang_s)
            self.close_connection = True
            return None
        if fault == "empty":
            return self._send(200, _empty_response(body))
        if fault is not None:
            code = int(_check_fault(fault))
            return self._send(code, error_body(f"injected fault: HTTP {code}", "server_error", code))
        response = server.recorded.find(body)
        if response is None:
            messages = request_of(body).get("messages") or []
            last = messages[-1].get("content") if messages and isinstance(messages[-1], dict) else None
            last_text = str(last).strip().replace("\n", " ")
            message = (f"no recorded response in {server.recorded.source} for model {body.get('model')!r}, "
                       f"seed {body.get('seed')}, {len(messages)} message(s), the last: {last_text[:120]!r}")
            return self._send(404, error_body(message, "not_found_error", 404))
        return self._send(200, response)


class Recorder(_Loopback):
    """A loopback proxy that forwards chat requests to ``upstream`` and appends each exchange to ``out``.

    Each ``POST /v1/chat/completions`` goes to ``<upstream>/chat/completions`` with its ``Authorization``
    header (forwarded, never stored); the upstream answer comes back unchanged. Successful (HTTP 200, JSON)
    exchanges are appended to ``out`` one line each; errors are relayed and not recorded.

    Parameters
    ----------
    upstream : str
        API root of the live server, e.g. ``http://127.0.0.1:8000/v1`` or ``https://api.openai.com/v1``.
    out : path
        JSONL file the exchanges are appended to (created if missing).
    port : int
        Port to listen on (0: a free one); the address is :attr:`url`.
    timeout_s : float
        Socket timeout of each upstream call.
    """

    def __init__(self, upstream: str, out: str | Path, port: int = 0, host: str = "127.0.0.1",
                 timeout_s: float = 600.0):
        if not upstream.startswith(("http://", "https://")):
            raise RlscopeError(f"--upstream must start with http:// or https://, got {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self.out = Path(out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self.recorded = 0
        """Exchanges appended so far."""
        self._lock = threading.Lock()
        super().__init__(_RecordHandler, host=host, port=port)

    def _forward(self, raw: bytes, authorization: str | None) -> tuple[int, bytes, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        req = urllib.request.Request(f"{self.upstream}/chat/completions", data=raw, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return resp.status, resp.read(), resp.headers.get("Content-Type") or "application/json"
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read()
            except (OSError, http.client.HTTPException):
                body = b""
            return exc.code, body, exc.headers.get("Content-Type") or "application/json"
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            message = f"recorder: cannot reach upstream {self.upstream} ({reason})"
            log.warning("%s", message)
            return 502, json.dumps(error_body(message, "upstream_error", 502)).encode(), "application/json"


class _RecordHandler(_Handler):
    def do_POST(self) -> None:
        recorder: Recorder = self.server.owner  # type: ignore[attr-defined]
        raw = self._body()
        if self.path != CHAT_PATH:
            return self._send(404, error_body(f"no route POST {self.path}; recorded: POST {CHAT_PATH}",
                                              "not_found_error", 404))
        status, answer, content_type = recorder._forward(raw, self.headers.get("Authorization"))
        if status == 200:
            try:
                request, response = json.loads(raw), json.loads(answer)
            except ValueError:
                request = response = None
            if isinstance(request, dict) and isinstance(response, dict):
                append_exchange(recorder.out, request, response)
                with recorder._lock:
                    recorder.recorded += 1
                log.info("recorded exchange %d (model %r) in %s", recorder.recorded, request.get("model"), recorder.out)
            else:
                log.warning("upstream answer is not a JSON object; relayed, not recorded")
        else:
            log.warning("upstream answered HTTP %d; relayed, not recorded", status)
        self._send_raw(status, answer, content_type)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rlscope.llm.record --upstream URL --out FILE [--port 8001]``: record until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m rlscope.llm.record",
        description="Record the chat exchanges with an OpenAI-compatible server into a JSONL file that "
                    "rlscope.llm.record.ReplayServer replays. Point a client (--llm openai:MODEL@URL) at the "
                    "address printed; the API key is forwarded, never written.",
    )
    parser.add_argument("--upstream", required=True, help="API root of the live server, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--out", required=True, type=Path, help="JSONL file the exchanges are appended to")
    parser.add_argument("--port", type=int, default=8001, help="port to listen on, on 127.0.0.1 (default 8001)")
    parser.add_argument("--timeout-s", type=float, default=600.0, help="timeout of each upstream call in seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        recorder = Recorder(args.upstream, args.out, port=args.port, timeout_s=args.timeout_s)
    except RlscopeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"recording {recorder.url} -> {recorder.upstream}; exchanges appended to {recorder.out}; Ctrl-C stops",
          flush=True)
    signal.signal(signal.SIGTERM, lambda *_: recorder.stopping.set())  # stop as cleanly as on Ctrl-C
    try:
        recorder.wait()
    except KeyboardInterrupt:
        pass
    finally:
        recorder.close()
    print(f"{recorder.recorded} exchange(s) recorded in {recorder.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
