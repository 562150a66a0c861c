"""Task code checked before any training (it runs only inside the sandboxed worker).

:func:`validate_subtask` runs a sub-task's ``compute_reward`` and ``is_success`` four ways and lists
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
4. **Scripted states** (:func:`_scripted_env`): parts closed, half and fully open with each handle held;
   objects at their start, at each goal and inside each part that holds things. The reward must rise from
   the start states to the scripted states in which success holds; a reward term that keeps one value in
   every state seen (a distance from a point to itself) is a warning, a constant reward a problem.

:func:`validate_subtask` returns a :class:`Verdict` (problems, warnings, time); :func:`check_subtask` its
problems alone.
"""

from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the validation of one sub-task's code found."""

    problems: tuple[str, ...]
    """Reasons to reject the code (empty: it may train)."""
    warnings: tuple[str, ...] = ()
    """Doubts that do not stop training (a reward term that never changes, ...), shown in the report."""
    seconds: float = 0.0
    """Wall-clock time the validation took."""

    @property
    def ok(self) -> bool:
        return not self.problems


def _static(scene: Scene, sub: SubTask) -> list[str]:
    where = Path(sub.code_file).name or f"sub-task {sub.name}"
    if sub.format == "gen2sim":
        from rlscope.gen2sim.tasks.gen2sim_format import static_problems_gen2sim

        return static_problems_gen2sim(sub.code, SceneNames.of(scene, sub), where)
    return static_problems(sub.code, SceneNames.of(scene, sub), where)


def _scripted_env(scene: Scene, sub: SubTask, code: CompiledCode, seed: int) -> BatchedEnv | None:
    """States a script would reach, where the scene has parts or objects: every joint closed, half and fully
    open, with the gripper holding each handle in turn; and every object at its start, at each goal and in
    the inside of each part that holds things, held there. None for a scene with neither."""
    import mujoco

    from rlscope.gen2sim.tasks.describe import container_links

    spots = []  # (link body name, offset in that link's frame): a grid over the floor of every part's inside
    for inst, asset in scene.assets.items():
        for link, inside in container_links(asset).items():
            lo, hi = np.asarray(inside[0]), np.asarray(inside[1])
            for fx in np.linspace(0.1, 0.9, 5):
                for fy in np.linspace(0.1, 0.9, 5):
                    spots.append((f"{inst}/{link}", lo + np.array([fx, fy, 0.0]) * (hi - lo)))
    holds = list(scene.graspables)
    if not scene.joints and not scene.objects:
        return None
    fractions = (0.0, 0.5, 1.0) if scene.joints else (0.0,)
    places: list = ["start", *sorted(sub.init.goals), *spots] if scene.objects else ["start"]
    combos = [(u, g, p) for u in fractions for g in (holds or [None]) for p in places]
    env = BatchedEnv(scene, sub, code, num_envs=len(combos), seed=seed, nthread=1)
    env.reset()
    m, d = scene.model, env._scratch
    for i, (u, held, place) in enumerate(combos):
        mujoco.mj_setState(m, d, env.state[i], env._spec)
        for name, (closed, opened) in scene.joints.items():
            d.qpos[scene.joint_qpos_adr(name)] = closed + u * (opened - closed)
        mujoco.mj_forward(m, d)
        for name in scene.objects:
            adr = scene.joint_qpos_adr(name)
            if isinstance(place, str) and place in env.goals:
                d.qpos[adr:adr + 3] = env.goals[place][i]
            elif place != "start":
                body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, place[0])
                offset = place[1]
                half = next(g.radius for g in scene.graspables if g.name == name)
                d.qpos[adr:adr + 3] = d.xpos[body] + d.xmat[body].reshape(3, 3) @ offset + np.array([0.0, 0.0, half + 0.005])
        mujoco.mj_forward(m, d)
        if held is not None:
            if held.kind == "object":
                target = d.qpos[scene.joint_qpos_adr(held.name):scene.joint_qpos_adr(held.name) + 3]
            else:
                target = d.site_xpos[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, held.name)]
            d.qpos[scene.gripper_qpos] = np.asarray(target) - scene.tip0
            env.attached[i] = scene.graspables.index(held)
        mujoco.mj_forward(m, d)
        mujoco.mj_getState(m, d, env.state[i], env._spec)
        env.sens[i] = d.sensordata
    env.t[:] = 0
    return env


def validate_subtask(scene: Scene, sub: SubTask, call_s: float | None = 2.0, seed: int = 0) -> Verdict:
    """Validate a sub-task's code before any training. The static checks come first, and code that fails them
    is never compiled nor run. Errors that stop the code from running at all (an exception, a wrong shape or
    dtype, a call over budget) raise :class:`~rlscope.gen2sim.tasks.task.RewardCodeError` (or
    :class:`~rlscope.gen2sim.tasks.task.TaskCodeError` at compile time) instead.

    Beyond the checks of the module docstring, the code is called on scripted states (:func:`_scripted_env`):
    its reward must rise from the start states to the scripted states in which it reports success, where
    there are such states, and a reward term that keeps one value on every state seen is flagged.
    """
    import time

    t0 = time.perf_counter()
    found = _static(scene, sub)
    if found:
        return Verdict(tuple(found), seconds=time.perf_counter() - t0)
    code = compile_code(sub, call_s)
    rng = np.random.default_rng(seed)
    seen: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
    env = BatchedEnv(scene, sub, code, num_envs=8, seed=seed, nthread=1)
    try:
        env.reset()
        for _ in range(3):
            env.step(env.rng.uniform(-1, 1, (8, 4)))
            seen.append(code.reward(env.sim_state()))
    finally:
        env.close()

    problems, warnings = [], []
    probe = _probe_env(scene, sub, code, rng)
    try:
        state = probe.sim_state()
        seen.append(code.reward(state))  # finite everywhere: every probe state is sound
        success = code.success(state)
    finally:
        probe.close()
    if success.all() or not success.any():
        problems.append(f"is_success is {bool(success[0])} in all {PROBES} probe states, in which the {_varied(scene)}: "
                        "it cannot tell success from failure")

    starts = BatchedEnv(scene, sub, code, num_envs=STARTS, seed=seed + 1, nthread=1)
    try:
        starts.reset()
        start_state = starts.sim_state()
        start_reward, comps = code.reward(start_state)
        seen.append((start_reward, comps))
        solved = code.success(start_state)
    finally:
        starts.close()
    if solved.mean() > SOLVED_AT_START:
        problems.append(f"is_success already holds in {int(solved.sum())} of {STARTS} start states: the sub-task is solved "
                        "before it starts (is the joint's closed end the right one? is the test too loose?)")

    scripted = _scripted_env(scene, sub, code, seed + 2)
    if scripted is not None:
        try:
            s_state = scripted.sim_state()
            s_reward, s_comps = code.reward(s_state)
            s_success = code.success(s_state)
        finally:
            scripted.close()
        seen.append((s_reward, s_comps))
        if s_success.any() and not s_reward[s_success].max() > start_reward.mean():
            problems.append(f"the reward does not rise from the start states (mean {start_reward.mean():.3g}) to the scripted "
                            f"states in which is_success holds (at most {s_reward[s_success].max():.3g}): training would "
                            "not lead towards success")
    rewards = np.concatenate([r for r, _ in seen])
    if np.ptp(rewards) < 1e-9:
        problems.append(f"the reward is {rewards[0]:.3g} in every state seen: there is nothing to learn")
    for name in seen[0][1]:
        values = np.concatenate([c[name] for _, c in seen if name in c])
        if np.ptp(values) < 1e-9:
            warnings.append(f"reward term {name!r} is {values[0]:.3g} in every state seen (start, random, probe and scripted "
                            "states): it adds nothing (a distance from a point to itself?)")
    return Verdict(tuple(problems), tuple(warnings), time.perf_counter() - t0)


def check_subtask(scene: Scene, sub: SubTask, call_s: float | None = 2.0, seed: int = 0) -> list[str]:
    """Problems of a sub-task's code (empty: it may train); see :func:`validate_subtask`."""
    return list(validate_subtask(scene, sub, call_s, seed).problems)
