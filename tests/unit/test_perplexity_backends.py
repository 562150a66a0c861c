"""`rlscope boundary perplexity --backend openai | vllm`.

openai: against a real HTTP server on loopback whose /v1/completions computes echo + prompt logprobs with the
tiny model, checked against ``HFSampler.score``; vllm: the mapping of ``prompt_logprobs`` onto the completion's
positions against a stand-in ``vllm`` module (hand-made numbers); and the clear errors of both.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

from rlscope.boundary.perplexity import PerplexityConfig, parse_endpoint, score_run
from rlscope.errors import RlscopeError
from rlscope.llm.openai_compat import completion_logprob

QUESTIONS = {"q0": "What is 0 + 0?", "q1": "Name a prime.", "q2": "What is 5 * 5?"}
COMPLETIONS = {
    "q0": ["so \\boxed{0}", "It is zero: \\boxed{0}."],
    "q1": ["7", "The answer is \\boxed{11}"],
    "q2": ["25, so \\boxed{25}", " \\boxed{24}"],
}
SAMPLES = [(pid, i, c) for pid, cs in COMPLETIONS.items() for i, c in enumerate(cs)]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """An imported run (no stored prompts: scored with --template raw, the question as it is)."""
    from rlscope.boundary.config import ImportConfig
    from rlscope.boundary.sample import run_import

    tmp = tmp_path_factory.mktemp("ppl")
    bench = tmp / "qa.jsonl"
    bench.write_text("".join(json.dumps({"id": pid, "question": q, "answer": "0"}) + "\n" for pid, q in QUESTIONS.items()))
    comps = tmp / "comps.jsonl"
    comps.write_text("".join(json.dumps({"problem_id": pid, "completion": c}) + "\n" for pid, _, c in SAMPLES))
    run_import(ImportConfig(benchmark=f"jsonl:{bench}", completions=comps, run=tmp / "run"))
    return tmp / "run"


@pytest.fixture(scope="module")
def hf(tiny_model):
    from rlscope.llm.hf import HFSampler

    return HFSampler(str(tiny_model), device="cpu", batch_size=8)


def stored(run: Path, name: str) -> dict[tuple[str, int], tuple[float, int]]:
    from rlscope.store.sqlite import Store

    with Store(run) as store:
        return store.scores(name)


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlscope", "boundary", "perplexity", *map(str, args)],
                          capture_output=True, text=True, env=ENV, timeout=300)


# --- openai -----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class LogprobServer:
    """What the server does: ``plain`` (exact character offsets, as OpenAI's API), ``bos`` (a BOS token in front
    whose text counts in the offsets, as vLLM's), ``generates`` (one token generated after the echo despite
    max_tokens 0), ``no_logprobs`` (echo without logprobs)."""

    hf: object
    mode: str = "plain"
    url: str = ""
    calls: list[dict] = dataclasses.field(default_factory=list)


def _echo_choice(hf, text: str, index: int, mode: str) -> dict:
    """The text's tokens with their log-probabilities under the tiny model, in the OpenAI completions shape."""
    import torch

    enc = hf.tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    ids, spans = enc["input_ids"], enc["offset_mapping"]
    with torch.inference_mode():
        logp = torch.log_softmax(hf.model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)  # (L, V)
    tokens = [text[a:b] for a, b in spans]
    values = [None] + [float(logp[j - 1, ids[j]]) for j in range(1, len(ids))]
    offsets = [a for a, _ in spans]
    echoed = text
    if mode == "bos":
        tokens, values, offsets = ["<|bos|>", *tokens], [None, *values], [0] + [o + len("<|bos|>") for o in offsets]
    if mode == "generates":
        tokens, values, offsets, echoed = [*tokens, " x"], [*values, -0.5], [*offsets, len(text)], text + " x"
    logprobs = None if mode == "no_logprobs" else {"tokens": tokens, "token_logprobs": values, "text_offset": offsets,
                                                   "top_logprobs": None}
    return {"index": index, "text": echoed, "logprobs": logprobs, "finish_reason": "length"}


@pytest.fixture
def server(hf):
    state = LogprobServer(hf)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.calls.append({"path": self.path, **body})
            texts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
            choices = [_echo_choice(state.hf, t, i, state.mode) for i, t in enumerate(texts)]
            raw = json.dumps({"object": "text_completion", "choices": choices[::-1]}).encode()  # any order
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_openai_scores_equal_hf_scores(run, hf, server):
    proc = cli("--run", run, "--backend", "openai", "--scorer", f"org/tiny-served@{server.url}/", "--template", "raw",
               "--batch-size", 4, "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "6 samples scored under tiny-served (6 new)" in proc.stdout  # named after the served model
    # two requests of 4 and 2 texts (prompt + completion), each echoed with logprobs and nothing generated
    assert [len(c["prompt"]) for c in server.calls] == [4, 2]
    first = server.calls[0]
    assert (first["path"], first["model"], first["echo"], first["max_tokens"]) == ("/v1/completions", "org/tiny-served",
                                                                                  True, 0)
    assert first["logprobs"] is not None and first["prompt"][0] == QUESTIONS["q0"] + COMPLETIONS["q0"][0]
    got = stored(run, "tiny-served")
    prompts, comps = [QUESTIONS[p] for p, _, _ in SAMPLES], [c for _, _, c in SAMPLES]
    with_eos = hf.score(prompts, comps)
    hf.eos_ids, eos_ids = set(), hf.eos_ids  # the server scores the text alone: no end-of-sequence token after it
    try:
        want = hf.score(prompts, comps)
    finally:
        hf.eos_ids = eos_ids
    assert len(got) == 6
    for (pid, i, c), (lp, n), (lp_eos, n_eos) in zip(SAMPLES, want, with_eos):
        assert got[(pid, i)][0] == pytest.approx(lp, abs=1e-4) and got[(pid, i)][1] == n == len(c)  # one byte a token
        assert n_eos == n + 1 and lp_eos < lp  # hf also scores stopping
    again = cli("--run", run, "--backend", "openai", "--scorer", f"org/tiny-served@{server.url}", "--template", "raw",
                "--no-progress")
    assert "6 samples scored under tiny-served (0 new)" in again.stdout and len(server.calls) == 2  # nothing redone


@pytest.mark.parametrize("mode", ["bos", "generates"])
def test_openai_boundary_is_counted_from_the_end(run, hf, server, mode):
    """A BOS token's text in the offsets, or a token generated after the echo, must not move the boundary."""
    server.mode = mode
    score_run(PerplexityConfig(run=run, scorer=f"tiny@{server.url}", backend="openai", template="raw", name=mode,
                               progress=False))
    got = stored(run, mode)
    hf.eos_ids, eos_ids = set(), hf.eos_ids
    try:
        want = hf.score([QUESTIONS[p] for p, _, _ in SAMPLES], [c for _, _, c in SAMPLES])
    finally:
        hf.eos_ids = eos_ids
    assert [got[(p, i)][1] for p, i, _ in SAMPLES] == [n for _, n in want]
    assert [got[(p, i)][0] for p, i, _ in SAMPLES] == pytest.approx([lp for lp, _ in want], abs=1e-4)


def test_openai_without_prompt_logprobs_is_a_clear_error(run, server):
    server.mode = "no_logprobs"
    proc = cli("--run", run, "--backend", "openai", "--scorer", f"tiny@{server.url}", "--template", "raw",
               "--name", "nolp", "--no-progress")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "returned no prompt logprobs: scoring needs echo + logprobs support" in proc.stderr
    assert "vllm serve" in proc.stderr and len(server.calls) == 1
    assert stored(run, "nolp") == {}


@pytest.mark.parametrize("scorer", ["tiny", "tiny@localhost:8000/v1", "@http://127.0.0.1:8000/v1",
                                    "tiny@http://user:key@127.0.0.1:8000/v1"])
def test_openai_scorer_must_be_model_at_url(scorer, tmp_path):
    cfg = PerplexityConfig(run=tmp_path, scorer=scorer, backend="openai")
    with pytest.raises(RlscopeError, match=r"--scorer .*expects MODEL@URL"):
        cfg.validate()


def test_parse_endpoint():
    assert parse_endpoint("Qwen/Qwen2.5-7B@https://host:8000/v1/") == ("Qwen/Qwen2.5-7B", "https://host:8000/v1")
    assert PerplexityConfig(run=Path("r"), scorer="Qwen/Qwen2.5-7B@http://h/v1", backend="openai").label == "Qwen2.5-7B"
    assert PerplexityConfig(run=Path("r"), scorer="Qwen/Qwen2.5-7B", backend="vllm").label == "Qwen2.5-7B"


LP = {"tokens": ["<s>", "Hi", " the", "re", "!"], "token_logprobs": [None, -1.0, -2.0, -3.0, -4.0],
      "text_offset": [0, 3, 5, 9, 11]}  # "<s>" + "Hi there!": the BOS adds 3 characters to every offset


@pytest.mark.parametrize("sent, echoed, completion_chars, expected", [
    ("Hi there!", "Hi there!", 3, (-7.0, 2)),  # "re!": tokens at offsets 9 and 11
    ("Hi there!", "Hi there!", 5, (-7.0, 2)),  # "here!": " the" straddles the boundary, counts with the prompt
    ("Hi there!", "Hi there!", 7, (-9.0, 3)),  # " there!" starts with " the"
    ("Hi there!", "Hi there!", 0, (0.0, 0)),  # an empty completion
    ("Hi there", "Hi there!", 2, (-3.0, 1)),  # "!" was generated after the text sent: not the completion's
])
def test_completion_logprob_table(sent, echoed, completion_chars, expected):
    assert completion_logprob(LP, sent, echoed, completion_chars) == expected


@pytest.mark.parametrize("logprobs, echoed, match", [
    (None, "Hi there!", "returned no prompt logprobs"),
    ({**LP, "token_logprobs": []}, "Hi there!", "returned no prompt logprobs"),
    ({**LP, "text_offset": LP["text_offset"][:-1]}, "Hi there!", "malformed logprobs"),
    (LP, "Sure!", "did not echo the text sent"),
    ({**LP, "token_logprobs": [None, -1.0, -2.0, -3.0, None]}, "Hi there!", "no logprob .* at character 11"),
])
def test_completion_logprob_errors(logprobs, echoed, match):
    with pytest.raises(ValueError, match=match):
        completion_logprob(logprobs, "Hi there!", echoed, 3)


# --- vllm -------------------------------------------------------------------------------------------------------


BOS, EOS, DECOY = 1, 2, 3


def position_logprob(pos: int) -> float:
    """The stand-in engine's log-probability of the token at position ``pos``."""
    return -0.01 * (pos + 1)


def _fake_vllm() -> types.ModuleType:
    """vLLM's offline API shape: LLM(**kw).get_tokenizer(), .generate(prompts, params, use_tqdm) with prompt_logprobs
    (None first, then {token id: Logprob}, holding the token there and a decoy). Tokens are characters, BOS in front."""

    class Tokenizer:
        bos_token_id, eos_token_id = BOS, EOS

        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": ([BOS] if add_special_tokens else []) + [ord(ch) for ch in text]}

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class LLM:
        instances: list = []

        def __init__(self, **kw):
            self.kw, self.calls = kw, []
            LLM.instances.append(self)

        def get_tokenizer(self):
            return Tokenizer()

        def generate(self, prompts, sampling_params, use_tqdm=True):
            self.calls.append((prompts, sampling_params, use_tqdm))
            outs = []
            for p in prompts:
                ids = p["prompt_token_ids"]
                plp = [None] + [{DECOY: types.SimpleNamespace(logprob=-0.001), t: types.SimpleNamespace(
                    logprob=position_logprob(j))} for j, t in enumerate(ids) if j > 0]
                outs.append(types.SimpleNamespace(prompt_logprobs=plp, outputs=[types.SimpleNamespace(text="x")]))
            return outs

    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams, mod.__version__ = LLM, SamplingParams, "0.0-fake"
    return mod


def test_vllm_prompt_logprobs_map_onto_the_completion(monkeypatch):
    fake = _fake_vllm()
    monkeypatch.setitem(sys.modules, "vllm", fake)
    from rlscope.llm.vllm import VLLMSampler

    sampler = VLLMSampler("no-such-model-dir")
    # "ab" -> [BOS, a, b] (positions 0-2), "cd" -> [c, d, EOS] (positions 3-5): -(0.04 + 0.05 + 0.06)
    assert sampler.score(["ab", ""], ["cd", "e"]) == [(pytest.approx(-0.15), 3), (pytest.approx(-0.05), 2)]
    prompts, params, _ = fake.LLM.instances[-1].calls[-1]
    assert prompts == [{"prompt_token_ids": [BOS, 97, 98, 99, 100, EOS]}, {"prompt_token_ids": [BOS, 101, EOS]}]
    assert params.kw == {"max_tokens": 1, "prompt_logprobs": 0}
    assert sampler.score([], []) == []


def test_vllm_end_token_follows_the_generation_config(monkeypatch, tmp_path):
    """As HFSampler: the smallest of the generation config's EOS ids, before the tokenizer's."""
    from transformers import GenerationConfig

    GenerationConfig(eos_token_id=[9, 7]).save_pretrained(tmp_path)
    fake = _fake_vllm()
    monkeypatch.setitem(sys.modules, "vllm", fake)
    from rlscope.llm.vllm import VLLMSampler

    VLLMSampler(str(tmp_path)).score(["a"], ["b"])
    assert fake.LLM.instances[-1].calls[-1][0] == [{"prompt_token_ids": [BOS, 97, 98, 7]}]


def test_vllm_missing_prompt_logprobs_is_an_error(monkeypatch):
    fake = _fake_vllm()
    monkeypatch.setitem(sys.modules, "vllm", fake)
    from rlscope.llm.vllm import VLLMSampler

    sampler = VLLMSampler("m")
    sampler.llm.generate = lambda prompts, params, use_tqdm=True: [types.SimpleNamespace(prompt_logprobs=None)]
    with pytest.raises(RlscopeError, match=r"prompt logprobs for none, expected 4 positions"):
        sampler.score(["a"], ["b"])


def test_vllm_backend_scores_a_run(monkeypatch, run):
    fake = _fake_vllm()
    monkeypatch.setitem(sys.modules, "vllm", fake)
    res = score_run(PerplexityConfig(run=run, scorer="models/fake-base", backend="vllm", template="raw",
                                     batch_size=5, progress=False))
    assert res["scorer"] == "fake-base" and res["new"] == 6
    assert fake.LLM.instances[-1].kw["model"] == "models/fake-base"
    assert [len(c[0]) for c in fake.LLM.instances[-1].calls] == [5, 1]
    got = stored(run, "fake-base")
    for pid, i, c in SAMPLES:
        start, end = 1 + len(QUESTIONS[pid]), 1 + len(QUESTIONS[pid]) + len(c) + 1  # BOS + prompt | completion + EOS
        want = sum(position_logprob(j) for j in range(start, end))
        assert got[(pid, i)] == (pytest.approx(want), len(c) + 1)


def test_missing_vllm_is_a_clear_error(monkeypatch, run):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(RlscopeError, match=r"`make vllm` builds .venv-vllm"):
        score_run(PerplexityConfig(run=run, scorer="some/model", backend="vllm", template="raw", name="novllm",
                                   progress=False))
    assert stored(run, "novllm") == {}


@pytest.mark.gpu
def test_vllm_scores_equal_hf_scores(tiny_model, hf):
    torch = pytest.importorskip("torch")
    import importlib.util

    if importlib.util.find_spec("vllm") is None or not torch.cuda.is_available():
        pytest.skip("optional: needs vllm and a CUDA GPU")
    from rlscope.llm.vllm import VLLMSampler

    sampler = VLLMSampler(str(tiny_model), dtype="float32", gpu_memory_utilization=0.3, max_model_len=256,
                          enforce_eager=True)
    prompts, comps = [QUESTIONS[p] for p, _, _ in SAMPLES], [c for _, _, c in SAMPLES]
    got, want = sampler.score(prompts, comps), hf.score(prompts, comps)
    assert [n for _, n in got] == [n for _, n in want]
    assert [lp for lp, _ in got] == pytest.approx([lp for lp, _ in want], abs=1e-2)
