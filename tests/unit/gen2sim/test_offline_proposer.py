"""The offline proposer: every procedural asset kind gets its tasks, each of them validates, the same inputs give
the same tasks, and the generated code reads the right parts."""

import dataclasses

import numpy as np
import pytest

from rlscope.gen2sim.assets.build import BuildOptions, build_procedural, write_asset
from rlscope.gen2sim.sim.env import BatchedEnv
from rlscope.gen2sim.sim.scene import build_scene
from rlscope.gen2sim.tasks.offline import tasks_for_assets
from rlscope.gen2sim.tasks.task import compile_code, load_task
from rlscope.gen2sim.tasks.validate import validate_subtask

KINDS = {
    "cabinet": {"width": 0.6, "depth": 0.4, "height": 0.7, "n_drawers": 2, "doors": "left"},
    "microwave": {}, "storage_box": {}, "trash_can": {}, "laptop": {}, "window": {}, "faucet": {},
}
EXPECTED = {
    "cabinet": {"open_cabinet_drawer_0", "close_cabinet_drawer_0", "open_cabinet_drawer_1", "close_cabinet_drawer_1",
                "open_cabinet_door_left", "close_cabinet_door_left", "put_cube_into_cabinet_drawer_0",
                "put_cube_into_cabinet_drawer_1"},
    "microwave": {"open_microwave_door", "close_microwave_door", "turn_microwave_knob"},
    "storage_box": {"open_storage_box_lid", "close_storage_box_lid", "put_cube_into_storage_box_lid"},
    "trash_can": {"open_trash_can_lid", "close_trash_can_lid", "put_cube_into_trash_can_lid"},
    "laptop": {"open_laptop_screen", "close_laptop_screen"},
    "window": {"open_window_sash", "close_window_sash"},
    "faucet": {"turn_faucet_lever"},
}


@pytest.fixture(scope="module")
def asset_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("assets")
    out = {}
    for kind, params in KINDS.items():
        write_asset(build_procedural(kind, kind, BuildOptions(seed=3), **params), root / kind)
        out[kind] = root / kind
    return out


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_gets_its_tasks_and_each_validates(asset_dirs, kind):
    tasks = tasks_for_assets([asset_dirs[kind]])
    assert {t.task_id for t in tasks} == EXPECTED[kind]
    for task in tasks:
        scene = build_scene(task.scene)
        assert all(a.fixed for a in task.scene.assets)  # pulling a part must not drag the asset
        for sub in task.subtasks:
            verdict = validate_subtask(scene, sub)
            assert verdict.ok, (task.task_id, sub.name, verdict.problems)
            assert verdict.warnings == (), (task.task_id, sub.name, verdict.warnings)


def test_same_inputs_same_tasks(asset_dirs):
    a = tasks_for_assets([asset_dirs["cabinet"], asset_dirs["storage_box"]])
    b = tasks_for_assets([asset_dirs["cabinet"], asset_dirs["storage_box"]])
    assert [dataclasses.asdict(t) for t in a] == [dataclasses.asdict(t) for t in b]


def test_open_task_reads_its_own_drawer(asset_dirs):
    task = next(t for t in tasks_for_assets([asset_dirs["cabinet"]]) if t.task_id == "open_cabinet_drawer_1")
    sub = task.subtasks[0]
    assert 'HANDLE = "cabinet/drawer_1_handle"' in sub.code and 'JOINT = "cabinet/drawer_1_joint"' in sub.code
    assert sub.observe == ("handle:cabinet/drawer_1_handle", "joint:cabinet/drawer_1_joint")
    assert task.scene.gripper.workspace_high[2] >= 0.7 + 0.25 - 1e-9  # room above the 0.7 m cabinet


def test_put_into_drawer_success_means_the_cube_is_inside(asset_dirs, tmp_path):
    """The place sub-task's success follows the cube: in the open drawer yes, on the floor in front no."""
    import mujoco

    from rlscope.gen2sim.pipeline import copy_task

    task = next(t for t in tasks_for_assets([asset_dirs["cabinet"]]) if t.task_id == "put_cube_into_cabinet_drawer_0")
    assert [s.name for s in task.subtasks] == ["open", "place", "close"]
    copy_task(task, tmp_path / "t")
    task = load_task(tmp_path / "t")
    scene = build_scene(task.scene, tmp_path / "t")
    place = task.subtasks[1]
    env = BatchedEnv(scene, place, compile_code(place), num_envs=2, seed=0, nthread=1)
    env.reset()  # drawer 75-100 % open, cube on the floor
    st = env.sim_state()
    assert not compile_code(place).success(st).any()
    m, d = scene.model, env._scratch
    mujoco.mj_setState(m, d, env.state[0], env._spec)
    mujoco.mj_forward(m, d)
    body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "cabinet/drawer_0")
    adr = scene.joint_qpos_adr("cube")
    d.qpos[adr:adr + 3] = d.xpos[body] + np.array([0.0, 0.08, -0.03])  # resting on the drawer's floor
    mujoco.mj_forward(m, d)
    env.sens[0] = d.sensordata
    ok = compile_code(place).success(env.sim_state())
    assert ok.tolist() == [True, False]
    env.close()
