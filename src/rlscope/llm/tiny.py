"""Tiny Hugging Face-format models the project builds itself (no download needed).

A byte-level tokenizer (256 byte tokens + specials, no merges) and a small
``LlamaForCausalLM``. Every backend and analysis that works on a 7B checkpoint
works on these unchanged; training them is the model organism's job.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

SPECIAL_TOKENS = ("<|pad|>", "<|bos|>", "<|eos|>")


@dataclasses.dataclass(frozen=True)
class TinyModelConfig:
    """Shape of a tiny decoder-only model."""

    hidden_size: int = 128
    """Model width d."""
    num_layers: int = 2
    """Transformer blocks."""
    num_heads: int = 2
    """Attention heads (head size 64 keeps GPU attention kernels, e.g. vLLM's, usable)."""
    intermediate_size: int = 352
    """MLP width."""
    max_position_embeddings: int = 512
    """Context length."""
    seed: int = 0
    """Weight initialization seed."""


def build_byte_tokenizer():  # -> transformers.PreTrainedTokenizerFast
    """A byte-level BPE tokenizer with no merges: any text round-trips exactly."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    alphabet = ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<|pad|>", bos_token="<|bos|>", eos_token="<|eos|>"
    )


def build_llama(config: TinyModelConfig, tokenizer):  # -> LlamaForCausalLM
    """A randomly initialized ``LlamaForCausalLM`` of ``config``'s shape for ``tokenizer``."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads,
        max_position_embeddings=config.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(config.seed)
    model = LlamaForCausalLM(cfg)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    return model


def build_tiny_model(out_dir: str | Path, config: TinyModelConfig = TinyModelConfig()) -> Path:
    """Write an (untrained) tiny Llama model and its byte-level tokenizer to ``out_dir``; returns the path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_byte_tokenizer()
    build_llama(config, tokenizer).save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "rlscope_tiny.json").write_text(json.dumps(dataclasses.asdict(config), indent=2))
    return out
