"""Task files are untrusted: every path in task.json stays inside the task directory, checked before reading."""

import json
import shutil
from pathlib import Path

import pytest

from rlscope.errors import DataError
from rlscope.gen2sim.pipeline import STANDARD_DIR, copy_task
from rlscope.gen2sim.tasks.task import load_task, tree_digest


def _task(tmp_path: Path, name: str = "open_drawer") -> Path:
    task = tmp_path / "task"
    shutil.copytree(STANDARD_DIR / name, task)
    return task


def _edit(task: Path, fn) -> None:
    d = json.loads((task / "task.json").read_text())
    fn(d)
    (task / "task.json").write_text(json.dumps(d))


@pytest.mark.parametrize("ref, why", [("../../../../etc/hostname", "leaves the task directory"),
                                      ("/etc/hostname", "is absolute"),
                                      ("sub/../../outside.py", "leaves the task directory")])
def test_code_paths_that_leave_the_task_are_refused(tmp_path, ref, why):
    task = _task(tmp_path)
    (tmp_path / "outside.py").write_text("SECRET = 1\n")
    _edit(task, lambda d: d["subtasks"][0].update(code=ref))
    with pytest.raises(DataError, match=why) as err:
        load_task(task)
    assert "subtasks[0].code" in str(err.value)


def test_a_code_file_symlinked_out_of_the_task_is_refused(tmp_path):
    task = _task(tmp_path)
    secret = tmp_path / "host_secret.py"
    secret.write_text("KEY = 'hunter2'\n")
    (task / "open_drawer.py").unlink()
    (task / "open_drawer.py").symlink_to(secret)
    with pytest.raises(DataError, match="leaves the task directory"):
        load_task(task)
    inner = task / "real.py"  # a symlink that stays inside the task is fine
    inner.write_text((STANDARD_DIR / "open_drawer" / "open_drawer.py").read_text())
    (task / "open_drawer.py").unlink()
    (task / "open_drawer.py").symlink_to(inner)
    assert "compute_reward" in load_task(task).subtasks[0].code


def test_asset_directories_must_stay_inside_and_hold_no_symlink_out(tmp_path):
    task = _task(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "asset.json").write_text("{}")

    def use(ref):
        def fn(d):
            d["scene"]["assets"][0] = {"name": "cabinet", "dir": ref, "pos": [0, 0.25, 0]}
        return fn

    _edit(task, use(str(outside)))
    with pytest.raises(DataError, match=r"scene.assets\[0\].dir: .* is absolute"):
        load_task(task)
    _edit(task, use("../elsewhere"))
    with pytest.raises(DataError, match="leaves the task directory"):
        load_task(task)
    inside = task / "assets" / "cab"
    inside.mkdir(parents=True)
    (inside / "asset.json").write_text("{}")
    (inside / "mesh.obj").symlink_to(Path("/etc/hostname"))
    _edit(task, use("assets/cab"))
    with pytest.raises(DataError, match="is a symlink to /etc/hostname"):
        load_task(task)


def test_copies_of_a_task_are_told_apart_by_content(tmp_path):
    task = load_task(STANDARD_DIR / "put_cube_in_drawer")
    copy_task(task, tmp_path / "a")
    copy_task(task, tmp_path / "b")
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b") != {}
    (tmp_path / "b" / "place.py").write_text("# edited\n")
    a, b = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert [k for k in a if a[k] != b[k]] == ["place.py"]
