"""Mixture curriculum: p(g) = Σ_i w_i p_i(g) over named sub-curricula, weights normalised to sum to 1.

make_curriculum("mixture", components={"lp": 0.5, "novelty": 0.5}, component_kwargs={"lp": {"epsilon": 0.1}})
Component names are registry names or dotted paths; ``fallback_goals``/``allowed`` are passed down to each
(unless its kwargs set them). Components without ``distribution(graph)`` are sampled per draw instead.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from autotelic.graph import GoalGraph

from .base import BaseCurriculum, GoalPool, make_curriculum, register_curriculum


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

    def distribution(self, graph: GoalGraph) -> tuple[GoalPool, np.ndarray]:
        """(pool, Σ_i w_i p_i); needs every component to expose ``distribution`` over the same pool."""
        pool, fallback = self.pool(graph)
        total = np.zeros(len(pool))
        for w, name in zip(self.mix, self.names):
            comp = self.components[name]
            if not hasattr(comp, "distribution"):
                raise TypeError(f"mixture component {name!r} has no distribution(graph)")
            cpool, cp = comp.distribution(graph)
            if len(cpool) != len(pool) or (cpool.idx is not None and pool.idx is not None
                                           and not np.array_equal(cpool.idx, pool.idx)) or \
                    (cpool.idx is None and list(cpool) != list(pool)):
                raise ValueError(f"mixture component {name!r} samples a different pool than the mixture "
                                 f"({len(cpool)} vs {len(pool)} goals)")
            total += float(w) * np.asarray(cp, dtype=np.float64)
        p = total / total.sum()
        self._record(graph, pool, p, fallback)
        return pool, p

    def sample(self, graph: GoalGraph, n: int, rng: np.random.Generator) -> list[str]:
        if all(hasattr(c, "distribution") for c in self.components.values()):
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

    def attach(self, policy: Any) -> None:
        """Hand the policy to every component that uses it (e.g. ``magellan``)."""
        for c in self.components.values():
            if callable(getattr(c, "attach", None)):
                c.attach(policy)

    def estimate_competence(self, graph: GoalGraph, goals: Sequence[str]) -> np.ndarray:
        """The first component's estimate that learns one (``predicts_competence``), else the graph's competence."""
        for c in self.components.values():
            if getattr(c, "predicts_competence", False):
                return c.estimate_competence(graph, goals)
        return super().estimate_competence(graph, goals)

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
