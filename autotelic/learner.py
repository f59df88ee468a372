"""The ``Learner`` protocol that SAC and PPO implement, so the loop and configs can swap them.

How the loop drives a learner (one iteration)::

    episodes = rollout(...)                  # finished Episodes collected with the current policy (training only,
    learner.observe(episodes)                #   never greedy evaluation episodes: PPO is on-policy)
    metrics = run_pending_updates(learner, rng)   # = for _ in range(learner.pending_updates()): learner.update(rng)

``pending_updates()`` is 0 until ``ready()``; SAC then asks for ``updates_per_step`` updates per observed env step
(credit accumulates across calls), PPO for exactly one update (all its epochs) per full rollout, after which its
buffer is empty. ``state_dict()`` is the whole training state (policy, heads, optimisers, counters, SAC's replay),
made of tensors and plain python types so ``torch.save(..., weights_only=True)`` can load it.

A learner's config dataclass (``SACConfig``, ``PPOConfig``) has ``validate()`` (called by ``autotelic.config``) and
``shard(world_size)``: the config one of N data-parallel processes runs (global counts split). Adding a learner is
its module plus one entry in ``LEARNERS`` (``autotelic.build``).
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
from torch import Tensor, nn

from .episode import Episode


@runtime_checkable
class Learner(Protocol):
    """What the loop needs from a learner; see the module docstring for the calling contract."""

    on_policy: bool  # True: observe only episodes from the current policy, and update before collecting more
    num_updates: int  # updates run so far (logged as charts/updates_per_s, checked across replicas)
    rank_local_keys: tuple[str, ...]  # state_dict keys that differ between data-parallel processes (replay, credit)
    dist: Any  # None in one process; the data-parallel strategy's collectives (average_gradients) otherwise

    def observe(self, episodes: Sequence[Episode]) -> None:
        """Take finished training episodes (terminated or truncated). An off-policy learner may also define
        ``replay_only(episodes)``: data that earns no updates (the loop's stitched goal chains, ``loop.chain_replay``)."""

    def ready(self) -> bool:
        """Enough data observed to start updating."""

    def pending_updates(self) -> int:
        """How many ``update`` calls the learner wants now (0 when not ready)."""

    def update(self, rng: np.random.Generator) -> dict[str, float]:
        """One learning step; returns scalar metrics named like ``losses/critic``, ``charts/alpha``. It is called
        with the policy in eval mode and sets the modes it needs itself (``autotelic.modes``)."""

    def networks(self) -> dict[str, nn.Module]:
        """The trained modules by name (the policy included)."""

    def replica_tensors(self) -> list[Tensor]:
        """Every tensor that must be equal on all data-parallel replicas: the networks' state and any free tensor
        (SAC's log α). Broadcast from rank 0 at start and hashed to check that replicas agree."""

    def state_dict(self) -> dict[str, Any]:
        """Full training state: tensors and plain python types only."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


def run_pending_updates(learner: Learner, rng: np.random.Generator, n: int | None = None) -> dict[str, float]:
    """Run ``n`` updates (default: every pending one); return the mean of each metric over them (empty dict when
    none ran)."""
    sums: dict[str, float] = {}
    n = learner.pending_updates() if n is None else n
    for _ in range(n):
        for k, v in learner.update(rng).items():
            sums[k] = sums.get(k, 0.0) + float(v)
    return {k: v / n for k, v in sums.items()} if n else {}
