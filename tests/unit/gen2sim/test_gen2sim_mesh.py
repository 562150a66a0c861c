"""Mesh repair (with what was repaired), normalisation, inertia, and bounded convex decomposition."""

import dataclasses

import numpy as np
import pytest
import trimesh

from rlscope.errors import DataError
from rlscope.gen2sim.assets.mesh import CoacdSettings, check_mesh, decompose, normalize_mesh, repair_mesh
from rlscope.gen2sim.assets.physics import mesh_inertial


def l_shape():
    a = trimesh.creation.box(extents=(0.3, 0.1, 0.1))
    b = trimesh.creation.box(extents=(0.1, 0.1, 0.3))
    b.apply_translation((-0.1, 0, 0.1))
    return trimesh.boolean.union([a, b], engine="manifold")


def test_clean_mesh_is_untouched():
    box = trimesh.creation.box()
    out, repairs = repair_mesh(box)
    assert repairs == [] and not check_mesh(out)


def test_hole_is_filled_and_reported():
    box = trimesh.creation.box()
    box.update_faces(np.arange(len(box.faces)) != 0)
    assert "not watertight" in check_mesh(box)
    out, repairs = repair_mesh(box)
    assert not check_mesh(out)
    assert any("filled holes" in r for r in repairs)


def test_non_manifold_is_remeshed_with_a_warning():
    a = trimesh.creation.box(extents=(1, 1, 1))
    b = trimesh.creation.box(extents=(1, 1, 1))
    b.apply_translation((1, 1, 0))  # shares one edge with a: non-manifold
    sheet = trimesh.Trimesh([[0, 0, 2], [1, 0, 2], [0, 1, 2]], [[0, 1, 2]])  # an open flap
    mesh = trimesh.util.concatenate([a, b, sheet])
    out, repairs = repair_mesh(mesh, resolution=32)
    assert not check_mesh(out)
    assert any("remeshed" in r for r in repairs)
    assert out.volume == pytest.approx(2.0, rel=0.25)


def test_inverted_mesh_is_flipped():
    box = trimesh.creation.box()
    box.invert()
    out, repairs = repair_mesh(box)
    assert out.volume > 0 and repairs


def test_empty_mesh_is_an_error():
    with pytest.raises(DataError, match="no faces"):
        repair_mesh(trimesh.Trimesh())


def test_normalize():
    m = normalize_mesh(trimesh.creation.box(extents=(2, 1, 4)), longest_side=0.2)
    assert m.extents.tolist() == pytest.approx([0.1, 0.05, 0.2])
    assert m.bounds[0][2] == pytest.approx(0) and m.bounds.mean(0)[:2] == pytest.approx([0, 0])


def test_inertia_of_a_box_matches_the_formula():
    inertial, density = mesh_inertial(trimesh.creation.box(extents=(0.2, 0.1, 0.05)), 2.0)
    a, b, c = 0.2, 0.1, 0.05
    assert inertial.inertia[:3] == pytest.approx([2 / 12 * (b * b + c * c), 2 / 12 * (a * a + c * c), 2 / 12 * (a * a + b * b)])
    assert density == pytest.approx(2.0 / (a * b * c))


def test_convex_mesh_is_one_hull():
    d = decompose(trimesh.creation.icosphere(radius=0.1))
    assert d.method == "single" and len(d.hulls) == 1


def test_concave_mesh_is_decomposed_tightly():
    mesh = l_shape()
    d = decompose(mesh, CoacdSettings(timeout_s=120))
    assert d.method == "coacd" and 2 <= len(d.hulls) <= 16
    assert d.excess < 0.15  # the convex hull would be +60%
    assert all(h.is_convex for h in d.hulls)


def test_decomposition_budget_falls_back_to_the_hull():
    d = decompose(l_shape(), dataclasses.replace(CoacdSettings(), timeout_s=0.01))
    assert d.method == "convex_hull" and len(d.hulls) == 1
    assert "budget" in d.warnings[0]
