"""Mixture curriculum: p(g) = Σ_i w_i p_i(g) over named sub-curricula, weights normalised to sum to 1.

make_curriculum("mixture", components={"lp": 0.5, "novelty": 0.5}, component_kwargs={"lp": {"epsilon": 0.1}})
Component names are registry names or dotted paths; ``fallback_goals``/``allowed`` are passed down to each
(unless its kwargs set them). Components without ``probabilities(graph)`` are sampled per draw instead.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from autotelic.graph import GoalGraph

from .base import BaseCurriculum, make_curriculum, register_curriculum


@register_curriculum("mixture")
class MixtureCurriculum(BaseCurriculum):
    """A weighted mixture of other curricula (see the module docstring)."""

    name = "mixture"

    def __init__(self, components: dict[str, float] | None = None,
                 component_kwargs: dict[str, dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        components = dict(components or {"lp": 0.5, "novelty": 0.5})
        if not components:
            raise ValueError("mixture needs at least one component")
        component_kwargs = dict(component_kwargs or {})
        unknown = set(component_kwargs) - set(components)
        if unknown:
            raise ValueError(f"component_kwargs names {sorted(unknown)} that are not components {sorted(components)}")
        w = np.array([float(v) for v in components.values()], dtype=np.float64)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"mixture weights must be non-negative with a positive sum, got {components}")
        self.names = list(components)
        self.mix = w / w.sum()
        self.components = {}
        for name in self.names:
            kw = {"fallback_goals": self.fallback_goals, "allowed": self.allowed, **component_kwargs.get(name, {})}
            self.components[name] = make_curriculum(name, **kw)

    def probabilities(self, graph: GoalGraph) -> dict[str, float]:
        """Σ_i w_i p_i(g); needs every component to expose ``probabilities``."""
        pool, fallback = self.pool(graph)
        total = dict.fromkeys(pool, 0.0)
        for w, name in zip(self.mix, self.names):
            comp = self.components[name]
            if not hasattr(comp, "probabilities"):
                raise TypeError(f"mixture component {name!r} has no probabilities(graph)")
            for g, p in comp.probabilities(graph).items():
                if g not in total:
                    raise ValueError(f"mixture component {name!r} proposed {g!r}, outside the pool")
                total[g] += float(w) * p
        p = np.fromiter(total.values(), dtype=np.float64, count=len(pool))
        p = p / p.sum()
        self._record(graph, pool, p, fallback)
        return dict(zip(pool, p.tolist()))

    def sample(self, graph: GoalGraph, n: int, rng: np.random.Generator) -> list[str]:
        if all(hasattr(c, "probabilities") for c in self.components.values()):
            return super().sample(graph, n, rng)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.pool(graph)  # raises the clear error when nothing can be sampled
        which = rng.choice(len(self.names), size=n, p=self.mix)
        out: list[str | None] = [None] * n
        for i, name in enumerate(self.names):
            idx = np.flatnonzero(which == i)
            if len(idx):
                for j, g in zip(idx, self.components[name].sample(graph, len(idx), rng)):
                    out[j] = g
        self.n_samples += n
        return [g for g in out if g is not None]

    def update(self, goal: str, success: bool) -> None:
        super().update(goal, success)
        for c in self.components.values():
            c.update(goal, success)

    def metrics(self) -> dict[str, float]:
        out = super().metrics()
        for name, c in self.components.items():
            for k, v in c.metrics().items():
                if k in ("curriculum/pool_size", "curriculum/fallback", "curriculum/updates", "curriculum/samples"):
                    continue  # same as the mixture's own
                out[f"curriculum/{name}/{k.removeprefix('curriculum/')}"] = v
        return out

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "components": {n: c.state_dict() for n, c in self.components.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        comps = state.get("components", {})
        if set(comps) != set(self.components):
            raise ValueError(f"mixture state has components {sorted(comps)}, this mixture {sorted(self.components)}")
        for n, s in comps.items():
            self.components[n].load_state_dict(s)
