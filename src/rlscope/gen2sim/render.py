"""Rollout videos: recorded physics states rendered offscreen by MuJoCo, as frames or an animated GIF.

A rollout is recorded as ``mjSTATE_FULLPHYSICS`` vectors plus the equality activity (suction on or
off) of every step; each frame is drawn by setting that state, running ``mj_forward`` and rendering
from a named camera of the model.

MuJoCo picks its GL backend from ``MUJOCO_GL`` when it is first imported. When this process
imported it with a headless backend (``egl`` or ``osmesa``) the frames are drawn here; otherwise
(the default ``glfw`` needs a display) the model and the states go to a child process
(``python -m rlscope.gen2sim.render``) started with ``MUJOCO_GL`` set (default ``egl``), as the
asset preview does. Set ``MUJOCO_GL=egl`` before MuJoCo is imported to skip the child process.

Bodies that have no visual geometry (the free objects and the gripper of a scene carry only
collision geoms) are drawn with their collision geoms; the caller's model is not changed.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from rlscope.errors import RlscopeError

log = logging.getLogger(__name__)

HEADLESS_GL = ("egl", "osmesa")
"""MuJoCo GL backends that need no display."""
GL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri"
"""Debian packages of Mesa's EGL (``scripts/install-system-deps.sh`` installs them)."""
COLLISION_GROUP = 3
"""Geom group of collision-only geoms in the project's models (hidden by MuJoCo's default options)."""
MIN_FRAME_MS = 20
"""Shortest GIF frame browsers play as written (shorter frames are slowed down to 100 ms)."""


def render_frame(model: Any, state: np.ndarray, eq_active: np.ndarray | None = None, *, camera: str = "front",
                 width: int = 320, height: int = 240) -> np.ndarray:
    """Render one physics state.

    Parameters
    ----------
    model : mujoco.MjModel
    state : (nstate,) float
        An ``mjSTATE_FULLPHYSICS`` vector of ``model``.
    eq_active : (neq,) or None
        Equality activity to set (suction constraints); None keeps the model's defaults.
    camera : str
        Name of a camera of the model.
    width, height : int
        Image size in pixels.

    Returns
    -------
    (height, width, 3) uint8
    """
    eq = None if eq_active is None else np.asarray(eq_active)[None]
    return render_frames(model, np.asarray(state)[None], eq, camera=camera, width=width, height=height)[0]


def render_frames(model: Any, states: np.ndarray, eq_active: np.ndarray | None = None, *, camera: str = "front",
                  width: int = 320, height: int = 240, timeout_s: float | None = None) -> np.ndarray:
    """Render a sequence of physics states.

    Parameters
    ----------
    model : mujoco.MjModel
    states : (T, nstate) float
        ``mjSTATE_FULLPHYSICS`` vectors of ``model``.
    eq_active : (T, neq) or None
        Equality activity per state; None keeps the model's defaults.
    camera : str
        Name of a camera of the model.
    width, height : int
        Image size in pixels.
    timeout_s : float or None
        Limit for the child process, when one is needed (default: 60 s + 0.5 s per frame).

    Returns
    -------
    (T, height, width, 3) uint8

    Raises
    ------
    RlscopeError
        When no offscreen GL context can be created (names the Debian packages to install), or
        the states, equality activity or camera do not fit the model.
    """
    import mujoco

    states, eq = _check_inputs(model, states, eq_active, camera)
    if _gl_backend_here() in HEADLESS_GL:
        return _render_here(model, states, eq, camera, width, height)
    return _render_in_child(model, states, eq, camera, width, height,
                            timeout_s=60.0 + 0.5 * len(states) if timeout_s is None else timeout_s,
                            mjb_size=mujoco.mj_sizeModel(model))


def render_gif(model: Any, states: np.ndarray, eq_active: np.ndarray | None, path: str | Path, *, camera: str = "front",
               width: int = 320, height: int = 240, fps: float = 25.0, stride: int = 1, colors: int = 128) -> Path:
    """Render a rollout into an animated GIF that plays once per loop, forever.

    Parameters
    ----------
    model : mujoco.MjModel
    states : (T, nstate) float
        ``mjSTATE_FULLPHYSICS`` vectors of ``model``, one per recorded step.
    eq_active : (T, neq) or None
        Equality activity per state (suction on/off); None keeps the model's defaults.
    path : str or Path
        Where to write the GIF (parent folders are created).
    camera : str
        Name of a camera of the model.
    width, height : int
        Image size in pixels.
    fps : float
        Rate of the recorded states: state ``i`` is shown at ``i / fps`` seconds.
    stride : int
        Draw only every ``stride``-th state (each shown ``stride / fps`` s, so the duration stays);
        raised when needed so that no frame is shorter than :data:`MIN_FRAME_MS`.
    colors : int
        Size of the palette shared by all frames (at most 256).

    Returns
    -------
    Path
        ``path``.
    """
    if fps <= 0 or stride < 1 or not 2 <= colors <= 256:
        raise ValueError(f"need fps > 0, stride >= 1 and 2 <= colors <= 256; got fps={fps}, stride={stride}, colors={colors}")
    states = np.asarray(states)
    if states.ndim != 2 or len(states) == 0:
        raise RlscopeError(f"states must be a non-empty (T, nstate) array, got shape {states.shape}")
    stride = max(stride, math.ceil(MIN_FRAME_MS * fps / 1000.0))
    idx = np.arange(0, len(states), stride)
    eq = None if eq_active is None else np.asarray(eq_active)[idx]
    frames = render_frames(model, states[idx], eq, camera=camera, width=width, height=height)  # (F, H, W, 3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_gif(frames, path, frame_ms=1000.0 * stride / fps, colors=colors)
    log.info("wrote %s: %d frames of %dx%d", path, len(frames), width, height)
    return path


def write_gif(frames: np.ndarray, path: Path, *, frame_ms: float, colors: int = 128) -> None:
    """Write frames as a looping GIF with one palette for all frames (no colour flicker).

    Parameters
    ----------
    frames : (T, H, W, 3) uint8
    path : Path
    frame_ms : float
        Display time of each frame (GIF stores hundredths of a second).
    colors : int
        Palette size.
    """
    from PIL import Image

    frames = np.asarray(frames, dtype=np.uint8)
    pick = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), 8)).round().astype(int))
    sample = frames[pick].reshape(-1, frames.shape[2], 3)  # (S * H, W, 3)
    palette = Image.fromarray(sample).quantize(colors=colors, method=Image.Quantize.FASTOCTREE)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    duration = max(MIN_FRAME_MS, round(frame_ms / 10.0) * 10)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)
    os.replace(tmp, path)


def _check_inputs(model: Any, states: np.ndarray, eq_active: np.ndarray | None, camera: str) -> tuple[np.ndarray, np.ndarray | None]:
    import mujoco

    states = np.ascontiguousarray(states, dtype=np.float64)
    nstate = mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_FULLPHYSICS)
    if states.ndim != 2 or states.shape[1] != nstate:
        raise RlscopeError(f"states must have shape (T, {nstate}) (mjSTATE_FULLPHYSICS of this model), got {states.shape}")
    eq = None
    if eq_active is not None:
        eq = np.ascontiguousarray(eq_active, dtype=np.uint8)
        if eq.shape != (len(states), model.neq):
            raise RlscopeError(f"eq_active must have shape ({len(states)}, {model.neq}), got {eq.shape}")
    if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera) < 0:
        names = [model.camera(i).name for i in range(model.ncam)]
        raise RlscopeError(f"the model has no camera {camera!r}; it has {names}")
    return states, eq


def _gl_backend_here() -> str:
    """The GL backend MuJoCo was imported with in this process (``egl``, ``osmesa``, ``glfw``, ...)."""
    import mujoco

    ctx = getattr(mujoco, "GLContext", None)
    return (getattr(ctx, "__module__", "") or "").rsplit(".", 1)[-1]


def _render_model(model: Any, width: int, height: int) -> Any:
    """A copy of ``model`` whose bodies without visual geoms show their collision geoms, with an
    offscreen buffer of at least ``width`` x ``height``."""
    m = copy.deepcopy(model)
    group = np.asarray(m.geom_group)
    body = np.asarray(m.geom_bodyid)
    has_visual = np.zeros(m.nbody, dtype=bool)
    has_visual[body[group < COLLISION_GROUP]] = True
    show = (group == COLLISION_GROUP) & ~has_visual[body] & (body > 0)
    m.geom_group[show] = 1
    m.vis.global_.offwidth = max(m.vis.global_.offwidth, width)
    m.vis.global_.offheight = max(m.vis.global_.offheight, height)
    return m


def _gl_error(gl: str, reason: str) -> RlscopeError:
    return RlscopeError(
        f"MuJoCo offscreen rendering (MUJOCO_GL={gl}) failed: {reason.rstrip('. ')}. On Debian install {GL_PACKAGES} "
        "(scripts/install-system-deps.sh does), or libosmesa6 and set MUJOCO_GL=osmesa."
    )


def _render_here(model: Any, states: np.ndarray, eq_active: np.ndarray | None, camera: str, width: int, height: int) -> np.ndarray:
    """Render in this process. states: (T, nstate), eq_active: (T, neq) or None -> (T, H, W, 3) uint8."""
    import mujoco

    m = _render_model(model, width, height)
    data = mujoco.MjData(m)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    frames = np.empty((len(states), height, width, 3), dtype=np.uint8)
    try:
        renderer = mujoco.Renderer(m, height, width)
    except Exception as exc:  # the GL backends raise assorted errors (ImportError, RuntimeError, EGL errors)
        raise _gl_error(_gl_backend_here(), f"{type(exc).__name__}: {exc}") from exc
    with renderer:
        for t, state in enumerate(states):
            mujoco.mj_setState(m, data, state, spec)
            if eq_active is not None:
                data.eq_active[:] = eq_active[t]
            mujoco.mj_forward(m, data)
            renderer.update_scene(data, camera=camera)
            frames[t] = renderer.render()
    return frames


def _render_in_child(model: Any, states: np.ndarray, eq_active: np.ndarray | None, camera: str, width: int, height: int, *,
                     timeout_s: float, mjb_size: int) -> np.ndarray:
    """Render in ``python -m rlscope.gen2sim.render`` with ``MUJOCO_GL`` set; the model travels as MJB."""
    import mujoco

    gl = os.environ.get("MUJOCO_GL") or "egl"
    env = {**os.environ, "MUJOCO_GL": gl}
    if gl in HEADLESS_GL:
        env.setdefault("PYOPENGL_PLATFORM", gl)
    with tempfile.TemporaryDirectory(prefix="rlscope-render-") as tmp:
        work = Path(tmp)
        buf = np.empty(mjb_size, dtype=np.uint8)
        mujoco.mj_saveModel(model, None, buf)
        (work / "model.mjb").write_bytes(buf.tobytes())
        np.save(work / "states.npy", states)
        if eq_active is not None:
            np.save(work / "eq_active.npy", eq_active)
        cmd = [sys.executable, "-m", "rlscope.gen2sim.render", str(work), camera, str(width), str(height)]
        try:
            proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise _gl_error(gl, f"timed out after {timeout_s:.0f} s") from None
        out = work / "frames.npy"
        if proc.returncode != 0 or not out.exists():
            reason = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}, no output"])[-1]
            raise _gl_error(gl, reason)
        return np.load(out)


def _main(argv: list[str]) -> int:
    """Child process: ``WORK CAMERA WIDTH HEIGHT``; reads model.mjb, states.npy (eq_active.npy), writes frames.npy."""
    import mujoco

    work, camera, width, height = Path(argv[0]), argv[1], int(argv[2]), int(argv[3])
    model = mujoco.MjModel.from_binary_path(str(work / "model.mjb"))
    states = np.load(work / "states.npy")
    eq_path = work / "eq_active.npy"
    eq = np.load(eq_path) if eq_path.exists() else None
    try:
        frames = _render_here(model, states, eq, camera, width, height)
    except RlscopeError as exc:  # report the GL failure itself; the parent adds the advice
        cause = exc.__cause__
        print(f"{type(cause).__name__}: {cause}" if cause is not None else str(exc), file=sys.stderr)
        return 1
    np.save(work / "frames.npy", frames)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
