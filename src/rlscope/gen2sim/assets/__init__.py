"""Gen2Sim assets: image(s) | mesh | URDF | procedural kind -> a validated simulation asset.

Public API (heavy dependencies are imported lazily by the functions that need them):

* :class:`Asset` (and ``Link``, ``Joint``, ``Geom``, ``Handle``, ``Physics``, ``Inertial``): the
  ``asset.json`` schema, with ``to_json`` / ``from_json`` and ``describe()`` for language models.
* :func:`build` (and ``build_from_images``, ``build_from_mesh``, ``build_from_urdf``,
  ``build_procedural``), :func:`write_asset`, :func:`load_asset`.
* :func:`validate_asset` -> ``ValidationReport``; :func:`render_preview`.
* Stages: ``segment.segment_image``, ``lift.lift`` / ``lift.LIFTERS`` / ``lift.LearnedLifter``,
  ``mesh.repair_mesh`` / ``mesh.decompose``, ``physics.query_physics``, ``urdf.import_urdf``,
  ``mjcf.build_mjcf``, ``procedural.generate`` / ``procedural.PROCEDURAL``.
"""

from __future__ import annotations

from typing import Any

from rlscope.gen2sim.assets.asset import Asset, Geom, Handle, Inertial, Joint, Link, Physics

_LAZY = {
    "build": "rlscope.gen2sim.assets.build",
    "build_from_images": "rlscope.gen2sim.assets.build",
    "build_from_mesh": "rlscope.gen2sim.assets.build",
    "build_from_urdf": "rlscope.gen2sim.assets.build",
    "build_procedural": "rlscope.gen2sim.assets.build",
    "BuildOptions": "rlscope.gen2sim.assets.build",
    "write_asset": "rlscope.gen2sim.assets.build",
    "load_asset": "rlscope.gen2sim.assets.build",
    "validate_asset": "rlscope.gen2sim.assets.validate",
    "ValidationReport": "rlscope.gen2sim.assets.validate",
    "render_preview": "rlscope.gen2sim.assets.preview",
    "AssetConfig": "rlscope.gen2sim.assets.cli",
    "run_asset": "rlscope.gen2sim.assets.cli",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Asset", "Geom", "Handle", "Inertial", "Joint", "Link", "Physics", *_LAZY]
