"""RLOO: leave-one-out baseline. Details: docs/algorithms/rloo.md."""

from rlscope.boundary.rl.advantages import broadcast_to_tokens, rloo_advantages
from rlscope.boundary.rl.algorithms import ALGORITHMS, Algorithm


def _rloo(rollout, cfg):
    return broadcast_to_tokens(rloo_advantages(rollout.group_rewards()).reshape(-1), rollout.mask)


ALGORITHMS.add("rloo", Algorithm("rloo", _rloo, aggregation="seq-mean-token-mean", paper="arXiv:2402.14740"))
