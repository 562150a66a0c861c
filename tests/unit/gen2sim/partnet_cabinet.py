"""PartNet-Mobility-style object directories made by the tests (nothing downloaded).

Laid out as PartNet-Mobility ships them: ``mobility.urdf``, ``semantics.txt`` (``link joint_type label``),
``mobility_v2.json``, ``meta.json`` and ``textured_objs/*.obj``. As there, the meshes are y-up and face
+z in normalised units (longest side 1), the root joint turns them z-up (facing -x), and the meshes
are open shells (not watertight): the cabinet's frame has no front, the drawer box no top.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import trimesh

WIDTH, HEIGHT, DEPTH = 1.0, 0.5, 0.6
"""Frame extents in the raw (y-up) mesh frame: x, y (up), z (front is +z)."""
TRAVEL = 0.4
"""Drawer travel in raw units."""
HANDLE_OUT = 0.05
"""How far the handle bar sticks out of the drawer front (raw units)."""


def open_box(lo, hi, drop: str) -> trimesh.Trimesh:
    """A box's surface without the face on side ``drop`` (``+z`` front, ``+y`` top): an open shell."""
    box = trimesh.creation.box(bounds=np.array([lo, hi], float))
    axis, sign = "xyz".index(drop[1]), 1.0 if drop[0] == "+" else -1.0
    keep = box.face_normals[:, axis] * sign < 0.5
    return trimesh.Trimesh(box.vertices, box.faces[keep], process=False)


def make_cabinet(root: Path, handle: str = "link", category: str = "StorageFurniture") -> Path:
    """A one-drawer cabinet. ``handle``: ``link`` (its own link, labelled in semantics.txt), ``visual`` (a
    visual named ``handle-4`` inside the drawer link), ``geometry`` (an unlabelled bar: found by shape) or
    ``none``."""
    root.mkdir(parents=True, exist_ok=True)
    objs = root / "textured_objs"
    objs.mkdir(exist_ok=True)
    w, h, d = WIDTH / 2, HEIGHT / 2, DEPTH / 2
    frame = open_box((-w, -h, -d), (w, h, d), "+z")
    drawer_box = open_box((-w + 0.05, -h + 0.05, -d + 0.03), (w - 0.05, h - 0.1, d - 0.03), "+y")
    front = trimesh.creation.box(bounds=np.array([(-w + 0.02, -h + 0.02, d - 0.03), (w - 0.02, h - 0.02, d)]))
    bar = trimesh.creation.box(bounds=np.array([(-0.15, -0.02, d), (0.15, 0.02, d + HANDLE_OUT)]))
    for i, m in enumerate((frame, drawer_box, front, bar), 1):
        m.export(objs / f"original-{i}.obj")

    def visual(name: str, i: int) -> str:
        return (f'    <visual name="{name}"><origin xyz="0 0 0"/><geometry><mesh filename="textured_objs/original-{i}.obj"/>'
                f"</geometry></visual>\n    <collision><origin xyz=\"0 0 0\"/><geometry>"
                f'<mesh filename="textured_objs/original-{i}.obj"/></geometry></collision>\n')

    bar_name = {"visual": "handle-4", "geometry": "bar-4"}.get(handle, "handle-4")
    drawer_visuals = visual("drawer_box-2", 2) + visual("drawer_front-3", 3)
    if handle in ("visual", "geometry"):
        drawer_visuals += visual(bar_name, 4)
    handle_link = ""
    if handle == "link":
        handle_link = (f'  <link name="link_2">\n{visual("handle-4", 4)}  </link>\n'
                       '  <joint name="joint_2" type="fixed"><origin xyz="0 0 0"/><child link="link_2"/>'
                       '<parent link="link_0"/></joint>\n')
    urdf = (
        '<?xml version="1.0" ?>\n<robot name="partnet_test_cabinet">\n  <link name="base"/>\n'
        f'  <link name="link_0">\n{drawer_visuals}  </link>\n'
        '  <joint name="joint_0" type="prismatic"><origin xyz="0 0 0"/><axis xyz="0 0 1"/><child link="link_0"/>'
        f'<parent link="link_1"/><limit lower="0" upper="{TRAVEL}"/></joint>\n'
        f'  <link name="link_1">\n{visual("frame-1", 1)}  </link>\n'
        '  <joint name="joint_1" type="fixed"><origin rpy="1.570796326794897 0 -1.570796326794897" xyz="0 0 0"/>'
        '<child link="link_1"/><parent link="base"/></joint>\n'
        f"{handle_link}</robot>\n"
    )
    (root / "mobility.urdf").write_text(urdf)
    lines = ["link_0 slider drawer", "link_1 static cabinet_frame"] + (["link_2 static handle"] if handle == "link" else [])
    (root / "semantics.txt").write_text("\n".join(lines) + "\n")
    parts = [{"id": 2, "name": "drawer_box", "children": []}, {"id": 3, "name": "drawer_front", "children": []}]
    if handle == "visual":
        parts.append({"id": 4, "name": "handle", "children": []})
    mobility = [{"id": 0, "parent": 1, "joint": "slider", "name": "drawer", "parts": parts,
                 "jointData": {"axis": {"origin": [0, 0, 0], "direction": [0, 0, 1]},
                               "limit": {"a": 0, "b": TRAVEL, "noLimit": False}}},
                {"id": 1, "parent": -1, "joint": "free", "name": "cabinet_frame",
                 "parts": [{"id": 1, "name": "frame", "children": []}], "jointData": {}}]
    if handle == "link":
        mobility.append({"id": 2, "parent": 0, "joint": "static", "name": "handle",
                         "parts": [{"id": 4, "name": "handle", "children": []}], "jointData": {}})
    (root / "mobility_v2.json").write_text(json.dumps(mobility))
    (root / "meta.json").write_text(json.dumps({"model_cat": category, "anno_id": root.name}))
    return root
