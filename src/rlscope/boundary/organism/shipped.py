"""Organism checkpoints shipped with the package (reproduce them with `rlscope boundary pretrain`)."""

from __future__ import annotations

from pathlib import Path

from rlscope.errors import RlscopeError

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"

REPRODUCE = {
    "base": "rlscope boundary pretrain --out DIR --seed 0 --traces 300000",
    "teacher": "rlscope boundary pretrain --out DIR --slip-prob 0 --long-share 0 --no-sign-error --division --seed 1",
}


def shipped_model(name: str) -> str:
    """``shipped:base`` / ``shipped:teacher`` -> the bundled folder; anything else is a path or hub id."""
    if not name.startswith("shipped:"):
        return name
    key = name.split(":", 1)[1]
    path = CHECKPOINTS / key
    if not (path / "config.json").exists():
        known = ", ".join(sorted(REPRODUCE))
        raise RlscopeError(f"no shipped organism model {key!r} (known: {known}); build one with: {REPRODUCE.get(key, REPRODUCE['base'])}")
    return str(path)
