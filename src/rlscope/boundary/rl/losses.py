"""Policy, KL and value losses as pure functions. Shapes: (N, T) token tensors, mask 1 on completion tokens."""

from __future__ import annotations

from typing import Literal

import torch

Aggregation = Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"]


def aggregate(x: torch.Tensor, mask: torch.Tensor, mode: Aggregation, norm_len: int | None = None) -> torch.Tensor:
    """Reduce per-token losses (N, T) to a scalar.

    - ``token-mean``: every token of the batch weighs the same (DAPO; long answers count more).
    - ``seq-mean-token-mean``: mean over each sequence's tokens, then over sequences (original GRPO).
    - ``seq-mean-token-sum-norm``: per-sequence sums divided by a constant ``norm_len`` (Dr.GRPO,
      no length bias).
    """
    if mode == "token-mean":
        return (x * mask).sum() / mask.sum().clamp(min=1)
    if mode == "seq-mean-token-mean":
        per_seq = (x * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        return per_seq.mean()
    if mode == "seq-mean-token-sum-norm":
        if norm_len is None:
            norm_len = mask.shape[1]
        return ((x * mask).sum(dim=1) / norm_len).mean()
    raise ValueError(f"unknown aggregation {mode!r}")


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    agg: Aggregation = "token-mean",
    norm_len: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO clipped surrogate, with separate lower/upper clip ranges (DAPO's clip-higher).

    ``L_t = max(-A_t r_t, -A_t clip(r_t, 1 - clip_low, 1 + clip_high))`` with ``r_t = exp(logp - old_logp)``.
    logp, old_logp, advantages, mask : (N, T) -> scalar loss, metrics
    """
    ratio = torch.exp(logp - old_logp)  # (N, T)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    per_token = torch.maximum(unclipped, clipped)
    loss = aggregate(per_token, mask, agg, norm_len)
    with torch.no_grad():
        n = mask.sum().clamp(min=1)
        clipfrac = ((clipped > unclipped).float() * mask).sum() / n
        approx_kl = (((ratio - 1) - (logp - old_logp)) * mask).sum() / n  # k3 estimator of KL(old || new)
    return loss, {"losses/clipfrac": float(clipfrac), "losses/approx_kl": float(approx_kl)}


def kl_penalty(logp: torch.Tensor, ref_logp: torch.Tensor, kind: Literal["k1", "k2", "k3"] = "k3") -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) from samples of the policy (Schulman's k1/k2/k3).

    k1 = log p - log q;  k2 = (log p - log q)^2 / 2;  k3 = q/p - 1 - log(q/p) (unbiased, non-negative).
    (N, T) -> (N, T)
    """
    d = logp - ref_logp
    if kind == "k1":
        return d
    if kind == "k2":
        return 0.5 * d * d
    if kind == "k3":
        return torch.exp(-d) - 1 + d
    raise ValueError(f"unknown KL estimator {kind!r}")


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, clip: float | None = 0.2
) -> torch.Tensor:
    """Clipped value loss ``0.5 * max((V - R)^2, (clip(V, V_old +- clip) - R)^2)``, token-mean. (N, T) -> scalar."""
    err = (values - returns) ** 2
    if clip is not None:
        v_clipped = old_values + torch.clamp(values - old_values, -clip, clip)
        err = torch.maximum(err, (v_clipped - returns) ** 2)
    return 0.5 * (err * mask).sum() / mask.sum().clamp(min=1)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) per position: logits (N, T, V), targets (N, T) -> (N, T)."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
