"""Validate any env against the text-env protocol (used by the tests and by users writing their own env).

Besides types and rewards, the checker names what breaks hindsight relabelling and evaluation later:
- an observation that contains the goal text (the relabeller rebuilds the prompt with another goal, but the
  observation would still name the old one);
- a goal the env reported in ``info["achieved_goals"]`` that ``reset(options={"goal": g})`` then refuses;
- ``all_goals(split)`` listing goals no scene can produce. Every listed goal must be accepted by ``reset``; an env
  says a scene cannot produce the goal it was reset with by setting ``info["feasible"] = False`` (optional key,
  Playground-Text and the built-in envs set it), and a listed goal for which no tried scene is feasible is an error.
"""
from __future__ import annotations

import random
from typing import Any, Sequence


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
    feasible = info.get("feasible", True)
    if not isinstance(feasible, bool):
        raise ProtocolError(f"{where}: info['feasible'] (optional) must be a bool, got {feasible!r}")


def _check_goal_not_in_observation(obs: str, goal: str, where: str) -> None:
    if goal.strip() and goal.strip().lower() in obs.lower():
        raise ProtocolError(
            f"{where}: the observation contains the goal text {goal!r}, which breaks hindsight relabelling (the "
            f"relabelled prompt would name another goal while the observation still names this one); leave the "
            f"goal out of observations (the prompt adds it)")


def _reset_with_goal(env: Any, goal: str, seed: int, why: str) -> tuple[str, dict]:
    """``env.reset(seed, options={"goal": goal})`` with protocol checks; ``why`` says where the goal came from."""
    try:
        obs, info = env.reset(seed=seed, options={"goal": goal})
    except Exception as e:  # noqa: BLE001 - any refusal is the protocol error we name
        raise ProtocolError(f"{why}, but reset(options={{'goal': {goal!r}}}) raised "
                            f"{type(e).__name__}: {e}") from e
    where = f"reset(options={{'goal': {goal!r}}})"
    if not isinstance(obs, str):
        raise ProtocolError(f"{where}: observation must be str, got {type(obs).__name__}")
    _check_info(info, where)
    if getattr(env, "goal", None) != goal:
        raise ProtocolError(f"{where}: env.goal is {getattr(env, 'goal', None)!r}, not the goal it was given")
    _check_goal_not_in_observation(obs, goal, where)
    return obs, info


def _listed_goals(env: Any, split: str | None) -> list[str]:
    where = "all_goals()" if split is None else f"all_goals({split!r})"
    try:
        goals = env.all_goals() if split is None else env.all_goals(split)
    except Exception as e:  # noqa: BLE001
        raise ProtocolError(f"{where} raised {type(e).__name__}: {e}") from e
    goals = list(goals)
    if not all(isinstance(g, str) and g.strip() for g in goals):
        raise ProtocolError(f"{where} must list non-empty goal strings, got {goals[:5]!r}...")
    if len(set(goals)) != len(goals):
        raise ProtocolError(f"{where} lists a goal more than once")
    return goals


def check_text_env(env: Any, episodes: int = 3, seed: int = 0, max_steps: int = 200,
                   splits: Sequence[str | None] = (None, "test"), max_goals: int = 64, scene_tries: int = 3) -> None:
    """Run ``episodes`` random episodes and raise ``ProtocolError`` at the first protocol violation.

    Checks types of observations/info, non-empty admissible actions, that the reward equals
    ``compute_reward(env.goal, achieved_goals)``, that ``reset(seed)`` is deterministic, that episodes end, that
    no observation contains the goal, that ``reset`` accepts every goal the episodes reported achieved, and, for
    an env with ``all_goals``, that ``reset`` accepts up to ``max_goals`` goals of each split in ``splits`` and that
    each is feasible (``info["feasible"]`` not False) in at least one of ``scene_tries`` seeded scenes.
    """
    rng = random.Random(seed)
    for attr in ("reset", "step", "compute_reward"):
        if not callable(getattr(env, attr, None)):
            raise ProtocolError(f"env has no callable {attr}()")
    achieved_seen: dict[str, str] = {}  # goal -> where it was first reported achieved
    for ep in range(episodes):
        obs, info = env.reset(seed=seed + ep)
        if not isinstance(obs, str):
            raise ProtocolError(f"reset: observation must be str, got {type(obs).__name__}")
        _check_info(info, "reset")
        goal = getattr(env, "goal", None)
        if not isinstance(goal, str) or not goal:
            raise ProtocolError("reset: env.goal must be the pursued goal string after reset")
        _check_goal_not_in_observation(obs, goal, "reset")
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
            _check_goal_not_in_observation(obs, env.goal, where)
            for g in info["achieved_goals"]:
                achieved_seen.setdefault(g, f"episode {ep} {where}")
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
    # every goal the env reported achieved is one HER relabels with and the curriculum may then pursue
    for g in sorted(achieved_seen)[:max_goals]:
        _reset_with_goal(env, g, seed, f"the env reported {g!r} in info['achieved_goals'] ({achieved_seen[g]})")
    if callable(getattr(env, "all_goals", None)):
        for split in splits:
            goals = _listed_goals(env, split)
            if len(goals) > max_goals:
                goals = random.Random(seed).sample(goals, max_goals)
            name = "all_goals()" if split is None else f"all_goals({split!r})"
            for g in goals:
                for k in range(scene_tries):
                    _, info = _reset_with_goal(env, g, seed + k, f"{name} lists {g!r}")
                    if info.get("feasible", True):
                        break
                else:
                    raise ProtocolError(
                        f"{name} lists {g!r} but no scene can produce it: reset(options={{'goal': {g!r}}}) reported "
                        f"info['feasible'] = False on {scene_tries} seeds; list only goals some scene can produce")
