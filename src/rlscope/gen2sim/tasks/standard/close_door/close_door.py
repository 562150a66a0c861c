import numpy as np

HANDLE = "cabinet/door_left_handle"
JOINT = "cabinet/door_left_joint"


def compute_reward(state):
    reach = np.linalg.norm(state.handle(HANDLE).pos - state.gripper.pos, axis=1)
    closed = 1.0 - np.clip(state.joint(JOINT).fraction, 0.0, 1.0)
    components = {"reach": -2.0 * reach, "close": 2.0 * closed}
    return components["reach"] + components["close"], components


def is_success(state):
    return state.joint(JOINT).fraction <= 0.1
