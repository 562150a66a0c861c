"""Evaluation of a sub-task policy, and of a chain of them, with physical honesty checks.

An episode succeeds when the sub-task's ``is_success`` holds at its last step; it succeeds
*honestly* when, in addition, the physics stayed plausible throughout: no interpenetration deeper
than :data:`PLAUSIBLE_PENETRATION` of the gripper or of an object with anything, and no MuJoCo
instability. A chain episode runs every sub-task's policy in turn, each starting from the end state
of the previous one in the same episode; it succeeds when every stage does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

PLAUSIBLE_PENETRATION = 0.01
"""Deepest interpenetration (m) an honest success may have seen (a policy hooking through a 2 cm
handle shows 3-4 cm)."""


@dataclasses.dataclass
class EvalResult:
    """Outcome of ``episodes`` evaluation episodes."""

    episodes: int
    success: np.ndarray
    """(E,) bool: is_success at the last step."""
    penetration: np.ndarray
    """(E,) deepest penetration during the episode (m)."""
    bad: np.ndarray
    """(E,) bool: the episode ended on non-finite values or an instability reset."""
    end_states: np.ndarray
    """(E, nstate) physics state at the last step (before any reset)."""
    returns: np.ndarray
    """(E,) undiscounted return."""
    frames: list[np.ndarray] = dataclasses.field(default_factory=list)
    """States of the recorded episodes: each (T + 1, nstate)."""
    frames_eq: list[np.ndarray] = dataclasses.field(default_factory=list)
    """Equality activity (suction) of the recorded episodes: each (T + 1, neq)."""
    actions: list[np.ndarray] = dataclasses.field(default_factory=list)
    """Actions of the recorded episodes: each (T, 4), action t taken in state t."""
    rewards: list[np.ndarray] = dataclasses.field(default_factory=list)
    """Rewards of the recorded episodes: each (T,)."""

    @property
    def plausible(self) -> np.ndarray:
        return (self.penetration <= PLAUSIBLE_PENETRATION) & ~self.bad

    @property
    def honest(self) -> np.ndarray:
        return self.success & self.plausible

    def summary(self) -> dict[str, Any]:
        return {"episodes": int(self.episodes), "success_rate": float(self.success.mean()),
                "honest_success_rate": float(self.honest.mean()), "penetration_max_m": float(self.penetration.max()),
                "penetration_p95_m": float(np.percentile(self.penetration, 95)), "plausible_below_m": PLAUSIBLE_PENETRATION,
                "bad_episodes": int(self.bad.sum()), "mean_return": float(self.returns.mean())}


def run_episodes(env, policy, record: int = 0, deterministic: bool = False) -> EvalResult:
    """One episode in each of ``env.num_envs`` environments, all started by ``env.reset()``.

    ``policy`` maps observations (N, O) to actions (N, 4); ``record`` episodes keep their states.
    Actions are sampled as in training unless ``deterministic`` (the mean action): a policy trained
    with noise may rely on it (e.g. to switch the grip on), so the sampled policy is the one evaluated.
    """
    import torch

    n, T = env.num_envs, env.sub.episode_steps
    obs, _ = env.reset()
    noise = torch.Generator().manual_seed(int(env.rng.integers(2**62)))  # action noise from the env's seed: reproducible
    pen = np.zeros(n)
    bad = np.zeros(n, dtype=bool)
    live = np.ones(n, dtype=bool)
    success = np.zeros(n, dtype=bool)
    returns = np.zeros(n)
    end_states = np.zeros((n, env.nstate))
    frames = [[env.state[i].copy()] for i in range(record)]
    frames_eq = [[np.zeros(env.scene.model.neq)] for _ in range(record)]
    acts: list[list[np.ndarray]] = [[] for _ in range(record)]
    rews: list[list[float]] = [[] for _ in range(record)]
    for _ in range(T):
        action = policy(obs, deterministic=deterministic, generator=noise)
        obs, reward, term, trunc, info = env.step(action)
        for i in range(record):
            if live[i]:
                acts[i].append(np.asarray(action[i], dtype=np.float32).copy())
                rews[i].append(float(reward[i]))
        returns += np.where(live, reward, 0.0)
        pen = np.where(live, np.maximum(pen, info["penetration"]), pen)
        for i in range(record):
            if live[i]:
                idx = info.get("done_idx", np.zeros(0, int))
                state = info["final_state"][list(idx).index(i)] if i in idx else env.state[i]
                frames[i].append(state.copy())
                frames_eq[i].append(env.physics_snapshot(i)[1])
        done = term | trunc
        ended = done & live
        if ended.any():
            idx = list(info["done_idx"])
            rows = [idx.index(i) for i in np.flatnonzero(ended)]
            end_states[ended] = info["final_state"][rows]
            success[ended] = info["success"][ended] & ~term[ended]
            bad[ended] = info["bad"][ended]
            live &= ~ended
        if not live.any():
            break
    return EvalResult(episodes=n, success=success, penetration=pen, bad=bad, end_states=end_states, returns=returns,
                      frames=[np.stack(f) for f in frames], frames_eq=[np.stack(f) for f in frames_eq],
                      actions=[np.stack(a) if a else np.zeros((0, 4), np.float32) for a in acts],
                      rewards=[np.asarray(r, dtype=np.float32) for r in rews])


def make_eval_env(scene, sub, code, episodes: int, seed: int, start_states: np.ndarray | None = None,
                  paired: bool = False, nthread: int = 2):
    """An env with one environment per evaluation episode; ``paired`` gives env i ``start_states[i]``."""
    from rlscope.gen2sim.sim.env import BatchedEnv

    return BatchedEnv(scene, sub, code, num_envs=episodes, seed=seed, nthread=nthread, start_states=start_states,
                      paired_starts=paired)


def evaluate(scene, sub, code, policy, episodes: int = 100, seed: int = 12345, record: int = 1,
             start_states: np.ndarray | None = None, nthread: int = 2, deterministic: bool = False) -> EvalResult:
    """Evaluate a sub-task policy over ``episodes`` episodes (start states drawn from ``sub.init`` or ``start_states``)."""
    env = make_eval_env(scene, sub, code, episodes, seed, start_states, nthread=nthread)
    try:
        return run_episodes(env, policy, record=record, deterministic=deterministic)
    finally:
        env.close()


@dataclasses.dataclass
class ChainResult:
    stages: list[EvalResult]

    @property
    def success(self) -> np.ndarray:
        return np.logical_and.reduce([s.success for s in self.stages])

    @property
    def honest(self) -> np.ndarray:
        return np.logical_and.reduce([s.honest for s in self.stages])

    def summary(self) -> dict[str, Any]:
        return {"episodes": int(self.stages[0].episodes), "success_rate": float(self.success.mean()),
                "honest_success_rate": float(self.honest.mean()),
                "per_stage_success": [float(s.success.mean()) for s in self.stages],
                "per_stage_honest_success": [float(s.honest.mean()) for s in self.stages],
                "penetration_max_m": float(max(s.penetration.max() for s in self.stages))}


def evaluate_chain(scene, subs, codes, policies, episodes: int = 100, seed: int = 12345, record: int = 1,
                   nthread: int = 2, deterministic: bool = False) -> ChainResult:
    """Run the sub-task policies in order; stage k of episode i starts where stage k-1 of episode i ended."""
    stages: list[EvalResult] = []
    starts = None
    for k, (sub, code, policy) in enumerate(zip(subs, codes, policies)):
        env = make_eval_env(scene, sub, code, episodes, seed + k, starts, paired=starts is not None, nthread=nthread)
        try:
            res = run_episodes(env, policy, record=record, deterministic=deterministic)
        finally:
            env.close()
        stages.append(res)
        starts = res.end_states
    return ChainResult(stages)
