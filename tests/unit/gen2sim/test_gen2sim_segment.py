"""Segmentation: alpha, GrabCut on a plain background, doubts, and no-object errors."""

import numpy as np
import pytest

from rlscope.errors import DataError
from rlscope.gen2sim.assets import samples
from rlscope.gen2sim.assets.segment import segment_image


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_alpha_channel_is_the_mask(data_dir):
    seg = segment_image(data_dir / "mug.png")
    assert seg.method == "alpha"
    truth = samples.mug_image()[..., 3] >= 128
    assert iou(seg.mask, truth) > 0.97
    assert not seg.doubts


def test_grabcut_without_alpha(data_dir):
    seg = segment_image(data_dir / "bottle.jpg")
    assert seg.method == "grabcut"
    r = samples.bottle_profile(256)
    truth = (np.abs(np.arange(256)[None] - 128) <= r[:, None]) & (r[:, None] > 0)
    assert iou(seg.mask, truth) > 0.9
    assert seg.confidence == 1.0 and not seg.doubts


def test_opaque_alpha_falls_back_to_colour():
    rgb = samples.box_image()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert segment_image(rgba).method == "grabcut"


@pytest.mark.parametrize(
    "image",
    [
        np.full((80, 80, 3), 128, np.uint8),
        np.random.default_rng(0).integers(0, 255, (80, 80, 3), dtype=np.uint8),
        np.dstack([np.full((80, 80, 3), 90, np.uint8), np.zeros((80, 80), np.uint8)]),
    ],
    ids=["uniform", "noise", "transparent"],
)
def test_no_separable_object_is_one_clear_error(image):
    with pytest.raises(DataError, match="no separable object"):
        segment_image(image)


def test_doubts_are_reported():
    img = np.full((120, 120, 3), 230, np.uint8)
    img[40:90, 0:50] = (200, 30, 30)  # touches the left border
    img[10:50, 70:110] = (30, 30, 200)  # a second object
    seg = segment_image(img)
    text = " ".join(seg.doubts)
    assert "border" in text and "separate objects" in text
    assert seg.doubtful and seg.confidence < 1


def test_unreadable_file(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="cannot read image"):
        segment_image(bad)
