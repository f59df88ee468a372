"""Hindsight relabelling and n-step returns: goal strategies, terminal relabelled successes, timeouts bootstrap."""
from __future__ import annotations

import numpy as np
import pytest

from autotelic.episode import Episode
from autotelic.relabel import HindsightRelabeller, nstep_return, select_goal
from autotelic.replay import EpisodeReplay

G = 0.9


def prompt(goal: str, obs: str) -> str:
    return f"goal: {goal} | {obs}"


def episode(achieved: list[set[str]], goal: str = "grasp z", terminated: bool = False) -> Episode:
    T = len(achieved)
    rewards = [1.0 if goal in a else 0.0 for a in achieved]
    return Episode(goal=goal, observations=[f"o{t}" for t in range(T + 1)],
                   admissible=[(f"a{t}", f"b{t}", "grasp")[: 2 + t % 2] for t in range(T + 1)],
                   actions=[t % 2 for t in range(T)], rewards=rewards, achieved=[frozenset(a) for a in achieved],
                   terminated=terminated, truncated=not terminated)


def test_relabelled_success_is_terminal_and_return_stops_there():
    ep = episode([set(), {"grasp b"}, {"grasp b"}, set()])    # truncated, pursued goal never achieved
    ns = nstep_return(ep, 0, "grasp b", n=3, gamma=G)
    assert ns.steps == 2 and ns.terminated and ns.discount == 0.0
    assert ns.ret == pytest.approx(0.0 + G * 1.0)                # R = r_0 + γ r_1, nothing after the success
    rl = HindsightRelabeller(prompt, n_step=3, gamma=G)
    b = rl.build([(ep, 0, "grasp b")])
    assert b.relabelled.tolist() == [True] and b.terminated.tolist() == [True]
    assert b.discounts.tolist() == [0.0] and b.steps.tolist() == [2]
    assert b.prompts == ["goal: grasp b | o0"] and b.next_prompts == ["goal: grasp b | o2"]
    assert b.next_candidates == [list(ep.admissible[2])]


def test_truncation_bootstraps_but_termination_does_not():
    trunc = episode([set(), set(), set()])
    ns = nstep_return(trunc, 1, trunc.goal, n=3, gamma=G)          # 2 steps left, timeout at the end
    assert ns.steps == 2 and not ns.terminated and ns.ret == 0.0
    assert ns.discount == pytest.approx(G ** 2)
    b = HindsightRelabeller(prompt, n_step=3, gamma=G).build([(trunc, 1, trunc.goal)])
    assert b.next_prompts == [prompt(trunc.goal, "o3")]            # the stored final observation s_T
    term = episode([set(), set(), {"grasp z"}], terminated=True)
    ns = nstep_return(term, 1, term.goal, n=3, gamma=G)
    assert ns.steps == 2 and ns.terminated and ns.discount == 0.0
    assert ns.ret == pytest.approx(G)
    # a full n-step window inside the episode bootstraps with γ^n
    long = episode([set()] * 6)
    ns = nstep_return(long, 0, long.goal, n=3, gamma=G)
    assert ns.steps == 3 and ns.discount == pytest.approx(G ** 3)


def test_termination_on_pursued_goal_is_not_terminal_for_a_relabelled_goal():
    ep = episode([{"grasp b"}, set(), {"grasp z"}], terminated=True)    # ended by success on "grasp z"
    ns = nstep_return(ep, 1, "grasp b", n=3, gamma=G)
    assert ns.steps == 2 and not ns.terminated and ns.discount == pytest.approx(G ** 2) and ns.ret == 0.0


def test_termination_without_success_is_terminal_for_every_goal():
    ep = episode([{"grasp b"}, set(), set()], terminated=True)        # died at the last step, "grasp z" not reached
    assert not ep.success
    ns = nstep_return(ep, 1, "grasp c", n=3, gamma=G)                 # never achieved: no bootstrap past the death
    assert ns.steps == 2 and ns.terminated and ns.discount == 0.0 and ns.ret == 0.0
    ns = nstep_return(ep, 0, "grasp b", n=3, gamma=G)                 # achieved at step 0: terminal there anyway
    assert ns.steps == 1 and ns.terminated and ns.ret == 1.0
    ns = nstep_return(episode([set()] * 5, terminated=True), 0, "grasp c", n=3, gamma=G)
    assert ns.steps == 3 and not ns.terminated and ns.discount == pytest.approx(G ** 3)  # death beyond the window


def test_own_goal_uses_stored_rewards():
    ep = episode([set(), set()], terminated=False)
    ep.rewards = [0.5, 0.25]                                          # env-specific reward, kept as stored
    ns = nstep_return(ep, 0, ep.goal, n=3, gamma=G)
    assert ns.ret == pytest.approx(0.5 + G * 0.25)
    with pytest.raises(ValueError):
        nstep_return(ep, 2, ep.goal, n=3, gamma=G)


def test_strategies_pick_goals_from_the_right_steps():
    ep = episode([{"early"}, {"mid"}, set(), {"late", "last"}])
    rng = np.random.default_rng(0)
    draws = {s: {select_goal(ep, 2, s, rng) for _ in range(400)} for s in ("future", "final", "episode", "achieved")}
    assert draws["future"] == {"late", "last"}                      # only at/after t=2 (t=2 empty → falls back)
    assert draws["final"] == {"late", "last"}
    assert draws["episode"] == draws["achieved"] == {"early", "mid", "late", "last"}
    assert {select_goal(ep, 1, "future", rng) for _ in range(400)} == {"mid", "late", "last"}
    assert select_goal(episode([{"x"}, set()]), 1, "future", rng) is None      # nothing achieved at/after t
    with pytest.raises(ValueError, match="strategy"):
        select_goal(ep, 0, "nope", rng)
    with pytest.raises(ValueError, match="strategy"):
        HindsightRelabeller(prompt, strategy="nope")


def test_sample_relabels_the_configured_fraction_and_rebuilds_prompts():
    rb = EpisodeReplay(1000)
    for i in range(20):
        rb.add(episode([{f"grasp {i}"}, {f"grasp {i}", "grasp y"}, set()]))
    rng = np.random.default_rng(0)
    rl = HindsightRelabeller(prompt, strategy="achieved", k=4, n_step=2, gamma=G)
    b = rl.sample(rb, 50, rng)
    assert len(b) == 50 and int(b.relabelled.sum()) == 40             # round(50 · 4/5)
    for p, np_, g, rel in zip(b.prompts, b.next_prompts, b.goals, b.relabelled.tolist()):
        assert p.startswith(f"goal: {g} |") and np_.startswith(f"goal: {g} |")
        assert rel == (g != "grasp z")
    # relabelled rows whose goal is achieved at step t are terminal with reward 1
    for k in range(50):
        if b.relabelled[k] and b.steps[k] == 1 and b.terminated[k]:
            assert b.returns[k] == 1.0 and b.discounts[k] == 0.0
    assert not HindsightRelabeller(prompt, k=0).sample(rb, 30, rng).relabelled.any()
    assert b.actions.dtype.is_floating_point is False and b.returns.shape == (50,)


def test_state_without_admissible_actions_has_no_future():
    ep = episode([set(), set()])
    ep.admissible[-1] = ()                                  # nothing can be done in s_T: V(s_T) = 0
    b = HindsightRelabeller(prompt, n_step=3, gamma=G).build([(ep, 0, ep.goal), (ep, 0, "grasp q")])
    assert b.discounts.tolist() == [0.0, 0.0] and not b.terminated.any()
