"""Classical lifters, the method choice, and the learned-lifter interface."""

import os

import numpy as np
import pytest

from rlscope.errors import RlscopeError
from rlscope.gen2sim.assets import samples
from rlscope.gen2sim.assets.lift import (
    LIFTERS, LearnedLifter, LiftHints, choose_method, lift, lift_extrusion, lift_revolution, offline_hub,
)
from rlscope.gen2sim.assets.mesh import check_mesh
from rlscope.gen2sim.assets.segment import segment_image


@pytest.fixture(scope="module")
def bottle(data_dir):
    return segment_image(data_dir / "bottle.jpg")


@pytest.fixture(scope="module")
def box(data_dir):
    return segment_image(data_dir / "box.png")


def test_revolution_matches_the_drawn_profile(bottle):
    mesh = lift_revolution(bottle)
    assert not check_mesh(mesh)
    r = samples.bottle_profile(256)
    h = (r > 0).sum()
    ext = mesh.extents
    assert ext[2] == pytest.approx(h, rel=0.03)
    assert ext[0] == pytest.approx(2 * r.max(), rel=0.05)
    assert ext[0] == pytest.approx(ext[1], rel=0.01)
    colours = np.asarray(mesh.visual.vertex_colors)[:, :3].astype(float)
    assert colours[:, 1].mean() > colours[:, 0].mean()  # a green bottle


def test_revolution_ignores_a_mug_handle(data_dir):
    mesh = lift_revolution(segment_image(data_dir / "mug.png"))
    # body diameter drawn as 0.38-0.34 of 256 px; the handle would add ~30 px
    assert mesh.extents[0] < 0.4 * 256


def test_extrusion_depth_ratio(box):
    mesh = lift_extrusion(box, depth_ratio=0.5, resolution=64)
    assert not check_mesh(mesh)
    assert mesh.extents[1] / mesh.extents[0] == pytest.approx(0.5, abs=0.06)
    assert mesh.extents[0] / mesh.extents[2] == pytest.approx(1.4, rel=0.06)


def test_visual_hull_of_two_views():
    views = [segment_image(v) for v in samples.silhouette_views(dims=(0.6, 0.3, 0.4))]
    res = lift(views)
    assert res.method == "visual_hull"
    assert not check_mesh(res.mesh)
    ext = res.mesh.extents
    assert ext[0] / ext[2] == pytest.approx(1.5, rel=0.06)
    assert ext[1] / ext[2] == pytest.approx(0.75, rel=0.08)


@pytest.mark.parametrize(
    "name, hints, expected",
    [
        ("bottle.jpg", LiftHints(), "revolution"),
        ("box.png", LiftHints(), "extrusion"),
        ("box.png", LiftHints(shape="round"), "revolution"),
        ("bottle.jpg", LiftHints(shape="boxy"), "extrusion"),
        ("mug.png", LiftHints(category="mug", shape="round"), "revolution"),
    ],
)
def test_choose_method(data_dir, name, hints, expected):
    assert choose_method([segment_image(data_dir / name)], hints)[0] == expected


def test_override(bottle):
    assert lift([bottle], "extrusion").method == "extrusion"
    with pytest.raises(RlscopeError, match="unknown lifter"):
        lift([bottle], "nonsense")


class FakeLearned(LearnedLifter):
    name = "fake"
    package = "numpy"
    needs_gpu = False
    seen_env: dict = {}

    def run(self, image, hints):
        import trimesh

        FakeLearned.seen_env = {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE"), "size": image.size}
        return trimesh.creation.box(extents=(1.0, 2.0, 3.0))  # y-up, like most image-to-3D models


def test_learned_lifter_runs_offline_when_available(bottle, tmp_path):
    LIFTERS.add("fake", FakeLearned)
    res = lift([bottle], learned="fake", learned_options={"weights": str(tmp_path)})
    assert res.method == "fake"
    assert FakeLearned.seen_env == {"HF_HUB_OFFLINE": "1", "size": (512, 512)}
    assert res.mesh.extents.tolist() == pytest.approx([1.0, 3.0, 2.0])  # turned z-up
    assert os.environ.get("HF_HUB_OFFLINE") != "1" or "HF_HUB_OFFLINE" in os.environ


@pytest.mark.parametrize("learned", ["fake", "hunyuan3d", "trellis"])
def test_learned_lifter_without_weights_falls_back(bottle, learned):
    LIFTERS.add("fake", FakeLearned)
    res = lift([bottle], learned=learned)
    assert res.method == "revolution"
    assert any("unavailable" in w for w in res.warnings)


def test_offline_hub_restores_environment(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with offline_hub():
        assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in os.environ
