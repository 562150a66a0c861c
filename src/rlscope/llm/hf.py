"""Hugging Face transformers backend (CPU or GPU).

Each distinct prompt is prefilled once; its KV cache is repeated for the batch of
samples drawn from it, and the decode loop samples every row with a
counter-based random stream keyed by that sample's own seed, so a sample's text
does not depend on which other samples share its batch (up to floating-point
differences between batch shapes).
"""

from __future__ import annotations

import inspect
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rlscope.errors import RlscopeError
from rlscope.llm.base import Completion, SampleRequest, SamplingParams

log = logging.getLogger(__name__)

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def counter_uniform(seeds: np.ndarray, step: int) -> np.ndarray:
    """One uniform in [0, 1) per row from (seed, step) via splitmix64.

    Parameters
    ----------
    seeds : (B,) uint64
    step : decode step

    Returns
    -------
    (B,) float64
    """
    with np.errstate(over="ignore"):
        x = seeds.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15) * np.uint64(step + 1)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def sample_tokens(logits, u, temperature: float, top_p: float):  # (B, V), (B,) -> (B,)
    """Inverse-CDF sampling with temperature and nucleus (top-p) truncation.

    Parameters
    ----------
    logits : (B, V) float tensor
    u : (B,) float tensor of uniforms in [0, 1)

    Returns
    -------
    (B,) long tensor of token ids
    """
    import torch

    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)  # (B, V)
    if top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)  # (B, V)
        before = probs.cumsum(dim=-1) - probs  # mass strictly before each token
        probs = probs.masked_fill(before >= top_p, 0.0)
    else:
        order = None
    cdf = probs.cumsum(dim=-1)  # (B, V)
    target = (u.to(cdf.dtype) * cdf[:, -1]).unsqueeze(-1)  # (B, 1)
    idx = torch.searchsorted(cdf, target, right=True).clamp_(max=cdf.shape[-1] - 1)  # (B, 1)
    if order is not None:
        idx = order.gather(-1, idx)
    return idx.squeeze(-1)


class HFSampler:
    """Sample from a local (or cached) Hugging Face causal LM with a batched KV-cache loop."""

    name = "hf"

    def __init__(
        self,
        model: str,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 64,
        threads: int | None = None,
        trust_remote_code: bool = False,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        local = Path(model)
        if not local.exists() and (model.startswith((".", "/", "~")) or os.sep in model.rstrip(os.sep) and model.count("/") != 1):
            raise RlscopeError(f"model path {model!r} does not exist")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
            torch_dtype = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
            if torch_dtype == "auto" and self.device.type == "cpu":
                torch_dtype = torch.float32
            self.model = AutoModelForCausalLM.from_pretrained(
                model, dtype=torch_dtype, trust_remote_code=trust_remote_code
            ).to(self.device)
        except OSError as exc:
            raise RlscopeError(f"cannot load model {model!r}: {str(exc).splitlines()[0]}") from exc
        self._setup(batch_size)

    @classmethod
    def wrap(cls, model, tokenizer, batch_size: int = 64) -> HFSampler:
        """A sampler over an already loaded model (e.g. the policy inside a trainer)."""
        self = cls.__new__(cls)
        self.model, self.tokenizer = model, tokenizer
        self.device = next(model.parameters()).device
        self._setup(batch_size)
        return self

    def _setup(self, batch_size: int) -> None:
        self.model.eval()
        self.batch_size = batch_size
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        self.max_context = getattr(self.model.config, "max_position_embeddings", None)
        # transformers >= 5.2x names the KV cache `cache`; older releases `past_key_values`.
        self._cache_kw = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    def _cache_of(self, out):
        return out["cache"] if "cache" in out else out["past_key_values"]

    def encode(self, prompt: str) -> list[int]:
        ids = self.tokenizer(prompt, add_special_tokens=True)["input_ids"]
        if not ids:
            ids = [self.tokenizer.bos_token_id or self.tokenizer.eos_token_id]
        return ids

    def generate(
        self,
        requests: Sequence[SampleRequest],
        params: SamplingParams,
        on_batch: Callable[[list[int], list[Completion]], None] | None = None,
    ) -> list[Completion]:
        """One completion per request; ``on_batch(indices, completions)`` is called as batches finish."""
        groups: OrderedDict[str, list[int]] = OrderedDict()
        for i, req in enumerate(requests):
            groups.setdefault(req.prompt, []).append(i)
        encoded = {prompt: self.encode(prompt) for prompt in groups}
        order = [i for idxs in groups.values() for i in idxs]  # requests of one prompt stay together
        out: list[Completion | None] = [None] * len(requests)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            prompts = list(OrderedDict.fromkeys(requests[i].prompt for i in chunk))
            index = {p: k for k, p in enumerate(prompts)}
            row_prompt = np.array([index[requests[i].prompt] for i in chunk])
            seeds = np.array([requests[i].seed for i in chunk], dtype=np.uint64)
            comps = self._generate_batch([encoded[p] for p in prompts], row_prompt, seeds, params)
            for i, comp in zip(chunk, comps):
                out[i] = comp
            if on_batch is not None:
                on_batch(chunk, comps)
        return out  # type: ignore[return-value]

    def _generate_batch(
        self, prompts: list[list[int]], row_prompt: np.ndarray, seeds: np.ndarray, params: SamplingParams
    ) -> list[Completion]:
        """Decode one batch: ``P`` distinct prompts (left-padded, prefilled once each) and ``B`` sample rows,
        row ``i`` continuing prompt ``row_prompt[i]`` with its own random stream ``seeds[i]``."""
        import torch

        B = len(seeds)
        P = len(prompts)
        lens = np.array([len(p) for p in prompts])
        Lp = int(lens.max())
        max_new = params.max_new_tokens
        if self.max_context:
            max_new = min(max_new, self.max_context - Lp)
            if max_new <= 0:
                raise RlscopeError(f"prompt of {Lp} tokens leaves no room in the model's context of {self.max_context}")
        generated = np.zeros((B, max_new), dtype=np.int64)  # (B, T)
        lengths = np.zeros(B, dtype=np.int64)
        finish = ["length"] * B
        eos_list = sorted(self.eos_ids)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else (eos_list[0] if eos_list else 0)
        dev = self.device
        with torch.inference_mode():
            ids = torch.full((P, Lp), pad, dtype=torch.long)  # (P, Lp), left-padded
            attn = torch.zeros((P, Lp + max_new), dtype=torch.long)  # (P, Lp + T)
            for k, p in enumerate(prompts):
                ids[k, Lp - len(p) :] = torch.tensor(p)
                attn[k, Lp - len(p) : Lp] = 1
            padded = bool((lens != Lp).any())
            extra = {}
            if padded:
                pos = (attn[:, :Lp].cumsum(-1) - 1).clamp(min=0)  # (P, Lp)
                extra = {"attention_mask": attn[:, :Lp].to(dev), "position_ids": pos.to(dev)}
            cache_kw = {}
            prealloc = preallocated_cache(self.model, Lp + max_new)
            if prealloc is not None:
                cache_kw[self._cache_kw] = prealloc
            out = self.model(input_ids=ids.to(dev), use_cache=True, **extra, **cache_kw)
            cache = self._cache_of(out)
            rp = torch.from_numpy(row_prompt).to(dev)
            if P == 1:
                cache.batch_repeat_interleave(B)
            else:
                cache.batch_select_indices(rp)  # gather: each row gets its prompt's cache
            logits = out.logits[:, -1, :][rp]  # (B, V)
            attn_rows = attn[torch.from_numpy(row_prompt)].to(dev)  # (B, Lp + T)
            prompt_len = torch.from_numpy(lens[row_prompt]).to(dev)  # (B,)
            # rows[j]: the sample held in cache row j; running[j]: still decoding. Finished rows stay in
            # the cache (their tokens are ignored) until enough have finished to make compaction pay.
            rows = np.arange(B)
            running = np.ones(B, dtype=bool)
            for step in range(max_new):
                u = torch.from_numpy(counter_uniform(seeds[rows], step)).to(dev)
                tok = sample_tokens(logits, u, params.temperature, params.top_p)  # (A,)
                tok_np = tok.cpu().numpy()
                live = rows[running]
                generated[live, step] = tok_np[running]
                lengths[live] = step + 1
                done = np.zeros(len(rows), dtype=bool)
                if eos_list:
                    done = running & np.isin(tok_np, eos_list)
                if params.stop:
                    for j in np.nonzero(running & ~done)[0]:
                        if self._hits_stop(generated[rows[j], : step + 1], params.stop):
                            done[j] = True
                for j in np.nonzero(done)[0]:
                    finish[rows[j]] = "stop"
                running &= ~done
                if not running.any() or step == max_new - 1:
                    break
                if running.sum() <= 0.75 * len(rows):
                    keep = np.nonzero(running)[0]
                    rows, running = rows[keep], running[keep]
                    keep_t = torch.from_numpy(keep).to(dev)
                    cache.batch_select_indices(keep_t)
                    tok = tok[keep_t]
                    attn_rows = attn_rows[keep_t]
                    prompt_len = prompt_len[keep_t]
                step_kw = {}
                if padded:
                    attn_rows[:, Lp + step] = 1
                    step_kw = {
                        "attention_mask": attn_rows[:, : Lp + step + 1],
                        "position_ids": (prompt_len + step).unsqueeze(-1),
                    }
                out = self.model(input_ids=tok.unsqueeze(-1), use_cache=True, **step_kw, **{self._cache_kw: cache})
                cache = self._cache_of(out)
                logits = out.logits[:, -1, :]  # (A, V)
        comps = []
        for row in range(B):
            toks = generated[row, : lengths[row]].tolist()
            n_tok = len(toks)
            if toks and toks[-1] in self.eos_ids:
                toks = toks[:-1]
            text = self.tokenizer.decode(toks, skip_special_tokens=True)
            if params.stop:
                text = _cut_at_stop(text, params.stop)
            comps.append(
                Completion(
                    text=text, num_tokens=n_tok, finish_reason=finish[row],
                    token_ids=tuple(generated[row, : lengths[row]].tolist()),
                )
            )
        return comps

    def score(self, prompts: Sequence[str], completions: Sequence[str], batch_size: int = 64) -> list[tuple[float, int]]:
        """Log-likelihood of each completion given its prompt: ``(sum log p, number of tokens)``.

        The completion is tokenized after the prompt, followed by EOS when the model has one (the
        probability of stopping is part of the answer's likelihood).
        """
        import torch

        out: list[tuple[float, int]] = []
        eos = min(self.eos_ids) if self.eos_ids else None
        with torch.inference_mode():
            for start in range(0, len(prompts), batch_size):
                rows, spans = [], []
                for p, c in zip(prompts[start : start + batch_size], completions[start : start + batch_size]):
                    p_ids = self.encode(p)
                    c_ids = self.tokenizer(c, add_special_tokens=False)["input_ids"] + ([eos] if eos is not None else [])
                    rows.append(p_ids + c_ids)
                    spans.append((len(p_ids), len(c_ids)))
                L = max(len(r) for r in rows)
                ids = torch.zeros((len(rows), L), dtype=torch.long, device=self.device)
                attn = torch.zeros_like(ids)
                for i, r in enumerate(rows):
                    ids[i, : len(r)] = torch.tensor(r)
                    attn[i, : len(r)] = 1
                logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=attn).logits.float(), dim=-1)  # (B, L, V)
                tok_logp = logp[:, :-1].gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, L-1)
                for i, (lp, lc) in enumerate(spans):
                    out.append((float(tok_logp[i, lp - 1 : lp - 1 + lc].sum()), lc))
        return out

    def _hits_stop(self, toks: np.ndarray, stop: tuple[str, ...]) -> bool:
        tail = self.tokenizer.decode(toks[-32:].tolist(), skip_special_tokens=True)
        return any(s in tail for s in stop)


def preallocated_cache(model, capacity: int):
    """A DynamicCache whose layers write into preallocated buffers (no per-step ``torch.cat``).

    Growing the default cache copies it whole at every step (quadratic in length); this keeps
    the same interface and semantics. Returns None where the model's cache layout is not plain
    full-attention layers (then the default cache is used).
    """
    try:
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer
    except ImportError:
        return None
    try:
        cache = DynamicCache(config=model.config)
    except TypeError:
        return None
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return None
    cache.layers = [_PreallocatedLayer(capacity) for _ in layers]
    return cache


def _preallocated_layer_class():
    from transformers.cache_utils import DynamicLayer

    class PreallocatedLayer(DynamicLayer):
        """Keys/values of one layer in (B, H, capacity, D) buffers; ``keys``/``values`` are views of the filled part."""

        def __init__(self, capacity: int):
            super().__init__()
            self.capacity = capacity
            self.length = 0

        def lazy_initialization(self, key_states, value_states) -> None:
            self.device = key_states.device
            B, H, _, D = key_states.shape
            self.kbuf = key_states.new_empty((B, H, self.capacity, D))  # (B, H, C, D)
            self.vbuf = value_states.new_empty((B, H, self.capacity, value_states.shape[-1]))
            self.is_initialized = True

        def _views(self) -> None:
            self.keys = self.kbuf[:, :, : self.length]
            self.values = self.vbuf[:, :, : self.length]

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n = key_states.shape[-2]
            if self.length + n > self.capacity:
                raise RuntimeError(f"KV cache capacity {self.capacity} exceeded")
            self.kbuf[:, :, self.length : self.length + n] = key_states
            self.vbuf[:, :, self.length : self.length + n] = value_states
            self.length += n
            self._views()
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

        def crop(self, tokens_to_remove: int) -> None:
            self.length = max(0, self.length - abs(tokens_to_remove))
            if self.is_initialized:
                self._views()

        def batch_repeat_interleave(self, repeats: int) -> None:
            self.kbuf = self.kbuf.repeat_interleave(repeats, dim=0)
            self.vbuf = self.vbuf.repeat_interleave(repeats, dim=0)
            self._views()

        def batch_select_indices(self, indices) -> None:
            self.kbuf = self.kbuf[indices]
            self.vbuf = self.vbuf[indices]
            self._views()

    return PreallocatedLayer


def _PreallocatedLayer(capacity: int):
    global _LAYER_CLS
    if _LAYER_CLS is None:
        _LAYER_CLS = _preallocated_layer_class()
    return _LAYER_CLS(capacity)


_LAYER_CLS = None


def _cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    cut = len(text)
    for s in stop:
        pos = text.find(s)
        if pos != -1:
            cut = min(cut, pos)
    return text[:cut]
