"""The goal graph: every goal the agent knows, its competence and learning progress, and prerequisite edges.

A node is a goal string. A goal becomes a node when it is

* **discovered** — achieved at least once in an observed episode (``first_seen`` is set), or
* **seeded** — given by the user through :meth:`GoalGraph.seed`, or
* **pursued** — the goal of an observed episode (or of :meth:`GoalGraph.record_outcome`) that is neither of the
  above. Its attempts are recorded so that its competence is known; it counts as discovered once it is achieved.

Curricula sample from all nodes (:meth:`GoalGraph.goals`), so they never propose a goal the graph does not hold.
They read per-goal facts through the vectorised accessors (:meth:`GoalGraph.array`, :meth:`GoalGraph.facts`), never
through graph internals; statistics live in numpy columns indexed by insertion order, so reads cost O(N) numpy.

Prerequisites ("needed before", from hindsight). For goals A ≠ B let
  n_B      = episodes that achieved B                               (``times_achieved``)
  n_{A<B}  = episodes that achieved B in which A was first achieved strictly before B's first achievement.
A is a prerequisite of B iff  n_{A<B} >= ``min_edge_count``  and  n_{A<B} >= ``edge_support`` · n_B
(``edge_support`` > 1/2, so A < B and B < A cannot both hold: the relation is acyclic). The drawn edges
(:meth:`GoalGraph.edges`) are its transitive reduction, so a chain a → b → c is drawn as a chain, not a triangle.
depth(g) = longest prerequisite chain ending at g (0 for a goal without prerequisites); the frontier is the
discovered, not mastered goals whose prerequisites are all mastered. An ordering seen in only some of the episodes
that achieved B (an incidental one) never makes an edge, and along a true chain depth only grows with evidence.

Per goal, over a window of the last ``window`` outcomes of episodes that *pursued* it:
  competence  c_g = mean(window)
  learning progress (``lp_mode="window"``, Online-ALP of CURIOUS/MAGELLAN)
      LP_g = | mean(recent half of window) − mean(older half) |
  learning progress (``lp_mode="ema"``)
      LP_g = | EMA_fast − EMA_slow |,  EMA ← EMA + β (outcome − EMA), both EMAs start at the first outcome.
A goal is mastered when c_g >= ``mastery_threshold`` over at least ``min(mastery_min_outcomes, window)`` outcomes.
"""
from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import networkx as nx
import numpy as np

from autotelic.episode import Episode

STATE_VERSION = 2
LP_MODES = ("window", "ema")
# numeric per-goal columns readable with GoalGraph.array (name -> dtype)
COLUMNS = {"attempts": np.int64, "successes": np.int64, "times_achieved": np.int64, "first_seen": np.int64,
           "seeded": bool, "competence": np.float64, "learning_progress": np.float64, "n_outcomes": np.int64}
DERIVED = ("discovered", "mastered")
Goals = Sequence[str] | np.ndarray | None  # goal strings, graph indices (integer array), or None = every goal


class OutcomeTracker:
    """Recent success/failure outcomes of one goal: windowed competence and absolute learning progress."""

    __slots__ = ("window", "ema_fast", "ema_slow", "n")

    def __init__(self, maxlen: int) -> None:
        self.window: deque[bool] = deque(maxlen=maxlen)
        self.ema_fast: float | None = None
        self.ema_slow: float | None = None
        self.n = 0

    def add(self, success: bool, beta_fast: float, beta_slow: float) -> None:
        x = 1.0 if success else 0.0
        self.window.append(bool(success))
        self.n += 1
        if self.ema_fast is None or self.ema_slow is None:
            self.ema_fast = self.ema_slow = x
        else:
            self.ema_fast += beta_fast * (x - self.ema_fast)
            self.ema_slow += beta_slow * (x - self.ema_slow)

    def competence(self) -> float:
        """c = mean(window); 0 when no outcome was recorded."""
        return sum(self.window) / len(self.window) if self.window else 0.0

    def learning_progress(self, mode: str) -> float:
        """|mean(recent half) − mean(older half)| (``"window"``) or |EMA_fast − EMA_slow| (``"ema"``)."""
        if mode == "ema":
            if self.ema_fast is None or self.ema_slow is None:
                return 0.0
            return abs(self.ema_fast - self.ema_slow)
        w = list(self.window)
        if len(w) < 2:
            return 0.0
        k = len(w) // 2  # older half = w[:k], recent half = w[k:] (one more element when the length is odd)
        older, recent = w[:k], w[k:]
        return abs(sum(recent) / len(recent) - sum(older) / len(older))

    def state_dict(self) -> dict[str, Any]:
        return {"window": [bool(x) for x in self.window], "ema_fast": self.ema_fast, "ema_slow": self.ema_slow,
                "n": self.n}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.window.clear()
        self.window.extend(bool(x) for x in state.get("window", []))  # a smaller maxlen keeps the most recent
        self.ema_fast = state.get("ema_fast")
        self.ema_slow = state.get("ema_slow")
        self.n = int(state.get("n", len(self.window)))


@dataclass
class GoalStats:
    """A snapshot of one goal's statistics (see the module docstring for the definitions)."""

    goal: str
    discovered: bool
    seeded: bool
    first_seen: int | None
    found_while: str | None
    times_achieved: int
    attempts: int
    successes: int
    window: list[bool] = field(default_factory=list)
    competence: float = 0.0
    learning_progress: float = 0.0
    mastered: bool = False
    depth: int = 0


@dataclass
class GoalFacts:
    """Every per-goal fact as aligned columns (one row per goal of ``goals``): the one table that export, pictures
    and curricula read. ``first_seen`` is -1 for an undiscovered goal; ``prereqs``/``unlocks`` are in/out degrees
    in the drawn (transitively reduced) prerequisite graph."""

    goals: list[str]
    index: np.ndarray
    attempts: np.ndarray
    successes: np.ndarray
    times_achieved: np.ndarray
    first_seen: np.ndarray
    seeded: np.ndarray
    discovered: np.ndarray
    competence: np.ndarray
    learning_progress: np.ndarray
    mastered: np.ndarray
    frontier: np.ndarray
    depth: np.ndarray
    prereqs: np.ndarray
    unlocks: np.ndarray
    found_while: list[str | None]

    def __len__(self) -> int:
        return len(self.goals)

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` as plain python values (``first_seen`` None when undiscovered)."""
        fs = int(self.first_seen[i])
        return {"goal": self.goals[i], "attempts": int(self.attempts[i]), "successes": int(self.successes[i]),
                "times_achieved": int(self.times_achieved[i]), "first_seen": fs if fs >= 0 else None,
                "found_while": self.found_while[i], "seeded": bool(self.seeded[i]),
                "discovered": bool(self.discovered[i]), "competence": float(self.competence[i]),
                "lp": float(self.learning_progress[i]), "mastered": bool(self.mastered[i]),
                "frontier": bool(self.frontier[i]), "depth": int(self.depth[i]), "preds": int(self.prereqs[i]),
                "succs": int(self.unlocks[i])}

    def rows(self) -> list[dict[str, Any]]:
        return [self.row(i) for i in range(len(self))]


class GoalGraph:
    """Goals the agent knows, with per-goal competence/LP (numpy columns) and prerequisite edges from hindsight.

    ``window``: outcomes kept per goal; ``mastery_threshold``/``mastery_min_outcomes``: mastery rule;
    ``lp_mode``: ``"window"`` or ``"ema"`` (rates ``ema_fast``/``ema_slow``); ``min_edge_count`` and
    ``edge_support`` (in (0.5, 1]): the prerequisite rule of the module docstring.
    """

    def __init__(self, window: int = 20, mastery_threshold: float = 0.8, lp_mode: str = "window",
                 mastery_min_outcomes: int = 5, ema_fast: float = 0.2, ema_slow: float = 0.05,
                 min_edge_count: int = 3, edge_support: float = 0.9) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2 to compare two halves, got {window}")
        if not 0.0 <= mastery_threshold <= 1.0:
            raise ValueError(f"mastery_threshold must lie in [0, 1], got {mastery_threshold}")
        if lp_mode not in LP_MODES:
            raise ValueError(f"lp_mode must be one of {LP_MODES}, got {lp_mode!r}")
        if not (0.0 < ema_slow < ema_fast <= 1.0):
            raise ValueError(f"need 0 < ema_slow < ema_fast <= 1, got ema_slow={ema_slow}, ema_fast={ema_fast}")
        if mastery_min_outcomes < 1 or min_edge_count < 1:
            raise ValueError("mastery_min_outcomes and min_edge_count must be >= 1")
        if not 0.5 < edge_support <= 1.0:
            raise ValueError(f"edge_support must lie in (0.5, 1] (above 1/2 prerequisites cannot form a cycle), "
                             f"got {edge_support}")
        self.window = int(window)
        self.mastery_threshold = float(mastery_threshold)
        self.mastery_min_outcomes = int(mastery_min_outcomes)
        self.lp_mode = lp_mode
        self.ema_fast = float(ema_fast)
        self.ema_slow = float(ema_slow)
        self.min_edge_count = int(min_edge_count)
        self.edge_support = float(edge_support)
        self._clear()

    def _clear(self) -> None:
        self._goals: list[str] = []
        self._index: dict[str, int] = {}
        self._cols: dict[str, np.ndarray] = {k: np.zeros(0, dtype=t) for k, t in COLUMNS.items()}
        self._found_while: list[str | None] = []
        self._trackers: list[OutcomeTracker] = []
        self._before: dict[int, dict[int, int]] = {}  # B -> {A: n_{A<B}}
        self._prereq: dict[int, tuple[int, ...]] = {}  # B -> prerequisites A (the relation, before reduction)
        self._dirty: set[int] = set()  # goals B whose prerequisites must be recomputed
        self._struct: tuple[int, Any] | None = None  # (structure version, derived structure) cache
        self._version = 0  # bumped when prerequisite evidence or the goal set changes (outcomes do not)
        self._last_step = 0
        self._episodes = 0

    # ------------------------------------------------------------------ config / construction
    def config(self) -> dict[str, Any]:
        """The constructor arguments, as plain python values."""
        return {"window": self.window, "mastery_threshold": self.mastery_threshold, "lp_mode": self.lp_mode,
                "mastery_min_outcomes": self.mastery_min_outcomes, "ema_fast": self.ema_fast,
                "ema_slow": self.ema_slow, "min_edge_count": self.min_edge_count,
                "edge_support": self.edge_support}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "GoalGraph":
        """A graph built with the saved config and loaded with the saved statistics."""
        cfg = dict(state.get("config", {}))
        cfg.pop("min_edge_support", None)  # version-1 key (consecutive-order edges), no longer meaningful
        g = cls(**cfg)
        g.load_state_dict(state)
        return g

    # ------------------------------------------------------------------ mutation
    def _grow(self, n: int) -> None:
        cap = len(self._cols["attempts"])
        if n <= cap:
            return
        new = max(n, 2 * cap, 64)
        for k, col in self._cols.items():
            c = np.zeros(new, dtype=col.dtype)
            c[:cap] = col
            if k == "first_seen":
                c[cap:] = -1
            self._cols[k] = c

    def _ensure(self, goal: str) -> int:
        i = self._index.get(goal)
        if i is not None:
            return i
        if not isinstance(goal, str) or not goal:
            raise ValueError(f"a goal must be a non-empty string, got {goal!r}")
        i = len(self._goals)
        self._grow(i + 1)
        self._goals.append(goal)
        self._index[goal] = i
        self._found_while.append(None)
        self._trackers.append(OutcomeTracker(self.window))
        self._version += 1
        return i

    def seed(self, goals: Iterable[str]) -> None:
        """Add user-given goals (not discovered until achieved); a goal already present is marked seeded."""
        if isinstance(goals, str):
            goals = [goals]
        for g in goals:
            i = self._ensure(g)  # first: it may grow (replace) the columns
            self._cols["seeded"][i] = True

    def _discover(self, i: int, step: int, found_while: str) -> None:
        self._cols["first_seen"][i] = step
        self._found_while[i] = found_while

    def record_outcome(self, goal: str, success: bool, step: int | None = None) -> None:
        """Count one attempt at ``goal`` (adding it as a pursued node if new) and push the outcome in its window.

        :meth:`observe` already calls this for the episode's goal: do not call both for the same episode. A success
        on an undiscovered goal discovers it (first_seen = ``step`` or the last observed step).
        """
        i = self._ensure(goal)
        c = self._cols
        c["attempts"][i] += 1
        if success:
            c["successes"][i] += 1
            if c["first_seen"][i] < 0:
                self._discover(i, int(step if step is not None else self._last_step), goal)
        self._trackers[i].add(bool(success), self.ema_fast, self.ema_slow)
        self._sync(i)

    def _sync(self, i: int) -> None:
        """Refresh goal i's competence/LP columns from its tracker."""
        tr = self._trackers[i]
        self._cols["competence"][i] = tr.competence()
        self._cols["learning_progress"][i] = tr.learning_progress(self.lp_mode)
        self._cols["n_outcomes"][i] = len(tr.window)

    def observe(self, episode: Episode, step: int) -> list[str]:
        """Update the graph with a finished episode; ``step`` is the global env-step counter (stored as first_seen).

        Adds newly achieved goals (found_while = episode.goal), increments times_achieved once per episode for
        every goal achieved in it, counts the orderings n_{A<B} of first achievements (the goals of
        ``episode.prior`` before all of them), and records the outcome of ``episode.goal`` (``episode.success``).
        Returns the goals discovered by this episode.
        """
        if not isinstance(episode.goal, str) or not episode.goal:
            raise ValueError(f"episode.goal must be a non-empty string, got {episode.goal!r}")
        step = int(step)
        self._last_step = max(self._last_step, step)
        self._episodes += 1
        first = episode.first_achieved()
        new: list[str] = []
        # first-achievement step per goal; the goals of ``episode.prior`` (achieved earlier in the same env
        # episode, before a chained goal) come before all of this episode's
        when = {self._ensure(g): -1 for g in sorted(episode.prior)}
        achieved: list[int] = []
        for g, t in first.items():
            i = self._ensure(g)
            if self._cols["first_seen"][i] < 0:
                self._discover(i, step, episode.goal)
                new.append(g)
            self._cols["times_achieved"][i] += 1
            when.setdefault(i, t)
            achieved.append(i)
        for b in achieved:  # n_{A<B} += 1 for every A first achieved strictly before B
            self._dirty.add(b)
            row = self._before.setdefault(b, {})
            for a, ta in when.items():
                if ta < when[b]:
                    row[a] = row.get(a, 0) + 1
        self._version += 1
        self.record_outcome(episode.goal, episode.success, step)
        return new

    # ------------------------------------------------------------------ basic queries
    def __len__(self) -> int:
        return len(self._goals)

    def __contains__(self, goal: object) -> bool:
        return goal in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._goals))

    def goals(self) -> list[str]:
        """Every node (discovered, seeded or pursued), in insertion order (the order of every array accessor)."""
        return list(self._goals)

    def goal(self, i: int) -> str:
        """The goal at graph index ``i``."""
        return self._goals[i]

    def index(self, goals: Goals = None) -> np.ndarray:
        """Graph indices of ``goals`` (strings or an integer array); KeyError for a goal the graph does not hold."""
        if goals is None:
            return np.arange(len(self._goals))
        if isinstance(goals, np.ndarray) and goals.dtype.kind in "iu":
            return goals.astype(np.int64, copy=False)
        try:
            return np.fromiter((self._index[g] for g in goals), dtype=np.int64, count=len(goals))
        except KeyError as e:
            raise KeyError(f"goal {e.args[0]!r} is not in the goal graph ({len(self)} goals)") from None

    def _i(self, goal: str) -> int:
        i = self._index.get(goal)
        if i is None:
            raise KeyError(f"goal {goal!r} is not in the goal graph ({len(self)} goals)")
        return i

    def array(self, name: str, goals: Goals = None) -> np.ndarray:
        """One per-goal column for ``goals`` (default: all, graph order), a fresh array: ``attempts``, ``successes``,
        ``times_achieved``, ``first_seen`` (-1 when undiscovered), ``seeded``, ``competence``,
        ``learning_progress``, ``n_outcomes``, ``discovered``, ``mastered``."""
        n = len(self._goals)
        if name == "discovered":
            col = self._cols["first_seen"][:n] >= 0
        elif name == "mastered":
            need = min(self.mastery_min_outcomes, self.window)
            col = (self._cols["n_outcomes"][:n] >= need) & (self._cols["competence"][:n] >= self.mastery_threshold)
        elif name in COLUMNS:
            col = self._cols[name][:n]
        else:
            raise ValueError(f"unknown goal column {name!r}; expected one of {sorted(COLUMNS) + list(DERIVED)}")
        return col.copy() if goals is None else col[self.index(goals)]

    def is_discovered(self, goal: str) -> bool:
        return bool(self._cols["first_seen"][self._i(goal)] >= 0)

    def competence(self, goal: str) -> float:
        return float(self._cols["competence"][self._i(goal)])

    def learning_progress(self, goal: str) -> float:
        return float(self._cols["learning_progress"][self._i(goal)])

    def is_mastered(self, goal: str) -> bool:
        i = self._i(goal)
        need = min(self.mastery_min_outcomes, self.window)
        return bool(self._cols["n_outcomes"][i] >= need and self._cols["competence"][i] >= self.mastery_threshold)

    def discovered(self) -> list[str]:
        """Goals achieved at least once, in order of discovery (first_seen, then insertion)."""
        fs = self._cols["first_seen"][: len(self)]
        idx = np.flatnonzero(fs >= 0)
        order = idx[np.argsort(fs[idx], kind="stable")]
        return [self._goals[i] for i in order]

    def seeded(self) -> list[str]:
        return [self._goals[i] for i in np.flatnonzero(self._cols["seeded"][: len(self)])]

    def mastered(self) -> list[str]:
        return [self._goals[i] for i in np.flatnonzero(self.array("mastered"))]

    # ------------------------------------------------------------------ prerequisites
    def _refresh_prereqs(self) -> None:
        """Recompute the prerequisites of every goal whose evidence changed since the last query."""
        if not self._dirty:
            return
        ta = self._cols["times_achieved"]
        for b in self._dirty:
            need = max(self.min_edge_count, self.edge_support * ta[b])
            row = self._before.get(b, {})
            self._prereq[b] = tuple(sorted(a for a, c in row.items() if c >= need))
            if not self._prereq[b]:
                del self._prereq[b]
        self._dirty.clear()

    def _structure(self) -> dict[str, Any]:
        """Cached derived structure: relation edges, reduced edges, depth per goal."""
        if self._struct is not None and self._struct[0] == self._version:
            return self._struct[1]
        self._refresh_prereqs()
        n = len(self._goals)
        dag = nx.DiGraph()
        for b, preds in self._prereq.items():
            for a in preds:
                dag.add_edge(a, b)
        depth = np.zeros(n, dtype=np.int64)
        for v in nx.topological_sort(dag):  # acyclic: edge_support > 1/2
            ps = list(dag.predecessors(v))
            if ps:
                depth[v] = 1 + max(depth[p] for p in ps)
        red = nx.transitive_reduction(dag) if dag.number_of_edges() else nx.DiGraph()
        red_edges = sorted(red.edges())
        rel = np.array([(a, b) for b, ps in self._prereq.items() for a in ps], dtype=np.int64).reshape(-1, 2)
        red_arr = np.array(red_edges, dtype=np.int64).reshape(-1, 2)
        s = {"relation": rel, "reduced": red_arr, "depth": depth,
             "prereqs": np.bincount(red_arr[:, 1], minlength=n), "unlocks": np.bincount(red_arr[:, 0], minlength=n)}
        self._struct = (self._version, s)
        return s

    def prerequisites(self, goal: str) -> list[str]:
        """Every goal needed before ``goal`` (the relation of the module docstring, not reduced)."""
        i = self._i(goal)
        self._refresh_prereqs()
        return [self._goals[a] for a in self._prereq.get(i, ())]

    def is_supported(self, a: str, b: str) -> bool:
        """Whether ``a`` is a prerequisite of ``b``."""
        if a not in self._index or b not in self._index:
            return False
        return a in self.prerequisites(b)

    def edge_count(self, a: str, b: str) -> int:
        """n_{a<b}: episodes that achieved ``b`` in which ``a`` was first achieved before it (0 when never)."""
        ia, ib = self._index.get(a), self._index.get(b)
        if ia is None or ib is None:
            return 0
        return int(self._before.get(ib, {}).get(ia, 0))

    def followers(self, goal: str) -> list[str]:
        """The goals B with n_{goal<B} > 0: achieved after ``goal`` in some episode (or chain), in graph order.
        One pass over the graph's ordering counts; [] for a goal the graph has not seen."""
        ia = self._index.get(goal)
        if ia is None:
            return []
        return [self._goals[b] for b in sorted(self._before) if self._before[b].get(ia, 0) > 0]

    def edges(self) -> list[tuple[str, str, int]]:
        """The drawn prerequisite edges (transitive reduction) as (a, b, n_{a<b})."""
        red = self._structure()["reduced"]
        return [(self._goals[a], self._goals[b], int(self._before[b][a])) for a, b in red.tolist()]

    def stepping_stones(self) -> nx.DiGraph:
        """The drawn prerequisite edges as a new ``networkx.DiGraph`` over goal strings (attribute ``count``)."""
        out = nx.DiGraph()
        out.add_weighted_edges_from(self.edges(), weight="count")
        return out

    def frontier_mask(self) -> np.ndarray:
        """Per goal (graph order): discovered, not mastered, and every prerequisite mastered."""
        rel = self._structure()["relation"]
        mastered = self.array("mastered")
        blocked = np.zeros(len(self), dtype=bool)
        if len(rel):
            blocked[rel[~mastered[rel[:, 0]], 1]] = True
        return self.array("discovered") & ~mastered & ~blocked

    def frontier(self) -> list[str]:
        """Discovered, not mastered goals whose prerequisites are all mastered (none counts), in discovery order."""
        mask = self.frontier_mask()
        return [g for g in self.discovered() if mask[self._index[g]]]

    def depths(self) -> dict[str, int]:
        """Depth of every goal: the longest prerequisite chain ending at it, in edges (0 without prerequisites)."""
        d = self._structure()["depth"]
        return dict(zip(self._goals, d.tolist()))

    def depth_array(self, goals: Goals = None) -> np.ndarray:
        d = self._structure()["depth"]
        return d.copy() if goals is None else d[self.index(goals)]

    def depth(self, goal: str) -> int:
        """Longest prerequisite chain ending at ``goal`` (see :meth:`depths`)."""
        return int(self._structure()["depth"][self._i(goal)])

    # ------------------------------------------------------------------ per-goal facts
    def facts(self, goals: Goals = None) -> GoalFacts:
        """Every per-goal fact as aligned columns for ``goals`` (default: all, graph order)."""
        idx = self.index(goals)
        s = self._structure()
        front = self.frontier_mask()
        return GoalFacts(goals=[self._goals[i] for i in idx], index=idx,
                         attempts=self.array("attempts", idx), successes=self.array("successes", idx),
                         times_achieved=self.array("times_achieved", idx), first_seen=self.array("first_seen", idx),
                         seeded=self.array("seeded", idx), discovered=self.array("discovered", idx),
                         competence=self.array("competence", idx),
                         learning_progress=self.array("learning_progress", idx),
                         mastered=self.array("mastered", idx), frontier=front[idx], depth=s["depth"][idx],
                         prereqs=s["prereqs"][idx], unlocks=s["unlocks"][idx],
                         found_while=[self._found_while[i] for i in idx])

    def stats(self, goal: str) -> GoalStats:
        """A snapshot of ``goal``'s statistics; KeyError when the graph does not hold it."""
        i = self._i(goal)
        c = self._cols
        fs = int(c["first_seen"][i])
        return GoalStats(goal=goal, discovered=fs >= 0, seeded=bool(c["seeded"][i]),
                         first_seen=fs if fs >= 0 else None, found_while=self._found_while[i],
                         times_achieved=int(c["times_achieved"][i]), attempts=int(c["attempts"][i]),
                         successes=int(c["successes"][i]), window=list(self._trackers[i].window),
                         competence=float(c["competence"][i]), learning_progress=float(c["learning_progress"][i]),
                         mastered=self.is_mastered(goal), depth=self.depth(goal))

    def summary(self) -> dict[str, float]:
        """Counts for logging, names prefixed ``graph/``."""
        n = len(self)
        lp = self._cols["learning_progress"][:n]
        s = self._structure()
        return {"graph/goals": float(n), "graph/discovered": float(self.array("discovered").sum()),
                "graph/mastered": float(self.array("mastered").sum()),
                "graph/frontier": float(self.frontier_mask().sum()),
                "graph/edges": float(len(s["reduced"])),
                "graph/max_depth": float(s["depth"].max()) if n else 0.0,
                "graph/mean_lp": float(lp.sum() / n) if n else 0.0}

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Everything as plain python types (dict/list/str/int/float/bool/None): safe for torch.save(weights_only).
        ``nodes``: one dict per goal (graph order); ``before``: [A, B, n_{A<B}] triples."""
        c = self._cols
        nodes = []
        for i, g in enumerate(self._goals):
            fs = int(c["first_seen"][i])
            nodes.append({"goal": g, "first_seen": fs if fs >= 0 else None, "found_while": self._found_while[i],
                          "times_achieved": int(c["times_achieved"][i]), "attempts": int(c["attempts"][i]),
                          "successes": int(c["successes"][i]), "seeded": bool(c["seeded"][i]),
                          "tracker": self._trackers[i].state_dict()})
        before = [[self._goals[a], self._goals[b], int(self._before[b][a])]  # canonical order: same history,
                  for b in sorted(self._before) for a in sorted(self._before[b])]  # same state, however loaded
        return {"version": STATE_VERSION, "config": self.config(), "nodes": nodes, "before": before,
                "last_step": self._last_step, "episodes": self._episodes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace all statistics with ``state``'s. This graph's own config is kept (windows are re-truncated).
        A version-1 state (edges of consecutive first achievements, not prerequisite evidence) loads its goals and
        statistics; its edges are dropped."""
        if not isinstance(state, dict) or not isinstance(state.get("nodes"), list):
            raise ValueError("not a GoalGraph state_dict: expected a dict with a 'nodes' list")
        version = state.get("version", STATE_VERSION)
        if version > STATE_VERSION:
            raise ValueError(f"GoalGraph state version {version} is newer than {STATE_VERSION}")
        self._clear()
        nodes = state["nodes"]
        for d in nodes:
            self._ensure(d["goal"])
        c = self._cols
        for i, d in enumerate(nodes):
            c["first_seen"][i] = -1 if d["first_seen"] is None else int(d["first_seen"])
            for k in ("times_achieved", "attempts", "successes"):
                c[k][i] = int(d[k])
            c["seeded"][i] = bool(d["seeded"])
            self._found_while[i] = d["found_while"]
            self._trackers[i].load_state_dict(d.get("tracker", {}))
            self._sync(i)
        for a, b, k in state.get("before", []):
            ia, ib = self._ensure(a), self._ensure(b)
            self._before.setdefault(ib, {})[ia] = int(k)
            self._dirty.add(ib)
        self._version += 1
        self._last_step = int(state.get("last_step", 0))
        self._episodes = int(state.get("episodes", 0))

    # ------------------------------------------------------------------ export
    def _export_mask(self, max_nodes: int | None) -> np.ndarray:
        """Goals to export: all, or beyond ``max_nodes`` goals only those attempted, achieved or on an edge."""
        n = len(self)
        if max_nodes is None or n <= max_nodes:
            return np.ones(n, dtype=bool)
        keep = (self.array("attempts") > 0) | self.array("discovered")
        red = self._structure()["reduced"]
        keep[red.ravel()] = True
        return keep

    def export_graph(self, max_nodes: int | None = 5000) -> nx.DiGraph:
        """The drawn graph with scalar attributes only (GraphML-safe: no None; first_seen -1 / found_while "" when
        unknown); edges carry ``count`` = n_{a<b} and ``support`` = n_{a<b} / n_b. Beyond ``max_nodes`` goals, goals
        never attempted nor achieved are left out (graph attribute ``omitted_goals`` counts them)."""
        out = nx.DiGraph()
        keep = self._export_mask(max_nodes)
        out.graph["omitted_goals"] = int((~keep).sum())
        f = self.facts(np.flatnonzero(keep))
        for r in f.rows():
            out.add_node(r["goal"], first_seen=-1 if r["first_seen"] is None else r["first_seen"],
                         found_while=r["found_while"] or "", times_achieved=r["times_achieved"],
                         attempts=r["attempts"], successes=r["successes"], seeded=r["seeded"],
                         discovered=r["discovered"], competence=r["competence"], learning_progress=r["lp"],
                         mastered=r["mastered"], frontier=r["frontier"], depth=r["depth"])
        ta = self._cols["times_achieved"]
        for a, b, k in self.edges():
            out.add_edge(a, b, count=k, support=k / max(1, int(ta[self._index[b]])))
        return out

    def to_graphml(self, path: str | os.PathLike) -> None:
        """Write the graph with its scalar statistics as GraphML."""
        nx.write_graphml(self.export_graph(), os.fspath(path))

    def node_link_data(self) -> dict[str, Any]:
        """Node-link JSON data (``nx.node_link_graph(data, edges="links")`` reads it back)."""
        g = self.export_graph()
        return {"directed": True, "multigraph": False,
                "graph": {**self.config(), "omitted_goals": g.graph["omitted_goals"]},
                "nodes": [{"id": n, **d} for n, d in g.nodes(data=True)],
                "links": [{"source": a, "target": b, **d} for a, b, d in g.edges(data=True)]}

    def to_json(self, path: str | os.PathLike) -> None:
        """Write node-link JSON."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.node_link_data(), f, indent=1)
