"""What distinguishes the RL algorithms: an advantage estimator plus a few loss settings.

Each algorithm lives in its own small module (grpo.py, ppo.py, ...) that registers an
:class:`Algorithm`; the trainer loop (trainer.py) is shared by all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from rlscope.boundary.rl.losses import Aggregation
from rlscope.registry import Registry

if TYPE_CHECKING:
    from rlscope.boundary.rl.trainer import RLConfig, Rollout


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """An RL algorithm as the shared trainer sees it."""

    name: str
    advantages: Callable[[Rollout, RLConfig], torch.Tensor]
    """(rollout, config) -> token advantages (N, T)."""
    aggregation: Aggregation = "seq-mean-token-mean"
    """How per-token losses are reduced."""
    clip_high: float | None = None
    """Upper clip range (None: same as the lower one)."""
    kl_in_loss: bool = True
    """KL to the reference as a loss term (GRPO family) rather than a per-token reward penalty (PPO, REINFORCE++)."""
    needs_greedy: bool = False
    """ReMax: also decode one greedy answer per prompt as the baseline."""
    needs_critic: bool = False
    """PPO: train a value model and use GAE."""
    dynamic_sampling: bool = False
    """DAPO: drop groups whose rewards are all equal and sample more prompts to fill the batch."""
    paper: str = ""


ALGORITHMS: Registry[Algorithm] = Registry("RL algorithm")


def get_algorithm(name: str) -> Algorithm:
    # importing the modules registers the built-in algorithms
    from rlscope.boundary.rl import dapo, grpo, ppo, reinforce_pp, remax, rloo  # noqa: F401

    return ALGORITHMS.get(name)
