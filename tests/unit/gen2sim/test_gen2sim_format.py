"""Code in the Gen2Sim paper's answer format runs unchanged over the state API: its published few-shot example
parses, compiles and rewards a real microwave scene; its static check catches wrong names and unsafe code; what
it returns is held to the same shapes as any sub-task's."""

import dataclasses

import numpy as np
import pytest

from rlscope.gen2sim.sim.env import BatchedEnv
from rlscope.gen2sim.sim.scene import AssetSpec, ObjectSpec, SceneSpec, build_scene
from rlscope.gen2sim.sim.state import UnknownName
from rlscope.gen2sim.tasks.gen2sim_format import (
    GEN2SIM_API,
    METHODS,
    Gen2SimEnv,
    compile_gen2sim,
    static_problems_gen2sim,
)
from rlscope.gen2sim.tasks.parse import parse_answer
from rlscope.gen2sim.tasks.static import SceneNames
from rlscope.gen2sim.tasks.task import (
    RewardCodeError,
    SubTask,
    TaskCodeError,
    compile_code,
)
from rlscope.gen2sim.tasks.validate import check_subtask

DOOR = "microwave/door_joint"

# The paper's few-shot answer (Gen2Sim, task-gen/template_asset.py) with this project's microwave names in place of
# its "handle_0" and "joint_0". Its open-door reward measures the handle's distance to itself (always 0), and its
# close-door example calls get_robot_gripper_position(), a name its own API list does not have.
PAPER = '''A: The following tasks can be performed in this environment:
1. OpenMicrowaveDoor
2. CloseMicrowaveDoor

The reward function for each task is as follows:

Task: OpenMicrowaveDoor
Task Description: "open the door of the microwave"
```
def compute_reward(self):
    # reward function
    door_handle_pose = self.env.get_pose_by_link_name("microwave", "door_handle")
    gripper_pose = self.env.get_robot_gripper_pose()
    distance_gripper_to_handle = torch.norm(door_handle_pose - door_handle_pose, dim=-1)

    door_state = self.env.get_state_by_joint_name("microwave", "door_joint")

    cost = distance_gripper_to_handle - door_state
    reward = - cost

    # success condition
    target_door_state = self.env.get_limits_by_joint_name("microwave", "door_joint")["upper"]
    success = torch.abs(door_state - target_door_state) < 0.1

    return reward, success
```

Task: CloseMicrowaveDoor
Task Description: "close the door of the microwave"
```
def compute_reward(self):
    # reward function
    door_handle_pose = self.env.get_pose_by_link_name("microwave", "door_handle")
    gripper_pose = self.env.get_robot_gripper_position()
    distance_gripper_to_handle = torch.norm(gripper_pose - door_handle_pose, dim=-1)

    door_state = self.env.get_state_by_joint_name("microwave", "door_joint")

    cost = distance_gripper_to_handle + door_state
    reward = - cost

    # success condition
    target_door_state = self.env.get_limits_by_joint_name("microwave", "door_joint")["lower"]
    success = torch.abs(door_state - target_door_state) < 0.1
    return reward, success
```
'''

SIMPLE = '''def compute_reward(self):
    door = self.env.get_state_by_joint_name("microwave", "door_joint")
    return -door, door > 1.0
'''


@pytest.fixture(scope="module")
def scene():
    return build_scene(SceneSpec(assets=(AssetSpec("microwave", procedural="microwave"),), objects=(ObjectSpec("cube"),)))


def _sub(code: str, name: str = "t") -> SubTask:
    return SubTask(name=name, description="", code=code, format="gen2sim")


def _states(scene, fractions):
    """One state per entry of ``fractions``, the microwave door that far through its travel (0 = closed)."""
    sub = _sub(SIMPLE)
    env = BatchedEnv(scene, sub, compile_code(sub), num_envs=len(fractions), seed=0, nthread=1)
    env.reset()
    closed, opened = scene.joints[DOOR]
    env.sens[:, scene.sensors[f"qpos:{DOOR}"]] = (closed + np.asarray(fractions) * (opened - closed))[:, None]
    state = env.sim_state()
    env.close()
    return state


def test_the_papers_example_parses_and_runs_unchanged(scene):
    res = parse_answer(PAPER)
    assert res.errors == ()
    assert [(t.name, t.description) for t in res.tasks] == [("open_microwave_door", "open the door of the microwave"),
                                                             ("close_microwave_door", "close the door of the microwave")]
    fractions = [0.0, 0.5, 1.0, 0.97]
    state = _states(scene, fractions)
    _, opened = scene.joints[DOOR]
    door = np.asarray(fractions) * opened
    for task, expect in zip(res.tasks, ([False, False, True, True], [True, False, False, False])):
        (ps,) = task.subtasks
        assert ps.format == "gen2sim"
        assert static_problems_gen2sim(ps.code, SceneNames.of(scene, _sub(ps.code))) == []
        code = compile_code(_sub(ps.code, ps.name))  # the format sends it to compile_gen2sim
        reward, terms = code.reward(state)
        success = code.success(state)
        assert reward.shape == (4,) and reward.dtype == np.float64 and np.isfinite(reward).all()
        assert success.shape == (4,) and success.dtype == np.bool_
        assert success.tolist() == expect
        assert np.allclose(terms["door_state"], door) and np.array_equal(terms["reward"], reward)
        assert np.ptp(reward) > 1.0  # the door's angle moves the reward
    open_terms = compile_gen2sim(_sub(res.tasks[0].subtasks[0].code)).reward(state)[1]
    assert np.all(open_terms["distance_gripper_to_handle"] == 0.0)  # the handle's distance to itself, as published


def test_the_adapter_reads_the_state_by_asset_and_link(scene):
    import torch

    state = _states(scene, [0.0, 1.0])
    env = Gen2SimEnv(state)
    handle = env.get_pose_by_link_name("microwave", "door_handle")
    assert handle.dtype == torch.float64 and tuple(handle.shape) == (2, 3)
    assert np.array_equal(handle.numpy(), state.link("microwave/door_handle").pos)
    assert np.array_equal(env.get_pose_by_link_name("cube", "whatever").numpy(), state.object("cube").pos)
    assert np.array_equal(env.get_robot_gripper_pose("microwave", "door_handle").numpy(), state.gripper.pos)
    assert np.array_equal(env.get_robot_gripper_position().numpy(), state.gripper.pos)
    assert np.array_equal(env.get_state_by_joint_name("microwave", "door_joint").numpy(), state.joint(DOOR).pos)
    limits = env.get_limits_by_joint_name("microwave", "door_joint")
    assert (float(limits["lower"]), float(limits["upper"])) == (state.joint(DOOR).lower, state.joint(DOOR).upper)
    with pytest.raises(UnknownName, match="no link named 'microwave/door_handel'"):
        env.get_pose_by_link_name("microwave", "door_handel")
    with pytest.raises(UnknownName, match="no joint named 'microwave/door'"):
        env.get_state_by_joint_name("microwave", "door")
    assert all(m in GEN2SIM_API for m in METHODS - {"get_robot_gripper_position"})


def test_the_code_runs_once_per_state_for_reward_and_success(scene, monkeypatch):
    calls = []
    original = Gen2SimEnv.get_state_by_joint_name
    monkeypatch.setattr(Gen2SimEnv, "get_state_by_joint_name", lambda self, *a: calls.append(a) or original(self, *a))
    code = compile_gen2sim(_sub(SIMPLE))
    first, second = _states(scene, [0.0, 1.0]), _states(scene, [1.0, 0.0])
    code.reward(first)
    assert code.success(first).tolist() == [False, True] and len(calls) == 1
    assert code.success(second).tolist() == [True, False] and len(calls) == 2
    assert code.reward(second)[0].tolist() == pytest.approx([-scene.joints[DOOR][1], 0.0]) and len(calls) == 2


@pytest.mark.parametrize("body, match", [
    ("return torch.zeros(4, 1, dtype=torch.float64), torch.zeros(4, dtype=torch.bool)", r"got array of shape \(4, 1\)"),
    ("return torch.zeros(4), torch.zeros(4)", r"is_success must return a \(4,\) bool array .* dtype float64"),
    ("return torch.zeros(4), True", r"is_success must return a \(4,\) bool array .* got bool True"),
    ("return torch.zeros(4)", r"must return \(reward, success\), got Tensor"),
    ("return torch.full((4,), float('nan')), torch.zeros(4, dtype=torch.bool)", r"'reward' is not finite \(nan\) in 4 of 4"),
])
def test_what_the_code_returns_is_held_to_the_usual_shapes(scene, body, match):
    code = compile_gen2sim(_sub(f"def compute_reward(self):\n    {body}\n", name="open_door"))
    state = _states(scene, [0.0, 0.2, 0.4, 0.6])
    with pytest.raises(RewardCodeError, match=match) as err:
        code.reward(state)
        code.success(state)
    assert err.value.subtask == "open_door" and "open_door" in str(err.value)


def test_a_term_masked_where_it_is_not_finite_is_left_out_not_blamed(scene):
    code = compile_gen2sim(_sub('''def compute_reward(self):
    door = self.env.get_state_by_joint_name("microwave", "door_joint")
    ratio = 1.0 / door
    reward = torch.where(door > 0, ratio, torch.zeros_like(door))
    return reward, door > 1.0
'''))
    reward, terms = code.reward(_states(scene, [0.0, 0.5]))
    assert reward[0] == 0.0 and np.isfinite(reward).all() and "ratio" not in terms and "door" in terms


def test_code_without_compute_reward_is_refused():
    for code in ("x = 1\n", "compute_reward = 3\n"):
        with pytest.raises(TaskCodeError, match=r"defines no function compute_reward\(self\)"):
            compile_gen2sim(_sub(code))
    with pytest.raises(TaskCodeError, match="syntax error"):
        compile_gen2sim(_sub("def compute_reward(self:\n"))
    names = SceneNames()
    assert static_problems_gen2sim("x = 1\n", names) == ["task code: defines no function compute_reward(self)"]
    assert any("compute_reward must take one argument, self" in p
               for p in static_problems_gen2sim("def compute_reward(self, extra):\n    return 0, 0\n", names))
    assert static_problems_gen2sim("def compute_reward(self:\n", names)[0].startswith("task code:1: syntax error")


def test_wrong_names_are_caught_with_the_close_ones_suggested(scene):
    names = SceneNames.of(scene, _sub(SIMPLE))
    code = '''HANDLE = "door_handel"


def compute_reward(self):
    a = self.env.get_pose_by_link_name("microwave", HANDLE)
    b = self.env.get_state_by_joint_name(asset_name="microwave", joint_name="door_jiont")
    c = self.env.get_limits_by_joint_name("micowave", "knob_joint")
    d = self.env.get_pose_by_link_name("cube", "base")
    e = self.env.get_link_pose("microwave", "door")
    f = self.device
    return a[:, 0] + b + c["upper"] + d[:, 0] + e[:, 0], b > 0
'''
    found = static_problems_gen2sim(code, names, "open.py")
    assert any("open.py:5: self.env.get_pose_by_link_name('microwave', 'door_handel'): no such link; close: "
               "microwave/door_handle" in p for p in found), found
    assert any("get_state_by_joint_name('microwave', 'door_jiont'): no such joint; close: microwave/door_joint" in p
               for p in found), found
    assert any("get_limits_by_joint_name('micowave', 'knob_joint'): no such joint; close: microwave/knob_joint" in p
               for p in found), found
    assert any("self.env.get_link_pose is not in the Gen2Sim API" in p for p in found)
    assert any("self.device: self has only env" in p for p in found)
    assert not any("'cube'" in p for p in found)  # a free object is read by its own name
    assert len(found) == 5


@pytest.mark.parametrize("extra, problem", [
    ("import os\n", "imports os; task code may use only numpy, torch and math"),
    ("from subprocess import run\n", "imports subprocess"),
    ("import torch\nimport numpy as np\nimport math\n", None),
    ("DATA = open('/etc/hostname').read()\n", "calls open(), which reaches outside the state"),
    ("E = eval('1')\n", "calls eval()"),
    ("K = torch.__class__\n", "uses the dunder attribute __class__"),
    ("S = np.f2py.crackfortran.os\n", "reaches os through an attribute"),
    ("P = torch._C\n", "reaches _C through an attribute"),
])
def test_imports_dunders_and_escaping_calls_are_reported(scene, extra, problem):
    found = static_problems_gen2sim(extra + SIMPLE, SceneNames.of(scene, _sub(SIMPLE)))
    assert (found == []) if problem is None else any(problem in p for p in found), found


def test_validation_runs_the_gen2sim_static_check_first(scene, tmp_path):
    marker = tmp_path / "ran.txt"
    code = f"import os\nopen({str(marker)!r}, 'w').write('x')\n" + SIMPLE.replace("door_joint", "door_jont")
    problems = check_subtask(scene, dataclasses.replace(_sub(code), code_file="open.py"))
    assert any("open.py:1: imports os" in p for p in problems)
    assert any("no such joint; close: microwave/door_joint" in p for p in problems)
    assert not marker.exists()
