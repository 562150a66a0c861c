"""VLLMSampler: the missing-vLLM error, the request mapping against a stand-in ``vllm`` module,
and (``gpu``) a real run on a tiny random model built by the test."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from rlscope.errors import RlscopeError
from rlscope.llm.base import Sampler, SampleRequest, SamplingParams


def test_missing_vllm_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    from rlscope.llm.vllm import VLLMSampler

    with pytest.raises(RlscopeError, match=r"`make vllm` builds .venv-vllm"):
        VLLMSampler("some/model")


def _fake_vllm() -> types.ModuleType:
    """A stand-in with vLLM's offline API shape: LLM(**kw).generate(prompts, params_list, use_tqdm)."""

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class LLM:
        instances: list = []

        def __init__(self, **kw):
            self.kw = kw
            self.calls: list = []
            LLM.instances.append(self)

        def generate(self, prompts, sampling_params, use_tqdm=True):
            self.calls.append((prompts, sampling_params, use_tqdm))
            outs = []
            for prompt, sp in zip(prompts, sampling_params):
                text = f"{prompt}/{sp.kw['seed']}"
                finish = "length" if len(text) >= sp.kw["max_tokens"] else "stop"
                sample = types.SimpleNamespace(text=text, token_ids=list(range(len(text))), finish_reason=finish)
                outs.append(types.SimpleNamespace(outputs=[sample]))
            return outs

    mod = types.ModuleType("vllm")
    mod.LLM = LLM
    mod.SamplingParams = SamplingParams
    mod.__version__ = "0.0-fake"
    return mod


def test_requests_map_to_per_sample_engine_requests(monkeypatch):
    fake = _fake_vllm()
    monkeypatch.setitem(sys.modules, "vllm", fake)
    from rlscope.llm.base import get_sampler

    sampler = get_sampler("vllm", "tiny", max_model_len=512, enforce_eager=True)
    assert isinstance(sampler, Sampler) and sampler.name == "vllm"
    llm = fake.LLM.instances[-1]
    from rlscope.llm.vllm import _has_cuda

    gpu = {"gpu_memory_utilization": 0.9} if _has_cuda() else {}  # vLLM's CPU build sizes its cache by env instead
    assert llm.kw == {
        "model": "tiny",
        "dtype": "auto",
        "tensor_parallel_size": 1,
        **gpu,
        "enable_prefix_caching": True,
        "max_model_len": 512,
        "enforce_eager": True,
    }
    reqs = [SampleRequest("a", 5), SampleRequest("bb", 6), SampleRequest("a", 7)]
    out = sampler.generate(reqs, SamplingParams(temperature=0.7, top_p=0.8, max_new_tokens=4, stop=("\n",)))
    prompts, params, use_tqdm = llm.calls[-1]
    assert prompts == ["a", "bb", "a"] and use_tqdm is False
    assert [p.kw for p in params] == [
        {"n": 1, "seed": s, "temperature": 0.7, "top_p": 0.8, "max_tokens": 4, "stop": ["\n"]} for s in (5, 6, 7)
    ]
    assert [(c.text, c.num_tokens, c.finish_reason) for c in out] == [
        ("a/5", 3, "stop"),
        ("bb/6", 4, "length"),
        ("a/7", 3, "stop"),
    ]
    assert sampler.generate([], SamplingParams()) == []


def _tiny_model(root: Path) -> str:
    """Save a random 2-layer Llama with a word-level tokenizer under ``root`` (nothing downloaded)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(61)] + ["Question:", "Answer:"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    hf_tok.save_pretrained(root)
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(root)
    return str(root)


@pytest.mark.gpu
def test_vllm_on_a_tiny_model(tmp_path):
    torch = pytest.importorskip("torch")
    if importlib.util.find_spec("vllm") is None or not torch.cuda.is_available():
        pytest.skip("optional: needs vllm and a CUDA GPU")
    from rlscope.llm.vllm import VLLMSampler

    sampler = VLLMSampler(
        _tiny_model(tmp_path),
        dtype="bfloat16",
        gpu_memory_utilization=0.3,
        max_model_len=256,
        enforce_eager=True,
    )
    params = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=12)
    reqs = [SampleRequest("Question: w1 w2 Answer:", s) for s in (1, 2, 1)] + [SampleRequest("Question: w3", 4)]
    out = sampler.generate(reqs, params)
    assert len(out) == len(reqs)
    assert out[0].text == out[2].text  # same prompt, same seed
    assert out[0].text != out[1].text  # same prompt, other seed
    assert all(1 <= c.num_tokens <= 12 and c.finish_reason in ("stop", "length") for c in out)
    assert [c.text for c in sampler.generate(reqs, params)] == [c.text for c in out]  # reproducible
    greedy = sampler.generate(reqs[:2], SamplingParams(temperature=0.0, max_new_tokens=12))
    assert greedy[0].text == greedy[1].text  # seeds do not matter when greedy
