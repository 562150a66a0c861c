import numpy as np

CUBE = "cube"


def compute_reward(state):
    cube = state.object(CUBE).pos
    to_goal = np.linalg.norm(state.goal("goal") - cube, axis=1)
    top = cube + np.array([0.0, 0.0, 0.025])  # the tip can reach the top face, not the centre
    reach = np.linalg.norm(top - state.gripper.pos, axis=1)
    held = state.is_grasping(CUBE).astype(float)
    components = {"reach": -reach, "grasp": 0.5 * held, "place": 2.0 * held * (1.0 - np.tanh(5.0 * to_goal)),
                  "place_fine": 1.0 * held * (1.0 - np.tanh(20.0 * to_goal)),
                  "at_goal": 1.0 * (to_goal < 0.05)}
    return sum(components.values()), components


def is_success(state):
    return np.linalg.norm(state.goal("goal") - state.object(CUBE).pos, axis=1) < 0.05
