"""ReMax: the greedy answer's reward as the baseline. Details: docs/algorithms/remax.md."""

from rlscope.boundary.rl.advantages import broadcast_to_tokens, remax_advantages
from rlscope.boundary.rl.algorithms import ALGORITHMS, Algorithm


def _remax(rollout, cfg):
    adv = remax_advantages(rollout.group_rewards(), rollout.greedy_rewards)
    return broadcast_to_tokens(adv.reshape(-1), rollout.mask)


ALGORITHMS.add(
    "remax", Algorithm("remax", _remax, aggregation="seq-mean-token-mean", needs_greedy=True, paper="arXiv:2310.10505")
)
