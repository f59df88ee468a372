"""Data-parallel training over several processes: ``accelerate launch`` (or torchrun) runs N copies of the loop.

Launch (see README "Scaling out"): ``accelerate launch --multi_gpu --num_processes N -m autotelic train CONFIG ...``.
The CLI gives the loop core the :class:`DataParallel` strategy when the launcher says ``WORLD_SIZE > 1``
(:func:`strategy_from_env`); one process runs ``autotelic.strategy.SingleProcess``. Accelerate sets up the process group (NCCL on GPUs; gloo on CPUs, which
``accelerate launch --cpu`` does not spread over processes, so CPU runs use ``--multi_gpu``, i.e. torchrun, and
this module asks Accelerate for its multi-CPU gloo mode when no GPU is visible).

What each process owns and what is shared (N processes, rank r):

* **Config counts are global** and split by :func:`shard_config`: ``env.n_envs`` (a multiple of N) and
  ``replay.capacity`` here, the learner's own counts by its config's ``shard(N)`` (SAC: ``batch_size``, a multiple
  of N, ``learning_starts``, and ``updates_per_step`` so that every process runs the updates of a *global* env step,
  each on its 1/N of the global batch; PPO: ``rollout_steps``, ``minibatch_size``). Env steps, schedules and the
  logged ``step`` are global.
* **Model replicas** start identical (same seed, then rank 0's weights broadcast, as DDP does) and stay identical:
  after every backward the learners call ``Collectives.average_gradients`` (one flat all-reduce per bucket, mean
  over processes, before gradient clipping — the DDP semantics). Why not ``accelerator.prepare(model)`` (DDP)? DDP
  syncs gradients only through ``module.forward``; the SAC learner scores with ``policy.score`` twice per update
  (s' without grad, s with), reaches the trunk through two losses and two optimisers and owns its critic targets;
  wrapping would change learner code, state_dict keys and checkpoints. The explicit hook is 3 marked lines in
  ``sac.py``/``ppo.py`` and a no-op (``learner.dist is None``) in one process. PPO also agrees on its minibatch
  count (each process uses min_r n_r of its transitions per epoch) and averages approx-KL for the early stop.
* **Envs, replay, rollout, curriculum sampling, RNGs** are per process: rank r seeds its envs and its sampling with
  ``seed + r``; its learner observes only its own episodes (its replay holds 1/N of the data).
* **Goal graph and curriculum statistics** are merged every iteration without a merge function: each process
  all-gathers its finished episodes (``torch.distributed.all_gather_object`` on a gloo group) and every process feeds
  ALL of them, rank by rank, to ``graph.observe`` and ``curriculum.update``, so the graphs stay identical.
  The same gather carries each rank's pending-update count (all run the minimum) and its Ctrl-C flag (all stop).
* **Outputs** come from rank 0 only: config, metrics (learner metrics averaged over processes), evaluation,
  graph snapshots, pictures, checkpoints. A checkpoint is one file: rank 0's state (weights, optimisers, graph,
  loop statistics) plus, under ``"distributed"``, every rank's own part (replay, learner credit, rollout, RNGs,
  curriculum) gathered to rank 0. Resuming needs the same number of processes (a clear error otherwise).
  With each checkpoint rank 0 writes ``replicas.json``: a hash of every replica's trainable weights and goal graph.
"""
from __future__ import annotations

import atexit
import dataclasses
import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import torch

from .atomic import atomic_write_text
from .episode import Episode
from .strategy import SingleProcess, Strategy, check_world_size, checkpoint_world_size, split_count

__all__ = ["Collectives", "DataParallel", "DistContext", "check_world_size", "checkpoint_world_size",
           "init_distributed", "shard_config", "strategy_from_env", "world_size_from_env"]

WORLD_SIZE_VARS = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
REPLICAS_FILE = "replicas.json"
BUCKET_NUMEL = 1 << 24  # gradient elements per all-reduce (64 MB in float32)


# ---------------------------------------------------------------------------------------------- process group
def world_size_from_env() -> int:
    """Number of processes the launcher started (``WORLD_SIZE`` from accelerate/torchrun, or MPI's); 1 if none."""
    for var in WORLD_SIZE_VARS:
        value = os.environ.get(var)
        if value:
            try:
                return max(1, int(value))
            except ValueError:
                raise ValueError(f"environment variable {var}={value!r} is not an integer") from None
    return 1


def strategy_from_env() -> Strategy:
    """``DataParallel`` under a multi-process launcher (accelerate, torchrun, MPI), else ``SingleProcess``."""
    return DataParallel() if world_size_from_env() > 1 else SingleProcess()


@dataclass
class DistContext:
    """This process's place in the group, set up by Accelerate."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    accelerator: Any = None
    object_group: Any = None  # gloo group for python objects and small scalars (None: the default group is gloo)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_CONTEXT: DistContext | None = None


def init_distributed() -> DistContext:
    """Start (once) the process group through ``accelerate.Accelerator`` and return this process's context."""
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    import torch.distributed as dist
    from accelerate import Accelerator

    expected = world_size_from_env()
    cpu = not torch.cuda.is_available() or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    acc = Accelerator(cpu=cpu)
    if acc.num_processes != expected or not dist.is_initialized():
        raise RuntimeError(f"the launcher started {expected} processes but Accelerate set up "
                           f"{acc.num_processes} ({acc.distributed_type}); launch with `accelerate launch "
                           "--multi_gpu --num_processes N -m autotelic ...` (or torchrun)")
    if acc.mixed_precision != "no":
        warnings.warn(f"accelerate --mixed_precision {acc.mixed_precision} is not used by autotelic: set the "
                      "model's dtype instead (model.kwargs.dtype=bfloat16; pretrained models on CUDA default to it)",
                      RuntimeWarning, stacklevel=2)
    if acc.device.type == "cuda":
        torch.cuda.set_device(acc.device)
    group = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
    _CONTEXT = DistContext(rank=acc.process_index, world_size=acc.num_processes,
                           local_rank=acc.local_process_index, device=acc.device, accelerator=acc, object_group=group)
    atexit.register(_shutdown)
    return _CONTEXT


def _shutdown() -> None:
    """Destroy the process groups at exit (gloo aborts the interpreter otherwise)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # noqa: BLE001  exiting anyway
            pass


# ---------------------------------------------------------------------------------------------- collectives
class Collectives:
    """The collective operations the loop and learners need, over ``ctx``'s process group."""

    def __init__(self, ctx: DistContext, bucket_numel: int = BUCKET_NUMEL) -> None:
        import torch.distributed as dist

        self.dist, self.ctx, self.bucket_numel = dist, ctx, int(bucket_numel)

    @property
    def world_size(self) -> int:
        return self.ctx.world_size

    def average_gradients(self, params: Iterable[torch.Tensor]) -> None:
        """p.grad ← mean over processes of p.grad, for every p (the same list, in the same order, on every process).

        A gradient missing (None) on some processes counts as zeros there (DDP's rule); missing on all, it stays
        None, so optimisers skip the parameter exactly as in one process. fp16/bf16 gradients are summed in float32.
        """
        unique: list[torch.Tensor] = []
        seen: set[int] = set()
        for p in params:
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
        for bucket in _buckets(unique, self.bucket_numel):
            dtype = _reduce_dtype(bucket[0].dtype)
            dev = bucket[0].device
            flags = torch.tensor([float(p.grad is not None) for p in bucket], dtype=dtype, device=dev)
            flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).to(dtype)
                              for p in bucket] + [flags])
            self.dist.all_reduce(flat)  # SUM over processes
            present = flat[-len(bucket):].tolist()
            offset = 0
            for p, seen_somewhere in zip(bucket, present):
                k = p.numel()
                if seen_somewhere > 0:
                    g = flat[offset:offset + k].view_as(p).div(self.world_size).to(p.dtype)
                    if p.grad is None:
                        p.grad = g
                    else:
                        p.grad.copy_(g)
                offset += k

    def broadcast_(self, tensors: Iterable[torch.Tensor], src: int = 0) -> None:
        """Overwrite every floating tensor with rank ``src``'s values, in place."""
        for t in tensors:
            if not torch.is_floating_point(t):
                continue  # integer buffers (position ids, counters) are built identically everywhere
            buf = t.data if t.is_contiguous() else t.detach().contiguous()
            self.dist.broadcast(buf, src=src)
            if buf is not t.data:
                t.data.copy_(buf)

    def min_int(self, x: int) -> int:
        t = torch.tensor([int(x)], dtype=torch.int64)
        self.dist.all_reduce(t, op=self.dist.ReduceOp.MIN, group=self.ctx.object_group)
        return int(t.item())

    def mean_float(self, x: float) -> float:
        t = torch.tensor([float(x)], dtype=torch.float64)
        self.dist.all_reduce(t, group=self.ctx.object_group)
        return float(t.item()) / self.world_size

    def barrier(self) -> None:
        self.dist.barrier(group=self.ctx.object_group)

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every process's ``obj``, in rank order, on every process."""
        out: list[Any] = [None] * self.world_size
        self.dist.all_gather_object(out, obj, group=self.ctx.object_group)
        return out

    def gather_object(self, obj: Any) -> list[Any] | None:
        """Every process's ``obj``, in rank order, on rank 0 (None elsewhere)."""
        out: list[Any] | None = [None] * self.world_size if self.ctx.is_main else None
        self.dist.gather_object(obj, out, dst=0, group=self.ctx.object_group)
        return out


def _reduce_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _buckets(params: Sequence[torch.Tensor], limit: int) -> list[list[torch.Tensor]]:
    """Consecutive groups of parameters sharing device and reduce dtype, each up to ``limit`` elements."""
    out: list[list[torch.Tensor]] = []
    size = 0
    for p in params:
        key = (p.device, _reduce_dtype(p.dtype))
        if not out or size + p.numel() > limit or (out[-1][0].device, _reduce_dtype(out[-1][0].dtype)) != key:
            out.append([])
            size = 0
        out[-1].append(p)
        size += p.numel()
    return out


# ---------------------------------------------------------------------------------------------- config split
def shard_config(cfg: Any, world_size: int, device: torch.device | str | None = None) -> Any:
    """The config one of ``world_size`` processes runs: global counts split (see the module docstring)."""
    n = int(world_size)
    n_envs = split_count("env.n_envs", cfg.env.n_envs, n, f": each process steps env.n_envs/{n} envs")
    kwargs = dict(cfg.model.kwargs)
    if device is not None and torch.device(device).type != "cpu":
        kwargs.setdefault("device", str(device))
    return dataclasses.replace(
        cfg, **{cfg.learner: getattr(cfg, cfg.learner).shard(n)},
        env=dataclasses.replace(cfg.env, n_envs=n_envs),
        replay=dataclasses.replace(cfg.replay, capacity=math.ceil(cfg.replay.capacity / n)),
        model=dataclasses.replace(cfg.model, kwargs=kwargs),
    )


def _tensor_bytes(t: torch.Tensor) -> bytes:
    return t.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


# ---------------------------------------------------------------------------------------------- the strategy
class DataParallel:
    """The loop core as one of N data-parallel processes (see the module docstring for who owns what)."""

    def __init__(self, ctx: DistContext | None = None) -> None:
        self.ctx = ctx or init_distributed()
        self.collectives = Collectives(self.ctx)
        self.rank, self.world_size = self.ctx.rank, self.ctx.world_size
        self.last_replicas: dict[str, Any] | None = None
        self._lm: Any = None

    @property
    def is_main(self) -> bool:
        return self.ctx.is_main

    def shard(self, cfg: Any) -> Any:
        return shard_config(cfg, self.world_size, self.ctx.device)

    def setup(self, core: Any) -> None:
        learner = core.learner
        if not hasattr(learner, "dist"):
            raise ValueError(f"learner {type(learner).__name__} has no 'dist' hook for gradient averaging")
        learner.dist = self.collectives
        self.collectives.broadcast_(learner.replica_tensors())  # identical replicas, whatever the init did
        # a tiny model's new words get rows in the same order on every process: collected here, added in exchange
        self._lm = getattr(core.policy, "lm", None)
        if self._lm is not None and hasattr(self._lm, "grow_on_encode"):
            self._lm.grow_on_encode = False

    def exchange(self, finished: Sequence[Episode], pending_updates: int, stop: bool
                 ) -> tuple[list[Episode], int, bool]:
        words = self._lm.take_unseen_words() if hasattr(self._lm, "take_unseen_words") else []
        shared = self.collectives.all_gather_object((list(finished), int(pending_updates), bool(stop), words))
        new_words = sorted({w for *_, ws in shared for w in ws})
        if new_words:
            self._lm.add_words(new_words)
        episodes = [ep for eps, *_ in shared for ep in eps]
        return episodes, min(p for _, p, _, _ in shared), any(s for _, _, s, _ in shared)

    def merge_metrics(self, pending: dict[str, list[float]]) -> dict[str, list[float]]:
        merged: dict[str, list[float]] = {}
        for part in self.collectives.all_gather_object(pending):
            for k, v in part.items():
                merged.setdefault(k, []).extend(v)
        return merged

    def fingerprint(self, core: Any) -> dict[str, Any]:
        """SHA-256 of what training changes on this replica (the policy's trainable weights, every other network's
        floating tensors, free tensors such as α) and of its goal graph; a frozen pretrained trunk is not hashed."""
        h = hashlib.sha256()
        nets = core.learner.networks()
        in_nets: set[int] = set()
        for name, net in sorted(nets.items()):
            trainable = {k for k, p in net.named_parameters() if p.requires_grad}
            for k, t in net.state_dict().items():
                in_nets.add(t.data_ptr())
                if k in trainable or (name != "policy" and torch.is_floating_point(t)):
                    h.update(f"{name}.{k}".encode())
                    h.update(_tensor_bytes(t))
        for t in core.learner.replica_tensors():
            if t.data_ptr() not in in_nets:  # not part of a network: log α, a target trunk copy
                h.update(_tensor_bytes(t))
        graph = hashlib.sha256(json.dumps(core.graph.state_dict(), sort_keys=True).encode()).hexdigest()
        return {"rank": self.rank, "weights": h.hexdigest(), "graph": graph,
                "updates": int(core.learner.num_updates), "episodes": core.episodes}

    def checkpoint_state(self, state: dict[str, Any], core: Any) -> dict[str, Any]:
        """Collective: rank 0 gets the checkpoint state (its own + every rank's part); other ranks get {}."""
        learner = dict(state["learner"])
        own = {"learner": {k: learner.pop(k) for k in core.learner.rank_local_keys if k in learner},
               "rollout": state["rollout"], "rng": state["rng"], "curriculum": state["curriculum"],
               "pending": state["loop"]["pending"]}
        parts = self.collectives.gather_object((own, self.fingerprint(core)))
        if parts is None:
            return {}
        self.last_replicas = {"step": core.env_steps, "world_size": self.world_size,
                              "ranks": [fp for _, fp in parts]}
        keys = ("weights", "graph", "updates")
        self.last_replicas["identical"] = all(fp[k] == parts[0][1][k] for _, fp in parts for k in keys)
        return {**state, "learner": learner, "rollout": None, "rng": None, "curriculum": None,
                "loop": {**state["loop"], "pending": {}},
                "distributed": {"world_size": self.world_size, "ranks": [o for o, _ in parts]}}

    def restore_state(self, state: dict[str, Any]) -> dict[str, Any]:
        check_world_size(state, self.world_size)
        own = state["distributed"]["ranks"][self.rank]
        merged = {k: v for k, v in state.items() if k != "distributed"}
        merged.update(rollout=own["rollout"], rng=own["rng"], curriculum=own["curriculum"],
                      learner={**state["learner"], **own["learner"]},
                      loop={**state["loop"], "pending": own["pending"]})
        return merged

    def after_save(self, core: Any) -> None:
        """Write ``replicas.json`` beside the checkpoint; warn if the replicas differ."""
        assert self.last_replicas is not None
        atomic_write_text(core.run_dir / REPLICAS_FILE, json.dumps(self.last_replicas, indent=1))
        if not self.last_replicas["identical"]:
            warnings.warn(f"model replicas or goal graphs differ between processes at step {core.env_steps}: "
                          f"see {core.run_dir / REPLICAS_FILE}", RuntimeWarning, stacklevel=2)

    def finish(self) -> None:
        # leave together: a gloo process whose peers exit while its last sends are in flight can abort at exit
        self.collectives.barrier()
