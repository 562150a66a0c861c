"""Scene composition: assets + free objects + a floating gripper -> one MuJoCo model and its layout.

World frame: z up, the floor (the "table") at z = 0, the front of every asset facing ``-y`` where the
gripper starts. Every name of an asset is prefixed with its instance name (``cabinet/drawer_0``), so
several assets can share a scene; free objects and goals keep their own names.

The gripper is a floating parallel-jaw hand pointing down, driven in Cartesian space by three slide
joints with force-limited position servos (it cannot push harder than :attr:`GripperSpec.max_force`,
so it cannot bulldoze through parts as a stiff mocap weld does) and two coupled fingers. Suction
grasping is a ``connect`` constraint per graspable body, switched on by the environment.

Optionally a Franka Panda arm carries the gripper (:mod:`rlscope.gen2sim.sim.panda`, ``GripperSpec.arm``).

Contacts are stiff (``solref`` at twice the timestep, ``solimp`` up to 0.99 on thin parts); a contact
sensor per gripper and object measures penetration every step.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from rlscope.errors import DataError
from rlscope.gen2sim.assets.asset import Asset
from rlscope.gen2sim.sim import panda

GRIPPER = "gripper"
TIP = "gripper_tip"
FINGER_TRAVEL = 0.03
"""How far each finger closes from fully open (m)."""
TIP_DEPTH = 0.085
"""Distance from the gripper frame (palm centre) down to the tip point between the finger tips (m)."""


@dataclasses.dataclass(frozen=True)
class AssetSpec:
    """One asset instance in a scene."""

    name: str
    """Instance name, the prefix of its links, joints and handles in the state API."""
    procedural: str | None = None
    """Procedural kind (``cabinet``, ``microwave``, ...; or ``module:function``)."""
    dir: str | None = None
    """Or: an asset directory written by ``rlscope gen2sim asset`` (holds ``asset.json``)."""
    seed: int = 0
    """Seed of the procedural generator."""
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Dimensions passed to the procedural generator."""
    pos: tuple[float, float, float] = (0.0, 0.25, 0.0)
    """Where the asset frame (bottom centre) stands in the world."""
    fixed: bool | None = None
    """Whether the asset stands fixed in place (as on a bench, so that pulling a part does not drag the whole
    asset); None: as the asset says (``fixed_base``)."""


@dataclasses.dataclass(frozen=True)
class ObjectSpec:
    """A free rigid object (the thing to push, pick or put away)."""

    name: str
    shape: str = "box"
    """box | cylinder | sphere."""
    size: tuple[float, ...] = (0.05, 0.05, 0.05)
    """box: full extents; cylinder: (radius, height); sphere: (radius,)."""
    mass: float = 0.1
    """kg."""
    pos: tuple[float, float, float] = (0.0, -0.1, 0.0)
    """Centre of the bottom face at the default start (z = 0 stands on the floor)."""
    friction: float = 0.8
    rgba: tuple[float, float, float, float] = (0.85, 0.3, 0.2, 1.0)
    asset: str | None = None
    """Or: an asset directory (``rlscope gen2sim asset`` output, e.g. a mug lifted from a photo); shape,
    size, mass and friction then come from the asset."""

    def half_height(self) -> float:
        return {"box": self.size[-1] / 2, "cylinder": self.size[-1] / 2, "sphere": self.size[0]}[self.shape]

    def grasp_radius(self) -> float:
        """Distance from the centre to the nearest face (what suction must come within)."""
        return {"box": min(self.size) / 2, "cylinder": min(self.size[0], self.size[1] / 2), "sphere": self.size[0]}[self.shape]


@dataclasses.dataclass(frozen=True)
class GripperSpec:
    """The floating gripper."""

    start: tuple[float, float, float] = (0.0, -0.2, 0.3)
    """Tip position at the default start."""
    workspace_low: tuple[float, float, float] = (-0.45, -0.5, 0.0)
    """Lower corner of the box the tip may move in."""
    workspace_high: tuple[float, float, float] = (0.45, 0.45, 0.7)
    max_force: float = 40.0
    """Force limit of each Cartesian servo (N)."""
    kp: float = 2000.0
    """Servo stiffness (N/m)."""
    damping: float = 60.0
    """Viscous damping of the Cartesian joints (N s/m)."""
    mass: float = 0.5
    arm: str = "none"
    """``none``: the gripper floats; ``panda``: a Franka Panda arm carries it (its flange welded to the
    palm; needs robosuite's model files, see :mod:`rlscope.gen2sim.sim.panda`)."""
    arm_base: tuple[float, float, float] = (0.0, -0.6, 0.0)
    """Where the arm's base stands (it faces +y, towards the assets)."""


@dataclasses.dataclass(frozen=True)
class SceneSpec:
    """Everything physical about a scene."""

    assets: tuple[AssetSpec, ...] = ()
    objects: tuple[ObjectSpec, ...] = ()
    gripper: GripperSpec = GripperSpec()
    timestep: float = 0.005
    """Physics step (s)."""
    substeps: int = 4
    """Physics steps per control step (control period = timestep * substeps)."""

    @staticmethod
    def from_dict(d: dict[str, Any], where: str = "scene") -> SceneSpec:
        try:
            assets = tuple(AssetSpec(**{k: tuple(v) if k == "pos" else v for k, v in a.items()}) for a in d.get("assets", []))
            objects = tuple(ObjectSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in o.items()})
                            for o in d.get("objects", []))
            gripper = GripperSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.get("gripper", {}).items()})
            extra = {k: d[k] for k in ("timestep", "substeps") if k in d}
        except TypeError as exc:
            raise DataError(f"bad scene description: {exc}", where) from None
        unknown = set(d) - {"assets", "objects", "gripper", "timestep", "substeps"}
        if unknown:
            raise DataError(f"unknown scene field(s) {sorted(unknown)}; expected assets, objects, gripper, timestep, substeps", where)
        return SceneSpec(assets=assets, objects=objects, gripper=gripper, **extra)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Graspable:
    """Something suction can hold: a handle (a segment on a part) or a free object."""

    name: str
    body: str
    """MuJoCo body the constraint attaches to."""
    kind: str
    """handle | object."""
    half_length: float = 0.0
    """Handles: half the bar length."""
    axis: tuple[float, float, float] = (1.0, 0.0, 0.0)
    """Handles: bar axis in the body frame."""
    radius: float = 0.0
    """Objects: centre-to-face distance."""


@dataclasses.dataclass
class Scene:
    """A compiled scene: the MuJoCo model and what the state API needs to read it."""

    spec: SceneSpec
    xml: str
    model: Any
    assets: dict[str, Asset]
    links: list[str]
    """Bodies readable by name (asset links and free objects), with their pose sensors."""
    joints: dict[str, tuple[float, float]]
    """Movable asset joints: (closed value, open value), the ends of their range as the asset records them."""
    handles: list[str]
    objects: list[str]
    graspables: list[Graspable]
    sensors: dict[str, slice]
    """Name -> slice of ``sensordata``: ``pos:X``, ``quat:X``, ``hpos:H`` (handle centres), ``qpos:J``, ``qvel:J``, ``contact:X``, ``tip``,
    ``tipvel``, ``finger``, ``cart`` (gripper slide positions)."""
    gripper_qpos: list[int]
    """qpos addresses of the three Cartesian joints."""
    gripper_ctrl: list[int]
    """Actuator ids of the three Cartesian servos; the finger servo is the last actuator."""
    tip0: np.ndarray
    """(3,) tip position at zero slide displacement."""
    arm: Any = None
    """:class:`rlscope.gen2sim.sim.panda.ArmLayout` when an arm carries the gripper."""

    def joint_qpos_adr(self, name: str) -> int:
        import mujoco

        return int(self.model.jnt_qposadr[mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)])


def _f(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def load_scene_asset(spec: AssetSpec, base: Path | None = None) -> tuple[Asset, Path | None]:
    """The asset of an instance and its directory (None for procedural assets made of primitives)."""
    if (spec.procedural is None) == (spec.dir is None):
        raise DataError("give exactly one of 'procedural' or 'dir'", f"asset {spec.name!r}")
    if spec.procedural is not None:
        from rlscope.gen2sim.assets.procedural import generate

        return generate(spec.procedural, spec.seed, **spec.params), None
    from rlscope.gen2sim.assets.build import load_asset

    path = Path(spec.dir)  # type: ignore[arg-type]
    if base is not None and not path.is_absolute():
        path = base / path
    return load_asset(path), path.resolve()


def _prefixed_asset_xml(asset: Asset, inst: str, asset_dir: Path | None, pos, free: bool | None = None) -> ET.Element:
    from rlscope.gen2sim.assets.mjcf import build_mjcf

    root = ET.fromstring(build_mjcf(asset, str(asset_dir or "."), pos=pos, free=free))
    for el in root.iter():
        for attr in ("name", "body1", "body2", "mesh"):
            if attr in el.attrib:
                el.set(attr, f"{inst}/{el.attrib[attr]}")
        if el.tag == "mesh" and asset_dir is not None and "file" in el.attrib:
            mesh = (asset_dir / el.attrib["file"]).resolve()
            if not mesh.is_relative_to(asset_dir.resolve()):  # an asset reads only its own files
                raise DataError(f"mesh file {el.attrib['file']!r} leaves the asset directory", str(asset_dir / "asset.json"))
            el.set("file", str(mesh))
    for body in root.iter("body"):
        local = body.attrib["name"][len(inst) + 1:]
        for h in asset.handles:
            if h.link == local:
                ET.SubElement(body, "site", name=f"{inst}/{h.name}", pos=_f(h.pos_link), size="0.008", rgba="0 .8 .2 .5",
                              group="4")
    return root


def _gripper_xml(world: ET.Element, g: GripperSpec) -> None:
    base = np.array(g.start) + np.array([0.0, 0.0, TIP_DEPTH])
    body = ET.SubElement(world, "body", name=GRIPPER, pos=_f(base), gravcomp="1")
    lo = np.array(g.workspace_low) - np.array(g.start)
    hi = np.array(g.workspace_high) - np.array(g.start)
    damping = g.damping * (panda.CARTESIAN_DAMPING_SCALE if g.arm == "panda" else 1.0)
    for k, ax in enumerate(("x", "y", "z")):
        axis = [0, 0, 0]
        axis[k] = 1
        ET.SubElement(body, "joint", name=f"{GRIPPER}_{ax}", type="slide", axis=_f(axis), range=_f([lo[k], hi[k]]),
                      damping=f"{damping:.6g}", armature="0.01")
    ET.SubElement(body, "geom", name=f"{GRIPPER}_palm", type="box", size="0.045 0.015 0.012", mass=f"{g.mass:.6g}",
                  rgba=".25 .25 .3 1", group="0", **{"class": "collision"})
    ET.SubElement(body, "site", name=TIP, pos=_f([0, 0, -TIP_DEPTH]), size="0.006", rgba="1 .9 0 1", group="4")
    for side, sgn in (("l", -1), ("r", 1)):
        f = ET.SubElement(body, "body", name=f"{GRIPPER}_finger_{side}", pos=_f([sgn * 0.035, 0, -0.05]), gravcomp="1")
        ET.SubElement(f, "joint", name=f"{GRIPPER}_finger_{side}", type="slide", axis=_f([-sgn, 0, 0]),
                      range=_f([0, FINGER_TRAVEL]), damping="5", armature="0.01")
        ET.SubElement(f, "geom", name=f"{GRIPPER}_finger_{side}", type="box", size="0.005 0.012 0.038", mass="0.05",
                      rgba=".35 .35 .4 1", group="0", **{"class": "thin"})


def _asset_object_xml(world: ET.Element, assets_el: ET.Element, contact: ET.Element, o: ObjectSpec,
                      base: Path | None) -> float:
    """A free object made from an asset directory; returns its grasp radius."""
    asset, adir = load_scene_asset(AssetSpec(o.name, dir=o.asset), base)
    sub = _prefixed_asset_xml(asset, o.name, adir, o.pos, free=False)
    body = sub.find("worldbody").find("body")
    body.set("name", o.name)  # the root link is the object: state.object(name) reads it
    free = ET.SubElement(body, "freejoint", name=o.name)
    body.remove(free)
    body.insert(0, free)
    for el in body.iter("geom"):
        if el.get("class") in ("collision", "thin"):
            el.set("group", "0")
    for el in sub.find("asset") or []:
        assets_el.append(el)
    world.append(body)
    for el in sub.find("contact") if sub.find("contact") is not None else []:
        contact.append(el)
    size = asset.physics.size if asset.physics else [0.05, 0.05, 0.05]
    return float(min(size)) / 2


def _object_xml(world: ET.Element, o: ObjectSpec) -> None:
    if o.shape not in ("box", "cylinder", "sphere"):
        raise DataError(f"object shape must be box, cylinder or sphere, got {o.shape!r}", f"object {o.name!r}")
    z = o.pos[2] + o.half_height()
    body = ET.SubElement(world, "body", name=o.name, pos=_f([o.pos[0], o.pos[1], z]))
    ET.SubElement(body, "freejoint", name=o.name)
    size = {"box": [s / 2 for s in o.size], "cylinder": [o.size[0], o.size[1] / 2], "sphere": [o.size[0]]}[o.shape]
    ET.SubElement(body, "geom", name=o.name, type=o.shape, size=_f(size), mass=f"{o.mass:.6g}", rgba=_f(o.rgba),
                  friction=f"{o.friction:.4g} 0.005 0.001", group="0", **{"class": "collision"})


def build_scene(spec: SceneSpec, base: Path | None = None) -> Scene:
    """Compose and compile the scene. ``base`` resolves relative asset directories."""
    import mujoco

    from rlscope.gen2sim.assets.mjcf import ROLLING, SOLIMP, SOLREF, TORSIONAL, add_default_classes

    root = ET.Element("mujoco", model="rlscope_scene")
    ET.SubElement(root, "compiler", angle="radian", autolimits="true", boundmass="1e-5", boundinertia="1e-10")
    ET.SubElement(root, "option", timestep=f"{spec.timestep:.6g}", integrator="implicitfast", cone="elliptic")
    ET.SubElement(root, "size", memory="8M")
    add_default_classes(root, condim=4)  # torsional/rolling friction (condim 6) is not worth its cost here
    assets_el = ET.SubElement(root, "asset")
    ET.SubElement(assets_el, "texture", name="floor", type="2d", builtin="checker", rgb1=".82 .80 .76", rgb2=".74 .72 .68",
                  width="256", height="256")
    ET.SubElement(assets_el, "material", name="floor", texture="floor", texrepeat="8 8")
    world = ET.SubElement(root, "worldbody")
    ET.SubElement(world, "light", pos="0.6 -1.2 2.5", dir="-0.3 0.5 -1", diffuse=".8 .8 .8", specular=".2 .2 .2")
    ET.SubElement(world, "light", pos="-1 1 2.5", dir="0.4 -0.4 -1", diffuse=".3 .3 .3")
    ET.SubElement(world, "geom", name="floor", type="plane", size="2 2 0.05", material="floor", condim="4",
                  solref=_f(SOLREF), solimp=_f(SOLIMP), friction=f"0.8 {TORSIONAL} {ROLLING}")
    ET.SubElement(world, "camera", name="front", pos="0.75 -1.05 0.85", xyaxes="0.81 0.59 0 -0.28 0.38 0.88")
    contact = ET.SubElement(root, "contact")
    equality = ET.SubElement(root, "equality")
    sensor = ET.SubElement(root, "sensor")

    if spec.gripper.arm not in ("none", "panda"):
        raise DataError(f"unknown arm {spec.gripper.arm!r}; expected 'none' or 'panda'", "scene.gripper.arm")
    names = {a.name for a in spec.assets} | {o.name for o in spec.objects}
    if len(names) != len(spec.assets) + len(spec.objects) or GRIPPER in names:
        raise DataError("asset and object names must be unique and not 'gripper'", "scene")
    assets: dict[str, Asset] = {}
    links: list[str] = []
    joints: dict[str, tuple[float, float]] = {}
    handles: list[str] = []
    graspables: list[Graspable] = []
    for a in spec.assets:
        asset, adir = load_scene_asset(a, base)
        assets[a.name] = asset
        sub = _prefixed_asset_xml(asset, a.name, adir, a.pos, free=None if a.fixed is None else not a.fixed)
        for el in sub.find("asset") or []:
            assets_el.append(el)
        for el in sub.find("worldbody"):
            world.append(el)
        for el in sub.find("contact") if sub.find("contact") is not None else []:
            contact.append(el)
        links += [f"{a.name}/{link.name}" for link in asset.links]
        for j in asset.movable_joints():
            joints[f"{a.name}/{j.name}"] = j.ends()
        for h in asset.handles:
            hname = f"{a.name}/{h.name}"
            handles.append(hname)
            axis_world = np.asarray(h.axis, float)
            graspables.append(Graspable(hname, f"{a.name}/{h.link}", "handle", half_length=max(h.size) / 2,
                                        axis=tuple(axis_world)))
    for o in spec.objects:
        if o.asset is not None:
            radius = _asset_object_xml(world, assets_el, contact, o, base)
        else:
            _object_xml(world, o)
            radius = o.grasp_radius()
        links.append(o.name)
        graspables.append(Graspable(o.name, o.name, "object", radius=radius))
    _gripper_xml(world, spec.gripper)
    g = spec.gripper
    act = ET.SubElement(root, "actuator")
    for ax in ("x", "y", "z"):
        ET.SubElement(act, "position", name=f"{GRIPPER}_{ax}", joint=f"{GRIPPER}_{ax}", kp=f"{g.kp:.6g}",
                      forcerange=_f([-g.max_force, g.max_force]), ctrlrange="-2 2")
    ET.SubElement(act, "position", name=f"{GRIPPER}_fingers", joint=f"{GRIPPER}_finger_l", kp="200",
                  forcerange="-15 15", ctrlrange=_f([0, FINGER_TRAVEL]))
    ET.SubElement(equality, "joint", joint1=f"{GRIPPER}_finger_l", joint2=f"{GRIPPER}_finger_r")
    for gr in graspables:
        ET.SubElement(equality, "connect", name=f"suction:{gr.name}", body1=GRIPPER, body2=gr.body,
                      anchor=_f([0, 0, -TIP_DEPTH]), active="false", solref="0.02 1")
    if g.arm == "panda":
        panda.add_panda(world, assets_el, contact, equality, g.arm_base, GRIPPER,
                        [GRIPPER, f"{GRIPPER}_finger_l", f"{GRIPPER}_finger_r"])

    order: list[tuple[str, int]] = []

    def add(tag: str, key: str, dim: int, **attrs: str) -> None:
        ET.SubElement(sensor, tag, name=key, **attrs)
        order.append((key, dim))

    add("framepos", "tip", 3, objtype="site", objname=TIP)
    add("framelinvel", "tipvel", 3, objtype="site", objname=TIP)
    add("jointpos", "finger", 1, joint=f"{GRIPPER}_finger_l")
    for ax in ("x", "y", "z"):
        add("jointpos", f"cart:{ax}", 1, joint=f"{GRIPPER}_{ax}")
    objects = {o.name for o in spec.objects}
    for name in links:  # parts: their frames; free objects: their centres of mass
        kind = "body" if name in objects else "xbody"
        add("framepos", f"pos:{name}", 3, objtype=kind, objname=name)
        add("framequat", f"quat:{name}", 4, objtype=kind, objname=name)
    for name in handles:
        add("framepos", f"hpos:{name}", 3, objtype="site", objname=name)
    for name in joints:
        add("jointpos", f"qpos:{name}", 1, joint=name)
        add("jointvel", f"qvel:{name}", 1, joint=name)
    for o in spec.objects:
        add("framelinvel", f"vel:{o.name}", 3, objtype="xbody", objname=o.name)
    add("contact", f"contact:{GRIPPER}", 2, subtree1=GRIPPER, data="found dist", reduce="mindist", num="1")
    for o in spec.objects:
        add("contact", f"contact:{o.name}", 2, body1=o.name, data="found dist", reduce="mindist", num="1")
    if g.arm == "panda":
        add("contact", "contact:arm", 2, subtree1=f"{panda.PREFIX}link1", data="found dist", reduce="mindist", num="1")
    if not len(contact):
        root.remove(contact)
    ET.indent(root, space="  ")
    xml = ET.tostring(root, encoding="unicode") + "\n"
    try:
        model = mujoco.MjModel.from_xml_string(xml)
    except ValueError as exc:
        raise DataError(f"MuJoCo rejected the scene: {exc}", "scene") from None
    sensors: dict[str, slice] = {}
    at = 0
    for key, dim in order:
        sensors[key] = slice(at, at + dim)
        at += dim
    assert at == model.nsensordata, (at, model.nsensordata)
    sensors["cart"] = slice(sensors["cart:x"].start, sensors["cart:z"].stop)
    cart = [int(model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f"{GRIPPER}_{a}")]) for a in "xyz"]
    ctrl = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, f"{GRIPPER}_{a}") for a in "xyz"]
    arm = panda.layout(model) if g.arm == "panda" else None
    for name, (closed, _) in joints.items():  # a reset puts every part at its closed end, whichever limit that is
        model.qpos0[model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)]] = closed
    return Scene(spec=spec, xml=xml, model=model, assets=assets, links=links, joints=joints, handles=handles,
                 objects=[o.name for o in spec.objects], graspables=graspables, sensors=sensors, gripper_qpos=cart,
                 gripper_ctrl=ctrl, tip0=np.asarray(g.start, float), arm=arm)
