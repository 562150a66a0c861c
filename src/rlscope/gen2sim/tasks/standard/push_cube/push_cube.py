CUBE = "cube"


def compute_reward(state):
    cube = state.object(CUBE).pos
    goal = state.goal("goal")
    to_goal = np.linalg.norm((goal - cube)[:, :2], axis=1)
    reach = np.linalg.norm(cube - state.gripper.pos, axis=1)
    components = {"reach": -0.5 * reach, "push": -2.0 * to_goal, "at_goal": 1.0 * (to_goal < 0.03)}
    return components["reach"] + components["push"] + components["at_goal"], components


def is_success(state):
    return np.linalg.norm((state.goal("goal") - state.object(CUBE).pos)[:, :2], axis=1) < 0.03
