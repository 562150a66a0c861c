"""Static checks of task code, before it ever runs: read with :mod:`ast`, never executed.

:func:`static_problems` lists what would make a sub-task's code wrong or unsafe to run:

- it does not parse, or does not define ``compute_reward(state)`` and ``is_success(state)``;
- it imports anything but NumPy and ``math``, touches dunder or private attributes (``__class__``,
  ``np._core``), reaches a module such as ``os`` through another (``np.f2py.crackfortran.os``) or calls
  builtins that reach outside its inputs (``open``, ``eval``, ``exec``, ``getattr``, ...). These checks keep
  honest mistakes and the obvious escapes out; the sandbox, not them, is what confines the code;
- it reads ``state.X`` for an ``X`` the state API (:data:`rlscope.gen2sim.sim.state.STATE_API`) does not
  have;
- it names a link, joint, handle, object or goal that the scene does not have (names written as string
  literals, directly or through a module-level constant), with the closest existing names suggested.

The first two kinds hold for every code format: :func:`screen` checks them, here and for the Gen2Sim
paper's format (:func:`rlscope.gen2sim.tasks.gen2sim_format.static_problems_gen2sim`), which adds its own
API and names to them as :func:`static_problems` adds the state API's.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib

ALLOWED_IMPORTS = frozenset({"numpy", "math"})
"""Modules task code may import (``np`` is provided already)."""
FORBIDDEN_CALLS = frozenset({"open", "eval", "exec", "compile", "getattr", "setattr", "delattr", "globals", "locals",
                             "vars", "input", "breakpoint", "__import__", "memoryview", "help"})
"""Builtins that read or change what lies outside the state (files, the interpreter, other objects)."""
MODULE_ATTRIBUTES = frozenset({"os", "sys", "subprocess", "socket", "shutil", "builtins", "importlib", "ctypes", "io",
                               "pathlib"})
"""Modules other libraries import that code could reach as attributes (``np.f2py.crackfortran.os``)."""
STATE_ATTRIBUTES = frozenset({"gripper", "link", "handle", "joint", "object", "goal", "is_grasping", "penetration",
                              "t", "n"})
"""What ``state.X`` may name (the state API)."""
NAMED = {"link": "links", "handle": "handles", "joint": "joints", "object": "objects", "goal": "goals",
         "is_grasping": "graspables"}
"""State methods taking a name, and the kind of name each takes."""
REQUIRED = ("compute_reward", "is_success")


@dataclasses.dataclass(frozen=True)
class SceneNames:
    """The names a sub-task's code may use, by kind."""

    links: frozenset[str] = frozenset()
    joints: frozenset[str] = frozenset()
    handles: frozenset[str] = frozenset()
    objects: frozenset[str] = frozenset()
    goals: frozenset[str] = frozenset()
    graspables: frozenset[str] = frozenset()

    @classmethod
    def of(cls, scene, sub) -> SceneNames:
        """The names of a compiled :class:`~rlscope.gen2sim.sim.scene.Scene` and a sub-task's goals."""
        return cls(links=frozenset(scene.links), joints=frozenset(scene.joints), handles=frozenset(scene.handles),
                   objects=frozenset(scene.objects), goals=frozenset(sub.init.goals),
                   graspables=frozenset(g.name for g in scene.graspables))


def _is_state(node: ast.AST, params: set[str]) -> bool:
    return isinstance(node, ast.Name) and node.id in params


def _listed(modules: frozenset[str]) -> str:
    """``numpy and math``, ``numpy, torch and math``."""
    names = sorted(modules, key=("numpy", "torch", "math").index)
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def unsafe_node(node: ast.AST, where: str, allowed_imports: frozenset[str] = ALLOWED_IMPORTS) -> str | None:
    """Why one node of task code is off limits in either code format (imports, dunder or private attributes,
    modules reached as attributes, builtins that reach outside); None when it is fine."""
    line = getattr(node, "lineno", "?")
    if isinstance(node, ast.Import | ast.ImportFrom):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or "."]
        for module in modules:
            if module.split(".")[0] not in allowed_imports:
                return f"{where}:{line}: imports {module}; task code may use only {_listed(allowed_imports)}"
    elif isinstance(node, ast.Attribute) and node.attr.startswith("__"):
        return f"{where}:{line}: uses the dunder attribute {node.attr}"
    elif isinstance(node, ast.Attribute) and (node.attr.startswith("_") or node.attr in MODULE_ATTRIBUTES):
        return (f"{where}:{line}: reaches {node.attr} through an attribute (private names and modules other than "
                f"{_listed(allowed_imports)} are off limits)")
    elif isinstance(node, ast.Name) and node.id.startswith("__"):
        return f"{where}:{line}: uses {node.id}"
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
        return f"{where}:{line}: calls {node.func.id}(), which reaches outside the state"
    return None


def unknown_name(value: str, known: frozenset[str], kind: str, call: str, where: str, line) -> str | None:
    """The problem of a scene name the scene does not have (with close matches), or None."""
    if value in known:
        return None
    close = difflib.get_close_matches(value, sorted(known), n=3, cutoff=0.5)
    hint = f"; close: {', '.join(close)}" if close else f"; the scene has {', '.join(sorted(known)) or 'none'}"
    return f"{where}:{line}: {call}: no such {kind}{hint}"


def screen(code: str, where: str, required: tuple[str, ...], argument: str,
           allowed_imports: frozenset[str] = ALLOWED_IMPORTS) -> tuple[ast.Module | None, list[str]]:
    """The checks every code format shares: ``code`` parses, defines each function of ``required`` at its top
    level taking one argument (``argument``, as messages name it), and has no node :func:`unsafe_node` refuses.

    Returns the syntax tree (None when the code does not parse) and the problems found, in source order.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return None, [f"{where}:{exc.lineno}: syntax error: {exc.msg}"]
    problems: list[str] = []
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    for name in required:
        fn = functions.get(name)
        if fn is None:
            problems.append(f"{where}: defines no function {name}({argument})")
        elif len(fn.args.posonlyargs) + len(fn.args.args) != 1 or fn.args.vararg or fn.args.kwonlyargs:
            problems.append(f"{where}:{fn.lineno}: {name} must take one argument, {argument}")
    problems += [bad for node in ast.walk(tree) if (bad := unsafe_node(node, where, allowed_imports))]
    return tree, problems


def string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` assignments (names written once and used in calls)."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def static_problems(code: str, names: SceneNames, where: str = "task code") -> list[str]:
    """Problems of ``code`` found without running it (empty: it may go on to the dynamic check)."""
    tree, problems = screen(code, where, REQUIRED, "state")
    if tree is None:
        return problems
    # every parameter of every function may be a state (helpers receive it too)
    params = {a.arg for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Lambda)) for a in n.args.args}
    constants = string_constants(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Attribute) and _is_state(node.value, params) and not node.attr.startswith("_") \
                and node.attr not in STATE_ATTRIBUTES:
            close = difflib.get_close_matches(node.attr, sorted(STATE_ATTRIBUTES), n=2)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            problems.append(f"{where}:{line}: state.{node.attr} is not in the state API{hint}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _is_state(node.func.value, params) \
                and node.func.attr in NAMED and node.args:
            arg = node.args[0]
            value = arg.value if isinstance(arg, ast.Constant) else constants.get(arg.id) if isinstance(arg, ast.Name) else None
            if isinstance(value, str):
                kind = NAMED[node.func.attr]
                bad = unknown_name(value, getattr(names, kind), kind[:-1], f"state.{node.func.attr}({value!r})", where, line)
                if bad:
                    problems.append(bad)
    return list(dict.fromkeys(problems))
