"""``AutotelicLoop``: the loop core built from a ``TrainConfig`` with the built-in callbacks.

``AutotelicLoop(cfg).run()`` trains; ``AutotelicLoop.resume(run_dir)`` continues a run from its latest checkpoint.
The training loop itself is ``autotelic.core.LoopCore``; components are built by ``autotelic.build.build_parts``;
evaluation, metrics, snapshots, checkpoints and pictures are ``autotelic.callbacks``; several processes are a
strategy (``autotelic.distributed.DataParallel``) handed to the core, not a subclass.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from . import checkpoint as ckpt
from .build import build_parts
from .callbacks import TIMING_METRICS, Callback, default_callbacks
from .config import ConfigError, load_config
from .core import CHECKPOINT_KEYS, LoopCore
from .evaluate import Evaluator
from .rng import seed_everything
from .schema import TrainConfig
from .strategy import SingleProcess, Strategy

__all__ = ["AutotelicLoop", "CHECKPOINT_KEYS", "TIMING_METRICS", "resolve_run_dir"]


def resolve_run_dir(cfg: TrainConfig, run_dir: str | Path | None = None) -> Path:
    """``run_dir`` if given, else ``cfg.run_dir``, else ``<cfg.runs_dir>/<cfg.name>``."""
    return Path(run_dir or cfg.run_dir or Path(cfg.runs_dir) / cfg.name)


class AutotelicLoop(LoopCore):
    """A ``LoopCore`` whose parts, evaluator and callbacks come from ``cfg`` (extra ``callbacks`` run after them)."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path | None = None, *, strategy: Strategy | None = None,
                 callbacks: Sequence[Callback] = ()) -> None:
        strategy = strategy or SingleProcess()
        self.cfg = cfg
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        rng = seed_everything(cfg.seed)
        parts = build_parts(strategy.shard(cfg))
        self.evaluator = Evaluator(parts.eval_envs, parts.prompt, parts.heldout_goals, n_goals=cfg.loop.eval_goals,
                                   repeats=cfg.loop.eval_repeats, seed=cfg.seed,
                                   goal_family=getattr(parts.env, "goal_family", None))
        super().__init__(parts, resolve_run_dir(cfg, run_dir), seed=cfg.seed,
                         total_env_steps=cfg.loop.total_env_steps, update_every=cfg.loop.update_every,
                         callbacks=[*default_callbacks(cfg, self.evaluator), *callbacks], strategy=strategy, rng=rng,
                         chain_goals=cfg.loop.chain_goals, chain_replay=cfg.loop.chain_replay,
                         chain_follow=cfg.loop.chain_follow)

    def evaluate(self) -> dict[str, float]:
        """Greedy success on (a seeded sample of) discovered goals and on the held-out goals (rank 0; {} elsewhere)."""
        return self.evaluator(self.policy, self.graph, self.env_steps, self.curriculum) if self.is_main else {}

    @classmethod
    def resume(cls, run_dir: str | Path, overrides: Sequence[str] = (), *, strategy: Strategy | None = None,
               callbacks: Sequence[Callback] = ()) -> "AutotelicLoop":
        """Rebuild a run from ``run_dir/config.yaml`` (plus overrides, e.g. a longer budget) and its latest
        checkpoint."""
        run_dir = Path(run_dir)
        if not (run_dir / "config.yaml").is_file():
            raise ValueError(f"{run_dir} is not a run directory (no config.yaml)")
        saved = load_config(TrainConfig, str(run_dir / "config.yaml"), [f"run_dir={run_dir}"])
        cfg = load_config(TrainConfig, str(run_dir / "config.yaml"), [f"run_dir={run_dir}", *overrides])
        state, _ = ckpt.load_latest_checkpoint(run_dir)
        step = int(state.get("step", 0)) if isinstance(state, dict) else 0
        # n_envs step in lockstep, so a finished run may stand a few steps past its own budget: only a budget
        # lowered below the run's step is refused
        if cfg.loop.total_env_steps < step and cfg.loop.total_env_steps != saved.loop.total_env_steps:
            raise ConfigError(f"loop.total_env_steps={cfg.loop.total_env_steps} is below the run's step {step}: "
                              f"to extend the run give a larger budget, e.g. loop.total_env_steps={2 * step}")
        loop = cls(cfg, run_dir, strategy=strategy, callbacks=callbacks)
        loop.load_state_dict(state)
        return loop

    def __repr__(self) -> str:
        return f"AutotelicLoop({self.run_dir}, step {self.env_steps}/{self.total_env_steps})"
