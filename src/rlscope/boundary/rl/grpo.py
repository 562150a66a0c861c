"""GRPO and Dr.GRPO. Details: docs/algorithms/grpo.md."""

from rlscope.boundary.rl.advantages import broadcast_to_tokens, grpo_advantages
from rlscope.boundary.rl.algorithms import ALGORITHMS, Algorithm


def _grpo(rollout, cfg):
    adv = grpo_advantages(rollout.group_rewards(), scale_by_std=True)  # (P, G)
    return broadcast_to_tokens(adv.reshape(-1), rollout.mask)


def _dr_grpo(rollout, cfg):
    adv = grpo_advantages(rollout.group_rewards(), scale_by_std=False)
    return broadcast_to_tokens(adv.reshape(-1), rollout.mask)


ALGORITHMS.add("grpo", Algorithm("grpo", _grpo, aggregation="seq-mean-token-mean", paper="arXiv:2402.03300"))
ALGORITHMS.add(
    "dr_grpo", Algorithm("dr_grpo", _dr_grpo, aggregation="seq-mean-token-sum-norm", paper="arXiv:2503.20783")
)
