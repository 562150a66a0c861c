"""MJCF objects as robosuite, Meta-World and Franka Kitchen ship them, imported into assets; bad MJCF input."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from rlscope.errors import DataError
from rlscope.gen2sim.assets.build import BuildOptions, build
from rlscope.gen2sim.assets.validate import validate_asset


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None:
        pytest.skip(f"{package}'s model files are not installed (make setup installs them)")
    return Path(spec.submodule_search_locations[0]).joinpath(*parts)


KITCHEN = ("envs", "assets", "kitchen_franka", "kitchen_assets", "item_assets")
SHIPPED = {
    # name: (package, path, joint type, closed end, handle expected)
    "robosuite_door": ("robosuite", ("models", "assets", "objects", "door.xml"), "revolute", "lower", True),
    "metaworld_drawer": ("metaworld", ("assets", "objects", "drawer.xml"), "prismatic", "upper", True),
    "metaworld_window": ("metaworld", ("assets", "objects", "window.xml"), "prismatic", "lower", False),
    "metaworld_faucet": ("metaworld", ("assets", "objects", "faucet.xml"), "revolute", "lower", True),
    "kitchen_microwave": ("gymnasium_robotics", (*KITCHEN, "microwave_chain.xml"), "revolute", "upper", True),
    "kitchen_slidecabinet": ("gymnasium_robotics", (*KITCHEN, "slidecabinet_chain.xml"), "prismatic", "lower", False),
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_mjcf_objects_import_settle_and_their_joints_reach_their_limits(name, tmp_path):
    package, parts, jtype, closed, has_handle = SHIPPED[name]
    built = build([package_file(package, *parts)], name, BuildOptions())
    asset = built.asset
    assert asset.source == "mjcf" and asset.fixed_base
    joints = asset.movable_joints()
    assert [j.type for j in joints] == [jtype] and joints[0].closed_end() == closed
    assert joints[0].range[1] > joints[0].range[0]
    assert bool(asset.handles) == has_handle
    if has_handle:
        assert all(h.joint == joints[0].name for h in asset.handles)  # the handle moves the part
    assert all(link.collisions for link in asset.links if link.semantic in ("door", "drawer"))
    from rlscope.gen2sim.assets.build import write_asset

    write_asset(built, tmp_path / name)
    report = validate_asset(asset, tmp_path / name)
    assert report.ok, report.failures  # settles on the table; every joint reaches both ends


def test_scenery_around_an_object_is_left_out():
    """Meta-World's drawer.xml includes a scene (a table wall); the asset is the drawer alone, its real size."""
    asset = build([package_file("metaworld", "assets", "objects", "drawer.xml")], "d", BuildOptions()).asset
    size = np.array(asset.physics.size)
    assert np.all(size < 0.4) and asset.total_mass() < 5  # not the 1.4 m, 1 t table
    assert "RetainingWall" not in {link.name for link in asset.links}


def test_a_sidecar_names_the_parts(tmp_path):
    xml = tmp_path / "box.xml"
    xml.write_text(_articulated("slide", 'range="0 0.2"'))
    (tmp_path / "box.semantics.json").write_text('{"part": "lid"}')
    asset = build([xml], "box", BuildOptions(category="storage_box")).asset
    assert {link.name: link.semantic for link in asset.links}["part"] == "lid"
    (tmp_path / "box.semantics.json").write_text('{"nonexistent": "lid"}')
    with pytest.raises(DataError, match="no body named nonexistent"):
        build([xml], "box", BuildOptions(category="storage_box"))


def test_semantics_come_from_joint_types_without_telling_names(tmp_path):
    xml = tmp_path / "thing.xml"
    xml.write_text(_articulated("hinge", 'range="0 1.5"'))
    asset = build([xml], "thing", BuildOptions(category="cabinet")).asset
    assert {link.name: link.semantic for link in asset.links}["part"] == "door"


@pytest.mark.parametrize("case,what", [
    ("nolimit", "has no range"),
    ("mesh", "MuJoCo cannot compile it"),
    ("tendon", "<tendon> is not supported"),
    ("mass", "MuJoCo cannot compile it"),
    ("twojoints", "has 2 joints"),
    ("notxml", "not valid XML"),
])
def test_bad_mjcf_is_one_clear_error_and_leaves_no_asset(case, what, tmp_path):
    xml = tmp_path / "bad.xml"
    body = {
        "nolimit": _articulated("slide", ""),
        "mesh": _articulated("slide", 'range="0 0.2"', extra_asset='<mesh name="m" file="missing.stl"/>',
                             extra_geom='<geom type="mesh" mesh="m"/>'),
        "tendon": _articulated("slide", 'range="0 0.2"') .replace("</mujoco>", "<tendon/></mujoco>"),
        "mass": _articulated("slide", 'range="0 0.2"', extra_geom='<geom type="box" size=".01 .01 .01" mass="-1"/>'),
        "twojoints": _articulated("slide", 'range="0 0.2"', extra_joint='<joint name="j2" type="hinge" range="0 1"/>'),
        "notxml": "<mujoco><worldbody>",
    }[case]
    xml.write_text(body)
    with pytest.raises(DataError, match=what) as err:
        build([xml], "bad", BuildOptions())
    assert "bad.xml" in str(err.value) and "\n" not in str(err.value)


def _articulated(jtype: str, limit: str, extra_asset: str = "", extra_geom: str = "", extra_joint: str = "") -> str:
    return f"""<mujoco model="t">
  <asset>{extra_asset}</asset>
  <worldbody>
    <body name="frame" pos="0 0 0.1">
      <geom type="box" size="0.1 0.1 0.01" pos="0 0 -0.09"/>
      <geom type="box" size="0.1 0.01 0.1" pos="0 0.09 0"/>
      <body name="part" pos="0 -0.05 0">
        <joint name="j" type="{jtype}" axis="{'0 1 0' if jtype == 'slide' else '0 0 1'}" {limit}/>
        {extra_joint}
        <geom type="box" size="0.08 0.04 0.05"/>
        {extra_geom}
      </body>
    </body>
  </worldbody>
</mujoco>
"""
