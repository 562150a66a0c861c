"""URDF import/export: round trip with semantics, pybullet_data objects, and broken files."""

import pytest

from rlscope.errors import DataError
from rlscope.gen2sim.assets.build import build_from_urdf, build_procedural, write_asset
from rlscope.gen2sim.assets.urdf import import_urdf


def test_round_trip_keeps_links_joints_and_semantics(tmp_path):
    built = build_procedural("microwave", "mw")
    write_asset(built, tmp_path / "mw")
    back = import_urdf(tmp_path / "mw" / "model.urdf", category="microwave").asset
    a = built.asset
    assert sorted(link.name for link in back.links) == sorted(link.name for link in a.links)
    assert {link.name: link.semantic for link in back.links} == {link.name: link.semantic for link in a.links}
    for j in a.joints:
        k = back.joint(j.name)
        assert (k.type, k.parent, k.child) == (j.type, j.parent, j.child)
        if j.type != "fixed":
            assert k.range == pytest.approx(j.range, abs=1e-5) and k.axis == pytest.approx(j.axis, abs=1e-6)
        assert k.damping == pytest.approx(j.damping, rel=1e-4)
    assert back.total_mass() == pytest.approx(a.total_mass(), rel=1e-6)
    assert back.physics.size == pytest.approx(a.physics.size, abs=3e-3)  # requested vs measured (2 mm handle margin)


@pytest.mark.parametrize(
    "rel, category, warning",
    [("cube.urdf", None, None), ("duck_vhacd.urdf", "duck", "implausible inertia"),
     ("objects/mug.urdf", "mug", "implausible inertia"), ("tray/traybox.urdf", "tray", "no mass")],
)
def test_pybullet_data_imports(pybullet_data, rel, category, warning):
    imported = import_urdf(pybullet_data / rel, category=category)
    a = imported.asset
    assert a.total_mass() > 0 and all(link.collisions for link in a.links)
    if warning:
        assert any(warning in w for w in imported.warnings)
    lo = min(g.pos[2] for link in a.links for g in link.collisions)
    assert lo > -1.0  # recentred: bottom of the bounding box at z = 0


def test_multi_object_collision_obj_is_split(pybullet_data):
    a = import_urdf(pybullet_data / "duck_vhacd.urdf").asset
    assert len(a.links[0].collisions) == 5


BROKEN = {
    "xml": ('<robot name="x"><link name="a"></robot>', r":1: not valid XML"),
    "root": ('<model name="x"/>', "expected <robot>"),
    "nolinks": ('<robot name="x"/>', "no <link>"),
    "mesh": ('<robot name="x"><link name="a"><collision><geometry><mesh filename="gone.obj"/></geometry></collision>'
             "</link></robot>", "mesh file not found: gone.obj"),
    "package": ('<robot name="x"><link name="a"><visual><geometry><mesh filename="package://nopkg/m.obj"/></geometry>'
                "</visual></link></robot>", "cannot resolve"),
    "parent": ('<robot name="x"><link name="a"/><link name="b"/><joint name="j" type="fixed"><parent link="zz"/>'
               '<child link="b"/></joint></robot>', "parent/child must name existing links"),
    "roots": ('<robot name="x"><link name="a"/><link name="b"/></robot>', "one tree"),
    "floating": ('<robot name="x"><link name="a"/><link name="b"/><joint name="j" type="floating"><parent link="a"/>'
                 '<child link="b"/></joint></robot>', "not supported"),
    "numbers": ('<robot name="x"><link name="a"><visual><origin xyz="1 2"/><geometry><box size="1 1 1"/></geometry>'
                "</visual></link></robot>", "expected 3"),
    "limits": ('<robot name="x"><link name="a"/><link name="b"/><joint name="j" type="revolute"><parent link="a"/>'
               '<child link="b"/><limit lower="1" upper="0"/></joint></robot>', "lower limit"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_urdf_is_one_clear_error(tmp_path, case):
    text, pattern = BROKEN[case]
    path = tmp_path / f"{case}.urdf"
    path.write_text(text)
    with pytest.raises(DataError, match=pattern) as info:
        import_urdf(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_limits_are_one_clear_error_and_missing_mass_is_repaired(tmp_path):
    body = ('<robot name="x"><link name="a"><inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.01"/>'
            '</inertial><collision><geometry><box size="0.1 0.1 0.1"/></geometry></collision></link>'
            '<link name="lid"><collision><origin xyz="0 0 0.06"/><geometry><box size="0.1 0.1 0.02"/></geometry>'
            '</collision></link><joint name="j" type="revolute"><parent link="a"/><child link="lid"/>'
            '<axis xyz="1 0 0"/>{limit}</joint></robot>')
    path = tmp_path / "nolimit.urdf"
    path.write_text(body.format(limit=""))
    with pytest.raises(DataError, match="joint 'j': a revolute joint needs <limit"):
        build_from_urdf(path, "x")
    path.write_text(body.format(limit='<limit lower="0" upper="1.5"/>'))
    built = build_from_urdf(path, "x")
    assert "no mass" in " ".join(built.asset.warnings)
    assert built.asset.link("lid").semantic == "lid"
