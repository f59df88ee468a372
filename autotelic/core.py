"""The loop core: curriculum picks goals from the graph, the policy pursues them, the learner learns.

Data flows one way through one iteration::

    curriculum.sample(graph, k)  ->  rollout.step (one batched policy call)  ->  finished episodes
      -> learner.observe(own episodes) -> strategy.exchange -> graph.observe, curriculum.update (every episode)
      -> learner updates (when due) -> callbacks.on_step (evaluation, metrics, snapshots, checkpoints, progress)

The core is handed built parts (``autotelic.build.Parts``), a list of callbacks (``autotelic.callbacks``) and an
execution strategy (``autotelic.strategy``); it owns the run's counters, the metric values recorded since the last
log row, the discovery timeline and the checkpoint state.
"""
from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from . import checkpoint as ckpt
from .build import Parts
from .episode import Episode
from .learner import run_pending_updates
from .rng import get_rng_state, seed_everything, set_rng_state
from .rollout import Rollout
from .strategy import SingleProcess, Strategy
from .workers import pipelined  # [workers] workers step in parallel with the policy call

__all__ = ["CHECKPOINT_KEYS", "LoopCore", "crossed"]

CHECKPOINT_KEYS = ("step", "learner", "graph", "curriculum", "rollout", "rng", "loop")
RECENT = 100  # training episodes in the rolling success rate


def crossed(before: int, now: int, every: int) -> bool:
    """Whether a multiple of ``every`` lies in (before, now]."""
    return every > 0 and before // every != now // every


def _part(name: str) -> property:
    """A read-only attribute of the core that is ``core.parts.<name>``."""
    return property(lambda self: getattr(self.parts, name), doc=f"``parts.{name}``")


class LoopCore:
    """Trains ``parts`` to ``total_env_steps`` under ``strategy``, calling ``callbacks`` after every iteration.

    ``run()`` returns the last metric row; ``interrupted`` tells whether Ctrl-C stopped it (a checkpoint was saved).
    """

    def __init__(self, parts: Parts, run_dir: str | Path, *, seed: int, total_env_steps: int, update_every: int,
                 callbacks: Sequence[Any] = (), strategy: Strategy | None = None,
                 rng: np.random.Generator | None = None, chain_goals: int = 0, chain_replay: bool = True,
                 chain_follow: float = 0.0) -> None:
        self.parts = parts
        self.run_dir = Path(run_dir)
        self.seed = int(seed)
        self.total_env_steps = int(total_env_steps)
        self.update_every = int(update_every)
        self.strategy: Strategy = strategy or SingleProcess()
        self.callbacks = [cb for cb in callbacks if self.strategy.is_main or not getattr(cb, "main_only", True)]
        r, n = self.strategy.rank, self.strategy.world_size
        # rank r: its own envs' seeds and its own sampling stream (the model init used `seed` on every rank)
        self.rng = rng if rng is not None and n == 1 else seed_everything(self.seed + r)
        self.strategy.setup(self)
        # an off-policy learner with ``replay_only`` also replays each successful chain whole
        stitch = chain_replay and not parts.learner.on_policy and hasattr(parts.learner, "replay_only")
        self.chain_follow = float(chain_follow)
        self.rollout = Rollout(parts.envs, parts.prompt, self._next_goals, seed=self.seed + r,
                               chain_goals=chain_goals, stitch_chains=stitch,
                               propose_chain=self._follow_goals if self.chain_follow > 0 else None)
        self.env_steps = 0
        self.episodes = 0
        self.recent: collections.deque[bool] = collections.deque(maxlen=RECENT)
        self.recent_len: collections.deque[int] = collections.deque(maxlen=RECENT)
        self.timeline: list[dict[str, int]] = []
        self.pending: dict[str, list[float]] = {}  # metric values recorded since the last log row
        self.update_time = 0.0  # seconds spent in learner updates since the last log row
        self.wall_time_before = 0.0  # seconds of training before this process resumed the run
        self.last_row: dict[str, float] = {}
        self.interrupted = False
        self._stop = False
        self._interrupt: ckpt.InterruptFlag | None = None

    # ------------------------------------------------------------------ parts (read-only views of ``self.parts``)
    policy = _part("policy")
    learner = _part("learner")
    graph = _part("graph")
    curriculum = _part("curriculum")
    envs = _part("envs")
    eval_envs = _part("eval_envs")
    prompt = _part("prompt")

    @property
    def is_main(self) -> bool:
        return self.strategy.is_main

    # ------------------------------------------------------------------ the loop
    def _next_goals(self, indices: Sequence[int]) -> list[str | None]:
        """The curriculum's goals for the envs resetting now (one call); None (the env chooses) while the graph
        holds no goal at all."""
        if len(self.graph) == 0:
            return [None] * len(indices)
        return list(self.curriculum.sample(self.graph, len(indices), self.rng)) if indices else []

    def _follow_goals(self, episodes: Sequence[Episode]) -> list[str | None]:
        """For each success at A, with probability ``chain_follow``: a goal not yet mastered that has followed A in
        an earlier episode (n_{A<B} > 0), drawn uniformly, to chain to first; else None (the curriculum's draws)."""
        out: list[str | None] = []
        for ep in episodes:
            if self.rng.random() >= self.chain_follow:
                out.append(None)
                continue
            nxt = [b for b in self.graph.followers(ep.goal) if b != ep.goal and not self.graph.is_mastered(b)]
            out.append(nxt[int(self.rng.integers(len(nxt)))] if nxt else None)
        return out

    @torch.no_grad()
    def _act(self, prompts: list[str], candidates: list[list[str]]) -> list[int]:
        return self.policy.act(prompts, candidates)

    def record(self, metrics: dict[str, float]) -> None:
        """Add metric values to the next log row (each key's values are averaged there)."""
        for k, v in metrics.items():
            self.pending.setdefault(k, []).append(float(v))

    def _observe(self, ep: Episode) -> None:
        self.graph.observe(ep, self.env_steps)
        self.curriculum.update(ep.goal, ep.success)
        self.recent.append(ep.success)
        self.recent_len.append(len(ep))
        if self.rollout.chain_goals:
            self.record({"charts/chained_episodes": float(bool(ep.prior))})  # share of goals started by chaining
        self.episodes += 1

    def train_iteration(self) -> None:
        """One rollout step of every env; every process's finished episodes to the graph and curriculum; this
        process's to its learner; then the learner's updates when due."""
        before = self.env_steps
        self.policy.eval()
        finished = self.rollout.step(pipelined(self._act, self.envs))
        self.env_steps = self.rollout.env_steps * self.strategy.world_size  # every rank steps as many envs
        self.learner.observe(finished)
        stitched = self.rollout.take_stitched()  # empty unless the learner replays chains (see __init__)
        if stitched:
            self.learner.replay_only(stitched)
        stop = self._interrupt is not None and self._interrupt.requested
        episodes, n_updates, self._stop = self.strategy.exchange(finished, self.learner.pending_updates(), stop)
        for ep in episodes:  # every rank, same order: identical goal graphs and curriculum statistics
            self._observe(ep)
        if self.learner.on_policy or crossed(before, self.env_steps, self.update_every):
            self.run_updates(n_updates)

    def run_updates(self, n: int | None = None) -> None:
        """Run ``n`` learner updates (default: every pending one); time them and record metrics. The learner sets
        the modes it needs (eval for targets, train for gradients: ``autotelic.modes``); the policy stays in eval
        mode, as acting uses it."""
        t0 = time.perf_counter()
        metrics = run_pending_updates(self.learner, self.rng, n)
        self.update_time += time.perf_counter() - t0
        self.record(metrics)

    def run(self) -> dict[str, float]:
        """Train until the budget is spent or Ctrl-C (which checkpoints first); return the last metric row."""
        self.interrupted = False
        try:
            for cb in self.callbacks:
                cb.on_run_start(self)
            with ckpt.graceful_interrupt("\nCtrl-C: saving a checkpoint, then stopping "
                                         "(press again to stop at once)") as interrupt:
                self._interrupt = interrupt
                while self.env_steps < self.total_env_steps and not self._stop:
                    before = self.env_steps
                    self.train_iteration()
                    for cb in self.callbacks:
                        cb.on_step(self, before, self.env_steps)
                self.interrupted = self._stop
                for cb in self.callbacks:
                    cb.on_run_end(self, self.interrupted)
            self.strategy.finish()
            return self.last_row
        finally:
            self._interrupt = None
            for cb in self.callbacks:
                cb.close(self)

    @property
    def final(self) -> bool:
        """The budget is spent (the last iteration evaluates and logs)."""
        return self.env_steps >= self.total_env_steps

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """This process's whole training state (tensors and plain python types only)."""
        return {"step": self.env_steps, "learner": self.learner.state_dict(), "graph": self.graph.state_dict(),
                "curriculum": self.curriculum.state_dict(), "rollout": self.rollout.state_dict(),
                "rng": get_rng_state(self.rng),
                "loop": {"episodes": self.episodes, "recent": [bool(x) for x in self.recent],
                         "recent_len": [int(x) for x in self.recent_len], "timeline": list(self.timeline),
                         "pending": {k: list(v) for k, v in self.pending.items()},
                         "wall_time": self.wall_time()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ckpt.validate_state(state, CHECKPOINT_KEYS)
        state = self.strategy.restore_state(state)
        self.learner.load_state_dict(state["learner"])
        self.graph.load_state_dict(state["graph"])
        self.curriculum.load_state_dict(state["curriculum"])
        self.rollout.load_state_dict(state["rollout"])
        set_rng_state(state["rng"], self.rng)
        self.env_steps = int(state["step"])
        loop = state["loop"]
        self.episodes = int(loop["episodes"])
        self.recent.clear()
        self.recent.extend(loop["recent"])
        self.recent_len.clear()
        self.recent_len.extend(loop["recent_len"])
        self.timeline = list(loop["timeline"])
        self.pending = {k: list(v) for k, v in loop["pending"].items()}
        self.wall_time_before = float(loop.get("wall_time", 0.0))

    def save(self) -> Path:
        """Collective: write a checkpoint of every process's state (rank 0 writes); returns its path."""
        state = self.strategy.checkpoint_state(self.state_dict(), self)
        if not self.is_main:
            return ckpt.checkpoint_path(self.run_dir, self.env_steps)
        path = ckpt.save_checkpoint(state, self.run_dir, self.env_steps)
        self.strategy.after_save(self)
        return path

    # ------------------------------------------------------------------ clocks
    def start_clock(self) -> None:
        """Start measuring wall time (continuing the resumed run's)."""
        self._t0 = time.perf_counter()

    def wall_time(self) -> float:
        """Seconds of training in this run so far, across resumes."""
        t0 = getattr(self, "_t0", None)
        return self.wall_time_before + (time.perf_counter() - t0 if t0 is not None else 0.0)
