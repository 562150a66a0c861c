import importlib.util
import os
from pathlib import Path

import pytest

pytest_plugins = ["ci_skips"]  # in CI, a skip for a missing required component fails

# tests of an optional extra that lives in its own environment run there (`make test-lerobot`, `make test-vllm`;
# CI runs both); the main environment, which cannot hold them beside its own pins, does not collect them
collect_ignore = [f"{extra}_extra" for extra in ("lerobot", "vllm") if importlib.util.find_spec(extra) is None]

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "benchmarks").is_dir():
        pytest.skip("shared benchmark data (../shared/data) not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained tiny Llama in HF format, built once per test session."""
    import torch

    torch.set_num_threads(1)
    from rlscope.llm.tiny import TinyModelConfig, build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", TinyModelConfig(max_position_embeddings=256))
