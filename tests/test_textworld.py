"""TextWorld-Text: generated games cached once, facts that become true as achieved goals, determinism, the checker."""
import random

import gymnasium as gym
import pytest

pytest.importorskip("textworld")

from autotelic.envs import TEXTWORLD_ID, TextEnvError, check_text_env  # noqa: E402  (registers the ids)
from autotelic.envs.textworld import TextWorldText, build_game, fact_text, goal_family  # noqa: E402


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tw-cache"))  # the two default games are generated once for the module (~2 s)


@pytest.fixture(scope="module")
def env(cache):
    return TextWorldText(cache_dir=cache, max_steps=30)


def _simple_take(actions):
    """A 'take X' (from the floor, not 'take X from Y') among the admissible actions, or None."""
    return next((a for a in actions if a.startswith("take ") and " from " not in a), None)


def _only_in_one_game(env, goal):
    return sum(goal in gs for gs in env.game_goals) == 1


def _seed_with_take(env):
    """(seed, 'take X') for a seeded start whose room has an X on the floor that only its game names."""
    for seed in range(40):
        _, info = env.reset(seed=seed)
        take = _simple_take(info["admissible_actions"])
        if take and _only_in_one_game(env, "you carry the " + take[len("take "):]):
            return seed, take
    pytest.fail("no seeded start room with an object on the floor in 40 seeds")


def test_checker_passes_through_gymnasium_make(cache):
    e = gym.make(TEXTWORLD_ID, cache_dir=cache, max_steps=30)
    check_text_env(e.unwrapped, episodes=2)


def test_goals_facts_and_families(env):
    goals = env.all_goals()
    assert goals == sorted(goals) and len(goals) == len(set(goals)) > 10
    assert env.all_goals("train") == goals and env.all_goals("test") == []
    assert {goal_family(g) for g in goals} <= {"go", "take", "put", "open", "close", "lock", "eat"}
    assert {"go", "take", "put"} <= {env.goal_family(g) for g in goals}
    assert fact_text("at", [("P", "P"), ("attic", "r")]) == "the player is in the attic"
    assert fact_text("in", [("apple", "f"), ("I", "I")]) == "you carry the apple"
    assert fact_text("in", [("apple", "f"), ("chest", "c")]) == "the apple is in the chest"
    assert fact_text("on", [("apple", "f"), ("table", "s")]) == "the apple is on the table"
    assert fact_text("open", [("wooden door", "d")]) == "the wooden door is open"
    assert fact_text("north_of", [("attic", "r"), ("kitchen", "r")]) is None
    assert all(set(g) <= set(goals) for g in env.game_goals)


def test_cached_games_are_reused_and_generated_deterministically(env, cache, tmp_path):
    again = TextWorldText(cache_dir=cache)  # no recompilation: the same folders
    assert again.dirs == env.dirs and again.all_goals() == env.all_goals()
    other = build_game(0, 3, 6, 3, tmp_path)  # a fresh cache: the same game, byte for byte
    assert (other / "game.z8").read_bytes() == (env.dirs[0] / "game.z8").read_bytes()
    assert (other / "game.json").read_text() == (env.dirs[0] / "game.json").read_text()


def test_take_makes_you_carry_it_in_that_step_and_rewards_the_pursued_goal(env):
    seed, take = _seed_with_take(env)
    thing = take[len("take "):]
    goal = f"you carry the {thing}"
    assert goal in env.all_goals()
    obs, info = env.reset(seed=seed, options={"goal": goal})  # the only game with the goal: the same start
    assert env.goal == goal and info["achieved_goals"] == frozenset() and goal not in obs.lower()
    assert take in info["admissible_actions"]
    assert info["admissible_actions"] == sorted(info["admissible_actions"])
    assert not any(a.startswith(("look", "inventory", "examine")) for a in info["admissible_actions"])
    obs, r, term, trunc, info = env.step(take)
    assert goal in info["achieved_goals"] and r == 1.0 and term and not trunc
    assert "You are carrying" in obs and thing in obs and goal not in obs.lower()
    with pytest.raises(TextEnvError, match="after the episode ended"):
        env.step(take)


def test_a_fact_is_achieved_in_the_step_it_becomes_true_whatever_the_goal(env):
    seed, take = _seed_with_take(env)
    thing = take[len("take "):]
    game = env.game
    goal = next(g for g in env.game_goals[game] if g.startswith("the player is in") and _only_in_one_game(env, g))
    _, info = env.reset(seed=seed, options={"goal": goal})  # a goal no take/drop achieves
    assert env.game == game and take in info["admissible_actions"]
    _, r, term, _, info = env.step(take)
    assert f"you carry the {thing}" in info["achieved_goals"] and r == 0.0 and not term
    drop = f"drop {thing}"
    assert drop in info["admissible_actions"]
    _, _, _, _, info = env.step(drop)
    assert f"you carry the {thing}" not in info["achieved_goals"]
    assert any(g.startswith(f"the {thing} is in the ") for g in info["achieved_goals"])  # back on the floor
    _, _, _, _, info = env.step(take)
    assert info["achieved_goals"] == {f"you carry the {thing}"}  # true again; the room did not change: not achieved


def test_seeded_resets_and_episodes_are_deterministic(cache):
    a, b = TextWorldText(cache_dir=cache), TextWorldText(cache_dir=cache)
    oa, ia = a.reset(seed=7)
    ob, ib = b.reset(seed=7)
    assert oa == ob and a.goal == b.goal and a.game == b.game and ia["admissible_actions"] == ib["admissible_actions"]
    rng = random.Random(3)
    for _ in range(15):
        act = rng.choice(ia["admissible_actions"])
        sa, sb = a.step(act), b.step(act)
        assert sa[0] == sb[0] and sa[4]["achieved_goals"] == sb[4]["achieved_goals"]
        ia = sa[4]
        if sa[2] or sa[3]:
            break
    assert a.reset(seed=7)[0] == oa  # the same seed replays the episode from the same start


def test_observations_never_contain_a_goal_and_episodes_truncate(env):
    rng = random.Random(0)
    goals = [g.lower() for g in env.all_goals()]
    for ep in range(3):
        obs, info = env.reset(seed=50 + ep)
        steps = 0
        while True:
            low = obs.lower()
            assert not [g for g in goals if g in low], obs
            assert "0/" not in obs and ">" not in obs  # no prompt or status bar
            obs, r, term, trunc, info = env.step(rng.choice(info["admissible_actions"]))
            steps += 1
            if term or trunc:
                break
        assert steps <= env.max_steps and (term or steps == env.max_steps)


def test_vocabulary_covers_the_emitted_words(env):
    from autotelic.vocab import split_words
    vocab, rng = set(env.vocabulary()), random.Random(1)
    words = [w for g in env.all_goals() for w in split_words(g)]
    for ep in range(2):
        obs, info = env.reset(seed=ep)
        while True:
            words += split_words(obs) + [w for a in info["admissible_actions"] for w in split_words(a)]
            obs, _, term, trunc, info = env.step(rng.choice(info["admissible_actions"]))
            if term or trunc:
                break
    unknown = [w for w in words if w not in vocab]
    assert len(unknown) <= 0.02 * len(words), sorted(set(unknown))


def test_bad_input_is_named(env):
    with pytest.raises(TextEnvError, match="unknown goal 'fly to the moon'"):
        env.reset(options={"goal": "fly to the moon"})
    with pytest.raises(TextEnvError, match="no fact these games can make true"):
        env.reset(options={"goal": "you carry the unicorn"})
    with pytest.raises(TextEnvError, match="unknown reset option"):
        env.reset(options={"level": 3})
    env.reset(seed=0)
    with pytest.raises(TextEnvError, match="'jump' is not admissible"):
        env.step("jump")
    with pytest.raises(TextEnvError, match="no fact"):
        env.goal_family("you carry the unicorn")
    with pytest.raises(ValueError, match="max_steps must be >= 1"):
        TextWorldText(max_steps=0)
    with pytest.raises(ValueError, match="unknown split"):
        env.all_goals("dev")


def test_shipped_config_builds_the_env(cache):
    from pathlib import Path

    from autotelic.config import load_config
    from autotelic.schema import TrainConfig
    from autotelic.workers import make_env

    cfg = load_config(TrainConfig, str(Path(__file__).resolve().parent.parent / "configs" / "textworld.yaml"),
                      [f"env.kwargs.cache_dir={cache}"])
    env = make_env(cfg.env)
    base = getattr(env, "unwrapped", env)
    assert base.max_steps == 25 and base.n_games == 2 and cfg.her.gamma == 0.9
    obs, info = base.reset(seed=0)
    assert obs and info["admissible_actions"]
