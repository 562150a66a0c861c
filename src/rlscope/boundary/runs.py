"""Run directories: opening one, the settings it was made with, and its one writer at a time."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlscope.boundary.benchmarks.base import Problem
from rlscope.errors import RlscopeError
from rlscope.store import Store

LOCK = "writer.lock"
"""File in a run directory that the command writing to it holds locked (``flock``)."""


def _not_a_file(run: Path) -> None:
    if run.exists() and not run.is_dir():
        raise RlscopeError(f"{run}: is a file; --run names a directory (it is created if needed)")


def open_run(run: Path, create: bool = False) -> Store:
    """The store of a run directory; a missing run is an error unless ``create``."""
    _not_a_file(run)
    if not create and not (run / Store.FILENAME).exists():
        raise RlscopeError(f"{run} is not a run directory (no {Store.FILENAME}); run `rlscope boundary sample` or `import` first")
    return Store(run)


@contextlib.contextmanager
def writer(run: Path, command: str) -> Iterator[None]:
    """Hold the run's writer lock while ``command`` changes it; a second writer stops with one line.

    Readers (``passk``, ``export``) take no lock: the store's WAL lets them read alongside."""
    _not_a_file(run)
    run.mkdir(parents=True, exist_ok=True)
    fd = os.open(run / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise RlscopeError(f"{run} is being written by {holder}; wait for it to finish (one sample/verify/import "
                               "per run at a time; passk and export can run alongside)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"rlscope boundary {command} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)


def normalise(key: str, value: Any) -> Any:
    """A setting as it is compared and recorded: paths absolute and without a trailing slash (a model
    folder, ``jsonl:PATH``, a data file), so that a run resumes from any working directory."""
    if not isinstance(value, str) or not value:
        return value
    if key == "benchmark" and value.startswith("jsonl:"):
        return "jsonl:" + str(Path(value[6:]).expanduser().resolve())
    if key in ("model", "data"):
        path = Path(value.rstrip("/") or "/").expanduser()
        if path.exists() or value.startswith((".", "/", "~")):
            return str(path.resolve())
        return value.rstrip("/")  # a hub id or a served model name
    return value


def check_same(store: Store, key: str, value: dict) -> dict:
    """Refuse to mix settings in one run: compare ``value`` with what the run recorded under ``key``.

    Returns the normalised settings; record them with :func:`record` once the command has stored
    something (a command that failed before that leaves nothing behind)."""
    value = {k: normalise(k, v) for k, v in value.items()}
    old = store.get_meta(key)
    if old is None:
        return value
    old = {k: normalise(k, v) for k, v in old.items()}
    diff = {k: (old.get(k), v) for k, v in value.items() if old.get(k) != v}
    if diff:
        parts = ", ".join(f"{k}: run has {a!r}, asked {b!r}" for k, (a, b) in sorted(diff.items()))
        raise RlscopeError(f"{store.path.parent} was made with other settings ({parts}); use a new --run directory")
    return value


def record(store: Store, key: str, value: dict) -> None:
    """Record settings checked by :func:`check_same` (once; later calls change nothing)."""
    if store.get_meta(key) is None:
        store.set_meta(key, value)


def stored_problems(store: Store) -> list[tuple[Problem, str | None]]:
    """The run's problems, in benchmark order, with their prompts."""
    return [(Problem(**fields), prompt) for fields, prompt in store.problems()]


def problems_by_id(store: Store) -> dict[str, Problem]:
    return {p.problem_id: p for p, _ in stored_problems(store)}
