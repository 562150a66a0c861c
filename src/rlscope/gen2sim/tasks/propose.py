"""Task proposal: assets in, validated tasks out, from a language model or the offline proposer.

``rlscope gen2sim propose ASSET...`` (and the first stage of ``rlscope gen2sim run``) writes::

    OUT/tasks/<task_id>/task.json  <sub_task>.py ...  assets/   (a task, self-contained)
                        proposal.json    where it came from: proposer, model, candidate, the files below
                        prompt.md        the messages sent (language models only)
                        response.md      the answer the task was parsed from (and response_repair.md)
                        validation.json  per sub-task: passed or rejected, the reasons and the warnings
    OUT/rejected.json   candidates that never became a task (unparsable answers), with their reasons
    OUT/llm_cache/      every request and response (a rerun replays them)

A language model sees each articulated asset in a scene (with the free objects of the inputs, or a cube
where the asset has a part that holds things) and each free object alone. Its answer is parsed
leniently (:mod:`rlscope.gen2sim.tasks.parse`); an answer with problems gets one repair round in which
the model sees them, after which what still fails is rejected with its reason. Validation
(:mod:`rlscope.gen2sim.tasks.validate`) runs in the sandboxed worker, never here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path
from typing import Annotated, Any

import tyro

from rlscope.config import atomic_write_text
from rlscope.gen2sim.sim.scene import ObjectSpec, SceneSpec
from rlscope.gen2sim.tasks.offline import (
    DEFAULT_OBJECT, DEFAULT_TRAIN_STEPS, TRAIN_STEPS, Placed, propose_offline, split_inputs,
)
from rlscope.gen2sim.tasks.task import InitSpec, SubTask, Task

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LLMConfig:
    """The language model of every Gen2Sim step that uses one."""

    llm: str = "offline"
    """``offline`` (the deterministic proposer), ``openai:MODEL@URL`` (vLLM serve, llama.cpp, Ollama, OpenAI; key from
    $OPENAI_API_KEY) or ``hf:PATH`` (a local transformers model)."""
    candidates: int = 1
    """Answers drawn per scene from a language model."""
    temperature: float = 0.7
    """Sampling temperature of the answers."""
    max_new_tokens: int = 4096
    """Longest answer, in tokens."""
    cache: bool = True
    """Replay cached answers (--no-cache asks again; the new answers replace the cached ones)."""
    timeout_s: float = 300.0
    """One request's socket timeout."""
    max_retries: int = 3
    """Retries (with backoff) of a request that fails, times out or comes back empty."""


@dataclasses.dataclass(frozen=True)
class ProposeConfig:
    """`rlscope gen2sim propose ASSET...`: tasks, decompositions and reward code for assets, validated."""

    inputs: Annotated[tuple[str, ...], tyro.conf.Positional] = ()
    """Asset directories, images, meshes, URDFs or procedural:KIND (default: a procedural cabinet with one drawer)."""
    out: Path = Path("runs/gen2sim/proposals")
    """Output directory (tasks/, rejected.json, llm_cache/, assets/)."""
    seed: int = 0
    """Seed of procedural assets and of the offline proposer."""
    category: str | None = None
    """Category of image/mesh inputs (mug, bottle, box, ...)."""
    validate: bool = True
    """Validate every proposed task in the sandbox (--no-validate: only write them)."""
    unsafe: bool = False
    """Run task code without the sandbox when bubblewrap is missing."""
    call_s: float = 2.0
    """Budget of one call of a candidate's compute_reward or is_success during validation (s)."""
    validate_s: float = 300.0
    """Wall-clock limit of the whole validation (s)."""
    keep_going: bool = False
    """Use an input's asset even when its validation fails."""
    model: Annotated[LLMConfig, tyro.conf.OmitArgPrefixes] = LLMConfig()


@dataclasses.dataclass
class Proposal:
    """A proposed task and where it came from."""

    task: Task
    source: dict[str, Any]
    """proposer, model, scene, candidate, repaired."""
    prompt: list[tuple[str, str]] | None = None
    responses: list[str] = dataclasses.field(default_factory=list)


# -- language-model proposals --------------------------------------------------------------------------

_START = {"prismatic": (0.75, 1.0), "revolute": (0.4, 0.7)}
"""Where a part starts (fraction of travel) for a task that must find it open (a Gen2Sim-format close task)."""
GOAL_BOX = ((-0.15, -0.25, 0.02), (0.15, -0.05, 0.2))
"""Where a goal the code reads (``state.goal(NAME)``) is drawn, in front of the asset."""
OBJECT_STEPS = 600_000
"""Training budget of a sub-task that moves a free object."""


def _names_used(code: str, known: set[str]) -> list[str]:
    """Scene names written in the code as string literals, in order of first use."""
    found = re.findall(r"""["']([A-Za-z0-9_./-]+)["']""", code)
    pairs = re.findall(r"""["']([A-Za-z0-9_.-]+)["']\s*,\s*["']([A-Za-z0-9_.-]+)["']""", code)  # Gen2Sim: (asset, part)
    names = [n for n in found if n in known] + [f"{a}/{b}" for a, b in pairs if f"{a}/{b}" in known]
    return list(dict.fromkeys(names))


def llm_scenes(placed: list[Placed], objects: list[tuple[ObjectSpec, str]]) -> list[tuple[str, SceneSpec]]:
    """(scene name, scene) of every scene a language model is asked about."""
    from rlscope.gen2sim.sim.scene import AssetSpec, GripperSpec
    from rlscope.gen2sim.tasks.offline import containers, gripper_near

    scenes = []
    for a in placed:
        objs = tuple(o for o, _ in objects) or ((DEFAULT_OBJECT,) if containers(a) else ())
        near = a.desc["handles"][0]["pos"] if a.desc["handles"] else a.desc["pos"]
        scenes.append((a.inst, SceneSpec(assets=(AssetSpec(name=a.inst, dir=a.dir, pos=tuple(a.desc["pos"]), fixed=True),),
                                         objects=objs, gripper=gripper_near(near, (a.desc["size"] or [0, 0, 1.0])[2]))))
    for o, _ in objects:
        scenes.append((o.name, SceneSpec(objects=(o,), gripper=GripperSpec(start=(0.0, -0.25, 0.1)))))
    return scenes


def build_task(parsed, scene: SceneSpec, desc: dict[str, Any], task_id: str) -> Task:
    """A :class:`Task` from a parsed answer's task in ``scene``: observations from the names its code uses, the
    start of each sub-task from its ``Start:`` lines (a Gen2Sim-format task that closes something starts with
    the parts it reads open), the defaults of the offline proposer for the rest. Raises ValueError naming
    what does not fit the scene."""
    joints = {j["name"]: j for a in desc["assets"] for j in a["joints"]}
    operates = {h["name"]: h["operates"] for a in desc["assets"] for h in a["handles"]}
    links = {lk["name"] for a in desc["assets"] for lk in a["links"]}
    objects = {o["name"] for o in desc["objects"]}
    subs = []
    for ps in parsed.subtasks:
        used = _names_used(ps.code, set(joints) | set(operates) | links | objects)
        kinds = [("handle" if n in operates else "joint" if n in joints else "object" if n in objects else "link", n) for n in used]
        kinds += [("joint", operates[n]) for n in used if operates.get(n)]  # a handle's part: how far it moved
        observe = tuple(dict.fromkeys(f"{k}:{n}" for k, n in kinds))
        start = dict(ps.start)
        for name in start:
            if name not in joints:
                raise ValueError(f"sub-task {ps.name!r}: Start names {name!r}, not a joint of the scene ({', '.join(sorted(joints))})")
        if ps.format == "gen2sim" and re.search(r"\b(close|shut|lower)", f"{parsed.name} {parsed.description} {ps.name}", re.I):
            start.update({n: _START.get(joints[n]["type"], (0.4, 0.7)) for n in used if n in joints and n not in start})
        goals = sorted(set(re.findall(r"""state\.goal\(\s*["']([A-Za-z0-9_]+)["']""", ps.code)))
        init = InitSpec(gripper_noise=0.05, joints=start, goals={g: GOAL_BOX for g in goals},
                        objects={o.name: {"xy": [[o.pos[0] - 0.05, o.pos[1] - 0.03], [o.pos[0] + 0.05, o.pos[1] + 0.03]]}
                                 for o in scene.objects})
        moved = [joints[n]["moves_semantic"] for n in used if n in joints]
        steps = OBJECT_STEPS if any(n in objects for n in used) else TRAIN_STEPS.get(moved[0] if moved else "", DEFAULT_TRAIN_STEPS)
        subs.append(SubTask(name=ps.name, description=ps.description, code=ps.code, observe=observe, episode_steps=100,
                            train_steps=steps, init=init, format=ps.format))
    return Task(task_id=task_id, description=parsed.description, scene=scene, subtasks=tuple(subs))


def _ask(client, scene_name: str, scene: SceneSpec, cfg: LLMConfig, rejected: list[dict]) -> list[Proposal]:
    """Every task of every candidate answer about one scene (one repair round per answer with problems)."""
    from rlscope.gen2sim.tasks import prompt
    from rlscope.gen2sim.tasks.describe import describe_scene, render_description
    from rlscope.gen2sim.tasks.parse import parse_answer
    from rlscope.llm.base import SamplingParams

    desc = describe_scene(scene)
    messages = prompt.messages(render_description(desc))
    params = SamplingParams(temperature=cfg.temperature, top_p=1.0, max_new_tokens=cfg.max_new_tokens)
    out = []
    for c in range(cfg.candidates):
        first = client.complete(messages, params, candidate=c).text
        result, responses, chat = parse_answer(first), [first], list(messages)
        built, errors = _build_all(result, scene, desc, scene_name, c)
        errors = list(result.errors) + errors
        if errors:
            chat = messages + prompt.repair(first, errors)
            second = client.complete(chat, params, candidate=c).text
            responses.append(second)
            result = parse_answer(second)
            built, errors = _build_all(result, scene, desc, scene_name, c)
            errors = list(result.errors) + errors
        for reason in errors:
            rejected.append({"scene": scene_name, "candidate": c, "reason": reason, "repaired": len(responses) > 1})
        source = {"proposer": "llm", "model": client.spec.label, "scene": scene_name, "candidate": c, "repaired": len(responses) > 1}
        out += [Proposal(t, source, chat, responses) for t in built]
    return out


def _build_all(result, scene: SceneSpec, desc: dict, scene_name: str, c: int) -> tuple[list[Task], list[str]]:
    tasks, errors = [], []
    for parsed in result.tasks:
        try:
            tasks.append(build_task(parsed, scene, desc, f"{parsed.name}_{scene_name}" + (f"_c{c}" if c else "")))
        except ValueError as exc:
            errors.append(f"task {parsed.name!r}: {exc}")
    return tasks, errors


# -- writing and validating ------------------------------------------------------------------------------

def _render_messages(messages: list[tuple[str, str]]) -> str:
    return "\n\n".join(f"## {role}\n\n{content}" for role, content in messages) + "\n"


TASK_FILES = ("task.json", "assets/")
"""What defines a task in its directory (with its .py files): a change there voids its validation."""


def _defining(tdir: Path) -> dict[str, str]:
    from rlscope.gen2sim.tasks.task import tree_digest

    return {k: v for k, v in tree_digest(tdir).items() if k.startswith(TASK_FILES) or k.endswith(".py")}


def write_proposal(p: Proposal, tasks_dir: Path) -> Path:
    """``tasks_dir/<task_id>/``: the task (assets copied in), where it came from, the prompt and the answers.
    A directory that already holds the same task keeps its validation; another version is replaced."""
    import shutil

    from rlscope.gen2sim.pipeline import copy_task

    tdir = tasks_dir / p.task.task_id
    incoming = tasks_dir / f".{p.task.task_id}.incoming"
    shutil.rmtree(incoming, ignore_errors=True)
    copy_task(p.task, incoming)
    files: dict[str, Any] = {}
    if p.prompt is not None:
        atomic_write_text(incoming / "prompt.md", _render_messages(p.prompt))
        files["prompt"] = "prompt.md"
    for k, text in enumerate(p.responses):
        name = "response.md" if k == 0 else "response_repair.md"
        atomic_write_text(incoming / name, text)
        files.setdefault("responses", []).append(name)
    atomic_write_text(incoming / "proposal.json", json.dumps(p.source | {"files": files}, indent=2) + "\n")
    if tdir.exists() and (tdir / "validation.json").exists() and _defining(tdir) == _defining(incoming):
        shutil.copy2(tdir / "validation.json", incoming / "validation.json")
    shutil.rmtree(tdir, ignore_errors=True)
    incoming.rename(tdir)
    return tdir


def validate_tasks(tasks_dir: Path, *, unsafe: bool, call_s: float, wall_s: float) -> dict[str, Any]:
    """Validate every task under ``tasks_dir`` that has no ``validation.json`` yet, in the sandboxed worker;
    returns task id -> its validation."""
    from rlscope.gen2sim.worker import launch

    if any(not (p.parent / "validation.json").exists() for p in tasks_dir.glob("*/task.json")):
        launch("validate", tasks_dir, str(call_s), unsafe=unsafe, wall_s=wall_s, what="the validation of the proposed tasks",
               limit_option="--validate-s")
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(tasks_dir.glob("*/validation.json"))}


def propose(cfg: ProposeConfig, asset_dirs: list[Path], say=None) -> dict[str, Any]:
    """Propose (or replay) tasks for the assets, write them under ``cfg.out/tasks``, validate them; returns
    {"tasks": task id -> validation, "rejected": [...]}."""
    from rlscope.config import write_manifest

    say = say or (lambda *_: None)
    out = cfg.out
    tasks_dir = out / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(out, "propose", cfg)
    placed, objects = split_inputs(asset_dirs)
    rejected: list[dict] = []
    if cfg.model.llm == "offline":
        proposals = [Proposal(t, {"proposer": "offline", "seed": cfg.seed}) for t in propose_offline(placed, objects, cfg.seed)]
    else:
        from rlscope.llm.chat import ChatClient, parse_llm

        spec = parse_llm(cfg.model.llm)
        if spec.backend == "offline":
            proposals = [Proposal(t, {"proposer": "offline", "seed": cfg.seed}) for t in propose_offline(placed, objects, cfg.seed)]
        else:
            client = ChatClient(spec, out / "llm_cache", use_cache=cfg.model.cache, timeout_s=cfg.model.timeout_s,
                                max_retries=cfg.model.max_retries)
            proposals = []
            for name, scene in llm_scenes(placed, objects):
                say(f"asking {spec.label} for tasks of {name} ({cfg.model.candidates} candidate(s))")
                proposals += _ask(client, name, scene, cfg.model, rejected)
    for p in proposals:
        write_proposal(p, tasks_dir)
    atomic_write_text(out / "rejected.json", json.dumps(rejected, indent=2) + "\n")
    say(f"{len(proposals)} task(s) proposed" + (f", {len(rejected)} candidate task(s) rejected before validation" if rejected else ""))
    verdicts = validate_tasks(tasks_dir, unsafe=cfg.unsafe, call_s=cfg.call_s, wall_s=cfg.validate_s) if cfg.validate else {}
    proposed = list(dict.fromkeys(p.task.task_id for p in proposals))
    return {"tasks": {k: v for k, v in verdicts.items() if k in proposed}, "proposed": proposed, "rejected": rejected}
