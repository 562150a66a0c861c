"""The offline task proposer: tasks, decompositions and reward code derived from asset semantics and
joint types, with no language model. It is the default proposer and the baseline LLM-written rewards
are compared against (as Eureka compares against its human reward).

From an asset description (:mod:`rlscope.gen2sim.tasks.describe`) it proposes:

- open and close every drawer, door, lid, screen and window that a handle moves;
- turn every knob and lever;
- push a free object to a target, and pick and place it;
- put a free object into every part that holds things (a drawer, a box under a lid): open, place, close.

Its code is written in the same format a language model is asked for (``compute_reward(state)`` and
``is_success(state)`` over the state API) from the templates below, and the same asset gives the same
tasks (the seed only draws which of equally good variants is used; there is none yet).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from rlscope.gen2sim.sim.scene import AssetSpec, GripperSpec, ObjectSpec, SceneSpec
from rlscope.gen2sim.tasks.task import InitSpec, SubTask, Task

STANDARD_DIR = Path(__file__).resolve().parent / "standard"

VERBS = {"drawer": ("open", "close"), "door": ("open", "close"), "lid": ("open", "close"), "screen": ("open", "close"),
         "window": ("open", "close"), "sash": ("open", "close"), "knob": ("turn",), "lever": ("turn",)}
"""What can be done with a part, by its semantic label (parts with other labels get no task)."""
OPEN_AT = {"drawer": 0.66, "window": 0.66, "sash": 0.66, "door": 0.5, "lid": 0.5, "screen": 0.5, "lever": 0.66,
           "knob": 0.25}
"""Fraction of its travel a part must reach for an open (or turn) task to succeed."""
CLOSED_AT = 0.1
"""Fraction of its travel below which a part counts as closed."""
TRAIN_STEPS = {"drawer": 150_000, "window": 200_000, "sash": 200_000}
"""Training budget of one open/close/turn sub-task by part (others: :data:`DEFAULT_TRAIN_STEPS`)."""
DEFAULT_TRAIN_STEPS = 300_000
ASSET_POS = (0.0, 0.25, 0.0)
"""Where an articulated asset stands (its front faces the gripper at -y)."""
DEFAULT_OBJECT = ObjectSpec(name="cube", size=(0.05, 0.05, 0.05), mass=0.1, pos=(0.0, -0.3, 0.0))
"""The free object put into containers when the inputs bring none."""

OPEN_CODE = Template('''\
import numpy as np

HANDLE = "$handle"
JOINT = "$joint"
SUCCESS = $success  # fraction of the travel to reach


def compute_reward(state):
    reach = np.linalg.norm(state.handle(HANDLE).pos - state.gripper.pos, axis=1)
    grasp = state.is_grasping(HANDLE).astype(float)
    opened = np.clip(state.joint(JOINT).fraction, 0.0, 1.0)
    components = {"reach": -reach, "grasp": 0.25 * grasp, "open": 2.0 * opened}
    return components["reach"] + components["grasp"] + components["open"], components


def is_success(state):
    return state.joint(JOINT).fraction >= SUCCESS
''')

CLOSE_CODE = Template('''\
import numpy as np

HANDLE = "$handle"
JOINT = "$joint"
CLOSED = $closed  # fraction of the travel below which the part is closed
$inside_def

def compute_reward(state):
    reach = np.linalg.norm(state.handle(HANDLE).pos - state.gripper.pos, axis=1)
    closed = 1.0 - np.clip(state.joint(JOINT).fraction, 0.0, 1.0)
    components = {"reach": -reach, "close": 2.0 * closed}
    return components["reach"] + components["close"], components


def is_success(state):
    return $success
''')

INSIDE_DEF = Template('''
CONTAINER = "$container"
OBJECT = "$object"
# the inside of $container, as offsets from its position (from the asset description)
INSIDE_LOW = np.array($low)
INSIDE_HIGH = np.array($high)


def inside(state):
    rel = state.object(OBJECT).pos - state.link(CONTAINER).pos
    return np.all((rel > INSIDE_LOW) & (rel < INSIDE_HIGH), axis=1)
''')

PLACE_CODE = Template('''\
import numpy as np
$inside_def
DROP = np.array($drop)  # where the object's centre goes down to, as an offset from the container's position
ABOVE = $above  # height (m) to carry the object at before lowering it in
GRIP = $grip  # the gripper tip sits this far above the object's centre when it holds it


def compute_reward(state):
    obj = state.object(OBJECT).pos
    drop = state.link(CONTAINER).pos + DROP
    over = np.concatenate([drop[:, :2], np.full((len(obj), 1), ABOVE)], axis=1)
    # lift the object over the rim to a point above the drop point, lower it in, let go; the two stages
    # overlap so that reaching the first never costs reward
    aligned = (np.linalg.norm((obj - drop)[:, :2], axis=1) < 0.03).astype(float)
    lift = 1.0 - np.tanh(5.0 * np.linalg.norm(over - obj, axis=1))
    lower = aligned * (1.0 - np.tanh(5.0 * np.linalg.norm(drop - obj, axis=1)))
    reach = np.linalg.norm(obj + np.array([0.0, 0.0, GRIP]) - state.gripper.pos, axis=1)
    held = state.is_grasping(OBJECT).astype(float)
    done = inside(state).astype(float)
    carrying = np.maximum(held, done)
    components = {"reach": -reach * (1.0 - done), "grasp": 0.5 * held * (1.0 - done), "lift": 2.0 * carrying * lift,
                  "lower": 4.0 * carrying * lower, "inside": 1.0 * done, "released": 2.0 * done * (1.0 - held)}
    return sum(components.values()), components


def is_success(state):
    return inside(state)  # held or let go: the hand-over to the next sub-task releases the suction
''')


@dataclasses.dataclass(frozen=True)
class Placed:
    """An input of the proposer: an asset directory and its description as placed in a scene."""

    inst: str
    """Instance name in the scene (prefix of its state-API names)."""
    dir: str
    """Absolute path of the asset directory."""
    desc: dict[str, Any]
    """:func:`~rlscope.gen2sim.tasks.describe.describe_asset` of it."""


def _lit(values) -> str:
    return "[" + ", ".join(f"{float(v):.4f}" for v in values) + "]"


def _task_id(*words: str) -> str:
    from rlscope.gen2sim.tasks.parse import normalise

    return normalise("_".join(words))


def gripper_near(point, height: float) -> GripperSpec:
    """The gripper started 25 cm in front of and 10 cm above ``point``, with room above the asset."""
    p = np.asarray(point, float)
    return GripperSpec(start=(float(p[0]), float(p[1] - 0.25), float(p[2] + 0.1)), workspace_low=(-0.6, -0.7, 0.0),
                       workspace_high=(0.6, 0.6, max(0.7, height + 0.25)))


def _scene(a: Placed, objects: tuple[ObjectSpec, ...], near) -> SceneSpec:
    height = (a.desc["size"] or [0, 0, 1.0])[2]
    return SceneSpec(assets=(AssetSpec(name=a.inst, dir=a.dir, pos=tuple(a.desc["pos"]), fixed=True),), objects=objects,
                     gripper=gripper_near(near, height))


def _joint_parts(a: Placed) -> list[tuple[dict, dict, str]]:
    """(joint, handle, semantic) of every movable part a handle operates and a verb applies to."""
    joints = {j["name"]: j for j in a.desc["joints"]}
    out = []
    for h in a.desc["handles"]:
        j = joints.get(h["operates"] or "")
        if j is not None and j["moves_semantic"] in VERBS:
            out.append((j, h, j["moves_semantic"]))
    return out


OPEN_START = {"door": (0.0, 0.1)}
"""Where a part starts for a task that opens it (fraction of travel), by part; others start closed. A door
starts anywhere from closed to a tenth open, so that a policy finds early that pulling pays while pressing a
closed door shut does not: from a closed start the procedural microwave's wide door was never opened (0.00
success after 300k steps), from this start it was (1.00). The same start made a storage box's lid worse (1.00
from closed, 0.00 from here), so it is not the rule for every part."""


def _part(kind: str, joint: dict) -> str:
    """``the drawer drawer_0``, ``the door`` (not ``the door door``)."""
    part = joint["moves"].split("/", 1)[1]
    return f"the {part}" if part == kind else f"the {kind} {part}"


def _open_sub(name: str, j: dict, h: dict, kind: str, success: float, objects: dict | None = None) -> SubTask:
    what = _part(kind, j)
    verb = "Turn" if "turn" in VERBS[kind] else "Open"
    return SubTask(name=name, description=f"{verb} {what} by its handle, to {success:.0%} of its travel.",
                   code=OPEN_CODE.substitute(handle=h["name"], joint=j["name"], success=success),
                   observe=(f"handle:{h['name']}", f"joint:{j['name']}"), episode_steps=100,
                   train_steps=TRAIN_STEPS.get(kind, DEFAULT_TRAIN_STEPS),
                   init=InitSpec(gripper_noise=0.05, objects=objects or {}, joints={j["name"]: OPEN_START[kind]} if kind in OPEN_START and not objects else {}))


def _close_sub(name: str, j: dict, h: dict, kind: str, inside: str = "", obj: str | None = None) -> SubTask:
    success = "(state.joint(JOINT).fraction <= CLOSED) & inside(state)" if inside else "state.joint(JOINT).fraction <= CLOSED"
    start = (0.75, 1.0) if j["type"] == "prismatic" else (0.4, 0.7)
    return SubTask(name=name, description=f"Push {_part(kind, j)} closed"
                                          + (f" with the {obj} inside." if obj else "."),
                   code=CLOSE_CODE.substitute(handle=h["name"], joint=j["name"], closed=CLOSED_AT, inside_def=inside,
                                              success=success),
                   observe=(f"handle:{h['name']}", f"joint:{j['name']}") + ((f"object:{obj}",) if obj else ()),
                   episode_steps=100 if not obj else 80, train_steps=TRAIN_STEPS.get(kind, 150_000) if not obj else 300_000,
                   init=InitSpec(gripper_noise=0.05, joints={j["name"]: start}))


def articulated_tasks(a: Placed) -> list[Task]:
    """Open/close/turn tasks for every part of ``a`` that a handle moves."""
    tasks = []
    category = a.desc["category"].replace("_", " ")
    for j, h, kind in _joint_parts(a):
        part = j["moves"].split("/", 1)[1]
        for verb in VERBS[kind]:
            if verb == "close":
                sub = _close_sub(f"close_{part}", j, h, kind)
            else:
                sub = _open_sub(f"{verb}_{part}", j, h, kind, OPEN_AT[kind])
            tasks.append(Task(task_id=_task_id(verb, a.inst, part),
                              description=f"{verb.capitalize()} {_part(kind, j)} of the {category} by its handle.",
                              scene=_scene(a, (), h["pos"]), subtasks=(sub,)))
    return tasks


def containers(a: Placed) -> list[tuple[dict, dict, dict, str]]:
    """(container link, its joint, the handle of that joint, kind) of every part that holds things and that a
    handle opens: a drawer (the container moves with its joint) or a box under a lid (the lid's joint)."""
    links = {link["name"]: link for link in a.desc["links"]}
    out = []
    for j, h, kind in _joint_parts(a):
        moved = links[j["moves"]]
        if "inside" in moved:
            out.append((moved, j, h, kind))
        elif kind == "lid":
            parent = next((lk for lk in a.desc["links"] if "inside" in lk and "moved_by" not in lk), None)
            if parent is not None:
                out.append((parent, j, h, kind))
    return out


PLACE_PPO = {"ent_coef": 0.01}
"""PPO settings of a place sub-task: an entropy bonus keeps exploring past the grasp to the carry (the drawer's
place stage: 0.48 and 0.00 in two runs without it, 0.98 with it; pick-and-place needed the same)."""


def _drop_point(container: dict, j: dict, parent: dict | None, half_size: float) -> np.ndarray:
    """Where an object's centre should go down to inside ``container`` (offset from its position): the middle
    of the part of a drawer's inside that is out of its carcass (``parent``) when the drawer is three quarters
    open, kept half an object clear of the carcass's edge; the middle of a box."""
    lo, hi = np.asarray(container["inside"]["low"]), np.asarray(container["inside"]["high"])
    drop = (lo + hi) / 2
    if container.get("moved_by") == j["name"] and j["type"] == "prismatic" and parent and "bounds" in parent:
        axis = np.asarray(j["axis"])
        i = int(np.argmax(np.abs(axis)))
        s = float(np.sign(axis[i]))
        travel = 0.75 * (j["upper"] - j["lower"])
        # inside points (offsets along axis i) that are out of the carcass at three quarters open
        if s < 0:
            edge = parent["bounds"]["low"][i] - container["pos"][i] + travel
            out_lo, out_hi = lo[i], min(hi[i], edge)
            drop[i] = min((out_lo + out_hi) / 2, edge - half_size - 0.01)
        else:
            edge = parent["bounds"]["high"][i] - container["pos"][i] - travel
            out_lo, out_hi = max(lo[i], edge), hi[i]
            drop[i] = max((out_lo + out_hi) / 2, edge + half_size + 0.01)
    drop[2] = lo[2] + half_size + 0.005
    return drop


def put_into_tasks(a: Placed, obj: ObjectSpec) -> list[Task]:
    """Put ``obj`` into every part of ``a`` that holds things: open it, place the object, close it."""
    tasks = []
    half = obj.half_height()
    links = {link["name"]: link for link in a.desc["links"]}
    parent_of = {j["moves"]: j["parent"] for j in a.desc["joints"]}  # the carcass a drawer slides in
    for container, j, h, kind in containers(a):
        lo = np.asarray(container["inside"]["low"]) + np.array([0.005, 0.005, -0.005])
        hi = np.asarray(container["inside"]["high"]) + np.array([-0.005, -0.005, 2 * half])
        inside = INSIDE_DEF.substitute(container=container["name"], object=obj.name, low=_lit(lo), high=_lit(hi))
        rim = float(container["pos"][2] + container["inside"]["high"][2])
        start = {obj.name: {"xy": [[obj.pos[0] - 0.05, obj.pos[1] - 0.02], [obj.pos[0] + 0.05, obj.pos[1] + 0.02]]}}
        part = j["moves"].split("/", 1)[1]
        category = a.desc["category"].replace("_", " ")
        into = _part(kind, j) if container.get("moved_by") == j["name"] else f"the {category}"  # a drawer; a box under a lid
        opened = (0.75, 1.0) if j["type"] == "prismatic" else (0.6, 0.8)
        open_sub = dataclasses.replace(_open_sub("open", j, h, kind, 0.75 if j["type"] == "prismatic" else 0.6, objects=start),
                                       episode_steps=80, train_steps=200_000)
        place = SubTask(
            name="place", description=f"Pick up the {obj.name} and put it into {into}, opened "
                                      "(the suction lets go when the next sub-task takes over).",
            code=PLACE_CODE.substitute(inside_def=inside, above=round(rim + 0.12, 4), grip=round(half, 4),
                                       drop=_lit(_drop_point(container, j, links.get(parent_of.get(container["name"], "")), half))),
            observe=(f"object:{obj.name}", f"link:{container['name']}", f"joint:{j['name']}"), episode_steps=100,
            train_steps=800_000, init=InitSpec(gripper_noise=0.03, joints={j["name"]: opened}, objects=start),
            ppo=dict(PLACE_PPO))
        close = _close_sub("close", j, h, kind, inside=inside, obj=obj.name)
        close = dataclasses.replace(close, init=dataclasses.replace(close.init, joints={j["name"]: opened}))
        tasks.append(Task(task_id=_task_id("put", obj.name, "into", a.inst, part),
                          description=f"Put the {obj.name} away in {into}"
                                      + (f" of the {category}" if into != f"the {category}" else "")
                                      + f": open {_part(kind, j)}, place the {obj.name} inside, close it.",
                          scene=_scene(a, (obj,), h["pos"]), subtasks=(open_sub, place, close)))
    return tasks


def _retarget(code: str, names: dict[str, str]) -> str:
    for const, value in names.items():
        code, n = re.subn(rf'^{const} = "[^"]*"$', f'{const} = "{value}"', code, flags=re.M)
        if n != 1:
            raise ValueError(f"template has no single {const} constant")
    return code


def object_tasks(obj: ObjectSpec, category: str, skills: tuple[str, ...] = ("push_cube", "pick_place_cube")) -> list[Task]:
    """Push and pick-and-place tasks with ``obj`` as the free object (the standard skills, retargeted)."""
    from rlscope.gen2sim.tasks.task import load_task

    tasks = []
    for skill in skills:
        tpl = load_task(STANDARD_DIR / skill)
        (cube,) = tpl.scene.objects
        placed = dataclasses.replace(obj, pos=cube.pos)
        subs = tuple(dataclasses.replace(
            s, name=s.name.replace("cube", obj.name), code=_retarget(s.code, {"CUBE": obj.name}), code_file="",
            observe=tuple(t.replace("object:cube", f"object:{obj.name}") for t in s.observe),
            description=s.description.replace("the cube", f"the {category}"),
            init=dataclasses.replace(s.init, objects={obj.name: v for v in s.init.objects.values()}))
            for s in tpl.subtasks)
        tasks.append(Task(task_id=skill.replace("cube", obj.name), description=tpl.description.replace("cube", category),
                          scene=dataclasses.replace(tpl.scene, objects=(placed,)), subtasks=subs))
    return tasks


def propose_offline(articulated: list[Placed], objects: list[tuple[ObjectSpec, str]], seed: int = 0) -> list[Task]:
    """Every task the offline proposer derives: each articulated asset's parts, each free object's push and
    pick-and-place, and putting each free object (or a cube, when there is none) into each container."""
    del seed  # one variant per task so far; kept so that proposals stay a function of (inputs, seed)
    tasks: list[Task] = []
    for a in articulated:
        tasks += articulated_tasks(a)
        for obj, _ in objects or [(DEFAULT_OBJECT, "cube")]:
            tasks += put_into_tasks(a, obj)
    for obj, category in objects:
        tasks += object_tasks(obj, category)
    return tasks


def split_inputs(asset_dirs: list[Path]) -> tuple[list[Placed], list[tuple[ObjectSpec, str]]]:
    """Articulated assets (placed, fixed, described) and free objects (with their categories) of asset directories."""
    from rlscope.gen2sim.assets.build import load_asset
    from rlscope.gen2sim.tasks.describe import describe_asset

    placed, objects = [], []
    for d in map(Path, asset_dirs):
        asset = load_asset(d)
        if asset.movable_joints():
            placed.append(Placed(asset.asset_id, str(d.resolve()), describe_asset(asset, asset.asset_id, ASSET_POS, True)))
        else:
            size = tuple(asset.physics.size) if asset.physics else DEFAULT_OBJECT.size
            mass = asset.physics.mass if asset.physics else DEFAULT_OBJECT.mass
            objects.append((ObjectSpec(name=asset.asset_id, asset=str(d.resolve()), size=size, mass=mass, pos=DEFAULT_OBJECT.pos),
                            asset.category or asset.asset_id))
    return placed, objects


def tasks_for_assets(asset_dirs: list[Path], seed: int = 0) -> list[Task]:
    """The offline proposer's tasks for asset directories (see :func:`propose_offline`)."""
    return propose_offline(*split_inputs(asset_dirs), seed=seed)
