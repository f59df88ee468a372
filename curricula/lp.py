"""Learning-progress curriculum (CURIOUS / MAGELLAN Online-ALP).

p(g) = ε/N + (1 − ε) · LP_g / Σ_h LP_h  over the N goals of the pool; uniform when every LP_g is 0.
LP_g is the graph's learning progress (``source="graph"``, fed by GoalGraph.observe), or this curriculum's own
per-goal outcome windows fed by ``update(goal, success)`` (``source="own"``, with its own ``window``/``lp_mode``):
  "window": |mean(recent half) − mean(older half)|,   "ema": |EMA_fast − EMA_slow|.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from autotelic.graph import LP_MODES, GoalGraph, OutcomeTracker

from .base import BaseCurriculum, GoalPool, register_curriculum


@register_curriculum("lp")
class LPCurriculum(BaseCurriculum):
    """Sample goals in proportion to absolute learning progress, with an ε-uniform floor."""

    name = "lp"

    def __init__(self, epsilon: float = 0.2, source: str = "graph", window: int = 20, lp_mode: str = "window",
                 ema_fast: float = 0.2, ema_slow: float = 0.05, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
        if source not in ("graph", "own"):
            raise ValueError(f"source must be 'graph' or 'own', got {source!r}")
        if lp_mode not in LP_MODES:
            raise ValueError(f"lp_mode must be one of {LP_MODES}, got {lp_mode!r}")
        if window < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        self.epsilon = float(epsilon)
        self.source = source
        self.window = int(window)
        self.lp_mode = lp_mode
        self.ema_fast = float(ema_fast)
        self.ema_slow = float(ema_slow)
        self._trackers: dict[str, OutcomeTracker] = {}

    def learning_progress(self, graph: GoalGraph, goal: str) -> float:
        """LP_g from the configured source (0 for a goal with no outcome)."""
        if self.source == "graph":
            return graph.learning_progress(goal) if goal in graph else 0.0
        tr = self._trackers.get(goal)
        return tr.learning_progress(self.lp_mode) if tr is not None else 0.0

    def learning_progress_array(self, graph: GoalGraph, pool: GoalPool) -> np.ndarray:
        """LP_g for every goal of ``pool`` (vectorised; 0 for a goal with no outcome)."""
        if pool.idx is None:  # fallback goals: not in the graph
            return np.array([self.learning_progress(graph, g) for g in pool], dtype=np.float64)
        if self.source == "graph":
            return graph.array("learning_progress", pool.idx)
        lp = np.zeros(len(pool))
        for g, tr in self._trackers.items():  # only goals with outcomes can have LP > 0
            if g in graph:
                gi = int(graph.index([g])[0])
                k = int(np.searchsorted(pool.idx, gi))  # pool.idx is in graph order (ascending)
                if k < len(pool) and pool.idx[k] == gi:
                    lp[k] = tr.learning_progress(self.lp_mode)
        return lp

    def weights(self, graph: GoalGraph, pool: GoalPool) -> np.ndarray:
        lp = self.learning_progress_array(graph, pool)
        n = len(pool)
        total = lp.sum()
        if total <= 0:
            return np.full(n, 1.0 / n)
        return self.epsilon / n + (1.0 - self.epsilon) * lp / total

    def update(self, goal: str, success: bool) -> None:
        super().update(goal, success)
        if self.source == "own":
            tr = self._trackers.get(goal)
            if tr is None:
                tr = self._trackers[goal] = OutcomeTracker(self.window)
            tr.add(bool(success), self.ema_fast, self.ema_slow)

    def _extra_metrics(self, graph: GoalGraph, pool: GoalPool, p: np.ndarray) -> dict[str, float]:
        lp = self.learning_progress_array(graph, pool)
        return {"curriculum/mean_lp": float(np.mean(lp)), "curriculum/max_lp": float(np.max(lp)),
                "curriculum/goals_with_lp": float(np.count_nonzero(lp > 0))}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "trackers": {g: t.state_dict() for g, t in self._trackers.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._trackers = {}
        for g, s in state.get("trackers", {}).items():
            tr = self._trackers[g] = OutcomeTracker(self.window)
            tr.load_state_dict(s)
