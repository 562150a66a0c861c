"""REINFORCE++: token rewards with KL penalty, batch-whitened returns. Details: docs/algorithms/reinforce_pp.md."""

from rlscope.boundary.rl.advantages import reinforce_pp_advantages
from rlscope.boundary.rl.algorithms import ALGORITHMS, Algorithm


def _reinforce_pp(rollout, cfg):
    return reinforce_pp_advantages(rollout.rewards, rollout.mask, rollout.kl, cfg.kl_coef, cfg.gamma)


ALGORITHMS.add(
    "reinforce_pp",
    Algorithm("reinforce_pp", _reinforce_pp, aggregation="token-mean", kl_in_loss=False, paper="arXiv:2501.03262"),
)
