"""A Franka Panda arm for scenes, from the robot model robosuite ships (read from its files; robosuite
itself is never imported).

The arm carries the floating gripper: its flange is welded to the gripper's palm, so the gripper's
force-limited Cartesian servos stay the only actuators and the arm's seven joints follow them. The
weld is solved by MuJoCo together with the contacts every substep (differential inverse kinematics
inside the dynamics: the arm's links collide with the scene and its joint limits bound the reachable
workspace). Each episode starts from an arm configuration found by damped least-squares inverse
kinematics for the drawn gripper position (:func:`solve_ik`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from rlscope.errors import DataError

PREFIX = "panda/"
JOINTS = tuple(f"{PREFIX}joint{i}" for i in range(1, 8))
HAND = f"{PREFIX}right_hand"
HOME = (0.0, -0.3, 0.0, -2.2, 0.0, 2.0, 0.785)
"""A configuration with the hand in front of the base, pointing down (rad)."""
FLANGE_GAP = 0.02
"""Distance from the flange down to the gripper frame (the palm's centre) (m)."""
HAND_DOWN = (0.0, 1.0, 0.0, 0.0)
"""Hand orientation in the world: its tool axis (z) pointing down, x along the world's x."""
INERTIA_SCALE = 0.1
"""Factor on the link inertias of robosuite's model, whose placeholders are about ten times a Panda's."""
JOINT_DAMPING = 0.3
"""Joint damping (N m s/rad), some kept for the elbow, which the weld leaves free to move. A scripted reach to
a door handle took 40-54 control steps with 2 (and robosuite's inertias), 29-39 with this, 24-31 with the
Cartesian damping scaled too (23-31 without the arm)."""
JOINT_ARMATURE = 0.01
"""Rotor inertia added to each joint (kg m^2)."""
CARTESIAN_DAMPING_SCALE = 0.5
"""Factor on the gripper's Cartesian damping when the arm carries it: the arm's joints and links already
resist the hand, which otherwise carried the cube over the drawer in ~80 control steps instead of ~60."""
_ROBOT = "models/assets/robots/panda/robot.xml"


def model_file() -> Path:
    """robosuite's Panda model file; :class:`DataError` naming what to install when it is not there."""
    spec = importlib.util.find_spec("robosuite")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    for root in roots:
        path = Path(root) / _ROBOT
        if path.is_file():
            return path
    raise DataError("the Panda arm needs robosuite's robot models: pip install robosuite "
                    "(only its model files are read)", "scene.gripper.arm")


@dataclasses.dataclass(frozen=True)
class ArmLayout:
    """Where the arm is in the compiled model."""

    qpos_adr: np.ndarray
    """(7,) qpos addresses of the arm joints."""
    dof_adr: np.ndarray
    """(7,) dof addresses of the arm joints."""
    weld: int
    """Index of the flange-gripper weld among the model's equality constraints."""
    hand: int
    """Body id of the flange."""
    limits: np.ndarray
    """(2, 7) lower and upper joint limits."""


def add_panda(world: ET.Element, assets_el: ET.Element, contact: ET.Element,
              equality: ET.Element, base: tuple[float, float, float], gripper_body: str, gripper_bodies: list[str]) -> None:
    """Add the arm (collision meshes only, facing +y from ``base``) and the flange weld to the scene XML.

    Must run after every other equality constraint is added: the weld is the model's last one.
    """
    path = model_file()
    src = ET.parse(path).getroot()
    mesh_dir = path.parent
    for mesh in src.find("asset").iter("mesh"):
        if not mesh.attrib["file"].startswith("meshes/"):
            continue  # the visual .obj parts: the collision meshes are drawn instead
        ET.SubElement(assets_el, "mesh", name=PREFIX + mesh.attrib["name"], file=str((mesh_dir / mesh.attrib["file"]).resolve()))
    arm = src.find("worldbody").find("body")
    arm.set("pos", " ".join(f"{v:.6g}" for v in base))
    arm.set("quat", "0.707107 0 0 0.707107")  # the model faces +x; the scenes' assets face -y
    for body in arm.iter("body"):
        body.set("name", PREFIX + body.attrib["name"])
        body.set("gravcomp", "1")  # the arm does not pull the gripper down
        for el in list(body):
            if el.tag == "inertial":  # the model's placeholder inertias (0.3 kg m^2 for a 3 kg link) are ~10x a Panda's
                el.set("diaginertia", " ".join(f"{float(v) * INERTIA_SCALE:.6g}" for v in el.attrib["diaginertia"].split()))
            elif el.tag in ("camera", "site"):
                body.remove(el)
            elif el.tag == "geom":
                if el.attrib.get("contype") == "0":  # a visual part
                    body.remove(el)
                    continue
                # collides with the scene (conaffinity 1) but not with itself (contype 2 & conaffinity 1 = 0)
                el.attrib.update(name=PREFIX + el.attrib.get("name", el.attrib["mesh"]), mesh=PREFIX + el.attrib["mesh"],
                                 contype="2", conaffinity="1", rgba=".92 .92 .94 1", group="1", condim="3")
            elif el.tag == "joint":
                el.set("name", PREFIX + el.attrib["name"])
                el.set("armature", str(JOINT_ARMATURE))
                el.set("damping", str(JOINT_DAMPING))
    world.append(arm)
    for link in ("link5", "link6", "link7", "right_hand"):  # the wrist may touch the palm it carries
        for body in gripper_bodies:
            ET.SubElement(contact, "exclude", body1=PREFIX + link, body2=body)
    relpose = [0.0, 0.0, FLANGE_GAP, *HAND_DOWN]  # the gripper frame in the flange frame
    ET.SubElement(equality, "weld", name="arm_flange", body1=HAND, body2=gripper_body,
                  relpose=" ".join(f"{v:.6g}" for v in relpose), solref="0.01 1")


def layout(model) -> ArmLayout:
    import mujoco

    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in JOINTS]
    weld = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_EQUALITY, "arm_flange")
    if weld != model.neq - 1:
        raise AssertionError("the arm weld must be the last equality constraint")
    return ArmLayout(qpos_adr=np.asarray(model.jnt_qposadr[ids]), dof_adr=np.asarray(model.jnt_dofadr[ids]), weld=int(weld),
                     hand=int(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, HAND)),
                     limits=np.asarray(model.jnt_range[ids]).T.copy())


def solve_ik(model, data, arm: ArmLayout, target_pos: np.ndarray, iters: int = 100, damping: float = 1e-2,
             tol: float = 1e-4) -> float:
    """Set ``data``'s arm joints so the flange sits ``FLANGE_GAP`` above ``target_pos`` (the gripper frame),
    tool axis down, by damped least squares from :data:`HOME`. Other joints are left as they are.
    Returns the remaining position error (m).

    target_pos : (3,) world position of the gripper frame.
    """
    import mujoco

    hand, (lo, hi) = arm.hand, arm.limits
    want_pos = np.asarray(target_pos, float) + np.array([0.0, 0.0, FLANGE_GAP])
    want_quat = np.asarray(HAND_DOWN, float)
    data.qpos[arm.qpos_adr] = HOME
    jacp, jacr = np.zeros((3, model.nv)), np.zeros((3, model.nv))
    err = np.zeros(6)
    neg, dq = np.zeros(4), np.zeros(4)
    for _ in range(iters):
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        err[:3] = want_pos - data.xpos[hand]
        mujoco.mju_negQuat(neg, data.xquat[hand])
        mujoco.mju_mulQuat(dq, want_quat, neg)
        mujoco.mju_quat2Vel(err[3:], dq, 1.0)
        if np.linalg.norm(err[:3]) < tol and np.linalg.norm(err[3:]) < 10 * tol:
            break
        mujoco.mj_jacBody(model, data, jacp, jacr, hand)
        j = np.vstack([jacp, jacr])[:, arm.dof_adr]  # (6, 7)
        step = j.T @ np.linalg.solve(j @ j.T + damping * np.eye(6), err)
        data.qpos[arm.qpos_adr] = np.clip(data.qpos[arm.qpos_adr] + step, lo, hi)
    mujoco.mj_kinematics(model, data)
    return float(np.linalg.norm(want_pos - data.xpos[hand]))
