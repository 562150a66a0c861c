"""Scenes, the batched environment, the state API and task files, on the real MuJoCo."""

import dataclasses
import json

import numpy as np
import pytest

from rlscope.errors import DataError
from rlscope.gen2sim.pipeline import STANDARD_DIR, resolve_task_dir, standard_tasks
from rlscope.gen2sim.sim.env import BatchedEnv, observation_size
from rlscope.gen2sim.sim.scene import AssetSpec, ObjectSpec, SceneSpec, build_scene
from rlscope.gen2sim.sim.state import STATE_API, UnknownName
from rlscope.gen2sim.tasks.task import (RewardCodeError, SubTask, TaskCodeError, compile_code, load_task, save_task)

DRAWER = "cabinet/drawer_0_handle"
JOINT = "cabinet/drawer_0_joint"


def _env(task_name: str, k: int = 0, n: int = 4, **kw):
    task = load_task(STANDARD_DIR / task_name)
    scene = build_scene(task.scene)
    sub = task.subtasks[k]
    return BatchedEnv(scene, sub, compile_code(sub), num_envs=n, seed=0, nthread=1, **kw)


def test_standard_tasks_are_shipped():
    assert {"open_drawer", "close_drawer", "open_door", "close_door", "push_cube", "pick_place_cube",
            "put_cube_in_drawer"} <= set(standard_tasks())
    assert resolve_task_dir("open_drawer") == STANDARD_DIR / "open_drawer"


@pytest.mark.parametrize("name", sorted(p.name for p in STANDARD_DIR.iterdir() if (p / "task.json").exists()))
def test_every_standard_subtask_resets_steps_and_stays_finite(name):
    task = load_task(STANDARD_DIR / name)
    scene = build_scene(task.scene)
    for sub in task.subtasks:
        env = BatchedEnv(scene, sub, compile_code(sub), num_envs=3, seed=1, nthread=1)
        obs, _ = env.reset()
        assert obs.shape == (3, observation_size(sub)) and obs.dtype == np.float32
        assert env.sim_state().penetration.max() <= 0.002  # starts never interpenetrate
        rng = np.random.default_rng(0)
        for t in range(sub.episode_steps):
            obs, rew, term, trunc, info = env.step(rng.uniform(-1, 1, (3, 4)) if t % 2 else np.zeros((3, 4)))
            assert np.isfinite(obs).all() and np.isfinite(rew).all()
            assert set(info["components"]) and info["success"].dtype == bool
        assert trunc.all() and not term.any()  # the time limit ended every episode at once
        assert env.bad_count == 0
        env.close()


def test_state_api_reads_the_scene_and_names_what_exists():
    env = _env("put_cube_in_drawer")
    env.reset()
    st = env.sim_state()
    assert st.n == 4
    assert st.gripper.pos.shape == (4, 3) and np.allclose(st.gripper.opening, 1.0)
    assert np.allclose(st.joint(JOINT).fraction, 0.0, atol=1e-6)
    assert st.joint(JOINT).upper > 0.1
    assert st.object("cube").pos[:, 2] == pytest.approx(np.full(4, 0.025), abs=2e-3)
    assert st.handle(DRAWER).pos.shape == (4, 3)
    with pytest.raises(UnknownName, match="cabinet/drawer_0_joint"):
        st.joint("drawer")
    with pytest.raises(UnknownName, match="cube"):
        st.object("ball")
    for term in ("state.gripper.pos", "state.joint(name).fraction", "compute_reward", "is_success"):
        assert term in STATE_API


def _scripted(env, target_fn, grip, steps):
    """Move the tip towards target_fn(state); grip: a constant, or "near" (on within 3 cm of the target)."""
    for _ in range(steps):
        st = env.sim_state()
        a = np.zeros((env.num_envs, 4))
        d = target_fn(st) - st.gripper.pos
        a[:, :3] = np.clip(d / 0.02, -1, 1)
        a[:, 3] = np.where(np.linalg.norm(d, axis=1) < 0.03, 1.0, -1.0) if grip == "near" else grip
        _, _, _, _, info = env.step(a)
    return info


def test_suction_holds_a_handle_pulls_the_drawer_and_lets_go_only_below_threshold():
    env = _env("open_drawer")
    env.reset(seed=3)
    _scripted(env, lambda st: st.handle(DRAWER).pos, "near", 40)
    st = env.sim_state()
    assert st.is_grasping(DRAWER).all()
    # pull straight out; a grip command near 0 (exploration noise) must not drop the handle
    for g in (0.3, -0.3, 0.0):
        env.step(np.tile([0.0, -1.0, 0.0, g], (4, 1)))
    assert env.sim_state().is_grasping(DRAWER).all()
    _scripted(env, lambda st: st.gripper.pos + np.array([0, -0.05, 0]), 1.0, 25)
    st = env.sim_state()
    assert (st.joint(JOINT).fraction > 0.6).all()
    assert st.penetration.max() < 0.005
    env.step(np.tile([0.0, 0.0, 0.0, -1.0], (4, 1)))
    assert not env.sim_state().gripper.grasping.any()


def test_gripper_cannot_pass_through_a_thin_handle():
    """Driving the hand at full force into the 16 mm handle bar: it stops there, a few mm deep at most."""
    env = _env("open_drawer", n=2)
    env.reset(seed=0)
    st = env.sim_state()
    h = st.handle(DRAWER).pos
    # line the tip up in front of the bar at its height, fingers closed (no suction: grip off)
    _scripted(env, lambda st: h + np.array([0.0, -0.08, 0.0]), -1.0, 40)
    pen = []
    for _ in range(60):
        _, _, _, _, info = env.step(np.tile([0.0, 1.0, 0.0, -1.0], (2, 1)))
        pen.append(info["penetration"].max())
    st = env.sim_state()
    assert (st.gripper.pos[:, 1] < h[:, 1]).all()  # still in front of the bar
    assert max(pen) < 0.005
    assert max(pen) > 0.0  # it did press against the bar (the sensor sees the contact)


def test_pushing_without_suction_task_flag():
    env = _env("push_cube")
    assert env.suction is False
    env.reset(seed=0)
    _scripted(env, lambda st: st.object("cube").pos, 1.0, 30)
    assert not env.sim_state().gripper.grasping.any()


def test_instability_and_non_finite_values_end_the_episode_and_are_counted():
    env = _env("open_drawer", n=3)
    env.reset(seed=0)
    env.state[1, 1 + 3] = np.nan  # a non-finite coordinate in env 1
    obs, rew, term, trunc, info = env.step(np.zeros((3, 4)))
    assert term.tolist() == [False, True, False] and info["bad"][1]
    assert env.bad_count == 1 and rew[1] == 0.0
    assert np.isfinite(obs).all() and env.t[1] == 0  # env 1 was reset


def test_reward_code_errors_carry_the_traceback():
    env = _env("open_drawer", n=2)
    sub = dataclasses.replace(env.sub, code="def compute_reward(state):\n    return 1 / 0, {}\n\ndef is_success(state):\n    return state.t > 0\n")
    env.code = compile_code(sub)
    env.reset()
    with pytest.raises(RewardCodeError) as exc:
        env.step(np.zeros((2, 4)))
    assert "ZeroDivisionError" in exc.value.text and "compute_reward" in exc.value.text
    bad_shape = dataclasses.replace(sub, code="def compute_reward(state):\n    return np.zeros(7), {}\n\ndef is_success(state):\n    return True\n")
    env.code = compile_code(bad_shape)
    with pytest.raises(RewardCodeError, match=r"the reward must be a \(2,\) float array .* got array of shape \(7,\)"):
        env.step(np.zeros((2, 4)))


def test_compile_errors_name_the_file_and_line():
    sub = SubTask(name="s", description="", code="def compute_reward(state):\n    return (\n", code_file="s.py")
    with pytest.raises(TaskCodeError, match=r"s\.py:\d"):
        compile_code(sub)
    with pytest.raises(TaskCodeError, match="is_success"):
        compile_code(dataclasses.replace(sub, code="def compute_reward(state):\n    return 0, {}\n"))


def test_paired_starts_continue_each_episode_from_its_own_state():
    env = _env("open_drawer", n=3)
    env.reset(seed=0)
    _scripted(env, lambda st: st.handle(DRAWER).pos, "near", 40)
    _scripted(env, lambda st: st.gripper.pos + np.array([0, -0.05, 0]), 1.0, 3 + env.num_envs)
    ends = env.state.copy()
    opened = env.sim_state().joint(JOINT).fraction.copy()
    nxt = _env("close_drawer", n=3, start_states=ends, paired_starts=True)
    nxt.reset()
    # readings after a step lag the state by one physics substep (sensors are computed before integrating)
    assert np.allclose(nxt.sim_state().joint(JOINT).fraction, opened, atol=0.01)
    assert (opened > 0.05).all()
    assert not nxt.sim_state().gripper.grasping.any()  # suction is released at a hand-over
    with pytest.raises(ValueError, match="one start state per environment"):
        _env("close_drawer", n=2, start_states=ends, paired_starts=True)


def test_task_files_round_trip_and_bad_input_is_named(tmp_path):
    task = load_task(STANDARD_DIR / "put_cube_in_drawer")
    out = save_task(task, tmp_path / "copy")
    again = load_task(out)
    assert [s.code for s in again.subtasks] == [s.code for s in task.subtasks]
    assert again.scene == task.scene and again.subtasks[1].init == task.subtasks[1].init
    with pytest.raises(DataError, match="no task.json"):
        load_task(tmp_path)
    d = json.loads((out / "task.json").read_text())
    d["subtasks"][0]["observe"] = ["handel:x"]
    (out / "task.json").write_text(json.dumps(d))
    with pytest.raises(DataError, match=r"subtasks\[0\].*handel:x"):
        load_task(out)
    d["subtasks"][0]["observe"] = []
    d["subtasks"][0]["rewrad"] = 1
    (out / "task.json").write_text(json.dumps(d))
    with pytest.raises(DataError, match="rewrad"):
        load_task(out)
    (out / "task.json").write_text("{\n  \"task_id\": 1,\n  oops\n}")
    with pytest.raises(DataError, match=r"task\.json:3"):
        load_task(out)


def test_subtask_ppo_settings_are_checked_kept_and_yield_to_the_run(tmp_path):
    from rlscope.gen2sim.rl.ppo import PPOConfig, with_task_settings

    task = load_task(STANDARD_DIR / "pick_place_cube")
    settings = task.subtasks[0].ppo
    assert settings.get("ent_coef", 0.0) > 0.0
    again = load_task(save_task(task, tmp_path / "copy"))
    assert again.subtasks[0].ppo == settings
    assert with_task_settings(PPOConfig(), {"ent_coef": 0.01}).ent_coef == 0.01
    assert with_task_settings(PPOConfig(ent_coef=0.02), {"ent_coef": 0.01}).ent_coef == 0.02  # the run's choice wins
    d = json.loads((tmp_path / "copy" / "task.json").read_text())
    for bad, match in (({"ent_coeff": 0.01}, r"subtasks\[0\]\.ppo.*ent_coeff.*ent_coef"),
                       ({"epochs": 2.5}, r"'epochs': expected int"), ({"norm_obs": 1}, r"'norm_obs': expected bool"),
                       ([1], "expected an object")):
        d["subtasks"][0]["ppo"] = bad
        (tmp_path / "copy" / "task.json").write_text(json.dumps(d))
        with pytest.raises(DataError, match=match):
            load_task(tmp_path / "copy")


def test_scene_rejects_duplicate_names_and_bad_shapes():
    with pytest.raises(DataError, match="unique"):
        build_scene(SceneSpec(objects=(ObjectSpec("a"), ObjectSpec("a"))))
    with pytest.raises(DataError, match="shape"):
        build_scene(SceneSpec(objects=(ObjectSpec("a", shape="torus"),)))
    with pytest.raises(DataError, match="exactly one"):
        build_scene(SceneSpec(assets=(AssetSpec("c"),)))
    with pytest.raises(DataError, match="unknown scene field"):
        SceneSpec.from_dict({"asets": []})
