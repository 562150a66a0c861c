"""The SB3 adapter: a BatchedEnv behind SB3's VecEnv conventions, and a tiny SB3 PPO run through it."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest


import rlscope.gen2sim.tasks as tasks_pkg
from rlscope.gen2sim.rl.sb3 import SB3VecEnv, train_sb3
from rlscope.gen2sim.sim.env import BatchedEnv
from rlscope.gen2sim.sim.scene import build_scene
from rlscope.gen2sim.tasks.task import compile_code, load_task

EPISODE = 5


@pytest.fixture(scope="module")
def drawer():
    task = load_task(Path(tasks_pkg.__file__).parent / "standard" / "open_drawer")
    sub = dataclasses.replace(task.subtasks[0], episode_steps=EPISODE)
    return build_scene(task.scene), sub, compile_code(sub)


def make_env(drawer, n):
    scene, sub, code = drawer
    return BatchedEnv(scene, sub, code, num_envs=n, seed=0, nthread=2)


def test_shapes_dtypes_and_terminal_observations(drawer):
    n = 4
    venv = SB3VecEnv(make_env(drawer, n))
    try:
        assert venv.num_envs == n
        assert venv.observation_space.shape == (venv.env.obs_size,) and venv.action_space.shape == (4,)
        venv.seed(3)
        obs = venv.reset()
        assert obs.shape == (n, venv.env.obs_size) and obs.dtype == np.float32
        rng = np.random.default_rng(0)
        for t in range(1, 2 * EPISODE + 1):
            obs, rew, dones, infos = venv.step(rng.uniform(-1, 1, (n, 4)).astype(np.float32))
            assert obs.shape == (n, venv.env.obs_size) and obs.dtype == np.float32
            assert rew.shape == (n,) and rew.dtype == np.float32
            assert dones.shape == (n,) and dones.dtype == bool
            assert isinstance(infos, list) and len(infos) == n
            ended = t % EPISODE == 0
            assert dones.tolist() == [ended] * n
            for info in infos:
                assert ("terminal_observation" in info) == ended
                assert info["TimeLimit.truncated"] == ended
                assert isinstance(info["is_success"], bool)
                if ended:
                    term = info["terminal_observation"]
                    assert term.shape == (venv.env.obs_size,) and term.dtype == np.float32
            if ended:  # the returned observation starts a new episode, the terminal one ended the old
                assert not np.allclose(np.stack([i["terminal_observation"] for i in infos]), obs)
        assert venv.get_attr("num_envs") == [n] * n and venv.get_attr("render_mode", [0]) == [None]
        assert venv.env_is_wrapped(object) == [False] * n
    finally:
        venv.close()


@pytest.mark.parametrize("asked, expected", [(64, 64), (40, 64)])
def test_sb3_ppo_runs(drawer, asked, expected):
    env = make_env(drawer, 4)  # 4 envs x n_steps 8 = 32 per rollout: 64 is two updates, 40 rounds up to two
    try:
        res = train_sb3(env, asked, n_steps=8, batch_size=16, epochs=1, lr=1e-3, gamma=0.98, gae_lambda=0.95, hidden=16)
    finally:
        env.close()
    assert res["steps"] == expected
    assert res["seconds"] > 0 and res["steps_per_s"] == pytest.approx(expected / res["seconds"])
    assert 0.0 <= res["success_rate"] <= 1.0  # 5-step episodes end inside the last rollout
