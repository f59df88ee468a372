"""Goal curricula: registry, the built-in samplers' distributions, fallbacks, filters and state round-trips."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from autotelic.curricula import (GoalCurriculum, LPCurriculum, make_curriculum, register_curriculum,
                                 registered_curricula)
from autotelic.graph import GoalGraph
from episodes import make_episode

BUILTINS = ["frontier", "lp", "magellan", "mixture", "novelty", "uniform"]


def lp_graph(n_stable: int = 50) -> GoalGraph:
    """n_stable goals with flat outcomes (half always succeed, half always fail) and 'learning' going 0 -> 1."""
    g = GoalGraph(window=20)
    for i in range(n_stable):
        for _ in range(20):
            g.record_outcome(f"stable {i}", i % 2 == 0)
    for t in range(20):
        g.record_outcome("learning", t >= 10)
    return g


def test_registry_lists_builtins_and_rejects_unknown():
    assert set(BUILTINS) <= set(registered_curricula())
    with pytest.raises(ValueError) as err:
        make_curriculum("curiosity")
    msg = str(err.value)
    assert "curiosity" in msg and all(name in msg for name in BUILTINS)
    for name in BUILTINS:
        assert isinstance(make_curriculum(name), GoalCurriculum)


def test_register_and_dotted_path(tmp_path, monkeypatch):
    (tmp_path / "my_curricula.py").write_text(textwrap.dedent("""
        class FirstGoal:
            def __init__(self, tag="x"):
                self.tag = tag
            def sample(self, graph, n, rng):
                return [graph.goals()[0]] * n
            def update(self, goal, success):
                pass
            def metrics(self):
                return {"curriculum/tag_len": float(len(self.tag))}
            def state_dict(self):
                return {"tag": self.tag}
            def load_state_dict(self, state):
                self.tag = state["tag"]
        class NotACurriculum:
            pass
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    g = GoalGraph()
    g.seed(["a", "b"])
    for path in ("my_curricula:FirstGoal", "my_curricula.FirstGoal"):
        c = make_curriculum(path, tag="hello")
        assert type(c).__name__ == "FirstGoal" and c.tag == "hello"
        assert c.sample(g, 3, np.random.default_rng(0)) == ["a", "a", "a"]
    with pytest.raises(TypeError, match="lacks"):
        make_curriculum("my_curricula:NotACurriculum")
    with pytest.raises(ValueError, match="cannot import"):
        make_curriculum("no_such_module_xyz:Thing")
    with pytest.raises(ValueError, match="no attribute"):
        make_curriculum("my_curricula:Missing")

    @register_curriculum("test-first-goal")
    class Registered(LPCurriculum):
        name = "test-first-goal"

    assert "test-first-goal" in registered_curricula()
    assert isinstance(make_curriculum("test-first-goal", epsilon=0.5), Registered)
    with pytest.raises(ValueError, match="already registered"):
        register_curriculum("lp")(Registered)


@pytest.mark.parametrize("source", ["graph", "own"])
def test_lp_puts_mass_on_the_learning_goal(source):
    g = lp_graph(50)
    eps = 0.2
    c = LPCurriculum(epsilon=eps, source=source)
    if source == "own":  # the curriculum's own windows, fed by update()
        for goal in g.goals():
            for x in g.stats(goal).window:
                c.update(goal, x)
    p = c.probabilities(g)
    assert sum(p.values()) == pytest.approx(1.0)
    assert p["learning"] == pytest.approx((1 - eps) + eps / 51)
    assert p["stable 0"] == pytest.approx(eps / 51)
    draws = c.sample(g, 10_000, np.random.default_rng(0))
    frac = draws.count("learning") / len(draws)
    assert frac >= 0.8 * (1 - eps) + eps / 51
    assert abs(frac - p["learning"]) < 0.02
    m = c.metrics()
    assert m["curriculum/max_lp"] == pytest.approx(1.0) and m["curriculum/goals_with_lp"] == 1.0
    assert all(k.startswith("curriculum/") for k in m)


def test_lp_uniform_when_no_progress():
    g = GoalGraph()
    for i in range(5):
        for _ in range(10):
            g.record_outcome(f"g{i}", True)
    p = make_curriculum("lp").probabilities(g)
    assert all(v == pytest.approx(0.2) for v in p.values())


def test_novelty_prefers_unseen():
    g = GoalGraph()
    for i in range(4):
        for _ in range(15):
            g.record_outcome(f"old {i}", True)
    g.seed(["new 0", "new 1"])
    p = make_curriculum("novelty").probabilities(g)
    assert p["new 0"] == pytest.approx(p["old 0"] * 4)  # 1/sqrt(1) vs 1/sqrt(16)
    draws = make_curriculum("novelty").sample(g, 4000, np.random.default_rng(1))
    assert sum(d.startswith("new") for d in draws) / 4000 > 0.6  # 2/(2 + 4/4) = 2/3
    # rarely achieved: goals pursued equally often, one achieved rarely
    h = GoalGraph()
    h.observe(make_episode("rare", [["rare"]], True), step=1)
    for t in range(8):
        h.observe(make_episode("common", [["common"]], True), step=2 + t)
    h.record_outcome("rare", True)
    assert h.array("attempts", ["rare", "common"]).tolist() == [2, 8]
    q = make_curriculum("novelty", by="achieved").probabilities(h)
    assert q["rare"] > q["common"]
    with pytest.raises(ValueError, match="by"):
        make_curriculum("novelty", by="recency")


def test_frontier_samples_frontier_then_falls_back():
    g = GoalGraph(mastery_min_outcomes=1, min_edge_count=1)
    g.record_outcome("a", True)  # discovered and mastered
    for t in range(2):  # a is needed before b: every episode that achieved b achieved a first
        g.observe(make_episode("b", [["a"], ["b"]], t == 1), step=2 + t)  # b: competence 0.5 -> frontier
    g.seed(["z"])
    c = make_curriculum("frontier")
    assert g.prerequisites("b") == ["a"] and g.frontier() == ["b"]
    assert set(c.sample(g, 50, np.random.default_rng(0))) == {"b"}
    assert c.metrics()["curriculum/frontier_size"] == 1.0
    g.record_outcome("a", False)
    g.record_outcome("a", False)  # a: competence 1/3, so b (needs a) leaves the frontier and a enters it
    assert g.frontier() == ["a"]
    assert set(c.sample(g, 50, np.random.default_rng(0))) == {"a"}
    for _ in range(20):
        g.record_outcome("a", True)
        g.record_outcome("b", True)
    assert set(g.mastered()) == {"a", "b"}
    assert set(c.sample(g, 200, np.random.default_rng(0))) == {"a", "b", "z"}  # everything
    assert c.metrics()["curriculum/frontier_level"] == 2.0


def test_frontier_falls_back_to_discovered_not_mastered():
    g = GoalGraph(mastery_min_outcomes=1)
    g.seed(["z"])
    g.record_outcome("a", False)
    g.record_outcome("a", True)
    g.record_outcome("a", False)  # discovered, competence 1/3
    g.record_outcome("b", True)  # mastered
    c = make_curriculum("frontier")
    assert g.frontier() == ["a"]
    assert set(c.sample(g, 50, np.random.default_rng(0))) == {"a"}


def test_mixture_is_weighted_sum():
    g = lp_graph(9)
    g.seed(["unseen"])
    mix = make_curriculum("mixture", components={"lp": 0.5, "novelty": 0.5})
    p = mix.probabilities(g)
    p_lp = make_curriculum("lp").probabilities(g)
    p_nov = make_curriculum("novelty").probabilities(g)
    for goal in g.goals():
        assert p[goal] == pytest.approx(0.5 * p_lp[goal] + 0.5 * p_nov[goal])
    mix.update("learning", True)
    m = mix.metrics()
    assert "curriculum/lp/max_lp" in m and "curriculum/novelty/unattempted" in m
    assert all(k.startswith("curriculum/") for k in m)
    with pytest.raises(ValueError, match="weights"):
        make_curriculum("mixture", components={"lp": -1.0})
    with pytest.raises(ValueError, match="unknown curriculum"):
        make_curriculum("mixture", components={"lpp": 1.0})


@pytest.mark.parametrize("name", BUILTINS)
def test_only_graph_goals_and_fallback(name):
    rng = np.random.default_rng(0)
    g = lp_graph(5)
    c = make_curriculum(name, fallback_goals=["outside"])
    assert set(c.sample(g, 300, rng)) <= set(g.goals())
    assert c.sample(g, 0, rng) == []
    empty = GoalGraph()
    assert c.sample(empty, 4, rng) == ["outside"] * 4
    assert c.metrics()["curriculum/fallback"] == 1.0
    with pytest.raises(ValueError, match="fallback_goals"):
        make_curriculum(name).sample(empty, 1, rng)
    with pytest.raises(ValueError, match="n must be"):
        c.sample(g, -1, rng)


@pytest.mark.parametrize("name", BUILTINS)
def test_allowed_filter(name):
    g = lp_graph(6)
    keep = {"stable 1", "stable 4"}
    c = make_curriculum(name, allowed=keep)
    assert set(c.sample(g, 200, np.random.default_rng(0))) <= keep
    c2 = make_curriculum(name, allowed=lambda s: s.endswith("3"))
    assert set(c2.sample(g, 50, np.random.default_rng(0))) == {"stable 3"}
    with pytest.raises(ValueError, match="allowed by the filter"):
        make_curriculum(name, allowed=["nothing"]).sample(g, 1, np.random.default_rng(0))


@pytest.mark.parametrize("name,kwargs", [("uniform", {}), ("lp", {"source": "own", "lp_mode": "ema"}),
                                         ("novelty", {"by": "both"}), ("frontier", {}),
                                         ("mixture", {"components": {"lp": 0.7, "frontier": 0.3},
                                                      "component_kwargs": {"lp": {"source": "own"}}})])
def test_state_roundtrip(name, kwargs, tmp_path):
    torch = pytest.importorskip("torch")
    g = lp_graph(5)
    c = make_curriculum(name, **kwargs)
    c.sample(g, 10, np.random.default_rng(0))
    for t in range(30):
        c.update(f"stable {t % 3}", t % 2 == 0)
    torch.save(c.state_dict(), tmp_path / "c.pt")
    d = make_curriculum(name, **kwargs)
    d.load_state_dict(torch.load(tmp_path / "c.pt", weights_only=True))
    assert d.state_dict() == c.state_dict()
    assert d.probabilities(g) == pytest.approx(c.probabilities(g))
    with pytest.raises(ValueError):
        d.load_state_dict({"name": "something else"})


def test_own_lp_state_holds_windows():
    c = make_curriculum("lp", source="own")
    for t in range(10):
        c.update("g", t >= 5)
    state = c.state_dict()
    assert state["trackers"]["g"]["window"] == [False] * 5 + [True] * 5
    d = make_curriculum("lp", source="own")
    d.load_state_dict(state)
    g = GoalGraph()
    g.seed(["g", "h"])
    assert d.learning_progress(g, "g") == pytest.approx(1.0) and d.learning_progress(g, "h") == 0.0


def test_draw_is_rng_choice():
    from autotelic.curricula.base import draw

    p = np.random.default_rng(3).random(1000)
    p /= p.sum()
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    assert draw(p, 500, a).tolist() == b.choice(len(p), size=500, p=p).tolist()
    assert a.random() == b.random()  # same stream consumed


@pytest.mark.parametrize("name", BUILTINS)
def test_batch_draw_equals_successive_single_draws(name):
    g = lp_graph(30)
    g.seed(["unseen"])
    c = make_curriculum(name)
    one, many = np.random.default_rng(11), np.random.default_rng(11)
    batch = c.sample(g, 40, many)
    singles = [c.sample(g, 1, one)[0] for _ in range(40)]
    assert batch == singles
    assert one.random() == many.random()


def test_estimate_competence_is_the_graphs_windowed_competence():
    g = lp_graph(4)
    for name in set(BUILTINS) - {"magellan"}:  # magellan predicts (tests/test_magellan.py)
        est = make_curriculum(name).estimate_competence(g, ["stable 0", "stable 1", "learning", "never seen"])
        assert est.tolist() == [1.0, 0.0, 0.5, 0.0]


def test_old_graph_state_loads():
    v1 = {"version": 1, "config": {"window": 20, "min_edge_support": 0.1},
          "nodes": [{"goal": "a", "first_seen": 3, "found_while": "a", "times_achieved": 2, "attempts": 2,
                     "successes": 1, "seeded": False, "tracker": {"window": [False, True], "n": 2}}],
          "edges": [], "last_step": 3, "episodes": 2}
    g = GoalGraph.from_state_dict(v1)
    assert g.stats("a").competence == 0.5 and g.stats("a").first_seen == 3
