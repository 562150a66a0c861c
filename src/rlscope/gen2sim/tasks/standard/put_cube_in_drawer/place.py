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


def compute_reward(state):
    cube = state.object(CUBE).pos
    drawer = state.link(DRAWER).pos
    # lift the cube over the front panel to a point above the open part of the drawer, lower it in, let go;
    # the two stages overlap so that reaching the first never costs reward
    opening = drawer + np.array([0.0, 0.07, 0.0])
    over = np.concatenate([opening[:, :2], np.full((len(cube), 1), 0.25)], axis=1)
    inside_point = drawer + np.array([0.0, 0.07, -0.04])
    aligned = (np.linalg.norm((cube - opening)[:, :2], axis=1) < 0.03).astype(float)
    lift = 1.0 - np.tanh(5.0 * np.linalg.norm(over - cube, axis=1))
    lower = aligned * (1.0 - np.tanh(5.0 * np.linalg.norm(inside_point - cube, axis=1)))
    top = cube + np.array([0.0, 0.0, 0.025])
    reach = np.linalg.norm(top - state.gripper.pos, axis=1)
    held = state.is_grasping(CUBE).astype(float)
    inside = cube_in_drawer(state).astype(float)
    carrying = np.maximum(held, inside)
    components = {"reach": -reach * (1.0 - inside), "grasp": 0.5 * held * (1.0 - inside),
                  "lift": 2.0 * carrying * lift, "lower": 4.0 * carrying * lower,
                  "inside": 1.0 * inside, "released": 2.0 * inside * (1.0 - held)}
    return sum(components.values()), components


def is_success(state):
    return cube_in_drawer(state)  # held or let go: the hand-over to the next sub-task releases the suction
