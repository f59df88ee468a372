"""Playground-Text: the text Playground (Little-Zoo) of SAC-GLAM and MAGELLAN, re-implemented.

36 object kinds in 4 categories plus water. Plants start as "X seed", animals as "baby X". Water released on a
seed grows the plant (water consumed); a grown plant released on a baby herbivore grows it (plant consumed); a
grown herbivore released on a baby carnivore grows it (herbivore consumed). Goals are "Grasp X" (X in the
inventory) and "Grow X" (a grown X exists); optimal lengths 2 / 4 / 7 / 10 for grasp / plant / herbivore /
carnivore. The dynamics are pure functions of an immutable ``PlaygroundState`` so solvers can search them.
"""
from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Iterable

from .base import TextEnv, TextEnvError

FURNITURE = ("door", "chair", "desk", "sofa", "bookshelf", "bed", "lamp", "table", "cupboard")
PLANTS = ("carrot", "potato", "berry", "onion", "tomato", "cucumber", "spinach", "broccoli", "lettuce")
HERBIVORES = ("cow", "elephant", "bison", "deer", "sheep", "giraffe", "goat", "horse", "rabbit")
CARNIVORES = ("lion", "jackal", "bobcat", "panthera", "coyote", "wolf", "leopard", "hyena", "tiger")
WATER = "water"
CATEGORIES: dict[str, tuple[str, ...]] = {
    "furniture": FURNITURE, "plant": PLANTS, "herbivore": HERBIVORES, "carnivore": CARNIVORES}
CATEGORY_OF: dict[str, str] = {k: c for c, kinds in CATEGORIES.items() for k in kinds}
CATEGORY_OF[WATER] = "water"
N_HELD_OUT = 3  # the last 3 kinds of each category are held out for generalisation tests
SPLITS = ("train", "test", "all")
OPTIMAL_LENGTH = {"grasp": 2, "plant": 4, "herbivore": 7, "carnivore": 10}
# what a baby/seed of each growable category eats, and the category it eats
FOOD = {"plant": "water", "herbivore": "plant", "carnivore": "herbivore"}
SCENE_SEPARATOR = " with "  # "<instruction> with <scene>": a Little-Zoo scene goal (envs/littlezoo.py)


def kinds(split: str = "train", category: str | None = None) -> list[str]:
    """Object kinds of a split ('train' = first 6 of each category, 'test' = last 3, 'all')."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    cats = [category] if category else list(CATEGORIES)
    out: list[str] = []
    for c in cats:
        ks = CATEGORIES[c]
        out += list(ks if split == "all" else ks[:-N_HELD_OUT] if split == "train" else ks[-N_HELD_OUT:])
    return out


def all_goals(split: str = "train") -> list[str]:
    """Every goal string of a split (for evaluation only: the agent discovers goals by achieving them)."""
    objs = kinds(split)
    goals = [f"Grasp {k}" for k in objs]
    if split in ("train", "all"):
        goals.append(f"Grasp {WATER}")
    goals += [f"Grow {k}" for k in objs if CATEGORY_OF[k] != "furniture"]
    return goals


def goal_family(goal: str) -> str:
    """'grasp', 'plant', 'herbivore' or 'carnivore' of the instruction (a scene goal's scene is ignored: see
    ``PlaygroundText.goal_family`` for 'impossible'); raises TextEnvError for a string outside the grammar."""
    verb, _, obj = goal.partition(SCENE_SEPARATOR)[0].partition(" ")
    if verb == "Grasp" and (obj in CATEGORY_OF):
        return "grasp"
    if verb == "Grow" and CATEGORY_OF.get(obj) in FOOD:
        return CATEGORY_OF[obj]
    raise TextEnvError(
        f"unknown goal {goal!r}: Playground-Text goals are 'Grasp X' (X an object kind or water) or "
        f"'Grow X' (X a plant or animal), e.g. 'Grasp chair', 'Grow carrot'")


@dataclass(frozen=True)
class Thing:
    """One object: its kind and whether it has grown (furniture and water never grow)."""

    kind: str
    grown: bool = False

    @property
    def name(self) -> str:
        cat = CATEGORY_OF[self.kind]
        if self.grown or cat in ("furniture", "water"):
            return self.kind
        return f"{self.kind} seed" if cat == "plant" else f"baby {self.kind}"


@dataclass(frozen=True)
class PlaygroundState:
    """Scene objects on the floor, the index of the one the agent stands on (or None), and the inventory."""

    floor: tuple[Thing, ...]
    standing: int | None = None
    inventory: tuple[Thing, ...] = ()


INVENTORY_SIZE = 2


def admissible_actions(s: PlaygroundState) -> list[str]:
    """Actions available in ``s``: go to any other floor object, grasp what you stand on, release held items."""
    acts = [f"Go to {t.name}" for i, t in enumerate(s.floor) if i != s.standing]
    if s.standing is not None and len(s.inventory) < INVENTORY_SIZE:
        acts.append("Grasp")
    acts += [f"Release {t.name}" for t in s.inventory]
    if len(s.inventory) == INVENTORY_SIZE:
        acts.append("Release all")
    if not acts:  # an empty floor with nothing held cannot happen from a sampled scene
        raise RuntimeError(f"no admissible action in state {s}")
    return acts


def _release(s: PlaygroundState, item: Thing) -> PlaygroundState:
    inv = list(s.inventory)
    inv.remove(item)
    floor = list(s.floor)
    if s.standing is not None:
        target = floor[s.standing]
        cat = CATEGORY_OF[target.kind]
        if not target.grown and cat in FOOD and FOOD[cat] == CATEGORY_OF[item.kind] \
                and (item.grown or item.kind == WATER):
            floor[s.standing] = replace(target, grown=True)  # the food is consumed
            return PlaygroundState(tuple(floor), s.standing, tuple(inv))
    floor.append(item)  # nothing to feed: the item is put down beside the agent
    return PlaygroundState(tuple(floor), s.standing, tuple(inv))


def apply_action(s: PlaygroundState, action: str) -> PlaygroundState:
    """The next state; raises TextEnvError when ``action`` is not admissible in ``s``."""
    if action.startswith("Go to "):
        name = action[len("Go to "):]
        for i, t in enumerate(s.floor):
            if t.name == name and i != s.standing:
                return replace(s, standing=i)
    elif action == "Grasp" and s.standing is not None and len(s.inventory) < INVENTORY_SIZE:
        floor = list(s.floor)
        item = floor.pop(s.standing)
        return PlaygroundState(tuple(floor), None, s.inventory + (item,))
    elif action == "Release all" and len(s.inventory) == INVENTORY_SIZE:
        for item in list(s.inventory):
            s = _release(s, item)
        return s
    elif action.startswith("Release "):
        name = action[len("Release "):]
        for item in s.inventory:
            if item.name == name:
                return _release(s, item)
    raise TextEnvError(f"action {action!r} is not admissible; admissible actions: {admissible_actions(s)}")


def achieved_goals(s: PlaygroundState) -> frozenset[str]:
    """Goals true in ``s``: 'Grasp X' for each held kind, 'Grow X' for each grown plant/animal anywhere."""
    goals = {f"Grasp {t.kind}" for t in s.inventory}
    goals |= {f"Grow {t.kind}" for t in s.floor + s.inventory if t.grown}
    return frozenset(goals)


def describe(s: PlaygroundState, goal: str | None = None) -> str:
    """Observation text: the goal (if given), what the agent sees, what it stands on, its inventory."""
    lines = [f"Goal: {goal}"] if goal is not None else []
    lines.append("You see: " + (", ".join(t.name for t in s.floor) if s.floor else "nothing"))
    lines.append("You are standing on: " + (s.floor[s.standing].name if s.standing is not None else "nothing"))
    lines.append("Your inventory: " + (", ".join(t.name for t in s.inventory) if s.inventory else "empty"))
    return "\n".join(lines)


def required_kinds(goal: str, rng: random.Random, split: str) -> list[str]:
    """The kinds a scene needs for ``goal`` to be feasible (the goal's object plus one of each food in its chain)."""
    family = goal_family(goal)
    obj = goal.split(" ", 1)[1]
    if family == "grasp":
        return [obj]
    need, cat = [obj], CATEGORY_OF[obj]
    while cat in FOOD:
        cat = FOOD[cat]
        need.append(WATER if cat == "water" else rng.choice([k for k in kinds(split, cat) if k not in need]))
    return need


def is_feasible(goal: str, scene: Iterable[str]) -> bool:
    """Whether ``goal`` can be achieved from a fresh scene holding these kinds (one water at most)."""
    family, present = goal_family(goal), set(scene)
    obj = goal.split(" ", 1)[1]
    if obj not in present:
        return False
    if family == "grasp":
        return True
    cat, chain = CATEGORY_OF[obj], {obj}
    while cat in FOOD:
        cat = FOOD[cat]
        if cat == "water":
            return WATER in present
        if not any(CATEGORY_OF.get(k) == cat and k not in chain for k in present):
            return False
    return True


def horizon(goal: str, factor: float = 1.5) -> int:
    """The step budget for ``goal``: ceil(factor × optimal length of its family)."""
    return int(math.ceil(factor * OPTIMAL_LENGTH[goal_family(goal)]))


def sample_scene(goal: str, rng: random.Random, n_objects: int = 4, feasible: bool = True,
                 split: str | None = None) -> PlaygroundState:
    """A fresh scene of ``n_objects`` in which ``goal`` is feasible, or (``feasible=False``) provably not."""
    obj = goal.split(" ", 1)[1]
    split = split or ("test" if obj in kinds("test") else "train")
    need = required_kinds(goal, rng, split)
    if len(need) > n_objects:
        raise TextEnvError(f"goal {goal!r} needs {len(need)} objects but scenes hold n_objects={n_objects}")
    pool = [k for k in kinds(split)] + [WATER]
    for _ in range(1000):
        if feasible:
            chosen = list(need)
        else:  # drop the goal object or one of its supplies, then fill with distractors that do not restore it
            chosen = list(need)
            chosen.pop(rng.randrange(len(chosen)))
        rest = [k for k in pool if k not in chosen]
        rng.shuffle(rest)
        for k in rest:
            if len(chosen) >= n_objects:
                break
            if feasible or not is_feasible(goal, chosen + [k]):
                chosen.append(k)
        if len(chosen) == n_objects and is_feasible(goal, chosen) == feasible:
            rng.shuffle(chosen)
            return PlaygroundState(tuple(Thing(k) for k in chosen))
    raise TextEnvError(f"could not sample a {'feasible' if feasible else 'impossible'} scene for {goal!r}")


def bfs_plan(state: PlaygroundState, goal: str, max_depth: int) -> list[str] | None:
    """A shortest action sequence reaching ``goal`` from ``state`` within ``max_depth`` steps, or None."""
    if goal in achieved_goals(state):
        return []
    frontier: deque[tuple[PlaygroundState, list[str]]] = deque([(state, [])])
    seen = {state}
    while frontier:
        s, plan = frontier.popleft()
        if len(plan) >= max_depth:
            continue
        for a in admissible_actions(s):
            s2 = apply_action(s, a)
            if s2 in seen:
                continue
            if goal in achieved_goals(s2):
                return plan + [a]
            seen.add(s2)
            frontier.append((s2, plan + [a]))
    return None


class PlaygroundText(TextEnv):
    """Gymnasium env over the Playground dynamics; one goal per episode, reward 1 and termination on success.

    ``reset(seed, options={"goal": g, "feasible": True})``: without a goal, one of ``all_goals(split)`` is drawn.
    ``impossible_prob`` makes that fraction of goal-less resets sample a scene where the goal is impossible;
    ``impossible_fraction`` declares a fixed (seeded) fraction of the goal grammar impossible in every scene, the
    MAGELLAN setting where a curriculum must learn which goals are worth pursuing.
    ``goal_in_observation`` (default False) puts a "Goal: ..." line first; the agent's prompt builder adds the goal.
    ``goal_space="littlezoo-25k"`` (or ``-50k``, ``-100k``): goals carry their scene (``envs/littlezoo.py``); a reset
    on a scene goal starts from that scene, ``achieved_goals`` then lists scene goals of the episode's scene, and
    ``all_goals(split)`` is the space of that split ("test": the held-out kinds).
    """

    def __init__(self, n_objects: int = 4, split: str = "train", horizon_factor: float = 1.5,
                 impossible_prob: float = 0.0, goal_in_observation: bool = False,
                 max_steps: int | None = None, impossible_fraction: float = 0.0,
                 impossible_seed: int = 0, goal_space: str | None = None, goal_space_seed: int = 0) -> None:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        if n_objects < 1:
            raise ValueError(f"n_objects must be >= 1, got {n_objects}")
        if horizon_factor < 1.0:
            raise ValueError(f"horizon_factor must be >= 1 (below it goals are unreachable), got {horizon_factor}")
        if not 0.0 <= impossible_prob <= 1.0:
            raise ValueError(f"impossible_prob must be in [0, 1], got {impossible_prob}")
        if not 0.0 <= impossible_fraction < 1.0:
            raise ValueError(f"impossible_fraction must be in [0, 1), got {impossible_fraction}")
        self.n_objects, self.split, self.horizon_factor = n_objects, split, horizon_factor
        self.impossible_prob, self.goal_in_observation, self.max_steps = impossible_prob, goal_in_observation, max_steps
        self._goals = [g for g in all_goals(split) if len(required_kinds(g, random.Random(0), "all")) <= n_objects]
        every = all_goals("all")
        chosen = random.Random(impossible_seed).sample(every, int(round(impossible_fraction * len(every))))
        self.impossible_goals = frozenset(chosen)
        self.goal_space, self.goal_space_seed = goal_space, int(goal_space_seed)
        self._space: dict[str, Any] = {}
        if goal_space is not None:
            from .littlezoo import build_goal_space

            if impossible_fraction > 0:
                raise ValueError("impossible_fraction and goal_space exclude each other (a goal space has its own "
                                 "impossible goals)")
            if split not in ("train", "test"):
                raise ValueError(f"a goal space has splits 'train' and 'test', got split={split!r}")
            space = build_goal_space(goal_space, split, self.goal_space_seed)
            self._space = {g.text: g for g in space}
            self._goals = [g.text for g in space]
            self.impossible_goals = frozenset(g.text for g in space if g.family == "impossible")
        self._scene_suffix: str | None = None
        self._rng = random.Random()
        self.state: PlaygroundState | None = None
        self.goal: str | None = None
        self.feasible = True
        self.t, self.horizon, self._done = 0, 0, True

    def vocabulary(self) -> list[str]:
        words = {"Goal:", "You", "see:", "are", "standing", "on:", "Your", "inventory:", "nothing", "empty",
                 "Go", "to", "Grasp", "Release", "all", "Grow", "seed", "baby", WATER, ","}
        if self.goal_space is not None:
            words.add(SCENE_SEPARATOR.strip())
        for k in CATEGORY_OF:
            words.add(k)
        return sorted(words)

    def all_goals(self, split: str | None = None) -> list[str]:
        """Goal strings of a split (default: this env's), for evaluation only."""
        if self.goal_space is not None:
            from .littlezoo import build_goal_space

            return [g.text for g in build_goal_space(self.goal_space, split or self.split, self.goal_space_seed)]
        return all_goals(split or self.split)

    def goal_family(self, goal: str) -> str:
        """'grasp', 'plant', 'herbivore', 'carnivore', or 'impossible' for a goal this env knows cannot be achieved
        (an impossible goal of the goal space or of ``impossible_fraction``, or a scene goal its scene rules out)."""
        from .littlezoo import parse_scene_goal

        known = self._space.get(goal)
        if known is not None:
            return known.family
        if goal in self.impossible_goals:
            return "impossible"
        parsed = parse_scene_goal(goal)
        if parsed is not None and not is_feasible(*parsed):
            goal_family(goal)  # a clear error outside the grammar
            return "impossible"
        return goal_family(goal)

    def _obs(self) -> str:
        assert self.state is not None
        return describe(self.state, self.goal if self.goal_in_observation else None)

    def _info(self) -> dict[str, Any]:
        assert self.state is not None
        achieved = achieved_goals(self.state)
        if self._scene_suffix is not None:  # a scene goal: what is achieved is achieved from this scene
            achieved = frozenset(g + self._scene_suffix for g in achieved)
        return {"admissible_actions": admissible_actions(self.state), "achieved_goals": achieved,
                "goal": self.goal, "feasible": self.feasible}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        options = self.begin_reset(seed, options, extra=("feasible",))
        goal = options.get("goal")
        if goal is None:
            goal = self._rng.choice(self._goals)
            feasible = options.get("feasible", self._rng.random() >= self.impossible_prob)
        else:
            goal_family(goal)  # raises a clear error for a goal outside the grammar
            feasible = options.get("feasible", True)
        from .littlezoo import parse_scene_goal

        parsed = parse_scene_goal(goal)
        if parsed is not None:  # the goal names its scene: start from it
            instruction, scene = parsed
            self.state = PlaygroundState(tuple(Thing(k) for k in scene))
            feasible = is_feasible(instruction, scene)
            self._scene_suffix = goal[len(instruction):]
        else:
            if goal in self.impossible_goals:
                feasible = False
            self.state = sample_scene(goal, self._rng, self.n_objects, bool(feasible))
            self._scene_suffix = None
        self.goal, self.feasible = goal, bool(feasible)
        self.t, self._done = 0, False
        self.horizon = self.max_steps or horizon(goal, self.horizon_factor)
        return self._obs(), self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self.state is None or self._done:
            raise TextEnvError("step() called after the episode ended (or before reset); call reset() first")
        if not isinstance(action, str):
            raise TextEnvError(f"action must be a str, got {type(action).__name__}: {action!r}")
        self.state = apply_action(self.state, action)  # raises TextEnvError for an inadmissible action
        self.t += 1
        info = self._info()
        reward, terminated = self.compute_reward(self.goal, info["achieved_goals"])
        truncated = (not terminated) and self.t >= self.horizon
        self._done = terminated or truncated
        return self._obs(), reward, terminated, truncated, info

    def chain(self, goal: str) -> tuple[str, dict] | None:
        """Pursue ``goal`` from the state the last episode's success left (goal chaining; ``Rollout``): the step
        counter restarts with ``goal``'s horizon. None when ``goal`` already holds, names a scene, is declared
        impossible, or has no plan within its horizon from here (the caller resets instead)."""
        if self.state is None or not self._done or self.goal is None \
                or not self.compute_reward(self.goal, self._info()["achieved_goals"])[1]:
            raise TextEnvError("chain() continues only an episode that ended in its goal's success")
        goal_family(goal)  # a clear error for a goal outside the grammar
        from .littlezoo import parse_scene_goal

        if self._scene_suffix is not None or parse_scene_goal(goal) is not None or goal in self.impossible_goals:
            return None
        limit = self.max_steps or horizon(goal, self.horizon_factor)
        plan = bfs_plan(self.state, goal, limit)
        if not plan:  # None: unreachable here; []: already achieved
            return None
        self.goal, self.feasible = goal, True
        self.t, self._done, self.horizon = 0, False, limit
        return self._obs(), self._info()

    def render(self) -> str:
        return self._obs() if self.state is not None else ""
