"""One atomic save for arrays: a .npy, or a dict as a compressed .npz, never left half-written."""

import numpy as np
import pytest

from rlscope.config import atomic_save_numpy


def test_array_and_dict_round_trip_and_leave_no_temp_file(tmp_path):
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    atomic_save_numpy(tmp_path / "states.npy", a)
    atomic_save_numpy(tmp_path / "frames.npz", {"states": a, "eq_active": np.zeros((0, 0))})
    assert np.array_equal(np.load(tmp_path / "states.npy"), a)
    with np.load(tmp_path / "frames.npz") as z:
        assert set(z.files) == {"states", "eq_active"} and np.array_equal(z["states"], a)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.npz", "states.npy"]


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "end_states.npy"
    atomic_save_numpy(path, np.ones(3))

    def broken(file, arr, *a, **k):
        open(file, "wb").write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", broken)
    with pytest.raises(OSError):
        atomic_save_numpy(path, np.zeros(3))
    monkeypatch.undo()
    assert np.array_equal(np.load(path), np.ones(3))
