"""`rlscope gen2sim asset IMAGE|MESH|URDF|MJCF --name N`: build, validate and preview one asset.

Writes ``OUT/NAME/``: ``meshes/visual.obj`` (vertex colours), ``hulls/hull_*.obj`` (convex
collision parts), ``model.urdf``, ``model.xml`` (MJCF), ``semantics.txt`` (PartNet-Mobility style),
``asset.json`` (the :class:`~rlscope.gen2sim.assets.asset.Asset` schema), ``validation.json``,
``preview.png`` and ``manifest.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import tyro

from rlscope.errors import RlscopeError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AssetConfig:
    """`rlscope gen2sim asset`: image(s), mesh, URDF or procedural:KIND -> a validated simulation asset."""

    input: Annotated[list[Path], tyro.conf.Positional]
    """IMAGE [IMAGE ...] (several images: views for a visual hull), a MESH (.obj/.stl/.ply/.glb), a URDF, a PartNet-Mobility directory (mobility.urdf, semantics.txt, ...), an MJCF object (.xml: robosuite, Meta-World, Franka Kitchen files as they ship; FILE.semantics.json beside it names parts), or procedural:KIND (cabinet, microwave, storage_box, trash_can, laptop, window, faucet)."""
    name: str
    """Asset id; the asset is written to OUT/NAME/."""
    category: str | None = None
    """What the object is (mug, bottle, box, cabinet, ...): picks table physics and the lifting method (PartNet-Mobility:
    default from its meta.json). An unknown one gets generic defaults, with a warning listing the known ones."""
    out: Path = Path("assets")
    """Output root."""
    method: str = "auto"
    """Lifting method: auto | revolution | extrusion | visual_hull, a registered learned lifter (hunyuan3d, trellis) or module:Class."""
    azimuths: tuple[float, ...] | None = None
    """visual_hull: azimuth of each view in degrees (default 0, 90, 180, 270)."""
    lifter: str | None = None
    """A learned lifter tried first when method is auto (used only if its package, local weights and a GPU are there)."""
    lifter_weights: str | None = None
    """Local weights directory of the learned lifter (nothing is downloaded)."""
    llm: str = "offline"
    """Language model for the physics query: offline (the documented tables), openai:MODEL@URL (key from
    $OPENAI_API_KEY) or hf:PATH; answers are cached under OUT/llm_cache."""
    llm_timeout_s: float = 60.0
    """Timeout of the query, seconds."""
    seed: int = 0
    """Seed of the physics draws (size, mass) and of procedural generators."""
    sample_physics: bool = True
    """Draw size and mass uniformly from the ranges; --no-sample-physics takes the midpoints."""
    size_cm: float | None = None
    """Override the longest side, cm (images, meshes, URDFs: scaled uniformly)."""
    mass_g: float | None = None
    """Override the mass, g (URDFs: every link's mass scaled to this total)."""
    up_axis: Literal["+x", "-x", "+y", "-y", "+z", "-z", "x", "y", "z"] | None = None
    """Mesh and URDF inputs: the file's up axis (default +z; PartNet-Mobility's mobility.urdf is z-up already)."""
    front: Literal["+x", "-x", "+y", "-y", "+z", "-z"] | None = None
    """Mesh and URDF inputs: the side of the file that faces the viewer (doors, drawers, handles); turned to -y.
    Default: -x for PartNet-Mobility, +z when --up-axis is y, else -y."""
    keep_scale: bool = False
    """Mesh inputs: keep the file's size (in metres) even when it is implausible for the category (a size
    within 3x of the category's range is kept anyway, unless --size-cm)."""
    base: Literal["auto", "fixed", "free"] = "auto"
    """URDF inputs: stand fixed in the world or free; auto: articulated furniture (cabinet, microwave,
    refrigerator, ...) and articulated assets over 10 kg stand fixed, the rest free."""
    resolution: int = 64
    """Voxel resolution of extrusion / visual hull / remeshing."""
    coacd_threshold: float = 0.05
    """CoACD concavity threshold (lower: more, tighter hulls; slower)."""
    coacd_max_hulls: int = 16
    """Upper bound on collision hulls."""
    coacd_iterations: int = 30
    """CoACD MCTS iterations per cut."""
    coacd_timeout_s: float = 60.0
    """Budget of the convex decomposition; past it the convex hull is used (with a warning)."""
    closed: tuple[str, ...] = ()
    """Which end of a joint's range is closed, as JOINT=lower or JOINT=upper (overrides what the importer
    inferred: the end nearer 0), e.g. --closed door_joint=upper."""
    box: str | None = None
    """Photo inputs: the object's box as x0,y0,x1,y1 in the photo's pixels, to guide the segmentation."""
    point: str | None = None
    """Photo inputs: a pixel of the object as x,y, to guide the segmentation."""
    accept_doubtful: bool = False
    """Photo inputs: build from a doubtful cut-out (touching the border, several similar regions, a weak
    outline) instead of stopping; either way the mask over the photo is written to OUT/NAME/segmentation.png."""
    segmenter: str = "grabcut"
    """Photo inputs: grabcut (saliency and GrabCut, or the alpha channel), or a registered segmenter /
    module:object (e.g. a learned one with local weights)."""
    validate: bool = True
    """Load in MuJoCo, drop on a table, check size, mass and joint ranges (validation.json)."""
    keep_going: bool = False
    """Exit 0 even when validation fails (the asset and validation.json are written either way; by default
    a failed validation ends the command with exit status 2)."""
    preview: Literal["auto", "mujoco", "projection", "none"] = "auto"
    """Preview image: MuJoCo offscreen (MUJOCO_GL, default egl) with a projection fallback."""


def build_options(cfg: AssetConfig):
    from rlscope.gen2sim.assets.build import BuildOptions
    from rlscope.gen2sim.assets.mesh import CoacdSettings
    from rlscope.gen2sim.assets.physics import LLMOptions

    from rlscope.llm.chat import parse_llm

    parse_llm(cfg.llm)  # one clear line for a malformed --llm, before any work
    return BuildOptions(
        box=parse_pixels(cfg.box, "--box", "x0,y0,x1,y1", 4), point=parse_pixels(cfg.point, "--point", "x,y", 2),
        accept_doubtful=cfg.accept_doubtful, segmenter=cfg.segmenter, mask_dir=str(cfg.out / cfg.name),
        category=cfg.category, method=cfg.method, seed=cfg.seed, sample_physics=cfg.sample_physics,
        llm=LLMOptions(llm=cfg.llm, cache_dir=str(cfg.out / "llm_cache"), timeout_s=cfg.llm_timeout_s),
        size_cm=cfg.size_cm, mass_g=cfg.mass_g, azimuths=cfg.azimuths, lifter=cfg.lifter,
        lifter_weights=cfg.lifter_weights, resolution=cfg.resolution, up_axis=cfg.up_axis, front=cfg.front,
        keep_scale=cfg.keep_scale, fixed_base=None if cfg.base == "auto" else cfg.base == "fixed",
        coacd=CoacdSettings(threshold=cfg.coacd_threshold, max_convex_hull=cfg.coacd_max_hulls,
                            mcts_iterations=cfg.coacd_iterations, timeout_s=cfg.coacd_timeout_s, seed=cfg.seed),
    )


def parse_pixels(text: str | None, option: str, form: str, count: int) -> tuple[int, ...] | None:
    """``"10,20,30,40"`` -> (10, 20, 30, 40); one clear error naming ``option`` otherwise."""
    if text is None:
        return None
    try:
        values = tuple(int(round(float(v))) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or min(values) < 0:
        raise RlscopeError(f"{option} {text!r}: expected {form}, non-negative pixel coordinates")
    return values


def set_closed_ends(asset, specs: tuple[str, ...]) -> None:
    """Apply ``--closed JOINT=lower|upper`` to the asset's joints (one clear error for a bad spec or name)."""
    movable = {j.name: j for j in asset.movable_joints()}
    for spec in specs:
        name, _, end = spec.partition("=")
        if end not in ("lower", "upper"):
            raise RlscopeError(f"--closed {spec!r}: expected JOINT=lower or JOINT=upper")
        if name not in movable:
            raise RlscopeError(f"--closed {spec!r}: asset {asset.asset_id} has no movable joint {name!r} "
                               f"(it has {', '.join(sorted(movable)) or 'none'})")
        movable[name].closed = end


def run_asset(cfg: AssetConfig) -> dict[str, Any]:
    """Build OUT/NAME/ and return a summary (also written into validation.json / asset.json)."""
    import re

    from rlscope.config import atomic_write_text, write_manifest
    from rlscope.gen2sim.assets.build import build, save_asset_json, write_asset
    from rlscope.gen2sim.assets.preview import render_preview
    from rlscope.gen2sim.assets.validate import validate_asset

    if not re.fullmatch(r"[A-Za-z0-9_.-]+", cfg.name):
        raise RlscopeError(f"--name must be letters, digits, '_', '-' or '.', got {cfg.name!r}")
    t0 = time.perf_counter()
    built = build(cfg.input, cfg.name, build_options(cfg))
    set_closed_ends(built.asset, cfg.closed)
    out_dir = cfg.out / cfg.name
    write_asset(built, out_dir)
    asset = built.asset
    timings = asset.params.setdefault("timings", {})
    report = None
    if cfg.validate:
        t = time.perf_counter()
        report = validate_asset(asset, out_dir)
        timings["validate"] = round(time.perf_counter() - t, 4)
        atomic_write_text(out_dir / "validation.json", json.dumps(report.to_dict(), indent=2) + "\n")
        asset.files["validation"] = "validation.json"
    preview_by = None
    if cfg.preview != "none":
        t = time.perf_counter()
        preview_by = render_preview(asset, out_dir, out_dir / "preview.png", backend=cfg.preview)
        timings["preview"] = round(time.perf_counter() - t, 4)
        asset.files["preview"] = "preview.png"
        asset.params["preview_renderer"] = preview_by
    if asset.source == "image" and (out_dir / "segmentation.png").exists():
        asset.files["segmentation"] = "segmentation.png"
        if cfg.preview != "none":
            beside_photo(out_dir / "preview.png", out_dir / "segmentation.png")
    timings["total"] = round(time.perf_counter() - t0, 4)
    save_asset_json(asset, out_dir)
    write_manifest(out_dir, "gen2sim asset", cfg, extra={"timings": timings})
    summary = {
        "asset_id": asset.asset_id,
        "dir": str(out_dir),
        "source": asset.source,
        "category": asset.category,
        "links": len(asset.links),
        "joints": [f"{j.name} ({j.type}, closed at {j.closed_end()})" for j in asset.movable_joints()],
        "handles": [h.name + (f" ({h.joint})" if h.joint else "") for h in asset.handles],
        "fixed_base": asset.fixed_base,
        "size_m": [round(v, 4) for v in asset.physics.size] if asset.physics else None,
        "mass_kg": round(asset.physics.mass, 4) if asset.physics else None,
        "material": asset.physics.material if asset.physics else None,
        "physics_source": asset.physics.source if asset.physics else None,
        "method": asset.params.get("lift_method"),
        "hulls": sum(len(link.collisions) for link in asset.links),
        "valid": report.ok if report else None,
        "failures": report.failures if report else [],
        "preview": preview_by,
        "segmentation": asset.files.get("segmentation"),
        "warnings": list(asset.warnings),
        "timings": timings,
    }
    return summary


def beside_photo(preview: Path, overlay: Path) -> None:
    """Put the mask over the photo to the right of the rendered asset, in ``preview``."""
    from PIL import Image

    with Image.open(preview) as a, Image.open(overlay) as b:
        a, b = a.convert("RGB"), b.convert("RGB")
        b = b.resize((max(1, round(b.width * a.height / b.height)), a.height))
        both = Image.new("RGB", (a.width + b.width, a.height), "white")
        both.paste(a, (0, 0))
        both.paste(b, (a.width, 0))
    both.save(preview)


def format_summary(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, value) rows for a printed table."""
    rows = [
        ("asset", f"{summary['asset_id']} ({summary['source']}" + (f", {summary['category']})" if summary["category"] else ")")),
        ("written to", summary["dir"]),
        ("size (m)", " x ".join(f"{v:.3f}" for v in summary["size_m"]) if summary["size_m"] else "-"),
        ("mass (kg)", f"{summary['mass_kg']:.3f} ({summary['material']}, from {summary['physics_source']})"),
        ("links / hulls", f"{summary['links']} / {summary['hulls']}"),
    ]
    if summary["method"]:
        rows.append(("lift method", summary["method"]))
    if summary["joints"]:
        rows.append(("joints", ", ".join(summary["joints"])))
    if summary["handles"]:
        rows.append(("handles", ", ".join(summary["handles"])))
    if summary.get("fixed_base"):
        rows.append(("base", "fixed to the world"))
    if summary["valid"] is not None:
        rows.append(("validation", "ok" if summary["valid"] else "FAILED: " + "; ".join(summary["failures"])))
    if summary["preview"]:
        rows.append(("preview", summary["preview"] + (" (beside the mask over the photo)" if summary.get("segmentation") else "")))
    if summary.get("segmentation"):
        rows.append(("mask over the photo", summary["segmentation"]))
    rows.append(("time (s)", ", ".join(f"{k} {v:.2f}" for k, v in summary["timings"].items())))
    for w in summary["warnings"]:
        rows.append(("warning", w))
    return rows
