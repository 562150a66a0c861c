"""The real vLLM engine (its CPU build, `make vllm`) and the real `vllm serve`, on the organism's base model.

Run in .venv-vllm by `make test-vllm` (CI runs it): the offline sampler against the HF sampler, prompt-logprob
scores against HF's, and `vllm serve` on loopback as the server of `--backend openai` (completions, chat,
n > 1, prompt logprobs for `boundary perplexity`).
"""

import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from rlscope.boundary.organism.shipped import shipped_model
from rlscope.boundary.organism.task import sample_problems, write_benchmark

BASE = shipped_model("shipped:base")
ENV = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
N_PROBLEMS, N = 30, 16


def rlscope(*args, cwd):
    proc = subprocess.run([sys.executable, "-m", "rlscope", *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=900, cwd=cwd)
    assert proc.returncode == 0, f"rlscope {' '.join(map(str, args))}:\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("user")
    write_benchmark(sample_problems(N_PROBLEMS, "test", seed=12345), cwd / "organism.jsonl")
    return cwd


def _sample(cwd: Path, run: str, *extra) -> dict:
    rlscope("boundary", "sample", "--model", BASE, "--benchmark", "jsonl:organism.jsonl", "--run", run, "--n", N,
            "--template", "organism", "--temperature", 1.0, "--max-new-tokens", 80, "--no-progress", *extra, cwd=cwd)
    rlscope("boundary", "verify", "--run", run, "--no-progress", cwd=cwd)
    from rlscope.boundary.runs import open_run

    store = open_run(cwd / run)
    try:
        return store.correct_counts()
    finally:
        store.close()


def _agree(a: dict, b: dict) -> None:
    """Correctness rates within sampling noise: a two-proportion z-test at |z| < 4."""
    ca, cb = sum(c for _, c in a.values()), sum(c for _, c in b.values())
    na, nb = sum(n for n, _ in a.values()), sum(n for n, _ in b.values())
    p = (ca + cb) / (na + nb)
    z = (ca / na - cb / nb) / math.sqrt(p * (1 - p) * (1 / na + 1 / nb))
    assert abs(z) < 4, (ca / na, cb / nb, z)
    assert 0.3 < ca / na < 0.99  # the organism solves some, not all: the comparison means something


def test_the_vllm_backend_samples_the_organism_as_the_hf_backend_does(user):
    hf = _sample(user, "runs/hf", "--backend", "hf")
    vl = _sample(user, "runs/vllm", "--backend", "vllm")
    assert sorted(hf) == sorted(vl) and all(n == N for n, _ in vl.values())
    _agree(hf, vl)
    from rlscope.passk import pass_at_k

    for k in (1, 4, 16):
        ph = np.mean([pass_at_k(n, c, k) for n, c in hf.values()])
        pv = np.mean([pass_at_k(n, c, k) for n, c in vl.values()])
        assert abs(ph - pv) < 0.15, (k, ph, pv)


def test_per_sample_seeds_reproduce_draws_and_scores_match_hf():
    from rlscope.llm.base import SampleRequest, SamplingParams
    from rlscope.llm.hf import HFSampler
    from rlscope.llm.vllm import VLLMSampler

    problems = sample_problems(6, "test", seed=7)
    from rlscope.boundary.prompts import get_template

    prompts = [get_template("organism").render(p) for p in problems]
    sampler = VLLMSampler(BASE, dtype="float32", seed=0)
    params = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=40)
    reqs = [SampleRequest(prompt=p, seed=1000 + i) for i, p in enumerate(prompts)]
    first = [c.text for c in sampler.generate(reqs, params)]
    again = [c.text for c in sampler.generate(list(reversed(reqs)), params)][::-1]  # other order, same seeds
    assert sum(a == b for a, b in zip(first, again)) >= len(first) - 1  # per-sample seeds (numerics may flip one)
    other = [c.text for c in sampler.generate([SampleRequest(prompt=r.prompt, seed=r.seed + 1) for r in reqs], params)]
    assert other != first
    texts = [c for c in first if c]
    got = sampler.score(prompts[: len(texts)], texts)
    want = HFSampler(BASE, dtype="float32").score(prompts[: len(texts)], texts)
    for (lv, nv), (lh, nh) in zip(got, want):
        assert nv == nh and abs(lv - lh) / nh < 1e-3, (lv, lh, nh)


CHAT_TEMPLATE = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """vLLM's OpenAI-compatible server (CPU) on a free loopback port, serving the organism as "organism"."""
    d = tmp_path_factory.mktemp("serve")
    (d / "chat.jinja").write_text(CHAT_TEMPLATE)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(d / "serve.log", "w")
    # what `vllm serve` runs; vllm-cpu's `vllm` command itself looks up the version of a distribution named vllm
    # (it is vllm-cpu) and stops before serving
    proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", BASE, "--host", "127.0.0.1",
                             "--port", str(port), "--served-model-name", "organism", "--dtype", "float32", "--enforce-eager",
                             "--chat-template", str(d / "chat.jinja"), "--seed", "0"],
                            stdout=log, stderr=subprocess.STDOUT, env=ENV)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 300
    while True:
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as r:
                assert json.load(r)["data"][0]["id"] == "organism"
                break
        except (OSError, ValueError):
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise AssertionError("vllm serve did not start:\n" + (d / "serve.log").read_text()[-3000:])
            time.sleep(2)
    yield url
    proc.terminate()
    proc.wait(timeout=60)


def test_vllm_serve_is_the_openai_backend_for_completions_and_chat(server, user):
    hf = _sample(user, "runs/hf2", "--backend", "hf")
    served = _sample(user, "runs/served", "--backend", "openai", "--model", "organism", "--base-url", server)
    _agree(hf, served)
    # chat: the served template is BOS and the messages' contents, so a chat request with the prompt as its one message
    # is the completion request; the chat endpoint answers with the same distribution
    from rlscope.llm.base import SampleRequest, SamplingParams
    from rlscope.llm.openai_compat import OpenAISampler

    prompt = "3+4="
    params = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=20)
    done = OpenAISampler("organism", server, mode="completions").generate([SampleRequest(prompt=prompt, seed=1)], params)
    talk = OpenAISampler("organism", server, mode="chat").generate([SampleRequest(prompt=prompt, seed=1)], params)
    assert done[0].text and talk[0].text.strip() == done[0].text.strip()  # greedy: the same answer
    # n > 1 in one call, on a problem of the task where the base's answers differ (slips, two strategies)
    grouped = OpenAISampler("organism", server, mode="completions", group_by_prompt=True)
    long_prompt = "37*4-52+9*3-11+5="
    outs = grouped.generate([SampleRequest(prompt=long_prompt, seed=s) for s in range(8)],
                            SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=96))
    assert len(outs) == 8 and len({o.text for o in outs}) > 1 and all("####" in o.text for o in outs)


def test_prompt_logprobs_from_vllm_serve_score_a_run_like_hf(server, user):
    _sample(user, "runs/scored", "--backend", "hf")
    rlscope("boundary", "perplexity", "--run", "runs/scored", "--scorer", BASE, "--name", "hf", "--limit", 4,
            "--no-progress", cwd=user)
    rlscope("boundary", "perplexity", "--run", "runs/scored", "--scorer", f"organism@{server}", "--backend", "openai",
            "--name", "served", "--limit", 4, "--batch-size", 8, "--no-progress", cwd=user)
    from rlscope.boundary.runs import open_run

    store = open_run(user / "runs" / "scored")
    try:
        hf, served = store.scores("hf"), store.scores("served")
    finally:
        store.close()
    assert set(hf) == set(served) and len(hf) == 4 * N_PROBLEMS
    for key in hf:
        (lh, nh), (ls, ns) = hf[key], served[key]
        # the server scores the completion's tokens without the end-of-sequence token that HF adds
        assert ns in (nh, nh - 1) and (ls >= lh - 1e-3 if ns < nh else abs(ls - lh) < 1e-3 * nh), (key, hf[key], served[key])
