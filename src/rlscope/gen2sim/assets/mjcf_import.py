"""Read an MJCF articulated object (robosuite, Meta-World, Franka Kitchen files as they ship) into an asset.

MuJoCo itself compiles the file: includes, defaults and classes, ``compiler`` settings (meshdir, angles,
inertia from geometry) and mesh files are resolved as MuJoCo resolves them. A file that is a fragment
(``<mujocoinclude>``, e.g. Franka Kitchen's ``*_chain.xml``) is wrapped with the ``*_asset.xml`` beside it.
The compiled model is then written out as a URDF (one link per body, hinge and slide joints as revolute and
prismatic joints placed at the joint, primitive geoms as URDF shapes, meshes and capsules as OBJ files,
inertials from the compiled masses) and imported by :func:`rlscope.gen2sim.assets.urdf.import_urdf`, so that
orientation, size, mass checks, handles and collision decomposition are those of every other import.

Semantics come from body and joint names (``drawer``, ``door``, ``handle``, ...), else from the joint type
(a slide: drawer, a hinge: door). A sidecar ``FILE.semantics.json`` (``{"BODY": "drawer", ...}``) overrides
them. Geoms keep their names, so a geom called ``handle`` marks its handle.

Not supported, each one clear error naming the element: bodies with several joints or ball joints,
tendons, equality constraints, actuators driving the object's joints, flex and skin elements, and joints
without a range.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from rlscope.errors import DataError

log = logging.getLogger(__name__)

MJCF_SUFFIXES = (".xml", ".mjcf")
UNSUPPORTED = ("tendon", "equality", "flexcomp", "skin", "composite")
"""MJCF elements an object asset cannot hold."""


def looks_like_mjcf(path: Path) -> bool:
    """A file whose root element is ``<mujoco>`` or ``<mujocoinclude>``."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return False
    return re.search(r"<\s*mujoco(include)?[\s>]", head) is not None


def compile_mjcf(path: Path) -> Any:
    """The compiled ``mujoco.MjModel`` of an MJCF file or fragment; one :class:`DataError` naming the file (and
    the line where MuJoCo gives one) otherwise."""
    import mujoco

    if not path.is_file():
        raise DataError("MJCF file not found", str(path))
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DataError(f"not valid XML ({exc})", str(path), exc.position[0] if getattr(exc, "position", None) else None) from None
    for el in root.iter():
        if el.tag in UNSUPPORTED:
            raise DataError(f"<{el.tag}> is not supported in an object asset (only bodies, hinge and slide joints, "
                            "geoms, meshes and sites)", str(path))
    try:
        if root.tag == "mujocoinclude":  # a fragment: wrapped, with the assets file beside it
            deps = [path.with_name(path.name.replace("_chain", "_asset")), path.with_name(f"{path.stem}_dependencies.xml")]
            dep = next((d for d in deps if d != path and d.is_file()), None)
            d = path.parent.resolve()
            wrapper = (f'<mujoco model="{path.stem}"><compiler meshdir="{d}" texturedir="{d}"/>'
                       + (f'<include file="{dep.resolve()}"/>' if dep else "")
                       + f'<worldbody><include file="{path.resolve()}"/></worldbody></mujoco>')
            spec = mujoco.MjSpec.from_string(wrapper)
        else:
            spec = mujoco.MjSpec.from_file(str(path))
        for tex in list(spec.textures):  # pictures on surfaces: not part of an object's physics, and often missing
            spec.delete(tex)
        for mat in spec.materials:
            mat.textures = [""] * len(mat.textures)
        return spec.compile()
    except ValueError as exc:
        msg = " ".join(str(exc).split())
        raise DataError(f"MuJoCo cannot compile it: {msg}", str(path)) from None


def _root_of(m, b: int) -> int:
    """The body under the world that holds body ``b``."""
    while m.body_parentid[b] != 0:
        b = int(m.body_parentid[b])
    return b


def _name(m, kind, i: int, fallback: str) -> str:
    import mujoco

    return mujoco.mj_id2name(m, kind, i) or fallback


def _rpy(quat: np.ndarray) -> list[float]:
    """URDF roll-pitch-yaw of a MuJoCo (w, x, y, z) quaternion."""
    from scipy.spatial.transform import Rotation

    import warnings

    w, x, y, z = quat
    with warnings.catch_warnings():  # gimbal lock: any of the equivalent angle sets will do
        warnings.simplefilter("ignore", UserWarning)
        return Rotation.from_quat([x, y, z, w]).as_euler("xyz").tolist()


def _rot(quat: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    w, x, y, z = quat
    return Rotation.from_quat([x, y, z, w]).as_matrix()


def _fmt(v) -> str:
    return " ".join(f"{float(x):.9g}" for x in v)


def semantics_of(names: dict[str, str], joint_types: dict[str, str], sidecar: dict[str, str]) -> dict[str, str]:
    """body -> semantic label: the sidecar's, else a semantic word in the body's or its joint's name, else by the
    joint type (slide: drawer, hinge: door); bodies without a joint get none."""
    from rlscope.gen2sim.assets.urdf import _guess_semantic

    out = {}
    for body, joint in names.items():
        if body in sidecar:
            out[body] = sidecar[body]
            continue
        word = _guess_semantic(body)
        if word in ("body", "base") and joint:
            word = _guess_semantic(joint)
        if word in ("body", "base") and body in joint_types:
            word = {"slide": "drawer", "hinge": "door"}[joint_types[body]]
        if word not in ("body", "base"):
            out[body] = word
    return out


def read_sidecar(path: Path, bodies: set[str]) -> dict[str, str]:
    """``FILE.semantics.json`` beside ``path``: body name -> label; one clear error for a body that does not exist."""
    side = path.with_name(path.stem + ".semantics.json")
    if not side.is_file():
        return {}
    try:
        data = json.loads(side.read_text())
    except ValueError as exc:
        raise DataError(f"not valid JSON ({exc})", str(side)) from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DataError('expected {"BODY": "label", ...}', str(side))
    unknown = sorted(set(data) - bodies)
    if unknown:
        raise DataError(f"no body named {', '.join(unknown)} in {path.name} (bodies: {', '.join(sorted(bodies))})", str(side))
    return data


def mjcf_to_urdf(path: Path, out_dir: Path) -> tuple[Path, bool]:
    """Write the compiled MJCF object as ``out_dir/NAME.urdf`` (meshes under ``out_dir/meshes``, ``semantics.txt``
    beside it); returns the URDF's path and whether the file lets the object move freely (a free joint at its
    root; without one the object was mounted where it stands)."""
    import mujoco
    import trimesh

    m = compile_mjcf(path)
    src = str(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "meshes").mkdir(exist_ok=True)
    bodies = list(range(1, m.nbody))
    if not bodies:
        raise DataError("the file has no body under <worldbody> (an object is a tree of bodies)", src)
    names = {b: re.sub(r"[^A-Za-z0-9_.-]+", "_", _name(m, mujoco.mjtObj.mjOBJ_BODY, b, f"body{b}")) for b in bodies}
    joint_of: dict[int, int] = {}
    for b in bodies:
        n, adr = int(m.body_jntnum[b]), int(m.body_jntadr[b])
        kinds = [int(m.jnt_type[adr + k]) for k in range(n)]
        if n > 1 and not (n == 1 and kinds[0] == mujoco.mjtJoint.mjJNT_FREE):
            raise DataError(f"body {names[b]!r} has {n} joints; an object's parts move on one hinge or slide each", src)
        if n == 1 and kinds[0] == mujoco.mjtJoint.mjJNT_BALL:
            raise DataError(f"body {names[b]!r} has a ball joint; only hinge and slide joints are supported", src)
        if n == 1 and kinds[0] in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE):
            j = adr
            if not m.jnt_limited[j]:
                raise DataError(f"joint {_name(m, mujoco.mjtObj.mjOBJ_JOINT, j, names[b])!r} has no range: give it "
                                "range=\"lo hi\" (and limited=\"true\") so that its open and closed ends are known", src)
            joint_of[b] = j
    for a in range(m.nu):
        if m.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT and int(m.actuator_trnid[a, 0]) in joint_of.values():
            raise DataError("an <actuator> drives one of the object's joints; an object asset is moved by the gripper only", src)
    # a link frame sits at its body's joint (URDF rotates a child about its origin)
    offset = {b: (m.jnt_pos[joint_of[b]].copy() if b in joint_of else np.zeros(3)) for b in bodies}
    offset[0] = np.zeros(3)
    robot = ET.Element("robot", name=re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem))
    roots = [b for b in bodies if m.body_parentid[b] == 0]
    moving = [r for r in roots if any(_root_of(m, b) == r for b in joint_of)]
    if moving and len(moving) < len(roots):  # a scene around the object (a table, walls): the object alone
        left = [names[r] for r in roots if r not in moving]
        log.warning("%s: bodies without a moving part left out as scenery: %s", path.name, ", ".join(left))
        bodies = [b for b in bodies if _root_of(m, b) in moving]
        roots = moving
    root_name = names[roots[0]] if len(roots) == 1 else "base"
    if len(roots) > 1:
        ET.SubElement(robot, "link", name="base")
    world_geoms = sum(1 for g in range(m.ngeom) if m.geom_bodyid[g] == 0)
    if world_geoms:
        log.warning("%s: %d geom(s) attached to the world (floor, walls) left out of the object", path.name, world_geoms)
    for b in bodies:
        link = ET.SubElement(robot, "link", name=names[b])
        o = offset[b]
        if m.body_mass[b] > 0:
            inertial = ET.SubElement(link, "inertial")
            ET.SubElement(inertial, "origin", xyz=_fmt(m.body_ipos[b] - o), rpy=_fmt(_rpy(m.body_iquat[b])))
            ET.SubElement(inertial, "mass", value=f"{float(m.body_mass[b]):.9g}")
            ixx, iyy, izz = m.body_inertia[b]
            ET.SubElement(inertial, "inertia", ixx=f"{ixx:.9g}", iyy=f"{iyy:.9g}", izz=f"{izz:.9g}", ixy="0", ixz="0", iyz="0")
        geoms = [g for g in range(m.ngeom) if m.geom_bodyid[g] == b]
        colliding = [g for g in geoms if m.geom_contype[g] or m.geom_conaffinity[g]]
        visible = [g for g in geoms if m.geom_rgba[g][3] > 0 and g not in colliding] or colliding
        handle_geoms = _geoms_at_handle_sites(m, b, geoms)
        for kind, chosen in (("visual", visible), ("collision", colliding)):
            for g in chosen:
                el = ET.SubElement(link, kind, name=_name(m, mujoco.mjtObj.mjOBJ_GEOM, g, "handle" if g in handle_geoms else ""))
                ET.SubElement(el, "origin", xyz=_fmt(m.geom_pos[g] - o), rpy=_fmt(_rpy(m.geom_quat[g])))
                ET.SubElement(el, "geometry").append(_geometry(m, g, out_dir / "meshes", trimesh))
                if kind == "visual":
                    mat = ET.SubElement(el, "material", name=f"m{g}")
                    ET.SubElement(mat, "color", rgba=_fmt(m.geom_rgba[g]))
    for b in bodies:
        parent = int(m.body_parentid[b])
        joint = ET.SubElement(robot, "joint", name=f"{names[b]}_joint", type="fixed")
        if b in joint_of:
            j = joint_of[b]
            joint.set("name", _name(m, mujoco.mjtObj.mjOBJ_JOINT, j, f"{names[b]}_joint"))
            joint.set("type", "revolute" if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE else "prismatic")
        ET.SubElement(joint, "parent", link=names[parent] if parent else root_name)
        ET.SubElement(joint, "child", link=names[b])
        xyz = m.body_pos[b] + _rot(m.body_quat[b]) @ offset[b] - offset[parent]
        ET.SubElement(joint, "origin", xyz=_fmt(xyz), rpy=_fmt(_rpy(m.body_quat[b])))
        if b in joint_of:
            j = joint_of[b]
            ET.SubElement(joint, "axis", xyz=_fmt(m.jnt_axis[j]))
            lo, hi = m.jnt_range[j]
            ET.SubElement(joint, "limit", lower=f"{lo:.9g}", upper=f"{hi:.9g}", effort="100", velocity="1")
            ET.SubElement(joint, "dynamics", damping=f"{float(m.dof_damping[m.jnt_dofadr[j]]):.9g}",
                          friction=f"{float(m.dof_frictionloss[m.jnt_dofadr[j]]):.9g}")
        if b == roots[0] and len(roots) == 1:
            robot.remove(joint)  # the root link has no parent joint
    labels = semantics_of({names[b]: (_name(m, mujoco.mjtObj.mjOBJ_JOINT, joint_of[b], "") if b in joint_of else "")
                           for b in bodies},
                          {names[b]: ("slide" if m.jnt_type[joint_of[b]] == mujoco.mjtJoint.mjJNT_SLIDE else "hinge")
                           for b in joint_of},
                          read_sidecar(path, set(names.values())))
    (out_dir / "semantics.txt").write_text("".join(f"{b} - {lab}\n" for b, lab in labels.items()))
    urdf = out_dir / f"{robot.get('name')}.urdf"
    ET.indent(robot)
    urdf.write_text(ET.tostring(robot, encoding="unicode") + "\n")
    free = any(m.body_jntnum[r] == 1 and m.jnt_type[m.body_jntadr[r]] == mujoco.mjtJoint.mjJNT_FREE for r in roots)
    return urdf, free


def _geoms_at_handle_sites(m, b: int, geoms: list[int]) -> set[int]:
    """Geoms of body ``b`` at a site whose name says handle (Franka Kitchen marks handles with sites)."""
    import mujoco

    found: set[int] = set()
    for k in range(m.nsite):
        if m.site_bodyid[k] != b or "handle" not in _name(m, mujoco.mjtObj.mjOBJ_SITE, k, "").lower():
            continue
        for g in geoms:
            if np.linalg.norm(m.geom_pos[g] - m.site_pos[k]) <= m.geom_rbound[g] + m.site_size[k][0]:
                found.add(g)
    return found


def _geometry(m, g: int, mesh_dir: Path, trimesh) -> ET.Element:
    """The URDF shape of geom ``g`` (capsules, ellipsoids and meshes as OBJ files under ``mesh_dir``)."""
    import mujoco

    t, size = int(m.geom_type[g]), m.geom_size[g]
    if t == mujoco.mjtGeom.mjGEOM_BOX:
        return ET.Element("box", size=_fmt(2 * size))
    if t == mujoco.mjtGeom.mjGEOM_SPHERE:
        return ET.Element("sphere", radius=f"{size[0]:.9g}")
    if t == mujoco.mjtGeom.mjGEOM_CYLINDER:
        return ET.Element("cylinder", radius=f"{size[0]:.9g}", length=f"{2 * size[1]:.9g}")
    if t == mujoco.mjtGeom.mjGEOM_CAPSULE:
        mesh = trimesh.creation.capsule(height=2 * size[1], radius=size[0], count=[12, 12])
    elif t == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
        mesh = trimesh.creation.icosphere(subdivisions=2)
        mesh.apply_scale(size)
    elif t == mujoco.mjtGeom.mjGEOM_MESH:
        k = int(m.geom_dataid[g])
        va, vn, fa, fn = m.mesh_vertadr[k], m.mesh_vertnum[k], m.mesh_faceadr[k], m.mesh_facenum[k]
        mesh = trimesh.Trimesh(m.mesh_vert[va:va + vn].copy(), m.mesh_face[fa:fa + fn].copy(), process=False)
    else:
        raise DataError(f"geom #{g} has type {mujoco.mjtGeom(t).name}, which an object asset cannot hold", None)
    path = mesh_dir / f"geom{g}.obj"
    mesh.export(path)
    return ET.Element("mesh", filename=f"meshes/{path.name}")
