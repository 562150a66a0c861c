"""Standard skills for any asset: the shipped skills (``standard/``) re-targeted at an asset's own
parts, as a task proposer without a language model would write them.

An articulated asset gets open/close tasks for each drawer and door that has a handle; a rigid
asset (an object lifted from a photo, a mesh) becomes a free object to push and to pick and place.
The code is the standard skill's code with its names (``HANDLE``, ``JOINT``, ``CUBE``) replaced.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from rlscope.gen2sim.assets.asset import Asset
from rlscope.gen2sim.sim.scene import AssetSpec, ObjectSpec, SceneSpec
from rlscope.gen2sim.tasks.task import Task, load_task

STANDARD_DIR = Path(__file__).resolve().parent / "standard"

_SKILL_FOR = {("drawer", "open"): "open_drawer", ("drawer", "close"): "close_drawer",
              ("door", "open"): "open_door", ("door", "close"): "close_door"}


def _retarget(code: str, names: dict[str, str]) -> str:
    for const, value in names.items():
        code, n = re.subn(rf'^{const} = "[^"]*"$', f'{const} = "{value}"', code, flags=re.M)
        if n != 1:
            raise ValueError(f"template has no single {const} constant")
    return code


def _scene_with_asset(template: Task, inst: str, asset: Asset, asset_dir: str, handle_pos) -> SceneSpec:
    """The template's scene with ``asset`` in place of its cabinet, the gripper started in front of the handle."""
    (a,) = template.scene.assets
    h = np.asarray(a.pos) + np.asarray(handle_pos)
    height = asset.physics.size[2] if asset.physics else 1.0
    g = template.scene.gripper
    gripper = dataclasses.replace(g, start=(float(h[0]), float(h[1] - 0.25), float(h[2] + 0.1)),
                                  workspace_low=(-0.6, -0.7, 0.0), workspace_high=(0.6, 0.6, max(0.7, height + 0.25)))
    return dataclasses.replace(template.scene, assets=(AssetSpec(name=inst, dir=asset_dir, pos=a.pos),), gripper=gripper)


def articulated_tasks(asset: Asset, asset_dir: str, inst: str = "asset", actions: tuple[str, ...] = ("open",)) -> list[Task]:
    """Open (and/or close) tasks for every drawer and door of ``asset`` that a handle operates."""
    tasks = []
    for h in asset.handles:
        if h.joint is None:
            continue
        kind = asset.link(asset.joint(h.joint).child).semantic
        for action in actions:
            skill = _SKILL_FOR.get((kind, action))
            if skill is None:
                continue
            tpl = load_task(STANDARD_DIR / skill)
            names = {"HANDLE": f"{inst}/{h.name}", "JOINT": f"{inst}/{h.joint}"}
            part = h.joint.removesuffix("_joint")
            subs = tuple(dataclasses.replace(
                s, name=f"{action}_{part}", code=_retarget(s.code, names), code_file="",
                observe=(f"handle:{inst}/{h.name}", f"joint:{inst}/{h.joint}"),
                description=s.description.replace("the drawer", f"the {kind} {h.joint}").replace("the door", f"the {kind} {h.joint}"),
                init=dataclasses.replace(s.init, joints={f"{inst}/{h.joint}": v for v in s.init.joints.values()}))
                for s in tpl.subtasks)
            tasks.append(Task(task_id=f"{action}_{asset.asset_id}_{part}".replace("/", "_"),
                              description=f"{action.capitalize()} the {kind} of the {asset.category or asset.asset_id} "
                                          f"by its handle {h.name}.",
                              scene=_scene_with_asset(tpl, inst, asset, asset_dir, h.pos), subtasks=subs))
    return tasks


def object_tasks(asset: Asset, asset_dir: str, skills: tuple[str, ...] = ("push_cube", "pick_place_cube")) -> list[Task]:
    """Push / pick-and-place tasks with ``asset`` as the free object in place of the cube."""
    name = asset.asset_id
    tasks = []
    for skill in skills:
        tpl = load_task(STANDARD_DIR / skill)
        (cube,) = tpl.scene.objects
        obj = ObjectSpec(name=name, asset=asset_dir, pos=cube.pos)
        subs = tuple(dataclasses.replace(
            s, name=s.name.replace("cube", name), code=_retarget(s.code, {"CUBE": name}), code_file="",
            observe=tuple(t.replace("object:cube", f"object:{name}") for t in s.observe),
            description=s.description.replace("the cube", f"the {asset.category or name}"),
            init=dataclasses.replace(s.init, objects={name: v for v in s.init.objects.values()}))
            for s in tpl.subtasks)
        tasks.append(Task(task_id=skill.replace("cube", name), description=tpl.description.replace("cube", asset.category or name),
                          scene=dataclasses.replace(tpl.scene, objects=(obj,)), subtasks=subs))
    return tasks


def tasks_for_asset(asset: Asset, asset_dir: str) -> list[Task]:
    """The standard tasks that fit an asset: its drawers and doors, or the asset itself as an object."""
    if asset.movable_joints():
        return articulated_tasks(asset, asset_dir)
    if not asset.fixed_base:
        return object_tasks(asset, asset_dir, skills=("push_cube",))
    return []
