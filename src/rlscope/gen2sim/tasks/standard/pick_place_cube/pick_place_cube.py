CUBE = "cube"


def compute_reward(state):
    cube = state.object(CUBE).pos
    to_goal = np.linalg.norm(state.goal("goal") - cube, axis=1)
    reach = np.linalg.norm(cube - state.gripper.pos, axis=1)
    held = state.is_grasping(CUBE).astype(float)
    components = {"reach": -0.5 * reach, "grasp": 0.25 * held, "place": -2.0 * to_goal, "at_goal": 1.0 * (to_goal < 0.03)}
    return sum(components.values()), components


def is_success(state):
    return np.linalg.norm(state.goal("goal") - state.object(CUBE).pos, axis=1) < 0.03
