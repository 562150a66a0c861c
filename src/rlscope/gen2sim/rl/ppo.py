"""PPO for batched environments (CleanRL-style, importable): GAE and losses are pure functions;
normalizers and the actor-critic are small modules. Shapes use T = rollout steps, N = environments.

References: Schulman et al. 2017 (arXiv:1707.06347); GAE, Schulman et al. 2015 (arXiv:1506.02438);
the implementation details of Huang et al. 2022 ("The 37 Implementation Details of PPO").
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from rlscope.gen2sim.rl.ppo_config import PPOConfig, with_task_settings  # noqa: F401 - re-exported


_LOG_2PI = math.log(2.0 * math.pi)


# -- pure functions -----------------------------------------------------------------------------
def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, next_value: torch.Tensor,
        gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over a batch of environments.

    ``dones[t]`` marks that the episode ended after step t (its reward already includes any
    time-limit bootstrap), so nothing flows back across it.
    rewards, values, dones : (T, N); next_value : (N,) -> advantages (T, N), returns (T, N)
    """
    T = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in range(T - 1, -1, -1):
        nv = next_value if t == T - 1 else values[t + 1]
        live = 1.0 - dones[t]
        delta = rewards[t] + gamma * nv * live - values[t]
        last = delta + gamma * lam * live * last
        adv[t] = last
    return adv, adv + values


def clipped_policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, clip: float) -> torch.Tensor:
    """PPO's clipped surrogate, to minimise. (B,), (B,), (B,) -> scalar."""
    ratio = torch.exp(logp - old_logp)
    return torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip, 1 + clip)).mean()


def value_loss(v: torch.Tensor, old_v: torch.Tensor, returns: torch.Tensor, clip: float | None) -> torch.Tensor:
    """Half squared error, optionally clipped around the old values. (B,) x3 -> scalar."""
    err = (v - returns) ** 2
    if clip is not None:
        err = torch.max(err, (old_v + (v - old_v).clamp(-clip, clip) - returns) ** 2)
    return 0.5 * err.mean()


def gaussian_logp(actions: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Log-density of a diagonal Gaussian, summed over action dimensions. (B, A), (B, A), (A,) -> (B,)."""
    z = (actions - mean) * torch.exp(-log_std)
    return -0.5 * z.square().sum(-1) - log_std.sum() - 0.5 * actions.shape[-1] * _LOG_2PI


def approx_kl(logp: torch.Tensor, old_logp: torch.Tensor) -> torch.Tensor:
    """The low-variance estimator E[(r - 1) - log r] of KL(old || new). (B,), (B,) -> scalar."""
    log_ratio = logp - old_logp
    return ((log_ratio.exp() - 1) - log_ratio).mean()


# -- normalizers ----------------------------------------------------------------------------------
class RunningMeanStd:
    """Running mean and variance (Chan et al. parallel update), float64."""

    def __init__(self, shape: tuple[int, ...] = ()):
        self.mean = np.zeros(shape)
        self.var = np.ones(shape)
        self.count = 1e-4

    def update(self, x: np.ndarray) -> None:
        """x : (B, *shape)."""
        b_mean, b_var, b = x.mean(axis=0), x.var(axis=0), x.shape[0]
        delta = b_mean - self.mean
        tot = self.count + b
        self.mean = self.mean + delta * b / tot
        self.var = (self.var * self.count + b_var * b + delta ** 2 * self.count * b / tot) / tot
        self.count = tot

    def normalize(self, x: np.ndarray, clip: float = 10.0) -> np.ndarray:
        return np.clip((x - self.mean) / np.sqrt(self.var + 1e-8), -clip, clip)

    def state_dict(self) -> dict:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": self.count}

    def load_state_dict(self, d: dict) -> None:
        self.mean, self.var, self.count = np.asarray(d["mean"]), np.asarray(d["var"]), float(d["count"])


class RewardScaler:
    """Divides rewards by the running std of the discounted return (as VecNormalize does)."""

    def __init__(self, num_envs: int, gamma: float):
        self.gamma = gamma
        self.ret = np.zeros(num_envs)
        self.rms = RunningMeanStd()

    def __call__(self, reward: np.ndarray, done: np.ndarray, envs: slice = slice(None)) -> np.ndarray:
        """reward, done : (n,) of the environments ``envs`` -> scaled reward (n,)."""
        ret = self.ret[envs] * self.gamma + reward
        self.rms.update(ret)
        self.ret[envs] = np.where(done, 0.0, ret)
        return np.clip(reward / np.sqrt(self.rms.var + 1e-8), -10.0, 10.0)

    def state_dict(self) -> dict:
        return {"ret": self.ret.copy(), "rms": self.rms.state_dict()}

    def load_state_dict(self, d: dict) -> None:
        self.ret = np.asarray(d["ret"])
        self.rms.load_state_dict(d["rms"])


# -- networks -------------------------------------------------------------------------------------
def _layer(i: int, o: int, std: float = math.sqrt(2)) -> nn.Linear:
    layer = nn.Linear(i, o)
    nn.init.orthogonal_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer


class ActorCritic(nn.Module):
    """Separate tanh MLPs for the Gaussian policy mean and the value; a state-independent log std."""

    def __init__(self, obs_size: int, act_size: int, hidden: int = 64, init_log_std: float = -0.5):
        super().__init__()
        self.critic = nn.Sequential(_layer(obs_size, hidden), nn.Tanh(), _layer(hidden, hidden), nn.Tanh(), _layer(hidden, 1, 1.0))
        self.actor = nn.Sequential(_layer(obs_size, hidden), nn.Tanh(), _layer(hidden, hidden), nn.Tanh(),
                                   _layer(hidden, act_size, 0.01))
        self.log_std = nn.Parameter(torch.full((act_size,), float(init_log_std)))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, O) -> (B,)."""
        return self.critic(obs).squeeze(-1)

    def dist(self, obs: torch.Tensor) -> torch.distributions.Normal:
        mean = self.actor(obs)  # (B, A)
        return torch.distributions.Normal(mean, self.log_std.exp().expand_as(mean))

    def act(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, O) -> action (B, A), log-prob (B,), value (B,)."""
        d = self.dist(obs)
        a = d.mean if deterministic else d.sample()
        return a, d.log_prob(a).sum(-1), self.value(obs)

    def snapshot(self) -> NumpyActorCritic:
        """A copy of the current weights that acts in NumPy (no autograd, no torch dispatch per step)."""
        return NumpyActorCritic(self)


class NumpyActorCritic:
    """The acting half of an :class:`ActorCritic`, frozen at the weights it was made from.

    Rollouts call it once per step on a few dozen observations, where torch's per-call overhead costs
    more than the arithmetic; it also stays valid while the network it came from is being updated.
    """

    def __init__(self, net: ActorCritic):
        def layers(seq: nn.Sequential) -> list[tuple[np.ndarray, np.ndarray]]:
            return [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in seq if isinstance(m, nn.Linear)]

        self.actor, self.critic = layers(net.actor), layers(net.critic)
        self.log_std = net.log_std.detach().numpy().astype(np.float64).copy()
        self.std = np.exp(self.log_std)
        self._logp0 = -self.log_std.sum() - 0.5 * len(self.log_std) * _LOG_2PI  # log-density at the mean

    @staticmethod
    def _mlp(x: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        for k, (w, b) in enumerate(layers):
            x = x @ w + b
            if k < len(layers) - 1:
                np.tanh(x, out=x)
        return x

    def mean(self, obs: np.ndarray) -> np.ndarray:
        """(B, O) float32 -> the policy's mean action (B, A) float32."""
        return self._mlp(obs, self.actor)

    def value(self, obs: np.ndarray) -> np.ndarray:
        """(B, O) float32 -> (B,) float32."""
        return self._mlp(obs, self.critic)[:, 0]

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(B, O) float32 -> sampled action (B, A) float32, its log-prob (B,), value (B,)."""
        mean = self.mean(obs)
        z = rng.standard_normal(mean.shape)
        action = (mean + z * self.std).astype(np.float32)
        logp = self._logp0 - 0.5 * np.square(z).sum(1)
        return action, logp.astype(np.float32), self.value(obs)


class Policy:
    """What an evaluation or a chain needs: the network and the observation normalizer."""

    def __init__(self, net: ActorCritic, obs_rms: RunningMeanStd | None):
        self.net, self.obs_rms = net, obs_rms

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        return obs if self.obs_rms is None else self.obs_rms.normalize(obs)

    @torch.no_grad()
    def __call__(self, obs: np.ndarray, deterministic: bool = True, generator: torch.Generator | None = None) -> np.ndarray:
        """(N, O) -> actions (N, A): the mean, or sampled with noise from ``generator`` (reproducible; None:
        torch's global stream)."""
        d = self.net.dist(torch.as_tensor(self.normalize(obs), dtype=torch.float32))
        if deterministic:
            return d.mean.numpy()
        return (d.mean + d.stddev * torch.randn(d.mean.shape, generator=generator)).numpy()
