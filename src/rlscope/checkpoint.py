"""Atomic checkpoints: a Hugging Face model folder plus trainer state, written then renamed."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

STATE = "trainer_state.pt"


def save_checkpoint(path: Path, model, tokenizer, state: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> Path:
    """Write ``path`` atomically: a temp folder is filled, fsynced, then renamed over the old one."""
    import torch

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if state is not None:
        torch.save(state, tmp / STATE)
    if meta is not None:
        (tmp / "rlscope_meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    old = path.with_name(f".{path.name}.old{os.getpid()}")
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    if old.exists():
        shutil.rmtree(old)
    return path


def load_state(path: Path) -> dict[str, Any] | None:
    import torch

    f = Path(path) / STATE
    return torch.load(f, weights_only=False) if f.exists() else None


def rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def truncate_metrics(path: Path, key: str, last: int) -> None:
    """Drop the JSONL metric lines whose ``key`` (step, update) comes after ``last``: a resumed run
    redoes them from its checkpoint. Atomic: a kill leaves the old file or the cut one."""
    if not path.exists():
        return
    import json

    from rlscope.config import atomic_write_text

    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)[key] <= last]
    atomic_write_text(path, "".join(line + "\n" for line in keep))
