"""check_text_env names what breaks hindsight relabelling and evaluation: each broken toy env fails one rule."""
import pytest

from autotelic.envs import ProtocolError, TextEnv, TextEnvError, check_text_env
from autotelic.envs.playground import PlaygroundText

COLOURS = ("red", "green", "blue")
GOALS = [f"light the {c} lamp" for c in COLOURS]


class LampEnv(TextEnv):
    """A correct toy: three lamps, actions "press <colour>", goal "light the <colour> lamp"; horizon 3."""

    def __init__(self) -> None:
        self.goal, self.lit, self.t = None, set(), 0

    def all_goals(self, split=None):
        return list(GOALS)

    def _obs(self) -> str:
        return "lamps on: " + (" ".join(sorted(self.lit)) or "none")

    def _achieved(self) -> frozenset:
        return frozenset(f"light the {c} lamp" for c in self.lit)

    def _info(self) -> dict:
        return {"admissible_actions": [f"press {c}" for c in COLOURS], "achieved_goals": self._achieved()}

    def _accept(self, goal: str) -> None:
        if goal not in GOALS:
            raise TextEnvError(f"unknown goal {goal!r}")

    def reset(self, *, seed=None, options=None):
        goal = (options or {}).get("goal")
        if goal is None:  # the env's own choice: red or green
            goal = GOALS[(seed or 0) % 2]
        else:
            self._accept(goal)
        self.goal, self.lit, self.t = goal, set(), 0
        return self._obs(), self._info()

    def step(self, action):
        self.lit.add(action.split()[1])
        self.t += 1
        info = self._info()
        reward, terminated = self.compute_reward(self.goal, info["achieved_goals"])
        return self._obs(), reward, terminated, not terminated and self.t >= 3, info


class GoalInObservation(LampEnv):
    """Prints "Goal: ..." in every observation."""

    def _obs(self) -> str:
        return f"Goal: {self.goal}. " + super()._obs()


class RefusesAchievedGoal(LampEnv):
    """Reports "light the blue lamp" achieved but will not reset with it as the goal."""

    def _accept(self, goal: str) -> None:
        if goal == "light the blue lamp":
            raise TextEnvError("blue is not a goal here")


class ListsUnproducibleGoal(LampEnv):
    """Lists a purple lamp that no scene holds; reset accepts it and says the scene cannot produce it."""

    def all_goals(self, split=None):
        return super().all_goals() + ["light the purple lamp"]

    def _accept(self, goal: str) -> None:
        pass

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        return obs, {**info, "feasible": self.goal != "light the purple lamp"}


class ListsUnknownGoal(LampEnv):
    """all_goals lists a goal that reset refuses."""

    def all_goals(self, split=None):
        return super().all_goals() + ["light the purple lamp"]


class EnvGoalIgnoresOption(LampEnv):
    """reset accepts options['goal'] but pursues another goal."""

    def reset(self, *, seed=None, options=None):
        return super().reset(seed=seed)


def test_correct_toy_and_shipped_envs_pass():
    check_text_env(LampEnv())
    check_text_env(PlaygroundText(), episodes=5)


def test_goal_text_in_observation_is_named():
    with pytest.raises(ProtocolError, match=r"reset: the observation contains the goal text 'light the red lamp'"):
        check_text_env(GoalInObservation())
    with pytest.raises(ProtocolError, match="observation contains the goal text 'Grasp"):
        check_text_env(PlaygroundText(goal_in_observation=True))


def test_achieved_goal_that_reset_refuses_is_named():
    with pytest.raises(ProtocolError, match=r"reported 'light the blue lamp' in info\['achieved_goals'\].*"
                                            r"reset\(options=\{'goal': 'light the blue lamp'\}\) raised TextEnvError"):
        check_text_env(RefusesAchievedGoal(), episodes=6)


def test_listed_goal_no_scene_can_produce_is_named():
    with pytest.raises(ProtocolError, match=r"all_goals\(\) lists 'light the purple lamp' but no scene can produce"):
        check_text_env(ListsUnproducibleGoal())
    with pytest.raises(ProtocolError, match=r"all_goals\(\) lists 'light the purple lamp', but reset.*raised"):
        check_text_env(ListsUnknownGoal())


def test_reset_must_pursue_the_goal_it_was_given():
    with pytest.raises(ProtocolError, match="env.goal is 'light the red lamp', not the goal it was given"):
        check_text_env(EnvGoalIgnoresOption())


def test_playground_with_impossible_goals_listed_fails_the_feasibility_rule():
    # MAGELLAN's setting deliberately lists goals no scene can produce: the checker says so
    with pytest.raises(ProtocolError, match="no scene can produce it"):
        check_text_env(PlaygroundText(impossible_fraction=0.5))
