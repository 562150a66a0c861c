"""Shared config pieces: run directories and manifests (resolved config, versions, git SHA, seed)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
HISTORY = "history.jsonl"

_VERSIONED = ("rlscope", "numpy", "torch", "transformers", "tokenizers", "math-verify", "vllm", "pyarrow")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_sha() -> str | None:
    """The SHA of the rlscope source checkout, when it is one (``-dirty`` if modified)."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("-dirty" if dirty else "")


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file + fsync + rename)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_save_numpy(path: Path, data: Any) -> None:
    """Save an array to ``path`` (``.npy``), or a dict of arrays compressed (``.npz``), atomically (temp file + rename)."""
    import numpy as np

    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    if isinstance(data, dict):
        np.savez_compressed(tmp, **data)
    else:
        np.save(tmp, data)
    os.replace(tmp, path)


def write_manifest(run_dir: Path, command: str, config: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record a command in the run: ``manifest.json`` (latest per command) and ``history.jsonl`` (all)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    entry = {
        "command": command,
        "config": to_jsonable(config),
        "seed": getattr(config, "seed", None),
        "versions": package_versions(),
        "git_sha": git_sha(),
        "argv": sys.argv[1:],
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    path = run_dir / MANIFEST
    manifest: dict[str, Any] = {}
    if path.exists():
        try:
            manifest = json.loads(path.read_text())
        except json.JSONDecodeError:
            manifest = {}
    manifest[command] = entry
    atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    with open(run_dir / HISTORY, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
    return entry
