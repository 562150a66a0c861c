"""`rlscope gen2sim propose`: the offline proposer, and the real OpenAI client against a real loopback server that
replays answers (tests/data/llm, see its README), through parsing, one repair round, validation in the sandbox and
the cache."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlscope.llm.record import RecordedResponses, ReplayServer
from rlscope.sandbox.probe import probe

DATA = Path(__file__).resolve().parents[1] / "data" / "llm"
SECRET = "sk-test-never-written-9f3a"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl"}
needs_sandbox = pytest.mark.skipif(probe().bwrap is None, reason="bubblewrap is not usable here")


def rlscope(*args, cwd, env=None, check=True, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "rlscope", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env or ENV, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlscope {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc


class AnswersByScene(RecordedResponses):
    """Answers kept as files, one per scene: the scene named in the request picks ``<scene>.md``, a repair turn
    ``<scene>.repair.md`` (the prompt changes with the code; these files need not)."""

    def find(self, body):
        messages = body["messages"]
        repair = "cannot be used" in messages[-1]["content"]
        asked = messages[-3 if repair else -1]["content"]
        scene = next(s for s in ("cabinet", "microwave") if f'asset_name: "{s}"' in asked)
        text = (DATA / f"{scene}{'.repair' if repair else ''}.md").read_text()
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"completion_tokens": len(text.split())}}


@pytest.fixture
def server():
    with ReplayServer(AnswersByScene(source=str(DATA))) as s:
        yield s


def _verdict(out: Path, task_id: str) -> dict:
    return json.loads((out / "tasks" / task_id / "validation.json").read_text())


def _problems(v: dict) -> str:
    return " ".join(p for s in v["subtasks"].values() for p in s["problems"]) + v.get("error", "")


@needs_sandbox
def test_offline_proposal_from_a_fresh_directory_then_replayed(tmp_path):
    t0 = time.perf_counter()
    proc = rlscope("gen2sim", "propose", cwd=tmp_path)
    assert time.perf_counter() - t0 < 60
    out = tmp_path / "runs" / "gen2sim" / "proposals"
    for tid in ("open_cabinet_drawer_0", "close_cabinet_drawer_0", "put_cube_into_cabinet_drawer_0"):
        assert tid in proc.stdout
        tdir = out / "tasks" / tid
        assert _verdict(out, tid)["ok"]
        assert json.loads((tdir / "proposal.json").read_text())["proposer"] == "offline"
        assert (tdir / "assets" / "cabinet" / "asset.json").exists()  # self-contained
    put = json.loads((out / "tasks" / "put_cube_into_cabinet_drawer_0" / "task.json").read_text())
    assert [s["name"] for s in put["subtasks"]] == ["open", "place", "close"]
    stamp = (out / "tasks" / "open_cabinet_drawer_0" / "validation.json").stat().st_mtime_ns
    rlscope("gen2sim", "propose", cwd=tmp_path)  # the same inputs: nothing to validate again
    assert (out / "tasks" / "open_cabinet_drawer_0" / "validation.json").stat().st_mtime_ns == stamp


@needs_sandbox
def test_llm_answers_are_parsed_repaired_validated_and_cached(tmp_path, server):
    env = {**ENV, "OPENAI_API_KEY": SECRET}
    llm = f"openai:replayed@{server.url}"
    out = tmp_path / "p"
    proc = rlscope("gen2sim", "propose", "--llm", llm, "--out", "p", "--call-s", 0.5, cwd=tmp_path, env=env)
    assert len(server.requests) == 2  # the answer, then one repair round (half_open had no is_success)
    assert server.requests[1]["messages"][-1]["content"].startswith("Some of these tasks cannot be used")
    assert "half_open" in server.requests[1]["messages"][-1]["content"]
    assert all(h.get("Authorization") == f"Bearer {SECRET}" for h in server.headers)

    assert _verdict(out, "open_drawer_cabinet")["ok"]
    assert _verdict(out, "half_open_cabinet")["ok"]  # fixed in the repair round
    source = json.loads((out / "tasks" / "half_open_cabinet" / "proposal.json").read_text())
    assert source["repaired"] and source["model"] == f"openai:replayed@{server.url}"
    assert (out / "tasks" / "half_open_cabinet" / "response_repair.md").exists()
    assert "asset_name: \"cabinet\"" in (out / "tasks" / "half_open_cabinet" / "prompt.md").read_text()
    close = _verdict(out, "close_drawer_cabinet")
    assert not close["ok"] and "no such joint; close: cabinet/drawer_0_joint" in _problems(close)
    assert "is not finite" in _problems(_verdict(out, "wiggle_drawer_cabinet"))
    assert "per-call budget" in _problems(_verdict(out, "spin_cabinet"))
    peek = _problems(_verdict(out, "peek_cabinet"))
    assert "imports os" in peek and "calls open()" in peek
    assert "rejected" in proc.stdout and "open_drawer_cabinet" in proc.stdout

    for path in tmp_path.rglob("*"):  # the key is in no cache, manifest, report or log
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path

    rlscope("gen2sim", "propose", "--llm", llm, "--out", "p", "--call-s", 0.5, cwd=tmp_path, env=env)
    assert len(server.requests) == 2  # replayed from the cache
    rlscope("gen2sim", "propose", "--llm", llm, "--out", "p", "--call-s", 0.5, "--no-cache", cwd=tmp_path, env=env)
    assert len(server.requests) == 4


@needs_sandbox
def test_gen2sim_paper_format_runs_unchanged_and_its_bug_is_flagged(tmp_path, server):
    out = tmp_path / "m"
    rlscope("gen2sim", "propose", "procedural:microwave", "--llm", f"openai:replayed@{server.url}", "--out", "m",
            cwd=tmp_path)
    opened = _verdict(out, "open_microwave_door_microwave")
    assert opened["ok"], opened
    warning = " ".join(opened["subtasks"]["open_microwave_door"]["warnings"])
    assert "'distance_gripper_to_handle' is 0 in every state" in warning  # the point's distance to itself
    assert _verdict(out, "close_microwave_door_microwave")["ok"]
    chain = json.loads((out / "tasks" / "open_and_close_microwave_door_microwave" / "task.json").read_text())
    assert [s["name"] for s in chain["subtasks"]] == ["open_microwave_door", "close_microwave_door"]
    assert all(s["format"] == "gen2sim" for s in chain["subtasks"])
    assert chain["subtasks"][1]["init"]["joints"] == {"microwave/door_joint": [0.4, 0.7]}  # a close task starts open
    knob = _verdict(out, "turn_microwave_knob_microwave")
    assert not knob["ok"] and "'knobb'): no such link" in _problems(knob) and "close: microwave/knob" in _problems(knob)


def test_a_server_that_fails_or_answers_empty_is_retried(tmp_path):
    from rlscope.errors import RlscopeError
    from rlscope.gen2sim.tasks.prompt import messages
    from rlscope.llm.base import SamplingParams
    from rlscope.llm.chat import ChatClient, parse_llm

    with ReplayServer(AnswersByScene(source=str(DATA)), faults=["500", "empty"]) as server:
        client = ChatClient(parse_llm(f"openai:replayed@{server.url}"), tmp_path / "cache", retry_backoff_s=0.01)
        ask = messages('1. asset_name: "cabinet"')
        reply = client.complete(ask, SamplingParams())
        assert len(server.requests) == 3 and "Task: open_drawer" in reply.text and not reply.cached
        assert client.complete(ask, SamplingParams()).cached
        server.faults.extend(["empty"] * 4)
        with pytest.raises(RlscopeError, match="returned empty content 4 times"):
            client.complete(ask, SamplingParams(), candidate=1)
        assert client.complete(ask, SamplingParams()).cached  # nothing lost


def test_llm_spec_forms():
    from rlscope.errors import RlscopeError
    from rlscope.llm.chat import parse_llm

    assert parse_llm("openai:qwen@http://127.0.0.1:8000/v1/").label == "openai:qwen@http://127.0.0.1:8000/v1"
    assert parse_llm("openai:gpt-4o").base_url == "https://api.openai.com/v1"
    assert parse_llm("hf:models/tiny").model == "models/tiny" and parse_llm("offline").backend == "offline"
    for bad in ("gpt-4o", "openai:", "openai:m@ftp://x", "vllm:x"):
        with pytest.raises(RlscopeError, match="expected offline, openai:MODEL@URL"):
            parse_llm(bad)
