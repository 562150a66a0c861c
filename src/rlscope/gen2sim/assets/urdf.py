"""URDF export and import.

Import reads a URDF (e.g. the ones ``pybullet_data`` ships) or a PartNet-Mobility object directory
(``mobility.urdf``, ``semantics.txt``, ``mobility_v2.json``, ``meta.json``, ``textured_objs/``) into the
same :class:`Asset` form as generated assets: links, joints, geometry, inertia, semantics (PartNet
labels, visual part names, link names) and handles, turned to the project's frame (z up, front -y),
scaled, with masses from the file or the category. Broken files raise one :class:`DataError` naming
the file and the link or joint (and line, for XML errors); repairable problems (missing or implausible
inertia, a massless root, a joint range that leaves out 0) are fixed and listed as warnings.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from rlscope.errors import DataError
from rlscope.gen2sim.assets.asset import (
    Asset, Geom, Handle, Inertial, Joint, Link, Physics, matrix_to_quat, matrix_to_rpy, quat_to_matrix, rpy_to_matrix,
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
PARTNET_URDF = "mobility.urdf"
"""The URDF of a PartNet-Mobility object directory (beside ``semantics.txt``, ``mobility_v2.json``,
``meta.json`` and ``textured_objs/``)."""
FURNITURE = frozenset({"cabinet", "drawer", "microwave", "refrigerator", "dishwasher", "washing_machine", "safe",
                       "table", "door", "window", "toilet", "faucet"})
"""Categories whose articulated assets stand fixed in the world by default."""
FIXED_ABOVE_KG = 10.0
"""An articulated asset heavier than this (kg) stands fixed in the world by default, whatever its category."""
OPERATED = ("drawer", "door", "lid", "screen", "window", "sash", "knob", "lever", "button", "switch")
"""Parts a handle operates: a handle drives the nearest joint above it that moves one of these."""
GRASPED = ("drawer", "door", "lid", "screen", "window", "sash")
"""Parts that need a handle to be operated (a knob, lever or button is its own handle)."""
HANDLE_PROTRUSION = 0.003
"""A part of a drawer, door or lid sticking out of its front (or a lid's top) by at least this much (m) ..."""
HANDLE_MAX_SHARE = 0.6
"""... and spanning at most this share of the part's width and height is taken for its handle."""
SELF_HANDLE = 0.1
"""A drawer, door or lid no longer than this (m) with no handle is grasped by itself (a bottle's cap)."""
DISAGREE = 0.25
"""Visual and collision bounding boxes differing by more than this share of the longest side (and 2 cm)
on some axis draw a warning."""
CONTINUOUS_RANGE = (0.0, 2 * math.pi)
"""The range a continuous joint records: one turn from its rest pose, so that tasks can speak of fractions
of a turn. It is no limit: the MJCF hinge stays unlimited and the URDF joint continuous."""
HOLLOW = 0.3
"""Links without a mass, beside links with one, get this share of their solid volume's mass at the material's
density (furniture and appliances are mostly hollow)."""


@dataclasses.dataclass(frozen=True)
class ImportOptions:
    """How a URDF (or a PartNet-Mobility directory) becomes an :class:`Asset`."""

    category: str | None = None
    """What the object is (cabinet, bottle, ...): material, plausible size and mass. None: a PartNet-Mobility
    ``meta.json``'s ``model_cat``, else generic defaults (with a warning when they are used)."""
    up_axis: str | None = None
    """The file's up axis, +x -x +y -y +z -z. None: +z (the URDF convention; PartNet-Mobility files turn
    their y-up meshes z-up in their root joint)."""
    front: str | None = None
    """The file's front (the side with the doors, drawers and handles). None: -x for PartNet-Mobility
    (``mobility.urdf``), else -y when up is z and +z when up is y (glTF)."""
    size_cm: float | None = None
    """Scale uniformly so that the longest side is this long. None: keep the file's metres, except
    PartNet-Mobility objects (normalised, unit-sized), which are scaled to their category's size."""
    mass_g: float | None = None
    """Total mass (g), spread over the links in proportion to theirs. None: the file's masses, or the
    category's mass spread by volume when the file has none."""
    fixed_base: bool | None = None
    """Stand fixed in the world. None: articulated assets of a furniture category (:data:`FURNITURE`) or
    heavier than :data:`FIXED_ABOVE_KG`."""
    seed: int = 0
    """Seed of the draws from the category's ranges (size of PartNet-Mobility objects, missing masses)."""
    sample_physics: bool = True
    """Draw sizes and masses from the category's ranges; False: take the midpoints."""


@dataclasses.dataclass
class ImportedURDF:
    asset: Asset
    meshes: dict[str, Any]
    """Relative mesh path (as referenced by the asset's geoms) -> trimesh.Trimesh, scale baked in."""
    warnings: list[str]


def find_urdf(path: Path | str) -> tuple[Path, bool]:
    """(URDF file, whether it is a PartNet-Mobility object) of a ``.urdf`` file or of a directory holding
    ``mobility.urdf`` or exactly one ``.urdf``; one clear :class:`DataError` otherwise."""
    path = Path(path)
    if path.is_dir():
        if (path / PARTNET_URDF).is_file():
            return path / PARTNET_URDF, True
        found = sorted(path.glob("*.urdf"))
        if len(found) != 1:
            what = "no .urdf file" if not found else f"several .urdf files ({', '.join(p.name for p in found)}); name one"
            raise DataError(f"{what} in this directory (a PartNet-Mobility object has {PARTNET_URDF})", str(path))
        path = found[0]
    if not path.is_file():
        raise DataError("URDF file not found", str(path))
    return path, path.name == PARTNET_URDF or (path.parent / "mobility_v2.json").is_file()


def default_front(up: str, partnet: bool = False) -> str:
    """The front assumed when ``--front`` is not given (see :attr:`ImportOptions.front`)."""
    axis = up.strip().lstrip("+-").lower()
    if partnet and axis == "z":
        return "-x"
    return "+z" if axis == "y" else "-y"


def import_urdf(path: Path | str, *, category: str | None = None, asset_id: str | None = None,
                options: ImportOptions = ImportOptions()) -> ImportedURDF:
    """Read a URDF file or a PartNet-Mobility directory into an :class:`Asset`.

    Steps: parse (strict: broken numbers, masses, inertias, limits and missing meshes are one
    :class:`DataError`), semantics (``semantics.txt``, ``mobility_v2.json``, visual and link names),
    stacked helper joints, joint zeros inside their ranges, orientation (up +z, front -y), scale, root
    frame at the bottom centre of the bounding box, masses and inertias, handles, fixed base, and
    warnings for every repair or doubt. Collision meshes are decomposed by :func:`~rlscope.gen2sim.assets.build.build_from_urdf`.
    """
    from rlscope.gen2sim.assets import mesh as meshlib
    from rlscope.gen2sim.assets import physics as phys

    urdf, partnet = find_urdf(path)
    src = str(urdf)
    warnings: list[str] = []
    params: dict[str, Any] = {"urdf": urdf.name}
    if partnet:
        params["partnet_mobility"] = urdf.parent.name
    category = category if category is not None else options.category
    if category is None and partnet:
        category = _partnet_category(urdf.parent)
        if category is not None:
            params["category_from"] = "meta.json"
    canon, info = phys.lookup_category(category)
    defaults_used = False
    robot, links, joints, meshes, labels = _parse(urdf, info.material, warnings)
    asset = Asset(asset_id=asset_id or _safe(robot.get("name") or urdf.stem), category=canon or category,
                  source="urdf", links=links, joints=joints, params=params)
    try:
        asset.link_poses()
    except ValueError as exc:
        raise DataError(str(exc), src) from None
    order = {n: i for i, n in enumerate(_topological(asset))}
    asset.links.sort(key=lambda link: order[link.name])
    _fix_stacked_joints(asset, warnings)
    _rebase_zeros(asset, warnings)
    for j in asset.movable_joints():
        if j.type in ("revolute", "prismatic"):
            j.closed = j.closed_end()  # URDF has no field for it: the end nearer 0, recorded
            if j.closed == "upper":
                warnings.append(f"joint {j.name}: closed at its upper limit {j.range[1]:g} (the end nearer 0); "
                                f"override with --closed {j.name}=lower")

    # orientation: up +z, front -y
    up = options.up_axis or ("+z" if partnet else _authoring_up(robot, urdf.parent, warnings))
    front = options.front or default_front(up, partnet)
    R = meshlib.orientation_matrix(up, front)
    params["orientation"] = {"up": up, "front": front}
    if not np.allclose(R, np.eye(3)):
        _rotate(asset, R)

    # scale
    lo, hi = meshlib.asset_bounds(asset, meshes)
    longest = float(max(hi - lo))
    if longest <= 0:
        raise DataError("the geometry has no extent", src)
    scale = 1.0
    if options.size_cm is not None:
        if not (math.isfinite(options.size_cm) and options.size_cm > 0):
            raise DataError(f"--size-cm must be a positive number, got {options.size_cm}", src)
        scale = options.size_cm / 100 / longest
    elif partnet:
        size = _draw(info.size_cm, options, 0) / 100
        scale = size / longest
        defaults_used |= canon is None
        warnings.append(f"rescaled from {longest:.3g} (PartNet-Mobility's normalised units) to a longest side of "
                        f"{size * 100:.1f} cm, within a {canon or 'generic object'}'s {info.size_cm[0]:g}-"
                        f"{info.size_cm[1]:g} cm; --size-cm to choose")
    if abs(scale - 1) > 1e-9:
        had_mass = any(link.inertial is not None and link.inertial.mass > 0 for link in asset.links)
        _scale(asset, meshes, scale)
        params["scale"] = scale
        if had_mass and options.mass_g is None:
            warnings.append(f"scaled by {scale:.4g}: the file's masses scaled with the volume (x{scale ** 3:.4g})")
    _recenter(asset, meshes)

    # masses and inertias
    rng = np.random.default_rng(options.seed) if options.sample_physics else None
    notes, used = _fill_masses(asset, meshes, canon, category, info, rng, src)
    warnings += notes
    defaults_used |= used and canon is None
    if options.mass_g is not None:
        if not (math.isfinite(options.mass_g) and options.mass_g > 0):
            raise DataError(f"--mass-g must be a positive number, got {options.mass_g}", src)
        rescale_mass(asset, options.mass_g / 1000)
    lo, hi = meshlib.asset_bounds(asset, meshes)
    ext = (hi - lo).tolist()
    warnings += phys.plausibility_notes(canon or category, max(ext), asset.total_mass())

    # handles, base, doubts
    handles, notes = find_handles(asset, meshes, labels)
    asset.handles = handles
    warnings += notes
    movable = bool(asset.movable_joints())
    if options.fixed_base is not None:
        asset.fixed_base = options.fixed_base
    else:
        asset.fixed_base = movable and (canon in FURNITURE or asset.total_mass() > FIXED_ABOVE_KG)
    warnings += geometry_disagreements(asset, meshes)
    if defaults_used or category is not None and canon is None:
        warnings.insert(0, phys.default_note(category))
    friction = asset.links[0].friction
    asset.physics = Physics(material=info.material, size_cm=list(info.size_cm), mass_g=list(info.mass_g), size=ext,
                            mass=asset.total_mass(), friction=friction, source="urdf", shape=info.shape)
    for w in warnings:
        log.warning("%s: %s", asset.asset_id, w)
    asset.warnings += warnings
    return ImportedURDF(asset, meshes, warnings)


def rescale_mass(asset: Asset, mass: float) -> None:
    """Scale every link's mass (and inertia) so that the total is ``mass`` kg."""
    k = mass / asset.total_mass()
    for link in asset.links:
        if link.inertial is not None:
            link.inertial.mass *= k
            link.inertial.inertia = [v * k for v in link.inertial.inertia]
    if asset.physics is not None:
        asset.physics.mass = mass


def _draw(rng_range: tuple[float, float], options: ImportOptions, stream: int) -> float:
    if not options.sample_physics:
        return (rng_range[0] + rng_range[1]) / 2
    return float(np.random.default_rng([options.seed, stream]).uniform(*rng_range))


def _authoring_up(robot: ET.Element, base: Path, warnings: list[str]) -> str:
    """+y when every visual OBJ of the URDF sits beside a COLLADA file of the same name that declares
    ``<up_axis>Y_UP</up_axis>`` (an OBJ exported from a y-up model without turning it, as pybullet's duck);
    else +z, the URDF convention."""
    objs = [base / el.get("filename", "") for el in robot.findall("link/visual/geometry/mesh")
            if el.get("filename", "").lower().endswith(".obj") and "://" not in el.get("filename", "")]
    says = []
    for obj in dict.fromkeys(objs):
        dae = obj.with_suffix(".dae")
        try:
            head = dae.read_text(encoding="utf-8", errors="replace")[:20000] if dae.is_file() else ""
        except OSError:
            head = ""
        found = re.search(r"<up_axis>\s*([XYZ])_UP\s*</up_axis>", head)
        says.append(found.group(1) if found else None)
    if says and all(s == "Y" for s in says):
        names = ", ".join(dict.fromkeys(o.name for o in objs))
        warnings.append(f"{names} sits beside a COLLADA file of the same name that declares Y_UP: imported with up "
                        "+y (--up-axis +z keeps the file's frame)")
        return "+y"
    return "+z"


def _partnet_category(folder: Path) -> str | None:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    cat = meta.get("model_cat") if isinstance(meta, dict) else None
    return str(cat) if cat else None


# -- parsing -------------------------------------------------------------------------------
def _parse(urdf: Path, material: str, warnings: list[str]):
    """(robot element, links, joints, meshes, geom labels) of a URDF; strict about what it reads."""
    from rlscope.gen2sim.assets import physics as phys

    src = str(urdf)
    try:
        tree = ET.parse(urdf)
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise DataError(f"not valid XML ({exc})", src, line) from None
    robot = tree.getroot()
    if robot.tag != "robot":
        raise DataError(f"root element is <{robot.tag}>, expected <robot>", src)
    base = urdf.parent
    materials = {}
    for m in robot.findall("material"):
        c = m.find("color")
        if m.get("name") and c is not None:
            materials[m.get("name")] = _floats(c.get("rgba"), 4, [0.7, 0.7, 0.7, 1], f"{src}: material")
    semantics = _read_semantics(base / "semantics.txt")
    part_names = _read_mobility_parts(base / "mobility_v2.json")
    meshes: dict[str, Any] = {}
    labels: dict[int, str] = {}
    links: list[Link] = []
    link_names: set[str] = set()
    for li, lel in enumerate(robot.findall("link")):
        name = lel.get("name")
        if not name:
            raise DataError(f"link #{li} has no name", src)
        if name in link_names:
            raise DataError(f"duplicate link name {name!r}", src)
        link_names.add(name)
        where = f"{src}: link {name!r}"
        label = semantics.get(name)
        link = Link(name=name, semantic=_semantic_word(label) if label else _guess_semantic(name), material=material,
                    friction=phys.friction_of(material))
        fr = lel.find("contact/lateral_friction")
        if fr is not None and fr.get("value"):
            link.friction = _number(fr.get("value"), where + " lateral_friction")
        for kind in ("visual", "collision"):
            for gi, gel in enumerate(lel.findall(kind)):
                geoms = _read_geoms(gel, base, f"{where} {kind} #{gi}", meshes, f"meshes/{_safe(name)}_{kind}{gi}",
                                    split=(kind == "collision"), materials=materials)
                for g in geoms:
                    labels[id(g)] = gel.get("name") or ""
                (link.visuals if kind == "visual" else link.collisions).extend(geoms)
        if name in part_names and all(not labels.get(id(g)) for g in link.visuals) and len(part_names[name]) == 1:
            for g in link.visuals:  # one part: every visual is it
                labels[id(g)] = part_names[name][0]
        iel = lel.find("inertial")
        if iel is not None:
            link.inertial = _read_inertial(iel, where, warnings)
        links.append(link)
    if not links:
        raise DataError("no <link> elements", src)

    joints: list[Joint] = []
    for ji, jel in enumerate(robot.findall("joint")):
        joints.append(_read_joint(jel, ji, src, link_names, warnings))
    children = [j.child for j in joints]
    dup = {c for c in children if children.count(c) > 1}
    if dup:
        raise DataError(f"links with more than one parent joint: {sorted(dup)}", src)
    roots = [n for n in link_names if n not in children]
    if len(roots) != 1:
        raise DataError(f"the joints must form one tree; found roots {sorted(roots)}", src)
    return robot, links, [j for j in joints if j is not None], meshes, labels


def _read_joint(jel: ET.Element, ji: int, src: str, link_names: set[str], warnings: list[str]) -> Joint:
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
    axis_el = jel.find("axis")
    axis = np.asarray(_floats(axis_el.get("xyz") if axis_el is not None else None, 3, [1, 0, 0], where + " axis"))
    if np.linalg.norm(axis) < 1e-9 and jtype != "fixed":
        raise DataError(f"{where}: zero joint axis")
    axis = axis / max(np.linalg.norm(axis), 1e-12)
    rng = [0.0, 0.0]
    if jtype in ("revolute", "prismatic"):
        lim = jel.find("limit")
        if lim is None or lim.get("lower") is None or lim.get("upper") is None:
            raise DataError(f"{where}: a {jtype} joint needs <limit lower=\"...\" upper=\"...\"/> (its range, in "
                            f"{'rad' if jtype == 'revolute' else 'm'}); give one, or type=\"continuous\" for a hinge "
                            "that turns without end")
        rng = [_number(lim.get("lower"), where + " limit lower"), _number(lim.get("upper"), where + " limit upper")]
        if rng[0] > rng[1]:
            raise DataError(f"{where}: lower limit {rng[0]} > upper limit {rng[1]}")
        if rng[0] == rng[1]:
            warnings.append(f"joint {jname}: its limits are equal ({rng[0]:g}): treated as fixed")
            jtype = "fixed"
    elif jtype == "continuous":
        rng = list(CONTINUOUS_RANGE)
    dyn = jel.find("dynamics")
    damping = _number(dyn.get("damping", "0") or "0", where + " damping") if dyn is not None else 0.0
    friction = _number(dyn.get("friction", "0") or "0", where + " friction") if dyn is not None else 0.0
    if damping < 0 or friction < 0:
        raise DataError(f"{where}: damping and friction must be >= 0, got {damping}, {friction}")
    return Joint(name=jname, type=jtype, parent=p.get("link"), child=c.get("link"), pos=T[:3, 3].tolist(),
                 quat=matrix_to_quat(T[:3, :3]), axis=axis.tolist(), range=rng, damping=damping, frictionloss=friction,
                 semantic={"revolute": "hinge", "continuous": "hinge", "prismatic": "slider"}.get(jtype, "static"))


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


def _number(text: str | None, where: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise DataError(f"{where}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: expected a finite number, got {text!r}")
    return value


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
    for p in parts:
        if not np.isfinite(np.asarray(p.vertices)).all():
            raise DataError(f"{where}: mesh {path.name} has non-finite vertex coordinates")
    return parts


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
    """The semantic word a link name carries: as a word of it (``drawer_0``, ``DoorLeft``), or inside it for
    words of four letters or more (``topdrawer``; not ``lid`` in ``slider``); else base or body."""
    low = name.lower()
    tokens = [t.rstrip("s") if len(t) > 4 else t
              for t in re.split(r"[^a-z]+", re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).lower()) if t]
    for word in SEMANTIC_WORDS:
        if word in tokens:
            return word
    for word in SEMANTIC_WORDS:
        if len(word) >= 4 and word in low:
            return word
    if low in ("base", "base_link", "baselink", "world"):
        return "base"
    return "body"


def _semantic_word(label: str) -> str:
    """A PartNet-Mobility label (``slider_drawer``, ``rotation_door``, ``bottle_body``) as the project's word."""
    words = re.split(r"[^a-z]+", label.lower())
    for word in SEMANTIC_WORDS:
        if word in words:
            return word
    for word in ("frame", "base", "body"):
        if word in words:
            return word
    return _guess_semantic(label) if _guess_semantic(label) != "body" else (label.lower() or "body")


def _read_semantics(path: Path) -> dict[str, str]:
    """``semantics.txt``: link name -> its label (third column of ``link joint_type label``)."""
    out: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 3:
                out[parts[0]] = parts[2]
    return out


def _read_mobility_parts(path: Path) -> dict[str, list[str]]:
    """``mobility_v2.json``: link name (``link_ID``) -> the names of the parts it holds."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"not valid JSON ({exc})", str(path)) from None
    out: dict[str, list[str]] = {}
    for entry in data if isinstance(data, list) else []:
        if isinstance(entry, dict) and "id" in entry:
            names = [str(p.get("name", "")) for p in entry.get("parts") or [] if isinstance(p, dict)]
            out[f"link_{entry['id']}"] = names or [str(entry.get("name", ""))]
    return out


def _read_inertial(el: ET.Element, where: str, warnings: list[str]) -> Inertial | None:
    """The link's inertial; None when it gives no mass (missing or 0, pybullet's static bodies: repaired later).

    Non-finite or negative masses and inertias, and a positive mass with a negative or zero moment (all zero
    is a placeholder, recomputed), are one :class:`DataError` naming the file and link.
    """
    T = _origin(el, where + " inertial")
    m_el, i_el = el.find("mass"), el.find("inertia")
    if m_el is None or m_el.get("value") is None:
        return None
    try:
        mass = float(m_el.get("value"))
    except ValueError:
        raise DataError(f"{where}: mass {m_el.get('value')!r} is not a number") from None
    if not math.isfinite(mass) or mass < 0:
        raise DataError(f"{where}: mass {m_el.get('value')} kg is not a finite, non-negative number")
    if mass == 0:
        return Inertial(mass=0.0, com=T[:3, 3].tolist(), inertia=[0.0] * 6)
    vals = {}
    for k in ("ixx", "iyy", "izz", "ixy", "ixz", "iyz"):
        text = i_el.get(k, "0") if i_el is not None else "0"
        try:
            vals[k] = float(text)
        except ValueError:
            raise DataError(f"{where}: inertia {k} {text!r} is not a number") from None
        if not math.isfinite(vals[k]):
            raise DataError(f"{where}: inertia {k}={text} is not finite")
    diag = [vals["ixx"], vals["iyy"], vals["izz"]]
    if all(v == 0 for v in vals.values()):
        return Inertial(mass=mass, com=T[:3, 3].tolist(), inertia=[0.0] * 6)  # a placeholder: recomputed
    if min(diag) <= 0:
        raise DataError(f"{where}: inertia diagonal ({', '.join(f'{v:g}' for v in diag)}) must be positive "
                        f"for a mass of {mass:g} kg")
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
        size = _floats(shape.get("size"), 3, [0, 0, 0], where + " box size")
        if min(size) <= 0:
            raise DataError(f"{where}: box size {shape.get('size')!r} must be positive")
        return [Geom("box", size, pos, quat, rgba=rgba)]
    if shape.tag in ("cylinder", "sphere"):
        keys = ("radius", "length") if shape.tag == "cylinder" else ("radius",)
        size = [_number(shape.get(k), f"{where} {shape.tag} {k}") for k in keys]
        if min(size) <= 0:
            raise DataError(f"{where}: {shape.tag} {', '.join(keys)} must be positive, got {size}")
        return [Geom(shape.tag, size, pos, quat, rgba=rgba)]
    if shape.tag != "mesh":
        raise DataError(f"{where}: geometry <{shape.tag}> is not supported")
    fname = shape.get("filename")
    if not fname:
        raise DataError(f"{where}: mesh without filename")
    file = _resolve(fname, base, where)
    scale = np.asarray(_floats(shape.get("scale"), 3, [1, 1, 1], where + " mesh scale"))
    if np.any(scale == 0):
        raise DataError(f"{where}: mesh scale {shape.get('scale')!r} has a zero")
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


# -- structure -----------------------------------------------------------------------------
def _fix_stacked_joints(asset: Asset, warnings: list[str]) -> None:
    """A part moved by two joints through a helper link with no geometry (PartNet-Mobility's ``slider+``: a
    screw cap that slides and turns) keeps the limited joint; the continuous one becomes fixed, and the helper
    takes the part's label when it is the one that moves. MuJoCo would otherwise let the part collide with the
    body it sits on (parts only skip collisions with their parent)."""
    by_child = {j.child: j for j in asset.joints}
    kids: dict[str, list[Joint]] = {}
    for j in asset.joints:
        kids.setdefault(j.parent, []).append(j)
    for link in asset.links:
        j1, below = by_child.get(link.name), kids.get(link.name, [])
        if link.visuals or link.collisions or j1 is None or len(below) != 1:
            continue
        j2 = below[0]
        if j1.type == "fixed" or j2.type == "fixed":
            continue
        cont = [j for j in (j1, j2) if j.type == "continuous"]
        if len(cont) != 1:
            warnings.append(f"links {j1.parent} and {j2.child} are joined by two movable joints ({j1.name}, {j2.name}) "
                            f"through {link.name}, which has no geometry: they may collide with each other")
            continue
        kept = j2 if cont[0] is j1 else j1
        cont[0].type, cont[0].range, cont[0].semantic = "fixed", [0.0, 0.0], "static"
        if kept is j1:
            link.semantic = asset.link(j2.child).semantic  # what the slide moves is the part the helper carries
        warnings.append(f"joint {cont[0].name} (continuous) made fixed: {j2.child} also moves on {kept.name} through "
                        f"the helper link {link.name}, and a part has one joint here (a screw cap becomes a slide)")


def _rebase_zeros(asset: Asset, warnings: list[str]) -> None:
    """Move the zero of every joint whose range leaves out 0 (PartNet-Mobility has some) to the nearer limit,
    moving the part there: 0 is the rest (closed) pose in this schema and MuJoCo's initial state."""
    from rlscope.gen2sim.assets.asset import axis_angle_quat

    for j in asset.joints:
        if j.type not in ("revolute", "prismatic"):
            continue
        lo, hi = j.range
        if lo <= 0 <= hi:
            continue
        e = lo if lo > 0 else hi
        R = quat_to_matrix(j.quat)
        if j.type == "prismatic":
            j.pos = (np.asarray(j.pos) + R @ (np.asarray(j.axis) * e)).tolist()
        else:
            j.quat = matrix_to_quat(R @ quat_to_matrix(axis_angle_quat(j.axis, e)))
        j.range = [lo - e, hi - e]
        unit = "m" if j.type == "prismatic" else "rad"
        warnings.append(f"joint {j.name}: its range [{lo:.4g}, {hi:.4g}] {unit} leaves out 0; the part was moved to "
                        f"{e:.4g} and the range is now [{j.range[0]:.4g}, {j.range[1]:.4g}]")


def _rotate(asset: Asset, R: np.ndarray) -> None:
    """Turn the whole asset by ``R`` (3, 3) about the root frame's origin."""
    root = asset.link(asset.root)
    for g in root.visuals + root.collisions:
        g.pos = (R @ np.asarray(g.pos)).tolist()
        g.quat = matrix_to_quat(R @ quat_to_matrix(g.quat))
    if root.inertial is not None:
        root.inertial.com = (R @ np.asarray(root.inertial.com)).tolist()
        I = R @ phys_inertia(root.inertial) @ R.T
        root.inertial.inertia = [I[0, 0], I[1, 1], I[2, 2], I[0, 1], I[0, 2], I[1, 2]]
    for j in asset.joints:
        if j.parent == asset.root:
            j.pos = (R @ np.asarray(j.pos)).tolist()
            j.quat = matrix_to_quat(R @ quat_to_matrix(j.quat))


def phys_inertia(inertial: Inertial) -> np.ndarray:
    ixx, iyy, izz, ixy, ixz, iyz = inertial.inertia
    return np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]], float)


def _scale(asset: Asset, meshes: dict, k: float) -> None:
    """Scale the asset uniformly by ``k``: geometry, joint origins, slide ranges; masses with the volume."""
    for link in asset.links:
        for g in link.visuals + link.collisions:
            g.pos = (np.asarray(g.pos) * k).tolist()
            if g.type == "mesh":
                m = meshes[g.mesh]
                m.vertices = np.asarray(m.vertices) * k
            else:
                g.size = [v * k for v in g.size]
        if link.inertial is not None:
            link.inertial.com = (np.asarray(link.inertial.com) * k).tolist()
            link.inertial.mass *= k**3
            link.inertial.inertia = [v * k**5 for v in link.inertial.inertia]
    for j in asset.joints:
        j.pos = (np.asarray(j.pos) * k).tolist()
        if j.type == "prismatic":
            j.range = [v * k for v in j.range]


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
    asset.params["urdf_root_offset"] = (np.asarray(asset.params.get("urdf_root_offset", [0, 0, 0])) + shift).tolist()


# -- masses --------------------------------------------------------------------------------
def _fill_masses(asset: Asset, meshes: dict, canon: str | None, category: str | None, info, rng,
                 src: str) -> tuple[list[str], bool]:
    """Fill missing masses and implausible inertias; returns (warnings, whether the category table was used).

    No mass anywhere: the category's mass (drawn, or the midpoint) spread over the links by volume. Some
    masses missing: those links get :data:`HOLLOW` x volume x density. An inertia that is not physical or
    does not fit the link's size (the unit inertia of many ``pybullet_data`` files) is recomputed.
    """
    from rlscope.gen2sim.assets import mesh as meshlib
    from rlscope.gen2sim.assets import physics as phys

    warnings: list[str] = []
    moving = {j.child for j in asset.joints if j.type != "fixed"} | {asset.root}
    solids = {link.name: meshlib.link_solid(link, meshes) for link in asset.links}
    missing = [link for link in asset.links if link.inertial is None or link.inertial.mass <= 0]
    zero = any(link.inertial is not None for link in missing)
    needs = [link for link in missing if solids[link.name] is not None or link.name in moving]
    what = canon or "an unknown category"
    used_table = False
    if needs and len(missing) == len(asset.links):
        total = _draw_mass(info.mass_g, rng) / 1000
        used_table = True
        vols = {link.name: _link_volume(link, meshes) for link in needs}
        whole = sum(vols.values()) or 1.0
        for link in needs:
            mass = max(total * vols[link.name] / whole, 1e-3)
            link.inertial = _solid_inertial(solids[link.name], mass, link.inertial)
        static = " (mass 0: static in pybullet)" if zero else ""
        solid_links = sum(1 for link in needs if solids[link.name] is not None)
        warnings.append(f"no mass in the URDF{static}: used {total:.3g} kg, the table value for {what} "
                        f"({info.mass_g[0] / 1000:g}-{info.mass_g[1] / 1000:g} kg), spread over "
                        f"{solid_links} link(s) by volume")
    else:
        for link in needs:
            vol = _volume(solids[link.name]) or 1e-5
            mass = max(1e-3, vol * phys.MATERIALS[link.material].density * HOLLOW)
            warnings.append(f"link {link.name}: no mass in the URDF (static or missing); used {mass:.3g} kg from its "
                            f"volume and {link.material} density")
            link.inertial = _solid_inertial(solids[link.name], mass, link.inertial)
    for link in asset.links:
        if link in needs or link.inertial is None or link.inertial.mass <= 0:
            continue
        solid = solids[link.name]
        ext = solid.extents if solid is not None else np.array([0.05, 0.05, 0.05])
        if all(v == 0 for v in link.inertial.inertia):
            link.inertial = _solid_inertial(solid, link.inertial.mass, link.inertial)
            warnings.append(f"link {link.name}: no inertia in the URDF; computed from the geometry")
        elif not phys.plausible_inertia(link.inertial, ext):
            old = link.inertial
            link.inertial = _solid_inertial(solid, old.mass, old)
            diag = ", ".join(f"{float(v):.3g}" for v in old.inertia[:3])
            warnings.append(f"link {link.name}: implausible inertia diag({diag}) for "
                            f"{old.mass:.3g} kg; recomputed from the geometry")
    return warnings, used_table


def _draw_mass(mass_g: tuple[float, float], rng) -> float:
    return float(rng.uniform(*mass_g)) if rng is not None else (mass_g[0] + mass_g[1]) / 2


def _link_volume(link: Link, meshes: dict) -> float:
    """Solid volume of a link's collision geometry (open shells: their filled voxelisation, not their hull)."""
    from rlscope.gen2sim.assets.mesh import geom_mesh, solid_volume

    return float(sum(solid_volume(geom_mesh(g, meshes)) for g in link.collisions or link.visuals))


def _volume(solid) -> float:
    return float(solid.volume) if solid is not None and solid.volume > 0 else 0.0


def _solid_inertial(solid, mass: float, old: Inertial | None) -> Inertial:
    from rlscope.gen2sim.assets.physics import mesh_inertial

    if solid is not None and solid.volume > 0:
        inertial, _ = mesh_inertial(solid, mass)
        return inertial
    com = old.com if old is not None else [0.0, 0.0, 0.0]
    r = 0.05
    i = 0.4 * mass * r * r
    return Inertial(mass=mass, com=list(com), inertia=[i, i, i, 0.0, 0.0, 0.0])


# -- handles -------------------------------------------------------------------------------
def _is_handle_label(label: str) -> bool:
    return "handle" in re.split(r"[^a-z]+", label.lower()) or label.lower().startswith("handle")


def _world_points(geoms: list[Geom], meshes: dict, pose: np.ndarray) -> np.ndarray | None:
    from rlscope.gen2sim.assets.mesh import geom_mesh

    pts = [np.asarray(geom_mesh(g, meshes).vertices) for g in geoms]
    if not pts:
        return None
    allp = np.vstack(pts)
    return allp @ pose[:3, :3].T + pose[:3, 3]


def operated_joint(asset: Asset, link: str) -> str | None:
    """The joint a handle on ``link`` drives: the nearest one at or above it that moves a drawer, door, lid,
    knob, ... (:data:`OPERATED`), else the nearest movable one, else None."""
    by_child = {j.child: j for j in asset.joints}
    first = None
    name = link
    while name in by_child:
        j = by_child[name]
        if j.type != "fixed":
            if asset.link(j.child).semantic in OPERATED:
                return j.name
            first = first or j.name
        name = j.parent
    return first


def _handle(asset: Asset, name: str, link: str, pts: np.ndarray, poses: dict[str, np.ndarray]) -> Handle:
    lo, hi = pts.min(0), pts.max(0)
    centre, ext = (lo + hi) / 2, hi - lo
    axis = np.zeros(3)
    axis[int(np.argmax(ext))] = 1.0
    T = poses[link]
    pos_link = T[:3, :3].T @ (centre - T[:3, 3])
    return Handle(name=name, link=link, joint=operated_joint(asset, link), pos=centre.tolist(), size=ext.tolist(),
                  axis=axis.tolist(), pos_link=pos_link.tolist())


def find_handles(asset: Asset, meshes: dict, labels: dict[int, str]) -> tuple[list[Handle], list[str]]:
    """The asset's handles, in the asset frame (front -y, z up), and a sentence for every doubt.

    In order: links labelled ``handle`` (``semantics.txt`` or their name); visuals labelled handle inside
    another link (PartNet-Mobility visual names such as ``handle-12``, or ``mobility_v2.json`` parts);
    knobs, levers and buttons (their own handle); and for a drawer, door or lid that has none yet, a small
    part protruding from its front (a lid: also from its top), found by geometry, or the part itself when
    it is no longer than :data:`SELF_HANDLE` (a cap).
    """
    poses = asset.link_poses()
    handles: list[Handle] = []
    notes: list[str] = []
    names: set[str] = set()

    def add(base: str, link: str, pts: np.ndarray) -> Handle:
        name, k = base, 2
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.add(name)
        h = _handle(asset, name, link, pts, poses)
        handles.append(h)
        return h

    for link in asset.links:
        if link.semantic == "handle":
            pts = _world_points(link.visuals or link.collisions, meshes, poses[link.name])
            if pts is not None:
                add(link.name, link.name, pts)
    for link in asset.links:
        if link.semantic == "handle":
            continue
        groups: dict[str, list[Geom]] = {}
        for g in link.visuals:
            label = labels.get(id(g), "")
            if _is_handle_label(label):
                groups.setdefault(label, []).append(g)
        for label, geoms in groups.items():
            pts = _world_points(geoms, meshes, poses[link.name])
            if pts is not None:
                add(f"{link.name}_handle", link.name, pts)
    operated = {h.joint for h in handles}
    for link in asset.links:
        if link.semantic not in ("knob", "lever", "button", *GRASPED) or not (link.visuals or link.collisions):
            continue
        joint = operated_joint(asset, link.name)
        if joint is None or joint in operated:
            continue
        if link.semantic in ("knob", "lever", "button"):
            pts = _world_points(link.visuals or link.collisions, meshes, poses[link.name])
            if pts is not None:
                add(link.name, link.name, pts)
                operated.add(joint)
        elif link.semantic in GRASPED:
            found = _protruding_part(link, meshes, poses[link.name])
            whole = _world_points(link.visuals or link.collisions, meshes, poses[link.name])
            if found is None and whole is not None and float(np.ptp(whole, axis=0).max()) <= SELF_HANDLE:
                add(link.name, link.name, whole)
                operated.add(joint)
                notes.append(f"{link.semantic} {link.name} is small ({float(np.ptp(whole, axis=0).max()) * 100:.3g} cm) "
                             "and has no handle: it is its own handle")
            elif found is not None:
                h = add(f"{link.name}_handle", link.name, found)
                operated.add(joint)
                notes.append(f"handle {h.name} of {link.semantic} {link.name} found by geometry (a part protruding "
                             f"{'from its front' if link.semantic != 'lid' else 'from its front or top'}), not by a label")
            else:
                notes.append(f"{link.semantic} {link.name} has no handle (no part labelled handle, none protruding "
                             "from its front): no task can grasp it")
    return handles, notes


def _protruding_part(link: Link, meshes: dict, pose: np.ndarray) -> np.ndarray | None:
    """Points (asset frame) of the small part that sticks out furthest from the link's front (-y), or its
    top for a lid; None when there is none. Parts are the link's visual meshes and their connected pieces."""
    from rlscope.gen2sim.assets.mesh import geom_mesh

    parts = []
    for g in link.visuals or link.collisions:
        m = geom_mesh(g, meshes)
        pieces = m.split(only_watertight=False) if len(m.faces) <= 20000 else [m]
        if len(pieces) > 64:
            pieces = [m]
        parts += [np.asarray(p.vertices) @ pose[:3, :3].T + pose[:3, 3] for p in pieces if len(p.vertices)]
    if len(parts) < 2:
        return None
    allp = np.vstack(parts)
    whole = allp.max(0) - allp.min(0)
    best, best_out = None, HANDLE_PROTRUSION
    for i, pts in enumerate(parts):
        rest = np.vstack([p for k, p in enumerate(parts) if k != i])
        lo, hi = pts.min(0), pts.max(0)
        ext = hi - lo
        if ext[0] > HANDLE_MAX_SHARE * whole[0] or ext[2] > HANDLE_MAX_SHARE * whole[2] and link.semantic != "lid":
            continue
        out = rest.min(0)[1] - lo[1]
        if link.semantic == "lid":
            if ext[1] > HANDLE_MAX_SHARE * whole[1] and out < HANDLE_PROTRUSION:
                continue
            out = max(out, hi[2] - rest.max(0)[2])
        if out >= best_out:
            best, best_out = pts, out
    return best


def geometry_disagreements(asset: Asset, meshes: dict) -> list[str]:
    """Warnings where what is drawn and what collides differ: links with visuals but no collision geometry,
    and visual and collision bounding boxes apart by more than :data:`DISAGREE` of the longest side."""
    from rlscope.gen2sim.assets.mesh import asset_bounds

    notes = []
    for link in asset.links:
        if link.visuals and not link.collisions:
            notes.append(f"link {link.name} has visual geometry but no collision geometry: it is drawn, not simulated")
    vl, vh = asset_bounds(asset, meshes, which="visuals") if any(lk.visuals for lk in asset.links) else (None, None)
    if vl is None or not any(lk.collisions for lk in asset.links):
        return notes
    cl, ch = asset_bounds(asset, meshes, which="collisions")
    ve, ce = vh - vl, ch - cl
    tol = max(DISAGREE * float(max(ve.max(), ce.max())), 0.02)
    if np.any(np.abs(ve - ce) > tol) or np.any(np.abs(vl - cl) > tol) or np.any(np.abs(vh - ch) > tol):
        notes.append(f"visual and collision geometry disagree: drawn {_dims(ve)} m, simulated {_dims(ce)} m "
                     "(parts drawn but not simulated, such as a table's legs, or the reverse); MuJoCo simulates "
                     "the collision geometry")
    return notes


def _dims(v) -> str:
    return " x ".join(f"{float(x):.3g}" for x in v)
