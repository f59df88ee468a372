"""Records of what happened in an env: one finished episode, the unit that flows to graph, curriculum and replay."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence


@dataclass
class Episode:
    """One episode pursuing ``goal``, with T steps.

    ``observations`` and ``admissible`` have T+1 entries (the last one is the state after the final step, needed to
    bootstrap through a truncation); ``actions``, ``rewards`` and ``achieved`` have T entries, ``achieved[t]`` being
    the env's ``achieved_goals`` after step t. Observations never contain the goal: prompts are built from
    (goal, observation) so that hindsight relabelling can swap the goal. ``logps`` is empty or has T entries:
    log π_b(a_t|s_t) of each action under the policy that chose it (PPO's "old" log-prob). ``prior``: the goals
    achieved earlier in the same env episode, when this goal was chained from another's success (``Rollout``).
    """

    goal: str
    observations: list[str] = field(default_factory=list)
    admissible: list[tuple[str, ...]] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    achieved: list[frozenset[str]] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False
    logps: list[float] = field(default_factory=list)
    prior: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def success(self) -> bool:
        """True when the pursued goal was achieved (the env terminated on it)."""
        return self.terminated and bool(self.rewards) and self.rewards[-1] > 0

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    def achieved_goals(self) -> frozenset[str]:
        """Every goal achieved at some step of the episode."""
        out: frozenset[str] = frozenset()
        for a in self.achieved:
            out = out | a
        return out

    def first_achieved(self) -> dict[str, int]:
        """Goal -> first step index at which it was achieved (in order of discovery)."""
        first: dict[str, int] = {}
        for t, goals in enumerate(self.achieved):
            for g in sorted(goals):
                first.setdefault(g, t)
        return first

    def validate(self) -> None:
        """Raise ValueError when the lengths do not match the contract above."""
        T = len(self.actions)
        if len(self.observations) != T + 1 or len(self.admissible) != T + 1:
            raise ValueError(f"episode needs T+1={T + 1} observations/admissible sets, got "
                             f"{len(self.observations)}/{len(self.admissible)}")
        if len(self.rewards) != T or len(self.achieved) != T:
            raise ValueError(f"episode needs T={T} rewards and achieved sets")
        if len(self.logps) not in (0, T):
            raise ValueError(f"episode needs 0 or T={T} behaviour log-probs, got {len(self.logps)}")
        for t, (a, acts) in enumerate(zip(self.actions, self.admissible)):
            if not 0 <= a < len(acts):
                raise ValueError(f"step {t}: action index {a} outside {len(acts)} admissible actions")

    def to_dict(self) -> dict:
        """Plain python types only (lists, str, numbers), safe for ``torch.load(weights_only=True)``."""
        return {"goal": self.goal, "observations": list(self.observations),
                "admissible": [list(a) for a in self.admissible], "actions": [int(a) for a in self.actions],
                "rewards": [float(r) for r in self.rewards], "achieved": [sorted(a) for a in self.achieved],
                "terminated": bool(self.terminated), "truncated": bool(self.truncated),
                "logps": [float(x) for x in self.logps], "prior": sorted(self.prior)}

    @classmethod
    def from_dict(cls, d: dict) -> "Episode":
        """Inverse of ``to_dict``."""
        return cls(goal=d["goal"], observations=list(d["observations"]),
                   admissible=[tuple(a) for a in d["admissible"]], actions=list(d["actions"]),
                   rewards=list(d["rewards"]), achieved=[frozenset(a) for a in d["achieved"]],
                   terminated=bool(d["terminated"]), truncated=bool(d["truncated"]),
                   logps=[float(x) for x in d.get("logps", [])], prior=frozenset(d.get("prior", ())))


def stitch(segments: Sequence[Episode], compute_reward: Callable[[str, Iterable[str]], "tuple[float, bool]"]
           ) -> Episode | None:
    """The goals chained in one env episode as one episode from its reset pursuing the last segment's goal (rewards
    of the earlier steps recomputed for it); None when that goal was already achieved in an earlier segment."""
    *before, last = segments
    goal = last.goal
    ep = Episode(goal=goal)
    for seg in before:
        for achieved in seg.achieved:
            r, hit = compute_reward(goal, achieved)
            if hit:
                return None
            ep.rewards.append(float(r))
        ep.observations += seg.observations[:-1]  # its last state is where the next goal started
        ep.admissible += seg.admissible[:-1]
        ep.actions += seg.actions
        ep.achieved += seg.achieved
    ep.observations += last.observations
    ep.admissible += last.admissible
    ep.actions += last.actions
    ep.rewards += last.rewards
    ep.achieved += last.achieved
    ep.terminated, ep.truncated = last.terminated, last.truncated
    return ep
