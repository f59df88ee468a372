"""The autotelic loop: curriculum picks goals from the graph, the LLM policy pursues them, learners learn.

Data flows one way: curriculum.sample -> rollout (one batched policy call per step) -> finished episodes ->
graph.observe, curriculum.update, learner.observe -> learner updates -> metrics, evaluation, checkpoints.
"""
from __future__ import annotations

import collections
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint as ckpt
from .config import load_config, save_config
from .curricula import make_curriculum
from .episode import Episode
from .evaluate import evaluate_goals
from .graph import GoalGraph
from .learner import Learner, run_pending_updates
from .metrics import MetricLogger
from .policy import LMPolicy, build_policy
from .ppo import PPOLearner
from .prompt import PromptBuilder
from .relabel import HindsightRelabeller
from .replay import EpisodeReplay
from .rng import get_rng_state, seed_everything, set_rng_state
from .rollout import Rollout
from .sac import SACLearner
from .schema import TrainConfig
from .workers import make_env, make_envs, pipelined  # [workers] make_env moved there: worker processes skip torch

CHECKPOINT_KEYS = ("step", "learner", "graph", "curriculum", "rollout", "rng", "loop")
TIMING_METRICS = ("charts/sps", "charts/updates_per_s", "charts/wall_time")
RECENT = 100  # training episodes in the rolling success rate


def _crossed(before: int, now: int, every: int) -> bool:
    """Whether a multiple of ``every`` lies in (before, now]."""
    return every > 0 and before // every != now // every


class AutotelicLoop:
    """One training run in ``run_dir``; ``run()`` trains to ``cfg.loop.total_env_steps`` and returns a summary."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path | None = None) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir or cfg.run_dir or Path(cfg.runs_dir) / cfg.name)
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        self.rng = seed_everything(cfg.seed)
        self.envs = make_envs(cfg.env)  # [workers] in this process, or one worker process per env
        self.eval_envs = [make_env(cfg.env) for _ in range(min(cfg.env.n_envs, 16))]
        base = getattr(self.envs[0], "unwrapped", self.envs[0])
        self.prompt = PromptBuilder(template=cfg.prompt.template)
        vocabulary = list(getattr(base, "vocabulary", lambda: [])()) + self.prompt.words()
        self.policy: LMPolicy = build_policy(cfg.model.name, vocabulary, seed=cfg.seed,
                                             length_normalize=cfg.model.length_normalize,
                                             temperature=cfg.model.temperature, **cfg.model.kwargs)
        self.graph = GoalGraph(window=cfg.graph.window, mastery_threshold=cfg.graph.mastery_threshold,
                               lp_mode=cfg.graph.lp_mode)
        env_goals = getattr(base, "all_goals", None)
        self.graph.seed(cfg.curriculum.seeds)
        if cfg.curriculum.seed_env_goals:
            if env_goals is None:
                raise ValueError(f"curriculum.seed_env_goals needs an env with all_goals(); {cfg.env.id} has none")
            self.graph.seed(env_goals())
        self.curriculum = make_curriculum(cfg.curriculum.name, **cfg.curriculum.kwargs)
        self.heldout_goals: list[str] = list(env_goals(cfg.env.eval_split)) if env_goals else []
        self.learner: Learner = self._make_learner(base)
        self.rollout = Rollout(self.envs, self.prompt, self._next_goal, seed=cfg.seed)
        self.env_steps = 0
        self.episodes = 0
        self.recent: collections.deque[bool] = collections.deque(maxlen=RECENT)
        self.recent_len: collections.deque[int] = collections.deque(maxlen=RECENT)
        self.timeline: list[dict[str, int]] = []
        self._pending: dict[str, list[float]] = {}
        self._update_time = 0.0  # seconds spent in learner updates since the last log row
        self.logger: MetricLogger | None = None

    # ------------------------------------------------------------------ construction
    def _make_learner(self, env: Any) -> Learner:
        cfg = self.cfg
        if cfg.learner == "ppo":
            return PPOLearner(self.policy, self.prompt, cfg.ppo)
        relabeller = HindsightRelabeller(self.prompt, env.compute_reward, strategy=cfg.her.strategy, k=cfg.her.k,
                                         n_step=cfg.her.n_step, gamma=cfg.her.gamma)
        return SACLearner(self.policy, EpisodeReplay(cfg.replay.capacity), relabeller, cfg.sac)

    def _next_goal(self, i: int) -> str | None:
        """The curriculum's goal for env i; None (the env chooses) while the graph holds no goal at all."""
        if len(self.graph) == 0:
            return None
        return self.curriculum.sample(self.graph, 1, self.rng)[0]

    @torch.no_grad()
    def _act(self, prompts: list[str], candidates: list[list[str]]) -> list[int]:
        return self.policy.act(prompts, candidates)

    @torch.no_grad()
    def _act_greedy(self, prompts: list[str], candidates: list[list[str]]) -> list[int]:
        return self.policy.act(prompts, candidates, greedy=True)

    # ------------------------------------------------------------------ the loop
    def _on_episode(self, ep: Episode) -> None:
        self.graph.observe(ep, self.env_steps)
        self.curriculum.update(ep.goal, ep.success)
        self.recent.append(ep.success)
        self.recent_len.append(len(ep))
        self.episodes += 1

    def _record(self, metrics: dict[str, float]) -> None:
        for k, v in metrics.items():
            self._pending.setdefault(k, []).append(float(v))

    def train_iteration(self) -> None:
        """One rollout step of every env, bookkeeping of finished episodes, and the learner's pending updates."""
        before = self.env_steps
        self.policy.eval()
        finished = self.rollout.step(pipelined(self._act, self.envs))  # [workers] workers step in parallel
        self.env_steps = self.rollout.env_steps
        for ep in finished:
            self._on_episode(ep)
        self.learner.observe(finished)
        if self._update_due(before):
            self._run_updates()

    def _update_due(self, before: int) -> bool:
        """Whether the learner updates after the env steps (before, now]: every iteration on-policy, else every
        ``loop.update_every`` env steps."""
        return self.learner.on_policy or _crossed(before, self.env_steps, self.cfg.loop.update_every)

    def _run_updates(self, n: int | None = None) -> None:
        """Run ``n`` learner updates (default: every pending one) in train mode; time them and record metrics."""
        self.policy.train()
        t0 = time.perf_counter()
        metrics = run_pending_updates(self.learner, self.rng, n)
        self._update_time += time.perf_counter() - t0
        self._record(metrics)
        self.policy.eval()

    def evaluate(self) -> dict[str, float]:
        """Greedy success on (a seeded sample of) discovered goals and on the held-out goals."""
        out: dict[str, float] = {}
        lc = self.cfg.loop
        found = sorted(self.graph.discovered())
        pick = np.random.default_rng(self.cfg.seed + self.env_steps)
        if len(found) > lc.eval_goals:
            found = sorted(pick.choice(found, size=lc.eval_goals, replace=False).tolist())
        was_training = self.policy.training
        self.policy.eval()
        for key, goals in (("discovered", found), ("heldout", self.heldout_goals)):
            if not goals:
                continue
            res = evaluate_goals(self.eval_envs, self._act_greedy, self.prompt, goals, repeats=lc.eval_repeats,
                                 seed=self.cfg.seed + 1)
            out[f"eval/success_{key}"] = float(np.mean(list(res.values())))
            out[f"eval/n_goals_{key}"] = float(len(res))
        self.policy.train(was_training)
        return out

    def _log(self) -> dict[str, float]:
        assert self.logger is not None
        now = time.perf_counter()
        dt = max(now - self._t_log, 1e-9)
        row = {k: float(np.mean(v)) for k, v in self._pending.items()}
        row.update({
            "charts/episodes": float(self.episodes),
            "charts/success_rate": float(np.mean(self.recent)) if self.recent else 0.0,
            "charts/episode_length": float(np.mean(self.recent_len)) if self.recent_len else 0.0,
            "charts/sps": (self.env_steps - self._steps_log) / dt,
            "charts/updates_per_s": (self._updates() - self._updates_log) / max(self._update_time, 1e-9),
            "charts/wall_time": now - self._t0,
        })
        row.update({k.replace("graph/", "curriculum/"): v for k, v in self.graph.summary().items()})
        row.update(self.curriculum.metrics())
        self.timeline.append({"step": self.env_steps, "discovered": int(row["curriculum/discovered"]),
                              "mastered": int(row["curriculum/mastered"])})
        self.logger.log(self.env_steps, row)
        self._pending.clear()
        self._t_log, self._steps_log, self._updates_log, self._update_time = now, self.env_steps, self._updates(), 0.0
        return row

    # [distributed] hooks that autotelic.distributed.DistributedLoop overrides (rank 0 writes; stop together)
    def _open_outputs(self, resume_step: int | None) -> Any:
        """Create the run directory, write the resolved config and open the metric logger."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        save_config(self.cfg, self.run_dir / "config.yaml")
        return MetricLogger(self.run_dir, resume_step=resume_step)

    def _stop_requested(self, interrupt: ckpt.InterruptFlag) -> bool:
        """Whether Ctrl-C asked the run to stop."""
        return interrupt.requested

    def _updates(self) -> int:
        return int(getattr(self.learner, "num_updates", 0))

    def run(self) -> dict[str, float]:
        """Train until the budget is spent (or Ctrl-C, which checkpoints first); write pictures; return last row."""
        resume_step = self.env_steps if self.env_steps else None
        self.logger = self._open_outputs(resume_step)
        lc = self.cfg.loop
        self._t0 = self._t_log = time.perf_counter()
        self._steps_log, self._updates_log, self._update_time = self.env_steps, self._updates(), 0.0
        last: dict[str, float] = {}
        bar = _progress(lc.total_env_steps, self.env_steps, lc.progress)
        try:
            with ckpt.graceful_interrupt("Ctrl-C: saving a checkpoint, then stopping "
                                         "(press again to stop at once)") as interrupt:
                while self.env_steps < lc.total_env_steps and not self._stop_requested(interrupt):
                    before = self.env_steps
                    self.train_iteration()
                    now = self.env_steps
                    final = now >= lc.total_env_steps  # the last iteration always evaluates and logs
                    if final or _crossed(before, now, lc.eval_every):
                        self._record(self.evaluate())
                    if final or _crossed(before, now, lc.log_every):
                        last = self._log()
                        if bar is not None:
                            bar.set_postfix(success=f"{last['charts/success_rate']:.2f}",
                                            found=int(last["curriculum/discovered"]),
                                            mastered=int(last["curriculum/mastered"]),
                                            sps=f"{last['charts/sps']:.0f}")
                    if _crossed(before, now, lc.snapshot_every):
                        self.snapshot()
                    if _crossed(before, now, lc.checkpoint_every):
                        self.save()
                    if bar is not None:
                        bar.update(now - before)
                if self._stop_requested(interrupt):
                    self.save()
                    return last
            self.save()
            self.snapshot()
            self.render()
            return last
        finally:
            if bar is not None:
                bar.close()
            self.logger.close()

    # ------------------------------------------------------------------ outputs
    def snapshot(self) -> Path:
        """Write the goal graph as JSON under ``graph/`` and the discovery timeline."""
        out = self.run_dir / "graph"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"graph_{self.env_steps:09d}.json"
        self.graph.to_json(path)
        (self.run_dir / "timeline.json").write_text(json.dumps(self.timeline))
        return path

    def render(self) -> None:
        """Draw the goal graph (PNG, HTML, GraphML, JSON) and the discovery timeline into the run directory."""
        from . import viz

        viz.render_all(self.graph, self.run_dir, self.timeline)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"step": self.env_steps, "learner": self.learner.state_dict(), "graph": self.graph.state_dict(),
                "curriculum": self.curriculum.state_dict(), "rollout": self.rollout.state_dict(),
                "rng": get_rng_state(self.rng),
                "loop": {"episodes": self.episodes, "recent": [bool(x) for x in self.recent],
                         "recent_len": [int(x) for x in self.recent_len], "timeline": list(self.timeline),
                         "pending": {k: list(v) for k, v in self._pending.items()}}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ckpt.validate_state(state, CHECKPOINT_KEYS)
        from .distributed import check_world_size  # [distributed] a checkpoint of N processes resumes with N

        check_world_size(state, 1)
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
        self._pending = {k: list(v) for k, v in loop["pending"].items()}

    def save(self) -> Path:
        return ckpt.save_checkpoint(self.state_dict(), self.run_dir, self.env_steps)

    @classmethod
    def resume(cls, run_dir: str | Path, overrides: list[str] = ()) -> "AutotelicLoop":
        """Rebuild a run from ``run_dir/config.yaml`` (plus overrides, e.g. a longer budget) and its latest checkpoint."""
        run_dir = Path(run_dir)
        if not (run_dir / "config.yaml").is_file():
            raise ValueError(f"{run_dir} is not a run directory (no config.yaml)")
        cfg = load_config(TrainConfig, str(run_dir / "config.yaml"), list(overrides))
        state, _ = ckpt.load_latest_checkpoint(run_dir)
        loop = cls(cfg, run_dir)
        loop.load_state_dict(state)
        return loop


def _progress(total: int, start: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, desc="autotelic")
