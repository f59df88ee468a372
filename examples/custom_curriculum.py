"""A user curriculum plugged in by dotted path, without touching the package.

    autotelic train curriculum.name=custom_curriculum:GoldilocksCurriculum   (run from examples/)

It implements the small ``GoalCurriculum`` protocol directly: prefer goals the agent succeeds at sometimes but not
always (competence in a band), the rest uniformly; it only ever proposes goals the graph holds.
"""
from __future__ import annotations

from typing import Any

import numpy as np


class GoldilocksCurriculum:
    """Sample goals whose competence lies in [low, high] with probability ``band_prob``, any goal otherwise."""

    def __init__(self, low: float = 0.2, high: float = 0.8, band_prob: float = 0.8) -> None:
        self.low, self.high, self.band_prob = low, high, band_prob
        self.proposed = 0
        self.in_band = 0

    def sample(self, graph: Any, n: int, rng: np.random.Generator) -> list[str]:
        goals = graph.goals()
        if not goals:
            raise ValueError("GoldilocksCurriculum needs at least one goal in the graph")
        band = [g for g in goals if self.low <= graph.competence(g) <= self.high]
        out = []
        for _ in range(n):
            use_band = band and rng.random() < self.band_prob
            pool = band if use_band else goals
            out.append(pool[int(rng.integers(len(pool)))])
        self.proposed += n
        self.in_band = len(band)
        return out

    def update(self, goal: str, success: bool) -> None:
        pass  # the graph already tracks competence

    def metrics(self) -> dict[str, float]:
        return {"curriculum/proposed": float(self.proposed), "curriculum/in_band": float(self.in_band)}

    def state_dict(self) -> dict[str, Any]:
        return {"proposed": self.proposed, "in_band": self.in_band}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.proposed, self.in_band = int(state["proposed"]), int(state["in_band"])
