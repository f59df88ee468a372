"""Step n text envs in lockstep with one batched policy call per step, and return the episodes that finish."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .episode import Episode

PromptFn = Callable[[str, str], str]
ActFn = Callable[[list[str], list[list[str]]], list[int]]
GoalFn = Callable[[int], "str | None"]


@dataclass
class _Slot:
    """The episode in progress in one env."""

    episode: Episode
    info: dict[str, Any] = field(default_factory=dict)


def _env_goal(env: Any) -> str:
    goal = getattr(getattr(env, "unwrapped", env), "goal", None)
    if not isinstance(goal, str):
        raise ValueError(f"{type(env).__name__} must set env.goal on reset (the text-env protocol)")
    return goal


class Rollout:
    """Lockstep rollout over ``envs``: ``step(act)`` advances every env by one action and returns finished episodes.

    ``next_goal(i)`` gives the goal env i pursues next (None lets the env choose, e.g. while the graph is empty);
    ``seed`` seeds each env's first reset (env i gets seed + i), later resets continue the env's own RNG.
    """

    def __init__(self, envs: Sequence[Any], prompt_fn: PromptFn, next_goal: GoalFn, seed: int | None = None):
        if not envs:
            raise ValueError("Rollout needs at least one env")
        self.envs, self.prompt_fn, self.next_goal = list(envs), prompt_fn, next_goal
        self.slots: list[_Slot] = [self._reset(i, None if seed is None else seed + i) for i in range(len(envs))]
        self.env_steps = 0

    def _reset(self, i: int, seed: int | None = None) -> _Slot:
        goal = self.next_goal(i)
        obs, info = self.envs[i].reset(seed=seed, options=None if goal is None else {"goal": goal})
        goal = _env_goal(self.envs[i]) if goal is None else goal
        actions = tuple(info["admissible_actions"])
        if not actions:
            raise ValueError(f"env {i} offered no admissible action at reset (goal {goal!r})")
        return _Slot(Episode(goal=goal, observations=[obs], admissible=[actions]), info)

    def prompts(self) -> tuple[list[str], list[list[str]]]:
        """The current prompt and candidate actions of every env."""
        prompts = [self.prompt_fn(s.episode.goal, s.episode.observations[-1]) for s in self.slots]
        return prompts, [list(s.episode.admissible[-1]) for s in self.slots]

    def step(self, act: ActFn) -> list[Episode]:
        """One batched ``act(prompts, candidates)`` call, one env step each; finished envs are reset."""
        return [ep for _, ep in self.step_indexed(act)]

    def step_indexed(self, act: ActFn) -> list[tuple[int, Episode]]:
        """Like ``step``, with the index of the env each finished episode came from."""
        prompts, candidates = self.prompts()
        choices = act(prompts, candidates)
        finished: list[tuple[int, Episode]] = []
        for i, (slot, a) in enumerate(zip(self.slots, choices)):
            ep = slot.episode
            action = ep.admissible[-1][a]
            obs, reward, terminated, truncated, info = self.envs[i].step(action)
            actions = tuple(info["admissible_actions"])
            if not actions and not (terminated or truncated):
                raise ValueError(f"env {i} offered no admissible action after {action!r}")
            ep.actions.append(int(a))
            ep.rewards.append(float(reward))
            ep.achieved.append(frozenset(info["achieved_goals"]))
            ep.observations.append(obs)
            ep.admissible.append(actions)
            if terminated or truncated:
                ep.terminated, ep.truncated = bool(terminated), bool(truncated and not terminated)
                finished.append((i, ep))
                self.slots[i] = self._reset(i)
        self.env_steps += len(self.slots)
        return finished
