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

from .base import BaseCurriculum, register_curriculum

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

    def weights(self, graph: GoalGraph, pool: list[str]) -> np.ndarray:
        nodes = graph.graph.nodes
        att = np.array([nodes[g]["attempts"] for g in pool], dtype=np.float64)
        ach = np.array([nodes[g]["times_achieved"] for g in pool], dtype=np.float64)
        w = np.ones(len(pool))
        if self.by in ("attempts", "both"):
            w *= (1.0 + att) ** -self.power
        if self.by in ("achieved", "both"):
            w *= (1.0 + ach) ** -self.power
        return w

    def _extra_metrics(self, graph: GoalGraph, pool: list[str], p: np.ndarray) -> dict[str, float]:
        nodes = graph.graph.nodes
        unseen = sum(1 for g in pool if g in graph and nodes[g]["attempts"] == 0)
        return {"curriculum/unattempted": float(unseen)}
