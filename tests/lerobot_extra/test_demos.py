"""`rlscope gen2sim demos` end to end in the lerobot extra's environment (`make test-lerobot`): a trained
policy's rollouts written through lerobot and read back with lerobot's own loader."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rlscope.sandbox.probe import probe

ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl"}
pytestmark = pytest.mark.skipif(probe().bwrap is None, reason="bubblewrap is not usable here")


def rlscope(*args, check=True, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "rlscope", *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=900, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlscope {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The standard drawer skill trained with its default budget (about 20 s), relative paths as a user types them."""
    cwd = tmp_path_factory.mktemp("user")
    rlscope("gen2sim", "train", "open_drawer", "--out", "run", "--episodes", 8, "--no-video", "--no-report", "--no-progress",
            cwd=cwd)
    return cwd


def test_demonstrations_load_with_lerobots_loader_and_hold_the_rollouts(trained):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from rlscope.gen2sim.demos import split_rollouts

    proc = rlscope("gen2sim", "demos", "run", "--episodes", 6, "--batch", 4, "--video", "--width", 64, "--height", 48,
                   "--no-progress", cwd=trained)
    run = trained / "run"
    summary = json.loads((run / "demos" / "summary.json").read_text())
    assert f"{summary['episodes']} demonstrations of open_drawer" in proc.stdout and summary["episodes"] == 6
    # what was rolled out, batch by batch: the honest successes in order are the dataset's episodes
    chunks = sorted((run / "demos" / "rollouts").glob("chunk_*.npz"))
    eps = [e for c in chunks for e in split_rollouts(dict(np.load(c)))]
    assert len(chunks) >= 2 and summary["rollouts"] == len(eps) == 4 * len(chunks)  # 6 successes need 2+ batches of 4
    kept = [e for e in eps if e["honest"]][:6]
    assert summary["success_rate"] == pytest.approx(sum(e["honest"] for e in eps) / len(eps))

    ds = LeRobotDataset("rlscope/open_drawer", root=run / "demos" / "lerobot", video_backend="pyav")
    assert ds.num_episodes == 6 and ds.fps == summary["fps"] == 50
    assert ds.num_frames == sum(len(e["actions"]) for e in kept) == summary["frames"]
    assert {"observation.state", "action", "next.reward", "next.done", "next.success", "stage",
            "observation.images.front"} <= set(ds.meta.features)
    assert list(ds.meta.tasks.index) == ["Open the drawer of the cabinet by pulling its handle."]
    start = 0
    for k, ep in enumerate(kept):
        n = len(ep["actions"])
        first, last = ds[start], ds[start + n - 1]
        assert int(first["episode_index"]) == int(last["episode_index"]) == k and int(last["frame_index"]) == n - 1
        np.testing.assert_allclose(first["observation.state"].numpy(), ep["states"][0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(last["action"].numpy(), ep["actions"][-1], rtol=1e-6, atol=1e-6)
        assert float(last["next.reward"]) == pytest.approx(ep["rewards"][-1], rel=1e-6)
        assert bool(last["next.done"]) and bool(last["next.success"])
        assert not bool(first["next.done"]) and not bool(first["next.success"])
        assert first["task"] == "Open the drawer of the cabinet by pulling its handle."
        start += n
    img = ds[0]["observation.images.front"]
    assert tuple(img.shape) == (3, 48, 64) and float(img.std()) > 0.02  # a rendered scene, not a blank frame


def test_a_rerun_reuses_the_rollouts_and_an_existing_dataset_is_kept(trained):
    rlscope("gen2sim", "demos", "run", "--episodes", 3, "--batch", 4, "--out", "ds", "--no-progress", cwd=trained)
    chunks = {c: c.stat().st_mtime_ns for c in (trained / "run" / "demos" / "rollouts").glob("chunk_*.npz")}
    proc = rlscope("gen2sim", "demos", "run", "--episodes", 3, "--batch", 4, "--out", "ds", "--no-progress", check=False,
                   cwd=trained)
    assert proc.returncode == 2 and "ds exists; --overwrite" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    rlscope("gen2sim", "demos", "run", "--episodes", 3, "--batch", 4, "--out", "ds", "--overwrite", "--no-progress", cwd=trained)
    assert {c: c.stat().st_mtime_ns for c in chunks} == chunks  # no batch rolled out again
    assert not (trained / "ds.partial").exists()


def test_an_untrained_directory_is_one_clear_line(tmp_path):
    proc = rlscope("gen2sim", "demos", tmp_path, check=False)
    assert proc.returncode == 2 and "not a trained Gen2Sim run" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
