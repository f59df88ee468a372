"""A deterministic crafting-style toy env for the vocabulary tests: ``env.id=craft_env:CraftEnv``.

Four actions, always admissible: "collect wood", "collect stone", "make plank" (wood → plank) and "make stick"
(plank → stick); a recipe without its input does nothing. The achieved goals are the inventory, phrased as the
action that gives each item ("collect wood" while holding wood, "make stick" while holding a stick), so the goals
form a chain of 1 to 3 steps; horizon 5. A uniformly random policy reaches "make stick" ~10% of the time. Every word (collect, wood, make, ...) is
outside the prompt template, so a word-level tokenizer that has not seen the env maps all of them to [UNK], and
then "collect wood" and "collect stone" are the same token sequence.

``CraftEnv(vocabulary=False)`` is the same env without a ``vocabulary()`` (the base TextEnv's empty list).
"""
from __future__ import annotations

import random
from typing import Any

from autotelic.envs import TextEnv, TextEnvError

ACTIONS = ("collect wood", "collect stone", "make plank", "make stick")
RECIPES: dict[str, tuple[tuple[str, ...], str]] = {  # action -> (items consumed, item made)
    "collect wood": ((), "wood"), "collect stone": ((), "stone"), "make plank": (("wood",), "plank"),
    "make stick": (("plank",), "stick"),
}
GOAL_OF = {made: action for action, (_, made) in RECIPES.items()}  # item -> the goal achieved while holding it
GOALS = ACTIONS
WORDS = ["you", "have", "nothing", ",", ".", "collect", "make", "wood", "stone", "plank", "stick"]


class CraftEnv(TextEnv):
    def __init__(self, vocabulary: bool = True, horizon: int = 5) -> None:
        self.has_vocabulary, self.horizon = vocabulary, horizon
        self._rng = random.Random(0)
        self.goal: str | None = None
        self.inventory: list[str] = []
        self.t, self.done = 0, True

    def vocabulary(self) -> list[str]:
        return list(WORDS) if self.has_vocabulary else super().vocabulary()

    def all_goals(self, split: str | None = None) -> list[str]:
        return list(GOALS)

    def _obs(self) -> str:
        return f"you have {' , '.join(sorted(self.inventory)) or 'nothing'} ."

    def _info(self) -> dict[str, Any]:
        achieved = frozenset(GOAL_OF[item] for item in self.inventory)
        return {"admissible_actions": list(ACTIONS), "achieved_goals": achieved}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        if seed is not None:
            self._rng.seed(seed)
        goal = (options or {}).get("goal") or self._rng.choice(GOALS)
        if goal not in GOALS:
            raise TextEnvError(f"unknown goal {goal!r}; goals: {list(GOALS)}")
        self.goal, self.inventory, self.t, self.done = goal, [], 0, False
        return self._obs(), self._info()

    def step(self, action: str):
        if self.done:
            raise TextEnvError("step() after the episode ended; call reset()")
        if action not in RECIPES:
            raise TextEnvError(f"action {action!r} is not admissible; admissible: {list(ACTIONS)}")
        needs, made = RECIPES[action]
        if all(n in self.inventory for n in needs):
            for n in needs:
                self.inventory.remove(n)
            self.inventory.append(made)
        self.t += 1
        info = self._info()
        reward, terminated = self.compute_reward(self.goal, info["achieved_goals"])
        truncated = not terminated and self.t >= self.horizon
        self.done = terminated or truncated
        return self._obs(), reward, terminated, truncated, info
