"""What a language model is asked when it proposes tasks: the instructions, the few-shot example, the
scene description, and the repair message after an answer that does not parse.

The state API in the prompt is :data:`rlscope.gen2sim.sim.state.STATE_API`, the same text the
environment and the static checks follow. The example below was written for this project (a cabinet
with one drawer); it shows the answer format :func:`rlscope.gen2sim.tasks.parse.parse_answer` reads.
"""

from __future__ import annotations

from rlscope.gen2sim.sim.state import STATE_API

SYSTEM = """\
You design manipulation tasks for a robot simulator and write their reward functions for reinforcement learning.
A floating parallel-jaw gripper with suction (it holds a handle or an object once its fingers close on it) acts in
the scene. Policies are trained for each sub-task with PPO from the rewards you write, then run in order to
solve the long-horizon tasks."""

INSTRUCTIONS = """\
Think step by step before you answer:
1. Read which parts move, how (joint type, axis, limits, which end is closed) and which handle moves each part.
2. List meaningful manipulation tasks in this scene: open or close each part a handle moves, turn knobs and
   levers, and move free objects (push, pick and place, put them into a part that holds things).
3. Split each long-horizon task into ordered sub-tasks that a policy can learn one at a time; each sub-task
   starts where the previous one ended.
4. For each sub-task write `compute_reward(state)`, a dense, shaped reward (reach the handle or object first,
   then make progress on the part or object), returning (reward, components) where components is a dict of
   named (N,) terms that sum to the reward, and `is_success(state)`, an (N,) bool test of the sub-task's goal.

Answer in exactly this format, for every task:

Task: <task_name>
Description: <one sentence>

Sub-task: <sub_task_name>
Description: <one sentence>
Start: <joint name>=<closed | open | half | low-high fraction of its travel>   (only where a joint must not start closed)
```python
<code defining compute_reward(state) and is_success(state)>
```

(one Sub-task section per sub-task, in order). Rules for the code:
- use only NumPy (`np`) and math, and only the state API below; no other imports, no files, no printing;
- every quantity is a batch over N environments: use array operations and np.where, never a Python `if` on arrays;
- use the exact names of the scene description (INSTANCE/NAME), written as string literals or module constants."""

EXAMPLE_SCENE = """\
1. asset_name: "cabinet" (category: cabinet), bounding box 0.50 x 0.40 x 0.20 m, bottom centre at [0.0, 0.25, 0.0], fixed in place
   links:
     - cabinet/body: frame (root), frame at [0.0, 0.25, 0.0]
     - cabinet/drawer_0: drawer, moved by joint cabinet/drawer_0_joint, frame at [0.0, 0.104, 0.1]
       inside (offsets from the link's position): low [-0.1985, 0.0128, -0.0685], high [0.1985, 0.2962, 0.0263], open at the top
     - cabinet/drawer_0_handle: handle, attached to cabinet/drawer_0, frame at [0.0, 0.06, 0.1]
   joints:
     - cabinet/drawer_0_joint: prismatic, moves cabinet/drawer_0 (drawer), axis [0.0, -1.0, 0.0], limits [0.0, 0.1886] m, closed at 0.0, open at 0.1886
   handles:
     - cabinet/drawer_0_handle: on link cabinet/drawer_0_handle, operates cabinet/drawer_0_joint, centre at [0.0, 0.06, 0.1], 0.27 m long along [1.0, 0.0, 0.0]
free objects:
  - cube: box of size [0.05, 0.05, 0.05] m, 0.1 kg, starts at [0.0, -0.3, 0.0]
gripper: starts at [0.0, -0.19, 0.2], moves within [-0.6, -0.7, 0.0] .. [0.6, 0.6, 0.7]"""

EXAMPLE_ANSWER = '''\
The drawer slides along -y when pulled by its handle; fraction 0 is closed and 1 fully open. The cube stands on
the floor in front of the cabinet and fits into the drawer. Tasks: open the drawer, close it, and put the cube
away (open, place, close).

Task: open_drawer
Description: Open the drawer by pulling its handle.

Sub-task: open
Description: Grasp the drawer handle and pull the drawer two thirds open.
```python
import numpy as np

HANDLE = "cabinet/drawer_0_handle"
JOINT = "cabinet/drawer_0_joint"


def compute_reward(state):
    reach = np.linalg.norm(state.handle(HANDLE).pos - state.gripper.pos, axis=1)
    grasp = state.is_grasping(HANDLE).astype(float)
    opened = np.clip(state.joint(JOINT).fraction, 0.0, 1.0)
    components = {"reach": -reach, "grasp": 0.25 * grasp, "open": 2.0 * opened}
    return sum(components.values()), components


def is_success(state):
    return state.joint(JOINT).fraction >= 0.66
```

Task: put_cube_in_drawer
Description: Put the cube away in the drawer: open it, place the cube inside, close it.

Sub-task: open
Description: Pull the drawer three quarters open.
```python
import numpy as np

HANDLE = "cabinet/drawer_0_handle"
JOINT = "cabinet/drawer_0_joint"


def compute_reward(state):
    reach = np.linalg.norm(state.handle(HANDLE).pos - state.gripper.pos, axis=1)
    grasp = state.is_grasping(HANDLE).astype(float)
    opened = np.clip(state.joint(JOINT).fraction, 0.0, 1.0)
    components = {"reach": -reach, "grasp": 0.25 * grasp, "open": 2.0 * opened}
    return sum(components.values()), components


def is_success(state):
    return state.joint(JOINT).fraction >= 0.75
```

Sub-task: place
Description: Pick up the cube, carry it over the open drawer and lower it in.
Start: cabinet/drawer_0_joint=open
```python
import numpy as np

DRAWER = "cabinet/drawer_0"
CUBE = "cube"
LOW = np.array([-0.19, 0.02, -0.07])   # the inside, from the description, and up to a cube above the rim
HIGH = np.array([0.19, 0.29, 0.076])


def inside(state):
    rel = state.object(CUBE).pos - state.link(DRAWER).pos
    return np.all((rel > LOW) & (rel < HIGH), axis=1)


def compute_reward(state):
    cube = state.object(CUBE).pos
    drop = state.link(DRAWER).pos + np.array([0.0, 0.08, -0.04])
    reach = np.linalg.norm(cube + np.array([0.0, 0.0, 0.025]) - state.gripper.pos, axis=1)
    held = state.is_grasping(CUBE).astype(float)
    done = inside(state).astype(float)
    carry = np.maximum(held, done) * (1.0 - np.tanh(5.0 * np.linalg.norm(drop - cube, axis=1)))
    components = {"reach": -reach * (1.0 - done), "grasp": 0.5 * held, "carry": 3.0 * carry, "inside": 2.0 * done}
    return sum(components.values()), components


def is_success(state):
    return inside(state)
```

Sub-task: close
Description: Push the drawer closed with the cube inside.
Start: cabinet/drawer_0_joint=open
```python
import numpy as np

HANDLE = "cabinet/drawer_0_handle"
JOINT = "cabinet/drawer_0_joint"


def compute_reward(state):
    reach = np.linalg.norm(state.handle(HANDLE).pos - state.gripper.pos, axis=1)
    closed = 1.0 - np.clip(state.joint(JOINT).fraction, 0.0, 1.0)
    components = {"reach": -reach, "close": 2.0 * closed}
    return sum(components.values()), components


def is_success(state):
    return state.joint(JOINT).fraction <= 0.1
```
'''


def question(scene_text: str) -> str:
    return (f"The scene contains:\n{scene_text}\n\nList meaningful manipulation tasks in this scene, the ordered "
            "sub-tasks of each, and the reward and success code of every sub-task.")


def messages(scene_text: str) -> list[tuple[str, str]]:
    """The chat that asks for tasks of the scene described by ``scene_text``
    (:func:`~rlscope.gen2sim.tasks.describe.render_description`)."""
    system = f"{SYSTEM}\n\n{STATE_API}\n{INSTRUCTIONS}"
    return [("system", system), ("user", question(EXAMPLE_SCENE)), ("assistant", EXAMPLE_ANSWER),
            ("user", question(scene_text))]


def repair(answer: str, errors: list[str]) -> list[tuple[str, str]]:
    """The turns appended after an answer with problems: the answer, then what is wrong with it."""
    listed = "\n".join(f"- {e}" for e in errors)
    return [("assistant", answer),
            ("user", "Some of these tasks cannot be used:\n" + listed + "\n\nAnswer again with every task, corrected, "
                     "in the same format.")]
