"""GoalGraph: stats, stepping-stone edges, depth/frontier, learning progress, persistence and export."""
from __future__ import annotations

import json
from collections import deque

import networkx as nx
import pytest

from autotelic.graph import GoalGraph, GoalStats
from episodes import make_episode


def test_observe_hand_made_sequence():
    g = GoalGraph()
    e1 = make_episode("grasp red carrot", [["go to red carrot"], ["grasp red carrot"]], success=True)
    e1.validate()
    assert g.observe(e1, step=2) == ["go to red carrot", "grasp red carrot"]
    s = g.stats("grasp red carrot")
    assert isinstance(s, GoalStats)
    assert (s.discovered, s.first_seen, s.found_while, s.times_achieved) == (True, 2, "grasp red carrot", 1)
    assert (s.attempts, s.successes, s.window, s.competence) == (1, 1, [True], 1.0)
    s0 = g.stats("go to red carrot")
    assert (s0.attempts, s0.successes, s0.times_achieved, s0.found_while) == (0, 0, 1, "grasp red carrot")
    assert g.edge_count("go to red carrot", "grasp red carrot") == 1
    assert g.depth("go to red carrot") == 0 and g.depth("grasp red carrot") == 1

    # second episode: pursued goal never achieved; two goals first achieved at the same step share a group
    e2 = make_episode("grow carrot", [[], ["go to red carrot"], ["grasp red carrot", "go to water"], []],
                      success=False)
    assert g.observe(e2, step=6) == ["go to water"]
    assert g.edge_count("go to red carrot", "grasp red carrot") == 2
    assert g.edge_count("go to red carrot", "go to water") == 1
    assert g.edge_count("grasp red carrot", "go to water") == 0  # same step: no edge
    assert g.edge_count("go to water", "grasp red carrot") == 0
    assert g.stats("go to water").found_while == "grow carrot"
    assert g.stats("go to water").first_seen == 6
    assert g.stats("grasp red carrot").first_seen == 2  # first sighting kept
    assert g.stats("grasp red carrot").times_achieved == 2  # once per episode, not per step
    # the pursued goal is held (so curricula may propose it) but not discovered
    assert "grow carrot" in g and len(g) == 4
    grow = g.stats("grow carrot")
    assert (grow.discovered, grow.attempts, grow.successes, grow.window) == (False, 1, 0, [False])
    assert g.discovered() == ["go to red carrot", "grasp red carrot", "go to water"]
    assert "grow carrot" not in g.frontier()


def test_consecutive_groups_only():
    g = GoalGraph()
    g.observe(make_episode("c", [["a"], ["b"], ["c"]], True), step=3)
    assert g.edge_count("a", "b") == 1 and g.edge_count("b", "c") == 1
    assert g.edge_count("a", "c") == 0  # only consecutive first achievements are linked
    assert g.depth("c") == 2


def test_seed_and_record_outcome():
    g = GoalGraph()
    g.seed(["grow lion", "grasp cow"])
    assert g.seeded() == ["grow lion", "grasp cow"] and g.discovered() == []
    g.record_outcome("grow lion", False)
    assert g.stats("grow lion").attempts == 1 and not g.is_discovered("grow lion")
    g.record_outcome("grasp cow", True, step=40)
    s = g.stats("grasp cow")
    assert s.discovered and s.first_seen == 40 and s.found_while == "grasp cow" and s.seeded
    with pytest.raises(KeyError, match="not in the goal graph"):
        g.stats("fly")
    with pytest.raises(ValueError, match="non-empty string"):
        g.record_outcome("", True)
    with pytest.raises(ValueError, match="lp_mode"):
        GoalGraph(lp_mode="alp")
    with pytest.raises(ValueError, match="window"):
        GoalGraph(window=1)


@pytest.mark.parametrize("mode", ["window", "ema"])
def test_learning_progress_rises_then_falls(mode):
    g = GoalGraph(window=20, lp_mode=mode)
    for _ in range(30):
        g.record_outcome("stable fail", False)
        g.record_outcome("learning", False)
    assert g.learning_progress("learning") == pytest.approx(0.0)
    peak = 0.0
    for _ in range(12):
        g.record_outcome("learning", True)
        peak = max(peak, g.learning_progress("learning"))
    assert peak > 0.4
    assert g.learning_progress("stable fail") == pytest.approx(0.0)
    for _ in range(150):
        g.record_outcome("learning", True)
    assert g.learning_progress("learning") < 0.02
    assert g.competence("learning") == pytest.approx(1.0)
    assert g.is_mastered("learning") and not g.is_mastered("stable fail")


def test_window_lp_is_half_difference():
    g = GoalGraph(window=4)
    for x in (False, False, True, True):
        g.record_outcome("g", x)
    assert g.learning_progress("g") == pytest.approx(1.0)  # |mean(1,1) - mean(0,0)|
    g.record_outcome("g", False)  # window 0,1,1,0 -> |0.5 - 0.5|
    assert g.learning_progress("g") == pytest.approx(0.0)
    assert g.competence("g") == pytest.approx(0.5)


def test_mastery_needs_enough_outcomes():
    g = GoalGraph(mastery_min_outcomes=5)
    for i in range(4):
        g.record_outcome("g", True)
        assert not g.is_mastered("g")
    g.record_outcome("g", True)
    assert g.is_mastered("g") and g.mastered() == ["g"]


def test_frontier_and_depth_with_cycles():
    g = GoalGraph(mastery_min_outcomes=1)
    g.observe(make_episode("b", [["a"], ["b"]], True), step=2)
    g.observe(make_episode("c", [["b"], ["c"]], True), step=4)
    g.observe(make_episode("a", [["b"], ["a"]], True), step=6)  # a <-> b: a cycle
    g.observe(make_episode("d", [["c"], ["d"]], False), step=8)
    d = g.depths()
    assert d["a"] == d["b"] == 0 and d["c"] == 1 and d["d"] == 2
    # a and b are mastered (1 success each); c has 1 success -> mastered; d: failure
    assert set(g.mastered()) == {"a", "b", "c"}
    assert g.frontier() == ["d"]
    g.record_outcome("c", False)  # competence 0.5: c is no longer mastered, so d leaves the frontier
    assert g.frontier() == ["c"]


def test_incidental_edges_do_not_block_frontier():
    g = GoalGraph(mastery_min_outcomes=1, min_edge_support=0.2)
    for i in range(10):
        g.observe(make_episode("b", [["b"]], True), step=i)
    g.observe(make_episode("x", [["x"], ["b"]], False), step=20)  # once: x before b, in 1 of 11 episodes
    assert g.edge_count("x", "b") == 1 and not g.is_supported("x", "b")
    assert g.depth("b") == 0
    assert "x" in g.frontier()
    assert "b" not in g.frontier()  # mastered
    g2 = GoalGraph(mastery_min_outcomes=1, min_edge_support=0.0)
    g2.load_state_dict(g.state_dict())
    assert g2.is_supported("x", "b") and g2.depth("b") == 1


def _assert_plain(obj, path="state"):
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, str), f"{path}: key {k!r}"
            _assert_plain(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _assert_plain(v, f"{path}[{i}]")
    else:
        assert obj is None or type(obj) in (str, int, float, bool), f"{path}: {type(obj).__name__}"


def test_state_roundtrip_torch_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    g = GoalGraph(window=6, lp_mode="ema")
    g.seed(["grow lion"])
    g.observe(make_episode("grasp red carrot", [["go to red carrot"], ["grasp red carrot"]], True), step=2)
    g.observe(make_episode("grow carrot", [["go to water"], ["go to red carrot"]], False), step=4)
    for i in range(9):
        g.record_outcome("grasp red carrot", i % 3 == 0)
    state = g.state_dict()
    _assert_plain(state)
    torch.save(state, tmp_path / "g.pt")
    loaded = torch.load(tmp_path / "g.pt", weights_only=True)
    h = GoalGraph.from_state_dict(loaded)
    assert h.config() == g.config()
    assert h.goals() == g.goals()
    for goal in g.goals():
        assert h.stats(goal) == g.stats(goal)
    assert sorted(h.graph.edges(data="count")) == sorted(g.graph.edges(data="count"))
    # both continue identically
    e = make_episode("grow lion", [["go to red carrot"], ["grow lion"]], True)
    g.observe(e, step=10)
    h.observe(e, step=10)
    assert h.state_dict() == g.state_dict()
    assert isinstance(h._trackers["grasp red carrot"].window, deque)
    with pytest.raises(ValueError, match="not a GoalGraph state_dict"):
        h.load_state_dict({"foo": 1})


def test_export_graphml_and_json(tmp_path):
    g = GoalGraph()
    g.seed(["grow lion"])
    g.observe(make_episode("grasp red carrot", [["go to red carrot"], ["grasp red carrot"]], True), step=2)
    g.to_graphml(tmp_path / "g.graphml")
    g.to_json(tmp_path / "g.json")
    r = nx.read_graphml(tmp_path / "g.graphml")
    assert set(r.nodes) == {"grow lion", "go to red carrot", "grasp red carrot"}
    assert r.nodes["grasp red carrot"]["competence"] == 1.0
    assert r.nodes["grow lion"]["first_seen"] == -1
    assert r.edges["go to red carrot", "grasp red carrot"]["count"] == 1
    data = json.loads((tmp_path / "g.json").read_text())
    j = nx.node_link_graph(data, edges="links")
    assert j.is_directed() and set(j.nodes) == set(r.nodes)
    assert j.nodes["grasp red carrot"]["found_while"] == "grasp red carrot"
    assert j.edges["go to red carrot", "grasp red carrot"]["count"] == 1
    assert data["graph"]["window"] == 20
