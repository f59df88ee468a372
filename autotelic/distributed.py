"""Data-parallel training over several processes: ``accelerate launch`` (or torchrun) runs N copies of the loop.

Launch (see README "Scaling out"): ``accelerate launch --multi_gpu --num_processes N -m autotelic train CONFIG ...``.
The CLI picks :class:`DistributedLoop` when the launcher says ``WORLD_SIZE > 1``; one process runs the plain
``AutotelicLoop``, untouched. Accelerate sets up the process group (NCCL on GPUs; gloo on CPUs, which
``accelerate launch --cpu`` does not spread over processes, so CPU runs use ``--multi_gpu``, i.e. torchrun, and
this module asks Accelerate for its multi-CPU gloo mode when no GPU is visible).

What each process owns and what is shared (N processes, rank r):

* **Config counts are global** and split by :func:`shard_config`: ``env.n_envs`` and ``sac.batch_size`` (must be
  multiples of N), ``sac.learning_starts``, ``replay.capacity``, ``ppo.rollout_steps``, ``ppo.minibatch_size``
  (divided by N, rounded up). ``sac.updates_per_step`` stays per *global* env step: every process runs the same
  updates, each on its 1/N of the global batch. Env steps, schedules and the logged ``step`` are global.
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
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from . import checkpoint as ckpt
from .loop import AutotelicLoop
from .rng import seed_everything
from .rollout import Rollout
from .schema import TrainConfig
from .workers import pipelined

__all__ = ["Collectives", "DistContext", "DistributedLoop", "check_world_size", "checkpoint_world_size",
           "init_distributed", "loop_class", "shard_config", "world_size_from_env"]

WORLD_SIZE_VARS = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
PER_RANK_LEARNER_KEYS = ("replay", "credit", "episodes")  # learner state that differs between processes
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


def loop_class() -> type[AutotelicLoop]:
    """``DistributedLoop`` under a multi-process launcher, else the plain ``AutotelicLoop``."""
    return DistributedLoop if world_size_from_env() > 1 else AutotelicLoop


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
def shard_config(cfg: TrainConfig, world_size: int, device: torch.device | str | None = None) -> TrainConfig:
    """The config one of ``world_size`` processes runs: global counts split (see the module docstring)."""
    n = int(world_size)
    if n < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if cfg.env.n_envs % n:
        raise ValueError(f"env.n_envs={cfg.env.n_envs} must be a multiple of the number of processes ({n}): "
                         f"each process steps env.n_envs/{n} envs")
    batch = cfg.sac.batch_size if cfg.learner == "sac" else cfg.ppo.minibatch_size
    if batch % n:
        key = "sac.batch_size" if cfg.learner == "sac" else "ppo.minibatch_size"
        raise ValueError(f"{key}={batch} is the global batch: it must be a multiple of the number of processes "
                         f"({n})")
    kwargs = dict(cfg.model.kwargs)
    if device is not None and torch.device(device).type != "cpu":
        kwargs.setdefault("device", str(device))
    return dataclasses.replace(
        cfg,
        env=dataclasses.replace(cfg.env, n_envs=cfg.env.n_envs // n),
        sac=dataclasses.replace(cfg.sac, batch_size=max(1, cfg.sac.batch_size // n),
                                learning_starts=math.ceil(cfg.sac.learning_starts / n),
                                updates_per_step=cfg.sac.updates_per_step * n),
        ppo=dataclasses.replace(cfg.ppo, rollout_steps=math.ceil(cfg.ppo.rollout_steps / n),
                                minibatch_size=max(1, cfg.ppo.minibatch_size // n)),
        replay=dataclasses.replace(cfg.replay, capacity=math.ceil(cfg.replay.capacity / n)),
        model=dataclasses.replace(cfg.model, kwargs=kwargs),
    )


# ---------------------------------------------------------------------------------------------- checkpoints
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


class _NullLogger:
    """What processes other than rank 0 log to: nothing."""

    def log(self, step: int, metrics: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _tensor_bytes(t: torch.Tensor) -> bytes:
    return t.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


# ---------------------------------------------------------------------------------------------- the loop
class DistributedLoop(AutotelicLoop):
    """``AutotelicLoop`` as one of N data-parallel processes (see the module docstring for who owns what)."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path | None = None, ctx: DistContext | None = None) -> None:
        self.ctx = ctx or init_distributed()
        self.collectives = Collectives(self.ctx)
        r = self.ctx.rank
        super().__init__(shard_config(cfg, self.ctx.world_size, self.ctx.device), run_dir)
        # the global config is what config.yaml holds and what the schedules read; only rank 0 shows progress
        self.cfg = cfg if self.ctx.is_main else dataclasses.replace(
            cfg, loop=dataclasses.replace(cfg.loop, progress=False))
        if not hasattr(self.learner, "dist"):
            raise ValueError(f"learner {type(self.learner).__name__} has no 'dist' hook for gradient averaging")
        self.learner.dist = self.collectives
        self.collectives.broadcast_(self._replica_tensors())  # identical replicas, whatever the init did
        # rank r: its own envs' seeds and its own sampling stream (model init above used cfg.seed on every rank)
        self.rng = seed_everything(cfg.seed + r)
        self.rollout = Rollout(self.envs, self.prompt, self._next_goal, seed=cfg.seed + r)
        self._agreed_stop = False
        self._interrupt: Any = None
        self.last_replicas: dict[str, Any] | None = None

    @property
    def is_main(self) -> bool:
        return self.ctx.is_main

    def _replica_tensors(self) -> list[torch.Tensor]:
        tensors = [t for net in self.learner.networks().values() for t in net.state_dict().values()]
        log_alpha = getattr(self.learner, "log_alpha", None)
        return tensors + ([log_alpha] if isinstance(log_alpha, torch.Tensor) else [])

    # ------------------------------------------------------------------ the loop
    def train_iteration(self) -> None:
        """Step this rank's envs; share finished episodes with every rank; agree on updates and on stopping."""
        before = self.env_steps
        self.policy.eval()
        finished = self.rollout.step(pipelined(self._act, self.envs))
        self.env_steps = self.rollout.env_steps * self.ctx.world_size  # every rank steps the same number of envs
        self.learner.observe(finished)  # the learner sees only this rank's episodes
        stop = bool(self._interrupt is not None and self._interrupt.requested)
        shared = self.collectives.all_gather_object((finished, self.learner.pending_updates(), stop))
        for episodes, _, _ in shared:  # every rank, same order: identical goal graphs and curriculum statistics
            for ep in episodes:
                self._on_episode(ep)
        self._agreed_stop = any(s for _, _, s in shared)
        if self._update_due(before):
            self._run_updates(min(p for _, p, _ in shared))  # every rank runs the same number of updates

    def run(self) -> dict[str, float]:
        row = super().run()
        # leave together: a gloo process whose peers exit while its last sends are in flight can abort at exit
        self.collectives.barrier()
        return row

    def _stop_requested(self, interrupt: Any) -> bool:
        self._interrupt = interrupt
        return self._agreed_stop

    def evaluate(self) -> dict[str, float]:
        return super().evaluate() if self.is_main else {}

    def _log(self) -> dict[str, float]:
        merged: dict[str, list[float]] = {}
        for pending in self.collectives.all_gather_object(self._pending):
            for k, v in pending.items():
                merged.setdefault(k, []).extend(v)
        self._pending = merged  # learner metrics: mean over every update of every process
        return super()._log()

    def _open_outputs(self, resume_step: int | None) -> Any:
        return super()._open_outputs(resume_step) if self.is_main else _NullLogger()

    def snapshot(self) -> Path:
        if self.is_main:
            return super().snapshot()
        return self.run_dir / "graph" / f"graph_{self.env_steps:09d}.json"

    def render(self) -> None:
        if self.is_main:
            super().render()

    # ------------------------------------------------------------------ checkpoints
    def fingerprint(self) -> dict[str, Any]:
        """SHA-256 of this replica's trainable weights (every network, α) and of its goal graph."""
        h = hashlib.sha256()
        for name, net in sorted(self.learner.networks().items()):
            trainable = {k for k, p in net.named_parameters() if p.requires_grad}
            for k, t in net.state_dict().items():
                if k in trainable or (name != "policy" and torch.is_floating_point(t)):
                    h.update(f"{name}.{k}".encode())
                    h.update(_tensor_bytes(t))
        log_alpha = getattr(self.learner, "log_alpha", None)
        if isinstance(log_alpha, torch.Tensor):
            h.update(_tensor_bytes(log_alpha))
        graph = hashlib.sha256(json.dumps(self.graph.state_dict(), sort_keys=True).encode()).hexdigest()
        return {"rank": self.ctx.rank, "weights": h.hexdigest(), "graph": graph,
                "updates": int(getattr(self.learner, "num_updates", 0)), "episodes": self.episodes}

    def state_dict(self) -> dict[str, Any]:
        """Collective: rank 0 gets the checkpoint state (its own + every rank's part); other ranks get {}."""
        full = super().state_dict()
        learner = dict(full["learner"])
        own = {"learner": {k: learner.pop(k) for k in PER_RANK_LEARNER_KEYS if k in learner},
               "rollout": full["rollout"], "rng": full["rng"], "curriculum": full["curriculum"],
               "pending": full["loop"]["pending"]}
        parts = self.collectives.gather_object((own, self.fingerprint()))
        if parts is None:
            return {}
        self.last_replicas = {"step": self.env_steps, "world_size": self.ctx.world_size,
                              "ranks": [fp for _, fp in parts]}
        keys = ("weights", "graph", "updates")
        self.last_replicas["identical"] = all(fp[k] == parts[0][1][k] for _, fp in parts for k in keys)
        return {**full, "learner": learner, "rollout": None, "rng": None, "curriculum": None,
                "loop": {**full["loop"], "pending": {}},
                "distributed": {"world_size": self.ctx.world_size, "ranks": [o for o, _ in parts]}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_world_size(state, self.ctx.world_size)
        own = state["distributed"]["ranks"][self.ctx.rank]
        merged = {k: v for k, v in state.items() if k != "distributed"}
        merged.update(rollout=own["rollout"], rng=own["rng"], curriculum=own["curriculum"],
                      learner={**state["learner"], **own["learner"]},
                      loop={**state["loop"], "pending": own["pending"]})
        super().load_state_dict(merged)

    def save(self) -> Path:
        """Collective; rank 0 writes the checkpoint and ``replicas.json`` (warns if the replicas differ)."""
        state = self.state_dict()
        if not self.is_main:
            return ckpt.checkpoint_path(self.run_dir, self.env_steps)
        path = ckpt.save_checkpoint(state, self.run_dir, self.env_steps)
        assert self.last_replicas is not None
        tmp = self.run_dir / f".tmp_{REPLICAS_FILE}"
        tmp.write_text(json.dumps(self.last_replicas, indent=1))
        os.replace(tmp, self.run_dir / REPLICAS_FILE)
        if not self.last_replicas["identical"]:
            warnings.warn(f"model replicas or goal graphs differ between processes at step {self.env_steps}: "
                          f"see {self.run_dir / REPLICAS_FILE}", RuntimeWarning, stacklevel=2)
        return path
