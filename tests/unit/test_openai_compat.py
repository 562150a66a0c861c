"""OpenAISampler against a real HTTP server on loopback that mimics the OpenAI API.

The fake model is deterministic: its text depends on the prompt and the seed, and it
counts one token per character, so token counts read from ``usage`` are told apart
from the whitespace fallback.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import socket
import threading
import time

import pytest

from rlscope.errors import RlscopeError
from rlscope.llm.base import Sampler, SampleRequest, SamplingParams, get_sampler
from rlscope.llm.openai_compat import OpenAISampler


def fake_text(prompt: str, seed: int) -> str:
    return f"seed {seed}: {prompt.upper()} <end> tail"


@dataclasses.dataclass
class FakeServer:
    url: str
    port: int
    calls: list[dict] = dataclasses.field(default_factory=list)
    headers: list[dict] = dataclasses.field(default_factory=list)
    fail_first: int = 0
    """Answer this many calls with 503 before serving."""
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


def _choice(body: dict, path: str, index: int) -> tuple[dict, int]:
    if path.endswith("/chat/completions"):
        prompt = body["messages"][-1]["content"]
    else:
        prompt = body["prompt"]
    text = fake_text(prompt, body["seed"] + index)
    finish = "stop"
    if len(text) > body["max_tokens"]:
        text, finish = text[: body["max_tokens"]], "length"
    for s in body.get("stop") or []:
        if s in text:
            text, finish = text[: text.index(s)], "stop"
    if path.endswith("/chat/completions"):
        return {"index": index, "message": {"role": "assistant", "content": text}, "finish_reason": finish}, len(text)
    return {"index": index, "text": text, "finish_reason": finish}, len(text)


def _make_handler(state: FakeServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, payload: dict) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.calls.append({"path": self.path, **body})
                state.headers.append(dict(self.headers))
                fail = state.fail_first > 0
                state.fail_first -= fail
            if fail:
                return self._send(503, {"error": {"message": "overloaded"}})
            if self.path not in ("/v1/completions", "/v1/chat/completions"):
                return self._send(404, {"detail": "Not Found"})
            prompt = body.get("prompt") or body["messages"][-1]["content"]
            if prompt == "too long":
                # vLLM's error shape.
                return self._send(400, {"object": "error", "message": "prompt exceeds max_model_len 16", "code": 400})
            if prompt.startswith("slow"):
                time.sleep(float(prompt.split()[1]))
            choices, counts = zip(*(_choice(body, self.path, i) for i in range(body["n"])))
            payload: dict = {"object": "text_completion", "choices": list(choices)[::-1]}  # any order
            if not prompt.startswith("no usage"):
                payload["usage"] = {"prompt_tokens": len(prompt), "completion_tokens": sum(counts)}
            self._send(200, payload)

    return Handler


@pytest.fixture
def server():
    state = FakeServer(url="", port=0)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    state.port = httpd.server_address[1]
    state.url = f"http://127.0.0.1:{state.port}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def make(server: FakeServer, **kwargs: object) -> OpenAISampler:
    kwargs = {"timeout_s": 5, "max_retries": 0, "retry_backoff_s": 0.01, "api_key": "", **kwargs}
    return OpenAISampler("fake-model", base_url=server.url, **kwargs)


PARAMS = SamplingParams(temperature=0.6, top_p=0.9, max_new_tokens=100)


def test_builds_through_registry_and_is_a_sampler(server):
    sampler = get_sampler("openai", "fake-model", base_url=server.url)
    assert isinstance(sampler, Sampler)
    assert sampler.name == "openai"


def test_order_preserved_when_calls_finish_out_of_order(server):
    # Earlier requests sleep longer, so they finish last.
    reqs = [SampleRequest(f"slow {0.02 * (6 - i):.2f} p{i}", seed=i) for i in range(6)]
    out = make(server, concurrency=6).generate(reqs, PARAMS)
    assert [c.text for c in out] == [fake_text(r.prompt, r.seed) for r in reqs]
    assert [c.num_tokens for c in out] == [len(c.text) for c in out]  # from usage, not whitespace
    assert all(c.finish_reason == "stop" for c in out)
    assert len(server.calls) == 6


def test_each_sample_sends_its_own_seed_and_the_params(server):
    reqs = [SampleRequest("q", 7), SampleRequest("q", 7), SampleRequest("q", 8)]
    out = make(server).generate(reqs, PARAMS)
    assert out[0].text == out[1].text != out[2].text
    assert sorted(c["seed"] for c in server.calls) == [7, 7, 8]
    call = server.calls[0]
    assert call["model"] == "fake-model" and call["n"] == 1 and call["path"] == "/v1/completions"
    assert (call["temperature"], call["top_p"], call["max_tokens"]) == (0.6, 0.9, 100)
    assert "stop" not in call


def test_stop_and_max_tokens_forwarded(server):
    sampler = make(server)
    [stopped] = sampler.generate([SampleRequest("abc", 1)], SamplingParams(max_new_tokens=100, stop=("<end>", "zz")))
    assert server.calls[-1]["stop"] == ["<end>", "zz"]
    assert stopped.text == "seed 1: ABC " and stopped.finish_reason == "stop"
    [cut] = sampler.generate([SampleRequest("abc", 1)], SamplingParams(max_new_tokens=5))
    assert server.calls[-1]["max_tokens"] == 5
    assert (cut.text, cut.num_tokens, cut.finish_reason) == ("seed ", 5, "length")


def test_chat_mode_sends_one_user_message(server):
    [c] = make(server, mode="chat").generate([SampleRequest("hello", 3)], PARAMS)
    call = server.calls[0]
    assert call["path"] == "/v1/chat/completions"
    assert call["messages"] == [{"role": "user", "content": "hello"}] and "prompt" not in call
    assert c.text == fake_text("hello", 3)


def test_extra_body_merged(server):
    make(server, extra_body={"top_k": 20}).generate([SampleRequest("x", 0)], PARAMS)
    assert server.calls[0]["top_k"] == 20


def test_whitespace_count_when_usage_missing(server):
    [c] = make(server).generate([SampleRequest("no usage", 0)], PARAMS)
    assert c.num_tokens == len(c.text.split())


def test_group_by_prompt_sends_n(server):
    reqs = [SampleRequest("a", 10), SampleRequest("b", 20), SampleRequest("a", 11), SampleRequest("a", 12)]
    out = make(server, group_by_prompt=True).generate(reqs, PARAMS)
    assert sorted((c["prompt"], c["n"], c["seed"]) for c in server.calls) == [("a", 3, 10), ("b", 1, 20)]
    # Choices come back shuffled; they are put back by index. The group's seeds are seed + index, not 11, 12.
    assert [c.text for c in out] == [fake_text("a", 10), fake_text("b", 20), fake_text("a", 11), fake_text("a", 12)]
    assert sum(c.num_tokens for c in (out[0], out[2], out[3])) == sum(len(out[i].text) for i in (0, 2, 3))


def test_retries_a_503_then_succeeds(server):
    server.fail_first = 2
    [c] = make(server, max_retries=3).generate([SampleRequest("x", 1)], PARAMS)
    assert c.text == fake_text("x", 1)
    assert len(server.calls) == 3


def test_gives_up_after_retries(server):
    server.fail_first = 10
    with pytest.raises(RlscopeError, match="overloaded.*after 2 attempts"):
        make(server, max_retries=1).generate([SampleRequest("x", 1)], PARAMS)
    assert len(server.calls) == 2


def test_400_quotes_the_server_message(server):
    with pytest.raises(RlscopeError, match="HTTP 400.*prompt exceeds max_model_len 16"):
        make(server, max_retries=3).generate([SampleRequest("ok", 0), SampleRequest("too long", 1)], PARAMS)


def test_404_hints_at_base_url(server):
    sampler = OpenAISampler("m", base_url=server.url.removesuffix("/v1"), max_retries=0)
    with pytest.raises(RlscopeError, match="Not Found; check base_url"):
        sampler.generate([SampleRequest("x", 0)], PARAMS)


def test_connection_refused_names_the_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    sampler = OpenAISampler("m", base_url=url, timeout_s=1, max_retries=1, retry_backoff_s=0.01)
    start = time.monotonic()
    with pytest.raises(RlscopeError, match=f"cannot reach .*{port}/v1/completions.*after 2 attempts.*running"):
        sampler.generate([SampleRequest("x", 0)], PARAMS)
    assert time.monotonic() - start < 3


def test_timeout_is_reported(server):
    sampler = make(server, timeout_s=0.1)
    with pytest.raises(RlscopeError, match="cannot reach .*no answer within 0.1s"):
        sampler.generate([SampleRequest("slow 0.5", 0)], PARAMS)


def test_api_key_sent_as_bearer(server, monkeypatch):
    make(server, api_key="sk-test").generate([SampleRequest("x", 0)], PARAMS)
    assert server.headers[-1]["Authorization"] == "Bearer sk-test"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    OpenAISampler("m", base_url=server.url).generate([SampleRequest("x", 0)], PARAMS)
    assert server.headers[-1]["Authorization"] == "Bearer sk-env"
    monkeypatch.delenv("OPENAI_API_KEY")
    OpenAISampler("m", base_url=server.url).generate([SampleRequest("x", 0)], PARAMS)
    assert "Authorization" not in server.headers[-1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "edit"}, "mode must be one of"),
        ({"base_url": "127.0.0.1:8000"}, "must start with http"),
        ({"concurrency": 0}, "concurrency"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(RlscopeError, match=match):
        OpenAISampler("m", **kwargs)
