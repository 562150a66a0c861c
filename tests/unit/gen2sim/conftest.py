import os

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

for _mod in ("mujoco", "trimesh", "coacd", "cv2", "manifold3d", "skimage", "scipy"):
    pytest.importorskip(_mod)

from rlscope.gen2sim.assets.samples import DATA_DIR  # noqa: E402


@pytest.fixture(scope="session")
def data_dir():
    return DATA_DIR


@pytest.fixture(scope="session")
def pybullet_data():
    mod = pytest.importorskip("pybullet_data")
    from pathlib import Path

    return Path(mod.getDataPath())
