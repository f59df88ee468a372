"""Goal curricula: registry, the built-in samplers' distributions, fallbacks, filters and state round-trips."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from autotelic.curricula import (GoalCurriculum, LPCurriculum, make_curriculum, register_curriculum,
                                 registered_curricula)
from autotelic.graph import GoalGraph

BUILTINS = ["frontier", "lp", "mixture", "novelty", "uniform"]


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
    h.record_outcome("rare", True)
    for _ in range(8):
        h.record_outcome("common", True)
        h.graph.nodes["common"]["times_achieved"] += 1
    h.graph.nodes["rare"]["times_achieved"] = 1
    q = make_curriculum("novelty", by="achieved").probabilities(h)
    assert q["rare"] > q["common"]
    with pytest.raises(ValueError, match="by"):
        make_curriculum("novelty", by="recency")


def test_frontier_samples_frontier_then_falls_back():
    g = GoalGraph(mastery_min_outcomes=1)
    g.record_outcome("a", True)  # discovered and mastered
    g.record_outcome("b", False)
    g.graph.add_edge("a", "b", count=1)
    g.record_outcome("b", True)  # discovered, competence 0.5: frontier (its predecessor a is mastered)
    g.seed(["z"])
    c = make_curriculum("frontier")
    assert g.frontier() == ["b"]
    assert set(c.sample(g, 50, np.random.default_rng(0))) == {"b"}
    assert c.metrics()["curriculum/frontier_size"] == 1.0
    g.graph.add_edge("b", "a", count=1)  # cycle a <-> b, both unmastered: no frontier
    g.record_outcome("a", False)
    g.record_outcome("a", False)
    assert g.frontier() == [] and g.mastered() == []
    assert set(c.sample(g, 50, np.random.default_rng(0))) == {"a", "b"}  # discovered, not mastered
    assert c.metrics()["curriculum/frontier_level"] == 1.0
    for _ in range(10):
        g.record_outcome("a", True)
        g.record_outcome("b", True)
    assert set(g.mastered()) == {"a", "b"}
    assert set(c.sample(g, 200, np.random.default_rng(0))) == {"a", "b", "z"}  # everything


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
