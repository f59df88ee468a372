"""A user's own text env, run through the autotelic loop without touching the package.

    autotelic train env.id=custom_env:CounterEnv env.n_envs=4 loop.total_env_steps=2000   (run from examples/)

A counter starts at 0; actions "add one", "add two", "subtract one"; goals "reach N" for N in 1..8; horizon 5.
Every number the counter shows is an achieved goal, so hindsight relabelling has plenty to learn from.
"""
from __future__ import annotations

import random

from autotelic.envs import TextEnv, TextEnvError

ACTIONS = {"add one": 1, "add two": 2, "subtract one": -1}
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]


class CounterEnv(TextEnv):
    """Reach a number by adding and subtracting; the protocol only asks for text, admissible actions, achieved goals."""

    def __init__(self, max_number: int = 8, horizon: int = 5) -> None:
        self.max_number, self.horizon = max_number, horizon
        self.goals = [f"reach {WORDS[n]}" for n in range(1, max_number + 1)]
        self._rng = random.Random()
        self.goal, self.value, self.t, self.done = None, 0, 0, True

    def vocabulary(self) -> list[str]:
        return ["the", "counter", "shows", "reach", "add", "subtract", "."] + WORDS

    def all_goals(self, split: str | None = None) -> list[str]:
        return list(self.goals)

    def _obs(self) -> str:
        return f"the counter shows {WORDS[self.value]} ."

    def _info(self) -> dict:
        acts = [a for a, d in ACTIONS.items() if 0 <= self.value + d <= len(WORDS) - 1]
        return {"admissible_actions": acts, "achieved_goals": frozenset({f"reach {WORDS[self.value]}"})}

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._rng.seed(seed)
        goal = (options or {}).get("goal") or self._rng.choice(self.goals)
        if goal not in {f"reach {w}" for w in WORDS}:  # any number the counter can show is a goal
            raise TextEnvError(f"unknown goal {goal!r}; goals are 'reach zero' ... 'reach {WORDS[-1]}'")
        self.goal, self.value, self.t, self.done = goal, 0, 0, False
        return self._obs(), self._info()

    def step(self, action: str):
        if self.done:
            raise TextEnvError("step() after the episode ended; call reset()")
        info = self._info()
        if action not in info["admissible_actions"]:
            raise TextEnvError(f"action {action!r} is not admissible; admissible: {info['admissible_actions']}")
        self.value += ACTIONS[action]
        self.t += 1
        info = self._info()
        reward, terminated = self.compute_reward(self.goal, info["achieved_goals"])
        truncated = not terminated and self.t >= self.horizon
        self.done = terminated or truncated
        return self._obs(), reward, terminated, truncated, info
