"""PPO with a value model and GAE. Details: docs/algorithms/ppo.md."""

from rlscope.boundary.rl.advantages import gae, token_rewards, whiten
from rlscope.boundary.rl.algorithms import ALGORITHMS, Algorithm


def _ppo(rollout, cfg):
    rewards = token_rewards(rollout.rewards, rollout.mask, rollout.kl, cfg.kl_coef)  # (N, T)
    adv, returns = gae(rewards, rollout.values, rollout.mask, cfg.gamma, cfg.gae_lambda)
    rollout.returns = returns
    return whiten(adv, rollout.mask)


ALGORITHMS.add(
    "ppo", Algorithm("ppo", _ppo, aggregation="token-mean", kl_in_loss=False, needs_critic=True, paper="arXiv:1707.06347")
)
