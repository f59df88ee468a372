"""Playground-Text: dynamics checked by a BFS solver, bad input, registration, protocol checker."""
import random

import gymnasium as gym
import pytest

import autotelic  # noqa: F401  registers the Gymnasium id
from autotelic.envs import PLAYGROUND_ID, ProtocolError, TextEnv, TextEnvError, check_text_env
from autotelic.envs.playground import (
    CATEGORIES, CATEGORY_OF, OPTIMAL_LENGTH, PlaygroundText, achieved_goals, all_goals, bfs_plan, goal_family, horizon,
    is_feasible, kinds)


def test_object_kinds_and_splits():
    assert sum(len(v) for v in CATEGORIES.values()) == 36
    assert all(len(v) == 9 for v in CATEGORIES.values())
    train, test = set(kinds("train")), set(kinds("test"))
    assert len(train) == 24 and len(test) == 12 and not train & test
    assert {"cupboard", "lettuce", "rabbit", "tiger"} <= test
    assert set(all_goals("train")).isdisjoint(all_goals("test"))
    assert "Grasp water" in all_goals("train") and "Grow chair" not in all_goals("all")


@pytest.mark.parametrize("family", ["grasp", "plant", "herbivore", "carnivore"])
def test_bfs_reaches_every_feasible_goal_in_its_optimal_length(family):
    rng = random.Random(family)
    goals = [g for g in all_goals("all") if goal_family(g) == family]
    env = PlaygroundText(split="all")
    for i in range(25):
        goal = rng.choice(goals)
        obs, info = env.reset(seed=i, options={"goal": goal})
        assert is_feasible(goal, [t.kind for t in env.state.floor])
        plan = bfs_plan(env.state, goal, max_depth=env.horizon)
        assert plan is not None and len(plan) == OPTIMAL_LENGTH[family], (goal, obs, plan)
        # replaying the plan through the env gives reward 1 and termination exactly at the last step
        for t, action in enumerate(plan):
            assert action in info["admissible_actions"]
            obs, reward, terminated, truncated, info = env.step(action)
            assert terminated == (t == len(plan) - 1) and not truncated
        assert reward == 1.0 and goal in info["achieved_goals"]


@pytest.mark.parametrize("family", ["grasp", "plant", "herbivore", "carnivore"])
def test_impossible_goal_is_never_achieved_up_to_the_horizon(family):
    rng = random.Random(family + "x")
    goals = [g for g in all_goals("train") if goal_family(g) == family]
    env = PlaygroundText()
    for i in range(25):
        goal = rng.choice(goals)
        env.reset(seed=100 + i, options={"goal": goal, "feasible": False})
        assert not env.feasible
        assert bfs_plan(env.state, goal, max_depth=env.horizon) is None


def test_horizon_is_one_and_a_half_times_optimal():
    assert [horizon(g) for g in ("Grasp chair", "Grow carrot", "Grow cow", "Grow lion")] == [3, 6, 11, 15]
    env = PlaygroundText()
    env.reset(seed=0, options={"goal": "Grasp chair"})
    steps = 0
    while True:
        acts = [a for a in env._info()["admissible_actions"] if a != "Grasp"]  # never grasp: always fails
        _, r, term, trunc, _ = env.step(acts[0])
        steps += 1
        if term or trunc:
            break
    assert trunc and not term and steps == 3


def test_growth_chain_and_inventory():
    env = PlaygroundText()
    env.reset(seed=3, options={"goal": "Grow cow"})
    plan = bfs_plan(env.state, "Grow cow", 11)
    seen = set()
    for a in plan:
        *_, info = env.step(a)
        seen |= info["achieved_goals"]
        assert len(env.state.inventory) <= 2
    plant = next(g for g in seen if g.startswith("Grow ") and g != "Grow cow")
    assert {"Grasp water", "Grow cow", plant} <= seen
    assert plant not in achieved_goals(env.state)  # the plant was eaten by the cow


def test_seeded_resets_are_deterministic():
    a, b = PlaygroundText(), PlaygroundText()
    assert [a.reset(seed=s)[0] for s in range(5)] == [b.reset(seed=s)[0] for s in range(5)]
    assert a.reset(seed=7)[0] == a.reset(seed=7)[0]


def test_observation_with_and_without_goal():
    env = PlaygroundText(goal_in_observation=False)
    obs, _ = env.reset(seed=0, options={"goal": "Grasp chair"})
    assert "Goal" not in obs and "You see:" in obs and "Your inventory: empty" in obs
    obs2, _ = PlaygroundText(goal_in_observation=True).reset(seed=0, options={"goal": "Grasp chair"})
    assert obs2 == "Goal: Grasp chair\n" + obs


def test_bad_input_gives_clear_errors_and_env_stays_usable():
    env = PlaygroundText()
    with pytest.raises(TextEnvError, match="unknown goal 'Fly to the moon'"):
        env.reset(seed=0, options={"goal": "Fly to the moon"})
    with pytest.raises(TextEnvError, match="reset"):
        env.step("Grasp")  # never reset
    env.reset(seed=0, options={"goal": "Grasp chair"})
    with pytest.raises(TextEnvError, match="'Dance' is not admissible"):
        env.step("Dance")
    plan = bfs_plan(env.state, "Grasp chair", 3)
    for a in plan:
        env.step(a)
    with pytest.raises(TextEnvError, match="after the episode ended"):
        env.step(plan[0])
    obs, info = env.reset(seed=1, options={"goal": "Grow carrot"})
    assert info["admissible_actions"] and env.step(info["admissible_actions"][0])
    with pytest.raises(TextEnvError, match="unknown reset option"):
        env.reset(options={"gaol": "Grasp chair"})


def test_gymnasium_make_and_checker_pass():
    env = gym.make(PLAYGROUND_ID)
    obs, info = env.reset(seed=0)
    assert isinstance(obs, str) and info["admissible_actions"]
    check_text_env(env.unwrapped, episodes=5)


class _BrokenEnv(TextEnv):
    """Pays reward 1 on every step, whatever was achieved."""

    def reset(self, *, seed=None, options=None):
        self.goal, self.t = "Grasp chair", 0
        return "a room", {"admissible_actions": ["wait"], "achieved_goals": frozenset()}

    def step(self, action):
        self.t += 1
        return "a room", 1.0, False, self.t > 3, {"admissible_actions": ["wait"], "achieved_goals": frozenset()}


class _NoActionsEnv(_BrokenEnv):
    def reset(self, *, seed=None, options=None):
        self.goal = "Grasp chair"
        return "a room", {"admissible_actions": [], "achieved_goals": frozenset()}


def test_checker_fails_with_clear_message_on_broken_envs():
    with pytest.raises(ProtocolError, match=r"reward 1.0 != compute_reward"):
        check_text_env(_BrokenEnv())
    with pytest.raises(ProtocolError, match="non-empty list"):
        check_text_env(_NoActionsEnv())


def test_impossible_fraction_makes_a_fixed_goal_subset_never_achievable():
    env = PlaygroundText(impossible_fraction=0.8)
    assert abs(len(env.impossible_goals) / len(all_goals("all")) - 0.8) < 0.02
    assert PlaygroundText(impossible_fraction=0.8).impossible_goals == env.impossible_goals
    goal = sorted(env.impossible_goals)[0]
    for seed in range(5):
        env.reset(seed=seed, options={"goal": goal})
        assert not env.feasible and bfs_plan(env.state, goal, env.horizon) is None


def test_chain_pursues_the_next_goal_from_the_state_a_success_left():
    env = PlaygroundText()
    env.reset(seed=3, options={"goal": "Grow cow"})
    plant = next(t.kind for t in env.state.floor if CATEGORY_OF[t.kind] == "plant")
    env.goal, env.horizon = f"Grow {plant}", horizon(f"Grow {plant}")  # the same scene, pursuing the plant
    with pytest.raises(TextEnvError, match="success"):
        env.chain("Grow cow")  # the episode has not ended
    for a in bfs_plan(env.state, env.goal, 10):
        _, r, term, trunc, info = env.step(a)
    assert term and r == 1.0
    with pytest.raises(TextEnvError, match="unknown goal"):
        env.chain("Fly to the moon")
    assert env.chain(f"Grow {plant}") is None      # already holds
    assert env.chain("Grow lion") is None          # no lion in this scene
    obs, info = env.chain("Grow cow")
    assert env.goal == "Grow cow" and env.t == 0 and env.horizon == horizon("Grow cow")
    assert f"Grow {plant}" in info["achieved_goals"] and obs == env._obs()
    plan = bfs_plan(env.state, "Grow cow", 11)
    assert len(plan) == 3 < OPTIMAL_LENGTH["herbivore"]  # grasp the grown plant, go to the calf, release
    for a in plan:
        _, r, term, trunc, info = env.step(a)
    assert term and r == 1.0 and "Grow cow" in info["achieved_goals"]


def test_chain_is_refused_for_scene_goals():
    from autotelic.envs.littlezoo import parse_scene_goal
    env = PlaygroundText(goal_space="littlezoo-25k")
    goal = next(g for g in env.all_goals() if g.startswith("Grasp "))
    env.reset(seed=0, options={"goal": goal})
    for a in bfs_plan(env.state, parse_scene_goal(goal)[0], 3):
        *_, term, _, _ = env.step(a)
    assert term and env.chain(goal) is None and env.chain("Grasp water") is None
