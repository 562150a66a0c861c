"""A sampler on vLLM's offline engine (GPU); ``vllm`` is imported only when one is built.

Each sample is its own engine request with ``n=1`` and the sample's seed, so per-sample
seeds are honoured and a resumed run asks for the same draws as an uninterrupted one.
The samples of one prompt still share its prefill: automatic prefix caching reuses the
prompt's KV blocks across requests, within a batch as well as across batches.

The same seed gives the same sample up to numerics: vLLM's kernels are not batch-invariant,
so a sample drawn in a different batch can, rarely, diverge once logits differ in the last bits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rlscope.errors import RlscopeError
from rlscope.llm.base import Completion, SampleRequest, SamplingParams

logger = logging.getLogger(__name__)


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
                f"the vllm backend needs vLLM ({exc}): pip install rlscope[vllm]; needs a CUDA GPU"
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
