"""Parsing a language model's answer: lenient about markdown and prose, strict about the code, in both formats."""

import pytest

from rlscope.gen2sim.tasks.parse import normalise, parse_answer

CODE = '''import numpy as np


def compute_reward(state):
    f = state.joint("cab/drawer_0_joint").fraction
    return f, {"f": f}


def is_success(state):
    return state.joint("cab/drawer_0_joint").fraction > 0.5
'''


@pytest.mark.parametrize("fence", ["```python", "```py", "```", "``` Python"])
@pytest.mark.parametrize("heading", ["Task: Open Drawer", "## 1. **Task:** open-drawer", "**Task 1: OpenDrawer**"])
def test_headings_and_fences_in_many_forms(fence, heading):
    text = f"Sure! Here is my plan.\n\n{heading}\nDescription: pull it\n\nSub-task 1: pull\nStart: cab/drawer_0_joint=half\n" \
           f"{fence}\n{CODE}```\nThat is all."
    res = parse_answer(text)
    assert res.errors == ()
    (task,) = res.tasks
    assert task.name == "open_drawer" and task.description == "pull it"
    (sub,) = task.subtasks
    assert sub.name == "pull" and sub.format == "state" and sub.start == {"cab/drawer_0_joint": (0.4, 0.6)}
    assert "def is_success(state)" in sub.code


def test_a_broken_task_is_named_and_the_others_survive():
    broken = CODE.replace("def is_success(state):\n    return state.joint(\"cab/drawer_0_joint\").fraction > 0.5\n", "")
    text = f"Task: good\nSub-task: a\n```python\n{CODE}```\n\nTask: bad\nSub-task: b\n```python\n{broken}```\n" \
           f"Task: worse\nSub-task: c\n```python\ndef compute_reward(state:\n```\n"
    res = parse_answer(text)
    assert [t.name for t in res.tasks] == ["good"]
    assert any("task 'bad', sub-task 'b': the code defines no is_success(state)" in e for e in res.errors)
    assert any("task 'worse', sub-task 'c': the code does not parse" in e for e in res.errors)


def test_start_lines_and_their_errors():
    ok = parse_answer(f"Task: t\nSub-task: s\nStart: a/j1=open, a/j2=0.2-0.5\nStart: a/j3=closed\n```\n{CODE}```")
    assert ok.tasks[0].subtasks[0].start == {"a/j1": (0.75, 1.0), "a/j2": (0.2, 0.5), "a/j3": (0.0, 0.0)}
    bad = parse_answer(f"Task: t\nSub-task: s\nStart: a/j1=wide\n```\n{CODE}```")
    assert bad.tasks == () and "expected closed, open, half or LOW-HIGH" in bad.errors[0]


def test_nothing_usable_says_what_was_expected():
    res = parse_answer("I cannot help with that.")
    assert res.tasks == () and "expected blocks starting 'Task: NAME'" in res.errors[0]


def test_gen2sim_decomposition_must_name_known_tasks():
    g = 'def compute_reward(self):\n    s = self.env.get_state_by_joint_name("a", "j")\n    return s, s > 0\n'
    text = f"Task: OpenIt\nTask Description: \"open\"\n```\n{g}```\nTask: Both\nSub-tasks: OpenIt, CloseIt\n"
    res = parse_answer(text)
    assert [t.name for t in res.tasks] == ["open_it"] and res.tasks[0].subtasks[0].format == "gen2sim"
    assert "task 'both': its sub-tasks ['close_it'] are not tasks of this answer" in res.errors[0]
    listed = parse_answer(text.replace("Sub-tasks: OpenIt, CloseIt", "Decomposition:\n1. OpenIt\n2. OpenIt"))
    assert [len(t.subtasks) for t in listed.tasks] == [1, 2]


def test_names_normalise():
    assert normalise("OpenMicrowaveDoor") == "open_microwave_door"
    assert normalise("**put cube-in drawer**") == "put_cube_in_drawer"
