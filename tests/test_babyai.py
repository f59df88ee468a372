"""BabyAI-Text: GLAM's text and actions over minigrid, achieved goals for hindsight, held-out objects, checker."""
import random
import re

import gymnasium as gym
import pytest

pytest.importorskip("minigrid")

import autotelic  # noqa: E402,F401  registers the Gymnasium ids
from autotelic.envs import BABYAI_ID, TextEnvError, check_text_env  # noqa: E402
from autotelic.envs.babyai import (ACTIONS, HELD_OUT, LEVELS, BabyAIText, all_goals, goal_family,  # noqa: E402
                                   goto_plan, objects)
from minigrid.core.grid import Grid  # noqa: E402
from minigrid.core.world_object import Ball, Door, Key  # noqa: E402


def _scene(env: BabyAIText, things: dict, agent=(3, 3), direction=0) -> None:
    """Replace the room by an empty one holding ``things`` {(x, y): WorldObj}, the agent at ``agent`` facing
    ``direction`` (0 = +x, 3 = -y). The 8x8 room's walls are the ring x or y in {1, 8}, a second ring behind."""
    room = env._room
    room.grid = Grid(room.width, room.height)
    room.grid.wall_rect(0, 0, room.width, room.height)
    room.grid.wall_rect(1, 1, room.width - 2, room.height - 2)
    for pos, obj in things.items():
        room.grid.set(*pos, obj)
        obj.cur_pos = pos
    room.agent_pos, room.agent_dir, room.carrying = agent, direction, None


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_every_level_passes_the_checker_through_gymnasium_make(level):
    env = gym.make(BABYAI_ID, level=level)
    check_text_env(env.unwrapped, episodes=4)
    assert set(env.unwrapped.all_goals()) == set(all_goals("train", LEVELS[level]))
    assert {goal_family(g) for g in env.unwrapped.all_goals()} == set(LEVELS[level])


def test_glam_text_actions_and_achieved_goals_of_a_scripted_scene():
    env = BabyAIText(level="PutNextLocal")
    env.reset(seed=0, options={"goal": "put the red ball next to the blue key"})
    # agent at (3,3) facing +x; red ball 1 step forward, blue key 2 steps forward; walls at x=8, y=1 and y=8
    _scene(env, {(4, 3): Ball("red"), (5, 3): Key("blue")})
    obs = env.describe()
    assert obs == ("You see a wall 5 steps forward, You see a wall 2 steps left, "  # the right wall is out of view
                   "You see a red ball 1 step forward, You see a blue key 2 steps forward")
    assert list(ACTIONS) == ["turn left", "turn right", "go forward", "pick up", "drop", "toggle"]
    obs, r, term, trunc, info = env.step("pick up")
    assert obs.startswith("You carry a red ball, ") and "red ball 1 step" not in obs
    assert info["achieved_goals"] == {"pick up the red ball"} and r == 0.0 and not term
    obs, r, term, trunc, info = env.step("drop")
    # dropped where it was: next to the blue key; the agent faces it again
    assert info["achieved_goals"] == {"put the red ball next to the blue key", "go to the red ball"}
    assert r == 1.0 and term and not trunc
    with pytest.raises(TextEnvError, match="after the episode ended"):
        env.step("drop")


def test_go_to_is_true_while_facing_and_ends_a_go_to_episode():
    env = BabyAIText()
    env.reset(seed=1, options={"goal": "go to the green key"})
    _scene(env, {(3, 2): Key("green")}, agent=(3, 4), direction=0)
    *_, info = env.step("turn left")  # now facing -y: (3,2) is empty, the key is 2 steps forward
    assert info["achieved_goals"] == frozenset()
    obs, r, term, _, info = env.step("go forward")
    assert info["achieved_goals"] == {"go to the green key"} and r == 1.0 and term


def test_goto_plan_is_a_shortest_plan_that_reaches_the_goal():
    env = BabyAIText()
    env.reset(seed=1, options={"goal": "go to the green key"})
    _scene(env, {(3, 2): Key("green")}, agent=(3, 4), direction=0)
    assert goto_plan(env) == ["turn left", "go forward"]  # the scripted path of the test above, nothing shorter
    _scene(env, {(2, 2): Key("green"), (3, 2): Ball("red"), (2, 3): Ball("red")}, agent=(5, 5))
    assert goto_plan(env) is None  # the key's only free sides are taken
    for seed in range(20):  # random scenes: the plan's last step, and only it, achieves the goal
        env.reset(seed=seed)
        plan = goto_plan(env)
        assert plan
        rewards = [env.step(a)[1] for a in plan]
        assert rewards == [0.0] * (len(plan) - 1) + [1.0]
    env.reset(seed=0, options={"goal": "pick up the red ball"})
    with pytest.raises(TextEnvError, match="go-to goals only"):
        goto_plan(env)


def test_toggling_a_closed_door_opens_it():
    env = BabyAIText(level="mixed")
    assert {"open the red door", "open the grey door"} <= set(env.all_goals()) and env._room.width == 10
    assert not any(goal_family(g) == "open" for g in env.all_goals("test"))
    env.reset(seed=2, options={"goal": "open the red door"})
    assert "red" in env._room.doors and len(env._room.doors) == 2
    _scene(env, {(5, 1): Door("red")}, agent=(5, 2), direction=3)
    # facing -y from (5,2): the left wall (x=1) is 4 cells away, out of the 7x7 view; the right one (x=8) 3
    assert env.describe() == "You see a wall 3 steps right, You see a closed red door 1 step forward"
    obs, r, term, _, info = env.step("toggle")
    assert info["achieved_goals"] == {"open the red door", "go to the red door"} and r == 1.0 and term
    assert "You see an open red door 1 step forward" in obs and "open the red door" not in obs


def test_random_episodes_emit_only_vocabulary_words_and_never_the_goal():
    env = BabyAIText(level="mixed")
    vocab, rng = set(env.vocabulary()), random.Random(0)
    for ep in range(20):
        obs, info = env.reset(seed=ep)
        texts = [obs, env.goal, *info["admissible_actions"]]
        for _ in range(40):
            obs, _, term, trunc, info = env.step(rng.choice(info["admissible_actions"]))
            assert env.goal not in obs
            texts += [obs, *info["achieved_goals"]]
            if term or trunc:
                break
        words = {w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())}
        assert words <= vocab, words - vocab


def test_held_out_objects_never_appear_in_train_scenes():
    assert len(objects("train")) == 15 and set(objects("test")) == set(HELD_OUT)
    train, test = set(all_goals("train")), set(all_goals("test"))
    assert not train & test and len(train | test) == len(all_goals("all"))
    names = [f"{c} {t}" for c, t in HELD_OUT]
    assert all(any(n in g for n in names) for g in test)
    env = BabyAIText(level="mixed")
    for seed in range(40):
        env.reset(seed=seed)
        assert not any(n in env.describe() for n in names)
        grid = env._room.grid
        held = {(c.color, c.type) for c in grid.grid if c is not None and c.type not in ("wall", "door")}
        assert not held & set(HELD_OUT)
    obs, _ = env.reset(seed=0, options={"goal": "pick up the red key"})  # a held-out goal gets a scene holding it
    assert any((c is not None and (c.color, c.type) == ("red", "key")) for c in env._room.grid.grid)


def test_time_limits_follow_babyai_and_bad_input_is_named():
    env = BabyAIText(level="mixed")
    env.reset(seed=0, options={"goal": "go to the red ball"})
    assert env.horizon == 64
    env.reset(seed=0, options={"goal": "put the red ball next to the grey box"})
    assert env.horizon == 128
    with pytest.raises(TextEnvError, match="unknown goal 'go to the moon'"):
        env.reset(options={"goal": "go to the moon"})
    with pytest.raises(TextEnvError, match="'dance' is not admissible"):
        env.step("dance")
    with pytest.raises(ValueError, match="unknown level 'GoToMaze'"):
        BabyAIText(level="GoToMaze")
    assert [goal_family(g) for g in ("go to the red ball", "pick up the grey key", "put the red ball next to the "
                                     "blue box", "open the red door", "go to the red door")] == \
        ["goto", "pickup", "putnext", "open", "goto"]
    for bad in ("pick up the red door", "open the red ball", "put the red ball next to the red ball"):
        with pytest.raises(TextEnvError, match="unknown goal"):
            goal_family(bad)
    with pytest.raises(ValueError, match="needs num_doors >= 1"):
        BabyAIText(level="mixed", num_doors=0)


def test_shipped_config_builds_the_level_and_pursues_only_its_goals():
    from pathlib import Path

    from autotelic.config import load_config
    from autotelic.schema import TrainConfig
    from autotelic.workers import make_env

    cfg = load_config(TrainConfig, str(Path(__file__).resolve().parent.parent / "configs" / "babyai.yaml"), [])
    env = make_env(cfg.env)
    base = getattr(env, "unwrapped", env)
    assert base.level == "GoToLocal" and base.max_steps == 24 and cfg.her.gamma == 0.9
    assert base.history == 2 and not base.history_views  # the prompt the 24k-step benchmark measured
    assert cfg.curriculum.kwargs["allowed"] == base.all_goals() and cfg.curriculum.seed_env_goals


def test_history_lists_the_last_views_and_actions_oldest_first_and_resets_clear_it():
    env = BabyAIText(history=2)
    env.reset(seed=1, options={"goal": "go to the green key"})
    _scene(env, {(3, 2): Key("green")}, agent=(3, 4), direction=0)
    v0 = env.describe()
    obs, *_ = env.step("turn right")  # facing +y: the view changes, the key is behind
    v1 = env.describe()
    assert obs == f"Earlier: {v0}; you chose turn right. Now: {v1}"
    env.step("turn right")
    v2 = env.describe()
    obs, *_ = env.step("turn right")  # three turns: the oldest pair drops out
    assert obs == f"Earlier: {v1}; you chose turn right. Earlier: {v2}; you chose turn right. Now: {env.describe()}"
    obs, _ = env.reset(seed=2, options={"goal": "go to the red ball"})
    assert obs == f"Now: {env.describe()}" and env.goal not in obs
    short = BabyAIText(history=1, history_views=False)
    short.reset(seed=3, options={"goal": "go to the red ball"})
    obs, *_ = short.step("go forward")
    assert obs == f"Earlier: you chose go forward. Now: {short.describe()}"
    check_text_env(BabyAIText(level="mixed", history=3), episodes=3)  # every history word is in the vocabulary
    with pytest.raises(ValueError, match="history must be an int >= 0"):
        BabyAIText(history=-1)


def test_with_history_a_repeated_view_gives_a_new_observation():
    """The looping case: turning in place brings back a view; without history the observation repeats."""
    for history, repeats in ((0, True), (2, False)):
        env = BabyAIText(history=history)
        env.reset(seed=5, options={"goal": "go to the green key"})
        _scene(env, {(3, 2): Key("green")}, agent=(3, 4), direction=0)
        first = env.step("turn left")[0]
        for _ in range(4):  # a full turn: the same view as after the first
            again = env.step("turn left")[0]
        assert (again == first) is repeats
