"""Frontier curriculum: uniform over the graph's frontier (discovered, not mastered, predecessors mastered).

Fallbacks when that set is empty (within the allowed pool): discovered and not mastered goals, then every goal.
"""
from __future__ import annotations

import numpy as np

from autotelic.graph import GoalGraph

from .base import BaseCurriculum, register_curriculum


@register_curriculum("frontier")
class FrontierCurriculum(BaseCurriculum):
    """p(g) = 1/|F| for g in the frontier F (see the module docstring for the fallbacks)."""

    name = "frontier"

    def _target(self, graph: GoalGraph, pool: list[str]) -> tuple[set[str], int]:
        """(goals with positive weight, level): level 0 frontier, 1 discovered-not-mastered, 2 whole pool."""
        in_pool = set(pool)
        f = in_pool.intersection(graph.frontier())
        if f:
            return f, 0
        mastered = set(graph.mastered())
        dn = {g for g in graph.discovered() if g in in_pool and g not in mastered}
        if dn:
            return dn, 1
        return in_pool, 2

    def weights(self, graph: GoalGraph, pool: list[str]) -> np.ndarray:
        target, _ = self._target(graph, pool)
        return np.array([1.0 if g in target else 0.0 for g in pool])

    def _extra_metrics(self, graph: GoalGraph, pool: list[str], p: np.ndarray) -> dict[str, float]:
        if not all(g in graph for g in pool):  # sampling fallback goals: the graph is empty
            return {"curriculum/frontier_size": 0.0, "curriculum/frontier_level": 2.0}
        target, level = self._target(graph, pool)
        return {"curriculum/frontier_size": float(len(target)) if level == 0 else 0.0,
                "curriculum/frontier_level": float(level)}
