"""The check that task code passes before training: what it returns, whether success can be told from
failure, whether the task is solved before it starts, and the per-call time budget."""

import time
from pathlib import Path

import numpy as np
import pytest

from rlscope.gen2sim.pipeline import STANDARD_DIR, standard_tasks
from rlscope.gen2sim.sim.scene import build_scene
from rlscope.gen2sim.tasks.task import RewardCodeError, compile_code, load_task
from rlscope.gen2sim.tasks.validate import check_subtask

STANDARD_REWARD = (STANDARD_DIR / "open_drawer" / "open_drawer.py").read_text()


@pytest.fixture(scope="module")
def drawer():
    task = load_task(STANDARD_DIR / "open_drawer")
    return build_scene(task.scene, Path(task.root)), task.subtasks[0]


def _check(drawer, code: str, call_s: float | None = 2.0) -> list[str]:
    import dataclasses

    scene, sub = drawer
    sub = dataclasses.replace(sub, code=code)
    return check_subtask(scene, sub, call_s)


def _with(reward: str = "", success: str = "") -> str:
    """The standard drawer code with compute_reward's or is_success's body replaced."""
    code = STANDARD_REWARD
    if reward:
        code += f"\n\ndef compute_reward(state):\n    {reward}\n"
    if success:
        code += f"\n\ndef is_success(state):\n    {success}\n"
    return code


@pytest.mark.parametrize("name", standard_tasks())
def test_every_standard_task_passes(name):
    task = load_task(STANDARD_DIR / name)
    scene = build_scene(task.scene, Path(task.root))
    for sub in task.subtasks:
        assert check_subtask(scene, sub, 2.0) == [], sub.name


@pytest.mark.parametrize("reward, match", [
    ("return np.full(state.n, np.nan), {}", r"the reward is not finite \(nan\) in 8 of 8"),
    ("return np.zeros(state.n), {'reach': np.log(state.joint('cabinet/drawer_0_joint').fraction - 2)}",
     r"reward component 'reach' is not finite"),
    ("return 0.0, {}", r"the reward must be a \(8,\) float array .* got float 0.0"),
    ("return np.zeros((state.n, 1)), {}", r"got array of shape \(8, 1\)"),
    ("return np.zeros(state.n), {'grasp': 1.0}", r"reward component 'grasp' must be a \(8,\) float array"),
    ("return np.array(['a'] * state.n), {}", r"dtype <U1"),
])
def test_broken_rewards_are_rejected_naming_the_term(drawer, reward, match):
    with pytest.raises(RewardCodeError, match=match) as err:
        _check(drawer, _with(reward=reward))
    assert err.value.subtask == "open_drawer"


def test_a_reward_non_finite_only_in_unusual_states_is_caught_by_the_probes(drawer):
    """Finite in the first steps of a rollout (drawer closed), NaN once the drawer is half open."""
    reward = "f = state.joint('cabinet/drawer_0_joint').fraction\n    return np.where(f > 0.5, np.nan, -f), {}"
    with pytest.raises(RewardCodeError, match="the reward is not finite"):
        _check(drawer, _with(reward=reward))


@pytest.mark.parametrize("success, match", [
    ("return True", r"is_success must return a \(8,\) bool array .* got bool True"),
    ("return state.joint('cabinet/drawer_0_joint').fraction", r"dtype float64"),
    ("return np.ones(3, dtype=bool)", r"shape \(3,\)"),
])
def test_success_must_be_a_bool_per_environment(drawer, success, match):
    with pytest.raises(RewardCodeError, match=match):
        _check(drawer, _with(success=success))


@pytest.mark.parametrize("success, value", [("return np.zeros(state.n, dtype=bool)", False),
                                            ("return state.joint('cabinet/drawer_0_joint').fraction > 5", False),
                                            ("return state.t >= 0", True)])
def test_a_success_test_that_never_changes_is_rejected(drawer, success, value):
    problems = _check(drawer, _with(success=success))
    assert any(f"is_success is {value} in all 256 probe states" in p and "cabinet/drawer_0_joint" in p for p in problems), problems


def test_a_task_solved_before_it_starts_is_rejected(drawer):
    """An 'open' test that reads the joint the wrong way round (fraction near 0 = closed) holds at every start."""
    problems = _check(drawer, _with(success="return state.joint('cabinet/drawer_0_joint').fraction <= 0.34"))
    assert len(problems) == 1 and "already holds in 64 of 64 start states" in problems[0]


@pytest.mark.parametrize("body", ["while True:\n        pass",
                                  "x = 0\n    while x >= 0:\n        x += 1",
                                  "while True:\n        try:\n            sum(range(10**6))\n        except Exception:\n            pass"])
def test_reward_code_over_its_per_call_budget_is_stopped(drawer, body):
    t0 = time.monotonic()
    with pytest.raises(RewardCodeError, match=r"compute_reward ran past its per-call budget of 0.5 s"):
        _check(drawer, STANDARD_REWARD + f"\n\ndef compute_reward(state):\n    {body}\n", call_s=0.5)
    assert time.monotonic() - t0 < 10


def test_success_code_over_budget_is_named(drawer):
    with pytest.raises(RewardCodeError, match="is_success ran past its per-call budget"):
        _check(drawer, _with(success="while True:\n        pass"), call_s=0.3)


def test_nan_from_an_unstable_simulation_is_not_blamed_on_the_code(drawer):
    """Environments whose physics went non-finite are the simulation's fault: the env ends them instead."""
    scene, sub = drawer
    from rlscope.gen2sim.sim.env import BatchedEnv

    env = BatchedEnv(scene, sub, compile_code(sub, 2.0), num_envs=3, seed=0, nthread=1)
    env.reset(seed=0)
    env.state[1, 4] = np.nan
    _, rew, term, _, info = env.step(np.zeros((3, 4)))
    assert term.tolist() == [False, True, False] and np.isfinite(rew).all()
    env.close()
