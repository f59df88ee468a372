"""Frontier curriculum: uniform over the graph's frontier (discovered, not mastered, predecessors mastered).

Fallbacks when that set is empty (within the allowed pool): discovered and not mastered goals, then every goal.
"""
from __future__ import annotations

import numpy as np

from autotelic.graph import GoalGraph

from .base import BaseCurriculum, GoalPool, register_curriculum


@register_curriculum("frontier")
class FrontierCurriculum(BaseCurriculum):
    """p(g) = 1/|F| for g in the frontier F (see the module docstring for the fallbacks)."""

    name = "frontier"

    def _target(self, graph: GoalGraph, pool: GoalPool) -> tuple[np.ndarray, int]:
        """(mask over the pool of goals with positive weight, level): 0 frontier, 1 discovered-not-mastered, 2 all."""
        if pool.idx is None:  # fallback goals: the graph holds none of them
            return np.ones(len(pool), dtype=bool), 2
        f = graph.frontier_mask()[pool.idx]
        if f.any():
            return f, 0
        dn = graph.array("discovered", pool.idx) & ~graph.array("mastered", pool.idx)
        if dn.any():
            return dn, 1
        return np.ones(len(pool), dtype=bool), 2

    def weights(self, graph: GoalGraph, pool: GoalPool) -> np.ndarray:
        return self._target(graph, pool)[0].astype(np.float64)

    def _extra_metrics(self, graph: GoalGraph, pool: GoalPool, p: np.ndarray) -> dict[str, float]:
        target, level = self._target(graph, pool)
        return {"curriculum/frontier_size": float(target.sum()) if level == 0 else 0.0,
                "curriculum/frontier_level": float(level)}
