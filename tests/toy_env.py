"""A tiny multi-goal text env for learning tests, plus lockstep collection and greedy evaluation helpers.

``ToyGraspEnv``: the agent stands in the middle of a room with N objects; actions "go to X" (any object but the
one it is at), "grasp" (at an object, hands empty) and "release" (holding). Goals "grasp X" are achieved while
holding X; the horizon is 3 (optimal: 2 steps). A uniformly random policy rarely achieves the pursued goal (~5%
with 6 objects) but often grasps *something*, which hindsight relabelling turns into signal.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Sequence

import numpy as np
import torch

from autotelic.envs.base import TextEnv, TextEnvError
from autotelic.episode import Episode
from autotelic.evaluate import evaluate_goals

OBJECTS = ("apple", "ball", "cup", "key", "lamp", "book", "pen", "hat", "shoe", "box", "bell", "coin")


class ToyGraspEnv(TextEnv):
    def __init__(self, objects: Sequence[str] = OBJECTS, horizon: int = 3) -> None:
        self.objects = tuple(objects)
        self.horizon = horizon
        self.goals = tuple(f"grasp {o}" for o in self.objects)
        self._rng = random.Random(0)
        self.at: str | None = None
        self.holding: str | None = None
        self.t = 0

    def vocabulary(self) -> list[str]:
        return ["go", "to", "grasp", "release", "you", "are", "at", "the", "middle", "hold", "nothing", "."] + \
            list(self.objects)

    def _obs(self) -> str:
        at = f"the {self.at}" if self.at else "the middle"
        return f"you are at {at} . you hold {self.holding or 'nothing'} ."

    def admissible(self) -> list[str]:
        acts = [f"go to {o}" for o in self.objects if o != self.at]
        if self.holding:
            acts.append("release")
        elif self.at:
            acts.append("grasp")
        return acts

    def achieved(self) -> frozenset[str]:
        return frozenset({f"grasp {self.holding}"}) if self.holding else frozenset()

    def _info(self) -> dict[str, Any]:
        return {"admissible_actions": self.admissible(), "achieved_goals": self.achieved()}

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        if seed is not None:
            self._rng = random.Random(seed)
        goal = (options or {}).get("goal")
        if goal is None:
            goal = self._rng.choice(self.goals)
        if goal not in self.goals:
            raise TextEnvError(f"unknown goal {goal!r}")
        self.goal, self.at, self.holding, self.t = goal, None, None, 0
        return self._obs(), self._info()

    def step(self, action: str):
        if action not in self.admissible():
            raise TextEnvError(f"action {action!r} not admissible: {self.admissible()}")
        if action.startswith("go to "):
            self.at = action[len("go to "):]
        elif action == "grasp":
            self.holding = self.at
        else:
            self.holding = None
        self.t += 1
        info = self._info()
        reward, terminated = self.compute_reward(self.goal, info["achieved_goals"])
        truncated = not terminated and self.t >= self.horizon
        return self._obs(), reward, terminated, truncated, info


ActFn = Callable[[list[str], list[list[str]]], list[int]]


def collect(envs: list[ToyGraspEnv], act: ActFn, prompt_fn: Callable[[str, str], str], goals: list[str]
            ) -> list[Episode]:
    """One episode per env (env i pursues goals[i]), stepped in lockstep with one batched ``act`` per step."""
    eps, live = [], []
    for env, g in zip(envs, goals):
        obs, info = env.reset(options={"goal": g})
        eps.append(Episode(goal=g, observations=[obs], admissible=[tuple(info["admissible_actions"])]))
        live.append(True)
    while any(live):
        idx = [i for i, l in enumerate(live) if l]
        choice = act([prompt_fn(eps[i].goal, eps[i].observations[-1]) for i in idx],
                     [list(eps[i].admissible[-1]) for i in idx])
        for i, a in zip(idx, choice):
            ep = eps[i]
            obs, r, term, trunc, info = envs[i].step(ep.admissible[-1][a])
            ep.actions.append(int(a))
            ep.rewards.append(float(r))
            ep.achieved.append(info["achieved_goals"])
            ep.observations.append(obs)
            ep.admissible.append(tuple(info["admissible_actions"]))
            if term or trunc:
                ep.terminated, ep.truncated = term, trunc and not term
                live[i] = False
    return eps


def random_act(rng: np.random.Generator) -> ActFn:
    return lambda prompts, cands: [int(rng.integers(len(c))) for c in cands]


def policy_act(policy: Any, greedy: bool, generator: torch.Generator | None = None) -> ActFn:
    return lambda prompts, cands: policy.act(prompts, cands, greedy=greedy, generator=generator)


def success_rate(envs: list[ToyGraspEnv], act: ActFn, prompt_fn: Callable[[str, str], str], repeats: int = 1
                 ) -> float:
    """Mean success over every goal of the env, ``repeats`` episodes each (the loop's own greedy evaluation)."""
    per_goal = evaluate_goals(envs, act, prompt_fn, envs[0].goals, repeats=repeats)
    return float(np.mean(list(per_goal.values())))


def optimal_q(env: ToyGraspEnv, goal: str, gamma: float) -> dict[tuple[str | None, str | None], dict[str, float]]:
    """Q*(s, a) for ``goal`` over every state (at, holding), ignoring the time limit (value iteration)."""
    places = [None, *env.objects]
    states = [(at, h) for at in places for h in places if at is not None or h is None]

    def step(at, h, a):
        if a.startswith("go to "):
            return a[len("go to "):], h
        return (at, at) if a == "grasp" else (at, None)

    def actions(at, h):
        env.at, env.holding = at, h
        return env.admissible()

    v = {s: 0.0 for s in states}
    for _ in range(50):
        q = {}
        for at, h in states:
            q[(at, h)] = {}
            for a in actions(at, h):
                nxt = step(at, h, a)
                hit = nxt[1] is not None and f"grasp {nxt[1]}" == goal
                q[(at, h)][a] = 1.0 if hit else gamma * v[nxt]
        v = {s: max(q[s].values()) for s in states}
    return q


def state_obs(env: ToyGraspEnv, at: str | None, holding: str | None) -> str:
    env.at, env.holding = at, holding
    return env._obs()
