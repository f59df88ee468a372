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
    # env i gets the next queued goal; None marks an idle env once the queue is empty
    assigned = [pending.pop() for _ in range(n)]
    rollout = Rollout(envs[:n], prompt_fn, lambda i: assigned[i], seed=seed)
    active = [True] * n

    def next_goal(i: int) -> str | None:
        if pending:
            assigned[i] = pending.pop()
            return assigned[i]
        active[i] = False
        return assigned[i]  # keeps the env busy on a finished goal; its episodes are ignored
    rollout.next_goal = next_goal
    while any(active):
        was_active = list(active)
        for i, ep in rollout.step_indexed(act):
            if was_active[i]:
                results[ep.goal].append(ep.success)
    return {g: sum(r) / len(r) for g, r in results.items() if r}

