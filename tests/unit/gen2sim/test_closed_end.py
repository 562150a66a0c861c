"""Which end of a joint's range is closed comes from the asset, not from the sign of a limit: an imported
microwave whose door is closed at its upper limit (range [-1.64, 0]) opens towards fraction 1 like any other."""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from rlscope.errors import RlscopeError
from rlscope.gen2sim.assets.asset import Joint
from rlscope.gen2sim.assets.build import BuildOptions, build, load_asset, write_asset
from rlscope.gen2sim.assets.cli import set_closed_ends
from rlscope.gen2sim.pipeline import copy_task
from rlscope.gen2sim.sim.env import BatchedEnv
from rlscope.gen2sim.sim.scene import build_scene
from rlscope.gen2sim.tasks.task import compile_code, load_task
from rlscope.gen2sim.tasks.offline import tasks_for_assets
from rlscope.gen2sim.tasks.validate import check_subtask


def _mirrored_microwave(tmp: Path) -> Path:
    """The procedural microwave as a URDF whose door joint turns the other way: range [-upper, 0], axis flipped."""
    write_asset(build(["procedural:microwave"], "src", BuildOptions(seed=3)), tmp / "src")
    text = (tmp / "src" / "model.urdf").read_text()
    door = re.search(r'<joint name="door_joint" type="revolute">.*?</joint>', text, re.S)[0]
    upper = re.search(r'upper="([0-9.]+)"', door)[1]
    flipped = door.replace('<axis xyz="0 0 -1" />', '<axis xyz="0 0 1" />').replace(
        f'lower="0" upper="{upper}"', f'lower="-{upper}" upper="0"')
    assert flipped != door
    (tmp / "src" / "model.urdf").write_text(text.replace(door, flipped))
    return tmp / "src" / "model.urdf"


@pytest.fixture(scope="module")
def microwave(tmp_path_factory) -> tuple[Path, float]:
    tmp = tmp_path_factory.mktemp("mw")
    built = build([_mirrored_microwave(tmp)], "mw", BuildOptions(category="microwave", seed=3))
    write_asset(built, tmp / "mw")
    door = next(j for j in built.asset.joints if j.name == "door_joint")
    return tmp / "mw", door.range[0]


def test_the_importer_records_the_end_nearer_zero_as_closed(microwave):
    adir, lower = microwave
    door = next(j for j in load_asset(adir).joints if j.name == "door_joint")
    assert lower < -1.0 and door.range[1] == 0.0
    assert door.closed == "upper" and door.ends() == (0.0, lower)
    assert Joint("j", "revolute", "a", "b", range=[0.0, 1.2]).ends() == (0.0, 1.2)  # inferred: the lower end
    assert Joint("j", "revolute", "a", "b", range=[-1.2, 0.0], closed="lower").ends() == (-1.2, 0.0)  # recorded wins
    with pytest.raises(ValueError, match="'closed' must be"):
        Joint("j", "revolute", "a", "b", closed="left")


@pytest.fixture(scope="module")
def mirrored_asset(tmp_path_factory) -> tuple[Path, float]:
    """The procedural microwave (with its handle) whose door joint turns the other way and is closed at its
    upper limit, as the importer records such a joint."""
    built = build(["procedural:microwave"], "mw", BuildOptions(seed=3))
    door = next(j for j in built.asset.joints if j.name == "door_joint")
    door.axis = [-v for v in door.axis]
    door.range = [-door.range[1], 0.0]
    door.closed = "upper"
    out = tmp_path_factory.mktemp("mirrored") / "mw"
    write_asset(built, out)
    return out, door.range[0]


def _open_door_task(adir: Path, tmp: Path):
    task = next(t for t in tasks_for_assets([adir]) if t.task_id.startswith("open_") and "door" in t.task_id)
    copy_task(task, tmp / "task")
    task = load_task(tmp / "task")
    return task, build_scene(task.scene, tmp / "task")


def test_a_door_closed_at_its_upper_limit_starts_closed_and_opens_towards_one(mirrored_asset, tmp_path):
    microwave = mirrored_asset
    task, scene = _open_door_task(microwave[0], tmp_path)
    sub = task.subtasks[0]
    code = compile_code(sub, 2.0)
    joint = next(iter(scene.joints))
    assert scene.joints[joint] == pytest.approx((0.0, microwave[1]))
    microwave = (microwave[0], scene.joints[joint][1])  # as written to asset.json
    env = BatchedEnv(scene, sub, code, num_envs=8, seed=0, nthread=1)
    env.reset()
    st = env.sim_state().joint(joint)
    # near the closed end (0) at the start: an open task starts its part between closed and a tenth open
    assert ((st.fraction > -1e-3) & (st.fraction < 0.1 + 1e-3)).all() and ((st.pos <= 1e-3) & (st.pos >= 0.1 * microwave[1] - 1e-3)).all()
    assert (st.lower, st.upper, st.closed, st.open) == (microwave[1], 0.0, 0.0, microwave[1])
    assert not code.success(env.sim_state()).any()  # was "solved" at step 0 when fraction read the lower limit as closed
    env.sens[:, scene.sensors[f"qpos:{joint}"]] = 0.75 * microwave[1]  # the door swung three quarters open
    assert np.allclose(env.sim_state().joint(joint).fraction, 0.75) and code.success(env.sim_state()).all()
    env.close()
    assert check_subtask(scene, sub, 2.0) == []


def test_every_reset_starts_a_part_at_its_closed_end_even_away_from_zero(mirrored_asset, tmp_path):
    """Recorded closed at its lower limit (-1.64), the mirrored door starts there, not at the model's 0."""
    import json
    import shutil

    adir = tmp_path / "mw"
    shutil.copytree(mirrored_asset[0], adir)
    data = json.loads((adir / "asset.json").read_text())
    next(j for j in data["joints"] if j["name"] == "door_joint")["closed"] = "lower"
    (adir / "asset.json").write_text(json.dumps(data))
    task, scene = _open_door_task(adir, tmp_path)
    joint = next(iter(scene.joints))
    closed = scene.joints[joint][0]
    assert closed == pytest.approx(mirrored_asset[1], abs=1e-6) and closed < -1.0
    sub = task.subtasks[0]
    sub = dataclasses.replace(sub, init=dataclasses.replace(sub.init, joints={}))  # no start range: the closed end
    env = BatchedEnv(scene, sub, compile_code(sub), num_envs=4, seed=0, nthread=1)
    env.reset()
    st = env.sim_state().joint(joint)
    assert np.allclose(st.pos, closed, atol=1e-3) and np.allclose(st.fraction, 0.0, atol=1e-3)
    env.close()


def test_the_user_overrides_the_closed_end(microwave):
    asset = load_asset(microwave[0])
    set_closed_ends(asset, ("door_joint=lower",))
    assert next(j for j in asset.joints if j.name == "door_joint").ends() == (microwave[1], 0.0)
    with pytest.raises(RlscopeError, match="has no movable joint 'hinge'.*door_joint"):
        set_closed_ends(asset, ("hinge=upper",))
    with pytest.raises(RlscopeError, match="expected JOINT=lower or JOINT=upper"):
        set_closed_ends(asset, ("door_joint=open",))
