"""Lockstep rollout: one batched act call per step, episodes complete and well-formed, goals from the sampler."""
import random

import pytest

from autotelic.envs.playground import PlaygroundText, bfs_plan
from autotelic.rollout import Rollout


def _prompt(goal, obs):
    return f"Goal: {goal}\n{obs}"


def test_rollout_batches_calls_and_returns_valid_episodes():
    envs = [PlaygroundText(goal_in_observation=False) for _ in range(3)]
    goals = ["Grasp chair", "Grow carrot", None]
    r = Rollout(envs, _prompt, lambda idx: [goals[i] for i in idx], seed=0)
    calls, rng, finished = [], random.Random(0), []
    for _ in range(40):
        def act(prompts, cands):
            calls.append(len(prompts))
            assert all(p.startswith("Goal: ") and "Goal" not in p.split("\n", 1)[1] for p in prompts)
            return [rng.randrange(len(c)) for c in cands]
        finished += r.step(act)
    assert calls == [3] * 40 and r.env_steps == 120
    assert finished and {e.goal for e in finished} >= {"Grasp chair", "Grow carrot"}
    for ep in finished:
        ep.validate()
        assert ep.done and ep.terminated != ep.truncated
        assert ep.success == (ep.goal in ep.achieved[-1])


def test_solver_policy_always_succeeds():
    env = PlaygroundText(goal_in_observation=False)
    r = Rollout([env], _prompt, lambda idx: ["Grow cow"] * len(idx), seed=1)
    plan: list[str] = []

    def act(prompts, cands):
        if not plan:
            plan.extend(bfs_plan(env.state, "Grow cow", 11))
        return [cands[0].index(plan.pop(0))]
    eps = [ep for _ in range(21) for ep in r.step(act)]
    assert len(eps) == 3 and all(ep.success and len(ep) == 7 for ep in eps)


def test_rollout_needs_envs():
    with pytest.raises(ValueError, match="at least one env"):
        Rollout([], _prompt, lambda idx: [None] * len(idx))


def test_evaluate_goals_runs_each_goal_the_requested_times():
    from autotelic.evaluate import evaluate_goals
    envs = [PlaygroundText(goal_in_observation=False) for _ in range(2)]
    seen = []

    def solver_act(prompts, cands):
        out = []
        for env, p, c in zip(envs, prompts, cands):
            seen.append(p.split("\n")[0])
            out.append(c.index(bfs_plan(env.state, env.goal, 15)[0]))
        return out
    goals = ["Grasp chair", "Grow carrot", "Grow cow"]
    res = evaluate_goals(envs, solver_act, _prompt, goals, repeats=2)
    assert res == {g: 1.0 for g in goals}
    first_move = lambda p, c: [0] * len(c)  # noqa: E731
    res = evaluate_goals(envs, first_move, _prompt, ["Grow lion"], repeats=3)
    assert res == {"Grow lion": 0.0}


def test_rollout_state_round_trip_replays_episodes_in_progress():
    def make():
        envs = [PlaygroundText(goal_in_observation=False) for _ in range(3)]
        return Rollout(envs, _prompt, lambda idx: [["Grow cow", None, "Grow lion"][i] for i in idx], seed=5)
    rng_a, rng_b = random.Random(1), random.Random(1)
    pick = lambda rng: (lambda p, c: [rng.randrange(len(x)) for x in c])  # noqa: E731
    a = make()
    for _ in range(4):
        a.step(pick(rng_a))
        b_state = a.state_dict()
    b = make()
    b.load_state_dict(b_state)
    rng_b.setstate(rng_a.getstate())
    assert b.prompts() == a.prompts()
    for _ in range(30):
        ea, eb = a.step(pick(rng_a)), b.step(pick(rng_b))
        assert [(e.goal, e.actions, e.observations) for e in ea] == [(e.goal, e.actions, e.observations) for e in eb]
    assert a.state_dict() == b.state_dict()


class CounterEnv:
    """A counter from 0; "inc" adds 1; goals "reach k" hold while the counter is >= k (state goals, like
    Playground's); ``chain`` refuses goals that already hold. Horizon 6 steps per goal."""

    def __init__(self):
        self.n, self.goal, self.t, self.chained_to = 0, None, 0, []

    def _info(self):
        return {"admissible_actions": ["inc", "stay"], "achieved_goals": frozenset(f"reach {k}" for k in
                                                                                  range(1, self.n + 1))}

    def reset(self, seed=None, options=None):
        self.n, self.goal, self.t = 0, (options or {}).get("goal") or "reach 1", 0
        return f"at {self.n}", self._info()

    def chain(self, goal):
        if goal in self._info()["achieved_goals"]:
            return None
        self.goal, self.t = goal, 0
        self.chained_to.append(goal)
        return f"at {self.n}", self._info()

    def step(self, action):
        self.n += action == "inc"
        self.t += 1
        info = self._info()
        done = self.goal in info["achieved_goals"]
        return f"at {self.n}", float(done), done, not done and self.t >= 6, info


def _counter_rollout(chain_goals, goals=("reach 2", "reach 4", "reach 6", "reach 8", "reach 1")):
    it = iter(goals * 20)
    return Rollout([CounterEnv()], _prompt, lambda idx: [next(it) for _ in idx], seed=3, chain_goals=chain_goals,
                   stitch_chains=True)


def test_goal_chaining_starts_the_next_goal_where_a_success_left_off():
    inc = lambda p, c: [0] * len(c)  # noqa: E731
    r = _counter_rollout(chain_goals=2)
    eps = [ep for _ in range(12) for ep in r.step(inc)]
    # reach 2 from 0 (2 steps), reach 4 from 2, reach 6 from 4 (the budget of 2 chains is spent), then a reset:
    # reach 8 from 0 is truncated after 6 steps
    assert [(e.goal, len(e), e.success) for e in eps[:4]] == [("reach 2", 2, True), ("reach 4", 2, True),
                                                               ("reach 6", 2, True), ("reach 8", 6, False)]
    assert [e.observations[0] for e in eps[:4]] == ["at 0", "at 2", "at 4", "at 0"]
    assert [sorted(e.prior) for e in eps[:3]] == [[], ["reach 1", "reach 2"], [f"reach {k}" for k in range(1, 5)]]
    assert not eps[3].prior and r.envs[0].chained_to == ["reach 4", "reach 6"]
    r0 = _counter_rollout(chain_goals=0)
    eps0 = [ep for _ in range(12) for ep in r0.step(inc)]
    assert all(e.observations[0] == "at 0" and not e.prior for e in eps0) and not r0.envs[0].chained_to


def test_a_refused_chain_draws_more_goals_then_resets_with_the_first():
    from autotelic.rollout import CHAIN_TRIES
    inc = lambda p, c: [0] * len(c)  # noqa: E731
    r = _counter_rollout(chain_goals=3, goals=("reach 3", "reach 2", "reach 4"))
    eps = [ep for _ in range(4) for ep in r.step(inc)]
    # reach 2 already holds at 3: the next draw, reach 4, is chained from 3
    assert [(e.goal, e.observations[0]) for e in eps] == [("reach 3", "at 0"), ("reach 4", "at 3")]
    drawn = []

    def goals(idx):
        drawn.append(len(idx))
        return ["reach 2" if len(drawn) == 1 else "reach 1"] * len(idx)
    r = Rollout([CounterEnv()], _prompt, goals, seed=3, chain_goals=3)
    eps = [ep for _ in range(3) for ep in r.step(inc)]
    # at 2 every goal drawn (reach 1) already holds: one extra call of CHAIN_TRIES - 1 goals, then a reset
    assert [(e.goal, e.observations[0]) for e in eps] == [("reach 2", "at 0"), ("reach 1", "at 0")]
    assert drawn[:3] == [1, 1, CHAIN_TRIES - 1] and not r.envs[0].chained_to


def test_a_proposed_chain_goal_is_tried_before_the_draws():
    inc = lambda p, c: [0] * len(c)  # noqa: E731
    seen = []

    def propose(eps):
        seen.append([e.goal for e in eps])
        return ["reach 2" if e.goal == "reach 2" else "reach 5" for e in eps]  # reach 2 holds after reach 2: refused
    it = iter(("reach 2", "reach 4", "reach 6", "reach 8") * 5)
    r = Rollout([CounterEnv()], _prompt, lambda idx: [next(it) for _ in idx], seed=3, chain_goals=2,
                propose_chain=propose)
    eps = [ep for _ in range(12) for ep in r.step(inc)]
    # after reach 2 the proposal (reach 2) is refused and the draw (reach 4) chains; after reach 4 the proposal
    # (reach 5) chains instead of the draw (reach 6, dropped: draws happen all the same, so the goals a reset
    # gets do not depend on proposals); the budget of 2 chains is then spent: reset with the next draw, reach 8
    assert [(e.goal, e.observations[0]) for e in eps[:4]] == [("reach 2", "at 0"), ("reach 4", "at 2"),
                                                               ("reach 5", "at 4"), ("reach 8", "at 0")]
    assert seen[:2] == [["reach 2"], ["reach 4"]]  # asked only after chainable successes


def test_rollout_state_replays_a_chained_episode_in_progress():
    inc = lambda p, c: [0] * len(c)  # noqa: E731
    a = _counter_rollout(chain_goals=2)
    for _ in range(5):  # inside the third goal (reach 6, chained twice)
        a.step(inc)
    state = a.state_dict()
    assert [s["goal"] for s in state["slots"][0]["segments"]] == ["reach 2", "reach 4"]
    b = _counter_rollout(chain_goals=2)
    b.load_state_dict(state)
    assert b.prompts() == a.prompts() and b.slots[0].episode.prior == a.slots[0].episode.prior
    assert b.state_dict() == a.state_dict()
    with pytest.raises(ValueError, match="does not replay"):
        _counter_rollout(chain_goals=1).load_state_dict(state)


def test_chaining_needs_envs_that_chain():
    with pytest.raises(ValueError, match="chain"):
        Rollout([object()], _prompt, lambda idx: [None] * len(idx), chain_goals=1)
    with pytest.raises(ValueError, match=">= 0"):
        Rollout([CounterEnv()], _prompt, lambda idx: [None] * len(idx), chain_goals=-1)


def test_a_successful_chain_is_stitched_into_one_episode_from_the_reset():
    inc = lambda p, c: [0] * len(c)  # noqa: E731
    r = _counter_rollout(chain_goals=2)
    eps = [ep for _ in range(6) for ep in r.step(inc)]  # reach 2, then reach 4 and reach 6 chained
    stitched = r.take_stitched()
    assert r.take_stitched() == [] and len(eps) == 3
    assert [(e.goal, len(e), e.observations[0]) for e in stitched] == [("reach 4", 4, "at 0"), ("reach 6", 6, "at 0")]
    six = stitched[1]
    six.validate()
    assert six.rewards == [0.0] * 5 + [1.0] and six.terminated and six.success and not six.prior
    assert six.observations == [f"at {k}" for k in range(7)] and six.achieved == [e for ep in eps for e in ep.achieved]
    it = iter(["reach 2", "reach 4", "reach 6"] * 4)
    plain = Rollout([CounterEnv()], _prompt, lambda idx: [next(it) for _ in idx], seed=3, chain_goals=2)
    for _ in range(6):
        plain.step(inc)
    assert plain.envs[0].chained_to and plain.take_stitched() == []  # chains, but nobody asked for them whole


def test_stitching_skips_a_goal_achieved_before_its_segment():
    from autotelic.envs.base import default_compute_reward
    from autotelic.episode import stitch
    from episodes import make_episode
    first = make_episode("a", [["b"], ["a"]], success=True)
    second = make_episode("b", [["b"]], success=True)
    assert stitch([first, second], default_compute_reward) is None  # b came before the chain asked for it
    whole = stitch([first, make_episode("c", [[], ["c"]], success=True)], default_compute_reward)
    assert whole.goal == "c" and whole.rewards == [0.0, 0.0, 0.0, 1.0] and len(whole.observations) == 5
