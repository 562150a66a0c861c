"""Task code checked before any training (it runs only inside the sandboxed worker).

:func:`check_subtask` runs a sub-task's ``compute_reward`` and ``is_success`` three ways and lists
what is wrong, each problem naming the function or reward term at fault:

0. **Static checks** of the source (:mod:`rlscope.gen2sim.tasks.static`): imports, dunder access, calls that
   reach outside the state, state attributes and scene names that do not exist. Code with such problems is
   not run at all.
1. **A short rollout** through the real environment: what the code returns is checked by
   :class:`~rlscope.gen2sim.tasks.task.CompiledCode` (a ``(N,)`` float reward and components, a
   ``(N,)`` bool success, finite values, the per-call time budget).
2. **Probe states** in which the scene ranges widely: every movable joint anywhere in its travel
   (a quarter of the probes at each end), the gripper anywhere in its workspace, and every free object
   at its start region, at a goal, at the centre of mass of a part (inside a drawer, on a shelf) or
   anywhere in the workspace, held or not. Reward and components must be finite in all of them; a
   success test that gives the same answer in all of them can never tell success from failure.
3. **Fresh start states** drawn from the sub-task's ``init``: a sub-task whose success already holds
   in most of them has nothing left to learn (a joint whose closed end was taken for open, say).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rlscope.gen2sim.sim.env import BatchedEnv
from rlscope.gen2sim.sim.scene import Scene
from rlscope.gen2sim.tasks.static import SceneNames, static_problems
from rlscope.gen2sim.tasks.task import CompiledCode, SubTask, compile_code

PROBES = 256
"""Probe states per sub-task."""
STARTS = 64
"""Fresh start states per sub-task."""
SOLVED_AT_START = 0.5
"""Largest fraction of start states in which success may already hold."""


def _probe_env(scene: Scene, sub: SubTask, code: CompiledCode, rng: np.random.Generator) -> BatchedEnv:
    """An environment whose :meth:`~BatchedEnv.sim_state` reads :data:`PROBES` widely ranging states."""
    import mujoco

    env = BatchedEnv(scene, sub, code, num_envs=PROBES, seed=int(rng.integers(2**31)), nthread=1)
    env.reset()  # goals and start positions drawn as in training
    m, d = scene.model, env._scratch
    lo, hi = env._cart_lo, env._cart_hi
    coms = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name) for name in scene.links if name not in scene.objects]
    for i in range(PROBES):
        mujoco.mj_setState(m, d, env.state[i], env._spec)
        for name, (closed, opened) in scene.joints.items():
            u = rng.choice([0.0, 1.0, rng.uniform()], p=[0.25, 0.25, 0.5])
            d.qpos[scene.joint_qpos_adr(name)] = closed + u * (opened - closed)
        d.qpos[scene.gripper_qpos] = rng.uniform(lo, hi)
        mujoco.mj_forward(m, d)  # part positions for the objects placed on them
        for name in scene.objects:
            adr = scene.joint_qpos_adr(name)
            where = rng.integers(4)
            if where == 1 and env.goals:
                d.qpos[adr:adr + 3] = env.goals[rng.choice(list(env.goals))][i]
            elif where == 2 and coms:
                d.qpos[adr:adr + 3] = d.xipos[coms[rng.integers(len(coms))]]
            elif where == 3:
                d.qpos[adr:adr + 3] = env.scene.tip0 + rng.uniform(lo, hi)
        mujoco.mj_forward(m, d)
        mujoco.mj_getState(m, d, env.state[i], env._spec)
        env.sens[i] = d.sensordata
    if scene.graspables:
        held = rng.integers(len(scene.graspables), size=PROBES)
        env.attached[:] = np.where(rng.uniform(size=PROBES) < 0.25, held, -1)
    env.t[:] = rng.integers(sub.episode_steps, size=PROBES)
    return env


def _varied(scene: Scene) -> str:
    parts = []
    if scene.joints:
        parts.append(f"joints {', '.join(sorted(scene.joints))} range over their travel")
    if scene.objects:
        parts.append(f"objects {', '.join(scene.objects)} move across the scene")
    return " and ".join(parts) or "the gripper moves across its workspace"


def check_subtask(scene: Scene, sub: SubTask, call_s: float | None = 2.0, seed: int = 0) -> list[str]:
    """Problems of a sub-task's code (empty: it may train). The static checks come first, and code that fails
    them is never compiled nor run. Errors that stop the code from running at all (an exception, a wrong shape
    or dtype, a call over budget) raise :class:`~rlscope.gen2sim.tasks.task.RewardCodeError` (or
    :class:`~rlscope.gen2sim.tasks.task.TaskCodeError` at compile time) instead."""
    found = static_problems(sub.code, SceneNames.of(scene, sub), Path(sub.code_file).name or f"sub-task {sub.name}")
    if found:
        return found
    code = compile_code(sub, call_s)
    rng = np.random.default_rng(seed)
    env = BatchedEnv(scene, sub, code, num_envs=8, seed=seed, nthread=1)
    try:
        env.reset()
        for _ in range(3):
            env.step(env.rng.uniform(-1, 1, (8, 4)))
    finally:
        env.close()

    problems = []
    probe = _probe_env(scene, sub, code, rng)
    try:
        state = probe.sim_state()
        code.reward(state)  # finite everywhere: every probe state is sound
        success = code.success(state)
    finally:
        probe.close()
    if success.all() or not success.any():
        problems.append(f"is_success is {bool(success[0])} in all {PROBES} probe states, in which the {_varied(scene)}: "
                        "it cannot tell success from failure")

    starts = BatchedEnv(scene, sub, code, num_envs=STARTS, seed=seed + 1, nthread=1)
    try:
        starts.reset()
        solved = code.success(starts.sim_state())
    finally:
        starts.close()
    if solved.mean() > SOLVED_AT_START:
        problems.append(f"is_success already holds in {int(solved.sum())} of {STARTS} start states: the sub-task is solved "
                        "before it starts (is the joint's closed end the right one? is the test too loose?)")
    return problems
