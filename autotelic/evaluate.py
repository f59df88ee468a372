"""Greedy evaluation: each goal pursued once per repeat, envs stepped in lockstep with batched policy calls."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

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

    def next_goals(indices: Sequence[int]) -> list[str]:
        """The next queued goals; once the queue is empty an env goes idle (its later episodes are ignored)."""
        out = []
        for i in indices:
            if pending:
                out.append(pending.pop())
            else:
                active[i] = False
                out.append(queue[-1])
        return out

    rollout = Rollout(envs[:n], prompt_fn, next_goals, seed=seed)
    while any(active):
        was_active = list(active)
        for i, ep in rollout.step_indexed(act):
            if was_active[i]:
                results[ep.goal].append(ep.success)
    return {g: sum(r) / len(r) for g, r in results.items() if r}


@dataclass
class Evaluator:
    """Greedy success on a seeded sample of discovered goals and on the held-out goals, as ``eval/`` metrics.

    With an env that names goal families (``goal_family(goal) -> str``) it adds ``eval/success/<family>`` over the
    discovered sample; with a curriculum that estimates competence (``estimate_competence(graph, goals)``) it adds
    ``curriculum/competence_error`` = mean |estimate − measured greedy success| over that sample.
    """

    envs: Sequence[Any]
    prompt_fn: PromptFn
    heldout_goals: Sequence[str]
    n_goals: int = 24
    repeats: int = 1
    seed: int = 0
    goal_family: Callable[[str], str | None] | None = None

    def __call__(self, policy: Any, graph: Any, step: int, curriculum: Any = None) -> dict[str, float]:
        out: dict[str, float] = {}
        found = sorted(graph.discovered())
        if len(found) > self.n_goals:
            pick = np.random.default_rng(self.seed + step)
            found = sorted(pick.choice(found, size=self.n_goals, replace=False).tolist())
        was_training = policy.training
        policy.eval()
        try:
            with torch.no_grad():
                act = functools.partial(policy.act, greedy=True)
                for key, goals in (("discovered", found), ("heldout", list(self.heldout_goals))):
                    if not goals:
                        continue
                    res = evaluate_goals(self.envs, act, self.prompt_fn, goals, repeats=self.repeats,
                                         seed=self.seed + 1)
                    out[f"eval/success_{key}"] = float(np.mean(list(res.values())))
                    out[f"eval/n_goals_{key}"] = float(len(res))
                    if key == "discovered":
                        out.update(self._by_family(res))
                        out.update(_competence_error(curriculum, graph, res))
        finally:
            policy.train(was_training)
        return out

    def _by_family(self, res: dict[str, float]) -> dict[str, float]:
        if self.goal_family is None:
            return {}
        groups: dict[str, list[float]] = {}
        for goal, s in res.items():
            family = self.goal_family(goal)
            if family:
                groups.setdefault(family, []).append(s)
        return {f"eval/success/{f}": float(np.mean(v)) for f, v in sorted(groups.items())}


def _competence_error(curriculum: Any, graph: Any, res: dict[str, float]) -> dict[str, float]:
    estimate = getattr(curriculum, "estimate_competence", None)
    if not callable(estimate) or not res:
        return {}
    goals = sorted(res)
    predicted = np.asarray(estimate(graph, goals), dtype=np.float64)
    measured = np.array([res[g] for g in goals])
    return {"curriculum/competence_error": float(np.abs(predicted - measured).mean())}
