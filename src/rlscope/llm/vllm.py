"""A sampler on vLLM's offline engine (GPU, or vLLM's CPU build); ``vllm`` is imported only when one is built.

Each sample is its own engine request with ``n=1`` and the sample's seed, so per-sample
seeds are honoured and a resumed run asks for the same draws as an uninterrupted one.
The samples of one prompt still share its prefill: automatic prefix caching reuses the
prompt's KV blocks across requests, within a batch as well as across batches.

The same seed gives the same sample up to numerics: vLLM's kernels are not batch-invariant,
so a sample drawn in a different batch can, rarely, diverge once logits differ in the last bits.

:meth:`VLLMSampler.score` reads the engine's prompt logprobs instead (``rlscope boundary perplexity
--backend vllm``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from rlscope.errors import RlscopeError
from rlscope.llm.base import Completion, SampleRequest, SamplingParams

logger = logging.getLogger(__name__)


def _has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


class VLLMSampler:
    """Draw samples with ``vllm.LLM``.

    Parameters
    ----------
    model : str
        Hugging Face model id or local directory.
    dtype : str
        Weights and activations dtype (``auto`` follows the model config).
    tensor_parallel_size : int
        GPUs to shard the model over.
    gpu_memory_utilization : float
        Fraction of GPU memory vLLM may take (weights + KV cache).
    max_model_len : int, optional
        Context length (prompt + completion); defaults to the model's. Lower it to fit the KV cache.
    enable_prefix_caching : bool
        Share the prefill between requests with a common prefix (the samples of one prompt).
    use_tqdm : bool
        Show vLLM's own progress bar during ``generate``.
    **engine_kwargs
        Passed to ``vllm.LLM`` as is (``seed``, ``enforce_eager``, ``trust_remote_code``, ...).
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        enable_prefix_caching: bool = True,
        use_tqdm: bool = False,
        **engine_kwargs: Any,
    ):
        try:
            import vllm
        except ImportError as exc:
            raise RlscopeError(
                f"the vllm backend needs vLLM ({exc}): on a GPU, pip install vllm beside rlscope; on a CPU, "
                "`make vllm` builds .venv-vllm with vLLM's CPU build (see docs/scaling.md)"
            ) from exc
        self._vllm = vllm
        self.model = model
        self.use_tqdm = use_tqdm
        kwargs: dict[str, Any] = {
            "model": model,
            "dtype": dtype,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "enable_prefix_caching": enable_prefix_caching,
        }
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        if not _has_cuda():  # vLLM's CPU build: eager mode (no compile step), a KV cache sized in GiB by env
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
            kwargs.setdefault("enforce_eager", True)
            kwargs.pop("gpu_memory_utilization")
        kwargs.update(engine_kwargs)
        logger.info("loading %s with vLLM %s", model, getattr(vllm, "__version__", "?"))
        self.llm = vllm.LLM(**kwargs)

    def generate(self, requests: Sequence[SampleRequest], params: SamplingParams) -> list[Completion]:
        """Draw one completion per request, in request order, all submitted to the engine at once."""
        if not requests:
            return []
        stop = list(params.stop) or None
        sampling = [
            self._vllm.SamplingParams(
                n=1,
                seed=r.seed,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_new_tokens,
                stop=stop,
            )
            for r in requests
        ]
        # LLM.generate returns its outputs in the order of the prompts.
        outputs = self.llm.generate([r.prompt for r in requests], sampling, use_tqdm=self.use_tqdm)
        if len(outputs) != len(requests):
            raise RlscopeError(f"vLLM returned {len(outputs)} outputs for {len(requests)} requests")
        completions = []
        for out in outputs:
            sample = out.outputs[0]
            completions.append(
                Completion(
                    text=sample.text,
                    num_tokens=len(sample.token_ids),
                    finish_reason=sample.finish_reason or "stop",
                )
            )
        return completions

    def score(self, prompts: Sequence[str], completions: Sequence[str], batch_size: int = 64) -> list[tuple[float, int]]:
        """Log-likelihood of each completion given its prompt: ``(sum log p, number of tokens)``.

        Tokenized as :meth:`rlscope.llm.hf.HFSampler.score` does (the prompt with the tokenizer's special
        tokens, then the completion, then the end-of-sequence token when the model has one), so both backends
        score the same tokens. Every text goes to the engine as token ids with ``prompt_logprobs=0``, which
        returns each position's log-probability of the token there; the completion's positions are summed.
        ``batch_size`` is unused: the engine schedules its own batches.
        """
        if len(prompts) != len(completions):
            raise RlscopeError(f"score: {len(prompts)} prompts but {len(completions)} completions")
        if not prompts:
            return []
        tokenizer = self.llm.get_tokenizer()
        eos = self._eos_id(tokenizer)
        rows, starts = [], []
        for prompt, completion in zip(prompts, completions):
            p_ids = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
            if not p_ids:
                p_ids = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos]
            c_ids = list(tokenizer(completion, add_special_tokens=False)["input_ids"]) + ([eos] if eos is not None else [])
            rows.append(p_ids + c_ids)
            starts.append(len(p_ids))
        params = self._vllm.SamplingParams(max_tokens=1, prompt_logprobs=0)
        try:
            outputs = self.llm.generate([{"prompt_token_ids": ids} for ids in rows], params, use_tqdm=self.use_tqdm)
        except ValueError as exc:  # e.g. a text longer than the engine's max_model_len
            raise RlscopeError(f"vLLM refused the texts to score: {exc}") from exc
        if len(outputs) != len(rows):
            raise RlscopeError(f"vLLM returned {len(outputs)} outputs for {len(rows)} texts to score")
        return [completion_logprob(out.prompt_logprobs, ids, start) for out, ids, start in zip(outputs, rows, starts)]

    def _eos_id(self, tokenizer) -> int | None:
        """The end-of-sequence token appended to a completion, chosen as HFSampler does: the smallest of the
        model's EOS ids (its generation config, else its config, read from disk or the local hub cache), else
        the tokenizer's."""
        eos = None
        try:
            from transformers import AutoConfig, GenerationConfig

            try:
                eos = GenerationConfig.from_pretrained(self.model, local_files_only=True).eos_token_id
            except OSError:  # no generation_config.json: transformers derives one from the model config
                eos = AutoConfig.from_pretrained(self.model, local_files_only=True).eos_token_id
        except Exception as exc:  # no readable config here: the tokenizer's EOS
            logger.debug("no model config for %s (%s); using the tokenizer's EOS", self.model, exc)
        if eos is None:
            eos = tokenizer.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        return min(ids) if ids else None


def completion_logprob(prompt_logprobs: Sequence[Any] | None, ids: Sequence[int], start: int) -> tuple[float, int]:
    """Sum and count of the log-probabilities of ``ids[start:]``, read from vLLM's ``prompt_logprobs``.

    ``prompt_logprobs`` has one entry per position of ``ids``: None for the first (nothing precedes it),
    then a dict token id -> ``Logprob`` (``.logprob``) that holds at least the token at that position.
    """
    if prompt_logprobs is None or len(prompt_logprobs) != len(ids):
        got = "none" if prompt_logprobs is None else f"{len(prompt_logprobs)} positions"
        raise RlscopeError(f"vLLM returned prompt logprobs for {got}, expected {len(ids)} positions "
                           "(SamplingParams(prompt_logprobs=0))")
    total = 0.0
    for pos in range(start, len(ids)):
        entry = prompt_logprobs[pos]
        if entry is None or ids[pos] not in entry:
            raise RlscopeError(f"vLLM returned no prompt logprob for token {ids[pos]} at position {pos}")
        total += float(entry[ids[pos]].logprob)
    return total, len(ids) - start
