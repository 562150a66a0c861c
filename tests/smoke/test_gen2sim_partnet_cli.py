"""The real `rlscope gen2sim asset` command on a PartNet-Mobility directory the test makes (its exit status
when validation fails is tested in test_gen2sim_train_cli.py)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
HERE = Path(__file__).resolve().parent


def _maker():
    spec = importlib.util.spec_from_file_location("partnet_cabinet", HERE.parent / "unit" / "gen2sim" / "partnet_cabinet.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rlscope_asset(*args):
    cmd = [sys.executable, "-m", "rlscope", "gen2sim", "asset", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=600)


def test_partnet_directory_to_asset(tmp_path):
    src = _maker().make_cabinet(tmp_path / "41003", handle="visual")
    proc = rlscope_asset(src, "--name", "cab", "--out", tmp_path / "out", "--preview", "none", "--size-cm", "60",
                         "--coacd-iterations", "10")
    assert proc.returncode == 0, proc.stderr[-3000:]
    asset = json.loads((tmp_path / "out" / "cab" / "asset.json").read_text())
    assert asset["category"] == "cabinet" and asset["fixed_base"]
    assert [h["joint"] for h in asset["handles"]] == ["joint_0"]
    assert abs(max(asset["physics"]["size"]) - 0.60) < 0.02  # hulls may stand a few mm proud of the surface
    assert json.loads((tmp_path / "out" / "cab" / "validation.json").read_text())["ok"]
    assert "fixed to the world" in proc.stdout
