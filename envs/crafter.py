"""Crafter-Text: Crafter (Hafner 2021) with a text rendering of the local view, inventory and status.

The observation names the nearest thing of each kind in the player's 9x7 local view with its offset (BALROG-style:
"tree 1 step left and 2 steps up"), what the player faces, the inventory and the four vital stats, e.g.
"You see: tree 1 step up, water 3 steps left and 2 steps down, cow 2 steps right. You face grass. Inventory: wood 2.
Health 9, food 8, drink 7, energy 9." Grass, sand and path (the walkable ground) are not listed. The actions are
Crafter's 17 with underscores as spaces ("move left", "do", "place table", "make wood pickaxe", ...; "up" is the
top of the map). The goals are the 22 achievements as text ("collect wood", "place table", "make wood pickaxe",
"eat cow", "wake up", ...); every achievement the player earns in a step (Crafter's counter went up) is in
``info["achieved_goals"]`` whatever the episode's goal, so the goal graph recovers Crafter's tech tree.
Episodes end on the goal, on death (terminated) or after ``max_steps`` (truncated). ``reset(seed)`` fixes the
world and everything in it. Needs ``pip install crafter``.
"""
from __future__ import annotations

import collections
import random
from typing import Any

from .base import TextEnv, TextEnvError

try:
    import crafter
    from crafter import constants, engine
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError("autotelic/CrafterText-v0 needs the crafter package: pip install crafter "
                      "(or pip install 'autotelic[crafter]')") from None

ACTIONS: list[str] = [a.replace("_", " ") for a in constants.actions]  # the 17, in Crafter's order
ACHIEVEMENTS: list[str] = list(constants.achievements)                 # the 22
GOALS: list[str] = [a.replace("_", " ") for a in ACHIEVEMENTS]
GROUND = frozenset({"grass", "sand", "path"})  # walkable materials: not listed in "You see"
VITALS = ("health", "food", "drink", "energy")
VIEW = (9, 7)  # Crafter's local view: 9 wide, 7 high (the 9x9 image minus two inventory rows)
# goal families for per-family metrics: Crafter's verbs
FAMILIES = ("collect", "place", "make", "eat", "defeat", "wake")


def goal_family(goal: str) -> str:
    """The goal's verb: 'collect', 'place', 'make', 'eat', 'defeat' or 'wake'; TextEnvError outside the 22."""
    if goal not in GOALS:
        raise TextEnvError(f"unknown goal {goal!r}: Crafter-Text goals are the 22 achievements, e.g. "
                           f"'collect wood', 'place table', 'make wood pickaxe' (all: {GOALS})")
    return goal.split(" ", 1)[0]


def _steps(n: int, one_way: str, other_way: str) -> str:
    return f"{abs(n)} {'step' if abs(n) == 1 else 'steps'} {one_way if n > 0 else other_way}"


def offset_text(dx: int, dy: int) -> str:
    """'2 steps right', '1 step left and 3 steps up' (+x right, +y down as in Crafter's map)."""
    parts = ([_steps(dx, "right", "left")] if dx else []) + ([_steps(dy, "down", "up")] if dy else [])
    return " and ".join(parts) or "here"


class _OrderedSet(dict):
    """The ``add``/``remove`` part of a set, iterated in insertion order (a dict's keys)."""

    def add(self, item: Any) -> None:
        self[item] = None

    def remove(self, item: Any) -> None:
        del self[item]


class _World(engine.World):
    """Crafter's world with its per-chunk object sets in insertion order. Crafter keeps them as ``set``s, whose order
    follows the objects' memory addresses, and despawns ``creatures[random.randint(...)]`` from that order: the same
    seed then gives a different world after the first despawn (measured: traces diverged after 140 steps)."""

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self._chunks = collections.defaultdict(_OrderedSet)


class _Crafter(crafter.Env):
    """crafter.Env without the pixel rendering and the semantic map (text needs neither; 5-10x faster steps), on a
    world that is a function of its seed (:class:`_World`)."""

    def __init__(self, area: tuple[int, int]) -> None:
        super().__init__(area=area, length=None, reward=True, seed=0)
        self._world.__class__ = _World  # in place: crafter's views hold this world object
        self._sem_view = lambda: None

    def _obs(self) -> None:
        return None


def _kind(obj: Any) -> str:
    name = type(obj).__name__.lower()
    if name == "plant":
        return "ripe plant" if obj.ripe else "sapling plant"
    return name


class CrafterText(TextEnv):
    """Crafter as a text env; one achievement per episode as the goal, reward 1 and termination when earned."""

    def __init__(self, max_steps: int = 200, area: tuple[int, int] | list[int] = (64, 64)) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        area = tuple(int(a) for a in area)
        if len(area) != 2 or min(area) < 16:
            raise ValueError(f"area must be two sizes >= 16 (Crafter's default is 64x64), got {area}")
        self.max_steps, self.area = max_steps, area
        self._env = _Crafter(area)
        self._rng = random.Random()
        self.goal: str | None = None
        self.t, self._done = 0, True
        self._counts: dict[str, int] = {}
        self._last: frozenset[str] = frozenset()  # achievements of the last step

    # ------------------------------------------------------------------ goals and words
    def all_goals(self, split: str | None = None) -> list[str]:
        """The 22 achievements ('train' and 'all'); Crafter has no held-out goals, so 'test' is empty."""
        if split not in (None, "train", "test", "all"):
            raise ValueError(f"unknown split {split!r}; expected 'train', 'test' or 'all'")
        return [] if split == "test" else list(GOALS)

    def goal_family(self, goal: str) -> str:
        return goal_family(goal)

    def vocabulary(self) -> list[str]:
        words = {"you", "see", "face", "inventory", "nothing", "are", "sleeping", "it", "is", "night", "step",
                 "steps", "left", "right", "up", "down", "and", "here", ",", ".", ":", "ripe", "sapling", "plant",
                 "cow", "zombie", "skeleton", "arrow", *constants.materials, *(str(k) for k in range(10))}
        for text in ACTIONS + GOALS + [i.replace("_", " ") for i in constants.items]:
            words.update(text.split())
        return sorted(words)

    # ------------------------------------------------------------------ text
    def describe(self) -> str:
        """The text observation of the current state (see the module docstring)."""
        env, player = self._env, self._env._player
        world = env._world
        px, py = int(player.pos[0]), int(player.pos[1])
        hw, hh = VIEW[0] // 2, VIEW[1] // 2
        nearest: dict[str, tuple[int, int, int]] = {}

        def note(kind: str, dx: int, dy: int) -> None:
            key = (abs(dx) + abs(dy), dx, dy)
            if kind not in nearest or key < nearest[kind]:
                nearest[kind] = key

        for dx in range(-hw, hw + 1):
            for dy in range(-hh, hh + 1):
                material, obj = world[(px + dx, py + dy)]
                if material is not None and material not in GROUND and (dx, dy) != (0, 0):
                    note(material, dx, dy)
                if obj is not None and obj is not player:
                    note(_kind(obj), dx, dy)
        seen = sorted(nearest.items(), key=lambda kv: (kv[1], kv[0]))
        parts = ["You see: " + (", ".join(f"{k} {offset_text(dx, dy)}" for k, (_, dx, dy) in seen) or "nothing")]
        fx, fy = px + int(player.facing[0]), py + int(player.facing[1])
        material, obj = world[(fx, fy)]
        parts.append(f"You face {_kind(obj) if obj is not None else material or 'nothing'}")
        inv = player.inventory
        items = [f"{k.replace('_', ' ')} {v}" for k, v in inv.items() if k not in VITALS and v > 0]
        parts.append("Inventory: " + (", ".join(items) or "nothing"))
        parts.append(", ".join(f"{k.capitalize() if i == 0 else k} {inv[k]}" for i, k in enumerate(VITALS)))
        if player.sleeping:
            parts.append("You are sleeping")
        if world.daylight < 0.3:
            parts.append("It is night")
        return ". ".join(parts) + "."

    # ------------------------------------------------------------------ gym API
    def _info(self, achieved: frozenset[str]) -> dict[str, Any]:
        return {"admissible_actions": list(ACTIONS), "achieved_goals": achieved, "goal": self.goal,
                "feasible": True}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        goal = self.begin_reset(seed, options).get("goal")
        if goal is None:
            goal = self._rng.choice(GOALS)
        goal_family(goal)  # a clear error for a string outside the 22
        # crafter seeds its world with hash((seed, episode)): fix both so the world is a function of our seed
        self._env._seed, self._env._episode = self._rng.randrange(2**31 - 1), 0
        self._env.reset()
        self._counts, self._last = {a: 0 for a in ACHIEVEMENTS}, frozenset()
        self.goal, self.t, self._done = goal, 0, False
        return self.describe(), self._info(frozenset())

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self.goal is None or self._done:
            raise TextEnvError("step() called after the episode ended (or before reset); call reset() first")
        try:
            index = ACTIONS.index(action)
        except ValueError:
            raise TextEnvError(f"action {action!r} is not admissible; admissible actions: {ACTIONS}") from None
        _, _, _, info = self._env.step(index)  # crafter's own reward and done are not used
        counts = info["achievements"]
        achieved = frozenset(g for a, g in zip(ACHIEVEMENTS, GOALS) if counts.get(a, 0) > self._counts[a])
        self._counts = {a: counts.get(a, 0) for a in ACHIEVEMENTS}
        self._last = achieved
        self.t += 1
        out = self._info(achieved)
        reward, terminated = self.compute_reward(self.goal, achieved)
        terminated = terminated or bool(self._env._player.health <= 0)  # death ends the episode for every goal
        truncated = not terminated and self.t >= self.max_steps
        self._done = terminated or truncated
        return self.describe(), reward, terminated, truncated, out

    def chain(self, goal: str) -> tuple[str, dict] | None:
        """Pursue ``goal`` in the same world after the last episode earned its goal (goal chaining; ``Rollout``):
        inventory and map stay, the step counter restarts. Raises TextEnvError after a death or a timeout."""
        if self.goal is None or not self._done or self.goal not in self._last or self._env._player.health <= 0:
            raise TextEnvError("chain() continues only an episode that ended in its goal's success")
        goal_family(goal)
        self.goal, self.t, self._done = goal, 0, False
        return self.describe(), self._info(frozenset())

    def render(self) -> str:
        return self.describe() if self.goal is not None else ""
