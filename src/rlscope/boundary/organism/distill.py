"""Distillation: supervised fine-tuning of the base on a stronger teacher's verified traces.

The teacher answers training problems (one sample each); answers the verifier accepts become
the SFT set; the base is fine-tuned on them with the loss on completion tokens only.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from pathlib import Path

from rlscope.checkpoint import save_checkpoint

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """`rlscope boundary organism distill`: SFT of a student on a teacher's verified answers."""

    student: str
    """Model to fine-tune (the base)."""
    teacher: str
    """Model whose answers are imitated."""
    out: Path
    """Output model folder."""
    problems: int = 4096
    """Training problems the teacher answers."""
    steps: int = 150
    """Optimizer steps."""
    batch_size: int = 64
    """Sequences per step."""
    lr: float = 3e-4
    """Learning rate (AdamW, cosine decay)."""
    temperature: float = 1.0
    """Teacher sampling temperature."""
    min_ops: int = 2
    """Fewest operations per problem."""
    max_ops: int = 6
    """Most operations per problem."""
    division: bool = True
    """Training problems may use division (which the shipped teacher knows and the base does not)."""
    seed: int = 0
    """Seed."""
    threads: int = 1
    """Torch threads."""


def distill(cfg: DistillConfig) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlscope.boundary.organism.task import MAX_TRACE_TOKENS, sample_problems, to_problem
    from rlscope.boundary.verify.math import MathVerifier
    from rlscope.llm.base import SampleRequest, SamplingParams, sample_seed
    from rlscope.llm.hf import HFSampler

    torch.set_num_threads(cfg.threads)
    problems = [to_problem(p) for p in sample_problems(cfg.problems, "train", cfg.seed + 2000, cfg.min_ops, cfg.max_ops,
                                                division=cfg.division)]
    teacher = HFSampler(cfg.teacher, batch_size=256, threads=cfg.threads)
    comps = teacher.generate(
        [SampleRequest(p.question, sample_seed(cfg.seed, p.problem_id, 0)) for p in problems],
        SamplingParams(temperature=cfg.temperature, top_p=1.0, max_new_tokens=MAX_TRACE_TOKENS),
    )
    with MathVerifier(workers=1) as verifier:
        verdicts = verifier.verify([(p, c.text) for p, c in zip(problems, comps)])
    data = [(p.question, c.text) for p, c, v in zip(problems, comps, verdicts) if v.correct]
    log.info("teacher solved %d/%d training problems; fine-tuning on those", len(data), len(problems))
    tokenizer = AutoTokenizer.from_pretrained(cfg.student)
    model = AutoModelForCausalLM.from_pretrained(cfg.student, dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    rng = random.Random(cfg.seed)
    eos = tokenizer.eos_token_id
    loss_val = float("nan")
    for step in range(cfg.steps):
        batch = [data[rng.randrange(len(data))] for _ in range(cfg.batch_size)]
        rows, starts = [], []
        for q, a in batch:
            q_ids = tokenizer(q, add_special_tokens=True)["input_ids"]
            a_ids = tokenizer(a, add_special_tokens=False)["input_ids"] + [eos]
            rows.append(q_ids + a_ids)
            starts.append(len(q_ids))
        L = max(len(r) for r in rows)
        ids = torch.full((len(rows), L), tokenizer.pad_token_id, dtype=torch.long)  # (B, L)
        labels = torch.full_like(ids, -100)
        attn = torch.zeros_like(ids)
        for i, (r, s) in enumerate(zip(rows, starts)):
            ids[i, : len(r)] = torch.tensor(r)
            attn[i, : len(r)] = 1
            labels[i, s : len(r)] = ids[i, s : len(r)]  # loss on the answer only
        for g in opt.param_groups:
            g["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        loss = model(input_ids=ids, attention_mask=attn, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_val = loss.item()
    save_checkpoint(cfg.out, model, tokenizer, meta={"distill": dataclasses.asdict(cfg) | {"out": str(cfg.out)}, "sft_examples": len(data)})
    return {"sft_examples": len(data), "teacher_accuracy": len(data) / len(problems), "final_loss": loss_val}
