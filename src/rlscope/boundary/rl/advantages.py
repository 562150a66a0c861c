"""Advantage estimators as pure functions (torch), registered by name.

Shapes: ``P`` prompts, ``G`` samples per prompt (a group), ``N = P * G`` sequences,
``T`` completion tokens. Sequence-level estimators return (P, G); token-level ones (N, T).
"""

from __future__ import annotations

import torch


def grpo_advantages(rewards: torch.Tensor, scale_by_std: bool = True, eps: float = 1e-6) -> torch.Tensor:
    """GRPO (Shao et al. 2024, arXiv:2402.03300): ``(r - mean_group) / (std_group + eps)``.

    ``scale_by_std=False`` is Dr.GRPO (Liu et al. 2025, arXiv:2503.20783), which drops the std
    division that up-weights too-easy and too-hard groups.

    rewards : (P, G) -> (P, G)
    """
    centered = rewards - rewards.mean(dim=1, keepdim=True)
    if not scale_by_std:
        return centered
    std = rewards.std(dim=1, keepdim=True, unbiased=True) if rewards.shape[1] > 1 else torch.zeros_like(rewards[:, :1])
    return centered / (std + eps)


def rloo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """RLOO (Ahmadian et al. 2024, arXiv:2402.14740): ``r_i - mean_{j != i} r_j``.

    rewards : (P, G) with G >= 2 -> (P, G)
    """
    G = rewards.shape[1]
    if G < 2:
        raise ValueError("RLOO needs at least 2 samples per prompt")
    loo_mean = (rewards.sum(dim=1, keepdim=True) - rewards) / (G - 1)
    return rewards - loo_mean


def remax_advantages(rewards: torch.Tensor, greedy_rewards: torch.Tensor) -> torch.Tensor:
    """ReMax (Li et al. 2023, arXiv:2310.10505): the reward of the greedy answer is the baseline.

    rewards : (P, G), greedy_rewards : (P,) -> (P, G)
    """
    return rewards - greedy_rewards.unsqueeze(1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """Normalize over the valid entries of a batch: (N, T) -> (N, T), zero where mask is 0."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out * mask


def token_rewards(seq_rewards: torch.Tensor, mask: torch.Tensor, kl: torch.Tensor | None = None, kl_coef: float = 0.0) -> torch.Tensor:
    """Per-token rewards: the sequence reward on its last valid token, minus ``kl_coef * kl`` on every token.

    seq_rewards : (N,), mask : (N, T), kl : (N, T) or None -> (N, T)
    """
    out = torch.zeros_like(mask, dtype=seq_rewards.dtype)
    last = (mask.sum(dim=1) - 1).clamp(min=0).long()  # (N,)
    out[torch.arange(mask.shape[0], device=mask.device), last] = seq_rewards
    if kl is not None and kl_coef:
        out = out - kl_coef * kl
    return out * mask


def discounted_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """``G_t = r_t + gamma * G_{t+1}`` over valid tokens: (N, T) -> (N, T)."""
    out = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0], dtype=rewards.dtype, device=rewards.device)
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running * mask[:, t]
        out[:, t] = running
    return out * mask


def reinforce_pp_advantages(
    seq_rewards: torch.Tensor, mask: torch.Tensor, kl: torch.Tensor | None = None, kl_coef: float = 0.0, gamma: float = 1.0
) -> torch.Tensor:
    """REINFORCE++ (Hu 2025, arXiv:2501.03262): token rewards with a per-token KL penalty,
    discounted returns, whitened across the whole batch (no critic, no group baseline).

    seq_rewards : (N,), mask : (N, T) -> (N, T)
    """
    returns = discounted_returns(token_rewards(seq_rewards, mask, kl, kl_coef), mask, gamma)
    return whiten(returns, mask)


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95):
    """Generalized advantage estimation (Schulman et al. 2015, arXiv:1506.02438).

    ``delta_t = r_t + gamma V_{t+1} - V_t``; ``A_t = delta_t + gamma lam A_{t+1}``; the value after
    the last valid token is 0. rewards, values, mask : (N, T) -> advantages (N, T), returns (N, T)
    """
    N, T = rewards.shape
    adv = torch.zeros_like(rewards)
    next_value = torch.zeros(N, dtype=rewards.dtype, device=rewards.device)
    next_adv = torch.zeros(N, dtype=rewards.dtype, device=rewards.device)
    for t in range(T - 1, -1, -1):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        a = delta + gamma * lam * next_adv
        adv[:, t] = a * m
        next_value = torch.where(m > 0, values[:, t], next_value)
        next_adv = torch.where(m > 0, a, next_adv)
    returns = (adv + values) * mask
    return adv, returns


def broadcast_to_tokens(seq_adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A sequence-level advantage on every token of its sequence: (N,) , (N, T) -> (N, T)."""
    return seq_adv.unsqueeze(1) * mask
