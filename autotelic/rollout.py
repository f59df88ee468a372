"""Step n text envs in lockstep with one batched policy call per step, and return the episodes that finish."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .envs.base import default_compute_reward
from .episode import Episode, stitch

PromptFn = Callable[[str, str], str]
ActFn = Callable[[list[str], list[list[str]]], list[int]]  # may return ``policy.Actions`` (indices + ``logp``)
GoalsFn = Callable[[Sequence[int]], Sequence["str | None"]]
ProposeFn = Callable[[Sequence[Episode]], Sequence["str | None"]]  # a first goal to chain to after each success
CHAIN_TRIES = 8  # goals drawn per chaining attempt before a reset (the first is the one a reset would pursue)


@dataclass
class _Slot:
    """The episode in progress in one env."""

    episode: Episode
    seed: int
    requested: str | None  # the goal passed to reset or chain (None: the env chose ``episode.goal`` itself)
    info: dict[str, Any] = field(default_factory=dict)
    history: list[Episode] = field(default_factory=list)  # the earlier (chained-from) goals of this env episode
    origin: str | None = None  # the goal passed to the env episode's reset (``requested`` of its first goal)


def _base(env: Any) -> Any:
    return getattr(env, "unwrapped", env)


def _chain_fn(env: Any) -> Callable[[str], "tuple[str, dict] | None"] | None:
    """The env's optional ``chain(goal)`` (the text-env protocol's goal chaining), or None."""
    return getattr(_base(env), "chain", None)


def _env_goal(env: Any) -> str:
    goal = getattr(_base(env), "goal", None)
    if not isinstance(goal, str):
        raise ValueError(f"{type(env).__name__} must set env.goal on reset (the text-env protocol)")
    return goal


class Rollout:
    """Lockstep rollout over ``envs``: ``step(act)`` advances every env by one action and returns finished episodes.

    ``next_goals(indices)`` gives the goals the envs ``indices`` pursue next, asked once per step for every env that
    resets in it (None lets the env choose, e.g. while the graph is empty). Every reset is seeded from the
    rollout's own generator (seeded by ``seed``), so an episode in progress is fully described by (reset seed,
    goal, actions): ``state_dict`` saves that and ``load_state_dict`` replays it, which makes resuming exact for
    any env whose reset(seed) and step are deterministic.

    Goal chaining (``chain_goals`` > 0, envs with ``chain(goal)``): after an episode that achieved its goal, the
    env's next goal is pursued from the state reached instead of a reset (Go-Explore's "return, then explore": a
    stepping stone's end state is where the goals that need it are closest), at most ``chain_goals`` times in a
    row. Each goal is its own ``Episode``, whose ``prior`` holds the goals achieved earlier in the same env
    episode; where the env refuses (``chain`` returns None: the goal already holds, or cannot be reached from
    there), up to ``CHAIN_TRIES`` − 1 more goals are drawn from ``next_goals`` (so the chained goal follows the
    curriculum's distribution restricted to goals reachable from that state) before the env resets with the first
    goal drawn. An episode in progress is then (reset seed, the earlier goals with their actions, goal, actions).
    With ``stitch_chains``, each chain that ends in a success is also kept as one episode from the reset
    (``take_stitched``). ``propose_chain`` (optional) names, for each such success, a goal to try before those draws
    (None: no proposal).
    """

    def __init__(self, envs: Sequence[Any], prompt_fn: PromptFn, next_goals: GoalsFn, seed: int = 0,
                 chain_goals: int = 0, stitch_chains: bool = False, propose_chain: ProposeFn | None = None):
        if not envs:
            raise ValueError("Rollout needs at least one env")
        if chain_goals < 0:
            raise ValueError(f"chain_goals must be >= 0, got {chain_goals}")
        if chain_goals and _chain_fn(envs[0]) is None:
            raise ValueError(f"goal chaining needs envs with chain(goal); {type(envs[0]).__name__} has none "
                             f"(set loop.chain_goals=0)")
        self.envs, self.prompt_fn, self.next_goals = list(envs), prompt_fn, next_goals
        self.chain_goals, self.stitch_chains = int(chain_goals), bool(stitch_chains)
        self.propose_chain = propose_chain
        self._stitched: list[Episode] = []
        self.rng = np.random.default_rng(seed)
        self.slots: list[_Slot] = []
        self.slots = [self._reset(i, g, s) for i, g, s in zip(*self._draw(range(len(self.envs))))]
        self.env_steps = 0

    def _draw(self, indices: Sequence[int]) -> tuple[list[int], list[str | None], list[int]]:
        """(indices, their next goals from one ``next_goals`` call, fresh reset seeds drawn in order)."""
        indices = list(indices)
        seeds = [int(self.rng.integers(2**31 - 1)) for _ in indices]
        goals = list(self.next_goals(indices)) if indices else []
        if len(goals) != len(indices):
            raise ValueError(f"next_goals returned {len(goals)} goals for {len(indices)} envs")
        return indices, goals, seeds

    def _chainable(self, i: int, ended: Episode) -> bool:
        """Whether env i's just-finished episode may be followed by a chained goal (a success, budget left)."""
        return ended.success and len(self.slots[i].history) < self.chain_goals

    def _chain(self, i: int, ended: Episode, goal: str | None) -> _Slot | None:
        """The slot pursuing ``goal`` from where ``ended`` (env i's episode that just finished) left off, or None
        when chaining does not apply (off, budget spent, no success, no goal, or the env refuses)."""
        slot = self.slots[i]
        if goal is None or not self._chainable(i, ended):
            return None
        started = _chain_fn(self.envs[i])(goal)  # type: ignore[misc]
        if started is None:
            return None
        obs, info = started
        actions = tuple(info["admissible_actions"])
        if not actions:
            raise ValueError(f"env {i} offered no admissible action when chaining to {goal!r}")
        prior = ended.prior | ended.achieved_goals()
        return _Slot(Episode(goal=goal, observations=[obs], admissible=[actions], prior=prior), slot.seed, goal,
                     info, [*slot.history, ended], slot.origin)

    def take_stitched(self) -> list[Episode]:
        """The chains that ended in a success since the last call, each as one episode from its env's reset
        pursuing the goal achieved last (``episode.stitch``): off-policy data for the whole way to a deep goal."""
        out, self._stitched = self._stitched, []
        return out

    def _reset(self, i: int, goal: str | None, seed: int) -> _Slot:
        obs, info = self.envs[i].reset(seed=seed, options=None if goal is None else {"goal": goal})
        pursued = _env_goal(self.envs[i]) if goal is None else goal
        actions = tuple(info["admissible_actions"])
        if not actions:
            raise ValueError(f"env {i} offered no admissible action at reset (goal {pursued!r})")
        return _Slot(Episode(goal=pursued, observations=[obs], admissible=[actions]), seed, goal, info, origin=goal)

    def state_dict(self) -> dict[str, Any]:
        """The generator state and, per env, the (seed, goal, actions, behaviour log-probs) of the episode in
        progress."""
        return {"rng": self.rng.bit_generator.state, "env_steps": self.env_steps,
                "slots": [{"seed": s.seed, "goal": s.requested, "actions": list(s.episode.actions),
                           "logps": list(s.episode.logps), "segments": self._segments(s)} for s in self.slots]}

    @staticmethod
    def _segments(slot: _Slot) -> list[dict[str, Any]]:
        """The earlier goals of the slot's env episode as (goal passed to reset or chain, actions)."""
        goals = [slot.origin] + [ep.goal for ep in slot.history[1:]]
        return [{"goal": g, "actions": [int(a) for a in ep.actions]} for g, ep in zip(goals, slot.history)]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Rebuild every episode in progress by resetting with its seed and first goal and replaying its actions
        (chaining to each later goal in turn)."""
        if len(state["slots"]) != len(self.envs):
            raise ValueError(f"rollout state has {len(state['slots'])} envs, this rollout has {len(self.envs)}")
        self.rng.bit_generator.state = state["rng"]
        self.env_steps = int(state["env_steps"])
        for i, saved in enumerate(state["slots"]):
            segments = list(saved.get("segments", []))
            goals = [seg["goal"] for seg in segments[1:]] + [saved["goal"]]
            self.slots[i] = self._reset(i, goal=segments[0]["goal"] if segments else saved["goal"],
                                        seed=int(saved["seed"]))
            for seg, goal in zip(segments, goals):
                ended = None
                for a in seg["actions"]:
                    ended = self._advance(i, int(a))
                slot = self._chain(i, ended, goal) if ended is not None else None
                if slot is None:
                    raise ValueError(f"rollout state of env {i} does not replay: chaining to {goal!r} failed")
                self.slots[i] = slot
            logps = saved.get("logps") or [None] * len(saved["actions"])
            for a, lp in zip(saved["actions"], logps):
                self._advance(i, int(a), lp)

    def _advance(self, i: int, a: int, logp: float | None = None) -> Episode | None:
        """Take action index ``a`` (chosen with log-prob ``logp``, when known) in env i; return the episode if it
        finished (the caller resets the env). An episode keeps log-probs only if every one of its steps has one."""
        ep = self.slots[i].episode
        action = ep.admissible[-1][a]
        obs, reward, terminated, truncated, info = self.envs[i].step(action)
        actions = tuple(info["admissible_actions"])
        if not actions and not (terminated or truncated):
            raise ValueError(f"env {i} offered no admissible action after {action!r}")
        if logp is not None and len(ep.logps) == len(ep.actions):
            ep.logps.append(float(logp))
        else:
            ep.logps.clear()
        ep.actions.append(int(a))
        ep.rewards.append(float(reward))
        ep.achieved.append(frozenset(info["achieved_goals"]))
        ep.observations.append(obs)
        ep.admissible.append(actions)
        if not (terminated or truncated):
            return None
        ep.terminated, ep.truncated = bool(terminated), bool(truncated and not terminated)
        return ep

    def prompts(self) -> tuple[list[str], list[list[str]]]:
        """The current prompt and candidate actions of every env."""
        prompts = [self.prompt_fn(s.episode.goal, s.episode.observations[-1]) for s in self.slots]
        return prompts, [list(s.episode.admissible[-1]) for s in self.slots]

    def step(self, act: ActFn) -> list[Episode]:
        """One batched ``act(prompts, candidates)`` call, one env step each; finished envs are reset."""
        return [ep for _, ep in self.step_indexed(act)]

    def step_indexed(self, act: ActFn) -> list[tuple[int, Episode]]:
        """Like ``step``, with the index of the env each finished episode came from."""
        prompts, candidates = self.prompts()
        choices = act(prompts, candidates)
        logps = getattr(choices, "logp", None) or [None] * len(choices)  # plain indices: no behaviour log-probs
        finished: list[tuple[int, Episode]] = []
        for i, (a, lp) in enumerate(zip(choices, logps)):
            ep = self._advance(i, int(a), lp)
            if ep is not None:
                finished.append((i, ep))
        for i, ep in finished:
            if self.stitch_chains and ep.success and self.slots[i].history:
                reward_fn = getattr(_base(self.envs[i]), "compute_reward", default_compute_reward)
                whole = stitch([*self.slots[i].history, ep], reward_fn)
                if whole is not None:
                    self._stitched.append(whole)
        ended = dict(finished)
        indices, goals, seeds = self._draw([i for i, _ in finished])
        chained: dict[int, _Slot | None] = dict.fromkeys(indices)
        if self.propose_chain is not None:
            successes = [i for i in indices if self._chainable(i, ended[i])]
            proposed = list(self.propose_chain([ended[i] for i in successes])) if successes else []
            if len(proposed) != len(successes):
                raise ValueError(f"propose_chain returned {len(proposed)} goals for {len(successes)} episodes")
            for i, goal in zip(successes, proposed):
                chained[i] = self._chain(i, ended[i], goal)
        chained = {i: chained[i] or self._chain(i, ended[i], goal) for i, goal in zip(indices, goals)}
        retry = [i for i in indices if chained[i] is None and self._chainable(i, ended[i])]
        if retry:  # the curriculum's law given "reachable from here": rejection sampling
            extra = iter(self.next_goals([i for i in retry for _ in range(CHAIN_TRIES - 1)]))
            for i in retry:
                for goal in [next(extra) for _ in range(CHAIN_TRIES - 1)]:
                    chained[i] = chained[i] or self._chain(i, ended[i], goal)
        for i, goal, seed in zip(indices, goals, seeds):
            self.slots[i] = chained[i] or self._reset(i, goal, seed)
        self.env_steps += len(self.slots)
        return finished
