"""Reward candidates of a sub-task: variants of its proposed code (the offline proposer) or answers of a
language model, each judged by the sub-task's own success test.

Eureka keeps a task's fitness fixed and searches over rewards; here too. Every candidate keeps the
``is_success`` of the sub-task as proposed (:func:`with_success`), so candidates, rounds and proposers are
compared on one test, and a candidate cannot pass by loosening it.

- **Offline variants** (:class:`Variant`, :func:`variant_code`): the proposed ``compute_reward`` kept as it is
  and wrapped: each reward term scaled, distance-like terms reshaped into a bounded form
  (``exp(5 t) - 1``), a success bonus added. Round one tries the proposal itself and three fixed
  re-weightings (:func:`first_variants`); later rounds apply the reflection's guidance to the best one so far
  (:func:`next_variants`).
- **Language-model candidates**: :func:`reward_messages` asks for ``compute_reward(state)`` of one sub-task, with
  the scene, the decomposition and the success test; :func:`reward_from_answer` takes the code out of an
  answer. A reflection round appends the best answer and the feedback (:func:`reflection_messages`).
- **One reward for a whole task** (:func:`undecomposed`): the sub-tasks' code composed into one function,
  for the decomposition ablation.

Code is only read here (:mod:`ast`), never run.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Sequence

SHAPING = re.compile(r"reach|dist|approach|near|align|grasp|grip|hold|held|touch|contact", re.I)
"""Names of reward terms that shape the way to the goal (the others measure progress on it)."""
BOUNDED_SCALE = 5.0
"""A bounded term is ``exp(BOUNDED_SCALE * t) - 1`` of a term ``t <= 0`` (a negative distance in m)."""
STAGE_BONUS = 10.0
"""Reward added per completed stage in :func:`undecomposed` (above the largest stage reward of the offline
proposer's templates, 9 for placing an object, so that finishing a stage never lowers the reward)."""


class CandidateError(ValueError):
    """An answer or a piece of code that cannot become a reward candidate (the message says why)."""


# -- reading code ---------------------------------------------------------------------------------------------
def _parse(code: str, what: str) -> ast.Module:
    try:
        return ast.parse(code)
    except SyntaxError as exc:
        raise CandidateError(f"{what} does not parse: {exc.msg} (line {exc.lineno})") from None


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def reward_terms(code: str) -> list[str]:
    """Names of the reward terms ``compute_reward`` builds as a dict literal (``components = {"reach": ...}``),
    in order; [] when it builds none that way."""
    try:
        fn = _function(ast.parse(code), "compute_reward")
    except SyntaxError:
        return []
    if fn is None:
        return []
    for node in ast.walk(fn):
        if isinstance(node, ast.Dict) and node.keys and all(isinstance(k, ast.Constant) and isinstance(k.value, str)
                                                            for k in node.keys):
            return [k.value for k in node.keys]  # type: ignore[union-attr]
    return []


def _bound_names(tree: ast.Module) -> set[str]:
    """Module-level names a module binds itself (functions, classes, assignments; imports left out)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


class _Rename(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node


def prefixed(code: str, prefix: str) -> str:
    """``code`` with every module-level name it binds renamed ``PREFIX + name`` (and every use of it), so that
    several modules' code can share one namespace. Imports keep their names; comments are lost."""
    tree = _parse(code, "the code")
    mapping = {n: prefix + n for n in _bound_names(tree)}
    return ast.unparse(ast.fix_missing_locations(_Rename(mapping).visit(tree)))


def _cut(code: str, tree: ast.Module, names: set[str]) -> str:
    """``code`` without the module-level functions ``names`` (their decorators included), comments kept."""
    lines = code.splitlines(keepends=True)
    drop: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            drop |= set(range(first - 1, node.end_lineno or node.lineno))
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def success_source(code: str) -> str:
    """The part of a sub-task's code its success test needs: ``is_success`` and the module-level functions
    and constants it reaches (comments kept), in the order of the file; what the reward alone uses is left
    out (what a language model is shown of the test it is judged by)."""
    tree = _parse(code, "the sub-task's code")
    defs = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defs[node.name] = node
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        defs[n.id] = node
    if "is_success" not in defs:
        raise CandidateError("the sub-task's code defines no is_success(state)")
    keep, todo = set(), ["is_success"]
    while todo:
        node = defs[todo.pop()]
        if id(node) in keep:
            continue
        keep.add(id(node))
        todo += [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in defs]
    lines = code.splitlines()
    out: list[str] = []
    for node in tree.body:
        if id(node) in keep:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            fn = isinstance(node, (ast.FunctionDef, ast.ClassDef))
            out += ([""] if fn and out and out[-1] else []) + lines[first - 1:node.end_lineno] + ([""] if fn else [])
    return "\n".join(out).strip() + "\n"


def with_success(reward_code: str, task_code: str, header: str = "") -> str:
    """One sub-task module: ``compute_reward`` from ``reward_code`` (its own ``is_success``, if any, dropped)
    and the success test of ``task_code`` (the sub-task as proposed), whose module-level names are prefixed
    ``task_`` so that the two cannot collide."""
    tree = _parse(reward_code, "the candidate's code")
    fn = _function(tree, "compute_reward")
    if fn is None:
        raise CandidateError("the candidate's code defines no compute_reward(state)")
    if [a.arg for a in fn.args.args] != ["state"]:
        raise CandidateError("compute_reward must take one argument, state (the state API), got "
                             f"({', '.join(a.arg for a in fn.args.args)})")
    reward = _cut(reward_code, tree, {"is_success"}).rstrip()
    test = prefixed(task_code, "task_")
    head = f"# {header}\n" if header else ""
    return (f"{head}{reward}\n\n\n# -- the sub-task's success test as proposed (the same for every candidate) --\n"
            f"{test}\n\n\ndef is_success(state):\n    return task_is_success(state)\n")


# -- offline variants -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Variant:
    """A change of a proposed reward: terms scaled, some reshaped into a bounded form, a success bonus."""

    weights: tuple[tuple[str, float], ...] = ()
    """Term -> factor (terms not named keep 1; 0 drops a term)."""
    bounded: tuple[str, ...] = ()
    """Terms ``t <= 0`` (negative distances) reshaped as ``exp(5 t) - 1``: bounded, steepest near zero."""
    bonus: float = 0.0
    """Added to the reward (as term ``success``) wherever the success test holds."""

    def weight(self, term: str) -> float:
        return dict(self.weights).get(term, 1.0)

    @property
    def identity(self) -> bool:
        return not self.bounded and not self.bonus and all(w == 1.0 for _, w in self.weights)

    def describe(self) -> str:
        """``open x3, reach bounded, success bonus 2`` (or ``as proposed``)."""
        parts = [f"{t} dropped" if w == 0 else f"{t} x{w:g}" for t, w in self.weights if w != 1.0]
        parts += [f"{t} bounded" for t in self.bounded]
        parts += [f"success bonus {self.bonus:g}"] if self.bonus else []
        return ", ".join(parts) or "as proposed"

    def scaled(self, terms: Sequence[str], factor: float) -> Variant:
        """This variant with ``terms`` scaled by ``factor`` more."""
        w = dict(self.weights)
        for t in terms:
            w[t] = round(w.get(t, 1.0) * factor, 4)
        return dataclasses.replace(self, weights=tuple(sorted((t, x) for t, x in w.items() if x != 1.0)))

    def to_dict(self) -> dict:
        return {"weights": dict(self.weights), "bounded": list(self.bounded), "bonus": self.bonus}

    @classmethod
    def from_dict(cls, d: dict) -> Variant:
        return cls(tuple(sorted((str(k), float(v)) for k, v in d.get("weights", {}).items())),
                   tuple(d.get("bounded", ())), float(d.get("bonus", 0.0)))


VARIANT_CODE = '''

# -- variant of the proposed reward: {what} --
VARIANT_WEIGHTS = {weights}  # factor per term (others keep 1; 0 drops a term)
VARIANT_BOUNDED = {bounded}  # terms t <= 0 reshaped as exp({scale:g} t) - 1: bounded, steepest near zero
VARIANT_SUCCESS_BONUS = {bonus}


def compute_reward(state):
    reward, terms = proposed_reward(state)
    rest = reward - sum(terms.values())  # what the proposed reward adds beyond its terms (usually nothing)
    components = {{}}
    for name, value in terms.items():
        if name in VARIANT_BOUNDED:
            value = np.exp({scale:g} * np.minimum(value, 0.0)) - 1.0
        if VARIANT_WEIGHTS.get(name, 1.0) != 0.0:
            components[name] = VARIANT_WEIGHTS.get(name, 1.0) * value
    if VARIANT_SUCCESS_BONUS:
        components["success"] = VARIANT_SUCCESS_BONUS * is_success(state).astype(float)
    if np.any(np.abs(rest) > 1e-9):
        components["rest"] = rest
    return sum(components.values()), components
'''


def variant_code(code: str, v: Variant) -> str:
    """The proposed code with its reward changed as ``v`` says (unchanged for the identity): the proposed
    ``compute_reward`` is renamed ``proposed_reward`` and wrapped; ``is_success`` stays as it is."""
    if v.identity:
        return code
    tree = _parse(code, "the proposed code")
    fn = _function(tree, "compute_reward")
    if fn is None:
        raise CandidateError("the proposed code defines no compute_reward(state)")
    if "proposed_reward" in _bound_names(tree):
        raise CandidateError("the proposed code already defines proposed_reward")
    lines = code.splitlines(keepends=True)
    i = fn.lineno - 1
    lines[i] = re.sub(r"\bdef\s+compute_reward\b", "def proposed_reward", lines[i], count=1)
    weights = {t: w for t, w in v.weights if w != 1.0}
    return "".join(lines).rstrip() + "\n" + VARIANT_CODE.format(
        what=v.describe(), weights=repr(weights), bounded=repr(tuple(v.bounded)), bonus=repr(float(v.bonus)),
        scale=BOUNDED_SCALE)


def _split(terms: Sequence[str]) -> tuple[list[str], list[str]]:
    """(shaping terms, progress terms) by name (:data:`SHAPING`)."""
    shaping = [t for t in terms if SHAPING.search(t)]
    return shaping, [t for t in terms if t not in shaping]


def first_variants(terms: Sequence[str], k: int, seed: int = 0) -> list[Variant]:
    """``k`` distinct variants for round one: the proposal itself, progress terms x3, shaping terms x3, shaping
    bounded with a success bonus of 2; beyond four, random factors (0.3, 1 or 3 per term, a bonus of 0, 1 or 3)
    drawn from ``seed``."""
    import numpy as np

    shaping, progress = _split(terms)
    fixed = [Variant(), Variant().scaled(progress, 3.0), Variant().scaled(shaping, 3.0),
             Variant(bounded=tuple(t for t in shaping if not re.search("grasp|grip|hold|held", t)), bonus=2.0)]
    out: list[Variant] = []
    for v in fixed:
        if v not in out and len(out) < k:
            out.append(v)
    rng = np.random.default_rng([seed, 18])
    tries = 0
    while len(out) < k and tries < 1000:
        tries += 1
        w = tuple(sorted((t, float(rng.choice([0.3, 1.0, 3.0]))) for t in terms))
        v = Variant(weights=tuple((t, x) for t, x in w if x != 1.0), bonus=float(rng.choice([0.0, 1.0, 3.0])))
        if v not in out:
            out.append(v)
    return out


def next_variants(best: Variant, diagnosis, terms: Sequence[str], k: int, tried: Sequence[Variant], seed: int = 0
                  ) -> list[tuple[Variant, str]]:
    """``k`` new variants from the best one so far, by the reflection's guidance
    (:class:`rlscope.gen2sim.tasks.reflect.Diagnosis`): scale a dominant term down, rewrite (progress x3, a
    success bonus, shaping bounded) when no candidate succeeded, drop terms that training could not move, then
    perturb the best one. Each with the reason it was made; none already ``tried``."""
    import numpy as np

    shaping, progress = _split([t for t in terms if best.weight(t) != 0.0])
    plans: list[tuple[Variant, str]] = []
    if diagnosis.zero_success:
        bonus = max(3.0, 2 * best.bonus)
        bounded = tuple(sorted(set(best.bounded) | {t for t in shaping if not re.search("grasp|grip|hold|held", t)}))
        plans.append((dataclasses.replace(best.scaled(progress, 3.0), bonus=bonus, bounded=bounded),
                      "no candidate succeeded: rewrite (progress terms x3, success bonus, shaping bounded)"))
    if diagnosis.dominant and diagnosis.dominant in terms:
        plans.append((best.scaled([diagnosis.dominant], 1 / 3), f"rescale the dominant term {diagnosis.dominant} (x1/3)"))
    flat = [t for t in diagnosis.flat if t in terms and best.weight(t) != 0.0]
    if flat and len(flat) < len([t for t in terms if best.weight(t) != 0.0]):
        plans.append((best.scaled(flat, 0.0), f"drop the term(s) training could not move: {', '.join(flat)}"))
    if diagnosis.zero_success:
        plans.append((dataclasses.replace(best, bonus=max(5.0, 3 * best.bonus)), "no candidate succeeded: larger success bonus"))
    plans += [(best.scaled(progress, 2.0), "perturb the best: progress terms x2"),
              (best.scaled(shaping, 0.5), "perturb the best: shaping terms x1/2"),
              (dataclasses.replace(best, bonus=best.bonus + 1.0), "perturb the best: success bonus +1"),
              (best.scaled(progress, 0.5), "perturb the best: progress terms x1/2")]
    rng = np.random.default_rng([seed, 19])
    for _ in range(200):
        t = str(rng.choice(list(terms))) if terms else None
        if t is not None:
            plans.append((best.scaled([t], float(rng.choice([0.3, 0.5, 2.0, 3.0]))), f"perturb the best: {t} rescaled"))
    out: list[tuple[Variant, str]] = []
    seen = set(tried)
    for v, why in plans:
        if v not in seen:
            out.append((v, why))
            seen.add(v)
        if len(out) == k:
            break
    return out


# -- language-model candidates ---------------------------------------------------------------------------------
REWARD_INSTRUCTIONS = """\
Write the reward function of one sub-task of a long-horizon task: `compute_reward(state)`, a dense, shaped reward
(reach the handle or object first, then make progress on the part or object) that returns (reward, components),
where components is a dict of named (N,) terms that sum to the reward. The sub-task's success test is given and
fixed: policies trained on your reward are judged by it. Rules for the code:
- use only NumPy (`np`) and math, and only the state API above; no other imports, no files, no printing;
- every quantity is a batch over N environments: use array operations and np.where, never a Python `if` on arrays;
- use the exact names of the scene description (INSTANCE/NAME), written as string literals or module constants.

Answer with one fenced Python code block that defines compute_reward(state) (it may define helpers and constants;
any is_success you write is replaced by the given one)."""


def _start_words(sub) -> str:
    parts = [f"the gripper within {sub.init.gripper_noise:g} m of its start"]
    parts += [f"{j} at {lo:.0%}-{hi:.0%} of its travel" for j, (lo, hi) in sub.init.joints.items()]
    parts += [f"{o} on the floor near its start" for o in sub.init.objects]
    parts += [f"goal {g} drawn in a box" for g in sub.init.goals]
    return ", ".join(parts) + " (joints not named start closed)"


def reward_messages(scene_text: str, task, k: int) -> list[tuple[str, str]]:
    """The chat that asks for ``compute_reward`` of sub-task ``k`` of ``task`` in the scene ``scene_text``
    (:func:`~rlscope.gen2sim.tasks.describe.render_description`)."""
    from rlscope.gen2sim.sim.state import STATE_API
    from rlscope.gen2sim.tasks.prompt import SYSTEM

    sub = task.subtasks[k]
    order = "\n".join(f"{i + 1}. {s.name}: {s.description}" for i, s in enumerate(task.subtasks))
    user = (f"The scene contains:\n{scene_text}\n\nTask {task.task_id}: {task.description}\nIts sub-tasks, in order "
            f"(each trained as its own policy, each starting where the previous one ended):\n{order}\n\n"
            f"Write compute_reward(state) for sub-task {k + 1}, {sub.name}: {sub.description}\n"
            f"Its episodes last {sub.episode_steps} control steps; they start with {_start_words(sub)}.\n"
            f"Success is judged at the last step by this test:\n```python\n{success_source(sub.code).rstrip()}\n```")
    return [("system", f"{SYSTEM}\n\n{STATE_API}\n{REWARD_INSTRUCTIONS}"), ("user", user)]


def reflection_messages(first: Sequence[tuple[str, str]], answer: str, feedback: str, sub_name: str) -> list[tuple[str, str]]:
    """The chat of a reflection round: the first round's request, the best answer so far, then the feedback on
    the last round's candidates (:func:`rlscope.gen2sim.tasks.reflect.round_feedback`)."""
    return [*first, ("assistant", answer),
            ("user", f"{feedback.rstrip()}\n\nWrite an improved compute_reward(state) for sub-task {sub_name}, "
                     "as one fenced Python code block.")]


_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)


def reward_from_answer(text: str) -> str:
    """The code of an answer: its last fenced block (or the whole answer, when it has none) that defines
    ``compute_reward(state)``. Raises :class:`CandidateError` naming what is missing."""
    blocks = [b for tag, b in _FENCE.findall(text) if tag.lower() in ("", "python", "py", "python3")] or [text]
    found = None
    for block in blocks:
        try:
            tree = ast.parse(block)
        except SyntaxError:
            continue
        fn = _function(tree, "compute_reward")
        if fn is not None:
            found = (block, fn)
    if found is None:
        bad = next((b for b in blocks if "def compute_reward" in b), None)
        if bad is not None:
            _parse(bad, "its code block")  # raises with the syntax error
        raise CandidateError("the answer has no code block defining compute_reward(state)")
    block, fn = found
    if [a.arg for a in fn.args.args] != ["state"]:
        raise CandidateError("compute_reward must take one argument, state (the state API); the Gen2Sim format's "
                             "compute_reward(self) is not asked for here")
    return block.strip() + "\n"


# -- one reward for a whole task ------------------------------------------------------------------------------
COMPOSED = '''

# -- one reward for the whole task: the stage is the last sub-task whose success test holds --
STAGES = ({rewards},)
TESTS = ({tests},)
STAGE_BONUS = {bonus:g}  # per completed stage: finishing a stage never lowers the reward


def stage(state):
    done = np.zeros(state.n, dtype=int)
    for k in range(len(TESTS) - 1, -1, -1):
        done = np.where((done == 0) & TESTS[k](state), k + 1, done)
    return done


def compute_reward(state):
    k = np.minimum(stage(state), len(STAGES) - 1)
    components = {{}}
    for i, fn in enumerate(STAGES):
        reward, _ = fn(state)
        components[f"stage{{i + 1}}"] = np.where(k == i, reward, 0.0)
    components["stages_done"] = STAGE_BONUS * stage(state).astype(float)
    return sum(components.values()), components


def is_success(state):
    return TESTS[-1](state)
'''


def undecomposed(task, name: str = "whole"):
    """``task`` as one sub-task with one reward for the whole of it, for the decomposition ablation: each
    sub-task's code kept under a prefix (``s1_``, ``s2_``, ...); the reward is that of the current stage (the
    sub-task after the last one whose success test holds) plus :data:`STAGE_BONUS` per completed stage; success
    is the last sub-task's. Episodes last as long as the sub-tasks' together and start as the first one's;
    the training budget is theirs together; observations are all of theirs; PPO settings are merged (later
    sub-tasks' win)."""
    from rlscope.gen2sim.tasks.task import SubTask, Task

    subs = task.subtasks
    if any(s.format != "state" for s in subs):
        raise CandidateError("only code in the state format can be composed into one reward")
    parts = [f"# -- sub-task {i + 1}: {s.name} --\n{prefixed(s.code, f's{i + 1}_')}" for i, s in enumerate(subs)]
    code = ("import numpy as np\n\n" + "\n\n\n".join(parts) + COMPOSED.format(
        rewards=", ".join(f"s{i + 1}_compute_reward" for i in range(len(subs))),
        tests=", ".join(f"s{i + 1}_is_success" for i in range(len(subs))), bonus=STAGE_BONUS))
    ppo: dict = {}
    for s in subs:
        ppo.update(s.ppo)
    whole = SubTask(name=name, description=task.description, code=code,
                    observe=tuple(dict.fromkeys(t for s in subs for t in s.observe)),
                    episode_steps=sum(s.episode_steps for s in subs), train_steps=sum(s.train_steps for s in subs),
                    init=subs[0].init, suction=any(s.suction for s in subs), ppo=ppo)
    return Task(task_id=f"{task.task_id}_undecomposed", description=task.description, scene=task.scene,
                subtasks=(whole,), root=task.root)
