"""Validation of an asset in MuJoCo: it loads, its size and mass are what was asked, it settles when
dropped on a table (no explosion, tunnelling or NaN), and every joint moves through its full range.

Thresholds are module constants so reports can quote them.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from rlscope.gen2sim.assets.asset import Asset
from rlscope.gen2sim.assets.mjcf import TABLE_TOP, build_mjcf, load_model

log = logging.getLogger(__name__)

SIZE_TOL = 0.05
"""Relative tolerance on each bounding-box extent (or SIZE_TOL_ABS, whichever is larger)."""
SIZE_TOL_ABS = 0.005
MASS_TOL = 0.01
"""Relative tolerance on the total mass."""
DROP_HEIGHT = 0.02
"""Gap between the table and the asset's lowest point when it is released (m)."""
SETTLE_TIME = 3.0
"""Simulated seconds the asset has to come to rest."""
SETTLED_LIN = 0.02
"""Largest speed (m/s) of a settled root."""
SETTLED_ANG = 0.3
"""Largest angular speed (rad/s) of a settled root."""
SETTLED_JOINT = 0.1
"""Largest joint speed (rad/s or m/s) once settled."""
SETTLED_WINDOW = 0.5
"""The asset must stay within the settled thresholds for this long (s)."""
MAX_SPEED = 50.0
"""Any generalized velocity (m/s or rad/s) above this means the simulation exploded."""
MAX_PENETRATION = 0.005
"""Largest allowed interpenetration of the asset and the table at rest (m)."""
TUNNEL_DEPTH = 0.01
"""The asset's lowest point below the table top by more than this: it tunnelled (m)."""
REACH_TOL = 0.03
"""A joint reaches a limit when within this fraction of its range."""
JOINT_TIME = 1.5
"""Simulated seconds allowed to push a joint from one limit to the other."""


@dataclasses.dataclass
class ValidationReport:
    asset_id: str
    ok: bool
    checks: dict[str, bool]
    metrics: dict[str, Any]
    failures: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _asset_geoms(model, asset: Asset) -> list[int]:
    import mujoco

    names = {link.name for link in asset.links}
    return [g for g in range(model.ngeom)
            if mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, model.geom_bodyid[g]) in names
            and model.geom_contype[g] | model.geom_conaffinity[g]]


def _geom_world_points(model, data, g: int) -> np.ndarray:
    """World-frame points whose bounding box is the geom's (exact for boxes and meshes)."""
    import mujoco

    R = data.geom_xmat[g].reshape(3, 3)
    p = data.geom_xpos[g]
    t = int(model.geom_type[g])
    size = model.geom_size[g]
    if t == int(mujoco.mjtGeom.mjGEOM_MESH):
        mid = model.geom_dataid[g]
        a, n = model.mesh_vertadr[mid], model.mesh_vertnum[mid]
        local = model.mesh_vert[a : a + n]
    elif t == int(mujoco.mjtGeom.mjGEOM_BOX):
        local = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * size
    elif t == int(mujoco.mjtGeom.mjGEOM_SPHERE):
        local = np.vstack([np.eye(3), -np.eye(3)]) * size[0]
    elif t in (int(mujoco.mjtGeom.mjGEOM_CYLINDER), int(mujoco.mjtGeom.mjGEOM_CAPSULE)):
        th = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        ring = np.stack([np.cos(th), np.sin(th)], 1) * size[0]
        h = size[1] + (size[0] if t == int(mujoco.mjtGeom.mjGEOM_CAPSULE) else 0.0)
        local = np.vstack([np.hstack([ring, np.full((64, 1), z)]) for z in (-h, h)])
    else:
        local = np.zeros((1, 3))
    return local @ R.T + p


def _bounds(model, data, geoms: list[int]) -> tuple[np.ndarray, np.ndarray]:
    pts = np.vstack([_geom_world_points(model, data, g) for g in geoms])
    return pts.min(0), pts.max(0)


def validate_asset(asset: Asset, asset_dir: Path | str, *, settle_time: float = SETTLE_TIME,
                   joints: bool = True) -> ValidationReport:
    """Run every check; never raises for a failing check (they are listed in the report)."""
    import mujoco

    asset_dir = Path(asset_dir).resolve()
    checks: dict[str, bool] = {}
    metrics: dict[str, Any] = {}
    failures: list[str] = []

    def check(name: str, ok: bool, why: str = "") -> None:
        checks[name] = bool(ok)
        if not ok:
            failures.append(f"{name}: {why}")

    # 1. loads (the written model.xml when present, else the generated document)
    try:
        xml_path = asset_dir / "model.xml"
        if xml_path.exists():
            mujoco.MjModel.from_xml_path(str(xml_path))
        fixed = load_model(build_mjcf(asset, asset_dir, free=False, pos=(0, 0, TABLE_TOP + 0.3)))
        scene = load_model(build_mjcf(asset, asset_dir, free=True, scene=True, pos=(0, 0, TABLE_TOP + DROP_HEIGHT)))
    except Exception as exc:  # noqa: BLE001 - reported
        check("loads", False, str(exc))
        return ValidationReport(asset.asset_id, False, checks, metrics, failures)
    check("loads", True)

    # 2. size and mass at the default configuration
    d = mujoco.MjData(fixed)
    mujoco.mj_forward(fixed, d)
    geoms = _asset_geoms(fixed, asset)
    lo, hi = _bounds(fixed, d, geoms)
    ext = hi - lo
    want = np.asarray(asset.physics.size if asset.physics else ext)
    err = np.abs(ext - want)
    tol = np.maximum(SIZE_TOL * want, SIZE_TOL_ABS)
    metrics["size"] = ext.round(4).tolist()
    metrics["size_requested"] = want.round(4).tolist()
    metrics["size_rel_err"] = float(np.max(err / np.maximum(want, 1e-9)))
    check("size", bool(np.all(err <= tol)), f"extents {ext.round(3).tolist()} m vs requested {want.round(3).tolist()} m")
    mass = float(fixed.body_subtreemass[1])
    want_mass = asset.physics.mass if asset.physics else mass
    metrics["mass"] = mass
    metrics["mass_requested"] = want_mass
    check("mass", abs(mass - want_mass) <= MASS_TOL * want_mass, f"{mass:.4g} kg vs requested {want_mass:.4g} kg")

    # 3. drop on the table
    _drop(scene, asset, settle_time, metrics, check)

    # 4. joints through their full range
    if joints and asset.movable_joints():
        sweep = load_model(build_mjcf(asset, asset_dir, free=False, pos=(0, 0, TABLE_TOP + 0.3), gravcomp=True))
        _sweep(sweep, asset, metrics, check)
    return ValidationReport(asset.asset_id, not failures, checks, metrics, failures)


def _drop(model, asset: Asset, settle_time: float, metrics: dict, check) -> None:
    import mujoco

    d = mujoco.MjData(model)
    mujoco.mj_forward(model, d)
    geoms = _asset_geoms(model, asset)
    table = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "rlscope_table")
    steps = int(round(settle_time / model.opt.timestep))
    window = int(round(SETTLED_WINDOW / model.opt.timestep))
    quiet_since: int | None = None
    lowest = math.inf
    max_speed = 0.0
    finite = True
    for i in range(steps):
        mujoco.mj_step(model, d)
        if not (np.isfinite(d.qpos).all() and np.isfinite(d.qvel).all()):
            finite = False
            break
        speed = float(np.max(np.abs(d.qvel))) if model.nv else 0.0
        max_speed = max(max_speed, speed)
        if i % 10 == 0:
            lowest = min(lowest, float(_bounds(model, d, geoms)[0][2]))
        quiet = (np.linalg.norm(d.qvel[:3]) < SETTLED_LIN and np.linalg.norm(d.qvel[3:6]) < SETTLED_ANG
                 and (model.nv <= 6 or np.max(np.abs(d.qvel[6:])) < SETTLED_JOINT))
        if quiet:
            quiet_since = i if quiet_since is None else quiet_since
        else:
            quiet_since = None
    check("finite", finite, "NaN or inf in the state")
    if not finite:
        return
    pen = 0.0
    for c in d.contact[: d.ncon]:
        if table in (c.geom1, c.geom2):
            pen = max(pen, -float(c.dist))
    lo, hi = _bounds(model, d, geoms)
    settled = quiet_since is not None and steps - quiet_since >= window
    metrics["settle_time_s"] = round(quiet_since * model.opt.timestep, 3) if settled else None
    metrics["max_speed"] = round(max_speed, 3)
    metrics["penetration_mm"] = round(pen * 1000, 2)
    metrics["lowest_above_table_mm"] = round((lowest - TABLE_TOP) * 1000, 2)
    on_table = bool(lo[2] > TABLE_TOP - TUNNEL_DEPTH and abs(lo[0]) < 2 and abs(lo[1]) < 2)
    check("no_explosion", max_speed < MAX_SPEED, f"speed reached {max_speed:.1f}")
    check("no_tunnelling", lowest > TABLE_TOP - TUNNEL_DEPTH and on_table,
          f"lowest point {1000 * (lowest - TABLE_TOP):.1f} mm relative to the table top")
    check("penetration", pen <= MAX_PENETRATION, f"{pen * 1000:.1f} mm into the table")
    check("settles", settled, f"still moving after {settle_time:.1f} s (|v| {np.linalg.norm(d.qvel[:3]):.3f} m/s)")


def _sweep(model, asset: Asset, metrics: dict, check) -> None:
    """Push each joint to its upper then lower limit with a constant generalized force."""
    import mujoco

    d = mujoco.MjData(model)
    reach: dict[str, list[float]] = {}
    for j in asset.movable_joints():
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, j.name)
        qa, va = model.jnt_qposadr[jid], model.jnt_dofadr[jid]
        lo, hi = (j.range if j.type != "continuous" else [-math.pi / 2, math.pi / 2])
        span = hi - lo
        mujoco.mj_resetData(model, d)
        mujoco.mj_forward(model, d)
        M = float(model.dof_M0[va])
        force = 2 * (j.stiffness * max(abs(lo), abs(hi)) + j.frictionloss) + 4 * span * j.damping + 16 * M * span + 1e-3
        got = []
        ok = True
        for target, sign in ((hi, 1.0), (lo, -1.0)):
            d.qfrc_applied[:] = 0
            d.qfrc_applied[va] = sign * force
            steps = int(JOINT_TIME / model.opt.timestep)
            for _ in range(steps):
                mujoco.mj_step(model, d)
                if j.type == "continuous" and sign * (d.qpos[qa] - target) >= 0:
                    break
            q = float(d.qpos[qa])
            got.append(round(q, 4))
            if not np.isfinite(q) or abs(q - target) > REACH_TOL * span + (1e-3 if j.type == "prismatic" else 0.01):
                if j.type != "continuous" or sign * (q - target) < 0:
                    ok = False
        reach[j.name] = got
        check(f"joint:{j.name}", ok, f"reached {got} of range [{lo:.3f}, {hi:.3f}]")
    metrics["joint_reach"] = reach
