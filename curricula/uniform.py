"""Uniform curriculum: every goal the graph holds is equally likely."""
from __future__ import annotations

import numpy as np

from autotelic.graph import GoalGraph

from .base import BaseCurriculum, GoalPool, register_curriculum


@register_curriculum("uniform")
class UniformCurriculum(BaseCurriculum):
    """p(g) = 1/|pool|."""

    name = "uniform"

    def weights(self, graph: GoalGraph, pool: GoalPool) -> np.ndarray:
        return np.ones(len(pool))
