"""Procedural articulated assets: parametric generators with randomized dimensions, limits and damping.

Each generator is ``make_X(rng, *, asset_id=..., **dimensions) -> Asset``; unspecified dimensions
are drawn from ``rng``. Register more with ``PROCEDURAL.add(name, fn)`` or use ``module:function``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlscope.gen2sim.assets.asset import Asset
from rlscope.gen2sim.assets.procedural.cabinet import make_cabinet
from rlscope.gen2sim.assets.procedural.container import make_storage_box, make_trash_can
from rlscope.gen2sim.assets.procedural.faucet import make_faucet
from rlscope.gen2sim.assets.procedural.laptop import make_laptop
from rlscope.gen2sim.assets.procedural.microwave import make_microwave
from rlscope.gen2sim.assets.procedural.window import make_window
from rlscope.registry import Registry

PROCEDURAL: Registry = Registry("procedural asset")
PROCEDURAL.add("cabinet", make_cabinet)
PROCEDURAL.add("microwave", make_microwave)
PROCEDURAL.add("storage_box", make_storage_box)
PROCEDURAL.add("trash_can", make_trash_can)
PROCEDURAL.add("laptop", make_laptop)
PROCEDURAL.add("window", make_window)
PROCEDURAL.add("faucet", make_faucet)


def generate(kind: str, seed: int = 0, **params: Any) -> Asset:
    """Generate a procedural asset of ``kind`` with a seeded generator (same seed, same asset)."""
    fn = PROCEDURAL.get(kind)
    params.setdefault("asset_id", kind.rsplit(":", 1)[-1])
    return fn(np.random.default_rng(seed), **params)


__all__ = ["PROCEDURAL", "generate", "make_cabinet", "make_faucet", "make_laptop", "make_microwave",
           "make_storage_box", "make_trash_can", "make_window"]
