"""Benchmarks for the reasoning-boundary system: one call turns a name into a list of problems.

>>> problems = load_benchmark("math500", limit=5)          # local data folder, else the hub
>>> problems = load_benchmark("gsm8k", data="gsm8k/test.jsonl")
>>> problems = load_benchmark("jsonl:my.jsonl", fields={"question": "prompt"})

A name is one of :data:`BENCHMARKS` (``rlscope boundary benchmarks`` lists them), ``jsonl:PATH``
for any JSONL file, or a ``module:function`` loader. Users add their own with
``BENCHMARKS.add("mine", Benchmark(...))`` or ``BENCHMARKS.add("mine", my_loader)``, where a
loader is ``my_loader(data=None, fields=None) -> Iterable[Problem]`` (both arguments optional).

Without ``data``, a named benchmark is read from ``$RLSCOPE_DATA_DIR``, else a ``shared/data``
folder in or above the current directory or beside the project, else the Hugging Face hub
(needs ``datasets``). ``data="hub"`` goes to the hub directly.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import itertools
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from rlscope.boundary.benchmarks.base import Kind, Problem
from rlscope.boundary.benchmarks.code import code_benchmarks
from rlscope.boundary.benchmarks.jsonl import PREFIX as JSONL_PREFIX
from rlscope.boundary.benchmarks.jsonl import load_jsonl
from rlscope.boundary.benchmarks.math import math_benchmarks
from rlscope.boundary.benchmarks.sources import HUB, Benchmark, Loader, count_rows
from rlscope.errors import RlscopeError
from rlscope.registry import Registry, import_object

logger = logging.getLogger(__name__)

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "BenchmarkInfo",
    "Problem",
    "list_benchmarks",
    "load_benchmark",
]

BENCHMARKS: Registry[Benchmark | Loader] = Registry("benchmark")
"""Known benchmarks: :class:`Benchmark` entries or plain loader functions."""

for _bench in (*math_benchmarks(), *code_benchmarks()):
    BENCHMARKS.add(_bench.name, _bench)


@dataclasses.dataclass(frozen=True)
class BenchmarkInfo:
    """One row of ``rlscope boundary benchmarks``."""

    name: str
    kind: str | None
    """``math``/``code``/``choice``; None for a plain loader function."""
    source: str
    """The local file that would be read, ``hub``, or ``custom`` for a plain loader."""
    rows: int | None
    """Number of problems, when known without loading."""
    description: str


def _resolve(name: str) -> Benchmark | Loader:
    if name in BENCHMARKS:
        return BENCHMARKS.get(name)
    if ":" in name:
        return import_object(name)  # type: ignore[return-value]
    raise RlscopeError(
        f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS.names())}; "
        f"or {JSONL_PREFIX}PATH for a JSONL file, or a module:function loader"
    )


def _call(loader: Loader, name: str, data: str | None, fields: Mapping[str, str] | None) -> Iterable[Problem]:
    """Call a loader with the arguments it was given (a loader may take neither)."""
    if not callable(loader):
        raise RlscopeError(f"benchmark {name!r} is a {type(loader).__name__}, not a loader function or Benchmark")
    kwargs: dict[str, Any] = {}
    if data is not None:
        kwargs["data"] = data
    if fields:
        kwargs["fields"] = dict(fields)
    try:
        inspect.signature(loader).bind(**kwargs)
    except TypeError:
        given = ", ".join(kwargs)
        raise RlscopeError(f"benchmark {name!r}: its loader does not accept {given}") from None
    except ValueError:  # no signature (builtins): just call it
        pass
    return loader(**kwargs)


def load_benchmark(
    name: str,
    data: str | None = None,
    limit: int | None = None,
    fields: dict[str, str] | None = None,
    *,
    kind: Kind | None = None,
    allow_hub: bool = True,
) -> list[Problem]:
    """Load a benchmark's problems.

    Parameters
    ----------
    name : str
        A registered name (``math500``, ``humaneval``, ...), ``jsonl:PATH``, or ``module:function``.
    data : str, optional
        A local file, or a folder holding ``test.jsonl``; ``"hub"`` for the Hugging Face hub.
        Default: the data folders (``$RLSCOPE_DATA_DIR``, ``shared/data``), else the hub.
    limit : int, optional
        Keep the first ``limit`` problems (the rest is not read).
    fields : dict, optional
        Column names for ``id``/``question``/``answer`` where they differ from the defaults.
    kind : {"math", "code", "choice"}, optional
        Problem kind for ``jsonl:`` benchmarks (default ``math``).
    allow_hub : bool
        False: raise :class:`RlscopeError` instead of loading from the Hugging Face hub.

    Returns
    -------
    list of Problem
        In file order, with unique ``problem_id`` strings.
    """
    if limit is not None and limit < 0:
        raise RlscopeError(f"limit must be >= 0, got {limit}")
    if name.startswith(JSONL_PREFIX):
        path = name[len(JSONL_PREFIX) :]
        if not path:
            raise RlscopeError(f"{JSONL_PREFIX}PATH needs a path, got {name!r}")
        if data is not None:
            raise RlscopeError(f"{name!r} names its file already; data={data!r} is not used with {JSONL_PREFIX}")
        problems: Iterable[Problem] = load_jsonl(path, fields, kind or "math")
    else:
        entry = _resolve(name)
        loader = entry.load if isinstance(entry, Benchmark) else entry
        if not allow_hub and isinstance(entry, Benchmark) and _from_hub(entry, data):
            raise RlscopeError(
                f"benchmark {name!r} has no local copy (pass data=PATH or set $RLSCOPE_DATA_DIR) "
                "and loading from the hub is not allowed here"
            )
        if kind is not None and not (isinstance(entry, Benchmark) and entry.kind == kind):
            raise RlscopeError(f"kind= applies to {JSONL_PREFIX}PATH benchmarks; {name!r} has its own kind")
        problems = _call(loader, name, data, fields)
    loaded = list(itertools.islice(problems, limit))
    _check(loaded, name)
    logger.info("benchmark %s: %d problems", name, len(loaded))
    return loaded


def _from_hub(entry: Benchmark, data: str | None) -> bool:
    """Whether ``entry`` would be read from the hub for this ``data``."""
    if data is not None:
        return data == HUB
    return entry.locate is None or entry.locate() is None


def _check(problems: list[Problem], name: str) -> None:
    """Loader output is a list of :class:`Problem` with unique ids."""
    for problem in problems:
        if not isinstance(problem, Problem):
            raise RlscopeError(f"benchmark {name!r}: its loader yielded a {type(problem).__name__}, not a Problem")
    counts = collections.Counter(p.problem_id for p in problems)
    duplicates = [pid for pid, n in counts.items() if n > 1]
    if duplicates:
        shown = ", ".join(repr(d) for d in duplicates[:5])
        raise RlscopeError(
            f"benchmark {name!r}: duplicate problem_id {shown}"
            f"{' ...' if len(duplicates) > 5 else ''}; map a unique id column with fields={{'id': ...}}"
        )


def list_benchmarks() -> list[BenchmarkInfo]:
    """Every registered benchmark, with where it would be loaded from (nothing is downloaded)."""
    infos = []
    for name in BENCHMARKS:
        entry = BENCHMARKS.get(name)
        if isinstance(entry, Benchmark):
            local = entry.locate() if entry.locate is not None else None
            rows = (count_rows(local) or entry.rows) if local is not None else entry.rows
            infos.append(BenchmarkInfo(name, entry.kind, str(local) if local else "hub", rows, entry.description))
        else:
            doc = (inspect.getdoc(entry) or "").strip().splitlines()
            kind = getattr(entry, "kind", None)
            infos.append(BenchmarkInfo(name, kind, "custom", getattr(entry, "rows", None), doc[0] if doc else ""))
    return infos
