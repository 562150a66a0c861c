import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from rlscope.gen2sim.assets.samples import DATA_DIR  # noqa: E402


@pytest.fixture(scope="session")
def data_dir():
    return DATA_DIR


@pytest.fixture(scope="session")
def pybullet_data():
    from pathlib import Path

    import pybullet_data as mod

    return Path(mod.getDataPath())
