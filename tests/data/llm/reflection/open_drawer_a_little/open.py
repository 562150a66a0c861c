import numpy as np

HANDLE = "cabinet/drawer_0_handle"
JOINT = "cabinet/drawer_0_joint"
SUCCESS = 0.1  # fraction of the travel to reach


def compute_reward(state):
    reach = np.linalg.norm(state.handle(HANDLE).pos - state.gripper.pos, axis=1)
    grasp = state.is_grasping(HANDLE).astype(float)
    opened = np.clip(state.joint(JOINT).fraction, 0.0, 1.0)
    components = {"reach": -reach, "grasp": 0.25 * grasp, "open": 2.0 * opened}
    return components["reach"] + components["grasp"] + components["open"], components


def is_success(state):
    return state.joint(JOINT).fraction >= SUCCESS
