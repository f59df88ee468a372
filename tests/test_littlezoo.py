"""Little-Zoo goal spaces: family counts, held-out kinds, scene goals that reset to their scene, achieved goals that
stay inside the space, and goal families (impossible included)."""
from __future__ import annotations

from collections import Counter

import pytest

from autotelic.envs.littlezoo import (BASE_COUNTS, SCALES, TEST_COUNTS, build_goal_space, parse_scene_goal,
                                      scene_goal_text)
from autotelic.envs.playground import CATEGORY_OF, PlaygroundText, bfs_plan, kinds


@pytest.mark.parametrize("name", sorted(SCALES))
def test_family_counts_scale(name):
    space = build_goal_space(name, "train")
    want = {f: c * SCALES[name] for f, c in BASE_COUNTS.items()}
    assert Counter(g.family for g in space) == want
    assert len({g.text for g in space}) == len(space)  # every goal text is distinct
    train = set(kinds("train")) | {"water"}
    assert all(set(g.scene) <= train and len(g.scene) == 4 for g in space)


def test_test_split_uses_held_out_kinds_only():
    space = build_goal_space("littlezoo-25k", "test")
    assert Counter(g.family for g in space) == {f: c for f, c in TEST_COUNTS.items() if c}
    held = set(kinds("test")) | {"water"}
    assert all(set(g.scene) <= held for g in space)
    assert all(CATEGORY_OF[g.instruction.split(" ", 1)[1]] for g in space)


def test_scene_goals_reset_to_their_scene_and_achieve_goals_of_the_space():
    env = PlaygroundText(goal_space="littlezoo-25k")
    space = set(env.all_goals())
    fams = Counter()
    for goal in env.all_goals()[:400]:
        obs, info = env.reset(options={"goal": goal})
        instruction, scene = parse_scene_goal(goal)
        assert tuple(t.kind for t in env.state.floor) == scene
        assert scene_goal_text(instruction, scene) == goal
        fam = env.goal_family(goal)
        fams[fam] += 1
        plan = bfs_plan(env.state, instruction, env.horizon)
        assert (plan is not None) == (fam != "impossible") == env.feasible, goal
        for a in plan or []:
            obs, r, term, trunc, info = env.step(a)
            assert info["achieved_goals"] <= space  # what a scene of the space allows is a goal of the space
        if plan:
            assert term and r == 1.0 and goal in info["achieved_goals"]
    assert fams["impossible"] > 0 and fams["grasp"] > 0
    assert "with" in env.vocabulary()
    assert len(env.all_goals("test")) == sum(TEST_COUNTS.values())


def test_goal_family_of_plain_and_scene_goals():
    env = PlaygroundText(impossible_fraction=0.5, impossible_seed=1)
    some_impossible = sorted(env.impossible_goals)[0]
    assert env.goal_family(some_impossible) == "impossible"
    assert env.goal_family("Grow carrot") in ("plant", "impossible")
    assert env.goal_family("Grow cow with baby cow, carrot seed, water, sofa") == "herbivore"
    assert env.goal_family("Grow cow with baby cow, water, sofa, chair") == "impossible"  # no plant to feed it
    assert "with" not in PlaygroundText().vocabulary()  # the default env's tokenizer is unchanged
    with pytest.raises(ValueError, match="unknown goal space"):
        PlaygroundText(goal_space="littlezoo-1k")
    with pytest.raises(ValueError, match="exclude"):
        PlaygroundText(goal_space="littlezoo-25k", impossible_fraction=0.8)
