"""Novelty curriculum: prefer goals pursued (or achieved) rarely.

by="attempts":  w_g = 1/√(1 + attempts_g)
by="achieved":  w_g = 1/√(1 + times_achieved_g)          (rarely achieved goals)
by="both":      w_g = 1/√(1 + attempts_g) · 1/√(1 + times_achieved_g)
Counts are the graph's (GoalGraph.observe records them), so ``update`` only counts calls.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from autotelic.graph import GoalGraph

from .base import BaseCurriculum, GoalPool, register_curriculum

MODES = ("attempts", "achieved", "both")


@register_curriculum("novelty")
class NoveltyCurriculum(BaseCurriculum):
    """Sample in proportion to 1/√(1 + count) (see the module docstring); ``power`` replaces the ½."""

    name = "novelty"

    def __init__(self, by: str = "attempts", power: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if by not in MODES:
            raise ValueError(f"novelty 'by' must be one of {MODES}, got {by!r}")
        if power < 0:
            raise ValueError(f"power must be >= 0, got {power}")
        self.by = by
        self.power = float(power)

    def weights(self, graph: GoalGraph, pool: GoalPool) -> np.ndarray:
        w = np.ones(len(pool))
        if pool.idx is None:  # fallback goals: never attempted
            return w
        if self.by in ("attempts", "both"):
            w *= (1.0 + graph.array("attempts", pool.idx).astype(np.float64)) ** -self.power
        if self.by in ("achieved", "both"):
            w *= (1.0 + graph.array("times_achieved", pool.idx).astype(np.float64)) ** -self.power
        return w

    def _extra_metrics(self, graph: GoalGraph, pool: GoalPool, p: np.ndarray) -> dict[str, float]:
        unseen = 0 if pool.idx is None else int(np.count_nonzero(graph.array("attempts", pool.idx) == 0))
        return {"curriculum/unattempted": float(unseen)}
