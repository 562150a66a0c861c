"""URDF export and import.

Import reads a URDF (e.g. the ones ``pybullet_data`` ships, or a PartNet-Mobility object) into the
same :class:`Asset` form as generated assets: links, joints, geometry, inertia, and semantics (from
a PartNet-Mobility ``semantics.txt`` beside the file, else from link names). Broken files raise one
:class:`DataError` naming the file (and line, for XML errors); repairable problems (missing or
implausible inertia, a massless root, missing joint limits) are fixed and listed as warnings.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from rlscope.errors import DataError
from rlscope.gen2sim.assets.asset import (
    Asset, Geom, Inertial, Joint, Link, matrix_to_quat, matrix_to_rpy, quat_to_matrix, rpy_to_matrix,
)

log = logging.getLogger(__name__)

SEMANTIC_WORDS = ("handle", "door", "drawer", "lid", "button", "knob", "screen", "lever", "wheel", "leg",
                  "shelf", "sash", "window", "spout", "keyboard", "switch", "cap", "tray")


# -- export --------------------------------------------------------------------------------
def _f(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def _geometry(parent: ET.Element, g: Geom) -> None:
    geo = ET.SubElement(parent, "geometry")
    if g.type == "box":
        ET.SubElement(geo, "box", size=_f(g.size))
    elif g.type in ("cylinder", "capsule"):
        ET.SubElement(geo, "cylinder", radius=f"{g.size[0]:.6g}", length=f"{g.size[1]:.6g}")
    elif g.type == "sphere":
        ET.SubElement(geo, "sphere", radius=f"{g.size[0]:.6g}")
    else:
        ET.SubElement(geo, "mesh", filename=g.mesh or "", scale=_f(g.scale))


def build_urdf(asset: Asset) -> str:
    """The asset as a URDF document (mesh paths relative to the asset directory)."""
    robot = ET.Element("robot", name=asset.asset_id)
    for link in asset.links:
        el = ET.SubElement(robot, "link", name=link.name)
        if link.inertial is not None:
            inert = ET.SubElement(el, "inertial")
            ET.SubElement(inert, "origin", xyz=_f(link.inertial.com), rpy="0 0 0")
            ET.SubElement(inert, "mass", value=f"{link.inertial.mass:.9g}")
            ixx, iyy, izz, ixy, ixz, iyz = link.inertial.inertia
            ET.SubElement(inert, "inertia", ixx=f"{ixx:.9g}", ixy=f"{ixy:.9g}", ixz=f"{ixz:.9g}",
                          iyy=f"{iyy:.9g}", iyz=f"{iyz:.9g}", izz=f"{izz:.9g}")
        for i, g in enumerate(link.visuals):
            vis = ET.SubElement(el, "visual")
            ET.SubElement(vis, "origin", xyz=_f(g.pos), rpy=_f(matrix_to_rpy(quat_to_matrix(g.quat))))
            _geometry(vis, g)
            mat = ET.SubElement(vis, "material", name=f"{link.name}_m{i}")
            ET.SubElement(mat, "color", rgba=_f(g.rgba))
        for g in link.collisions:
            col = ET.SubElement(el, "collision")
            ET.SubElement(col, "origin", xyz=_f(g.pos), rpy=_f(matrix_to_rpy(quat_to_matrix(g.quat))))
            _geometry(col, g)
        contact = ET.SubElement(el, "contact")
        ET.SubElement(contact, "lateral_friction", value=f"{link.friction:.4g}")
    for j in asset.joints:
        jt = j.type
        el = ET.SubElement(robot, "joint", name=j.name, type=jt)
        ET.SubElement(el, "parent", link=j.parent)
        ET.SubElement(el, "child", link=j.child)
        ET.SubElement(el, "origin", xyz=_f(j.pos), rpy=_f(matrix_to_rpy(quat_to_matrix(j.quat))))
        if jt != "fixed":
            ET.SubElement(el, "axis", xyz=_f(j.axis))
            if jt in ("revolute", "prismatic"):
                ET.SubElement(el, "limit", lower=f"{j.range[0]:.6g}", upper=f"{j.range[1]:.6g}", effort="100", velocity="2")
            if j.damping or j.frictionloss:
                ET.SubElement(el, "dynamics", damping=f"{j.damping:.6g}", friction=f"{j.frictionloss:.6g}")
    ET.indent(robot, space="  ")
    return '<?xml version="1.0"?>\n' + ET.tostring(robot, encoding="unicode") + "\n"


def semantics_txt(asset: Asset) -> str:
    """PartNet-Mobility ``semantics.txt``: one ``link joint_kind semantic`` line per link."""
    by_child = {j.child: j for j in asset.joints}
    lines = []
    for link in asset.links:
        j = by_child.get(link.name)
        kind = "free" if j is None else {"revolute": "hinge", "continuous": "hinge", "prismatic": "slider"}.get(j.type, "static")
        if j is None and asset.fixed_base:
            kind = "static"
        lines.append(f"{link.name} {kind} {link.semantic}")
    return "\n".join(lines) + "\n"


# -- import --------------------------------------------------------------------------------
@dataclasses.dataclass
class ImportedURDF:
    asset: Asset
    meshes: dict[str, Any]
    """Relative mesh path (as referenced by the asset's geoms) -> trimesh.Trimesh, scale baked in."""
    warnings: list[str]


def _floats(text: str | None, n: int, default: list[float], where: str) -> list[float]:
    if text is None:
        return list(default)
    try:
        vals = [float(v) for v in text.split()]
    except ValueError:
        raise DataError(f"{where}: expected {n} numbers, got {text!r}") from None
    if len(vals) == 1 and n == 3 and "scale" in where:
        vals = vals * 3
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        raise DataError(f"{where}: expected {n} finite numbers, got {text!r}")
    return vals


def _origin(el: ET.Element | None, where: str) -> np.ndarray:
    out = np.eye(4)
    if el is None:
        return out
    o = el.find("origin")
    if o is None:
        return out
    out[:3, :3] = rpy_to_matrix(_floats(o.get("rpy"), 3, [0, 0, 0], where + " origin rpy"))
    out[:3, 3] = _floats(o.get("xyz"), 3, [0, 0, 0], where + " origin xyz")
    return out


def _resolve(filename: str, base: Path, where: str) -> Path:
    if filename.startswith("file://"):
        filename = filename[len("file://") :]
    if filename.startswith("package://"):
        pkg, _, rest = filename[len("package://") :].partition("/")
        for parent in [base, *base.parents]:
            if parent.name == pkg and (parent / rest).exists():
                return parent / rest
            if (parent / pkg / rest).exists():
                return parent / pkg / rest
        raise DataError(f"{where}: cannot resolve {filename!r} (no folder named {pkg!r} above the URDF)")
    path = Path(filename)
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise DataError(f"{where}: mesh file not found: {filename}")
    return path


def _load_mesh(path: Path, where: str, split: bool):
    import trimesh

    try:
        loaded = trimesh.load(path, force=None if split else "mesh", process=True,
                              **({"split_objects": True, "group_material": False} if split else {}))
    except Exception as exc:  # noqa: BLE001 - trimesh raises many kinds
        alt = path.with_suffix(".obj")
        if path.suffix.lower() != ".obj" and alt.exists():
            return _load_mesh(alt, where, split)
        raise DataError(f"{where}: cannot load mesh {path.name}: {exc}") from None
    if isinstance(loaded, trimesh.Scene):
        parts = [g for g in loaded.dump()] if hasattr(loaded, "dump") else list(loaded.geometry.values())
        parts = [p for p in parts if isinstance(p, trimesh.Trimesh) and len(p.faces)]
        if not split:
            parts = [trimesh.util.concatenate(parts)] if parts else []
    else:
        parts = [loaded] if len(loaded.faces) else []
    if not parts:
        raise DataError(f"{where}: mesh {path.name} has no faces")
    return parts


def import_urdf(path: Path | str, *, category: str | None = None, asset_id: str | None = None) -> ImportedURDF:
    """Read a URDF into an :class:`Asset` (root frame moved to the bottom centre of the bounding box)."""
    from rlscope.gen2sim.assets import mesh as meshlib
    from rlscope.gen2sim.assets import physics as phys

    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise DataError("URDF file not found", src)
    try:
        tree = ET.parse(path)
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise DataError(f"not valid XML ({exc})", src, line) from None
    robot = tree.getroot()
    if robot.tag != "robot":
        raise DataError(f"root element is <{robot.tag}>, expected <robot>", src)
    base = path.parent
    warnings: list[str] = []
    materials = {}
    for m in robot.findall("material"):
        c = m.find("color")
        if m.get("name") and c is not None:
            materials[m.get("name")] = _floats(c.get("rgba"), 4, [0.7, 0.7, 0.7, 1], f"{src}: material")
    semantics = _read_semantics(base / "semantics.txt")
    meshes: dict[str, Any] = {}
    links: list[Link] = []
    link_names = set()
    _, cat_info = phys.lookup_category(category)
    for li, lel in enumerate(robot.findall("link")):
        name = lel.get("name")
        if not name:
            raise DataError(f"link #{li} has no name", src)
        if name in link_names:
            raise DataError(f"duplicate link name {name!r}", src)
        link_names.add(name)
        where = f"{src}: link {name!r}"
        link = Link(name=name, semantic=semantics.get(name) or _guess_semantic(name), material=cat_info.material,
                    friction=phys.friction_of(cat_info.material))
        fr = lel.find("contact/lateral_friction")
        if fr is not None and fr.get("value"):
            link.friction = float(fr.get("value"))
        for kind in ("visual", "collision"):
            for gi, gel in enumerate(lel.findall(kind)):
                geoms = _read_geoms(gel, base, f"{where} {kind} #{gi}", meshes, f"meshes/{_safe(name)}_{kind}{gi}",
                                    split=(kind == "collision"), materials=materials)
                (link.visuals if kind == "visual" else link.collisions).extend(geoms)
        iel = lel.find("inertial")
        if iel is not None:
            link.inertial = _read_inertial(iel, where)
        links.append(link)
    if not links:
        raise DataError("no <link> elements", src)

    joints: list[Joint] = []
    for ji, jel in enumerate(robot.findall("joint")):
        jname = jel.get("name") or f"joint{ji}"
        where = f"{src}: joint {jname!r}"
        jtype = jel.get("type")
        if jtype not in ("revolute", "prismatic", "continuous", "fixed"):
            raise DataError(f"{where}: joint type {jtype!r} is not supported (revolute, prismatic, continuous, fixed)")
        p, c = jel.find("parent"), jel.find("child")
        if p is None or c is None or p.get("link") not in link_names or c.get("link") not in link_names:
            raise DataError(f"{where}: parent/child must name existing links, got "
                            f"{None if p is None else p.get('link')!r} -> {None if c is None else c.get('link')!r}")
        T = _origin(jel, where)
        axis = np.asarray(_floats(jel.find("axis").get("xyz") if jel.find("axis") is not None else None, 3, [1, 0, 0], where + " axis"))
        if np.linalg.norm(axis) < 1e-9 and jtype != "fixed":
            raise DataError(f"{where}: zero joint axis")
        axis = axis / max(np.linalg.norm(axis), 1e-12)
        rng = [0.0, 0.0]
        if jtype in ("revolute", "prismatic"):
            lim = jel.find("limit")
            if lim is None or lim.get("lower") is None or lim.get("upper") is None:
                rng = [-math.pi, math.pi] if jtype == "revolute" else [-0.1, 0.1]
                warnings.append(f"joint {jname}: no limits in the URDF; used [{rng[0]:.2f}, {rng[1]:.2f}]")
            else:
                rng = [float(lim.get("lower")), float(lim.get("upper"))]
                if rng[0] > rng[1]:
                    raise DataError(f"{where}: lower limit {rng[0]} > upper limit {rng[1]}")
        dyn = jel.find("dynamics")
        joints.append(Joint(
            name=jname, type=jtype, parent=p.get("link"), child=c.get("link"), pos=T[:3, 3].tolist(),
            quat=matrix_to_quat(T[:3, :3]), axis=axis.tolist(), range=rng,
            damping=float(dyn.get("damping", 0) or 0) if dyn is not None else 0.0,
            frictionloss=float(dyn.get("friction", 0) or 0) if dyn is not None else 0.0,
            semantic={"revolute": "hinge", "continuous": "hinge", "prismatic": "slider"}.get(jtype, "static"),
        ))
        if jtype in ("revolute", "prismatic"):
            joints[-1].closed = joints[-1].closed_end()  # URDF has no field for it: the end nearer 0, recorded
            if joints[-1].closed == "upper":
                warnings.append(f"joint {jname}: closed at its upper limit {rng[1]:g} (the end nearer 0); "
                                f"override with --closed {jname}=lower")
    children = [j.child for j in joints]
    dup = {c for c in children if children.count(c) > 1}
    if dup:
        raise DataError(f"links with more than one parent joint: {sorted(dup)}", src)
    roots = [n for n in link_names if n not in children]
    if len(roots) != 1:
        raise DataError(f"the joints must form one tree; found roots {sorted(roots)}", src)
    asset = Asset(asset_id=asset_id or _safe(robot.get("name") or path.stem), category=category, source="urdf",
                  links=links, joints=joints, params={"urdf": path.name})
    try:
        asset.link_poses()
    except ValueError as exc:
        raise DataError(str(exc), src) from None
    # order links parent-first (MJCF nesting and readability)
    order = {n: i for i, n in enumerate(_topological(asset))}
    asset.links.sort(key=lambda link: order[link.name])

    _recenter(asset, meshes)
    warnings += _repair_inertials(asset, meshes, category)
    lo, hi = meshlib.asset_bounds(asset, meshes)
    ext = (hi - lo).tolist()
    total = asset.total_mass()
    material = cat_info.material
    asset.physics = phys_from_urdf(ext, total, material, asset.links[0].friction, category)
    asset.warnings += warnings
    return ImportedURDF(asset, meshes, warnings)


def phys_from_urdf(extents: list[float], mass: float, material: str, friction: float, category: str | None):
    from rlscope.gen2sim.assets.asset import Physics
    from rlscope.gen2sim.assets.physics import lookup_category

    _, info = lookup_category(category)
    return Physics(material=material, size_cm=[max(extents) * 100] * 2, mass_g=[mass * 1000] * 2, size=extents,
                   mass=mass, friction=friction, source="urdf", shape=info.shape)


def _topological(asset: Asset) -> list[str]:
    order = [asset.root]
    kids: dict[str, list[str]] = {}
    for j in asset.joints:
        kids.setdefault(j.parent, []).append(j.child)
    i = 0
    while i < len(order):
        order += kids.get(order[i], [])
        i += 1
    return order


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "asset"


def _guess_semantic(name: str) -> str:
    low = name.lower()
    for word in SEMANTIC_WORDS:
        if word in low:
            return word
    if low in ("base", "base_link", "baselink", "world"):
        return "base"
    return "body"


def _read_semantics(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 3:
                out[parts[0]] = parts[2]
    return out


def _read_inertial(el: ET.Element, where: str) -> Inertial:
    T = _origin(el, where + " inertial")
    m_el, i_el = el.find("mass"), el.find("inertia")
    mass = float(m_el.get("value", 0)) if m_el is not None else 0.0
    vals = {k: float(i_el.get(k, 0)) if i_el is not None else 0.0 for k in ("ixx", "iyy", "izz", "ixy", "ixz", "iyz")}
    mat = np.array([[vals["ixx"], vals["ixy"], vals["ixz"]], [vals["ixy"], vals["iyy"], vals["iyz"]],
                    [vals["ixz"], vals["iyz"], vals["izz"]]])
    R = T[:3, :3]
    mat = R @ mat @ R.T
    return Inertial(mass=mass, com=T[:3, 3].tolist(),
                    inertia=[mat[0, 0], mat[1, 1], mat[2, 2], mat[0, 1], mat[0, 2], mat[1, 2]])


def _read_geoms(el: ET.Element, base: Path, where: str, meshes: dict, key: str, split: bool,
                materials: dict[str, list[float]]) -> list[Geom]:
    T = _origin(el, where)
    pos, quat = T[:3, 3].tolist(), matrix_to_quat(T[:3, :3])
    rgba = [0.7, 0.7, 0.7, 1.0]
    mat = el.find("material")
    if mat is not None:
        color = mat.find("color")
        if color is not None:
            rgba = _floats(color.get("rgba"), 4, rgba, where + " color")
        elif mat.get("name") in materials:
            rgba = materials[mat.get("name")]
    geo = el.find("geometry")
    if geo is None or len(geo) == 0:
        raise DataError(f"{where}: no <geometry>")
    shape = geo[0]
    if shape.tag == "box":
        return [Geom("box", _floats(shape.get("size"), 3, [0, 0, 0], where + " box size"), pos, quat, rgba=rgba)]
    if shape.tag == "cylinder":
        return [Geom("cylinder", [float(shape.get("radius", 0)), float(shape.get("length", 0))], pos, quat, rgba=rgba)]
    if shape.tag == "sphere":
        return [Geom("sphere", [float(shape.get("radius", 0))], pos, quat, rgba=rgba)]
    if shape.tag != "mesh":
        raise DataError(f"{where}: geometry <{shape.tag}> is not supported")
    fname = shape.get("filename")
    if not fname:
        raise DataError(f"{where}: mesh without filename")
    file = _resolve(fname, base, where)
    scale = np.asarray(_floats(shape.get("scale"), 3, [1, 1, 1], where + " mesh scale"))
    parts = _load_mesh(file, where, split)
    out = []
    for pi, part in enumerate(parts):
        part = part.copy()
        part.vertices = part.vertices * scale
        if np.prod(np.sign(scale)) < 0:
            part.invert()
        rel = f"{key}_{pi}.obj" if len(parts) > 1 else f"{key}.obj"
        meshes[rel] = part
        color = rgba
        if getattr(part.visual, "kind", None) == "vertex" and mat is None:
            color = (np.asarray(part.visual.vertex_colors, float)[:, :4].mean(0) / 255).tolist()
        out.append(Geom("mesh", [], pos, quat, mesh=rel, rgba=color))
    return out


def _recenter(asset: Asset, meshes: dict) -> None:
    """Move the root frame to the bottom centre of the bounding box (shifting what hangs off the root)."""
    from rlscope.gen2sim.assets.mesh import asset_bounds

    lo, hi = asset_bounds(asset, meshes)
    shift = -np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
    if np.allclose(shift, 0, atol=1e-9):
        return
    root = asset.link(asset.root)
    for g in root.visuals + root.collisions:
        g.pos = (np.asarray(g.pos) + shift).tolist()
    if root.inertial is not None:
        root.inertial.com = (np.asarray(root.inertial.com) + shift).tolist()
    for j in asset.joints:
        if j.parent == asset.root:
            j.pos = (np.asarray(j.pos) + shift).tolist()
    asset.params["urdf_root_offset"] = shift.tolist()


def _repair_inertials(asset: Asset, meshes: dict, category: str | None) -> list[str]:
    """Fill missing/implausible masses and inertias from geometry; returns what was repaired."""
    from rlscope.gen2sim.assets import mesh as meshlib
    from rlscope.gen2sim.assets import physics as phys

    warnings = []
    moving = {j.child for j in asset.joints if j.type != "fixed"} | {asset.root}
    for link in asset.links:
        solid = meshlib.link_solid(link, meshes)
        ext = solid.extents if solid is not None else np.array([0.05, 0.05, 0.05])
        has_mass = link.inertial is not None and link.inertial.mass > 0
        if not has_mass:
            if solid is None and link.name not in moving:
                continue  # a massless frame welded to its parent: fine
            if link.name == asset.root and len(asset.links) == 1 or link.name == asset.root:
                _, info = phys.lookup_category(category)
                mass = sum(info.mass_g) / 2 / 1000
                why = f"the table value for {category or 'an unknown category'}"
            else:
                vol = solid.volume if solid is not None else 1e-5
                mass = max(1e-3, vol * phys.MATERIALS[link.material].density * 0.3)
                why = f"its volume and {link.material} density"
            warnings.append(f"link {link.name}: no mass in the URDF (static or missing); used {mass:.3g} kg from {why}")
            link.inertial = _solid_inertial(solid, mass, link.inertial)
            continue
        if not phys.plausible_inertia(link.inertial, ext):
            old = link.inertial
            link.inertial = _solid_inertial(solid, old.mass, old)
            diag = ", ".join(f"{float(v):.3g}" for v in old.inertia[:3])
            warnings.append(f"link {link.name}: implausible inertia diag({diag}) for "
                            f"{old.mass:.3g} kg; recomputed from the geometry")
    return warnings


def _solid_inertial(solid, mass: float, old: Inertial | None) -> Inertial:
    from rlscope.gen2sim.assets.physics import mesh_inertial

    if solid is not None and solid.volume > 0:
        inertial, _ = mesh_inertial(solid, mass)
        return inertial
    com = old.com if old is not None else [0.0, 0.0, 0.0]
    r = 0.05
    i = 0.4 * mass * r * r
    return Inertial(mass=mass, com=list(com), inertia=[i, i, i, 0.0, 0.0, 0.0])
