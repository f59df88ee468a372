"""The goal-curriculum protocol, a base class with the shared pool/fallback logic, and the registry.

A curriculum proposes goals for the next episodes: ``sample(graph, n, rng)`` returns ``n`` goals drawn with
replacement from the goals the graph holds (optionally restricted to an ``allowed`` set or predicate). When that pool
is empty it samples its ``fallback_goals`` (the env's initial goal, the user's seeds); with none either it raises
ValueError. ``make_curriculum("lp")`` builds a registered curriculum; ``make_curriculum("pkg.mod:Class")`` or
``make_curriculum("pkg.mod.Class")`` a user class.
"""
from __future__ import annotations

import importlib
import math
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from autotelic.graph import GoalGraph

Allowed = Callable[[str], bool] | Iterable[str] | None


@runtime_checkable
class GoalCurriculum(Protocol):
    """What the loop needs from a goal sampler."""

    def sample(self, graph: GoalGraph, n: int, rng: np.random.Generator) -> list[str]:
        """``n`` goals, each held by ``graph`` (or a fallback goal when the graph holds none)."""
        ...

    def update(self, goal: str, success: bool) -> None:
        """Outcome of one episode that pursued ``goal``."""
        ...

    def metrics(self) -> dict[str, float]:
        """Scalars for logging, names prefixed ``curriculum/``."""
        ...

    def state_dict(self) -> dict[str, Any]:
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ...


class GoalPool(Sequence[str]):
    """The goals a curriculum may propose now: a read-only sequence of goal strings plus, when they come from the
    graph, their graph indices ``idx`` (for the graph's vectorised accessors); ``idx`` is None for fallback goals."""

    __slots__ = ("goals", "idx")

    def __init__(self, goals: list[str], idx: np.ndarray | None) -> None:
        self.goals = goals
        self.idx = idx

    def __len__(self) -> int:
        return len(self.goals)

    def __getitem__(self, i):  # type: ignore[override]
        return self.goals[i]

    def __iter__(self) -> Iterator[str]:
        return iter(self.goals)

    def __eq__(self, other: object) -> bool:
        return list(self.goals) == list(other) if isinstance(other, (GoalPool, list, tuple)) else NotImplemented


def draw(p: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices i ~ p with replacement: u = rng.random(n), i = #{cdf <= u}. This is exactly what
    ``rng.choice(len(p), size=n, p=p)`` does, so one draw of n equals n successive draws of 1 (same stream)."""
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    return cdf.searchsorted(rng.random(n), side="right")


def graph_column(graph: GoalGraph, name: str, goals: Sequence[str]) -> np.ndarray:
    """``graph.array(name)`` for each of ``goals`` as floats, 0 for a goal the graph does not hold."""
    out = np.zeros(len(goals))
    held = [i for i, g in enumerate(goals) if g in graph]
    if held:
        out[held] = graph.array(name, [goals[i] for i in held])
    return out


class BaseCurriculum:
    """Shared machinery: candidate pool, fallback, drawing from ``distribution(graph)``, basic metrics.

    Subclasses implement ``weights(graph, pool) -> np.ndarray`` (non-negative, one per pool goal; all zero means
    uniform). ``pool`` is a :class:`GoalPool`: read per-goal facts with ``graph.array(name, pool.idx)`` (O(N) numpy).
    They may extend ``update``/``state_dict``/``load_state_dict``/``_extra_metrics``/``estimate_competence``.
    """

    name = "base"

    def __init__(self, fallback_goals: Iterable[str] | None = None, allowed: Allowed = None) -> None:
        if isinstance(fallback_goals, str):
            fallback_goals = [fallback_goals]
        self.fallback_goals: list[str] = list(dict.fromkeys(fallback_goals or []))
        self.allowed = allowed
        self._allowed_set = None if allowed is None or callable(allowed) else frozenset(allowed)
        self.n_updates = 0
        self.n_samples = 0
        self._last: dict[str, float] = {}

    # ------------------------------------------------------------------ pool
    def _is_allowed(self, goal: str) -> bool:
        if self.allowed is None:
            return True
        if self._allowed_set is not None:
            return goal in self._allowed_set
        return bool(self.allowed(goal))  # type: ignore[operator]

    def graph_pool(self, graph: GoalGraph) -> GoalPool:
        """Goals of the graph this curriculum may propose (graph order), with their graph indices."""
        goals = graph.goals()
        if self.allowed is None:
            return GoalPool(goals, np.arange(len(goals)))
        keep = [i for i, g in enumerate(goals) if self._is_allowed(g)]
        return GoalPool([goals[i] for i in keep], np.asarray(keep, dtype=np.int64))

    def pool(self, graph: GoalGraph) -> tuple[GoalPool, bool]:
        """(candidate goals, used_fallback). Raises ValueError when there is nothing to sample."""
        pool = self.graph_pool(graph)
        if len(pool):
            return pool, False
        fb = [g for g in self.fallback_goals if self._is_allowed(g)]
        if fb:
            return GoalPool(fb, None), True
        why = " allowed by the filter" if self.allowed is not None and len(graph) else ""
        raise ValueError(f"{type(self).__name__} has no goal to sample: the goal graph holds no goal{why} "
                         f"({len(graph)} goals in total) and no usable fallback_goals were given "
                         f"(pass fallback_goals=[env's initial goal or your seeds])")

    # ------------------------------------------------------------------ distribution
    def weights(self, graph: GoalGraph, pool: GoalPool) -> np.ndarray:
        raise NotImplementedError

    def distribution(self, graph: GoalGraph) -> tuple[GoalPool, np.ndarray]:
        """(pool, p): the sampling distribution over the current pool as an array (sums to 1)."""
        pool, fallback = self.pool(graph)
        if fallback:
            p = np.full(len(pool), 1.0 / len(pool))
        else:
            p = self._normalise(np.asarray(self.weights(graph, pool), dtype=np.float64), len(pool))
        self._record(graph, pool, p, fallback)
        return pool, p

    def probabilities(self, graph: GoalGraph) -> dict[str, float]:
        """The sampling distribution over the current pool as {goal: p} (sums to 1)."""
        pool, p = self.distribution(graph)
        return dict(zip(pool, p.tolist()))

    @staticmethod
    def _normalise(w: np.ndarray, n: int) -> np.ndarray:
        if w.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and non-negative")
        s = w.sum()
        return w / s if s > 0 else np.full(n, 1.0 / n)

    def sample(self, graph: GoalGraph, n: int, rng: np.random.Generator) -> list[str]:
        """``n`` goals drawn with replacement from :meth:`distribution` (one weight computation for all n; the rng
        stream is that of n successive calls with n=1 on an unchanged graph, see :func:`draw`)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        pool, p = self.distribution(graph)
        if n == 0:
            return []
        idx = draw(p / p.sum(), n, rng)
        self.n_samples += n
        return [pool[i] for i in idx.tolist()]

    def estimate_competence(self, graph: GoalGraph, goals: Sequence[str]) -> np.ndarray:
        """Estimated success probability per goal: the graph's windowed competence (0 for a goal never tried)."""
        return graph_column(graph, "competence", goals)

    # ------------------------------------------------------------------ bookkeeping
    def update(self, goal: str, success: bool) -> None:
        self.n_updates += 1

    def _record(self, graph: GoalGraph, pool: GoalPool, p: np.ndarray, fallback: bool) -> None:
        nz = p[p > 0]
        ent = float(-(nz * np.log(nz)).sum())
        self._last = {"curriculum/pool_size": float(len(pool)), "curriculum/entropy": ent,
                      "curriculum/norm_entropy": ent / math.log(len(pool)) if len(pool) > 1 else 1.0,
                      "curriculum/max_prob": float(p.max()), "curriculum/fallback": float(fallback)}
        self._last.update(self._extra_metrics(graph, pool, p))

    def _extra_metrics(self, graph: GoalGraph, pool: GoalPool, p: np.ndarray) -> dict[str, float]:
        return {}

    def metrics(self) -> dict[str, float]:
        """Values from the last ``sample``/``probabilities`` call plus update/sample counters."""
        return {**self._last, "curriculum/updates": float(self.n_updates),
                "curriculum/samples": float(self.n_samples)}

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n_updates": self.n_updates, "n_samples": self.n_samples}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict):
            raise ValueError(f"{type(self).__name__}.load_state_dict expects a dict, got {type(state).__name__}")
        if state.get("name", self.name) != self.name:
            raise ValueError(f"state_dict is for curriculum {state['name']!r}, not {self.name!r}")
        self.n_updates = int(state.get("n_updates", 0))
        self.n_samples = int(state.get("n_samples", 0))


# ---------------------------------------------------------------------- registry
_REGISTRY: dict[str, type] = {}


def register_curriculum(name: str) -> Callable[[type], type]:
    """Class decorator: make ``make_curriculum(name)`` build this class."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"curriculum name must be a non-empty string, got {name!r}")

    def deco(cls: type) -> type:
        old = _REGISTRY.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"curriculum name {name!r} is already registered to {old.__module__}.{old.__qualname__}")
        _REGISTRY[name] = cls
        return cls

    return deco


def registered_curricula() -> list[str]:
    """Names accepted by :func:`make_curriculum`, sorted."""
    return sorted(_REGISTRY)


def _load_dotted(path: str) -> Any:
    if ":" in path:
        mod_name, _, attr = path.partition(":")
    else:
        mod_name, _, attr = path.rpartition(".")
    if not mod_name or not attr:
        raise ValueError(f"bad curriculum path {path!r}: use 'package.module:Class' or 'package.module.Class'")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"cannot import module {mod_name!r} for curriculum {path!r}: {e}") from e
    obj: Any = mod
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as e:
            raise ValueError(f"module {mod_name!r} has no attribute {attr!r} (curriculum {path!r})") from e
    return obj


def make_curriculum(name: str, **kwargs: Any) -> GoalCurriculum:
    """Build a registered curriculum by name, or a user class by dotted path, with ``kwargs``."""
    if name in _REGISTRY:
        factory: Any = _REGISTRY[name]
    elif "." in name or ":" in name:
        factory = _load_dotted(name)
        if not callable(factory):
            raise TypeError(f"{name!r} is not a class or factory")
    else:
        raise ValueError(f"unknown curriculum {name!r}; registered: {', '.join(registered_curricula())} "
                         f"(or give a dotted path 'package.module:Class')")
    obj = factory(**kwargs)
    if not isinstance(obj, GoalCurriculum):
        missing = [m for m in ("sample", "update", "metrics", "state_dict", "load_state_dict")
                   if not callable(getattr(obj, m, None))]
        raise TypeError(f"{name!r} built a {type(obj).__name__}, which lacks {missing} of the GoalCurriculum protocol")
    return obj
