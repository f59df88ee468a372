"""How the loop core runs across processes: the ``Strategy`` protocol and the one-process strategy.

The core (``autotelic.core.LoopCore``) calls a strategy at the few points where processes must agree; one process
runs :class:`SingleProcess`, where every call is the identity. ``autotelic.distributed.DataParallel`` is the
N-process strategy (gradient averaging, episode exchange, sharded config, one checkpoint for all ranks).
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from . import checkpoint as ckpt
from .episode import Episode

__all__ = ["SingleProcess", "Strategy", "check_world_size", "checkpoint_world_size", "split_count"]


def split_count(name: str, value: int, world_size: int, why: str = "") -> int:
    """``value // world_size`` for a global count that each of ``world_size`` processes takes an equal share of;
    ValueError (naming ``name``) unless ``world_size >= 1`` divides it."""
    n = int(world_size)
    if n < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if value % n:
        raise ValueError(f"{name}={value} must be a multiple of the number of processes ({n}){why}")
    return value // n


@runtime_checkable
class Strategy(Protocol):
    """What the core asks of a (single- or multi-process) execution strategy."""

    rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        """This process writes the run's outputs (config, metrics, pictures, checkpoints)."""

    def shard(self, cfg: Any) -> Any:
        """The config this process runs (global counts split over processes)."""

    def setup(self, core: Any) -> None:
        """Once the parts are built: make replicas identical and hook gradient averaging into the learner."""

    def exchange(self, finished: Sequence[Episode], pending_updates: int, stop: bool
                 ) -> tuple[list[Episode], int, bool]:
        """(every process's finished episodes in rank order, updates every process runs, whether any asks to stop)."""

    def merge_metrics(self, pending: dict[str, list[float]]) -> dict[str, list[float]]:
        """Every process's recorded metric values (for the log row's means)."""

    def checkpoint_state(self, state: dict[str, Any], core: Any) -> dict[str, Any]:
        """Collective: the state rank 0 writes (``{}`` elsewhere)."""

    def restore_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """This process's part of a checkpoint state, in single-process layout."""

    def after_save(self, core: Any) -> None:
        """Rank 0, after a checkpoint was written (e.g. record replica fingerprints)."""

    def finish(self) -> None:
        """The run is over: leave together."""


class SingleProcess:
    """One process: nothing to shard, exchange or merge."""

    rank = 0
    world_size = 1
    is_main = True

    def shard(self, cfg: Any) -> Any:
        return cfg

    def setup(self, core: Any) -> None:
        pass

    def exchange(self, finished: Sequence[Episode], pending_updates: int, stop: bool
                 ) -> tuple[list[Episode], int, bool]:
        return list(finished), pending_updates, stop

    def merge_metrics(self, pending: dict[str, list[float]]) -> dict[str, list[float]]:
        return pending

    def checkpoint_state(self, state: dict[str, Any], core: Any) -> dict[str, Any]:
        return state

    def restore_state(self, state: dict[str, Any]) -> dict[str, Any]:
        check_world_size(state, 1)
        return state

    def after_save(self, core: Any) -> None:
        pass

    def finish(self) -> None:
        pass


def checkpoint_world_size(state: dict[str, Any]) -> int:
    """Number of processes that wrote a checkpoint state (1 for a single-process checkpoint)."""
    part = state.get("distributed")
    return int(part["world_size"]) if isinstance(part, dict) and "world_size" in part else 1


def check_world_size(state: dict[str, Any], world_size: int) -> None:
    """CheckpointError unless ``state`` was written by ``world_size`` processes (resume needs the same count)."""
    saved = checkpoint_world_size(state)
    if saved == world_size:
        return
    how = ("`autotelic train --resume RUN_DIR` without accelerate launch" if saved == 1 else
           f"`accelerate launch --multi_gpu --num_processes {saved} -m autotelic train --resume RUN_DIR`")
    raise ckpt.CheckpointError(
        f"this checkpoint was written by {saved} process(es) but this run has {world_size}: resume with the same "
        f"number of processes ({how}); each process's replay buffer, envs and random streams cannot be re-split")
