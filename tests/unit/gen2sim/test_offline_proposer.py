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


def test_description_reads_like_partnet_mobility(asset_dirs):
    """Built from asset.json: semantics, joints with axis, limits and closed end, which part each handle moves, the
    inside of a part that holds things, free objects with their sizes."""
    from rlscope.gen2sim.assets.build import load_asset
    from rlscope.gen2sim.sim.scene import AssetSpec, ObjectSpec, SceneSpec
    from rlscope.gen2sim.tasks.describe import describe_scene, render_description

    scene = SceneSpec(assets=(AssetSpec(name="box", dir=str(asset_dirs["storage_box"]), pos=(0.0, 0.25, 0.0), fixed=True),),
                      objects=(ObjectSpec(name="cube", size=(0.05, 0.05, 0.05)),))
    desc = describe_scene(scene)
    (a,) = desc["assets"]
    asset = load_asset(asset_dirs["storage_box"])
    assert {lk["name"]: lk["semantic"] for lk in a["links"]} == {f"box/{lk.name}": lk.semantic for lk in asset.links}
    (j,) = a["joints"]
    assert (j["name"], j["type"], j["moves_semantic"], j["closed"]) == ("box/lid_joint", "revolute", "lid", 0.0)
    assert j["open"] == pytest.approx(asset.joints[0].range[1], abs=1e-4)
    assert a["handles"][0]["operates"] == "box/lid_joint"
    body = next(lk for lk in a["links"] if lk["name"] == "box/body")
    lo, hi = np.array(body["inside"]["low"]), np.array(body["inside"]["high"])
    size = np.array(asset.physics.size)
    assert (hi - lo > 0.5 * size).all() and lo[2] > 0 and hi[2] < size[2]  # within the walls, above the floor
    text = render_description(desc)
    for line in ('asset_name: "box"', "box/lid_joint: revolute, moves box/lid (lid)", "operates box/lid_joint",
                 "inside (offsets from the link's position)", "cube: box of size [0.05, 0.05, 0.05] m"):
        assert line in text, line
