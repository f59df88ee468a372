"""Greedy evaluation: each goal pursued once per repeat, envs stepped in lockstep with batched policy calls."""
from __future__ import annotations

from typing import Any, Sequence

from .rollout import ActFn, PromptFn, Rollout


def evaluate_goals(envs: Sequence[Any], act: ActFn, prompt_fn: PromptFn, goals: Sequence[str],
                   repeats: int = 1, seed: int = 0) -> dict[str, float]:
    """Success rate per goal over ``repeats`` episodes each (scenes where the goal is feasible, seeded)."""
    queue = [g for g in goals for _ in range(repeats)]
    if not queue:
        return {}
    results: dict[str, list[bool]] = {g: [] for g in goals}
    n = min(len(envs), len(queue))
    pending = list(reversed(queue))
    active = [True] * n

    def next_goal(i: int) -> str:
        """The next queued goal; once the queue is empty env i goes idle (its later episodes are ignored)."""
        if pending:
            return pending.pop()
        active[i] = False
        return queue[-1]

    rollout = Rollout(envs[:n], prompt_fn, next_goal, seed=seed)
    while any(active):
        was_active = list(active)
        for i, ep in rollout.step_indexed(act):
            if was_active[i]:
                results[ep.goal].append(ep.success)
    return {g: sum(r) / len(r) for g, r in results.items() if r}
