import numpy as np

CUBE = "cube"


def compute_reward(state):
    cube = state.object(CUBE).pos
    goal = state.goal("goal")
    to_goal_xy = (goal - cube)[:, :2]
    dist = np.linalg.norm(to_goal_xy, axis=1)
    direction = to_goal_xy / np.maximum(dist, 1e-6)[:, None]
    # stand behind the cube, on the far side from the goal, low enough to push it
    behind = np.concatenate([cube[:, :2] - 0.045 * direction, np.full((len(cube), 1), 0.03)], axis=1)
    reach = np.linalg.norm(behind - state.gripper.pos, axis=1)
    closed = 1.0 - state.gripper.opening  # closed fingers make a paddle; open ones straddle the cube
    components = {"reach": -reach, "closed": 0.2 * closed, "push": -5.0 * dist,
                  "at_goal": 1.0 * (dist < 0.05)}
    return sum(components.values()), components


def is_success(state):
    return np.linalg.norm((state.goal("goal") - state.object(CUBE).pos)[:, :2], axis=1) < 0.05
