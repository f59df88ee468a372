"""Episode replay buffer: stores finished episodes whole, bounded in transitions, evicting the oldest episodes.

Relabelling and n-step returns happen at sample time (``autotelic.relabel``), so the buffer keeps episodes, not
transitions. Repeated strings (observations, admissible-action tuples, goal sets) are interned with reference
counts, so memory follows what is stored and nothing is preallocated.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Hashable, Iterator

import numpy as np

from .episode import Episode

_STATE_VERSION = 1


class _Interner:
    """Canonical copies of hashable values with reference counts; a value is dropped when its count reaches 0."""

    def __init__(self) -> None:
        self._pool: dict[Hashable, list] = {}  # value -> [canonical object, refcount]

    def add(self, value: Hashable) -> Any:
        entry = self._pool.get(value)
        if entry is None:
            entry = self._pool[value] = [value, 0]
        entry[1] += 1
        return entry[0]

    def release(self, value: Hashable) -> None:
        entry = self._pool[value]
        entry[1] -= 1
        if entry[1] == 0:
            del self._pool[value]

    def __len__(self) -> int:
        return len(self._pool)


class EpisodeReplay:
    """Finished episodes, at most ``capacity`` transitions in all; adding past capacity evicts whole oldest episodes.

    ``sample(batch_size, rng)`` draws transitions uniformly (with replacement) and returns ``(episode_index, t)``
    pairs; ``self[episode_index]`` is the stored ``Episode`` (index 0 = oldest; indices shift after ``add``).
    """

    def __init__(self, capacity: int) -> None:
        if int(capacity) < 1:
            raise ValueError(f"replay capacity must be >= 1 transition, got {capacity}")
        self.capacity = int(capacity)
        self._episodes: deque[Episode] = deque()
        self._num_transitions = 0
        self._episodes_added = 0
        self._transitions_added = 0
        self._strings = _Interner()  # observations, goals, actions
        self._tuples = _Interner()   # admissible-action tuples
        self._sets = _Interner()     # achieved-goal frozensets
        self._starts: np.ndarray | None = None  # cumulative episode starts, rebuilt lazily

    # ------------------------------------------------------------------ size
    def __len__(self) -> int:
        """Number of stored transitions."""
        return self._num_transitions

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    @property
    def episodes_added(self) -> int:
        """Episodes ever added (including evicted ones)."""
        return self._episodes_added

    @property
    def transitions_added(self) -> int:
        return self._transitions_added

    def __getitem__(self, index: int) -> Episode:
        return self._episodes[index]

    def __iter__(self) -> Iterator[Episode]:
        return iter(self._episodes)

    # ------------------------------------------------------------------ add / evict
    def add(self, episode: Episode) -> None:
        """Store a finished episode (copied with interned strings); evict oldest whole episodes to stay in capacity."""
        if not episode.done:
            raise ValueError("replay only stores finished episodes (terminated or truncated)")
        if len(episode) == 0:
            raise ValueError("cannot store an episode with no steps")
        episode.validate()
        if len(episode) > self.capacity:
            raise ValueError(f"episode of {len(episode)} steps exceeds the replay capacity of {self.capacity}")
        while self._num_transitions + len(episode) > self.capacity:
            self._evict_oldest()
        stored = self._intern(episode)
        self._episodes.append(stored)
        self._num_transitions += len(stored)
        self._episodes_added += 1
        self._transitions_added += len(stored)
        self._starts = None

    def _intern(self, ep: Episode) -> Episode:
        s, tu, se = self._strings.add, self._tuples.add, self._sets.add
        return Episode(
            goal=s(ep.goal),
            observations=[s(o) for o in ep.observations],
            admissible=[tu(tuple(s(a) for a in acts)) for acts in ep.admissible],
            actions=[int(a) for a in ep.actions],
            rewards=[float(r) for r in ep.rewards],
            achieved=[se(frozenset(s(g) for g in goals)) for goals in ep.achieved],
            terminated=bool(ep.terminated),
            truncated=bool(ep.truncated),
        )

    def _evict_oldest(self) -> None:
        ep = self._episodes.popleft()
        self._num_transitions -= len(ep)
        rs = self._strings.release
        rs(ep.goal)
        for o in ep.observations:
            rs(o)
        for acts in ep.admissible:
            for a in acts:
                rs(a)
            self._tuples.release(acts)
        for goals in ep.achieved:
            for g in goals:
                rs(g)
            self._sets.release(goals)
        self._starts = None

    def clear(self) -> None:
        while self._episodes:
            self._evict_oldest()

    # ------------------------------------------------------------------ sample
    def sample(self, batch_size: int, rng: np.random.Generator) -> list[tuple[int, int]]:
        """``batch_size`` transitions drawn uniformly with replacement, as ``(episode_index, t)`` pairs."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if self._num_transitions == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        if self._starts is None:
            self._starts = np.cumsum([0] + [len(e) for e in self._episodes])
        flat = rng.integers(0, self._num_transitions, size=batch_size)
        ep_idx = np.searchsorted(self._starts, flat, side="right") - 1
        ts = flat - self._starts[ep_idx]
        return [(int(i), int(t)) for i, t in zip(ep_idx, ts)]

    # ------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        """Plain python state (dicts, lists, str, int, float, bool): strings are stored once and referenced by index."""
        table: dict[str, int] = {}
        strings: list[str] = []

        def ref(x: str) -> int:
            i = table.get(x)
            if i is None:
                i = table[x] = len(strings)
                strings.append(x)
            return i

        episodes = [{
            "goal": ref(ep.goal),
            "observations": [ref(o) for o in ep.observations],
            "admissible": [[ref(a) for a in acts] for acts in ep.admissible],
            "actions": list(ep.actions),
            "rewards": list(ep.rewards),
            "achieved": [sorted(ref(g) for g in goals) for goals in ep.achieved],
            "terminated": ep.terminated,
            "truncated": ep.truncated,
        } for ep in self._episodes]
        return {"version": _STATE_VERSION, "capacity": self.capacity, "strings": strings, "episodes": episodes,
                "episodes_added": self._episodes_added, "transitions_added": self._transitions_added}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace the contents with ``state``; keeps this buffer's capacity (oldest episodes evicted to fit)."""
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported replay state (version {state.get('version') if isinstance(state, dict) else None})")
        try:
            strings = state["strings"]
            self.clear()
            for rec in state["episodes"]:
                self.add(Episode(
                    goal=strings[rec["goal"]],
                    observations=[strings[i] for i in rec["observations"]],
                    admissible=[tuple(strings[i] for i in acts) for acts in rec["admissible"]],
                    actions=list(rec["actions"]),
                    rewards=list(rec["rewards"]),
                    achieved=[frozenset(strings[i] for i in goals) for goals in rec["achieved"]],
                    terminated=bool(rec["terminated"]),
                    truncated=bool(rec["truncated"]),
                ))
        except (KeyError, IndexError, TypeError) as e:
            raise ValueError(f"malformed replay state: {e!r}") from e
        self._episodes_added = int(state["episodes_added"])
        self._transitions_added = int(state["transitions_added"])
