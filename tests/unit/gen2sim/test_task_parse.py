"""Parsing a language model's answer: lenient about markdown and prose, strict about the code, in both formats."""

import pytest

from rlscope.gen2sim.tasks.parse import (
    START_WORDS,
    normalise,
    parse_answer,
    parse_start,
)

CODE = '''import numpy as np


def compute_reward(state):
    f = state.joint("cab/drawer_0_joint").fraction
    return f, {"f": f}


def is_success(state):
    return state.joint("cab/drawer_0_joint").fraction > 0.5
'''
NO_SUCCESS = CODE[:CODE.index("def is_success")]
GEN2SIM = '''def compute_reward(self):
    s = self.env.get_state_by_joint_name("{asset}", "j")
    return s, s > 0
'''


@pytest.mark.parametrize("fence", ["```python", "```py", "```", "``` Python", "```python3"])
@pytest.mark.parametrize("heading", ["Task: Open Drawer", "## 1. **Task:** open-drawer", "**Task 1: OpenDrawer**",
                                     "### Task 1 : open_drawer"])
def test_headings_and_fences_in_many_forms(fence, heading):
    text = f"Sure! Here is my plan.\n\n{heading}\nDescription: pull it\n\nSub-task 1: pull\nStart: cab/drawer_0_joint=half\n" \
           f"{fence}\n{CODE}```\nThat is all."
    res = parse_answer(text)
    assert res.errors == ()
    (task,) = res.tasks
    assert task.name == "open_drawer" and task.description == "pull it"
    (sub,) = task.subtasks
    assert sub.name == "pull" and sub.format == "state" and sub.start == {"cab/drawer_0_joint": (0.4, 0.6)}
    assert sub.code == CODE


def test_a_whole_answer_with_prose_numbering_and_bold_headings():
    text = f"""I looked at the cabinet. Tasks: open the drawer, then put the cube away.

## 1. Task: open_drawer_0
**Description:** Open the drawer of the cabinet by pulling its handle.

**Sub-task:** open
**Description:** Grasp the handle and pull the drawer open.
Here is the code; it rewards how far the drawer moved.
```
{CODE}```
Note that the reward is dense.

## 2. Task: PutCubeAway
Description: Open the drawer, place the cube, close it.

### Subtask 1: open
```python
{CODE}```
### sub task 2: Place Cube
Start: cab/drawer_0_joint=open, cab/door=0.2..0.5
```py
{CODE}```
### SUB-TASK 3: close
Start: `cab/drawer_0_joint` = 0.8-1
```python
{CODE}```
I hope this helps!
"""
    res = parse_answer(text)
    assert res.errors == ()
    first, second = res.tasks
    assert first.name == "open_drawer_0" and first.description == "Open the drawer of the cabinet by pulling its handle."
    assert [(s.name, s.description) for s in first.subtasks] == [("open", "Grasp the handle and pull the drawer open.")]
    assert second.name == "put_cube_away" and second.description == "Open the drawer, place the cube, close it."
    assert [s.name for s in second.subtasks] == ["open", "place_cube", "close"]
    assert [s.start for s in second.subtasks] == [{}, {"cab/drawer_0_joint": (0.75, 1.0), "cab/door": (0.2, 0.5)},
                                                  {"cab/drawer_0_joint": (0.8, 1.0)}]
    assert all(s.code == CODE and s.format == "state" for t in res.tasks for s in t.subtasks)


def test_a_task_without_sub_task_headings_is_one_sub_task_named_after_it():
    res = parse_answer(f"Task: CloseDrawer\nDescription: push it shut\nStart: cab/drawer_0_joint=open\n```\n{CODE}```\n")
    (task,) = res.tasks
    (sub,) = task.subtasks
    assert (sub.name, sub.description, sub.start) == ("close_drawer", "push it shut", {"cab/drawer_0_joint": (0.75, 1.0)})


def test_code_split_over_two_blocks_and_an_unclosed_last_fence_are_read():
    reward, success = CODE.split("\n\ndef is_success")
    text = f"Task: t\nSub-task: s\n```python\n{reward}\n```\nand the success test:\n```python\ndef is_success{success}"
    (task,) = parse_answer(text).tasks
    assert "def compute_reward(state)" in task.subtasks[0].code and "def is_success(state)" in task.subtasks[0].code


def test_a_broken_task_is_named_and_the_others_survive():
    text = f"Task: good\nSub-task: a\n```python\n{CODE}```\n\nTask: bad\nSub-task: b\n```python\n{NO_SUCCESS}```\n" \
           f"Task: worse\nSub-task: c\n```python\nimport numpy as np\ndef compute_reward(state:\n```\n" \
           f"Task: none\nSub-task: d\nI would pull the handle.\n" \
           f"Task: two\nSub-task: e\n```python\n{CODE.replace('is_success(state)', 'is_success(state, t)')}```\n"
    res = parse_answer(text)
    assert [t.name for t in res.tasks] == ["good"]
    assert res.errors == (
        "task 'bad', sub-task 'b': the code defines no is_success(state)",
        "task 'worse', sub-task 'c': the code does not parse: '(' was never closed (line 2 of the code block)",
        ("task 'none', sub-task 'd': no code block (expected a fenced ```python block defining compute_reward(state) "
        "and is_success(state), or compute_reward(self) in the Gen2Sim format)"),
        "task 'two', sub-task 'e': is_success must take one argument (state), it takes 2",
    )


@pytest.mark.parametrize("line, start", [
    ("Start: a/j=closed", {"a/j": START_WORDS["closed"]}),
    ("Start: a/j=open", {"a/j": (0.75, 1.0)}),
    ("start: a/j = Half", {"a/j": (0.4, 0.6)}),
    ("Start: a/j=0.2-0.5", {"a/j": (0.2, 0.5)}),
    ("Start: a/j=0.2..0.5", {"a/j": (0.2, 0.5)}),
    ("**Start:** `a/j1=open`, a/j2: 0.1 - 0.3; a/j3=closed", {"a/j1": (0.75, 1.0), "a/j2": (0.1, 0.3), "a/j3": (0.0, 0.0)}),
    ("Start: a/j1=open\nStart: a/j2=.5", {"a/j1": (0.75, 1.0), "a/j2": (0.5, 0.5)}),
    ("Start: none", {}),
    ("```python\n    start_pos = state.gripper.pos\n    start: int = 0\n```", {}),  # code is not a Start line
])
def test_start_lines(line, start):
    assert parse_start(line) == (start, [])


@pytest.mark.parametrize("line, problem", [
    ("Start: a/j=wide", "Start 'a/j=wide': expected JOINT=closed, open, half or LOW-HIGH"),
    ("Start: a/j=0.7-0.2", "Start 'a/j=0.7-0.2': the range must lie within 0..1, low first"),
    ("Start: a/j=1.5", "the range must lie within 0..1"),
    ("Start: the drawer is open", "expected JOINT=closed, open, half or LOW-HIGH"),
])
def test_bad_start_lines_reject_their_sub_task(line, problem):
    res = parse_answer(f"Task: t\nSub-task: s\n{line}\n```\n{CODE}```")
    assert res.tasks == () and res.errors[0].startswith("task 't', sub-task 's': ") and problem in res.errors[0]


def test_nothing_usable_says_what_was_expected():
    res = parse_answer("I cannot help with that.\n```python\nprint(1)\n```")
    assert res.tasks == () and len(res.errors) == 1
    assert "no task found: expected blocks starting 'Task: NAME'" in res.errors[0] and "compute_reward(self)" in res.errors[0]


@pytest.mark.parametrize("listing", [
    "Sub-tasks: OpenIt, grasp_it, Close-It",
    "Subtasks: open it -> GraspIt -> closeit",
    "Sub-task decomposition: OpenIt → GraspIt → CloseIt",
    "Decomposition:\n1. OpenIt\n2. GraspIt\n3. CloseIt\n\nThese run in order.\n- not a task",
    "**Sub-tasks:**\n- OpenIt (open the door)\n- GraspIt\n- CloseIt",
])
def test_a_gen2sim_decomposition_builds_a_long_horizon_task_from_earlier_blocks(listing):
    blocks = "".join(f'Task: {n}\nTask Description: "{n.lower()}"\n```\n{GEN2SIM.format(asset=n)}```\n\n'
                     for n in ("OpenIt", "GraspIt", "CloseIt"))
    res = parse_answer(f"{blocks}Task: OpenGraspClose\nTask Description: all three\n{listing}\n")
    assert res.errors == ()
    assert [t.name for t in res.tasks] == ["open_it", "grasp_it", "close_it", "open_grasp_close"]
    long = res.tasks[-1]
    assert long.description == "all three"
    assert [s.name for s in long.subtasks] == ["open_it", "grasp_it", "close_it"]
    assert [s.code for s in long.subtasks] == [t.subtasks[0].code for t in res.tasks[:3]]
    assert all(s.format == "gen2sim" for s in long.subtasks)
    assert [s.description for s in long.subtasks] == ["openit", "graspit", "closeit"]


def test_a_decomposition_naming_an_unknown_or_broken_task_is_an_error_for_that_task():
    text = f"Task: OpenIt\nTask Description: \"open\"\n```\n{GEN2SIM.format(asset='a')}```\n" \
           "Task: Broken\n```\ndef compute_reward():\n    return 0\n```\n" \
           "Task: Both\nSub-tasks: OpenIt, CloseIt\nTask: Again\nDecomposition: OpenIt -> Broken -> OpenIt\n"
    res = parse_answer(text)
    assert [t.name for t in res.tasks] == ["open_it"] and res.tasks[0].subtasks[0].format == "gen2sim"
    assert res.errors == (
        "task 'broken': compute_reward must take one argument (state), it takes 0",
        "task 'both': its sub-tasks are the tasks it names, but close_it is not a task of this answer (known: open_it)",
        "task 'again': its sub-tasks are the tasks it names, but broken failed to parse (see its errors)",
    )


def test_a_repeated_sub_task_gets_a_unique_name_and_a_repeated_task_is_an_error():
    g = GEN2SIM.format(asset="a")
    res = parse_answer(f"Task: OpenIt\n```\n{g}```\nTask: open_it\n```\n{g}```\nTask: Twice\nSub-tasks: OpenIt, open-it\n")
    assert [[s.name for s in t.subtasks] for t in res.tasks] == [["open_it"], ["open_it", "open_it_2"]]
    assert res.errors == ("task 'open_it': a second task of that name (the first one is kept)",)


def test_the_format_is_read_from_the_code():
    res = parse_answer(f"Task: a\n```\n{CODE}```\nTask: b\n```\n{GEN2SIM.format(asset='x')}```\n"
                       "Task: c\n```\ndef compute_reward(env):\n    return env.x, env.y\n```\n")
    assert [t.subtasks[0].format for t in res.tasks] == ["state", "gen2sim"]
    assert res.errors == ("task 'c': the code defines no is_success(state)",)


@pytest.mark.parametrize("name, expected", [
    ("OpenMicrowaveDoor", "open_microwave_door"),
    ("**put cube-in drawer**", "put_cube_in_drawer"),
    ("open_drawer_0", "open_drawer_0"),
    ("`Close Door` (long-horizon)", "close_door"),
    ("HTTPServer", "http_server"),
])
def test_names_normalise(name, expected):
    assert normalise(name) == expected
