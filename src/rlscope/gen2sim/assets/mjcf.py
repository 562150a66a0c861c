"""MJCF export, and MuJoCo scenes for validation and previews.

Contact parameters follow what keeps manipulation honest at a 2 ms step: ``solref`` twice the
timestep (stiff, critically damped), ``solimp`` 0.95..0.99 for bodies and 0.99 for thin parts
(handles, knobs, lips), ``condim`` 6 with torsional (0.005 m) and rolling (0.001 m) friction, so round or rocking things
come to rest as real ones do. Parts
joined by a moving joint never collide with their parent (explicit ``<exclude>`` pairs, which also
hold when the root is welded to the world, where MuJoCo's parent filter does not apply).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from rlscope.gen2sim.assets.asset import Asset, Geom, Link

TIMESTEP = 0.002
SOLREF = (2 * TIMESTEP, 1.0)
SOLIMP = (0.95, 0.99, 0.001)
SOLIMP_THIN = (0.99, 0.99, 0.001)
TORSIONAL = 0.005
"""Torsional friction (m)."""
ROLLING = 0.001
"""Rolling friction (m): damps rocking and rolling like the losses of real materials."""
TABLE_TOP = 0.5
"""Height of the table top in validation scenes (m)."""


def _f(values: Sequence[float]) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def _geom_attrs(g: Geom, mesh_names: dict[tuple[str, tuple[float, ...]], str]) -> dict[str, str]:
    attrs = {"type": g.type, "pos": _f(g.pos)}
    if list(g.quat) != [1.0, 0.0, 0.0, 0.0]:
        attrs["quat"] = _f(g.quat)
    if g.type == "box":
        attrs["size"] = _f([s / 2 for s in g.size])
    elif g.type in ("cylinder", "capsule"):
        attrs["size"] = _f([g.size[0], g.size[1] / 2])
    elif g.type == "sphere":
        attrs["size"] = _f([g.size[0]])
    elif g.type == "mesh":
        attrs["mesh"] = mesh_names[(g.mesh or "", tuple(g.scale))]
    return attrs


def _same(a: Geom, b: Geom) -> bool:
    return (a.type, list(a.size), list(a.pos), list(a.quat), a.mesh, list(a.scale)) == (
        b.type, list(b.size), list(b.pos), list(b.quat), b.mesh, list(b.scale))


def _welded_groups(asset: Asset) -> dict[str, str]:
    """Link -> representative of the group of links welded to it through fixed joints."""
    rep = {link.name: link.name for link in asset.links}

    def find(x: str) -> str:
        while rep[x] != x:
            x = rep[x]
        return x

    for j in asset.joints:
        if j.type == "fixed":
            rep[find(j.child)] = find(j.parent)
    return {name: find(name) for name in rep}


def exclude_pairs(asset: Asset) -> list[tuple[str, str]]:
    """(body, body) pairs across every moving joint (both welded groups)."""
    group = _welded_groups(asset)
    members: dict[str, list[str]] = {}
    for name, g in group.items():
        members.setdefault(g, []).append(name)
    pairs = []
    for j in asset.joints:
        if j.type == "fixed":
            continue
        for a in members[group[j.parent]]:
            for b in members[group[j.child]]:
                pairs.append((a, b))
    return pairs


def add_default_classes(root: ET.Element, condim: int) -> None:
    """The ``visual``, ``collision`` and ``thin`` geom classes and the joint defaults of the project's models."""
    default = ET.SubElement(root, "default")
    ET.SubElement(default, "joint", armature="0.0001", solreflimit=_f(SOLREF), solimplimit=_f(SOLIMP))
    d_vis = ET.SubElement(default, "default", {"class": "visual"})
    ET.SubElement(d_vis, "geom", contype="0", conaffinity="0", group="2")
    d_col = ET.SubElement(default, "default", {"class": "collision"})
    ET.SubElement(d_col, "geom", group="3", condim=str(condim), solref=_f(SOLREF), solimp=_f(SOLIMP))
    d_thin = ET.SubElement(d_col, "default", {"class": "thin"})
    ET.SubElement(d_thin, "geom", solimp=_f(SOLIMP_THIN))


def build_mjcf(
    asset: Asset,
    meshdir: str | Path = ".",
    *,
    free: bool | None = None,
    pos: Sequence[float] = (0.0, 0.0, 0.0),
    scene: bool = False,
    actuators: bool = False,
    gravcomp: bool = False,
) -> str:
    """The asset as an MJCF document.

    Parameters
    ----------
    meshdir : path
        Where ``Geom.mesh`` paths are resolved (the asset directory; ``.`` in ``model.xml``).
    free : bool, optional
        Give the root a free joint (default: unless ``asset.fixed_base``).
    pos : (3,) float
        Position of the asset frame in the world.
    scene : bool
        Add a table (top at :data:`TABLE_TOP`), a light and a camera.
    actuators : bool
        Add a position servo on every movable joint (used to sweep joint ranges in validation).
    gravcomp : bool
        Compensate gravity on every body (joint sweeps).
    """
    if free is None:
        free = not asset.fixed_base
    root = ET.Element("mujoco", model=asset.asset_id)
    ET.SubElement(root, "compiler", angle="radian", meshdir=str(meshdir), autolimits="true",
                  inertiafromgeom="false", balanceinertia="true", boundmass="1e-5", boundinertia="1e-10")
    ET.SubElement(root, "option", timestep=str(TIMESTEP), integrator="implicitfast")
    add_default_classes(root, condim=6)

    mesh_names: dict[tuple[str, tuple[float, ...]], str] = {}
    assets_el = ET.SubElement(root, "asset")
    for link in asset.links:
        for g in link.visuals + link.collisions:
            if g.type == "mesh":
                key = (g.mesh or "", tuple(g.scale))
                if key not in mesh_names:
                    name = f"mesh{len(mesh_names)}_" + Path(g.mesh or "m").stem
                    mesh_names[key] = name
                    attrs = {"name": name, "file": g.mesh or ""}
                    if list(g.scale) != [1.0, 1.0, 1.0]:
                        attrs["scale"] = _f(g.scale)
                    ET.SubElement(assets_el, "mesh", attrs)
    if scene:
        ET.SubElement(assets_el, "texture", name="rlscope_grid", type="2d", builtin="checker", rgb1=".82 .80 .76",
                      rgb2=".74 .72 .68", width="256", height="256")
        ET.SubElement(assets_el, "material", name="rlscope_table", texture="rlscope_grid", texrepeat="8 8")

    world = ET.SubElement(root, "worldbody")
    if scene:
        ET.SubElement(world, "light", pos="0.6 -1.2 2.5", dir="-0.3 0.5 -1", diffuse=".8 .8 .8", specular=".2 .2 .2")
        ET.SubElement(world, "light", pos="-1 1 2.5", dir="0.4 -0.4 -1", diffuse=".3 .3 .3")
        ET.SubElement(world, "geom", name="rlscope_table", type="box", size="2 2 0.02", pos=f"0 0 {TABLE_TOP - 0.02}",
                      material="rlscope_table", condim="6", solref=_f(SOLREF), solimp=_f(SOLIMP), friction=f"0.6 {TORSIONAL} {ROLLING}")
    children: dict[str, list] = {}
    for j in asset.joints:
        children.setdefault(j.parent, []).append(j)
    links = {link.name: link for link in asset.links}

    def add_body(parent_el: ET.Element, link: Link, joint) -> None:
        attrs = {"name": link.name}
        if joint is None:
            attrs["pos"] = _f(pos)
        else:
            attrs["pos"] = _f(joint.pos)
            if list(joint.quat) != [1.0, 0.0, 0.0, 0.0]:
                attrs["quat"] = _f(joint.quat)
        if gravcomp:
            attrs["gravcomp"] = "1"
        body = ET.SubElement(parent_el, "body", attrs)
        if joint is None and free:
            ET.SubElement(body, "freejoint", name=f"{asset.asset_id}_root")
        elif joint is not None and joint.type != "fixed":
            j_attrs = {"name": joint.name, "type": "slide" if joint.type == "prismatic" else "hinge", "axis": _f(joint.axis)}
            if joint.type != "continuous":
                j_attrs["range"] = _f(joint.range)
            if joint.damping:
                j_attrs["damping"] = f"{joint.damping:.6g}"
            if joint.frictionloss:
                j_attrs["frictionloss"] = f"{joint.frictionloss:.6g}"
            if joint.stiffness:
                j_attrs["stiffness"] = f"{joint.stiffness:.6g}"
            ET.SubElement(body, "joint", j_attrs)
        if link.inertial is not None:
            ET.SubElement(body, "inertial", pos=_f(link.inertial.com), mass=f"{link.inertial.mass:.9g}",
                          fullinertia=_f(link.inertial.inertia))
        rendered = []
        for g in link.collisions:
            a = _geom_attrs(g, mesh_names)
            a["class"] = "thin" if g.thin else "collision"
            a["friction"] = f"{link.friction:.4g} {TORSIONAL} {ROLLING}"
            if any(_same(g, v) for v in link.visuals):
                a["group"] = "0"
                a["rgba"] = _f(g.rgba)
                rendered.append(g)
            else:
                a["rgba"] = _f([*g.rgba[:3], 0.3])
            ET.SubElement(body, "geom", a)
        for g in link.visuals:
            if any(_same(g, r) for r in rendered):
                continue
            a = _geom_attrs(g, mesh_names)
            a["class"] = "visual"
            a["rgba"] = _f(g.rgba)
            ET.SubElement(body, "geom", a)
        for j in children.get(link.name, []):
            add_body(body, links[j.child], j)

    add_body(world, links[asset.root], None)
    if scene:
        ET.SubElement(world, "camera", name="preview", mode="targetbody", target=asset.root, pos=_f(_camera_pos(asset, pos)))
    pairs = exclude_pairs(asset)
    if pairs:
        contact = ET.SubElement(root, "contact")
        for a, b in pairs:
            ET.SubElement(contact, "exclude", body1=a, body2=b)
    if actuators:
        act = ET.SubElement(root, "actuator")
        for j in asset.movable_joints():
            ET.SubElement(act, "position", name=f"servo_{j.name}", joint=j.name, kp="1", kv="0.1")
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def _camera_pos(asset: Asset, pos: Sequence[float]) -> list[float]:
    size = asset.physics.size if asset.physics else [0.3, 0.3, 0.3]
    r = 2.0 * max(size) + 0.1
    return [pos[0] + 0.55 * r, pos[1] - 0.85 * r, pos[2] + 0.55 * r + size[2] / 2]


def write_mjcf(asset: Asset, asset_dir: Path, name: str = "model.xml") -> Path:
    from rlscope.config import atomic_write_text

    path = asset_dir / name
    atomic_write_text(path, build_mjcf(asset, "."))
    return path


def load_model(xml: str):
    """Compile an MJCF string; raises RlscopeError with MuJoCo's message."""
    import mujoco

    from rlscope.errors import RlscopeError

    try:
        return mujoco.MjModel.from_xml_string(xml)
    except ValueError as exc:
        raise RlscopeError(f"MuJoCo rejected the model: {exc}") from None
