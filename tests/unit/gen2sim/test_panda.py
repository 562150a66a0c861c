"""The Panda arm option: robosuite's model files, inverse kinematics at the start, the flange following
the gripper, and the arm's contacts counted in the physical-honesty check."""

import dataclasses
import importlib.util

import mujoco
import numpy as np
import pytest

from rlscope.errors import DataError
from rlscope.gen2sim.sim import panda
from rlscope.gen2sim.sim.scene import GRIPPER, build_scene
from rlscope.gen2sim.sim.state import penetration

pytestmark = pytest.mark.skipif(importlib.util.find_spec("robosuite") is None,
                                reason="robosuite's model files are not installed (make test installs them)")


def _task(name="open_drawer", arm="panda"):
    from rlscope.gen2sim.pipeline import resolve_task_dir, with_arm
    from rlscope.gen2sim.tasks.task import load_task

    return with_arm(load_task(resolve_task_dir(name)), arm)


@pytest.fixture(scope="module")
def drawer():
    from rlscope.gen2sim.tasks.task import compile_code

    task = _task()
    scene = build_scene(task.scene, task.root)
    return scene, task.subtasks[0], compile_code(task.subtasks[0])


def _flange_gap(scene, state) -> float:
    m = scene.model
    d = mujoco.MjData(m)
    mujoco.mj_setState(m, d, state, mujoco.mjtState.mjSTATE_FULLPHYSICS)
    mujoco.mj_kinematics(m, d)
    hand = d.body(panda.HAND)
    grip = d.body(GRIPPER)
    offset = hand.xmat.reshape(3, 3).T @ (grip.xpos - hand.xpos)  # the palm in the flange frame
    return float(np.linalg.norm(offset - [0.0, 0.0, panda.FLANGE_GAP]))


def test_missing_model_files_are_one_clear_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="pip install robosuite"):
        panda.model_file()


def test_unknown_arm_is_rejected():
    task = _task()
    spec = dataclasses.replace(task.scene, gripper=dataclasses.replace(task.scene.gripper, arm="ur5"))
    with pytest.raises(DataError, match="unknown arm 'ur5'"):
        build_scene(spec, task.root)


def test_ik_starts_every_episode_with_the_flange_on_the_palm(drawer):
    from rlscope.gen2sim.sim.env import BatchedEnv

    scene, sub, code = drawer
    assert scene.arm is not None and scene.arm.weld == scene.model.neq - 1
    env = BatchedEnv(scene, sub, code, num_envs=6, seed=3, nthread=1)
    env.reset(seed=3)
    arm_q = env.state[:, 1 + scene.arm.qpos_adr]  # FULLPHYSICS state: time, then qpos
    assert np.ptp(arm_q, axis=0).max() > 1e-3  # drawn gripper starts differ, so do the arm configurations
    assert max(_flange_gap(scene, s) for s in env.state) < 1e-3
    assert env.sim_state().penetration.max() == 0.0


def test_arm_follows_the_gripper_and_opens_the_drawer(drawer):
    from rlscope.gen2sim.sim.env import BatchedEnv

    scene, sub, code = drawer
    env = BatchedEnv(scene, sub, code, num_envs=4, seed=0, nthread=1)
    env.reset(seed=0)
    handle = scene.handles[0]
    gaps, pen = [], 0.0
    for t in range(100):  # reach the handle with suction on, then pull back along -y
        st = env.sim_state()
        a = np.zeros((4, 4))
        a[:, 3] = 1.0
        if t < 40:
            a[:, :3] = np.clip((st.handle(handle).pos - st.gripper.pos) / 0.02, -1, 1)
        else:
            a[:, 1] = -1.0
        _, _, _, _, info = env.step(a)
        pen = max(pen, float(info["penetration"].max()))
        gaps.append(max(_flange_gap(scene, s) for s in env.state))
    assert max(gaps) < 5e-3  # the weld holds the flange on the palm while the arm moves
    assert env.bad_count == 0 and pen < 0.01
    assert info["success"].sum() >= 2  # the arm did not stop the gripper from opening the drawer


def test_arm_interpenetration_counts_against_honesty(drawer):
    scene = drawer[0]
    assert "contact:arm" in scene.sensors
    m = scene.model
    d = mujoco.MjData(m)
    d.qpos[scene.arm.qpos_adr] = panda.HOME
    mujoco.mj_forward(m, d)
    assert penetration(d.sensordata[None], scene.sensors)[0] == 0.0
    d.qpos[scene.arm.qpos_adr[1]] = 1.6  # shoulder forward and down: the forearm goes into the floor
    d.qpos[scene.arm.qpos_adr[3]] = -0.2
    mujoco.mj_forward(m, d)
    assert penetration(d.sensordata[None], scene.sensors)[0] > 0.01


def _steps_to_grasp_the_door_handle(arm: str | None) -> np.ndarray:
    """A scripted reach at full speed to the door's handle, suction on near it: control steps until held."""
    from rlscope.gen2sim.sim.env import BatchedEnv
    from rlscope.gen2sim.tasks.task import compile_code

    task = _task("open_door", arm)
    sub = task.subtasks[0]
    env = BatchedEnv(build_scene(task.scene, task.root), sub, compile_code(sub), num_envs=8, seed=0, nthread=1)
    env.reset(seed=0)
    handle = "cabinet/door_left_handle"
    held_at = np.full(8, -1)
    for t in range(80):
        st = env.sim_state()
        gap = st.handle(handle).pos - st.gripper.pos
        held_at[st.gripper.grasping & (held_at < 0)] = t
        a = np.zeros((8, 4))
        a[:, :3] = np.clip(gap / 0.02, -1, 1)
        a[:, 3] = np.where(np.linalg.norm(gap, axis=1) < 0.04, 1.0, -1.0)
        env.step(a)
    env.close()
    return held_at


def test_the_arm_does_not_drag_the_gripper():
    """The servos carry the arm's links too: with robosuite's placeholder inertias and heavy joint damping a
    reach took ~1.7x as many steps as without the arm, and the door skill did not learn in its budget; with
    the gripper's full Cartesian damping on top of the arm's, ~1.3x."""
    floating, carried = _steps_to_grasp_the_door_handle(None), _steps_to_grasp_the_door_handle("panda")
    assert (floating >= 0).all() and (carried >= 0).all()
    assert carried.mean() <= 1.15 * floating.mean(), (floating, carried)
