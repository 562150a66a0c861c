"""URDF and PartNet-Mobility import: handles, orientation, scale, fixed base, open-mesh decomposition,
physical sanity, and the names and categories `gen2sim run` gives its inputs.

PartNet-Mobility directories are made by the tests (:mod:`partnet_cabinet`) or read from the one that
genesis-world ships (installed with ``--no-deps`` by ``make setup``: only its files are read)."""

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import trimesh
from partnet_cabinet import HEIGHT, TRAVEL, WIDTH, make_cabinet

from rlscope.errors import DataError
from rlscope.gen2sim.assets.asset import Asset
from rlscope.gen2sim.assets.build import BuildOptions, build, write_asset
from rlscope.gen2sim.assets.mesh import CoacdSettings, decompose, orientation_matrix
from rlscope.gen2sim.assets.physics import CATEGORIES
from rlscope.gen2sim.assets.urdf import CONTINUOUS_RANGE, ImportOptions, import_urdf
from rlscope.gen2sim.assets.validate import validate_asset

FAST_COACD = CoacdSettings(mcts_iterations=10, preprocess_resolution=30, resolution=500)
"""Cheaper CoACD settings for tests (the defaults fit better at about twice the time)."""


def genesis_partnet() -> Path:
    """genesis-world's PartNet-Mobility bottle (object 3763), read from the installed package's files."""
    spec = importlib.util.find_spec("genesis")  # finds the package without importing it (it needs torch etc.)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("genesis-world is not installed (make setup installs it with --no-deps)")
    return Path(spec.submodule_search_locations[0]) / "assets" / "urdf" / "3763"


def world_axis(asset: Asset, joint: str) -> np.ndarray:
    j = asset.joint(joint)
    return asset.link_poses()[j.child][:3, :3] @ np.asarray(j.axis)


@pytest.mark.parametrize("handle", ["link", "visual", "geometry"])
def test_partnet_cabinet_directory_imports_upright_facing_front_fixed_with_a_handle(tmp_path, handle):
    d = make_cabinet(tmp_path / "41003", handle=handle)
    imported = import_urdf(d, options=ImportOptions(sample_physics=False))
    a = imported.asset
    assert a.category == "cabinet" and a.params["category_from"] == "meta.json"
    assert a.fixed_base  # articulated furniture stands fixed
    assert {lk.semantic for lk in a.links} >= {"drawer", "frame"}
    # PartNet-Mobility files face -x: turned so that the drawer opens towards -y, z up
    assert world_axis(a, "joint_0") == pytest.approx([0, -1, 0], abs=1e-9)
    size = a.physics.size
    assert max(size) == pytest.approx(sum(CATEGORIES["cabinet"].size_cm) / 200, rel=1e-6)  # midpoint, --no-sample
    assert size[0] == pytest.approx(max(size)) and size[2] == pytest.approx(max(size) * HEIGHT / WIDTH, rel=1e-6)
    assert a.joint("joint_0").range == pytest.approx([0, TRAVEL * max(size) / WIDTH])
    assert len(a.handles) == 1
    h = a.handles[0]
    assert h.joint == "joint_0" and h.axis == [1.0, 0.0, 0.0]
    assert h.pos[1] < -size[1] / 2 + 0.05  # at the front
    assert sum(CATEGORIES["cabinet"].mass_g) / 2000 == pytest.approx(a.total_mass(), rel=1e-3)
    assert ("found by geometry" in " ".join(a.warnings)) == (handle == "geometry")


def test_a_drawer_without_handle_is_named(tmp_path):
    a = import_urdf(make_cabinet(tmp_path / "c", handle="none")).asset
    assert not a.handles and any("drawer link_0 has no handle" in w for w in a.warnings)


def test_partnet_cabinet_builds_open_hulls_validates_and_gets_drawer_tasks(tmp_path):
    from rlscope.gen2sim.tasks.offline import tasks_for_assets

    d = make_cabinet(tmp_path / "src" / "41003", handle="visual")
    built = build([d], "cab", BuildOptions(sample_physics=False, coacd=FAST_COACD))
    a = built.asset
    frame = a.link("link_1")
    assert len(frame.collisions) > 1  # the open-front shell was decomposed, not left to MuJoCo's convex hull
    poses = a.link_poses()
    cavity = poses["link_0"][:3, 3] + np.array([0.0, 0.0, 0.15])  # inside the drawer, above its floor
    T = poses["link_1"]
    local = T[:3, :3].T @ (cavity - T[:3, 3])
    assert not any(built.meshes[g.mesh].contains([local - np.asarray(g.pos)])[0] for g in frame.collisions)
    out = tmp_path / "cab"
    write_asset(built, out)
    report = validate_asset(Asset.from_json((out / "asset.json").read_text()), out)
    assert report.ok, report.failures
    assert report.metrics["joint_reach"]["joint_0"][0] == pytest.approx(a.joint("joint_0").range[1], abs=0.01)
    ids = [t.task_id for t in tasks_for_assets([out])]
    assert {"open_cab_link_0", "close_cab_link_0"} <= set(ids), ids  # the drawer's tasks, by its link name


def test_genesis_partnet_bottle(tmp_path):
    d = genesis_partnet()
    built = build([d], "bottle", BuildOptions(coacd=FAST_COACD))
    a = built.asset
    lo, hi = CATEGORIES["bottle"].size_cm
    assert a.category == "bottle" and lo / 100 <= max(a.physics.size) <= hi / 100 * 1.05  # hull margin
    assert CATEGORIES["bottle"].mass_g[0] <= a.total_mass() * 1000 <= CATEGORIES["bottle"].mass_g[1] + 5
    assert not a.fixed_base  # a bottle stands free
    assert a.link("link_0").semantic == "lid" and a.joint("joint_0").type == "fixed"  # the screw cap slides
    slide = a.joint("joint_2")
    assert slide.range[0] <= 0 <= slide.range[1]
    assert [h.link for h in a.handles] == ["link_0"] and a.handles[0].joint == "joint_2"
    out = tmp_path / "bottle"
    write_asset(built, out)
    report = validate_asset(a, out)
    assert report.ok, report.failures


@pytest.mark.parametrize(
    "up, front, file_vec, world_vec",
    [("+z", "-y", (0, -1, 0), (0, -1, 0)), ("+z", "-x", (-1, 0, 0), (0, -1, 0)), ("+z", "-x", (0, 0, 1), (0, 0, 1)),
     ("+y", "+z", (0, 1, 0), (0, 0, 1)), ("+y", "+z", (0, 0, 1), (0, -1, 0)), ("-z", "+x", (0, 0, -1), (0, 0, 1)),
     ("x", "-y", (1, 0, 0), (0, 0, 1))],
)
def test_orientation_matrix(up, front, file_vec, world_vec):
    R = orientation_matrix(up, front)
    assert R @ np.asarray(file_vec, float) == pytest.approx(world_vec, abs=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)


@pytest.mark.parametrize("up, front, match", [("+z", "+z", "not perpendicular"), ("up", "-y", "expected one of")])
def test_bad_orientation_is_one_clear_error(up, front, match):
    with pytest.raises(DataError, match=match):
        orientation_matrix(up, front)


def test_front_and_up_options_turn_the_cabinet(tmp_path):
    d = make_cabinet(tmp_path / "c")
    a = import_urdf(d, options=ImportOptions(front="-y")).asset  # keeps the file's -x front
    assert world_axis(a, "joint_0") == pytest.approx([-1, 0, 0], abs=1e-9)
    a = import_urdf(d, options=ImportOptions(up_axis="+x", front="-z")).asset  # the file's -x becomes down
    assert world_axis(a, "joint_0") == pytest.approx([0, 0, -1], abs=1e-9)


def test_duck_stands_up(pybullet_data):
    a = import_urdf(pybullet_data / "duck_vhacd.urdf", category="duck").asset
    assert any("Y_UP" in w for w in a.warnings)
    assert a.physics.size[2] == pytest.approx(0.077, abs=2e-3)  # height: the duck's y extent in its file
    b = import_urdf(pybullet_data / "duck_vhacd.urdf", category="duck", options=ImportOptions(up_axis="+z")).asset
    assert b.physics.size[2] == pytest.approx(0.058, abs=2e-3)


def test_size_cm_applies_to_urdfs(pybullet_data):
    a = import_urdf(genesis_partnet(), options=ImportOptions(size_cm=20)).asset
    assert max(a.physics.size) == pytest.approx(0.20, rel=1e-6)
    duck = import_urdf(pybullet_data / "duck_vhacd.urdf", options=ImportOptions(size_cm=16.5)).asset
    assert max(duck.physics.size) == pytest.approx(0.165, rel=1e-6)
    assert duck.total_mass() == pytest.approx(0.1 * 8, rel=0.02)  # twice as long: eight times the mass
    assert any("scaled with the volume" in w for w in duck.warnings)
    light = import_urdf(pybullet_data / "duck_vhacd.urdf", options=ImportOptions(size_cm=16.5, mass_g=50)).asset
    assert light.total_mass() == pytest.approx(0.05)


def box_urdf(path: Path, mass: str = "1", inertia: str = 'ixx="0.002" iyy="0.002" izz="0.002"') -> Path:
    path.write_text(f'<robot name="b"><link name="body"><inertial><mass value="{mass}"/><inertia {inertia}/>'
                    '</inertial><collision><geometry><box size="0.1 0.1 0.1"/></geometry></collision></link></robot>')
    return path


@pytest.mark.parametrize(
    "mass, inertia, match",
    [("-1", None, "mass -1 kg is not a finite"), ("nan", None, "mass nan kg"), ("inf", None, "mass inf kg"),
     ("1", 'ixx="nan" iyy="1" izz="1"', "inertia ixx=nan is not finite"),
     ("1", 'ixx="-0.1" iyy="1" izz="1"', "inertia diagonal"), ("heavy", None, "is not a number")],
)
def test_broken_mass_or_inertia_is_one_clear_error(tmp_path, mass, inertia, match):
    path = box_urdf(tmp_path / "b.urdf", mass, inertia or 'ixx="0.002" iyy="0.002" izz="0.002"')
    with pytest.raises(DataError, match=match) as info:
        import_urdf(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg and "link 'body'" in msg


def test_implausible_mass_is_a_warning_and_zero_mass_is_repaired(tmp_path):
    a = import_urdf(box_urdf(tmp_path / "heavy.urdf", "1e9", 'ixx="1e7" iyy="1e7" izz="1e7"'), category="box").asset
    assert a.total_mass() == 1e9 and any("implausible mass for a box" in w for w in a.warnings)
    a = import_urdf(box_urdf(tmp_path / "heavy.urdf", "1e9", 'ixx="1e7" iyy="1e7" izz="1e7"')).asset
    assert any("implausible mass for an object" in w for w in a.warnings)
    z = import_urdf(box_urdf(tmp_path / "static.urdf", "0"), category="box").asset
    assert z.total_mass() > 0 and any("no mass in the URDF (mass 0: static in pybullet)" in w for w in z.warnings)


def test_unknown_category_says_which_defaults_were_used(tmp_path):
    a = import_urdf(box_urdf(tmp_path / "z.urdf", "0"), category="spaceship").asset
    note = a.warnings[0]
    assert note.startswith("unknown category 'spaceship': used generic defaults (plastic, 10-30 cm, 100-1000 g)")
    assert "known categories: apple" in note and "cabinet" in note


def test_table_legs_that_do_not_collide_draw_a_warning(pybullet_data):
    a = import_urdf(pybullet_data / "table" / "table.urdf", category="table").asset
    assert any("visual and collision geometry disagree" in w for w in a.warnings)
    quiet = import_urdf(pybullet_data / "cube.urdf").asset
    assert not any("disagree" in w for w in quiet.warnings)


def joint_urdf(path: Path, joint: str) -> Path:
    path.write_text('<robot name="x"><link name="a"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" '
                    'izz="0.01"/></inertial><collision><geometry><box size="0.1 0.1 0.1"/></geometry></collision></link>'
                    '<link name="knob"><collision><origin xyz="0 -0.06 0"/><geometry><cylinder radius="0.02" '
                    f'length="0.02"/></geometry></collision></link>{joint}</robot>')
    return path


def test_continuous_joint_records_one_turn_and_a_range_without_zero_is_rebased(tmp_path):
    a = import_urdf(joint_urdf(tmp_path / "c.urdf", '<joint name="j" type="continuous"><parent link="a"/>'
                               '<child link="knob"/><axis xyz="0 1 0"/></joint>')).asset
    assert a.joint("j").range == list(CONTINUOUS_RANGE) and a.joint("j").closed_end() == "lower"
    assert [h.name for h in a.handles] == ["knob"] and a.handles[0].joint == "j"
    b = import_urdf(joint_urdf(tmp_path / "p.urdf", '<joint name="j" type="prismatic"><parent link="a"/>'
                               '<child link="knob"/><axis xyz="0 -1 0"/><limit lower="0.02" upper="0.05"/></joint>')).asset
    j = b.joint("j")
    assert j.range == pytest.approx([0, 0.03]) and any("leaves out 0" in w for w in b.warnings)
    assert b.link_poses()["knob"][1, 3] == pytest.approx(b.params["urdf_root_offset"][1] - 0.02, abs=1e-9)


def test_open_mesh_is_decomposed():
    box = trimesh.creation.box(extents=(0.4, 0.3, 0.2))
    shell = trimesh.Trimesh(box.vertices, box.faces[box.face_normals[:, 2] < 0.5], process=False)  # no top
    assert not shell.is_watertight
    dec = decompose(shell, FAST_COACD)
    assert dec.method == "coacd" and len(dec.hulls) > 1
    assert not any(h.contains([[0.0, 0.0, 0.0]])[0] for h in dec.hulls)  # the inside stays free


def test_mesh_of_plausible_size_keeps_it_and_an_implausible_one_is_rescaled(tmp_path):
    bread = trimesh.creation.box(extents=(0.06, 0.04, 0.03))
    bread.export(tmp_path / "bread.obj")
    a = build([tmp_path / "bread.obj"], "bread", BuildOptions(category="bread")).asset
    assert max(a.physics.size) == pytest.approx(0.06, rel=1e-6) and a.params["kept_file_size"]
    assert any(w.startswith("unknown category 'bread'") for w in a.warnings)
    big = bread.copy()
    big.apply_scale(1000)  # millimetres
    big.export(tmp_path / "bread_mm.obj")
    b = build([tmp_path / "bread_mm.obj"], "bread", BuildOptions(category="box", sample_physics=False)).asset
    assert max(b.physics.size) == pytest.approx(0.30, rel=1e-6)  # the box range's midpoint
    assert any(w.startswith("rescaled: the mesh's longest side is 60") for w in b.warnings)
    c = build([tmp_path / "bread.obj"], "bread", BuildOptions(category="bread", size_cm=12)).asset
    assert max(c.physics.size) == pytest.approx(0.12, rel=1e-6)


@pytest.mark.parametrize(
    "names, expected",
    [(["a", "b"], ["a", "b"]), (["a", "a", "a"], ["a", "a_2", "a_3"]), (["7128", "7128", "mug"], ["7128", "7128_2", "mug"])],
)
def test_unique_names(names, expected):
    from rlscope.gen2sim.pipeline import unique_names

    assert unique_names(names) == expected


def test_run_inputs_get_their_own_names_and_categories(tmp_path):
    from rlscope.gen2sim.pipeline import RunConfig, build_inputs, input_name, split_input

    first = tmp_path / "x" / "7128"
    second = tmp_path / "y" / "7128"
    for d in (first, second):
        d.mkdir(parents=True)
        box_urdf(d / "mobility.urdf", "0")
    assert input_name(str(first / "mobility.urdf")) == "7128" and input_name(str(first)) == "7128"
    assert split_input(f"{first / 'mobility.urdf'}:trash can") == (str(first / "mobility.urdf"), "trash can")
    assert split_input("procedural:cabinet") == ("procedural:cabinet", None)
    cfg = RunConfig(out=tmp_path / "run", category="box", keep_going=True)
    dirs = build_inputs((f"{first / 'mobility.urdf'}:bucket", str(second)), tmp_path / "run" / "assets", cfg)
    assert [d.name for d in dirs] == ["7128", "7128_2"]
    cats = [Asset.from_json((d / "asset.json").read_text()).category for d in dirs]
    assert cats == ["bucket", "box"]
    again = build_inputs((f"{first / 'mobility.urdf'}:bucket", str(second)), tmp_path / "run" / "assets", cfg)
    assert again == dirs  # reused
    with pytest.raises(Exception, match="holds the asset of another input"):
        build_inputs((str(second),), tmp_path / "run" / "assets", cfg)


def test_stacked_helper_joint_keeps_the_slide(tmp_path):
    a = import_urdf(genesis_partnet()).asset
    assert a.joint("joint_0").type == "fixed" and a.joint("joint_2").type == "prismatic"
    assert any("screw cap becomes a slide" in w for w in a.warnings)
    assert math.isclose(sum(abs(v) for v in world_axis(a, "joint_2")), 1.0)


@pytest.mark.parametrize("kind", ["microwave", "cabinet", "storage_box"])
def test_round_trip_through_urdf_keeps_the_handles(tmp_path, kind):
    from rlscope.gen2sim.assets.build import build_procedural

    built = build_procedural(kind, "src", BuildOptions(seed=3))
    write_asset(built, tmp_path / "src")
    back = import_urdf(tmp_path / "src" / "model.urdf", category=kind).asset
    want = {h.name: h for h in built.asset.handles}
    got = {h.name: h for h in back.handles}
    assert set(got) == set(want)
    for name, h in want.items():
        assert got[name].joint == h.joint and got[name].link == h.link
        assert got[name].pos == pytest.approx(h.pos, abs=0.02)
    assert back.fixed_base == (kind in ("microwave", "cabinet"))
