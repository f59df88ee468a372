"""EpisodeReplay: whole-episode eviction, uniform transition sampling, interning, plain-python checkpoints."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from autotelic.episode import Episode
from autotelic.replay import EpisodeReplay


def make_episode(goal: str, T: int, tag: str = "", terminated: bool = False) -> Episode:
    return Episode(
        goal=goal,
        observations=[f"obs {tag} {t}" for t in range(T + 1)],
        admissible=[("go to a", "go to b", "grasp")[: 1 + t % 3] for t in range(T + 1)],
        actions=[0] * T,
        rewards=[0.0] * (T - 1) + [1.0 if terminated else 0.0],
        achieved=[frozenset({f"grasp {tag}"}) if t == T - 1 else frozenset() for t in range(T)],
        terminated=terminated, truncated=not terminated)


def _plain(x) -> bool:
    if isinstance(x, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in x.items())
    if isinstance(x, list):
        return all(_plain(v) for v in x)
    return isinstance(x, (str, int, float, bool)) or x is None


def test_add_counts_and_rejects_bad_episodes():
    rb = EpisodeReplay(100)
    rb.add(make_episode("g", 3))
    rb.add(make_episode("g", 5, terminated=True))
    assert len(rb) == 8 and rb.num_episodes == 2 and rb.episodes_added == 2
    unfinished = make_episode("g", 3)
    unfinished.truncated = False
    with pytest.raises(ValueError, match="finished"):
        rb.add(unfinished)
    with pytest.raises(ValueError, match="capacity"):
        EpisodeReplay(4).add(make_episode("g", 5))
    broken = make_episode("g", 3)
    broken.observations.pop()
    with pytest.raises(ValueError):
        rb.add(broken)
    with pytest.raises(ValueError):
        EpisodeReplay(0)


def test_wraparound_evicts_oldest_whole_episodes():
    rb = EpisodeReplay(10)
    for i, T in enumerate([4, 4, 2]):
        rb.add(make_episode(f"g{i}", T, tag=str(i)))
    assert [e.goal for e in rb] == ["g0", "g1", "g2"] and len(rb) == 10
    rb.add(make_episode("g3", 3, tag="3"))          # needs 3 more: g0 (4 steps) goes, whole
    assert [e.goal for e in rb] == ["g1", "g2", "g3"] and len(rb) == 9
    assert all(len(e.observations) == len(e) + 1 for e in rb)   # nothing split
    rb.add(make_episode("g4", 6, tag="4"))          # needs 6: g1 and g2 go
    assert [e.goal for e in rb] == ["g3", "g4"] and len(rb) == 9
    # the evicted episodes' strings are released (memory follows what is stored)
    assert "obs 0 0" not in {o for e in rb for o in e.observations}
    assert len(rb._strings) == len({s for e in rb for s in [e.goal, *e.observations, *{a for acts in e.admissible
                                                                                      for a in acts},
                                                              *{g for s in e.achieved for g in s}]})
    rb.clear()
    assert len(rb) == 0 and len(rb._strings) == len(rb._tuples) == len(rb._sets) == 0


def test_interning_shares_repeated_strings():
    rb = EpisodeReplay(100)
    a, b = make_episode("g", 3, tag="x"), make_episode("g", 3, tag="x")
    b.observations = [str(o + " ")[:-1] for o in b.observations]   # equal but distinct objects
    rb.add(a)
    rb.add(b)
    assert rb[0].observations[1] is rb[1].observations[1]
    assert rb[0].admissible[2] is rb[1].admissible[2]


def test_sample_is_uniform_over_transitions():
    rb = EpisodeReplay(100)
    rb.add(make_episode("short", 1))
    rb.add(make_episode("long", 9))
    pairs = rb.sample(20000, np.random.default_rng(0))
    assert all(0 <= t < len(rb[e]) for e, t in pairs)
    frac_long = np.mean([rb[e].goal == "long" for e, _ in pairs])
    assert abs(frac_long - 0.9) < 0.02
    ts = np.array([t for e, t in pairs if rb[e].goal == "long"])
    assert set(ts.tolist()) == set(range(9))
    with pytest.raises(ValueError, match="empty"):
        EpisodeReplay(5).sample(1, np.random.default_rng(0))


def test_state_dict_round_trips_through_weights_only_torch_load():
    rb = EpisodeReplay(12)
    for i, T in enumerate([5, 4, 3, 2]):
        rb.add(make_episode(f"g{i}", T, tag=str(i % 2), terminated=i % 2 == 0))
    state = rb.state_dict()
    assert _plain(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    rb2 = EpisodeReplay(12)
    rb2.load_state_dict(loaded)
    assert len(rb2) == len(rb) and rb2.episodes_added == rb.episodes_added
    for e1, e2 in zip(rb, rb2):
        assert e1 == e2
    # the restored buffer samples the same transitions with the same rng
    assert rb.sample(50, np.random.default_rng(1)) == rb2.sample(50, np.random.default_rng(1))
    with pytest.raises(ValueError, match="unsupported"):
        rb2.load_state_dict({"version": 99})
