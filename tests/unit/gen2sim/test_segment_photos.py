"""Photos as people take them: scikit-image's real photos on ordinary backgrounds, guided cut-outs, doubts
that stop the build unless accepted, the mask written over the photo, and bad images."""

import json

import numpy as np
import pytest
import skimage.data
from PIL import Image

from rlscope.errors import DataError, RlscopeError
from rlscope.gen2sim.assets.build import BuildOptions, build_from_images
from rlscope.gen2sim.assets.segment import SEGMENTERS, Segmentation, overlay, segment_image


def coffee_reference() -> np.ndarray:
    """The cup and its saucer in skimage's coffee photo (600 x 400), drawn by eye from the photo: the saucer an
    ellipse from x 78 to 480 and y 75 to 385, the cup's rim an ellipse from x 174 to 410 and y 18 to 188."""
    yy, xx = np.mgrid[:400, :600]
    saucer = ((xx - 279) / 201) ** 2 + ((yy - 230) / 155) ** 2 <= 1
    cup = ((xx - 292) / 118) ** 2 + ((yy - 103) / 85) ** 2 <= 1
    return saucer | cup


def test_a_cup_on_a_saucer_on_a_wooden_table_keeps_the_saucer_not_the_table():
    seg = segment_image(skimage.data.coffee())
    ref = coffee_reference()
    assert seg.method == "scene" and not seg.doubts
    assert (seg.mask & ref).sum() / seg.mask.sum() > 0.9  # hardly any table
    assert (seg.mask & ref).sum() / ref.sum() > 0.75  # most of cup and saucer
    for x, y in [(20, 20), (580, 30), (560, 250), (20, 390), (590, 390)]:  # the table around it
        assert not seg.mask[y, x], (x, y)
    for x, y in [(290, 140), (110, 230), (360, 280), (220, 260)]:  # coffee, saucer's rim, spoon, handle
        assert seg.mask[y, x], (x, y)


def test_a_box_guides_the_cut_out_to_the_rocket_not_the_sky(tmp_path):
    photo = tmp_path / "rocket.png"
    Image.fromarray(skimage.data.rocket()).save(photo)  # 640 x 427: the rocket stands at x 305-340, y 130-410
    with pytest.raises(RlscopeError, match="doubtful"):
        build_from_images([photo], "rocket", BuildOptions(mask_dir=str(tmp_path / "out")))
    assert (tmp_path / "out" / "segmentation.png").exists()  # the user can see what was cut out
    seg = segment_image(photo, box=(280, 110, 370, 410))
    scale = seg.rgb.shape[1] / 640
    x0, y0, x1, y1 = (round(v / scale) for v in seg.bbox)
    assert seg.method == "box" and seg.guided and x1 - x0 < 70 and y1 - y0 > 3 * (x1 - x0)  # tall and thin, not the box
    assert seg.mask[round(250 * scale), round(322 * scale)]  # on the rocket's body
    by_point = segment_image(photo, point=(322, 250))
    assert by_point.method == "point" and (by_point.mask & seg.mask).sum() / by_point.mask.sum() > 0.9


@pytest.mark.parametrize("name", ["chelsea", "astronaut", "rocket"])
def test_photos_of_a_cat_an_astronaut_and_a_rocket_are_doubtful(name):
    """A cat filling the frame, a person cut by the border, a rocket between towers: no clean cut-out."""
    seg = segment_image(getattr(skimage.data, name)())
    assert seg.doubts and seg.confidence < 1


def test_a_doubtful_cut_out_stops_the_build_unless_accepted_and_the_overlay_is_always_written(tmp_path):
    photo = tmp_path / "cat.png"
    Image.fromarray(skimage.data.chelsea()).save(photo)
    with pytest.raises(RlscopeError) as err:
        build_from_images([photo], "cat", BuildOptions(mask_dir=str(tmp_path / "a")))
    text = str(err.value)
    assert "--box" in text and "--accept-doubtful" in text and "segmentation.png" in text and "\n" not in text
    over = np.asarray(Image.open(tmp_path / "a" / "segmentation.png"))
    mask = np.asarray(Image.open(tmp_path / "a" / "mask.png")) > 0
    assert over.shape[:2] == mask.shape and 0 < mask.mean() < 1
    built = build_from_images([photo], "cat", BuildOptions(mask_dir=str(tmp_path / "b"), accept_doubtful=True))
    assert any("doubtful" in w for w in built.asset.warnings) and (tmp_path / "b" / "segmentation.png").exists()


def test_several_similar_objects_need_a_box(tmp_path):
    import cv2

    img = np.full((200, 300, 3), (200, 200, 190), np.uint8)
    cv2.circle(img, (90, 100), 40, (180, 30, 30), -1)
    cv2.circle(img, (210, 100), 40, (180, 30, 30), -1)
    with pytest.raises(RlscopeError, match="2 separate objects"):
        build_from_images([_save(tmp_path, img)], "two", BuildOptions())
    seg = segment_image(img, box=(40, 50, 140, 150))
    assert not seg.doubts and seg.bbox[2] <= 140  # the left one only
    assert abs(seg.mask.sum() - np.pi * 40**2) < 0.1 * np.pi * 40**2


def test_the_overlay_dims_the_background_and_outlines_the_object():
    rgb = np.full((60, 80, 3), 200, np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[20:40, 30:50] = True
    out = overlay(Segmentation(mask, rgb, "box", 1.0))
    assert out[5, 5].max() < 100 and (out[30, 40] == 200).all()  # dimmed outside, untouched inside
    assert (out[20:40, 30] == (255, 64, 0)).all(axis=1).any()  # the outline


@pytest.mark.parametrize("content,what", [(b"", "cannot read image"), (b"not an image at all", "cannot read image")])
def test_bad_image_files_are_one_clear_error(tmp_path, content, what):
    bad = tmp_path / "photo.png"
    bad.write_bytes(content)
    with pytest.raises(DataError, match=what) as err:
        segment_image(bad)
    assert "photo.png" in str(err.value)


@pytest.mark.parametrize("kw,what", [({"box": (650, 10, 700, 90)}, "--box"), ({"point": (900, 10)}, "--point")])
def test_a_guide_outside_the_photo_is_one_clear_error(kw, what):
    with pytest.raises(DataError, match=what):
        segment_image(skimage.data.coffee(), **kw)


def test_a_registered_segmenter_is_used_by_name(tmp_path):
    calls = []

    def fixed(rgb, box, point):
        calls.append((rgb.shape, box, point))
        mask = np.zeros(rgb.shape[:2], bool)
        mask[100:300, 150:450] = True
        return Segmentation(mask, rgb, "fixed", 1.0)

    SEGMENTERS.add("fixed-for-test", fixed)
    seg = segment_image(skimage.data.coffee(), segmenter="fixed-for-test", point=(300, 200))
    assert seg.method == "fixed" and calls == [((400, 600, 3), None, (300, 200))]
    with pytest.raises(RlscopeError, match="unknown segmenter"):
        segment_image(skimage.data.coffee(), segmenter="nonexistent")


def test_the_asset_command_writes_the_mask_beside_the_preview(tmp_path):
    import subprocess
    import sys

    photo = _save(tmp_path, skimage.data.coffee())
    proc = subprocess.run([sys.executable, "-m", "rlscope", "gen2sim", "asset", str(photo), "--name", "cup", "--category", "mug",
                           "--out", str(tmp_path / "assets"), "--preview", "projection"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    d = tmp_path / "assets" / "cup"
    asset = json.loads((d / "asset.json").read_text())
    assert asset["files"]["segmentation"] == "segmentation.png"
    preview = Image.open(d / "preview.png")
    photo_side = Image.open(d / "segmentation.png")
    assert preview.width > photo_side.width * preview.height / photo_side.height  # the render, then the photo


def _save(tmp_path, img):
    path = tmp_path / "photo.png"
    Image.fromarray(img).save(path)
    return path
