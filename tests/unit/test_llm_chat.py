"""The chat client and its cache, against real loopback servers that replay recorded exchanges.

Every server here is a :class:`ReplayServer` (or a :class:`Recorder` in front of one) listening on
127.0.0.1; the client talks to it through the real ``OpenAISampler`` over HTTP.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from rlscope.errors import DataError, RlscopeError
from rlscope.llm.base import SamplingParams, sample_seed
from rlscope.llm.chat import ChatClient, LLMSpec, cache_key, parse_llm, render_chat
from rlscope.llm.record import RecordedResponses, Recorder, ReplayServer

SECRET = "sk-test-secret-4c1d9e"
MODEL = "replayed"
PARAMS = SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=64)
SYSTEM = ("system", "You propose robot tasks.")
ASK = [SYSTEM, ("user", "Propose a task for the cabinet.")]
OTHER = [SYSTEM, ("user", "Propose a task for the microwave.")]


def chat_response(text: str) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": len(text.split())}}


def exchange(messages, text: str, seed: int | None = None) -> dict:
    request = {"model": MODEL, "messages": [{"role": r, "content": c} for r, c in messages],
               "temperature": PARAMS.temperature, "top_p": PARAMS.top_p, "max_tokens": PARAMS.max_new_tokens,
               "seed": seed}
    return {"request": request, "response": chat_response(text)}


def seed(candidate: int) -> int:
    return sample_seed(0, "chat", candidate)


RECORDS = [
    exchange(ASK, "open the drawer", seed(0)),
    exchange(ASK, "close the drawer", seed(1)),
    exchange(OTHER, "open the door"),  # recorded without a seed: matched on (model, messages) alone
]


@pytest.fixture
def server():
    with ReplayServer(RECORDS) as s:
        yield s


@pytest.fixture(autouse=True)
def no_api_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def client_for(url: str, cache: Path | None, **kwargs) -> ChatClient:
    kwargs = {"timeout_s": 5.0, "max_retries": 2, "retry_backoff_s": 0.01, **kwargs}
    return ChatClient(parse_llm(f"openai:{MODEL}@{url}"), cache, **kwargs)


def cache_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file())


@pytest.mark.parametrize(("spec", "want", "label"), [
    ("offline", LLMSpec("offline"), "offline"),
    (" offline ", LLMSpec("offline"), "offline"),
    ("openai:qwen@http://127.0.0.1:8000/v1", LLMSpec("openai", "qwen", "http://127.0.0.1:8000/v1"),
     "openai:qwen@http://127.0.0.1:8000/v1"),
    ("openai:qwen@http://127.0.0.1:8000/v1/", LLMSpec("openai", "qwen", "http://127.0.0.1:8000/v1"),
     "openai:qwen@http://127.0.0.1:8000/v1"),
    ("openai:Qwen/Qwen2.5-7B-Instruct@https://host.example/v1",
     LLMSpec("openai", "Qwen/Qwen2.5-7B-Instruct", "https://host.example/v1"),
     "openai:Qwen/Qwen2.5-7B-Instruct@https://host.example/v1"),
    ("openai:gpt-4o", LLMSpec("openai", "gpt-4o", "https://api.openai.com/v1"), "openai:gpt-4o@https://api.openai.com/v1"),
    ("hf:models/tiny", LLMSpec("hf", "models/tiny"), "hf:models/tiny"),
    ("hf:models/tiny/", LLMSpec("hf", "models/tiny"), "hf:models/tiny"),
])
def test_parse_llm_accepts_the_three_forms(spec, want, label):
    got = parse_llm(spec)
    assert got == want
    assert got.label == label


@pytest.mark.parametrize("bad", [
    "", "gpt-4o", "openai", "openai:", "openai:@http://x/v1", "openai:m@ftp://x", "openai:m@127.0.0.1:8000/v1",
    "openai:m@http://user:sk-123@host/v1", "hf:", "hf:  ", "vllm:x", "Offline", "offline:x",
])
def test_parse_llm_rejects_anything_else_in_one_line(bad):
    with pytest.raises(RlscopeError) as err:
        parse_llm(bad)
    message = str(err.value)
    assert "\n" not in message
    assert repr(bad) in message
    assert "offline" in message and "openai:MODEL@URL" in message and "hf:PATH" in message


def test_offline_needs_no_client(tmp_path):
    with pytest.raises(RlscopeError, match="offline"):
        ChatClient(parse_llm("offline"), tmp_path)


def test_answer_is_returned_cached_and_replayed_without_a_request(server, tmp_path):
    client = client_for(server.url, tmp_path / "cache")
    reply = client.complete(ASK, PARAMS)
    assert (reply.text, reply.cached) == ("open the drawer", False)
    assert len(server.requests) == 1
    assert reply.key == cache_key(f"openai:{MODEL}@{server.url}", ASK, PARAMS, 0) == client.key(ASK, PARAMS)

    files = cache_files(tmp_path / "cache")
    assert files == [tmp_path / "cache" / reply.key[:2] / f"{reply.key}.json"]
    entry = json.loads(files[0].read_text())
    assert entry["key"] == reply.key and entry["model"] == f"openai:{MODEL}@{server.url}"
    assert entry["messages"] == [list(m) for m in ASK] and entry["candidate"] == 0
    assert entry["params"] == {"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 64, "stop": []}
    assert entry["text"] == "open the drawer" and entry["time"].endswith("Z")

    again = ChatClient(parse_llm(f"openai:{MODEL}@{server.url}"), tmp_path / "cache").complete(ASK, PARAMS)
    assert (again.text, again.cached, again.key) == ("open the drawer", True, reply.key)
    assert len(server.requests) == 1  # a new client, the same cache: no request


def test_another_candidate_or_other_messages_make_a_new_request(server, tmp_path):
    client = client_for(server.url, tmp_path / "cache")
    first = client.complete(ASK, PARAMS, candidate=0)
    second = client.complete(ASK, PARAMS, candidate=1)
    third = client.complete(OTHER, PARAMS)
    assert [first.text, second.text, third.text] == ["open the drawer", "close the drawer", "open the door"]
    assert len({first.key, second.key, third.key}) == 3
    assert [r["seed"] for r in server.requests] == [seed(0), seed(1), seed(0)]
    assert len(cache_files(tmp_path / "cache")) == 3
    assert client.complete(ASK, SamplingParams(temperature=0.0)).key != first.key  # params are part of the key
    assert len(server.requests) == 4


def test_no_cache_asks_again_and_refreshes_the_entry(server, tmp_path):
    cache = tmp_path / "cache"
    key = client_for(server.url, cache).complete(ASK, PARAMS).key
    server.recorded.add(RECORDS[0]["request"], chat_response("pull the handle"))  # the model now answers otherwise
    fresh = client_for(server.url, cache, use_cache=False).complete(ASK, PARAMS)
    assert (fresh.text, fresh.cached, fresh.key) == ("pull the handle", False, key)
    assert len(server.requests) == 2
    assert json.loads((cache / key[:2] / f"{key}.json").read_text())["text"] == "pull the handle"
    replay = client_for(server.url, cache).complete(ASK, PARAMS)
    assert (replay.text, replay.cached) == ("pull the handle", True)
    assert len(server.requests) == 2


def test_messages_are_sent_as_given(server, tmp_path):
    client_for(server.url, tmp_path / "cache").complete(ASK, PARAMS)
    (body,) = server.requests
    assert body["messages"] == [{"role": "system", "content": "You propose robot tasks."},
                                {"role": "user", "content": "Propose a task for the cabinet."}]
    assert body["model"] == MODEL and body["n"] == 1
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.7, 0.9, 64)


def test_api_key_is_sent_as_bearer_but_never_stored_or_logged(server, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    client = client_for(server.url, tmp_path / "cache")
    client.complete(ASK, PARAMS)
    client.complete(ASK, PARAMS, candidate=1)
    assert [h.get("Authorization") for h in server.headers] == [f"Bearer {SECRET}"] * 2
    files = cache_files(tmp_path / "cache")
    assert len(files) == 2
    for path in files:
        assert SECRET not in path.read_text()
    assert SECRET not in caplog.text
    assert SECRET not in client.spec.label


@pytest.mark.parametrize("faults", [["500"], ["503", "500"], ["empty"], ["500", "empty"]])
def test_server_errors_and_empty_answers_are_retried(tmp_path, faults):
    with ReplayServer(RECORDS, faults=faults) as server:
        reply = client_for(server.url, tmp_path / "cache", max_retries=2).complete(ASK, PARAMS)
        assert reply.text == "open the drawer"
        assert len(server.requests) == len(faults) + 1
        assert {r["seed"] for r in server.requests} == {seed(0)}


def test_empty_answers_end_in_one_error_line_and_keep_the_cache(server, tmp_path):
    client = client_for(server.url, tmp_path / "cache", max_retries=2)
    kept = client.complete(ASK, PARAMS)
    server.faults.extend(["empty"] * 3)
    with pytest.raises(RlscopeError) as err:
        client.complete(ASK, PARAMS, candidate=1)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"openai:{MODEL}@{server.url} returned empty content 3 times for candidate 1")
    assert len(server.requests) == 4
    assert cache_files(tmp_path / "cache") == [tmp_path / "cache" / kept.key[:2] / f"{kept.key}.json"]
    assert client.complete(ASK, PARAMS) == type(kept)(kept.text, True, kept.key)
    assert len(server.requests) == 4


def test_persistent_server_errors_propagate_as_one_error(tmp_path):
    with ReplayServer(RECORDS, faults=["500"] * 3) as server:
        with pytest.raises(RlscopeError, match=r"kept failing \(HTTP 500"):
            client_for(server.url, tmp_path / "cache", max_retries=2).complete(ASK, PARAMS)
        assert len(server.requests) == 3
    assert cache_files(tmp_path / "cache") == []


def test_a_hung_server_ends_in_a_timeout_error(tmp_path):
    with ReplayServer(RECORDS, faults=["hang"], hang_s=30) as server:
        client = client_for(server.url, tmp_path / "cache", timeout_s=0.3, max_retries=0)
        t0 = time.perf_counter()
        with pytest.raises(RlscopeError, match=r"no answer within 0.3s"):
            client.complete(ASK, PARAMS)
        assert time.perf_counter() - t0 < 3
        assert client.complete(ASK, PARAMS).text == "open the drawer"  # the hang is over: normal service


def test_an_unrecorded_request_is_a_404_naming_it(server, tmp_path):
    with pytest.raises(RlscopeError, match=r"HTTP 404.*no recorded response .*'Which drawer\?'"):
        client_for(server.url, tmp_path / "cache").complete([("user", "Which drawer?")], PARAMS)
    assert cache_files(tmp_path / "cache") == []


def test_recordings_match_the_seed_first_then_the_messages_alone():
    recorded = RecordedResponses(RECORDS)
    body = {"model": MODEL, "messages": [{"role": r, "content": c} for r, c in ASK]}

    def text(b):
        return recorded.find(b)["choices"][0]["message"]["content"]

    assert text({**body, "seed": seed(0)}) == "open the drawer"
    assert text({**body, "seed": seed(1)}) == "close the drawer"
    assert text({**body, "seed": 12345}) == "close the drawer"  # no exact match: the last recorded one
    assert recorded.find({**body, "model": "other"}) is None


def test_a_malformed_recording_names_its_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n\n{not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:3: not JSON"):
        RecordedResponses.load(path)


def test_recorder_proxies_and_writes_a_file_that_replays_identically(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "rec" / "exchanges.jsonl"
    with ReplayServer(RECORDS) as upstream, Recorder(upstream.url, out) as recorder:
        live = client_for(recorder.url, tmp_path / "c1")
        answers = [live.complete(ASK, PARAMS).text, live.complete(ASK, PARAMS, candidate=1).text,
                   live.complete(OTHER, PARAMS).text]
        assert [h.get("Authorization") for h in upstream.headers] == [f"Bearer {SECRET}"] * 3
        assert recorder.recorded == 3
    assert answers == ["open the drawer", "close the drawer", "open the door"]
    text = out.read_text()
    assert SECRET not in text and "Authorization" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 3
    assert set(lines[0]["request"]) == {"model", "messages", "temperature", "top_p", "max_tokens", "seed"}
    assert lines[0]["response"] == chat_response("open the drawer")  # unchanged

    with ReplayServer(out) as replay:
        again = client_for(replay.url, tmp_path / "c2")
        assert [again.complete(ASK, PARAMS).text, again.complete(ASK, PARAMS, candidate=1).text,
                again.complete(OTHER, PARAMS).text] == answers
        assert len(replay.requests) == 3


def test_recorder_relays_upstream_errors_without_recording_them(tmp_path):
    out = tmp_path / "exchanges.jsonl"
    with ReplayServer(RECORDS) as upstream, Recorder(upstream.url, out) as recorder:
        with pytest.raises(RlscopeError, match="HTTP 404"):
            client_for(recorder.url, tmp_path / "c").complete([("user", "unrecorded")], PARAMS)
        assert recorder.recorded == 0
    assert not out.exists() or out.read_text() == ""


def test_render_chat_uses_the_template_or_plain_turns():
    from rlscope.llm.tiny import build_byte_tokenizer

    tok = build_byte_tokenizer()
    assert render_chat(tok, ASK) == ("System: You propose robot tasks.\n\nUser: Propose a task for the cabinet.\n\n"
                                     "Assistant:")
    tok.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
                         "{% if add_generation_prompt %}<assistant>{% endif %}")
    assert render_chat(tok, ASK) == "<system>You propose robot tasks.<user>Propose a task for the cabinet.<assistant>"


def test_hf_backend_answers_from_a_local_model_and_caches(tiny_model, tmp_path, monkeypatch):
    client = ChatClient(parse_llm(f"hf:{tiny_model}"), tmp_path / "cache")
    params = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=8)
    reply = client.complete(ASK, params)
    assert isinstance(reply.text, str) and reply.text.strip() and not reply.cached
    sampler = client._sampler
    prompts = []
    generate = sampler.generate
    monkeypatch.setattr(sampler, "generate", lambda reqs, p: prompts.extend(r.prompt for r in reqs) or generate(reqs, p))
    assert client.complete(ASK, params) == type(reply)(reply.text, True, reply.key)
    assert prompts == []  # cached: the model was not asked
    other = client.complete(ASK, params, candidate=1)
    assert prompts == ["System: You propose robot tasks.\n\nUser: Propose a task for the cabinet.\n\nAssistant:"]
    assert other.key != reply.key
    entry = json.loads((tmp_path / "cache" / reply.key[:2] / f"{reply.key}.json").read_text())
    assert entry["model"] == f"hf:{tiny_model}" and entry["text"] == reply.text
