"""Static checks of task code: what it imports, touches and names is checked before it ever runs."""

from pathlib import Path

import pytest

from rlscope.gen2sim.pipeline import STANDARD_DIR, standard_tasks
from rlscope.gen2sim.sim.scene import build_scene
from rlscope.gen2sim.tasks.static import SceneNames, static_problems
from rlscope.gen2sim.tasks.task import load_task
from rlscope.gen2sim.tasks.validate import check_subtask

DRAWER = (STANDARD_DIR / "open_drawer" / "open_drawer.py").read_text()
NAMES = SceneNames(links=frozenset({"cabinet/drawer_0", "cube"}), joints=frozenset({"cabinet/drawer_0_joint"}),
                   handles=frozenset({"cabinet/drawer_0_handle"}), objects=frozenset({"cube"}),
                   graspables=frozenset({"cabinet/drawer_0_handle", "cube"}))


@pytest.mark.parametrize("name", standard_tasks())
def test_the_standard_tasks_pass(name):
    task = load_task(STANDARD_DIR / name)
    scene = build_scene(task.scene, Path(task.root))
    for sub in task.subtasks:
        assert static_problems(sub.code, SceneNames.of(scene, sub)) == [], sub.name


@pytest.mark.parametrize("extra, problem", [
    ("import os\n", "imports os; task code may use only numpy and math"),
    ("from socket import socket\n", "imports socket"),
    ("import numpy.linalg as la\nimport math\n", None),
    ("X = np.__class__\n", "uses the dunder attribute __class__"),
    ("F = __import__('os')\n", "uses __import__"),
    ("DATA = open('/etc/hostname').read()\n", "calls open(), which reaches outside the state"),
    ("G = getattr(np, 'load')\n", "calls getattr()"),
])
def test_imports_dunders_and_escaping_calls(extra, problem):
    found = static_problems(extra + DRAWER, NAMES)
    assert (found == []) if problem is None else any(problem in p for p in found), found


def test_missing_functions_and_signatures():
    assert static_problems("def compute_reward(state):\n    return 0, {}\n", NAMES) == [
        "task code: defines no function is_success(state)"]
    found = static_problems(DRAWER.replace("def is_success(state):", "def is_success(state, extra):"), NAMES)
    assert any("is_success must take one argument" in p for p in found)
    assert static_problems("def compute_reward(state:\n", NAMES)[0].startswith("task code:1: syntax error")


def test_unknown_state_attributes_and_scene_names_suggest_the_close_ones():
    code = DRAWER + ("\n\ndef helper(state):\n    a = state.joint('cabinet/drawer_1_joint').fraction\n"
                     "    b = state.handel('x')\n    return state.object('cub').pos\n")
    found = static_problems(code, NAMES, "t.py")
    assert any("state.joint('cabinet/drawer_1_joint'): no such joint; close: cabinet/drawer_0_joint" in p for p in found)
    assert any("state.handel is not in the state API (did you mean handle?)" in p for p in found)
    assert any("state.object('cub'): no such object; close: cube" in p for p in found)
    constant = DRAWER.replace('JOINT = "cabinet/drawer_0_joint"', 'JOINT = "cabinet/drawer_9_joint"')
    assert constant != DRAWER
    assert any("no such joint" in p for p in static_problems(constant, NAMES))


def test_code_failing_the_static_check_is_never_run(tmp_path):
    """A module-level side effect would show if the code ran: the check refuses it before compiling."""
    import dataclasses

    task = load_task(STANDARD_DIR / "open_drawer")
    scene = build_scene(task.scene, Path(task.root))
    marker = tmp_path / "ran.txt"
    code = f"import os\nopen({str(marker)!r}, 'w').write('x')\n" + DRAWER
    problems = check_subtask(scene, dataclasses.replace(task.subtasks[0], code=code))
    assert any("imports os" in p for p in problems) and not marker.exists()


@pytest.mark.parametrize("extra", ["P = np._core._methods\n", "O = np.f2py.crackfortran.os\n"])
def test_modules_reached_through_attributes_are_refused(extra):
    assert any("reaches" in p for p in static_problems(extra + DRAWER, NAMES))
