"""Stable-Baselines3 on a :class:`~rlscope.gen2sim.sim.env.BatchedEnv`: the same scene, physics settings
and batched stepping, behind SB3's ``VecEnv`` interface (a baseline to compare our PPO against).

Importing this module imports ``stable_baselines3`` (not a dependency of rlscope; install it to use
this module).

    env = BatchedEnv(scene, sub, compile_code(sub), num_envs=32)
    result = train_sb3(env, 100_000, n_steps=64, batch_size=512, epochs=5, lr=1e-3, gamma=0.98, gae_lambda=0.95)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

_ATTR_DEFAULTS: dict[str, Any] = {"render_mode": None}
"""Attributes SB3 asks every environment for that a BatchedEnv does not have."""


class SB3VecEnv(VecEnv):
    """A BatchedEnv seen as an SB3 ``VecEnv``.

    One step of the wrapped env steps all N copies together; SB3's conventions are applied on top:
    ``dones = terminated | truncated``; ``infos[i]`` holds ``"TimeLimit.truncated"`` and
    ``"is_success"``, and for an env whose episode ended, ``"terminal_observation"`` (its last
    observation; the returned one is already the first of the next episode, as SB3 expects).

    The N copies share one BatchedEnv, so ``get_attr``/``set_attr``/``env_method`` act on it once and
    ``get_attr``/``env_method`` repeat its answer for every index asked about.
    """

    def __init__(self, env: Any):
        self.env = env
        self._actions: np.ndarray | None = None
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)

    # -- stepping -----------------------------------------------------------------------------
    def reset(self) -> np.ndarray:
        seed = self._seeds[0]
        obs, _ = self.env.reset(seed=seed)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, reward, terminated, truncated, info = self.env.step(self._actions)
        dones = terminated | truncated
        success = info["success"]
        infos: list[dict[str, Any]] = [{"TimeLimit.truncated": bool(truncated[i]), "is_success": bool(success[i])}
                                       for i in range(self.num_envs)]
        if dones.any():
            final = info["final_obs"]
            for i in np.flatnonzero(dones):
                infos[i]["terminal_observation"] = final[i].astype(np.float32, copy=True)
        return obs, np.asarray(reward, dtype=np.float32), dones, infos

    def close(self) -> None:
        self.env.close()

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """The batch has one random stream: ``seed`` seeds it at the next reset (the per-env list SB3
        returns is ``seed + i``, only the first is used)."""
        return super().seed(seed)

    # -- attribute access (one shared env) ----------------------------------------------------
    def _count(self, indices: Any) -> int:
        return len(list(self._get_indices(indices)))

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        if hasattr(self.env, attr_name):
            value = getattr(self.env, attr_name)
        elif attr_name in _ATTR_DEFAULTS:
            value = _ATTR_DEFAULTS[attr_name]
        else:
            raise AttributeError(f"{type(self.env).__name__} has no attribute {attr_name!r}")
        return [value] * self._count(indices)

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: Any = None, **method_kwargs) -> list[Any]:
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return [result] * self._count(indices)

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * self._count(indices)


class SingleCopyEnv(gym.Env):
    """One scene copy as a plain ``gymnasium.Env`` (a BatchedEnv of one environment, physics on the calling
    thread): the way Stable-Baselines3 is usually fed, one Python env object per copy in a ``DummyVecEnv``.

    The BatchedEnv resets itself when an episode ends; the next ``reset()`` hands out that observation
    instead of resetting twice.
    """

    def __init__(self, make_env: Any):
        self.env = make_env()
        self.observation_space = self.env.single_observation_space
        self.action_space = self.env.single_action_space
        self._next: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if self._next is not None and seed is None:
            obs, self._next = self._next, None
            return obs, {}
        obs, _ = self.env.reset(seed=seed)
        return obs[0], {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, rew, term, trunc, info = self.env.step(np.asarray(action)[None])
        out = {"is_success": bool(info["success"][0])}
        if term[0] or trunc[0]:
            self._next = obs[0]
            return info["final_obs"][0], float(rew[0]), bool(term[0]), bool(trunc[0]), out
        return obs[0], float(rew[0]), False, False, out

    def close(self) -> None:
        self.env.close()


def standard_vec_env(make_env: Any, n: int) -> Any:
    """``DummyVecEnv`` of ``n`` :class:`SingleCopyEnv`, each built by ``make_env()`` (a BatchedEnv of 1)."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    return DummyVecEnv([lambda: SingleCopyEnv(make_env) for _ in range(n)])


def train_sb3(env: Any, total_steps: int, *, n_steps: int, batch_size: int, epochs: int, lr: float, gamma: float,
              gae_lambda: float, hidden: int = 64, seed: int = 0, clip: float = 0.2, clip_value: bool = True,
              ent_coef: float = 0.0, vf_coef: float = 0.5, max_grad_norm: float = 0.5, init_log_std: float = -0.5,
              anneal_lr: bool = True, torch_threads: int = 1) -> dict[str, float]:
    """Train SB3's PPO on ``env`` (a BatchedEnv, seen through :class:`SB3VecEnv`, or any SB3 ``VecEnv`` such
    as :func:`standard_vec_env`) wrapped in ``VecNormalize``.

    The defaults of the keyword arguments after ``seed`` are those of
    :class:`rlscope.gen2sim.rl.ppo.PPOConfig` (tanh MLPs of two ``hidden`` layers for actor and critic,
    log std -0.5, value clipping, learning rate annealed linearly to 0, as ours does).

    SB3 trains whole rollouts: it runs ``ceil(total_steps / (n_steps * num_envs))`` of them.
    Returns ``{"steps", "seconds", "steps_per_s", "success_rate"}``: ``seconds`` covers ``learn``
    (reset included, model construction not); ``success_rate`` is over the episodes that ended in
    the last 10% of the rollouts (at least one), NaN if none ended there. ``env`` is left open.
    """
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(torch_threads)
    base = env if isinstance(env, VecEnv) else SB3VecEnv(env)
    venv = VecNormalize(base, norm_obs=True, norm_reward=True, gamma=gamma)
    batch = n_steps * base.num_envs
    n_rollouts = max(1, math.ceil(total_steps / batch))
    window_start = (n_rollouts - max(1, round(0.1 * n_rollouts))) * batch

    class _Success(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.ended: list[bool] = []

        def _on_step(self) -> bool:
            if self.num_timesteps > window_start:
                dones = self.locals["dones"]
                if dones.any():
                    infos = self.locals["infos"]
                    self.ended += [bool(infos[i]["is_success"]) for i in np.flatnonzero(dones)]
            return True

    learning_rate: Any = (lambda remaining: remaining * lr) if anneal_lr else lr
    model = PPO("MlpPolicy", venv, learning_rate=learning_rate, n_steps=n_steps, batch_size=batch_size, n_epochs=epochs,
                gamma=gamma, gae_lambda=gae_lambda, clip_range=clip, clip_range_vf=clip if clip_value else None,
                ent_coef=ent_coef, vf_coef=vf_coef, max_grad_norm=max_grad_norm,
                policy_kwargs={"net_arch": {"pi": [hidden, hidden], "vf": [hidden, hidden]}, "activation_fn": torch.nn.Tanh,
                               "log_std_init": init_log_std},
                seed=seed, device="cpu", verbose=0)
    callback = _Success()
    t0 = time.perf_counter()
    model.learn(total_timesteps=total_steps, callback=callback)
    seconds = time.perf_counter() - t0
    steps = int(model.num_timesteps)
    return {"steps": steps, "seconds": seconds, "steps_per_s": steps / max(seconds, 1e-9),
            "success_rate": float(np.mean(callback.ended)) if callback.ended else float("nan")}
