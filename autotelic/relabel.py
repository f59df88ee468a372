"""Hindsight relabelling and n-step returns, computed at sample time so both follow the (possibly new) goal.

A fraction k/(k+1) of sampled transitions gets a goal achieved in the same episode (strategy ``future`` |
``final`` | ``episode`` | ``achieved``); its prompts are rebuilt with ``prompt_fn(goal, observation)`` and its
rewards and terminations recomputed with ``compute_reward(goal, achieved_goals)``, so a relabelled success is
terminal (SB3/TorchRL copy the stored done flag instead: a known bug). A truncation is never terminal; a
termination that is not the pursued goal's success (Crafter's death) ends the episode for every goal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from .envs.base import default_compute_reward
from .episode import Episode
from .replay import EpisodeReplay

PromptFn = Callable[[str, str], str]
RewardFn = Callable[[str, Iterable[str]], "tuple[float, bool]"]
STRATEGIES = ("future", "final", "episode", "achieved")  # the one list of HER strategy names (the schema reads it)


@dataclass
class TransitionBatch:
    """A batch of n-step transitions: y = returns + discounts · V(next state); discounts = γ^m·(1 − terminated)."""

    prompts: list[str]
    candidates: list[list[str]]
    actions: Tensor          # [B] long, index into candidates[b]
    returns: Tensor          # [B] float, R = Σ_{i<m} γ^i r_{t+i}
    discounts: Tensor        # [B] float, γ^m (1 − terminated)
    next_prompts: list[str]
    next_candidates: list[list[str]]
    relabelled: Tensor       # [B] bool, goal differs from the pursued one
    terminated: Tensor       # [B] bool, the sampled goal was achieved (terminal) within the m steps
    steps: Tensor            # [B] long, m
    goals: list[str]

    def __len__(self) -> int:
        return len(self.prompts)


@dataclass
class NStep:
    """n-step outcome of transition t for one goal."""

    ret: float        # Σ_{i<m} γ^i r_{t+i}
    steps: int        # m
    terminated: bool  # goal achieved (terminal) at step t+m−1
    discount: float   # γ^m (1 − terminated)


def nstep_return(episode: Episode, t: int, goal: str, n: int, gamma: float,
                 compute_reward: RewardFn = default_compute_reward) -> NStep:
    """n-step return from step ``t`` of ``episode`` for ``goal``, stopping at its first terminal step or the end.

    For the pursued goal the stored rewards and the episode's own termination are used; for any other goal they
    are recomputed with ``compute_reward(goal, episode.achieved[t+i])``. Reaching the end of an episode without a
    terminal step for ``goal`` (a timeout, or a termination on another goal's success) bootstraps from state t+m;
    an episode that terminated without success (death) is terminal at its last step for every goal.
    """
    T = len(episode)
    if not 0 <= t < T:
        raise ValueError(f"step {t} outside an episode of {T} steps")
    if n < 1:
        raise ValueError(f"n-step must be >= 1, got {n}")
    own = goal == episode.goal
    dead_end = episode.terminated and not episode.success  # goal-independent: no state after it to bootstrap from
    ret, m, term = 0.0, 0, False
    for i in range(min(n, T - t)):
        if own:
            r = float(episode.rewards[t + i])
            term = episode.terminated and t + i == T - 1
        else:
            r, term = compute_reward(goal, episode.achieved[t + i])
            r, term = float(r), bool(term) or (dead_end and t + i == T - 1)
        ret += gamma ** i * r
        m = i + 1
        if term:
            break
    return NStep(ret=ret, steps=m, terminated=term, discount=0.0 if term else gamma ** m)


def _pick(goals: Iterable[str], rng: np.random.Generator) -> str | None:
    pool = sorted(goals)
    return pool[int(rng.integers(len(pool)))] if pool else None


def _union(sets: Sequence[frozenset[str]]) -> frozenset[str]:
    return frozenset().union(*sets) if sets else frozenset()


def select_goal(episode: Episode, t: int, strategy: str, rng: np.random.Generator) -> str | None:
    """A hindsight goal for step ``t``, or None when the strategy finds none.

    ``future``: a step t' ~ U{t..T−1}, then a goal of ``achieved[t']`` (falls back to any goal achieved at/after
    t when that set is empty); ``final``: a goal of ``achieved[T−1]``; ``episode``: a step t' ~ U{0..T−1}, then a
    goal of ``achieved[t']`` (fallback: any step's); ``achieved``: uniform over the distinct goals achieved anywhere
    in the episode.
    """
    T = len(episode)
    if not 0 <= t < T:
        raise ValueError(f"step {t} outside an episode of {T} steps")
    ach = episode.achieved
    if strategy == "future":
        g = _pick(ach[int(rng.integers(t, T))], rng)
        return g if g is not None else _pick(_union(ach[t:]), rng)
    if strategy == "final":
        return _pick(ach[T - 1], rng)
    if strategy == "episode":
        g = _pick(ach[int(rng.integers(0, T))], rng)
        return g if g is not None else _pick(_union(ach), rng)
    if strategy == "achieved":
        return _pick(_union(ach), rng)
    raise ValueError(f"unknown relabelling strategy {strategy!r}; expected one of {STRATEGIES}")


class HindsightRelabeller:
    """Samples relabelled n-step transition batches from an ``EpisodeReplay``.

    ``k`` relabelled per original transition (fraction k/(k+1); k=0 disables HER); ``n_step`` and ``gamma`` define
    the returns.
    """

    def __init__(self, prompt_fn: PromptFn, compute_reward: RewardFn = default_compute_reward, *,
                 strategy: str = "future", k: float = 4, n_step: int = 3, gamma: float = 0.99) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown relabelling strategy {strategy!r}; expected one of {STRATEGIES}")
        if k < 0:
            raise ValueError(f"HER k must be >= 0, got {k}")
        if n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {n_step}")
        if not 0.0 < gamma <= 1.0:  # the same range as the config schema's her.gamma
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        self.prompt_fn, self.compute_reward = prompt_fn, compute_reward
        self.strategy, self.k, self.n_step, self.gamma = strategy, k, n_step, gamma

    @property
    def relabel_fraction(self) -> float:
        return self.k / (self.k + 1.0)

    def sample(self, replay: EpisodeReplay, batch_size: int, rng: np.random.Generator) -> TransitionBatch:
        """Draw ``batch_size`` transitions; round(B·k/(k+1)) of them (random rows) get a hindsight goal when one exists."""
        idx = replay.sample(batch_size, rng)
        n_relabel = int(round(batch_size * self.relabel_fraction))
        chosen = set(rng.permutation(batch_size)[:n_relabel].tolist()) if n_relabel else set()
        items: list[tuple[Episode, int, str]] = []
        for row, (e, t) in enumerate(idx):
            ep = replay[e]
            goal = ep.goal
            if row in chosen:
                g = select_goal(ep, t, self.strategy, rng)
                goal = g if g is not None else goal
            items.append((ep, t, goal))
        return self.build(items)

    def build(self, items: Sequence[tuple[Episode, int, str]]) -> TransitionBatch:
        """Assemble a batch from ``(episode, t, goal)`` triples (goal may differ from ``episode.goal``)."""
        if not items:
            raise ValueError("cannot build an empty transition batch")
        prompts, cands, nprompts, ncands, goals = [], [], [], [], []
        actions, rets, discs, relab, terms, steps = [], [], [], [], [], []
        for ep, t, goal in items:
            ns = nstep_return(ep, t, goal, self.n_step, self.gamma, self.compute_reward)
            if not ep.admissible[t + ns.steps]:  # no action possible: no future reward, V(s') = 0
                ns.discount = 0.0
            prompts.append(self.prompt_fn(goal, ep.observations[t]))
            cands.append(list(ep.admissible[t]))
            nprompts.append(self.prompt_fn(goal, ep.observations[t + ns.steps]))
            ncands.append(list(ep.admissible[t + ns.steps]))
            goals.append(goal)
            actions.append(ep.actions[t])
            rets.append(ns.ret)
            discs.append(ns.discount)
            relab.append(goal != ep.goal)
            terms.append(ns.terminated)
            steps.append(ns.steps)
        return TransitionBatch(
            prompts=prompts, candidates=cands, actions=torch.tensor(actions, dtype=torch.long),
            returns=torch.tensor(rets, dtype=torch.float32), discounts=torch.tensor(discs, dtype=torch.float32),
            next_prompts=nprompts, next_candidates=ncands, relabelled=torch.tensor(relab, dtype=torch.bool),
            terminated=torch.tensor(terms, dtype=torch.bool), steps=torch.tensor(steps, dtype=torch.long),
            goals=goals)
