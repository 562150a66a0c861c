"""Rollouts of a chain flattened for the demonstration export, and the export's errors in the main environment."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from rlscope.gen2sim.demos import pack_rollouts, rollout_seed, split_rollouts
from rlscope.gen2sim.rl.evaluate import ChainResult, EvalResult


def _stage(lengths, start, success, penetration):
    """A recorded stage: episode i lasts lengths[i] steps; states count up from start[i] so joins are visible."""
    e = len(lengths)
    frames = [np.arange(start[i], start[i] + n + 1, dtype=float)[:, None].repeat(3, axis=1) for i, n in enumerate(lengths)]
    return EvalResult(episodes=e, success=np.array(success), penetration=np.array(penetration), bad=np.zeros(e, bool),
                      end_states=np.stack([f[-1] for f in frames]), returns=np.zeros(e), frames=frames,
                      frames_eq=[np.zeros((n + 1, 1)) for n in lengths],
                      actions=[np.full((n, 4), i, np.float32) for i, n in enumerate(lengths)],
                      rewards=[np.arange(n, dtype=np.float32) for n in lengths])


def test_a_two_stage_chain_is_flattened_episode_by_episode():
    first = _stage([3, 2], start=[0, 10], success=[True, True], penetration=[0.001, 0.002])
    # stage 2 starts where stage 1 ended (state 3 and 12)
    second = _stage([2, 4], start=[3, 12], success=[True, False], penetration=[0.02, 0.001])
    packed = pack_rollouts(ChainResult([first, second]))
    assert packed["lengths"].tolist() == [5, 6]
    assert packed["states"][:, 0].tolist() == [0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 15]
    assert packed["stage"].tolist() == [0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1]
    assert packed["final_states"][:, 0].tolist() == [5, 16]
    assert packed["success"].tolist() == [True, False]
    assert packed["honest"].tolist() == [False, False]  # episode 0's second stage went 2 cm deep
    assert packed["penetration"].tolist() == [0.02, 0.002]
    eps = split_rollouts(packed)
    assert [len(e["actions"]) for e in eps] == [5, 6] and eps[1]["actions"][:, 0].tolist() == [1] * 6
    assert eps[0]["rewards"].tolist() == [0, 1, 2, 0, 1] and eps[0]["success"] and not eps[1]["success"]


def test_rollout_seeds_stay_apart_from_training_and_evaluation_seeds():
    seeds = {rollout_seed(s, b) for s in range(5) for b in range(200)}
    assert len(seeds) == 1000 and min(seeds) > 20_000 + 5


@pytest.mark.skipif(importlib.util.find_spec("lerobot") is not None, reason="optional: lerobot is installed here")
def test_without_the_lerobot_extra_the_command_says_how_to_get_it(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rlscope", "gen2sim", "demos", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "make lerobot" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
