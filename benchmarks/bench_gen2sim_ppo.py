"""Gen2Sim PPO throughput against Stable-Baselines3 and against the bare simulator, in one run.

Every method uses the same task scene, physics settings (timestep, substeps), number of environment
copies and physics threads (``--nthread``, default 2: both cores):

- ``raw sim``: ``mujoco.rollout`` alone over ``--num-envs`` copies of the model, one call per control
  step of ``substeps`` physics steps (as the env makes them), random-walk Cartesian targets and
  random grip, episodes restarted from the env's start states every ``episode_steps``; no Python env
  logic (no observations, rewards or suction). The upper bound an env could reach;
- ``env, random actions``: :class:`rlscope.gen2sim.sim.env.BatchedEnv` stepped with uniform random
  actions (physics + observations, reward and success code, autoreset);
- ``ours PPO``: :func:`rlscope.gen2sim.rl.train.train` on :func:`~rlscope.gen2sim.rl.train.make_envs`
  (two shards whose physics overlaps the other's Python work; collect, GAE, update, metrics, checkpoints);
- ``SB3 PPO``: Stable-Baselines3's PPO with ``VecNormalize`` as it is usually run: a ``DummyVecEnv``
  of ``--num-envs`` single-copy gymnasium envs of the same scene
  (:func:`rlscope.gen2sim.rl.sb3.standard_vec_env`); the baseline of the target;
- ``SB3 PPO, batched env``: the same SB3 learner on our batched stepping
  (:class:`rlscope.gen2sim.rl.sb3.SB3VecEnv`), which isolates the learner's own cost.
Both SB3 runs use the same rollout length, minibatch size, epochs, learning rate (annealed),
discount, GAE lambda, clipping and networks (two tanh layers of 64 for actor and critic).

Both trainers run the same number of steps (``--steps`` rounded to whole rollouts of
``num_envs x rollout_steps``) on one torch thread. Success is the share of episodes that ended
in the last 10% of the updates (at least one) that met the sub-task's success test.
The raw rates are measured for ``--seconds`` each after a warm-up; the raw simulation once before and
once after our training (the machine's speed drifts), their mean being the reference. CPU time per
env-step (all threads) of the raw simulation, of our training and of its PPO update alone gives the
ceiling of ours / raw sim that perfect use of both cores would reach at this learner's cost.

    python benchmarks/bench_gen2sim_ppo.py                        # open_drawer, 100k steps, 64 envs
    python benchmarks/bench_gen2sim_ppo.py --steps 4096 --seconds 1 --json ppo.json
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np


SB3 = "SB3 PPO (VecNormalize)"


def cpu_seconds() -> float:
    """CPU time of this process, every thread included."""
    import resource

    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def task_dir(arg: str) -> Path:
    """A task directory, or the name of a standard task."""
    path = Path(arg)
    if (path / "task.json").is_file():
        return path
    import rlscope.gen2sim.tasks as tasks_pkg

    std = Path(tasks_pkg.__file__).parent / "standard" / arg
    if not (std / "task.json").is_file():
        raise SystemExit(f"--task {arg!r}: neither a task directory nor a standard task")
    return std


def raw_sim_rate(env, seconds: float, seed: int, nthread: int) -> tuple[float, int]:
    """Env steps per second of mujoco.rollout alone on env's scene and settings -> (rate, env steps)."""
    import mujoco
    from mujoco import rollout

    from rlscope.gen2sim.sim.scene import FINGER_TRAVEL

    scene, n, sub = env.scene, env.num_envs, env.sub
    m = scene.model
    substeps, nu, neq = scene.spec.substeps, m.nu, m.neq
    env.reset(seed=seed)
    starts = env.state.copy()
    cart0 = env.sens[:, scene.sensors["cart"]].copy()
    ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, f"gripper_{a}") for a in "xyz"]
    lo, hi = np.asarray(m.jnt_range[ids]).T
    rng = np.random.default_rng(seed)
    E = sub.episode_steps

    def episode_controls() -> np.ndarray:
        """(E, n, substeps, nu + neq): a random walk of tip targets, random grip, finger coupling on."""
        ctrl = np.zeros((E, n, substeps, nu + neq))
        target = cart0.copy()
        for t in range(E):
            target = np.clip(target + rng.uniform(-1, 1, (n, 3)) * env.max_delta, lo, hi)
            ctrl[t, :, :, :3] = target[:, None]
            ctrl[t, :, :, 3] = np.where(rng.uniform(-1, 1, n) > 0, FINGER_TRAVEL, 0.0)[:, None]
            ctrl[t, :, :, nu] = 1.0
        return ctrl

    controls = [episode_controls() for _ in range(4)]
    models = [copy.deepcopy(m) for _ in range(n)]
    datas = [mujoco.MjData(m) for _ in range(max(1, nthread))]
    runner = rollout.Rollout(nthread=max(1, nthread))
    cspec = mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_EQ_ACTIVE
    state = np.empty_like(starts)
    out_state = np.zeros((n, substeps, starts.shape[1]))
    out_sens = np.zeros((n, substeps, m.nsensordata))

    def run(ctrl: np.ndarray, deadline: float) -> int:
        np.copyto(state, starts)
        for t in range(E):
            runner.rollout(models, datas, state, ctrl[t], control_spec=cspec, nstep=substeps, state=out_state,
                           sensordata=out_sens, skip_checks=True)
            np.copyto(state, out_state[:, -1])
            if time.perf_counter() > deadline:
                return t + 1
        return E

    try:
        run(controls[0], math.inf)  # warm-up
        steps, k = 0, 0
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while time.perf_counter() < deadline:
            steps += run(controls[k % len(controls)], deadline) * n
            k += 1
        return steps / (time.perf_counter() - t0), steps
    finally:
        runner.close()


def env_random_rate(env, seconds: float, seed: int) -> tuple[float, int]:
    """Env steps per second of BatchedEnv.step with uniform random actions -> (rate, env steps)."""
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, (256, env.num_envs, 4)).astype(np.float32)
    env.reset(seed=seed)
    for a in actions[:20]:  # warm-up
        env.step(a)
    steps, k = 0, 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        env.step(actions[k % len(actions)])
        steps += env.num_envs
        k += 1
    return steps / (time.perf_counter() - t0), steps


def last_updates(n_updates: int) -> int:
    """How many final updates make up the last 10% of training (at least one)."""
    return max(1, round(0.1 * n_updates))


def ours_success(metrics_path: Path, n_updates: int) -> float:
    """Success over the episodes that ended in the last 10% of the updates, from metrics.jsonl."""
    first = n_updates - last_updates(n_updates)
    done = ok = 0.0
    for line in metrics_path.read_text().splitlines():
        row = json.loads(line)
        if row["update"] > first and row["charts/episodes"]:
            done += row["charts/episodes"]
            ok += row["charts/success_rate"] * row["charts/episodes"]
    return ok / done if done else float("nan")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="open_drawer", help="task directory or standard task name")
    ap.add_argument("--subtask", type=int, default=0, help="index of the sub-task to train")
    ap.add_argument("--steps", type=int, default=100_000, help="training steps of each trainer (rounded to whole rollouts)")
    ap.add_argument("--num-envs", type=int, default=64)
    ap.add_argument("--rollout-steps", type=int, default=32)
    ap.add_argument("--shards", type=int, default=2, help="env shards of our trainer (1: synchronous)")
    ap.add_argument("--nthread", type=int, default=2, help="physics threads")
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each raw-rate measurement")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-sb3", action="store_true", help="leave out the Stable-Baselines3 run")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)

    import mujoco
    import torch

    from rlscope.gen2sim.rl.ppo import PPOConfig
    from rlscope.gen2sim.rl.train import TrainConfig, make_envs, train
    from rlscope.gen2sim.sim.env import BatchedEnv
    from rlscope.gen2sim.sim.scene import build_scene
    from rlscope.gen2sim.tasks.task import compile_code, load_task

    task = load_task(task_dir(args.task))
    scene = build_scene(task.scene, Path(task.root))
    sub = task.subtasks[args.subtask]
    code = compile_code(sub)
    ppo = PPOConfig(num_envs=args.num_envs, rollout_steps=args.rollout_steps)
    batch = args.num_envs * args.rollout_steps
    n_updates = max(1, args.steps // batch)
    steps = n_updates * batch
    substeps = scene.spec.substeps

    def make_env() -> BatchedEnv:
        return BatchedEnv(scene, sub, code, num_envs=args.num_envs, seed=args.seed, nthread=args.nthread)

    sb3_version = None
    if not args.skip_sb3:
        import stable_baselines3

        from rlscope.gen2sim.rl.sb3 import train_sb3

        sb3_version = stable_baselines3.__version__
    print(f"task {task.task_id}/{sub.name}: {args.num_envs} envs, timestep {scene.model.opt.timestep} s x {substeps} substeps, "
          f"{args.nthread} physics threads, episode {sub.episode_steps} steps; training {steps} steps = {n_updates} updates "
          f"of {args.num_envs} x {args.rollout_steps}; {os.cpu_count()} CPUs, mujoco {mujoco.__version__}, torch {torch.__version__}"
          + (f", stable-baselines3 {sb3_version}" if sb3_version else ""), flush=True)

    rows: list[dict[str, Any]] = []

    def add(method: str, rate: float, n_steps: int, seconds: float, success: float) -> None:
        rows.append({"method": method, "env_steps_per_s": rate, "physics_steps_per_s": rate * substeps, "steps": n_steps,
                     "seconds": seconds, "success": success})
        print(f"  {method}: {rate:.0f} env-steps/s", flush=True)

    raw_runs: list[tuple[float, int, float]] = []  # (rate, steps, CPU s), before and after our training

    def measure_raw() -> None:
        env = make_env()
        try:
            c0 = cpu_seconds()
            rate, n = raw_sim_rate(env, args.seconds, args.seed, args.nthread)
            raw_runs.append((rate, n, cpu_seconds() - c0))
            if len(raw_runs) == 1:
                rate, n = env_random_rate(env, args.seconds, args.seed)
                add("env, random actions", rate, n, n / rate, float("nan"))
        finally:
            env.close()

    measure_raw()
    import rlscope.gen2sim.rl.train as train_mod

    update_cpu = [0.0]
    plain_update = train_mod.ppo_update

    def timed_update(*a, **kw):  # CPU time of the PPO update alone (the thread that runs it)
        t0 = time.thread_time()
        try:
            return plain_update(*a, **kw)
        finally:
            update_cpu[0] += time.thread_time() - t0

    train_mod.ppo_update = timed_update
    cfg = TrainConfig(total_steps=steps, seed=args.seed, nthread=args.nthread, progress=False, ppo=ppo, shards=args.shards)
    envs = make_envs(scene, sub, code, cfg)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            c0 = cpu_seconds()
            res = train(envs, cfg, tmp)
            ours_cpu = cpu_seconds() - c0
            add("ours PPO", res.steps_per_s, res.steps, res.seconds, ours_success(Path(tmp) / "metrics.jsonl", res.updates))
    finally:
        train_mod.ppo_update = plain_update
        for e in envs:
            e.close()
    measure_raw()
    raw_rate = sum(r for r, _, _ in raw_runs) / len(raw_runs)  # the machine's speed drifts: before and after
    rows.insert(0, {"method": "raw sim (mujoco.rollout)", "env_steps_per_s": raw_rate, "physics_steps_per_s": raw_rate * substeps,
                    "steps": sum(n for _, n, _ in raw_runs), "seconds": sum(n / r for r, n, _ in raw_runs), "success": float("nan"),
                    "runs": [r for r, _, _ in raw_runs]})
    print(f"  raw sim (mujoco.rollout): {raw_rate:.0f} env-steps/s (mean of {raw_runs[0][0]:.0f} before and {raw_runs[1][0]:.0f} after)")
    physics_ms = 1e3 * sum(c for *_, c in raw_runs) / sum(n for _, n, _ in raw_runs)  # CPU ms per env-step
    ours_ms, update_ms = 1e3 * ours_cpu / res.steps, 1e3 * update_cpu[0] / res.steps

    if not args.skip_sb3:
        import itertools

        from rlscope.gen2sim.rl.sb3 import standard_vec_env

        kw = dict(n_steps=ppo.rollout_steps, batch_size=batch // ppo.minibatches, epochs=ppo.epochs,
                  lr=ppo.lr, gamma=ppo.gamma, gae_lambda=ppo.gae_lambda, hidden=ppo.hidden, seed=args.seed,
                  clip=ppo.clip, clip_value=ppo.clip_value, ent_coef=ppo.ent_coef, vf_coef=ppo.vf_coef,
                  max_grad_norm=ppo.max_grad_norm, init_log_std=ppo.init_log_std, anneal_lr=True,
                  torch_threads=ppo.torch_threads)
        seeds = itertools.count(args.seed)
        venv = standard_vec_env(lambda: BatchedEnv(scene, sub, code, num_envs=1, seed=next(seeds), nthread=1), args.num_envs)
        try:
            r = train_sb3(venv, steps, **kw)
            add(SB3, r["steps_per_s"], r["steps"], r["seconds"], r["success_rate"])
        finally:
            venv.close()
        env = make_env()
        try:
            r = train_sb3(env, steps, **kw)
            add("SB3 PPO, batched env", r["steps_per_s"], r["steps"], r["seconds"], r["success_rate"])
        finally:
            env.close()

    by = {r["method"]: r["env_steps_per_s"] for r in rows}
    raw, ours, sb3 = by["raw sim (mujoco.rollout)"], by["ours PPO"], by.get(SB3)
    env_rate = by["env, random actions"]
    print()
    print(f"{'method':<26}{'env-steps/s':>13}{'physics steps/s':>17}{'vs SB3':>9}{'vs raw sim':>12}{'success':>9}")
    for r in rows:
        vs_sb3 = f"{r['env_steps_per_s'] / sb3:.2f}" if sb3 else "-"
        succ = "-" if math.isnan(r["success"]) else f"{r['success']:.2f}"
        print(f"{r['method']:<26}{r['env_steps_per_s']:>13.0f}{r['physics_steps_per_s']:>17.0f}{vs_sb3:>9}"
              f"{r['env_steps_per_s'] / raw:>12.2f}{succ:>9}")
    print()
    print(f"ours / SB3 = {ours / sb3:.2f} (target >= 3)" if sb3 else "ours / SB3 = - (SB3 skipped; target >= 3)")
    print(f"ours / raw sim = {ours / raw:.2f} (target >= 0.7); ours / env with random actions = {ours / env_rate:.2f}")
    print()
    print("CPU per 1,000 env-steps (all threads): physics alone (raw sim) "
          f"{physics_ms * 1e3:.0f} ms; ours {ours_ms * 1e3:.0f} ms, of which the PPO update {update_ms * 1e3:.0f} ms")
    print(f"ceiling of ours / raw sim with both cores always busy: {physics_ms / ours_ms:.2f} as trained; "
          f"{physics_ms / (physics_ms + update_ms):.2f} if everything but physics and the update cost nothing")

    out = {
        "config": {"task": task.task_id, "subtask": sub.name, "num_envs": args.num_envs, "rollout_steps": args.rollout_steps, "shards": args.shards,
                   "steps": steps, "updates": n_updates, "nthread": args.nthread, "substeps": substeps,
                   "timestep": scene.model.opt.timestep, "episode_steps": sub.episode_steps, "seconds": args.seconds,
                   "seed": args.seed, "cpus": os.cpu_count(), "python": platform.python_version(),
                   "mujoco": mujoco.__version__, "torch": torch.__version__, "stable_baselines3": sb3_version},
        "rows": [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows],
        "ours_over_sb3": ours / sb3 if sb3 else None,
        "ours_over_raw_sim": ours / raw,
        "ours_over_env_random": ours / env_rate,
        "cpu_ms_per_1000_steps": {"physics": physics_ms * 1e3, "ours": ours_ms * 1e3, "ours_update": update_ms * 1e3},
        "ceiling_ours_over_raw": physics_ms / ours_ms,
        "ceiling_update_only": physics_ms / (physics_ms + update_ms),
    }
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
