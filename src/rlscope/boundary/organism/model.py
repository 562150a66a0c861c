"""Character tokenizer and tiny Llama models of the organism, in real Hugging Face format."""

from __future__ import annotations

import dataclasses

CHARS = "0123456789+-*/=,# L:"
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


@dataclasses.dataclass(frozen=True)
class OrganismModelConfig:
    """Shape of an organism model (defaults: about 0.8M parameters)."""

    hidden_size: int = 128
    """Model width."""
    num_layers: int = 4
    """Transformer blocks."""
    num_heads: int = 4
    """Attention heads."""
    intermediate_size: int = 384
    """MLP width."""
    context: int = 128
    """Maximum tokens (question + trace)."""


def build_tokenizer():  # -> PreTrainedTokenizerFast
    """One token per character of the task alphabet."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for ch in CHARS:
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(list(SPECIALS))
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])])
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>", unk_token="<unk>"
    )
    return hf


def build_model(config: OrganismModelConfig, tokenizer, seed: int = 0):  # -> LlamaForCausalLM
    from rlscope.llm.tiny import TinyModelConfig, build_llama

    return build_llama(
        TinyModelConfig(
            hidden_size=config.hidden_size, num_layers=config.num_layers, num_heads=config.num_heads,
            intermediate_size=config.intermediate_size, max_position_embeddings=config.context, seed=seed,
        ),
        tokenizer,
    )


def encode_batch(tokenizer, texts: list[str], context: int, add_eos: bool = True):
    """``<bos> text <eos>`` right-padded: returns input_ids (N, T) and attention mask (N, T)."""
    import torch

    rows = []
    for t in texts:
        ids = tokenizer(t, add_special_tokens=True)["input_ids"]  # starts with <bos>
        if add_eos:
            ids.append(tokenizer.eos_token_id)
        rows.append(ids[:context])
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), tokenizer.pad_token_id, dtype=torch.long)  # (N, T)
    mask = torch.zeros((len(rows), T), dtype=torch.long)  # (N, T)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask
