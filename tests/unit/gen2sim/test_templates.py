"""Standard skills re-targeted at assets: the generated tasks compile, run and read the right parts."""

import numpy as np
import pytest

from rlscope.gen2sim.assets.build import BuildOptions, build_procedural, write_asset
from rlscope.gen2sim.sim.env import BatchedEnv
from rlscope.gen2sim.sim.scene import build_scene
from rlscope.gen2sim.tasks.task import compile_code, load_task
from rlscope.gen2sim.tasks.templates import articulated_tasks, tasks_for_asset


@pytest.fixture(scope="module")
def cabinet_dir(tmp_path_factory):
    built = build_procedural("cabinet", "cab", BuildOptions(seed=3), width=0.6, depth=0.4, height=0.7, n_drawers=2,
                             doors="left")
    out = tmp_path_factory.mktemp("assets") / "cab"
    write_asset(built, out)
    return out


def test_every_drawer_and_door_gets_its_task(cabinet_dir):
    from rlscope.gen2sim.assets.build import load_asset

    asset = load_asset(cabinet_dir)
    tasks = tasks_for_asset(asset, str(cabinet_dir))
    ids = sorted(t.task_id for t in tasks)
    assert ids == ["open_cab_door_left", "open_cab_drawer_0", "open_cab_drawer_1"]
    both = articulated_tasks(asset, str(cabinet_dir), actions=("open", "close"))
    assert len(both) == 6
    drawer1 = next(t for t in tasks if t.task_id == "open_cab_drawer_1")
    sub = drawer1.subtasks[0]
    assert 'HANDLE = "asset/drawer_1_handle"' in sub.code and 'JOINT = "asset/drawer_1_joint"' in sub.code
    assert sub.observe == ("handle:asset/drawer_1_handle", "joint:asset/drawer_1_joint")
    # the gripper starts in front of that handle, and the workspace reaches the top of the cabinet
    h = next(h for h in asset.handles if h.name == "drawer_1_handle")
    start = np.asarray(drawer1.scene.gripper.start)
    assert start[1] < h.pos[1] + 0.25 and abs(start[2] - (h.pos[2] + 0.1)) < 1e-6
    assert drawer1.scene.gripper.workspace_high[2] >= 0.7


def test_generated_task_round_trips_and_runs(cabinet_dir, tmp_path):
    from rlscope.gen2sim.assets.build import load_asset

    from rlscope.gen2sim.pipeline import copy_task

    task = tasks_for_asset(load_asset(cabinet_dir), str(cabinet_dir))[1]
    copy_task(task, tmp_path / "t")  # the asset copied in: a task file refers only to its own directory
    again = load_task(tmp_path / "t")
    assert again.scene.assets[0].dir == "assets/cab"
    scene = build_scene(again.scene, tmp_path / "t")
    sub = again.subtasks[0]
    env = BatchedEnv(scene, sub, compile_code(sub), num_envs=2, seed=0, nthread=1)
    obs, _ = env.reset()
    for _ in range(5):
        obs, rew, *_ = env.step(np.zeros((2, 4)))
    st = env.sim_state()
    joint = sub.observe[1].split(":", 1)[1]
    assert np.allclose(st.joint(joint).fraction, 0.0, atol=0.02)  # nothing pulled it
    assert np.isfinite(rew).all() and (rew < 0.5).all()  # far from the handle, drawer closed
    env.close()
