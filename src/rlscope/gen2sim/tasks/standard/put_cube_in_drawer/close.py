import numpy as np

DRAWER = "cabinet/drawer_0"
CUBE = "cube"
# The drawer's inside in its own frame (front panel at y = 0, its top, the rim, at z = 0.079, the bottom at
# z = -0.069): from the asset description. A cube centred over the bottom and below the rim is in the drawer.
INSIDE_LOW = np.array([-0.19, 0.02, -0.07])
INSIDE_HIGH = np.array([0.19, 0.30, 0.079])


def cube_in_drawer(state):
    rel = state.object(CUBE).pos - state.link(DRAWER).pos  # the drawer slides without turning
    return np.all((rel > INSIDE_LOW) & (rel < INSIDE_HIGH), axis=1)

HANDLE = "cabinet/drawer_0_handle"
JOINT = "cabinet/drawer_0_joint"


def compute_reward(state):
    reach = np.linalg.norm(state.handle(HANDLE).pos - state.gripper.pos, axis=1)
    closed = 1.0 - np.clip(state.joint(JOINT).fraction, 0.0, 1.0)
    components = {"reach": -reach, "close": 2.0 * closed}
    return components["reach"] + components["close"], components


def is_success(state):
    return (state.joint(JOINT).fraction <= 0.1) & cube_in_drawer(state)
