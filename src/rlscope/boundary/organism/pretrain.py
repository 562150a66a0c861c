"""Pretrain an organism model from scratch on (imperfect) reasoning traces; resumable."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

from rlscope.boundary.organism.model import OrganismModelConfig, build_model, build_tokenizer, encode_batch
from rlscope.boundary.organism.task import iter_traces
from rlscope.checkpoint import load_state, rng_state, save_checkpoint, set_rng_state

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """`rlscope boundary organism pretrain`: train a tiny model on question+trace documents."""

    out: Path
    """Output model folder (HF format); a partial run there is resumed."""
    traces: int = 150_000
    """Distinct training problems (one trace each)."""
    slip_prob: float = 0.08
    """Probability that a written number of a trace is wrong (a slip; 0 for a clean teacher)."""
    long_share: float = 0.05
    """Share of long-strategy traces (the rest are short; see `rlscope.boundary.organism.task`)."""
    sign_error: bool = True
    """Short traces subtract the smaller number from the larger when a subtraction goes below zero (the base's
    flaw; --no-sign-error for the teacher)."""
    division: bool = False
    """Problems may use floor division (/), which the teacher knows and the base never sees."""
    min_ops: int = 2
    """Fewest operations per problem."""
    max_ops: int = 6
    """Most operations per problem."""
    epochs: float = 1.0
    """Passes over the traces."""
    batch_size: int = 64
    """Documents per step."""
    loss_on_question: bool = False
    """Also train on the (random, unpredictable) question tokens; by default only the trace is learned."""
    lr: float = 2e-3
    """Peak learning rate (AdamW, linear warm-up, cosine decay)."""
    warmup: int = 50
    """Warm-up steps."""
    hidden_size: int = 128
    """Model width."""
    num_layers: int = 4
    """Transformer blocks."""
    seed: int = 0
    """Data and initialization seed."""
    threads: int = 1
    """Torch threads."""
    save_every: int = 100
    """Checkpoint every N steps (for resumption)."""
    progress: bool = True
    """Show a progress bar."""


def length_bucketed_order(docs: list[str], batch_size: int, gen) -> list[int]:
    """A random order in which each batch holds documents of similar length (little padding).

    Shuffle, sort chunks of 64 batches by length, cut into batches, shuffle the batches.
    """
    import torch

    perm = torch.randperm(len(docs), generator=gen).tolist()
    chunk = batch_size * 64
    batches = []
    for c in range(0, len(perm), chunk):
        part = sorted(perm[c : c + chunk], key=lambda i: len(docs[i]))
        batches += [part[b : b + batch_size] for b in range(0, len(part), batch_size)]
    shuffled = torch.randperm(len(batches), generator=gen).tolist()
    return [i for b in shuffled for i in batches[b]]


def pretrain(cfg: PretrainConfig) -> dict:
    import torch

    torch.set_num_threads(cfg.threads)
    tokenizer = build_tokenizer()
    mcfg = OrganismModelConfig(hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, intermediate_size=3 * cfg.hidden_size)
    docs = list(iter_traces(cfg.traces, cfg.seed, cfg.slip_prob, cfg.min_ops, cfg.max_ops, cfg.long_share, cfg.sign_error,
                            cfg.division))
    steps_per_epoch = math.ceil(len(docs) / cfg.batch_size)
    total = int(steps_per_epoch * cfg.epochs)
    state = load_state(cfg.out) if (Path(cfg.out) / "config.json").exists() else None
    if state is not None and state.get("step", 0) >= total:
        log.info("%s already trained (%d steps)", cfg.out, state["step"])
        return state.get("summary", {})
    if state is not None:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(cfg.out, dtype=torch.float32)
    else:
        model = build_model(mcfg, tokenizer, seed=cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=0.01)
    step = 0
    gen = torch.Generator().manual_seed(cfg.seed)
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        gen.set_state(state["data_rng"])
        step = state["step"]

    def lr_at(s: int) -> float:
        if s < cfg.warmup:
            return cfg.lr * (s + 1) / cfg.warmup
        frac = (s - cfg.warmup) / max(1, total - cfg.warmup)
        return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True, desc="pretrain")
    model.train()
    order = length_bucketed_order(docs, cfg.batch_size, gen)
    tokens, t0, loss_ema = 0, time.perf_counter(), None
    while step < total:
        pos = (step % steps_per_epoch) * cfg.batch_size
        if pos == 0 and step > 0:
            order = length_bucketed_order(docs, cfg.batch_size, gen)
        batch = [docs[i] for i in order[pos : pos + cfg.batch_size]]
        ids, mask = encode_batch(tokenizer, batch, mcfg.context)  # (B, T)
        labels = ids.masked_fill(mask == 0, -100)
        if not cfg.loss_on_question:
            # the question (up to and including '=') is context; position q predicts trace token q + 1
            for i, doc in enumerate(batch):
                labels[i, : doc.index("=") + 2] = -100
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += int(mask.sum())
        loss_ema = loss.item() if loss_ema is None else 0.98 * loss_ema + 0.02 * loss.item()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_ema:.3f}", tok_s=f"{tokens / (time.perf_counter() - t0):.0f}")
        if step % cfg.save_every == 0 or step == total:
            summary = {"step": step, "loss": loss_ema, "tokens_per_s": tokens / (time.perf_counter() - t0)}
            save_checkpoint(
                cfg.out, model, tokenizer,
                {"step": step, "optimizer": opt.state_dict(), "rng": rng_state(), "data_rng": gen.get_state(), "summary": summary},
                {"pretrain": dataclasses.asdict(cfg) | {"out": str(cfg.out)}, **summary},
            )
    if bar is not None:
        bar.close()
    return {"step": step, "loss": loss_ema}
