"""The real `rlscope gen2sim asset` command on the bundled sample image, a procedural asset and bad inputs."""

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
DATA = Path(__file__).resolve().parents[2] / "src" / "rlscope" / "gen2sim" / "data"

def rlscope_asset(*args, check=True):
    cmd = [sys.executable, "-m", "rlscope", "gen2sim", "asset", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"asset command failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def test_image_to_asset(tmp_path):
    proc = rlscope_asset(DATA / "bottle.jpg", "--name", "bottle", "--category", "bottle", "--out", tmp_path)
    d = tmp_path / "bottle"
    for name in ("model.urdf", "model.xml", "asset.json", "semantics.txt", "validation.json", "preview.png",
                 "meshes/visual.obj", "hulls/hull_000.obj", "manifest.json"):
        assert (d / name).is_file(), name
    asset = json.loads((d / "asset.json").read_text())
    assert asset["asset_id"] == "bottle" and asset["physics"]["material"] == "glass"
    assert asset["params"]["lift_method"] == "revolution"
    assert json.loads((d / "validation.json").read_text())["ok"]
    assert re.search(r"validation\s*│\s*ok", proc.stdout), proc.stdout


def test_procedural_asset(tmp_path):
    rlscope_asset("procedural:cabinet", "--name", "cab", "--out", tmp_path, "--seed", "4", "--preview", "projection")
    asset = json.loads((tmp_path / "cab" / "asset.json").read_text())
    assert asset["handles"] and asset["source"] == "procedural"
    assert asset["params"]["preview_renderer"] == "projection"


@pytest.mark.parametrize("case", ["no_object", "broken_urdf", "unknown_input"])
def test_bad_input_is_one_clear_error(tmp_path, case):
    if case == "no_object":
        from PIL import Image

        path = tmp_path / "grey.png"
        Image.new("RGB", (64, 64), (128, 128, 128)).save(path)
        expect = "no separable object"
    elif case == "broken_urdf":
        path = tmp_path / "broken.urdf"
        path.write_text("<robot name='x'><link name='a'>\n</robot>")
        expect = "not valid XML"
    else:
        path = tmp_path / "thing.xyz"
        path.write_text("?")
        expect = "cannot tell what"
    proc = rlscope_asset(path, "--name", "x", "--out", tmp_path / "out", check=False)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("rlscope: error:")]
    assert len(lines) == 1 and expect in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
