"""Opening a run directory and the problems it was created with."""

from __future__ import annotations

from pathlib import Path

from rlscope.boundary.benchmarks.base import Problem
from rlscope.errors import RlscopeError
from rlscope.store import Store


def open_run(run: Path, create: bool = False) -> Store:
    """The store of a run directory; a missing run is an error unless ``create``."""
    if not create and not (run / Store.FILENAME).exists():
        raise RlscopeError(f"{run} is not a run directory (no {Store.FILENAME}); run `rlscope boundary sample` or `import` first")
    return Store(run)


def check_same(store: Store, key: str, value: dict) -> None:
    """Refuse to mix settings in one run: the first command records ``value``; later ones must match it."""
    old = store.get_meta(key)
    if old is None:
        store.set_meta(key, value)
        return
    diff = {k: (old.get(k), v) for k, v in value.items() if old.get(k) != v}
    if diff:
        parts = ", ".join(f"{k}: run has {a!r}, asked {b!r}" for k, (a, b) in sorted(diff.items()))
        raise RlscopeError(f"{store.path.parent} was made with other settings ({parts}); use a new --run directory")


def problems_by_id(store: Store) -> dict[str, Problem]:
    return {p.problem_id: p for p, _ in store.problems()}
