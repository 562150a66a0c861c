"""Assets described as a task proposer reads them, in the manner of PartNet-Mobility's ``mobility.json``.

For every asset instance of a scene: its name and category, its links with their semantic labels
(drawer, door, lid, handle, knob, ...), its movable joints with type, axis, limits and which end is
closed, the handles and the part each one moves, and, for parts that can hold things (a drawer, the
body of a box with a lid), the inside of the part. Free objects are listed with their sizes. All
positions are world coordinates at the closed configuration; names are the ones the state API takes
(``INSTANCE/NAME``).

:func:`describe_scene` gives a dict (written next to a proposed task) and :func:`render_description`
the text a language model reads. Both are built from the ``asset.json`` of any asset rlscope makes or
imports, never from a hand-written list.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from rlscope.gen2sim.assets.asset import Asset, Geom, quat_to_matrix

CONTAINER_PARTS = frozenset({"drawer", "bin", "basket", "tray"})
"""Semantic labels of parts that hold things and move with their joint."""
LIDDED = frozenset({"lid"})
"""A joint whose child is one of these closes the inside of its parent (the box under a lid)."""


def _world_geoms(geoms: Sequence[Geom]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(centre (3,), rotation (3, 3), half extents (3,)) of each box-like collision geom, in the link frame."""
    out = []
    for g in geoms:
        if g.type == "box":
            half = np.asarray(g.size, float) / 2
        elif g.type in ("cylinder", "capsule"):
            half = np.array([g.size[0], g.size[0], g.size[1] / 2])
        elif g.type == "sphere":
            half = np.full(3, g.size[0])
        else:
            continue
        out.append((np.asarray(g.pos, float), quat_to_matrix(g.quat), half))
    return out


def _bounds(geoms: Sequence[Geom], pose: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """World-axis box around a link's geometry (asset frame, its link at ``pose``), or None without geometry."""
    boxes = _world_geoms(geoms)
    if not boxes:
        return None
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    pts = np.concatenate([c + (signs * h) @ r.T for c, r, h in boxes]) @ pose[:3, :3].T + pose[:3, 3]
    return pts.min(0), pts.max(0)


def _inside_any(points: np.ndarray, boxes) -> np.ndarray:
    """(P, 3) -> (P,) bool: the point lies in one of the boxes."""
    hit = np.zeros(len(points), bool)
    for c, r, h in boxes:
        local = (points - c) @ r
        hit |= np.all(np.abs(local) <= h, axis=1)
    return hit


def cavity(geoms: Sequence[Geom], grid: int = 14) -> tuple[list[float], list[float]] | None:
    """The inside of a part that can hold things (see :func:`_cavity`; computed once per geometry)."""
    key = tuple((g.type, tuple(g.size), tuple(g.pos), tuple(g.quat)) for g in geoms)
    return _cavity_of(key, grid)


@functools.lru_cache(maxsize=256)
def _cavity_of(key: tuple, grid: int) -> tuple[list[float], list[float]] | None:
    return _cavity([Geom(type=t, size=list(size), pos=list(pos), quat=list(quat)) for t, size, pos, quat in key], grid)


def _cavity(geoms: Sequence[Geom], grid: int = 14) -> tuple[list[float], list[float]] | None:
    """The inside of a part that can hold things, as (low corner, high corner) in its link frame.

    A point belongs to the inside when it is free and the part's own geometry lies beside it in
    ±x and ±y and below it (a drawer's or a box's walls and floor; the top stays open). The box
    bounds those points; None when there are none (a door, a lid, a handle).
    """
    boxes = _world_geoms(geoms)
    if not boxes:
        return None
    corners = []
    for c, r, h in boxes:
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
        corners.append(c + (signs * h) @ r.T)
    pts = np.concatenate(corners)
    lo, hi = pts.min(0), pts.max(0)
    axes = [np.linspace(lo[i], hi[i], grid + 2)[1:-1] for i in range(3)]
    cells = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    free = ~_inside_any(cells, boxes)
    step = float((hi - lo).min()) / (2 * grid)
    reach = int(np.ceil(float((hi - lo).max()) / step)) + 1
    enclosed = free.copy()
    for d in (np.eye(3)[0], -np.eye(3)[0], np.eye(3)[1], -np.eye(3)[1], -np.eye(3)[2]):
        todo = np.flatnonzero(enclosed)
        seen = np.zeros(len(todo), bool)
        for k in range(1, reach + 1):
            seen |= _inside_any(cells[todo] + k * step * d, boxes)
        enclosed[todo] = seen
    if enclosed.sum() < 2:
        return None
    inner = cells[enclosed]
    return [round(float(v), 4) for v in inner.min(0)], [round(float(v), 4) for v in inner.max(0)]


def container_links(asset: Asset) -> dict[str, tuple[list[float], list[float]]]:
    """Link name -> its inside (:func:`cavity`, link frame) for every part that holds things: a drawer, a bin,
    the body under a lid."""
    lidded = {j.parent for j in asset.joints if asset.link(j.child).semantic in LIDDED}
    out = {}
    for link in asset.links:
        if link.semantic in CONTAINER_PARTS or link.name in lidded:
            inside = cavity(link.collisions or link.visuals)
            if inside is not None:
                out[link.name] = inside
    return out


def _world_axes(box: tuple[list[float], list[float]], rot: np.ndarray) -> dict[str, list[float]]:
    """A box in a link's frame as offsets from the link's origin along the world axes (the box that holds
    it): what ``object.pos - link.pos`` is compared with, for a part that slides or stands still."""
    lo, hi = np.asarray(box[0]), np.asarray(box[1])
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]) @ rot.T
    return {"low": _r(corners.min(0)), "high": _r(corners.max(0))}


def _r(v) -> list[float]:
    return [round(float(x), 4) for x in v]


def describe_asset(asset: Asset, inst: str, pos: Sequence[float] = (0.0, 0.0, 0.0), fixed: bool | None = None) -> dict[str, Any]:
    """One asset instance standing at ``pos``: links, joints, handles and insides (see the module docstring)."""
    poses = asset.link_poses()
    base = np.asarray(pos, float)
    by_child = {j.child: j for j in asset.joints}
    insides = container_links(asset)
    links = []
    for link in asset.links:
        pose = poses[link.name]
        entry: dict[str, Any] = {"name": f"{inst}/{link.name}", "semantic": link.semantic,
                                 "pos": _r(base + pose[:3, 3])}
        box = _bounds(link.collisions or link.visuals, pose)
        if box is not None:
            entry["bounds"] = {"low": _r(base + box[0]), "high": _r(base + box[1])}
        joint = by_child.get(link.name)
        if joint is not None and joint.type != "fixed":
            entry["moved_by"] = f"{inst}/{joint.name}"
        elif joint is not None:
            entry["attached_to"] = f"{inst}/{joint.parent}"
        if link.name in insides:
            entry["inside"] = _world_axes(insides[link.name], pose[:3, :3])
        links.append(entry)
    joints = []
    for j in asset.movable_joints():
        closed, opened = j.ends()
        axis = poses[j.child][:3, :3] @ np.asarray(j.axis, float)
        joints.append({"name": f"{inst}/{j.name}", "type": j.type, "moves": f"{inst}/{j.child}", "parent": f"{inst}/{j.parent}",
                       "moves_semantic": asset.link(j.child).semantic, "axis": _r(axis),
                       "lower": round(min(closed, opened), 4), "upper": round(max(closed, opened), 4),
                       "closed": round(closed, 4), "open": round(opened, 4),
                       "unit": "m" if j.type == "prismatic" else "rad"})
    handles = [{"name": f"{inst}/{h.name}", "link": f"{inst}/{h.link}",
                "operates": f"{inst}/{h.joint}" if h.joint else None, "pos": _r(base + np.asarray(h.pos)),
                "length": round(float(max(h.size)), 4), "along": _r(h.axis)} for h in asset.handles]
    size = asset.physics.size if asset.physics else None
    return {"name": inst, "asset_id": asset.asset_id, "category": asset.category or asset.asset_id,
            "source": asset.source, "pos": _r(base), "fixed": asset.fixed_base if fixed is None else fixed,
            "size": _r(size) if size else None, "links": links, "joints": joints, "handles": handles}


def describe_object(name: str, shape: str, size: Sequence[float], mass: float, pos: Sequence[float]) -> dict[str, Any]:
    """A free object: its shape, size (m), mass (kg) and start position (centre of its bottom face)."""
    return {"name": name, "shape": shape, "size": _r(size), "mass": round(float(mass), 4), "pos": _r(pos)}


def describe_scene(scene, base=None) -> dict[str, Any]:
    """The description of a :class:`~rlscope.gen2sim.sim.scene.SceneSpec` (asset directories resolved
    against ``base``)."""
    from rlscope.gen2sim.sim.scene import load_scene_asset

    assets = []
    for a in scene.assets:
        asset, _ = load_scene_asset(a, base)
        assets.append(describe_asset(asset, a.name, a.pos, a.fixed))
    objects = [describe_object(o.name, o.shape, o.size, o.mass, o.pos) for o in scene.objects]
    g = scene.gripper
    return {"assets": assets, "objects": objects,
            "gripper": {"start": _r(g.start), "workspace_low": _r(g.workspace_low), "workspace_high": _r(g.workspace_high)}}


def render_description(desc: dict[str, Any]) -> str:
    """The text a language model reads (one line per part, joint, handle and object)."""
    lines = []
    for k, a in enumerate(desc["assets"], 1):
        size = " x ".join(f"{v:.2f}" for v in a["size"]) + " m" if a.get("size") else "unknown size"
        lines.append(f"{k}. asset_name: \"{a['name']}\" (category: {a['category']}), bounding box {size}, "
                     f"bottom centre at {a['pos']}, {'fixed in place' if a['fixed'] else 'free standing'}")
        lines.append("   links:")
        for link in a["links"]:
            how = f", moved by joint {link['moved_by']}" if "moved_by" in link else \
                f", attached to {link['attached_to']}" if "attached_to" in link else " (root)"
            span = f", spans {link['bounds']['low']} .. {link['bounds']['high']}" if "bounds" in link else ""
            lines.append(f"     - {link['name']}: {link['semantic']}{how}, frame at {link['pos']}{span}")
            if "inside" in link:
                lines.append(f"       inside (offsets from the link's position): low {link['inside']['low']}, "
                             f"high {link['inside']['high']}, open at the top")
        if a["joints"]:
            lines.append("   joints:")
        for j in a["joints"]:
            lines.append(f"     - {j['name']}: {j['type']}, moves {j['moves']} ({j['moves_semantic']}), axis {j['axis']}, "
                         f"limits [{j['lower']}, {j['upper']}] {j['unit']}, closed at {j['closed']}, open at {j['open']}")
        if a["handles"]:
            lines.append("   handles:")
        for h in a["handles"]:
            op = f", operates {h['operates']}" if h["operates"] else ""
            lines.append(f"     - {h['name']}: on link {h['link']}{op}, centre at {h['pos']}, {h['length']} m long along {h['along']}")
    if desc["objects"]:
        lines.append("free objects:")
    for o in desc["objects"]:
        lines.append(f"  - {o['name']}: {o['shape']} of size {o['size']} m, {o['mass']} kg, starts at {o['pos']}")
    g = desc["gripper"]
    lines.append(f"gripper: starts at {g['start']}, moves within {g['workspace_low']} .. {g['workspace_high']}")
    return "\n".join(lines)
