"""GoalGraph: stats, stepping-stone edges, depth/frontier, learning progress, persistence and export."""
from __future__ import annotations

import json
from collections import deque

import networkx as nx
import numpy as np
import pytest

from autotelic.graph import GoalGraph, GoalStats
from episodes import make_episode


def test_observe_hand_made_sequence():
    g = GoalGraph(min_edge_count=1)
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
    assert g.prerequisites("grasp red carrot") == ["go to red carrot"]
    assert g.depth("go to red carrot") == 0 and g.depth("grasp red carrot") == 1

    # second episode: pursued goal never achieved; two goals first achieved at the same step are not ordered
    e2 = make_episode("grow carrot", [[], ["go to red carrot"], ["grasp red carrot", "go to water"], []],
                      success=False)
    assert g.observe(e2, step=6) == ["go to water"]
    assert g.edge_count("go to red carrot", "grasp red carrot") == 2
    assert g.edge_count("go to red carrot", "go to water") == 1
    assert g.edge_count("grasp red carrot", "go to water") == 0  # same step: not before
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
    f = g.facts()
    assert f.goals == g.goals() and f.attempts.tolist() == [0, 1, 0, 1]
    assert f.row(3)["first_seen"] is None and f.row(0)["depth"] == 0
    assert g.array("attempts", ["grow carrot"]).tolist() == [1]
    with pytest.raises(ValueError, match="unknown goal column"):
        g.array("colour")


def chain_episodes(n: int, seed: int, chain=("a", "b", "c", "d"), noise=("x", "y", "z")) -> list:
    """Episodes that walk a prefix of ``chain`` in order, with noise goals achieved at random steps (before,
    between or after chain goals) and, sometimes, at the same step as a chain goal."""
    rng = np.random.default_rng(seed)
    eps = []
    for _ in range(n):
        k = int(rng.integers(1, len(chain) + 1))
        steps: list[list[str]] = [[c] for c in chain[:k]]
        for x in noise:
            if rng.random() < 0.5:
                at = int(rng.integers(0, len(steps) + 1))
                if rng.random() < 0.3 and at < len(steps):
                    steps[at].append(x)  # achieved together with a chain goal
                else:
                    steps.insert(at, [x])
        eps.append(make_episode(chain[k - 1], steps, rng.random() < 0.7))
    return eps


def test_chain_with_noise_gives_exactly_the_chain():
    g = GoalGraph()
    for t, e in enumerate(chain_episodes(300, seed=0)):
        g.observe(e, step=t)
    assert sorted((a, b) for a, b, _ in g.edges()) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert g.prerequisites("d") == ["a", "b", "c"]  # the relation; the drawn edges are its transitive reduction
    assert [g.depth(x) for x in "abcd"] == [0, 1, 2, 3]
    assert all(g.depth(x) == 0 for x in "xyz") and g.summary()["graph/max_depth"] == 3
    assert g.summary()["graph/edges"] == 3
    assert sorted(g.stepping_stones().edges()) == [("a", "b"), ("b", "c"), ("c", "d")]


def test_depth_along_a_chain_only_grows():
    g = GoalGraph()
    depths = []
    for t, e in enumerate(chain_episodes(200, seed=1)):
        g.observe(e, step=t)
        depths.append(g.summary()["graph/max_depth"])
    assert depths == sorted(depths) and depths[-1] == 3
    assert depths[0] == 0  # one episode is not evidence (min_edge_count)


def test_incidental_ordering_makes_no_edge():
    g = GoalGraph(mastery_min_outcomes=1)
    for i in range(10):
        g.observe(make_episode("b", [["b"]], True), step=i)
    for i in range(3):  # x before b in 3 of the 13 episodes that achieved b
        g.observe(make_episode("x", [["x"], ["b"]], False), step=20 + i)
    assert g.edge_count("x", "b") == 3 and not g.is_supported("x", "b")
    assert g.edges() == [] and g.depth("b") == 0
    assert "x" in g.frontier() and "b" not in g.frontier()  # b is mastered
    # the same ordering in every episode that achieved b is a prerequisite
    h = GoalGraph()
    for i in range(3):
        h.observe(make_episode("b", [["x"], ["b"]], True), step=i)
    assert h.is_supported("x", "b") and h.depth("b") == 1
    with pytest.raises(ValueError, match="edge_support"):
        GoalGraph(edge_support=0.5)


def test_frontier_needs_every_prerequisite_mastered():
    g = GoalGraph(mastery_min_outcomes=1)
    for t in range(3):
        g.observe(make_episode("c", [["a"], ["b"], ["c"]], False), step=t)
    assert g.frontier() == ["a"]  # b needs a, c needs a and b
    for _ in range(5):
        g.record_outcome("a", True)
    assert g.frontier() == ["b"]
    for _ in range(5):
        g.record_outcome("b", True)
    assert g.frontier() == ["c"]
    assert g.frontier_mask().tolist() == [x == "c" for x in g.goals()]


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
    assert h.edges() == g.edges() and h.edge_count("go to red carrot", "grasp red carrot") == 1
    # both continue identically
    e = make_episode("grow lion", [["go to red carrot"], ["grow lion"]], True)
    g.observe(e, step=10)
    h.observe(e, step=10)
    assert h.state_dict() == g.state_dict()
    assert isinstance(h._trackers[h.goals().index("grasp red carrot")].window, deque)
    with pytest.raises(ValueError, match="not a GoalGraph state_dict"):
        h.load_state_dict({"foo": 1})


def test_export_graphml_and_json(tmp_path):
    g = GoalGraph(min_edge_count=1)
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


def test_goals_achieved_before_a_chained_goal_are_its_prerequisites():
    """A chained episode's ``prior`` goals come before everything it achieves, also when it re-achieves one."""
    g = GoalGraph(min_edge_count=1)
    g.observe(make_episode("wood", [["wood"]], True), step=1)
    chained = make_episode("table", [[], ["wood"], ["table"]], True)
    chained.prior = frozenset({"wood"})
    g.observe(chained, step=4)
    assert g.edge_count("wood", "table") == 1 and g.prerequisites("table") == ["wood"]
    assert g.stats("wood").times_achieved == 2 and g.stats("table").times_achieved == 1
    late = make_episode("table", [["table"], ["wood"]], True)  # wood after table, but wood came before the chain
    late.prior = frozenset({"wood"})
    g.observe(late, step=8)
    assert g.edge_count("wood", "table") == 2 and g.edge_count("table", "wood") == 0
    unchained = make_episode("table", [["table"], ["wood"]], True)
    g.observe(unchained, step=9)
    assert g.edge_count("table", "wood") == 1


def test_followers_are_the_goals_achieved_after_a_goal_in_some_episode():
    g = GoalGraph()
    g.observe(make_episode("c", [["a"], ["b"], ["c"]], True), step=0)
    g.observe(make_episode("d", [["d"], ["a"]], False), step=10)
    assert g.followers("a") == ["b", "c"] and g.followers("d") == ["a"]
    assert g.followers("c") == [] and g.followers("never seen") == []
    e = make_episode("e", [["e"]], True)
    e.prior = frozenset({"c"})  # a chained goal: what the env episode achieved earlier comes before it
    g.observe(e, step=20)
    assert g.followers("c") == ["e"]
