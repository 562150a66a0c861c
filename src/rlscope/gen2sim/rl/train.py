"""Train one sub-task with PPO: collect -> GAE -> update, top to bottom; atomic checkpoints that
hold the networks, optimizer, normalizers and every random state, so a killed run resumes.

Outputs in ``out_dir``: ``metrics.jsonl`` (one line per update, namespaced keys), ``checkpoint.pt``
(latest), ``best.pt`` (highest training success rate, ties to the later one), ``result.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlscope.checkpoint import truncate_metrics
from rlscope.gen2sim.rl.ppo import (ActorCritic, Policy, PPOConfig, RewardScaler, RunningMeanStd, approx_kl,
                                    clipped_policy_loss, gae, gaussian_logp, value_loss)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One sub-task's training run."""

    total_steps: int = 0
    """Environment steps to train for (0: the sub-task's own ``train_steps``)."""
    seed: int = 0
    """Seeds the environments, the networks and the action noise."""
    nthread: int = 2
    """Physics threads."""
    checkpoint_every: int = 10
    """Updates between checkpoints."""
    shards: int = 2
    """Groups of environments whose physics overlaps the others' Python work (1: one synchronous batch)."""
    progress: bool = True
    """Show a progress bar."""
    ppo: PPOConfig = PPOConfig()


@dataclasses.dataclass
class TrainResult:
    steps: int
    updates: int
    seconds: float
    steps_per_s: float
    best_success: float
    final_success: float
    bad_steps: int


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_policy(path: Path | str) -> Policy:
    """The policy (network + observation normalizer) of a checkpoint."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    net = ActorCritic(ck["obs_size"], 4, ck["ppo"]["hidden"], ck["ppo"]["init_log_std"])
    net.load_state_dict(ck["net"])
    rms = None
    if ck["obs_rms"] is not None:
        rms = RunningMeanStd((ck["obs_size"],))
        rms.load_state_dict(ck["obs_rms"])
    return Policy(net, rms)


def make_envs(scene, sub, code, cfg: TrainConfig, start_states=None) -> list:
    """The training environments: ``cfg.shards`` BatchedEnvs that share ``cfg.ppo.num_envs`` copies.

    With two shards, one shard's physics runs (GIL released) while the other's readings, rewards and
    policy are computed, which keeps both cores busy; one shard steps synchronously on ``nthread`` threads.
    """
    from rlscope.gen2sim.sim.env import BatchedEnv

    n, k = cfg.ppo.num_envs, max(1, cfg.shards)
    if n % k:
        raise ValueError(f"num_envs ({n}) must be a multiple of shards ({k})")
    nthread = cfg.nthread if k == 1 else 1
    return [BatchedEnv(scene, sub, code, num_envs=n // k, seed=cfg.seed + 1000 * i, nthread=nthread,
                       start_states=start_states) for i in range(k)]


@dataclasses.dataclass
class Batch:
    """One rollout, flattened to B = T x N samples (copies of the rollout buffers), ready for the update."""

    obs: torch.Tensor  # (B, O) normalized observations the policy saw
    act: torch.Tensor  # (B, A)
    logp: torch.Tensor  # (B,) log-probabilities under the policy that acted
    val: torch.Tensor  # (B,) its value estimates
    adv: torch.Tensor  # (B,)
    ret: torch.Tensor  # (B,)


def ppo_update(net: ActorCritic, opt: torch.optim.Optimizer, b: Batch, p: PPOConfig, gen: torch.Generator) -> dict[str, float]:
    """PPO epochs over one batch: clipped policy loss, (clipped) value loss, entropy bonus, global grad-norm
    clipping. Returns the mean losses, the approximate KL and the clip fraction."""
    n = b.obs.shape[0]
    mb = n // p.minibatches
    params = list(net.parameters())
    stats = []
    for _ in range(p.epochs):
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n - mb + 1, mb):
            i = perm[s:s + mb]
            x, old_logp = b.obs[i], b.logp[i]
            logp = gaussian_logp(b.act[i], net.actor(x), net.log_std)
            a = b.adv[i]
            a = (a - a.mean()) / (a.std() + 1e-8)
            pl = clipped_policy_loss(logp, old_logp, a, p.clip)
            vl = value_loss(net.value(x), b.val[i], b.ret[i], p.clip if p.clip_value else None)
            loss = pl + p.vf_coef * vl
            if p.ent_coef:  # a diagonal Gaussian's entropy depends on the log std alone
                loss = loss - p.ent_coef * (net.log_std.sum() + 0.5 * net.log_std.numel() * (1.0 + math.log(2 * math.pi)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, p.max_grad_norm, foreach=True)
            opt.step()
            with torch.no_grad():
                log_ratio = logp - old_logp
                stats.append(torch.stack([pl, vl, approx_kl(logp, old_logp),
                                          ((log_ratio.exp() - 1).abs() > p.clip).float().mean()]))
    if not stats:
        return {}
    mean = torch.stack(stats).mean(0).tolist()
    return dict(zip(("losses/policy", "losses/value", "losses/approx_kl", "losses/clipfrac"), mean))


def train(envs, cfg: TrainConfig, out_dir: Path | str) -> TrainResult:
    """Train a policy on ``envs`` (a BatchedEnv or a list of shards, see :func:`make_envs`); resumes from
    ``out_dir/checkpoint.pt`` if present.

    NumPy's BLAS runs on one thread meanwhile: the acting policy's products are small (a shard's
    observations per step), and OpenBLAS's second thread cost CPU in no thread of ours (measured: 256
    environments, 8.8k env-steps/s with its default two threads, 12.9k with one)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _train(envs, cfg, out_dir)


def _train(envs, cfg: TrainConfig, out_dir: Path | str) -> TrainResult:
    envs = list(envs) if isinstance(envs, (list, tuple)) else [envs]
    env0 = envs[0]
    p = cfg.ppo
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(p.torch_threads)
    total = cfg.total_steps or env0.sub.train_steps
    cols = np.cumsum([0] + [e.num_envs for e in envs])
    shard = [slice(int(a), int(b)) for a, b in zip(cols[:-1], cols[1:])]
    N, T, O = int(cols[-1]), p.rollout_steps, env0.obs_size
    batch = N * T
    n_updates = max(1, total // batch)
    torch.manual_seed(cfg.seed)
    net = ActorCritic(O, 4, p.hidden, p.init_log_std)
    opt = torch.optim.Adam(net.parameters(), lr=p.lr, eps=1e-5, foreach=True)
    gen = torch.Generator().manual_seed(cfg.seed)  # minibatch order
    noise = np.random.default_rng([cfg.seed, 7])  # action noise
    obs_rms = RunningMeanStd((O,)) if p.norm_obs else None
    scaler = RewardScaler(N, p.gamma) if p.norm_reward else None
    start_update, best, steps = 0, -1.0, 0
    metrics_path = out / "metrics.jsonl"
    ck_path = out / "checkpoint.pt"
    obs = [e.reset(seed=cfg.seed + 1000 * i)[0] for i, e in enumerate(envs)]
    if obs_rms is not None:
        obs_rms.update(np.concatenate(obs))  # first statistics from the start states
    if ck_path.exists():
        ck = torch.load(ck_path, map_location="cpu", weights_only=False)
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        if obs_rms is not None:
            obs_rms.load_state_dict(ck["obs_rms"])
        if scaler is not None:
            scaler.load_state_dict(ck["reward_scaler"])
        gen.set_state(ck["torch_rng"])
        if "noise_rng" in ck:
            noise.bit_generator.state = ck["noise_rng"]
        for e, state in zip(envs, ck["env_rng"]):
            e.rng.bit_generator.state = state
        obs = [e.reset()[0] for e in envs]  # episodes restart; the random streams continue where they were
        start_update, best, steps = ck["update"], ck["best"], ck["steps"]
        truncate_metrics(metrics_path, "update", start_update)
        log.info("resumed %s at update %d (%d steps)", out, start_update, steps)

    def save(path: Path, update: int) -> None:
        _atomic_save({"net": net.state_dict(), "opt": opt.state_dict(), "obs_rms": obs_rms.state_dict() if obs_rms else None,
                      "reward_scaler": scaler.state_dict() if scaler else None, "torch_rng": gen.get_state(),
                      "noise_rng": noise.bit_generator.state, "env_rng": [e.rng.bit_generator.state for e in envs],
                      "update": update, "best": best, "steps": steps, "obs_size": O, "ppo": dataclasses.asdict(p),
                      "subtask": env0.sub.name}, path)

    if start_update >= n_updates and (out / "result.json").exists():  # finished before: nothing left to do
        return TrainResult(**json.loads((out / "result.json").read_text()))
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_updates * batch, initial=start_update * batch, unit="step", dynamic_ncols=True, desc=env0.sub.name)
    t_start = time.perf_counter()
    steps_at_start = steps
    final_success = 0.0
    ret_acc = np.zeros(N)
    background = len(envs) > 1
    executor = None
    if p.overlap:
        from concurrent.futures import ThreadPoolExecutor

        executor = ThreadPoolExecutor(1, thread_name_prefix="ppo-update")
    actor = net.snapshot()
    pending = None  # (update index, future of its losses, its rollout statistics)

    def finish(update: int, losses: dict[str, float], roll: dict[str, Any]) -> None:
        """After update ``update``: its metrics row, best policy, checkpoint, progress."""
        nonlocal best, steps, final_success
        steps = (update + 1) * batch
        success = roll["success"]
        if roll["episodes"]:
            final_success = success
        elapsed = time.perf_counter() - t_start
        row = {"update": update + 1, "steps": steps, "charts/success_rate": success,
               "charts/episodic_return": roll["return"], "charts/episodes": roll["episodes"],
               "charts/max_penetration": roll["pen_max"],
               "charts/steps_per_s": (steps - steps_at_start) / max(elapsed, 1e-9), "charts/seconds": elapsed,
               "charts/log_std": float(net.log_std.detach().mean()), "charts/bad_steps": sum(e.bad_count for e in envs),
               **losses, **roll["components"]}
        with open(metrics_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if roll["episodes"] and success >= best:
            best = success
            save(out / "best.pt", update + 1)
        if (update + 1) % cfg.checkpoint_every == 0 or update + 1 == n_updates:
            save(ck_path, update + 1)
        if bar is not None:
            bar.update(batch)
            bar.set_postfix(success=f"{success:.2f}", sps=f"{row['charts/steps_per_s']:.0f}")

    b_obs = np.zeros((T, N, O), np.float32)
    b_act = np.zeros((T, N, 4), np.float32)
    b_logp, b_val = np.zeros((T, N), np.float32), np.zeros((T, N), np.float32)
    b_rew, b_done = np.zeros((T, N), np.float32), np.zeros((T, N), np.float32)
    try:
        for update in range(start_update, n_updates):
            ep_success: list[float] = []
            ep_return: list[float] = []
            comp_sums: dict[str, float] = {}
            pen_max = 0.0
            raw_obs: list[np.ndarray] = []
            # shard i acts at step t, then its physics runs while the other shards are served
            for t in range(T + 1):
                for i, e in enumerate(envs):
                    sl = shard[i]
                    if t > 0:  # finish step t - 1 of this shard
                        nobs, reward, term, trunc, info = e.step_wait()
                        done = term | trunc
                        ret_acc[sl] += reward
                        r = reward.astype(np.float64)
                        if trunc.any():  # time limit: bootstrap from the value of the last observation
                            fo = info["final_obs"][trunc]
                            fo = obs_rms.normalize(fo) if obs_rms is not None else fo
                            v = actor.value(fo.astype(np.float32))
                            r[trunc] += p.gamma * v * (1.0 if scaler is None else np.sqrt(scaler.rms.var + 1e-8))
                        if scaler is not None:
                            r = scaler(r, done, sl)
                        b_rew[t - 1, sl] = r
                        b_done[t - 1, sl] = done
                        for k, v in info["components"].items():
                            comp_sums[k] = comp_sums.get(k, 0.0) + float(v.mean()) * e.num_envs / N
                        pen_max = max(pen_max, float(info["penetration"].max()))
                        if done.any():
                            ep_success += info["success"][done].astype(float).tolist()
                            ep_return += ret_acc[sl][done].tolist()
                            ret_acc[np.flatnonzero(done) + sl.start] = 0.0
                        obs[i] = nobs
                    if t == T:
                        continue
                    if obs_rms is not None:  # statistics move once per rollout: one normalization within a batch
                        raw_obs.append(obs[i])
                        x = obs_rms.normalize(obs[i])
                    else:
                        x = obs[i]
                    b_obs[t, sl] = x
                    x = b_obs[t, sl]
                    action, b_logp[t, sl], b_val[t, sl] = actor.act(x, noise)
                    b_act[t, sl] = action
                    e.step_async(action, background=background)
            if obs_rms is not None:
                obs_rms.update(np.concatenate(raw_obs))
            x = np.concatenate([obs_rms.normalize(o) if obs_rms is not None else o for o in obs]).astype(np.float32)
            tensors = [torch.from_numpy(a.copy()) for a in (b_rew, b_val, b_done)]
            adv, ret = gae(*tensors, torch.from_numpy(actor.value(x)), p.gamma, p.gae_lambda)
            data = Batch(torch.from_numpy(b_obs.reshape(batch, O).copy()), torch.from_numpy(b_act.reshape(batch, 4).copy()),
                         torch.from_numpy(b_logp.reshape(-1).copy()), tensors[1].reshape(-1), adv.reshape(-1), ret.reshape(-1))
            roll = {"success": float(np.mean(ep_success)) if ep_success else float("nan"), "episodes": len(ep_success),
                    "return": float(np.mean(ep_return)) if ep_return else float("nan"), "pen_max": pen_max,
                    "components": {f"reward/{k}": v / T for k, v in comp_sums.items()}}
            if pending is not None:  # the previous update ran while this batch was collected
                finish(pending[0], pending[1].result(), pending[2])
                pending = None
            for group in opt.param_groups:
                group["lr"] = (1.0 - update / n_updates) * p.lr
            if executor is not None:  # the next batch is collected by the policy before this update
                actor = net.snapshot()
                pending = (update, executor.submit(ppo_update, net, opt, data, p, gen), roll)
            else:
                finish(update, ppo_update(net, opt, data, p, gen), roll)
                actor = net.snapshot()
        if pending is not None:
            finish(pending[0], pending[1].result(), pending[2])
            pending = None
    finally:
        if executor is not None:
            executor.shutdown(wait=True)
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t_start
    if not (out / "best.pt").exists():
        save(out / "best.pt", n_updates)
    res = TrainResult(steps=steps, updates=n_updates, seconds=elapsed,
                      steps_per_s=(steps - steps_at_start) / max(elapsed, 1e-9), best_success=best,
                      final_success=final_success, bad_steps=sum(e.bad_count for e in envs))
    from rlscope.config import atomic_write_text

    atomic_write_text(out / "result.json", json.dumps(dataclasses.asdict(res), indent=2) + "\n")
    return res
