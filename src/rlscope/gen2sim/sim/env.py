"""A batched MuJoCo environment: N copies of a scene stepped together in C (``mujoco.rollout``,
one thread per core), with the gymnasium vector API and no Python per environment per step.

Action (N, 4) in [-1, 1]: a Cartesian move of the tip (scaled by ``max_delta`` metres per control
step, relative to where the hand is, so targets never wind up) and a grip command (> 0: close the
fingers and switch suction on; suction attaches to the nearest handle or object within
:data:`GRASP_RADIUS` of the tip, at the point where the tip touches it, and lets go when the command
falls below :data:`RELEASE_BELOW`).

Observation: the gripper's own state (tip position and velocity, finger opening, grasping) and the
terms the sub-task lists in ``observe`` (see :func:`observation_size`).

Readings (the state API) after a step are MuJoCo's sensors of the last physics substep, computed
before its integration: they lag the physics state by one substep (``timestep``, 5 ms by default).

Episodes end by time limit (``truncated``), or early when the physics goes wrong: non-finite
state, observation or reward, or MuJoCo's own instability reset (detected as a jump in simulation
time); those are counted in ``info["bad"]`` and the env is reset. Autoreset happens in the same step:
the returned observation is the first of the new episode, the last one is in ``info["final_obs"]``.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np

from rlscope.gen2sim.sim.panda import solve_ik
from rlscope.gen2sim.sim.scene import FINGER_TRAVEL, TIP_DEPTH, Scene
from rlscope.gen2sim.sim.state import SimState, penetration
from rlscope.gen2sim.tasks.task import CompiledCode, SubTask

log = logging.getLogger(__name__)

GRASP_RADIUS = 0.02
"""Suction attaches when the tip is within this distance of a handle bar or an object's surface (m)."""
MAX_INIT_TRIES = 20
INIT_PENETRATION = 0.002
"""A drawn start is redrawn (up to MAX_INIT_TRIES times) while parts interpenetrate deeper than this (m)."""
RELEASE_BELOW = -0.5
"""Suction lets go only when the grip command falls below this (hysteresis: exploration noise around 0
does not drop what is held)."""
HANDLE_RADIUS = 0.008
"""Treated as the bar radius of handles when measuring the distance to them (m)."""


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3) x (..., 3) -> (..., 3); written out, about twice as fast as np.cross on small batches."""
    return np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1], a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)


def _quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors by unit quaternions. q: (..., 4) (w, x, y, z), v: (..., 3) -> (..., 3)."""
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * _cross(u, v)
    return v + w * t + _cross(u, t)


def _quat_conj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def observation_terms(sub: SubTask) -> list[tuple[str, str, int]]:
    """(kind, name, size) of every observation block, in order."""
    terms = [("tip", "", 3), ("tipvel", "", 3), ("opening", "", 1), ("grasping", "", 1)]
    objects = [t.split(":", 1)[1] for t in sub.observe if t.startswith("object:")]
    for term in sub.observe:
        kind, name = term.split(":", 1)
        size = {"handle": 6, "joint": 2, "object": 13, "link": 3, "goal": 6 + 3 * len(objects)}[kind]
        terms.append((kind, name, size))
    return terms


def observation_size(sub: SubTask) -> int:
    return sum(size for *_, size in observation_terms(sub))


def build_observation(state: SimState, sub: SubTask) -> np.ndarray:
    """state -> (N, observation_size(sub)) float32."""
    tip = state.gripper.pos
    blocks = [tip, state.gripper.vel, state.gripper.opening[:, None], state.gripper.grasping[:, None].astype(float)]
    objects = [t.split(":", 1)[1] for t in sub.observe if t.startswith("object:")]
    for term in sub.observe:
        kind, name = term.split(":", 1)
        if kind == "handle":
            p = state.handle(name).pos
            blocks += [p, p - tip]
        elif kind == "joint":
            j = state.joint(name)
            blocks += [j.fraction[:, None], j.vel[:, None]]
        elif kind == "object":
            o = state.object(name)
            blocks += [o.pos, o.pos - tip, o.vel, o.quat]
        elif kind == "link":
            blocks.append(state.link(name).pos)
        elif kind == "goal":
            g = state.goal(name)
            blocks += [g, g - tip] + [g - state.object(o).pos for o in objects]
    return np.concatenate(blocks, axis=1).astype(np.float32)


class BatchedEnv:
    """N scene copies; ``reset()``/``step()`` follow ``gymnasium.vector.VectorEnv`` (same-step autoreset).

    Parameters
    ----------
    scene : Scene
    sub : SubTask
    code : CompiledCode
        The sub-task's reward and success functions (compiled inside the sandboxed worker).
    num_envs : int
    seed : int
    nthread : int
        Physics threads (one per core).
    start_states : (M, nstate) float, optional
        Physics states to start episodes from (a chain's previous sub-task's end states); default:
        drawn from ``sub.init``.
    max_delta : float
        Tip displacement per control step at full action (m).
    paired_starts : bool
        Env i always starts from ``start_states[i]`` (chain evaluation) instead of a random one.
    """

    def __init__(self, scene: Scene, sub: SubTask, code: CompiledCode, num_envs: int = 32, seed: int = 0, nthread: int = 2,
                 start_states: np.ndarray | None = None, max_delta: float = 0.02, paired_starts: bool = False):
        import gymnasium as gym
        import mujoco
        from mujoco import rollout

        self._mj = mujoco
        self.scene, self.sub, self.code = scene, sub, code
        self.num_envs = n = int(num_envs)
        self.max_delta = float(max_delta)
        m = scene.model
        self.models = [m] * n  # shared until an environment's grasp anchor is first set (then it gets its own copy)
        self._datas = [mujoco.MjData(m) for _ in range(max(1, nthread))]
        self._rollout = rollout.Rollout(nthread=max(1, nthread)) if nthread > 1 else None
        self._spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        self._cspec = mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_EQ_ACTIVE
        self.nstate = mujoco.mj_stateSize(m, self._spec)
        self._nu, self._neq = m.nu, m.neq
        self._substeps = scene.spec.substeps
        self._dt = m.opt.timestep * self._substeps
        self._scratch = mujoco.MjData(m)
        self.rng = np.random.default_rng(seed)
        self.start_states = None if start_states is None else np.asarray(start_states, float)
        self.paired = bool(paired_starts)
        if self.start_states is not None and (self.start_states.ndim != 2 or self.start_states.shape[1] != self.nstate):
            raise ValueError(f"start states of shape {self.start_states.shape}: this scene's states have {self.nstate} "
                             "numbers each (one state per row)")
        if self.paired and (self.start_states is None or len(self.start_states) != n):
            raise ValueError("paired_starts needs one start state per environment")
        self.suction = sub.suction
        self.state = np.zeros((n, self.nstate))
        self.sens = np.zeros((n, m.nsensordata))
        self.attached = np.full(n, -1, dtype=np.int64)
        self.t = np.zeros(n, dtype=np.int64)
        self.goals = {g: np.zeros((n, 3)) for g in sub.init.goals}
        self._ctrl = np.zeros((n, 1, self._nu + self._neq))
        self._ctrl_steps = np.zeros((n, self._substeps, self._nu + self._neq))
        self._out_state = np.zeros((n, self._substeps, self.nstate))
        self._out_sens = np.zeros((n, self._substeps, m.nsensordata))
        self._graspable_names = [g.name for g in scene.graspables]
        self._grasp = self._grasp_layout()
        lo, hi = np.array(m.jnt_range[[self._joint_id(f"gripper_{a}") for a in "xyz"]]).T
        self._cart_lo, self._cart_hi = lo, hi
        self.obs_size = observation_size(sub)
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (self.obs_size,), np.float32)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n, self.obs_size), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (n, 4), np.float32)
        self.metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
        self.bad_count = 0
        self._executor = None
        self._pending = None
        self._t0 = np.zeros(n)

    # -- helpers ------------------------------------------------------------------------------
    def _grasp_layout(self) -> dict[str, np.ndarray]:
        """Sensor index arrays of the graspables, handles first, then objects; ``order`` restores theirs."""
        lay = self.scene.sensors
        idx = lambda key, n: np.arange(lay[key].start, lay[key].start + n)  # noqa: E731
        hs = [(i, g) for i, g in enumerate(self.scene.graspables) if g.kind == "handle"]
        os_ = [(i, g) for i, g in enumerate(self.scene.graspables) if g.kind != "handle"]
        first = [i for i, _ in hs] + [i for i, _ in os_]
        return {"h_pos": np.array([idx(f"hpos:{g.name}", 3) for _, g in hs], dtype=int).reshape(-1, 3),
                "h_quat": np.array([idx(f"quat:{g.body}", 4) for _, g in hs], dtype=int).reshape(-1, 4),
                "h_axis": np.array([g.axis for _, g in hs], dtype=float).reshape(-1, 3),
                "h_half": np.array([g.half_length for _, g in hs], dtype=float),
                "o_pos": np.array([idx(f"pos:{g.body}", 3) for _, g in os_], dtype=int).reshape(-1, 3),
                "o_radius": np.array([g.radius for _, g in os_], dtype=float),
                "order": np.argsort(first)}
    def _joint_id(self, name: str) -> int:
        return int(self._mj.mj_name2id(self.scene.model, self._mj.mjtObj.mjOBJ_JOINT, name))

    def sim_state(self) -> SimState:
        return SimState(self.sens, self.scene.sensors, self.scene.joints, self.attached, self._graspable_names, self.goals,
                        self.t, FINGER_TRAVEL, self.scene.objects)

    def _initial(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fresh start states of envs ``idx`` and their sensor readings: (k, nstate), (k, nsensordata)."""
        mj, m, d = self._mj, self.scene.model, self._scratch
        k = len(idx)
        states = np.zeros((k, self.nstate))
        sens = np.zeros((k, m.nsensordata))
        init = self.sub.init
        for i in range(k):
            if self.start_states is not None:
                j = idx[i] if self.paired else self.rng.integers(len(self.start_states))
                mj.mj_setState(m, d, self.start_states[j], self._spec)
                d.time = 0.0
            else:
                self._draw_start(d, init)
                for _ in range(MAX_INIT_TRIES):  # redraw starts where parts interpenetrate
                    mj.mj_forward(m, d)
                    if penetration(d.sensordata[None], self.scene.sensors)[0] <= INIT_PENETRATION:
                        break
                    self._draw_start(d, init)
            mj.mj_forward(m, d)
            mj.mj_getState(m, d, states[i], self._spec)
            sens[i] = d.sensordata
        return states, sens

    def _draw_start(self, d, init) -> None:
        """Reset ``d`` and draw joint values, gripper offset and object positions from ``init``."""
        self._mj.mj_resetData(self.scene.model, d)  # every part closed (the scene's qpos0) unless init says otherwise
        for name, (lo, hi) in init.joints.items():
            jlo, jhi = self.scene.joints[name]
            d.qpos[self.scene.joint_qpos_adr(name)] = jlo + self.rng.uniform(lo, hi) * (jhi - jlo)
        for a in range(3):
            d.qpos[self.scene.gripper_qpos[a]] = self.rng.uniform(-init.gripper_noise, init.gripper_noise)
        if self.scene.arm is not None:  # the arm's joints where its flange meets the drawn gripper position
            palm = self.scene.tip0 + d.qpos[self.scene.gripper_qpos]
            palm[2] += TIP_DEPTH
            solve_ik(self.scene.model, d, self.scene.arm, palm)
        for name, spec in init.objects.items():
            if "xy" in spec:
                (xlo, ylo), (xhi, yhi) = spec["xy"]
                adr = self.scene.joint_qpos_adr(name)
                d.qpos[adr:adr + 2] = [self.rng.uniform(xlo, xhi), self.rng.uniform(ylo, yhi)]

    def _reset_envs(self, idx: np.ndarray) -> None:
        if len(idx) == 0:
            return
        self.state[idx], self.sens[idx] = self._initial(idx)
        self.attached[idx] = -1
        self.t[idx] = 0
        for name, (lo, hi) in self.sub.init.goals.items():
            self.goals[name][idx] = self.rng.uniform(lo, hi, size=(len(idx), 3))

    # -- gymnasium vector API -------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self._reset_envs(np.arange(self.num_envs))
        return build_observation(self.sim_state(), self.sub), {}

    def _update_suction(self, grip: np.ndarray, release: np.ndarray) -> None:
        self.attached[release] = -1
        want = np.flatnonzero(grip & (self.attached < 0))
        if not len(want) or not self.scene.graspables or not self.suction:
            return
        s, lay, g = self.sens[want], self.scene.sensors, self._grasp
        tip = s[:, lay["tip"]][:, None]  # (k, 1, 3)
        parts = []
        if len(g["h_pos"]):  # distance to each handle's bar (a segment along its axis)
            c, q = s[:, g["h_pos"]], s[:, g["h_quat"]]  # (k, H, 3), (k, H, 4)
            u = _quat_rotate(q, np.broadcast_to(g["h_axis"], c.shape))
            along = np.clip(np.sum((tip - c) * u, axis=2), -g["h_half"], g["h_half"])
            parts.append(np.linalg.norm(tip - (c + along[..., None] * u), axis=2) - HANDLE_RADIUS)
        if len(g["o_pos"]):  # distance to each object's surface (centre minus its radius)
            parts.append(np.linalg.norm(tip - s[:, g["o_pos"]], axis=2) - g["o_radius"])
        dist = np.concatenate(parts, axis=1)[:, g["order"]]  # (k, G) in graspable order
        best = np.argmin(dist, axis=1)
        ok = dist[np.arange(len(want)), best] < GRASP_RADIUS
        for i, gi in zip(want[ok], best[ok]):
            body = self.scene.graspables[gi].body
            row = self.sens[i]
            pos, quat = row[lay[f"pos:{body}"]], row[lay[f"quat:{body}"]]
            local = _quat_rotate(_quat_conj(quat), row[lay["tip"]] - pos)
            if self.models[i] is self.scene.model:
                self.models[i] = copy.deepcopy(self.scene.model)
            self.models[i].eq_data[1 + gi, 3:6] = local  # body2 anchor: where the tip touches it now
            self.attached[i] = gi

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self.step_async(actions, background=False)
        return self.step_wait()

    def step_async(self, actions: np.ndarray, background: bool = True) -> None:
        """Apply ``actions`` (N, 4) and start the physics; with ``background`` it runs on a worker thread
        (MuJoCo releases the GIL), so the caller can work on something else until :meth:`step_wait`."""
        a = np.clip(np.asarray(actions, dtype=np.float64).reshape(self.num_envs, 4), -1.0, 1.0)
        lay = self.scene.sensors
        cart = self.sens[:, lay["cart"]]
        self._ctrl[:, 0, :3] = np.clip(cart + a[:, :3] * self.max_delta, self._cart_lo, self._cart_hi)
        grip = a[:, 3] > 0
        self._ctrl[:, 0, 3] = np.where(grip, FINGER_TRAVEL, 0.0)
        self._update_suction(grip, a[:, 3] < RELEASE_BELOW)
        eq = self._ctrl[:, 0, self._nu:]
        eq[:] = 0.0
        eq[:, 0] = 1.0  # finger coupling
        if self.scene.arm is not None:
            eq[:, self.scene.arm.weld] = 1.0  # the arm's flange stays on the palm
        held = self.attached >= 0
        eq[np.flatnonzero(held), 1 + self.attached[held]] = 1.0
        self._t0 = self.state[:, 0].copy()
        self._ctrl_steps[:] = self._ctrl
        if background:
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor

                self._executor = ThreadPoolExecutor(1, thread_name_prefix="physics")
            self._pending = self._executor.submit(self._physics)
        else:
            self._physics()

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Finish the step started by :meth:`step_async`: readings, reward, success, resets."""
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        lay = self.scene.sensors
        self.state = self._out_state[:, -1].copy()
        self.sens = self._out_sens[:, -1].copy()
        self.t += 1
        bad = ~np.isfinite(self.state).all(axis=1) | ~np.isfinite(self.sens).all(axis=1)
        bad |= np.abs(self.state[:, 0] - (self._t0 + self._dt)) > 1e-6  # MuJoCo reset the data: unstable
        if bad.any():
            self.sens[bad] = 0.0
        st = self.sim_state()
        reward, comps = self.code.reward(st, valid=~bad)
        success = self.code.success(st)
        bad |= ~np.isfinite(reward)
        obs = build_observation(st, self.sub)
        bad |= ~np.isfinite(obs).all(axis=1)
        reward = np.where(bad, 0.0, reward)
        pen = penetration(self.sens, lay)
        truncated = self.t >= self.sub.episode_steps
        done = truncated | bad
        info: dict[str, Any] = {"success": success, "components": comps, "penetration": pen, "bad": bad}
        if bad.any():
            self.bad_count += int(bad.sum())
            log.warning("%d env(s) ended on non-finite values or a MuJoCo instability reset", int(bad.sum()))
        if done.any():
            idx = np.flatnonzero(done)
            info["final_obs"] = np.where(done[:, None], obs, 0.0)
            info["final_state"] = self.state[idx].copy()
            info["done_idx"] = idx
            self._reset_envs(idx)
            obs = build_observation(self.sim_state(), self.sub)
        terminated = bad.copy()
        truncated = truncated & ~bad
        return obs, reward.astype(np.float32), terminated, truncated, info

    def _physics(self) -> None:
        if self._rollout is not None:
            self._rollout.rollout(self.models, self._datas, self.state, self._ctrl_steps, control_spec=self._cspec,
                                  nstep=self._substeps, state=self._out_state, sensordata=self._out_sens, skip_checks=True)
        else:
            from mujoco import rollout

            rollout.rollout(self.models, self._datas, self.state, self._ctrl_steps, control_spec=self._cspec, nstep=self._substeps,
                            state=self._out_state, sensordata=self._out_sens, skip_checks=True)

    def physics_snapshot(self, i: int) -> tuple[np.ndarray, np.ndarray, Any]:
        """(state, eq_active, model) of env ``i``, enough to render it."""
        return self.state[i].copy(), self._ctrl[i, 0, self._nu:].copy(), self.models[i]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        if self._rollout is not None:
            self._rollout.close()
            self._rollout = None
