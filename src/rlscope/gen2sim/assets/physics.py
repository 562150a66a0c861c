"""Physical parameters: a Gen2Sim-style language-model query, with category/material tables as fallback.

The query asks, as Gen2Sim does, for the plausible size range (cm) and mass range (g) of the
object, and its main material; we also ask for its shape (round/boxy/flat/irregular), which picks
the lifting method. The answer must be one JSON object. When no backend is configured, the call
fails, or the answer is malformed or implausible, the tables below are used and a warning says why.

The values are applied, not just recorded: the mesh is scaled so its longest side is the chosen
size, the link mass is the chosen mass, the inertia is computed from the (scaled) mesh with the
density that gives that mass, and the collision friction comes from the material table.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from typing import Any

import numpy as np

from rlscope.gen2sim.assets.asset import Inertial

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Material:
    density: float
    """Solid density, kg/m^3 (only a prior: the applied mass comes from the mass range)."""
    friction: float
    """Sliding friction coefficient against a typical table top."""


MATERIALS: dict[str, Material] = {
    "wood": Material(650, 0.5),
    "plastic": Material(1000, 0.4),
    "metal": Material(7800, 0.35),
    "ceramic": Material(2300, 0.55),
    "glass": Material(2500, 0.3),
    "rubber": Material(1100, 1.0),
    "paper": Material(700, 0.5),
    "fabric": Material(300, 0.7),
    "organic": Material(950, 0.6),
    "stone": Material(2600, 0.6),
    "foam": Material(100, 0.8),
}
"""Materials the pipeline knows (friction per material)."""

MATERIAL_ALIASES = {
    "steel": "metal", "stainless steel": "metal", "aluminum": "metal", "aluminium": "metal", "iron": "metal",
    "brass": "metal", "copper": "metal", "tin": "metal", "porcelain": "ceramic", "stoneware": "ceramic",
    "clay": "ceramic", "cardboard": "paper", "paperboard": "paper", "cloth": "fabric", "cotton": "fabric",
    "plush": "fabric", "food": "organic", "fruit": "organic", "vegetable": "organic", "mdf": "wood",
    "plywood": "wood", "particle board": "wood", "silicone": "rubber", "marble": "stone", "granite": "stone",
    "polypropylene": "plastic", "abs": "plastic", "pet": "plastic", "polyethylene": "plastic", "acrylic": "plastic",
    "styrofoam": "foam",
}

SHAPES = ("round", "boxy", "flat", "irregular")


@dataclasses.dataclass(frozen=True)
class CategoryInfo:
    size_cm: tuple[float, float]
    """Longest side, cm."""
    mass_g: tuple[float, float]
    material: str
    shape: str
    depth_ratio: float = 0.6
    """Depth / width, for extruding a single front view."""


CATEGORIES: dict[str, CategoryInfo] = {
    "mug": CategoryInfo((8, 12), (250, 400), "ceramic", "round"),
    "cup": CategoryInfo((7, 12), (150, 350), "ceramic", "round"),
    "glass": CategoryInfo((8, 15), (150, 350), "glass", "round"),
    "bottle": CategoryInfo((18, 32), (300, 900), "glass", "round"),
    "can": CategoryInfo((10, 13), (300, 400), "metal", "round"),
    "jar": CategoryInfo((8, 18), (200, 600), "glass", "round"),
    "bowl": CategoryInfo((12, 25), (200, 600), "ceramic", "round"),
    "vase": CategoryInfo((15, 40), (400, 1500), "ceramic", "round"),
    "pot": CategoryInfo((15, 30), (800, 2000), "metal", "round"),
    "kettle": CategoryInfo((18, 28), (800, 1500), "metal", "irregular"),
    "apple": CategoryInfo((6, 9), (120, 250), "organic", "round"),
    "orange": CategoryInfo((6, 10), (130, 250), "organic", "round"),
    "fruit": CategoryInfo((5, 12), (80, 300), "organic", "round"),
    "ball": CategoryInfo((6, 24), (50, 450), "rubber", "round"),
    "box": CategoryInfo((15, 45), (300, 2000), "paper", "boxy", 0.7),
    "book": CategoryInfo((18, 30), (250, 1200), "paper", "flat", 0.15),
    "phone": CategoryInfo((13, 17), (140, 240), "glass", "flat", 0.1),
    "remote": CategoryInfo((14, 22), (80, 200), "plastic", "flat", 0.25),
    "block": CategoryInfo((3, 8), (20, 150), "wood", "boxy", 1.0),
    "cube": CategoryInfo((3, 8), (20, 150), "wood", "boxy", 1.0),
    "toy": CategoryInfo((8, 25), (50, 400), "plastic", "irregular"),
    "duck": CategoryInfo((8, 15), (50, 200), "rubber", "irregular"),
    "teddy": CategoryInfo((20, 40), (150, 600), "fabric", "irregular"),
    "shoe": CategoryInfo((24, 32), (250, 600), "fabric", "irregular", 0.35),
    "plate": CategoryInfo((20, 28), (300, 700), "ceramic", "round"),
    "tray": CategoryInfo((30, 50), (400, 1500), "plastic", "flat", 0.8),
    "laptop": CategoryInfo((30, 40), (1200, 2500), "metal", "flat", 0.7),
    "cabinet": CategoryInfo((50, 120), (15000, 45000), "wood", "boxy", 0.6),
    "drawer": CategoryInfo((40, 90), (8000, 30000), "wood", "boxy", 0.6),
    "microwave": CategoryInfo((44, 60), (10000, 18000), "metal", "boxy", 0.7),
    "trash_can": CategoryInfo((25, 45), (800, 3000), "plastic", "round"),
    "storage_box": CategoryInfo((20, 45), (400, 2500), "plastic", "boxy", 0.7),
    "window": CategoryInfo((50, 110), (8000, 20000), "wood", "flat", 0.1),
    "faucet": CategoryInfo((15, 30), (800, 2500), "metal", "irregular"),
    "refrigerator": CategoryInfo((80, 190), (40000, 110000), "metal", "boxy", 0.8),
    "dishwasher": CategoryInfo((60, 90), (30000, 55000), "metal", "boxy", 1.0),
    "washing_machine": CategoryInfo((60, 90), (50000, 85000), "metal", "boxy", 1.0),
    "safe": CategoryInfo((30, 80), (15000, 120000), "metal", "boxy", 0.9),
    "table": CategoryInfo((60, 180), (8000, 40000), "wood", "flat", 0.6),
    "chair": CategoryInfo((75, 105), (3000, 9000), "wood", "irregular", 1.0),
    "door": CategoryInfo((190, 220), (15000, 40000), "wood", "flat", 0.05),
    "toilet": CategoryInfo((60, 80), (20000, 45000), "ceramic", "irregular", 1.4),
    "bucket": CategoryInfo((25, 40), (400, 1500), "plastic", "round"),
    "suitcase": CategoryInfo((50, 80), (2500, 5000), "plastic", "boxy", 0.4),
    "lamp": CategoryInfo((30, 60), (800, 3000), "metal", "irregular"),
}
"""Offline fallback: plausible ranges per category (longest side in cm, mass in g)."""

CATEGORY_ALIASES = {
    "cups": "cup", "mugs": "mug", "coffee mug": "mug", "tumbler": "glass", "wine glass": "glass",
    "water bottle": "bottle", "wine bottle": "bottle", "soda can": "can", "tin can": "can", "banana": "fruit",
    "pear": "fruit", "lemon": "fruit", "peach": "fruit", "cardboard box": "box", "carton": "box",
    "notebook": "book", "smartphone": "phone", "cellphone": "phone", "trash can": "trash_can", "trashcan": "trash_can",
    "bin": "trash_can", "dustbin": "trash_can", "garbage can": "trash_can", "lidded box": "storage_box",
    "storagebox": "storage_box", "container": "storage_box", "tap": "faucet", "cupboard": "cabinet",
    "dresser": "cabinet", "nightstand": "cabinet", "oven": "microwave", "rubber duck": "duck", "teddy bear": "teddy",
    "bear": "teddy", "lego": "block", "brick": "block", "storage furniture": "cabinet", "fridge": "refrigerator",
    "freezer": "refrigerator", "washer": "washing_machine", "folding chair": "chair", "desk": "table",
    "kitchen pot": "pot", "trash bin": "trash_can",
}
"""Other names of categories, PartNet-Mobility's among them (``StorageFurniture`` -> cabinet)."""

DEFAULT_CATEGORY = CategoryInfo((10, 30), (100, 1000), "plastic", "irregular")
"""What an unknown or missing category gets (:func:`default_note` says so)."""

PLAUSIBLE_FACTOR = 3.0
"""A mesh whose longest side in file units, read as metres, lies within the category's size range widened
by this factor each way is taken to be in metres and keeps its size."""
IMPLAUSIBLE_FACTOR = 10.0
"""A size or mass outside the category's range by more than this factor each way draws a warning."""
ANY_SIZE_CM = (0.3, 1000.0)
"""Longest side (cm) of anything the pipeline simulates; outside it, a warning (also bounds language-model answers)."""
ANY_MASS_G = (0.05, 1e6)
"""Mass (g) of anything the pipeline simulates; outside it, a warning (also bounds language-model answers)."""


@dataclasses.dataclass(frozen=True)
class PhysicsAnswer:
    """Ranges and material, from the language model or the tables."""

    size_cm: tuple[float, float]
    mass_g: tuple[float, float]
    material: str
    shape: str
    depth_ratio: float
    source: str
    """llm | table."""
    raw: dict[str, Any] | None = None


def lookup_category(category: str | None) -> tuple[str | None, CategoryInfo]:
    """(canonical name, table row) of a category; unknown categories get :data:`DEFAULT_CATEGORY`."""
    if not category:
        return None, DEFAULT_CATEGORY
    key = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", category.strip()).lower().replace("-", " ")  # StorageFurniture
    key = CATEGORY_ALIASES.get(key, key)
    key = key.replace(" ", "_")
    if key in CATEGORIES:
        return key, CATEGORIES[key]
    if key.endswith("s") and key[:-1] in CATEGORIES:
        return key[:-1], CATEGORIES[key[:-1]]
    for word in reversed(re.split(r"[_\s]+", key)):  # "red coffee mug" -> mug
        word = CATEGORY_ALIASES.get(word, word)
        if word in CATEGORIES:
            return word, CATEGORIES[word]
    return None, DEFAULT_CATEGORY


def default_note(category: str | None) -> str:
    """The warning that an unknown (or missing) category got :data:`DEFAULT_CATEGORY`, listing the known ones."""
    d = DEFAULT_CATEGORY
    what = f"unknown category {category!r}" if category else "no category given"
    return (f"{what}: used generic defaults ({d.material}, {d.size_cm[0]:g}-{d.size_cm[1]:g} cm, "
            f"{d.mass_g[0]:g}-{d.mass_g[1]:g} g); known categories: {', '.join(sorted(CATEGORIES))}")


def plausibility_notes(category: str | None, size_m: float | None, mass_kg: float | None) -> list[str]:
    """Warnings for a longest side or a mass outside the category's ranges by more than
    :data:`IMPLAUSIBLE_FACTOR` (an unknown category: outside :data:`ANY_SIZE_CM` / :data:`ANY_MASS_G`)."""
    name, info = lookup_category(category)
    k = IMPLAUSIBLE_FACTOR
    if name is None:
        size_range, mass_range, what = ANY_SIZE_CM, ANY_MASS_G, "an object"
        how = (f"anything simulated is {ANY_SIZE_CM[0]:g}-{ANY_SIZE_CM[1]:g} cm and {ANY_MASS_G[0] / 1000:g}-"
               f"{ANY_MASS_G[1] / 1000:g} kg")
    else:
        size_range = (info.size_cm[0] / k, info.size_cm[1] * k)
        mass_range = (info.mass_g[0] / k, info.mass_g[1] * k)
        what = f"a {name}"
        how = (f"a {name} is {info.size_cm[0]:g}-{info.size_cm[1]:g} cm and {info.mass_g[0] / 1000:g}-"
               f"{info.mass_g[1] / 1000:g} kg; checked within {k:g}x")
    notes = []
    if size_m is not None and not size_range[0] <= size_m * 100 <= size_range[1]:
        notes.append(f"implausible size for {what}: longest side {size_m * 100:.3g} cm ({how})")
    if mass_kg is not None and not mass_range[0] <= mass_kg * 1000 <= mass_range[1]:
        notes.append(f"implausible mass for {what}: {mass_kg:.4g} kg ({how})")
    return notes


def size_is_plausible(size_cm: tuple[float, float], size_m: float) -> bool:
    """Whether a longest side (m) lies within a size range (cm) widened by :data:`PLAUSIBLE_FACTOR` each way."""
    lo, hi = size_cm
    return lo / PLAUSIBLE_FACTOR <= size_m * 100 <= hi * PLAUSIBLE_FACTOR


def canonical_material(name: str) -> str | None:
    key = str(name).strip().lower()
    key = MATERIAL_ALIASES.get(key, key)
    if key in MATERIALS:
        return key
    for word in key.replace("-", " ").split():
        word = MATERIAL_ALIASES.get(word, word)
        if word in MATERIALS:
            return word
    return None


def table_answer(category: str | None) -> PhysicsAnswer:
    _, info = lookup_category(category)
    return PhysicsAnswer(info.size_cm, info.mass_g, info.material, info.shape, info.depth_ratio, "table")


def physics_prompt(name: str, category: str | None) -> str:
    """The Gen2Sim-style question (one JSON object expected back)."""
    what = f"a {category}" if category else "the object"
    label = f' named "{name}"' if name and name != category else ""
    return (
        "We are building a physics simulation of everyday objects from photos.\n"
        f"The photo shows {what}{label}.\n"
        "Give plausible physical parameters of such a real object:\n"
        "- size_cm: the range [min, max] of its longest side, in centimetres\n"
        "- mass_g: the range [min, max] of its mass, in grams\n"
        f"- material: its main material, one of {', '.join(MATERIALS)}\n"
        "- shape: round (rotationally symmetric, like cups, bottles, bowls, fruit), boxy, flat, or irregular\n"
        "Answer with one JSON object and nothing else, for example:\n"
        '{"size_cm": [8, 12], "mass_g": [250, 400], "material": "ceramic", "shape": "round"}'
    )


def _first_json_object(text: str) -> dict[str, Any]:
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text[m.start() :])
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    raise ValueError("no JSON object in the answer")


def _range(value: Any, key: str, lo: float, hi: float) -> tuple[float, float]:
    if isinstance(value, dict):
        value = [value.get("min"), value.get("max")]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value * 0.85, value * 1.15]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{key} must be [min, max], got {value!r}")
    try:
        a, b = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise ValueError(f"{key} must hold two numbers, got {value!r}") from None
    if not (np.isfinite(a) and np.isfinite(b)):
        raise ValueError(f"{key} is not finite: {value!r}")
    if a > b:
        a, b = b, a
    if a < lo or b > hi:
        raise ValueError(f"{key} {[a, b]} is outside the plausible range [{lo}, {hi}]")
    return a, b


def parse_physics_answer(text: str, category: str | None = None) -> tuple[PhysicsAnswer, list[str]]:
    """Parse a language-model answer; raises ValueError (with the reason) when it is unusable.

    Returns the answer and warnings about fields that were filled from the tables.
    """
    obj = _first_json_object(text)
    size = _range(obj.get("size_cm"), "size_cm", *ANY_SIZE_CM)
    mass = _range(obj.get("mass_g"), "mass_g", *ANY_MASS_G)
    table = table_answer(category)
    notes = []
    material = canonical_material(obj.get("material", "")) if obj.get("material") else None
    if material is None:
        notes.append(f"unknown material {obj.get('material')!r} from the language model; used {table.material}")
        material = table.material
    shape = str(obj.get("shape", "")).strip().lower()
    if shape not in SHAPES:
        shape = table.shape
    return PhysicsAnswer(size, mass, material, shape, table.depth_ratio, "llm", obj), notes


@dataclasses.dataclass(frozen=True)
class LLMOptions:
    """Which language model answers the physics query, and its cache."""

    llm: str = "offline"
    """``offline`` (tables only), ``openai:MODEL@URL`` or ``hf:PATH`` (see :func:`rlscope.llm.chat.parse_llm`)."""
    cache_dir: str | None = None
    """Where answers are cached (a rerun replays them); None: no cache."""
    cache: bool = True
    """Replay cached answers (False: ask again)."""
    timeout_s: float = 60.0
    """Socket timeout of the query."""
    max_retries: int = 1
    """Retries of a failed or empty answer before the tables are used."""
    max_new_tokens: int = 200
    """Longest answer, in tokens."""


def query_physics(name: str, category: str | None, llm: LLMOptions | None = None, sampler: Any = None,
                  seed: int = 0) -> tuple[PhysicsAnswer, list[str]]:
    """Ask the language model (when configured) for ranges and material; fall back to the tables.

    ``sampler`` (any :class:`~rlscope.llm.base.Sampler`) is asked directly instead, uncached. Returns the
    answer and warnings (why the tables were used, which fields were filled in).
    """
    from rlscope.errors import RlscopeError
    from rlscope.llm.base import SampleRequest, SamplingParams

    warnings: list[str] = []
    if sampler is None and (llm is None or llm.llm == "offline"):
        return table_answer(category), warnings
    params = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=llm.max_new_tokens if llm else 200)
    prompt = physics_prompt(name, category)
    backend, model = getattr(sampler, "name", "sampler"), None
    try:
        if sampler is not None:
            text = sampler.generate([SampleRequest(prompt, seed)], params)[0].text
        else:
            from rlscope.llm.chat import ChatClient, parse_llm

            spec = parse_llm(llm.llm)  # type: ignore[union-attr]
            backend, model = spec.backend, spec.model
            client = ChatClient(spec, llm.cache_dir, use_cache=llm.cache, timeout_s=llm.timeout_s,  # type: ignore[union-attr]
                                max_retries=llm.max_retries)  # type: ignore[union-attr]
            text = client.complete([("user", prompt)], params, candidate=seed).text
    except (RlscopeError, OSError, RuntimeError) as exc:
        warnings.append(f"physics query to the {backend} backend failed ({exc}); used the category table")
        log.warning(warnings[-1])
        return table_answer(category), warnings
    try:
        answer, notes = parse_physics_answer(text, category)
    except ValueError as exc:
        snippet = text.strip().replace("\n", " ")[:120]
        warnings.append(f"language-model physics answer unusable ({exc}; answer: {snippet!r}); used the category table")
        log.warning(warnings[-1])
        return table_answer(category), warnings
    raw = dict(answer.raw or {})
    raw["_backend"] = backend
    if model:
        raw["_model"] = model
    for note in notes:
        log.warning(note)
    return dataclasses.replace(answer, raw=raw), notes


def choose_values(answer: PhysicsAnswer, rng: np.random.Generator | None) -> tuple[float, float]:
    """(longest side m, mass kg): uniform draws from the ranges with ``rng``, the midpoints without."""
    if rng is None:
        size_cm, mass_g = sum(answer.size_cm) / 2, sum(answer.mass_g) / 2
    else:
        size_cm, mass_g = rng.uniform(*answer.size_cm), rng.uniform(*answer.mass_g)
    return float(size_cm) / 100.0, float(mass_g) / 1000.0


def friction_of(material: str) -> float:
    return MATERIALS.get(material, MATERIALS["plastic"]).friction


def mesh_inertial(mesh, mass: float) -> tuple[Inertial, float]:
    """Mass properties of a watertight mesh of total ``mass`` (uniform density); returns (inertial, density)."""
    volume = float(mesh.volume)
    density = mass / volume
    m = mesh.copy()
    m.density = density
    inertia = np.asarray(m.moment_inertia)  # (3, 3) about the centre of mass
    com = np.asarray(m.center_mass)
    return inertial_from_matrix(mass, com, inertia), density


def inertial_from_matrix(mass: float, com: np.ndarray, inertia: np.ndarray) -> Inertial:
    i = np.asarray(inertia, float)
    return Inertial(
        mass=float(mass),
        com=[float(v) for v in com],
        inertia=[float(i[0, 0]), float(i[1, 1]), float(i[2, 2]), float(i[0, 1]), float(i[0, 2]), float(i[1, 2])],
    )


def inertia_matrix(inertial: Inertial) -> np.ndarray:
    ixx, iyy, izz, ixy, ixz, iyz = inertial.inertia
    return np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]])


def plausible_inertia(inertial: Inertial, extents: np.ndarray) -> bool:
    """Whether an inertia is physical (positive definite, triangle inequality) and fits a body of these extents."""
    mat = inertia_matrix(inertial)
    eig = np.linalg.eigvalsh(mat)
    if inertial.mass <= 0 or eig.min() <= 0:
        return False
    a, b, c = sorted(eig)
    if a + b < c * (1 - 1e-6):
        return False
    # a uniform body's largest moment is below m * (diagonal / 2)^2 (a point mass at the farthest corner)
    bound = inertial.mass * (float(np.linalg.norm(extents)) / 2) ** 2
    return c <= 1.5 * bound
