"""The text-environment protocol: Gymnasium API with text observations and actions.

Every env returns ``info["admissible_actions"]`` (a non-empty list of strings) and ``info["achieved_goals"]``
(a frozenset of goal strings true after the step), and exposes ``compute_reward(goal, achieved_goals)``, which
hindsight relabelling reuses so that a relabelled success is terminal exactly like a real one.
"""
from __future__ import annotations

from typing import Any, Iterable

import gymnasium as gym


class TextEnvError(ValueError):
    """Raised for bad input to a text env (unknown goal, inadmissible action, step after the end)."""


def default_compute_reward(goal: str, achieved_goals: Iterable[str]) -> tuple[float, bool]:
    """Sparse goal reward: (1.0, terminated) when ``goal`` is among the achieved goals, else (0.0, False)."""
    hit = goal in achieved_goals
    return (1.0 if hit else 0.0), hit


class TextEnv(gym.Env):
    """Base class for text envs. Subclasses implement ``reset``/``step`` and may override ``compute_reward``.

    ``goal`` is the goal pursued in the current episode; ``vocabulary()`` lists the words the env can ever emit
    (observations, goals, actions) so that a word-level tokenizer can be built offline.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"]}
    goal: str | None = None

    def compute_reward(self, goal: str, achieved_goals: Iterable[str]) -> tuple[float, bool]:
        return default_compute_reward(goal, achieved_goals)

    @staticmethod
    def reset_options(options: dict[str, Any] | None, extra: tuple[str, ...] = ()) -> dict[str, Any]:
        """``reset``'s options as a dict: ``goal`` (absent: the env picks one) and the env's own ``extra`` keys; any
        other key is a TextEnvError naming the accepted ones."""
        options = dict(options or {})
        unknown = set(options) - {"goal", *extra}
        if unknown:
            accepted = " and/or ".join(repr(k) for k in ("goal", *extra))
            raise TextEnvError(f"unknown reset option(s) {sorted(unknown)}; expected {accepted}")
        return options

    def begin_reset(self, seed: int | None, options: dict[str, Any] | None,
                    extra: tuple[str, ...] = ()) -> dict[str, Any]:
        """The common start of ``reset``: Gymnasium's seeding, the env's own ``self._rng`` reseeded when ``seed``
        is given, and ``reset_options(options, extra)``."""
        gym.Env.reset(self, seed=seed)
        if seed is not None:
            self._rng.seed(seed)
        return self.reset_options(options, extra)

    def vocabulary(self) -> list[str]:
        """Words the env can emit; the default is empty (tokenizers then fall back to their unknown token)."""
        return []
