"""The goal graph: every goal the agent knows, its competence and learning progress, and stepping-stone edges.

A node is a goal string. A goal becomes a node when it is

* **discovered** — achieved at least once in an observed episode (``first_seen`` is set), or
* **seeded** — given by the user through :meth:`GoalGraph.seed`, or
* **pursued** — the goal of an observed episode (or of :meth:`GoalGraph.record_outcome`) that is neither of the
  above, e.g. the env's initial goal used as a curriculum fallback. Its attempts are recorded so that its
  competence is known; it counts as discovered only once it is achieved.

Curricula sample from all nodes (:meth:`GoalGraph.goals`), so they never propose a goal the graph does not hold.

An edge A -> B (attribute ``count``) records that, in one episode, B was first achieved right after A: goals are
grouped by the step of their first achievement in the episode, and every goal of a group gets an edge from every
goal of the previous non-empty group (consecutive groups only; goals first achieved at the same step get no edge
between them). ``count`` is the number of episodes that showed the edge. The frontier and depths use only
*supported* edges (count >= ``min_edge_support`` · times_achieved(B), default 0.1), so that one incidental ordering
does not make an unrelated goal a prerequisite.

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
from typing import Any, Iterable, Iterator

import networkx as nx

from autotelic.episode import Episode

STATE_VERSION = 1
LP_MODES = ("window", "ema")


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


class GoalGraph:
    """Goals the agent knows, with per-goal competence/LP and stepping-stone edges, over a ``networkx.DiGraph``.

    ``window``: outcomes kept per goal; ``mastery_threshold``/``mastery_min_outcomes``: mastery rule;
    ``lp_mode``: ``"window"`` or ``"ema"`` (rates ``ema_fast``/``ema_slow``).
    Queries (:meth:`frontier`, :meth:`depths`) use only *supported* edges A -> B: count >= ``min_edge_count`` and
    count >= ``min_edge_support`` · times_achieved(B), i.e. A preceded B in at least that fraction of the episodes
    that achieved B. This drops incidental orderings (B happened after some unrelated A once), which would otherwise
    block B from the frontier and inflate depths. Every edge stays in ``self.graph``.
    """

    def __init__(self, window: int = 20, mastery_threshold: float = 0.8, lp_mode: str = "window",
                 mastery_min_outcomes: int = 5, ema_fast: float = 0.2, ema_slow: float = 0.05,
                 min_edge_count: int = 1, min_edge_support: float = 0.1) -> None:
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
        if not 0.0 <= min_edge_support <= 1.0:
            raise ValueError(f"min_edge_support must lie in [0, 1], got {min_edge_support}")
        self.window = int(window)
        self.mastery_threshold = float(mastery_threshold)
        self.mastery_min_outcomes = int(mastery_min_outcomes)
        self.lp_mode = lp_mode
        self.ema_fast = float(ema_fast)
        self.ema_slow = float(ema_slow)
        self.min_edge_count = int(min_edge_count)
        self.min_edge_support = float(min_edge_support)
        self.graph = nx.DiGraph()
        self._trackers: dict[str, OutcomeTracker] = {}
        self._last_step = 0
        self._episodes = 0
        self._version = 0  # bumped by every mutation; invalidates the depth cache
        self._depth_cache: tuple[tuple[int, int, int], dict[str, int]] | None = None

    # ------------------------------------------------------------------ config / construction
    def config(self) -> dict[str, Any]:
        """The constructor arguments, as plain python values."""
        return {"window": self.window, "mastery_threshold": self.mastery_threshold, "lp_mode": self.lp_mode,
                "mastery_min_outcomes": self.mastery_min_outcomes, "ema_fast": self.ema_fast,
                "ema_slow": self.ema_slow, "min_edge_count": self.min_edge_count,
                "min_edge_support": self.min_edge_support}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "GoalGraph":
        """A graph built with the saved config and loaded with the saved statistics."""
        g = cls(**state.get("config", {}))
        g.load_state_dict(state)
        return g

    # ------------------------------------------------------------------ mutation
    def _ensure(self, goal: str) -> None:
        if not isinstance(goal, str) or not goal:
            raise ValueError(f"a goal must be a non-empty string, got {goal!r}")
        if goal not in self.graph:
            self.graph.add_node(goal, first_seen=None, found_while=None, times_achieved=0, attempts=0,
                                successes=0, seeded=False)
            self._trackers[goal] = OutcomeTracker(self.window)
            self._version += 1

    def seed(self, goals: Iterable[str]) -> None:
        """Add user-given goals (not discovered until achieved); a goal already present is marked seeded."""
        if isinstance(goals, str):
            goals = [goals]
        for g in goals:
            self._ensure(g)
            self.graph.nodes[g]["seeded"] = True

    def record_outcome(self, goal: str, success: bool, step: int | None = None) -> None:
        """Count one attempt at ``goal`` (adding it as a pursued node if new) and push the outcome in its window.

        :meth:`observe` already calls this for the episode's goal: do not call both for the same episode. A success
        on an undiscovered goal discovers it (first_seen = ``step`` or the last observed step).
        """
        self._ensure(goal)
        node = self.graph.nodes[goal]
        node["attempts"] += 1
        if success:
            node["successes"] += 1
            if node["first_seen"] is None:
                node["first_seen"] = int(step if step is not None else self._last_step)
                node["found_while"] = goal
        self._trackers[goal].add(bool(success), self.ema_fast, self.ema_slow)

    def observe(self, episode: Episode, step: int) -> list[str]:
        """Update the graph with a finished episode; ``step`` is the global env-step counter (stored as first_seen).

        Adds newly achieved goals (found_while = episode.goal), increments times_achieved once per episode for
        every goal achieved in it, adds/increments stepping-stone edges, and records the outcome of
        ``episode.goal`` (``episode.success``). Returns the goals discovered by this episode.
        """
        if not isinstance(episode.goal, str) or not episode.goal:
            raise ValueError(f"episode.goal must be a non-empty string, got {episode.goal!r}")
        step = int(step)
        self._last_step = max(self._last_step, step)
        self._episodes += 1
        first = episode.first_achieved()
        new: list[str] = []
        for g in first:
            if g not in self.graph or self.graph.nodes[g]["first_seen"] is None:
                self._ensure(g)
                node = self.graph.nodes[g]
                node["first_seen"] = step
                node["found_while"] = episode.goal
                new.append(g)
            self.graph.nodes[g]["times_achieved"] += 1
        # stepping stones: consecutive groups of goals sharing the step of their first achievement
        groups: dict[int, list[str]] = {}
        for g, t in first.items():
            groups.setdefault(t, []).append(g)
        ordered = [groups[t] for t in sorted(groups)]
        for prev, cur in zip(ordered, ordered[1:]):
            for a in prev:
                for b in cur:
                    if self.graph.has_edge(a, b):
                        self.graph.edges[a, b]["count"] += 1
                    else:
                        self.graph.add_edge(a, b, count=1)
        self._version += 1
        self.record_outcome(episode.goal, episode.success, step)
        return new

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __contains__(self, goal: object) -> bool:
        return goal in self.graph

    def __iter__(self) -> Iterator[str]:
        return iter(self.graph.nodes)

    def goals(self) -> list[str]:
        """Every node (discovered, seeded or pursued), in insertion order."""
        return list(self.graph.nodes)

    def _node(self, goal: str) -> dict[str, Any]:
        if goal not in self.graph:
            raise KeyError(f"goal {goal!r} is not in the goal graph ({len(self)} goals)")
        return self.graph.nodes[goal]

    def is_discovered(self, goal: str) -> bool:
        return self._node(goal)["first_seen"] is not None

    def competence(self, goal: str) -> float:
        self._node(goal)
        return self._trackers[goal].competence()

    def learning_progress(self, goal: str) -> float:
        self._node(goal)
        return self._trackers[goal].learning_progress(self.lp_mode)

    def is_mastered(self, goal: str) -> bool:
        self._node(goal)
        tr = self._trackers[goal]
        need = min(self.mastery_min_outcomes, self.window)
        return len(tr.window) >= need and tr.competence() >= self.mastery_threshold

    def discovered(self) -> list[str]:
        """Goals achieved at least once, in order of discovery (first_seen, then insertion)."""
        found = [(d["first_seen"], i, g) for i, (g, d) in enumerate(self.graph.nodes(data=True))
                 if d["first_seen"] is not None]
        return [g for _, _, g in sorted(found)]

    def seeded(self) -> list[str]:
        return [g for g, d in self.graph.nodes(data=True) if d["seeded"]]

    def mastered(self) -> list[str]:
        return [g for g in self.graph.nodes if self.is_mastered(g)]

    def is_supported(self, a: str, b: str) -> bool:
        """Whether edge a -> b counts for queries (see the class docstring); False when there is no such edge."""
        if not self.graph.has_edge(a, b):
            return False
        c = self.graph.edges[a, b]["count"]
        return c >= self.min_edge_count and c >= self.min_edge_support * self.graph.nodes[b]["times_achieved"]

    def stepping_stones(self) -> nx.DiGraph:
        """A read-only view of ``self.graph`` with the supported edges only."""
        return nx.subgraph_view(self.graph, filter_edge=self.is_supported)

    def frontier(self) -> list[str]:
        """Discovered, not mastered goals whose stepping-stone predecessors are all mastered (none counts)."""
        view = self.stepping_stones()
        mastered = set(self.mastered())
        return [g for g in self.discovered()
                if g not in mastered and all(p in mastered for p in view.predecessors(g))]

    def depths(self) -> dict[str, int]:
        """Depth of every goal: the longest stepping-stone chain from a root, in edges.

        Cycles are collapsed first (strongly connected components, ``nx.condensation``) — goals in one cycle share
        a depth — then depth is the longest path in that DAG from a component without predecessors (depth 0).
        """
        key = (self._version, self.graph.number_of_nodes(), self.graph.number_of_edges())
        if self._depth_cache is not None and self._depth_cache[0] == key:
            return dict(self._depth_cache[1])
        view = self.stepping_stones()
        cond = nx.condensation(view)
        comp_depth: dict[int, int] = {}
        for c in nx.topological_sort(cond):
            preds = list(cond.predecessors(c))
            comp_depth[c] = 1 + max(comp_depth[p] for p in preds) if preds else 0
        mapping = cond.graph["mapping"]
        out = {g: comp_depth[mapping[g]] for g in self.graph.nodes}
        self._depth_cache = (key, dict(out))
        return out

    def depth(self, goal: str) -> int:
        """Longest stepping-stone chain from a root to ``goal`` (see :meth:`depths`)."""
        self._node(goal)
        return self.depths()[goal]

    def stats(self, goal: str) -> GoalStats:
        """A snapshot of ``goal``'s statistics; KeyError when the graph does not hold it."""
        d = self._node(goal)
        tr = self._trackers[goal]
        return GoalStats(goal=goal, discovered=d["first_seen"] is not None, seeded=bool(d["seeded"]),
                         first_seen=d["first_seen"], found_while=d["found_while"],
                         times_achieved=int(d["times_achieved"]), attempts=int(d["attempts"]),
                         successes=int(d["successes"]), window=list(tr.window), competence=tr.competence(),
                         learning_progress=tr.learning_progress(self.lp_mode), mastered=self.is_mastered(goal),
                         depth=self.depth(goal))

    def edge_count(self, a: str, b: str) -> int:
        """How many episodes showed the stepping stone a -> b (0 when never)."""
        return int(self.graph.edges[a, b]["count"]) if self.graph.has_edge(a, b) else 0

    def summary(self) -> dict[str, float]:
        """Counts for logging, names prefixed ``graph/``."""
        lps = [self.learning_progress(g) for g in self.graph.nodes]
        return {"graph/goals": float(len(self)), "graph/discovered": float(len(self.discovered())),
                "graph/mastered": float(len(self.mastered())), "graph/frontier": float(len(self.frontier())),
                "graph/edges": float(self.graph.number_of_edges()),
                "graph/max_depth": float(max(self.depths().values(), default=0)),
                "graph/mean_lp": float(sum(lps) / len(lps)) if lps else 0.0}

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Everything as plain python types (dict/list/str/int/float/bool/None): safe for torch.save(weights_only)."""
        nodes = []
        for g, d in self.graph.nodes(data=True):
            nodes.append({"goal": g, "first_seen": d["first_seen"], "found_while": d["found_while"],
                          "times_achieved": int(d["times_achieved"]), "attempts": int(d["attempts"]),
                          "successes": int(d["successes"]), "seeded": bool(d["seeded"]),
                          "tracker": self._trackers[g].state_dict()})
        edges = [[a, b, int(d["count"])] for a, b, d in self.graph.edges(data=True)]
        return {"version": STATE_VERSION, "config": self.config(), "nodes": nodes, "edges": edges,
                "last_step": self._last_step, "episodes": self._episodes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace all statistics with ``state``'s. This graph's own config is kept (windows are re-truncated)."""
        if not isinstance(state, dict) or "nodes" not in state or "edges" not in state:
            raise ValueError("not a GoalGraph state_dict: expected a dict with 'nodes' and 'edges'")
        if state.get("version", STATE_VERSION) > STATE_VERSION:
            raise ValueError(f"GoalGraph state version {state['version']} is newer than {STATE_VERSION}")
        self.graph = nx.DiGraph()
        self._trackers = {}
        self._version += 1
        for n in state["nodes"]:
            g = n["goal"]
            self._ensure(g)
            d = self.graph.nodes[g]
            d["first_seen"] = None if n["first_seen"] is None else int(n["first_seen"])
            d["found_while"] = n["found_while"]
            for k in ("times_achieved", "attempts", "successes"):
                d[k] = int(n[k])
            d["seeded"] = bool(n["seeded"])
            self._trackers[g].load_state_dict(n.get("tracker", {}))
        for a, b, c in state["edges"]:
            self._ensure(a)
            self._ensure(b)
            self.graph.add_edge(a, b, count=int(c))
        self._version += 1
        self._last_step = int(state.get("last_step", 0))
        self._episodes = int(state.get("episodes", 0))

    # ------------------------------------------------------------------ export
    def export_graph(self) -> nx.DiGraph:
        """A copy with scalar attributes only (GraphML-safe: no None; first_seen -1 / found_while "" when unknown)."""
        out = nx.DiGraph()
        depths = self.depths()
        frontier = set(self.frontier())
        for g, d in self.graph.nodes(data=True):
            tr = self._trackers[g]
            out.add_node(g, first_seen=-1 if d["first_seen"] is None else int(d["first_seen"]),
                         found_while=d["found_while"] or "", times_achieved=int(d["times_achieved"]),
                         attempts=int(d["attempts"]), successes=int(d["successes"]), seeded=bool(d["seeded"]),
                         discovered=d["first_seen"] is not None, competence=float(tr.competence()),
                         learning_progress=float(tr.learning_progress(self.lp_mode)),
                         mastered=self.is_mastered(g), frontier=g in frontier, depth=int(depths[g]))
        for a, b, d in self.graph.edges(data=True):
            out.add_edge(a, b, count=int(d["count"]))
        return out

    def to_graphml(self, path: str | os.PathLike) -> None:
        """Write the graph with its scalar statistics as GraphML."""
        nx.write_graphml(self.export_graph(), os.fspath(path))

    def node_link_data(self) -> dict[str, Any]:
        """Node-link JSON data (``nx.node_link_graph(data, edges="links")`` reads it back)."""
        g = self.export_graph()
        return {"directed": True, "multigraph": False, "graph": self.config(),
                "nodes": [{"id": n, **d} for n, d in g.nodes(data=True)],
                "links": [{"source": a, "target": b, **d} for a, b, d in g.edges(data=True)]}

    def to_json(self, path: str | os.PathLike) -> None:
        """Write node-link JSON."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.node_link_data(), f, indent=1)
