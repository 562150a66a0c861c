DRAWER = "cabinet/drawer_0"
CUBE = "cube"
# The drawer's inside in its own frame (front panel at y = 0, bottom at z = -0.119): from the asset description.
INSIDE_LOW = np.array([-0.19, 0.02, -0.125])
INSIDE_HIGH = np.array([0.19, 0.30, -0.06])


def cube_in_drawer(state):
    rel = state.object(CUBE).pos - state.link(DRAWER).pos  # the drawer slides without turning
    return np.all((rel > INSIDE_LOW) & (rel < INSIDE_HIGH), axis=1)


def compute_reward(state):
    cube = state.object(CUBE).pos
    # aim above the middle of the open part of the drawer, then lower it in
    target = state.link(DRAWER).pos + np.array([0.0, 0.06, -0.05])
    to_target = np.linalg.norm(target - cube, axis=1)
    reach = np.linalg.norm(cube - state.gripper.pos, axis=1)
    held = state.is_grasping(CUBE).astype(float)
    inside = cube_in_drawer(state).astype(float)
    components = {"reach": -0.5 * reach, "grasp": 0.25 * held * (1.0 - inside), "carry": -2.0 * to_target,
                  "inside": 1.0 * inside, "released": 1.0 * inside * (1.0 - held)}
    return sum(components.values()), components


def is_success(state):
    return cube_in_drawer(state) & ~state.gripper.grasping
