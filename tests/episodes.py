"""Hand-made episodes for graph, curriculum and picture tests."""
from __future__ import annotations

from autotelic.episode import Episode


def make_episode(goal: str, new_per_step: list[list[str]], success: bool) -> Episode:
    """An episode whose step t newly achieves ``new_per_step[t]`` (achieved sets accumulate)."""
    achieved, cur = [], frozenset()
    for new in new_per_step:
        cur = cur | frozenset(new)
        achieved.append(cur)
    T = len(new_per_step)
    rewards = [0.0] * T
    if success:
        rewards[-1] = 1.0
    return Episode(goal=goal, observations=["obs"] * (T + 1), admissible=[("a", "b")] * (T + 1), actions=[0] * T,
                   rewards=rewards, achieved=achieved, terminated=success, truncated=not success)
