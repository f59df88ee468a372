"""Little-Zoo goal spaces for Playground-Text: goals that carry their initial scene (MAGELLAN, Gaven et al. 2025).

A scene goal is an instruction together with the 4-object scene it starts from, written
``"<instruction> with <object>, <object>, <object>, <object>"`` (object names as the agent first sees them, e.g.
``"Grow cow with baby cow, carrot seed, water, sofa"``). ``littlezoo-25k`` holds, on the train kinds,
impossible / grasp / plant / herbivore / carnivore = 20000 / 4000 / 800 / 160 / 32 goals; ``littlezoo-50k`` and
``littlezoo-100k`` scale every count by 2 and 4. How a space is built (deterministic for a name and seed):

1. scenes in which a carnivore, then a herbivore, then a plant can be grown are drawn (4 distinct kinds each, in
   a random order: the same kinds listed in another order are another scene) and accepted while the feasible goals
   of the scene keep every family count within its target;
2. scenes without water (nothing can grow) fill up to grasp/4 scenes;
3. every feasible goal of every scene is a goal of the space (so what the agent achieves from a scene of the space
   is a goal of the space), and each scene gets the same number of impossible goals: instructions of the grammar
   that cannot be achieved from that scene (an absent object, or a missing food).

The ``test`` split is built the same way on the held-out kinds (the last 3 of each category), feasible goals only:
grasp / plant / herbivore / carnivore = 64 / 16 / 4 / 1.
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from .base import TextEnvError
from .playground import CATEGORY_OF, FOOD, WATER, Thing, goal_family, is_feasible, kinds

SCALES = {"littlezoo-25k": 1, "littlezoo-50k": 2, "littlezoo-100k": 4}
BASE_COUNTS = {"impossible": 20000, "grasp": 4000, "plant": 800, "herbivore": 160, "carnivore": 32}
TEST_COUNTS = {"impossible": 0, "grasp": 64, "plant": 16, "herbivore": 4, "carnivore": 1}
FAMILIES = ("impossible", "grasp", "plant", "herbivore", "carnivore")
SEPARATOR = " with "


@dataclass(frozen=True)
class SceneGoal:
    """One goal of a Little-Zoo space: an instruction ("Grasp X" / "Grow X"), its scene's kinds (in the order the
    floor lists them) and its family (``"impossible"`` when the instruction cannot be achieved from the scene)."""

    instruction: str
    scene: tuple[str, ...]
    family: str

    @property
    def text(self) -> str:
        return scene_goal_text(self.instruction, self.scene)


def scene_goal_text(instruction: str, scene: tuple[str, ...] | list[str]) -> str:
    """``"<instruction> with <name>, ..."`` with each object's initial name (seeds and babies)."""
    return instruction + SEPARATOR + ", ".join(Thing(k).name for k in scene)


def kind_of_name(name: str) -> str:
    """The kind behind an initial object name ("carrot seed" -> carrot, "baby cow" -> cow)."""
    kind = name[:-len(" seed")] if name.endswith(" seed") else name[len("baby "):] if name.startswith("baby ") \
        else name
    if kind not in CATEGORY_OF:
        raise TextEnvError(f"unknown object {name!r} in a scene goal")
    return kind


def parse_scene_goal(goal: str) -> tuple[str, tuple[str, ...]] | None:
    """(instruction, scene kinds) of a scene goal; None for a plain goal without a scene."""
    instruction, sep, scene = goal.partition(SEPARATOR)
    if not sep:
        return None
    return instruction, tuple(kind_of_name(n.strip()) for n in scene.split(","))


def instructions(split: str) -> list[str]:
    """Every instruction of the grammar over a split's kinds (water included)."""
    objs = kinds(split) + [WATER]
    return [f"Grasp {k}" for k in objs] + [f"Grow {k}" for k in objs if CATEGORY_OF[k] in FOOD]


def _feasible_goals(scene: tuple[str, ...], split: str) -> list[str]:
    return [i for i in instructions(split) if is_feasible(i, scene)]


def _grow_scene(rng: random.Random, split: str, top: str) -> tuple[str, ...]:
    """A scene holding one food chain up to a ``top`` category (plant/herbivore/carnivore) plus distractors."""
    chain, cat = [], top
    while cat != "water":
        chain.append(rng.choice(kinds(split, cat)))
        cat = FOOD[cat]
    chain.append(WATER)
    pool = [k for k in kinds(split) if k not in chain]
    while len(chain) < 4:
        chain.append(pool.pop(rng.randrange(len(pool))))
    rng.shuffle(chain)
    return tuple(chain)


@functools.lru_cache(maxsize=8)
def build_goal_space(name: str, split: str = "train", seed: int = 0) -> tuple[SceneGoal, ...]:
    """The goals of Little-Zoo space ``name`` on ``split`` ("train" or "test"), in a fixed order."""
    if name not in SCALES:
        raise ValueError(f"unknown goal space {name!r}; expected one of {sorted(SCALES)}")
    if split not in ("train", "test"):
        raise ValueError(f"goal-space split must be 'train' or 'test', got {split!r}")
    target = {f: c * SCALES[name] for f, c in BASE_COUNTS.items()} if split == "train" else dict(TEST_COUNTS)
    rng = random.Random(f"{name}/{split}/{seed}")
    n_scenes = target["grasp"] // 4
    count = dict.fromkeys(FAMILIES, 0)
    scenes: list[tuple[str, ...]] = []
    seen: set[tuple[str, ...]] = set()

    def accept(scene: tuple[str, ...]) -> bool:
        key = scene  # ordered: the same kinds listed in another order are another scene (another goal text)
        if key in seen:
            return False
        fam = [goal_family(g) for g in _feasible_goals(scene, split)]
        add = {f: fam.count(f) for f in ("grasp", "plant", "herbivore", "carnivore")}
        if any(count[f] + add[f] > target[f] for f in add) or len(scenes) >= n_scenes:
            return False
        seen.add(key)
        scenes.append(scene)
        for f, a in add.items():
            count[f] += a
        return True

    for top in ("carnivore", "herbivore", "plant"):
        tries = 0
        while count[top] < target[top]:
            tries += 1
            if tries > 200000:
                raise RuntimeError(f"cannot build {name}/{split}: stuck at {count} for target {target}")
            accept(_grow_scene(rng, split, top))
    dry = [k for k in kinds(split)]  # no water: nothing grows, every object can be grasped
    tries = 0
    while len(scenes) < n_scenes:
        tries += 1
        if tries > 200000:
            raise RuntimeError(f"cannot build {name}/{split}: only {len(scenes)} of {n_scenes} scenes")
        accept(tuple(rng.sample(dry, 4)))
    if count != {**target, "impossible": 0}:
        raise RuntimeError(f"goal space {name}/{split} came out as {count}, not {target}")
    per_scene = target["impossible"] // n_scenes
    goals: list[SceneGoal] = []
    for scene in scenes:
        feasible = _feasible_goals(scene, split)
        goals += [SceneGoal(i, scene, goal_family(i)) for i in feasible]
        impossible = [i for i in instructions(split) if i not in feasible]
        goals += [SceneGoal(i, scene, "impossible") for i in rng.sample(impossible, per_scene)]
    extra = target["impossible"] - per_scene * n_scenes  # 0 for the shipped sizes
    for scene in rng.sample(scenes, extra):
        used = {g.instruction for g in goals if g.scene == scene}
        left = [i for i in instructions(split) if i not in used and not is_feasible(i, scene)]
        goals.append(SceneGoal(rng.choice(left), scene, "impossible"))
    return tuple(goals)
