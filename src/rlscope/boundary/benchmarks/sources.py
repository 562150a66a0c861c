"""Where benchmark rows come from: local JSONL files, the default data folders, the Hugging Face hub.

Shared by every loader. A local file is read line by line; each row carries a :class:`Where`
(file and 1-based line, or hub repo and row) so that a bad row is reported as ``path:line``.
Nothing here touches the network at import time: ``datasets`` is imported only when a
benchmark is actually loaded from the hub.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from rlscope.boundary.benchmarks.base import Kind, Problem
from rlscope.errors import DataError, RlscopeError

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "RLSCOPE_DATA_DIR"
"""Environment variable naming a data folder (one holding ``benchmarks/math/<name>/test.jsonl``)."""

ID_COLUMNS = ("id", "idx", "unique_id", "task_id")
"""Columns tried, in order, for a problem's own id; without one the row index is the id."""

HUB = "hub"
"""``data="hub"`` skips local files and loads from the Hugging Face hub."""

Loader = Callable[..., Iterable[Problem]]
"""``loader(data: str | None = None, fields: Mapping[str, str] | None = None) -> Iterable[Problem]``."""


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A named benchmark: how to load it and what to show in ``rlscope boundary benchmarks``."""

    name: str
    """Registry name (``math500``)."""
    kind: Kind
    """Which verifier its problems need."""
    description: str
    """One line for listings."""
    load: Loader
    """``load(data=None, fields=None)``: ``data`` a file, a folder, ``"hub"`` or None (default place)."""
    rows: int | None = None
    """Expected number of problems, where known."""
    locate: Callable[[], Path | None] | None = None
    """Where the default local file is (None: it would come from the hub)."""


class Where(NamedTuple):
    """The origin of one row, for error messages and fallback ids."""

    path: str
    """File path (or a ``hub ...`` description)."""
    line: int | None
    """1-based line in ``path``; None for hub rows."""
    index: int
    """0-based line number (files) or row index (hub): the id of a row without an id column."""

    def error(self, message: str) -> DataError:
        return DataError(message, self.path, self.line)


# ----------------------------------------------------------------------------- local files


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[dict[str, Any], Where]]:
    """Yield ``(row, where)`` for each non-blank line of a ``.jsonl`` (or ``.jsonl.gz``) file.

    Raises :class:`DataError` naming ``path:line`` for a line that is not a JSON object, and
    naming ``path`` for a file without any row.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    shown = str(path)
    rows = 0
    try:
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            for number, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise DataError(f"not valid JSON ({exc.msg} at column {exc.colno})", shown, number) from None
                if not isinstance(row, dict):
                    raise DataError(f"expected a JSON object, got {type(row).__name__}", shown, number)
                rows += 1
                yield row, Where(shown, number, number - 1)
    except FileNotFoundError:
        raise DataError("no such file", shown) from None
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"cannot read: {exc}", shown) from None
    if rows == 0:
        raise DataError("no problems: the file is empty", shown)


def count_rows(path: Path, max_bytes: int = 64 << 20) -> int | None:
    """Number of non-blank lines of a plain JSONL file (None when too large to count cheaply)."""
    try:
        if path.suffix == ".gz" or path.stat().st_size > max_bytes:
            return None
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return None


def resolve_data_file(data: str | os.PathLike[str], name: str, subdir: str = "") -> Path:
    """The JSONL file ``data`` points to: the file itself, or ``test.jsonl`` in a folder.

    A folder may also be a whole data folder: ``<data>/<subdir>/<name>/test.jsonl`` or
    ``<data>/<name>/test.jsonl`` are found too.
    """
    path = Path(data).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        tried = []
        for folder in (path, path / name, path / subdir / name if subdir else None):
            if folder is None:
                continue
            for file_name in ("test.jsonl", "test.jsonl.gz"):
                candidate = folder / file_name
                tried.append(str(candidate))
                if candidate.is_file():
                    return candidate
        raise DataError(f"no benchmark file for {name!r} in this folder (looked for {', '.join(tried)})", str(path))
    raise DataError(f"no such file or folder for benchmark {name!r}", str(path))


def _project_root() -> Path | None:
    """The source checkout holding this package (the folder with ``pyproject.toml``), if any."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "rlscope").is_dir():
            return parent
    return None


def default_data_dirs() -> list[Path]:
    """Data folders searched when no ``data`` is given, in order.

    ``$RLSCOPE_DATA_DIR`` if set; then a ``shared/data`` folder in the current directory or
    any folder above it, or beside the project checkout (``<project>/../shared/data``).
    """
    dirs: list[Path] = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        dirs.append(Path(env).expanduser())
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        dirs.append(folder / "shared" / "data")
    root = _project_root()
    if root is not None:
        dirs.append(root.parent / "shared" / "data")
    seen: set[Path] = set()
    unique = []
    for folder in dirs:
        if folder not in seen and folder.is_dir():
            seen.add(folder)
            unique.append(folder)
    return unique


def find_default_file(relative: str) -> Path | None:
    """The first ``<data dir>/<relative>`` that exists among :func:`default_data_dirs`."""
    for folder in default_data_dirs():
        candidate = folder / relative
        if candidate.is_file():
            return candidate
    return None


# ----------------------------------------------------------------------------- hub


@dataclasses.dataclass(frozen=True)
class HubSource:
    """A dataset on the Hugging Face hub."""

    repo: str
    """Dataset repo id (``HuggingFaceH4/MATH-500``)."""
    split: str
    """Split holding the benchmark."""
    config: str | None = None
    """Dataset configuration (``main`` for gsm8k)."""
    keep: Callable[[Mapping[str, Any]], bool] | None = None
    """Row filter, for repos holding more than the benchmark (AIME 2022-2024 -> 2024)."""
    options: tuple[tuple[str, Any], ...] = ()
    """Extra ``load_dataset`` keyword arguments (``version_tag``, ...)."""

    def describe(self) -> str:
        config = f" ({self.config})" if self.config else ""
        return f"{self.repo}{config} split {self.split}"


def read_hub(source: HubSource, name: str) -> Iterator[tuple[dict[str, Any], Where]]:
    """Yield ``(row, where)`` from a hub dataset; a clear :class:`RlscopeError` when it cannot."""
    try:
        import datasets  # noqa: PLC0415  (optional dependency, imported on use)
    except ImportError:
        raise RlscopeError(
            f"loading benchmark {name!r} from the hub ({source.describe()}) needs the `datasets` "
            f"package (pip install 'rlscope[hub]'); or pass data=PATH (a test.jsonl or a folder "
            f"holding one), or set ${DATA_DIR_ENV} to a data folder"
        ) from None
    logger.info("loading benchmark %s from the hub: %s", name, source.describe())
    try:
        dataset = datasets.load_dataset(source.repo, source.config, split=source.split, **dict(source.options))
    except Exception as exc:  # offline, unknown repo, gated, script-based, ...: one clear line
        raise RlscopeError(
            f"cannot load benchmark {name!r} from the hub ({source.describe()}): "
            f"{type(exc).__name__}: {exc}. Offline? Pass data=PATH to a local copy, or set ${DATA_DIR_ENV}"
        ) from exc
    shown = f"hub {source.describe()}"
    for index, row in enumerate(dataset):
        if source.keep is not None and not source.keep(row):
            continue
        yield dict(row), Where(f"{shown} row {index}", None, index)


# ----------------------------------------------------------------------------- rows -> fields


def dataset_rows(
    name: str, hub: HubSource, data: str | None, subdir: str, locate: Callable[[], Path | None] | None
) -> Iterator[tuple[dict[str, Any], Where]]:
    """Raw rows of a named set: from ``data`` (``"hub"`` for the hub), else its default local file, else the hub."""
    if data == HUB:
        return read_hub(hub, name)
    if data is not None:
        path = resolve_data_file(data, name, subdir=subdir)
    else:
        found = locate() if locate is not None else None
        if found is None:
            return read_hub(hub, name)
        path = found
    logger.info("loading benchmark %s from %s", name, path)
    return read_jsonl(path)


def check_fields(fields: Mapping[str, str] | None, allowed: Iterable[str], name: str) -> dict[str, str]:
    """Validate a field mapping (logical field -> column name)."""
    allowed = tuple(allowed)
    if not fields:
        return {}
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise RlscopeError(
            f"benchmark {name!r}: unknown field(s) {', '.join(unknown)} in the field mapping; "
            f"known: {', '.join(allowed)}"
        )
    for key, column in fields.items():
        if not isinstance(column, str) or not column:
            raise RlscopeError(f"benchmark {name!r}: field {key!r} must map to a column name, got {column!r}")
    return dict(fields)


def columns(fields: Mapping[str, str], key: str, defaults: tuple[str, ...]) -> tuple[str, ...]:
    """The columns to try for ``key``: the user's override, else the defaults."""
    return (fields[key],) if key in fields else defaults


def first_column(row: Mapping[str, Any], candidates: tuple[str, ...]) -> str | None:
    """The first of ``candidates`` present in ``row`` with a non-null value."""
    return next((c for c in candidates if row.get(c) is not None), None)


def problem_id(
    row: Mapping[str, Any], where: Where, candidates: tuple[str, ...] = ID_COLUMNS, required: bool = False
) -> str:
    """The row's own id (first present of ``candidates``), else its 0-based index, as a string."""
    column = first_column(row, candidates)
    if column is not None:
        return str(row[column])
    if required:
        raise where.error(f"no id column {candidates[0]!r} (columns: {', '.join(row) or 'none'})")
    return str(where.index)


def text_field(
    row: Mapping[str, Any], candidates: tuple[str, ...], what: str, pid: str, where: Where
) -> tuple[str, str]:
    """``(column, text)`` of the first present candidate; a :class:`DataError` naming the field otherwise."""
    column = first_column(row, candidates)
    if column is None:
        wanted = " or ".join(repr(c) for c in candidates)
        raise where.error(
            f"problem {pid}: no {what} field {wanted} (columns: {', '.join(row) or 'none'})"
        )
    value = row[column]
    if not isinstance(value, str):
        raise where.error(f"problem {pid}: {what} field {column!r} should be a string, got {type(value).__name__}")
    if not value.strip():
        raise where.error(f"problem {pid}: {what} field {column!r} is empty")
    return column, value


def number_text(value: Any) -> str:
    """A gold value as text: integral floats lose their ``.0`` (``27.0`` -> ``"27"``)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
