"""Validate any env against the text-env protocol (used by the tests and by users writing their own env)."""
from __future__ import annotations

import random
from typing import Any


class ProtocolError(AssertionError):
    """The env breaks the text-env protocol; the message names the broken rule."""


def _check_info(info: Any, where: str) -> None:
    if not isinstance(info, dict):
        raise ProtocolError(f"{where}: info must be a dict, got {type(info).__name__}")
    acts = info.get("admissible_actions")
    if not isinstance(acts, (list, tuple)) or not acts:
        raise ProtocolError(f"{where}: info['admissible_actions'] must be a non-empty list of str, got {acts!r}")
    if not all(isinstance(a, str) and a for a in acts):
        raise ProtocolError(f"{where}: every admissible action must be a non-empty str, got {acts!r}")
    if len(set(acts)) != len(acts):
        raise ProtocolError(f"{where}: admissible actions must be unique, got {acts!r}")
    ach = info.get("achieved_goals")
    if not isinstance(ach, frozenset) or not all(isinstance(g, str) for g in ach):
        raise ProtocolError(f"{where}: info['achieved_goals'] must be a frozenset of str, got {ach!r}")


def check_text_env(env: Any, episodes: int = 3, seed: int = 0, max_steps: int = 200) -> None:
    """Run ``episodes`` random episodes and raise ``ProtocolError`` at the first protocol violation.

    Checks types of observations/info, non-empty admissible actions, that the reward equals
    ``compute_reward(env.goal, achieved_goals)``, that ``reset(seed)`` is deterministic, and that episodes end.
    """
    rng = random.Random(seed)
    for attr in ("reset", "step", "compute_reward"):
        if not callable(getattr(env, attr, None)):
            raise ProtocolError(f"env has no callable {attr}()")
    for ep in range(episodes):
        obs, info = env.reset(seed=seed + ep)
        if not isinstance(obs, str):
            raise ProtocolError(f"reset: observation must be str, got {type(obs).__name__}")
        _check_info(info, "reset")
        goal = getattr(env, "goal", None)
        if not isinstance(goal, str) or not goal:
            raise ProtocolError("reset: env.goal must be the pursued goal string after reset")
        obs2, info2 = env.reset(seed=seed + ep)
        if obs2 != obs or list(info2["admissible_actions"]) != list(info["admissible_actions"]):
            raise ProtocolError("reset(seed) is not deterministic: same seed gave a different first observation")
        for t in range(max_steps):
            action = rng.choice(list(info["admissible_actions"]))
            out = env.step(action)
            if not isinstance(out, tuple) or len(out) != 5:
                raise ProtocolError("step must return (observation, reward, terminated, truncated, info)")
            obs, reward, terminated, truncated, info = out
            where = f"step {t} ({action!r})"
            if not isinstance(obs, str):
                raise ProtocolError(f"{where}: observation must be str, got {type(obs).__name__}")
            if not isinstance(terminated, bool) or not isinstance(truncated, bool):
                raise ProtocolError(f"{where}: terminated and truncated must be bool")
            _check_info(info, where)
            expected_r, expected_term = env.compute_reward(env.goal, info["achieved_goals"])
            if float(reward) != float(expected_r):
                raise ProtocolError(
                    f"{where}: reward {reward} != compute_reward(goal, achieved_goals)[0] = {expected_r}")
            if expected_term and not terminated:
                raise ProtocolError(f"{where}: goal achieved but terminated is False")
            if terminated or truncated:
                break
        else:
            raise ProtocolError(f"episode {ep} did not end within {max_steps} steps (no truncation?)")
