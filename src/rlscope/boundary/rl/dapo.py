"""DAPO: clip-higher, dynamic sampling, token-level loss. Details: docs/algorithms/dapo.md."""

from rlscope.boundary.rl.advantages import broadcast_to_tokens, grpo_advantages
from rlscope.boundary.rl.algorithms import ALGORITHMS, Algorithm


def _dapo(rollout, cfg):
    adv = grpo_advantages(rollout.group_rewards(), scale_by_std=True)
    return broadcast_to_tokens(adv.reshape(-1), rollout.mask)


ALGORITHMS.add(
    "dapo",
    Algorithm(
        "dapo", _dapo, aggregation="token-mean", clip_high=0.28, dynamic_sampling=True, paper="arXiv:2503.14476"
    ),
)
