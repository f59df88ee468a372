"""Step n text envs in lockstep with one batched policy call per step, and return the episodes that finish."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .episode import Episode

PromptFn = Callable[[str, str], str]
ActFn = Callable[[list[str], list[list[str]]], list[int]]  # may return ``policy.Actions`` (indices + ``logp``)
GoalsFn = Callable[[Sequence[int]], Sequence["str | None"]]


@dataclass
class _Slot:
    """The episode in progress in one env."""

    episode: Episode
    seed: int
    requested: str | None  # the goal passed to reset (None: the env chose ``episode.goal`` itself)
    info: dict[str, Any] = field(default_factory=dict)


def _env_goal(env: Any) -> str:
    goal = getattr(getattr(env, "unwrapped", env), "goal", None)
    if not isinstance(goal, str):
        raise ValueError(f"{type(env).__name__} must set env.goal on reset (the text-env protocol)")
    return goal


class Rollout:
    """Lockstep rollout over ``envs``: ``step(act)`` advances every env by one action and returns finished episodes.

    ``next_goals(indices)`` gives the goals the envs ``indices`` pursue next, asked once per step for every env that
    resets in it (None lets the env choose, e.g. while the graph is empty). Every reset is seeded from the rollout's own generator (seeded by ``seed``), so an episode in progress is
    fully described by (reset seed, goal, actions): ``state_dict`` saves that and ``load_state_dict`` replays it,
    which makes resuming exact for any env whose reset(seed) and step are deterministic.
    """

    def __init__(self, envs: Sequence[Any], prompt_fn: PromptFn, next_goals: GoalsFn, seed: int = 0):
        if not envs:
            raise ValueError("Rollout needs at least one env")
        self.envs, self.prompt_fn, self.next_goals = list(envs), prompt_fn, next_goals
        self.rng = np.random.default_rng(seed)
        self.slots: list[_Slot] = []
        self.slots = self._reset_new(range(len(self.envs)))
        self.env_steps = 0

    def _reset_new(self, indices: Sequence[int]) -> list[_Slot]:
        """Reset envs ``indices`` with fresh seeds (drawn in order) and one ``next_goals`` call for all of them."""
        indices = list(indices)
        seeds = [int(self.rng.integers(2**31 - 1)) for _ in indices]
        goals = list(self.next_goals(indices)) if indices else []
        if len(goals) != len(indices):
            raise ValueError(f"next_goals returned {len(goals)} goals for {len(indices)} envs")
        return [self._reset(i, goal, seed) for i, goal, seed in zip(indices, goals, seeds)]

    def _reset(self, i: int, goal: str | None, seed: int) -> _Slot:
        obs, info = self.envs[i].reset(seed=seed, options=None if goal is None else {"goal": goal})
        pursued = _env_goal(self.envs[i]) if goal is None else goal
        actions = tuple(info["admissible_actions"])
        if not actions:
            raise ValueError(f"env {i} offered no admissible action at reset (goal {pursued!r})")
        return _Slot(Episode(goal=pursued, observations=[obs], admissible=[actions]), seed, goal, info)

    def state_dict(self) -> dict[str, Any]:
        """The generator state and, per env, the (seed, goal, actions, behaviour log-probs) of the episode in
        progress."""
        return {"rng": self.rng.bit_generator.state, "env_steps": self.env_steps,
                "slots": [{"seed": s.seed, "goal": s.requested, "actions": list(s.episode.actions),
                           "logps": list(s.episode.logps)} for s in self.slots]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Rebuild every episode in progress by resetting with its seed and goal and replaying its actions."""
        if len(state["slots"]) != len(self.envs):
            raise ValueError(f"rollout state has {len(state['slots'])} envs, this rollout has {len(self.envs)}")
        self.rng.bit_generator.state = state["rng"]
        self.env_steps = int(state["env_steps"])
        for i, saved in enumerate(state["slots"]):
            slot = self._reset(i, goal=saved["goal"], seed=int(saved["seed"]))
            self.slots[i] = slot
            logps = saved.get("logps") or [None] * len(saved["actions"])
            for a, lp in zip(saved["actions"], logps):
                self._advance(i, int(a), lp)

    def _advance(self, i: int, a: int, logp: float | None = None) -> Episode | None:
        """Take action index ``a`` (chosen with log-prob ``logp``, when known) in env i; return the episode if it
        finished (the caller resets the env). An episode keeps log-probs only if every one of its steps has one."""
        ep = self.slots[i].episode
        action = ep.admissible[-1][a]
        obs, reward, terminated, truncated, info = self.envs[i].step(action)
        actions = tuple(info["admissible_actions"])
        if not actions and not (terminated or truncated):
            raise ValueError(f"env {i} offered no admissible action after {action!r}")
        if logp is not None and len(ep.logps) == len(ep.actions):
            ep.logps.append(float(logp))
        else:
            ep.logps.clear()
        ep.actions.append(int(a))
        ep.rewards.append(float(reward))
        ep.achieved.append(frozenset(info["achieved_goals"]))
        ep.observations.append(obs)
        ep.admissible.append(actions)
        if not (terminated or truncated):
            return None
        ep.terminated, ep.truncated = bool(terminated), bool(truncated and not terminated)
        return ep

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
        logps = getattr(choices, "logp", None) or [None] * len(choices)  # plain indices: no behaviour log-probs
        finished: list[tuple[int, Episode]] = []
        for i, (a, lp) in enumerate(zip(choices, logps)):
            ep = self._advance(i, int(a), lp)
            if ep is not None:
                finished.append((i, ep))
        done = [i for i, _ in finished]
        for i, slot in zip(done, self._reset_new(done)):
            self.slots[i] = slot
        self.env_steps += len(self.slots)
        return finished
