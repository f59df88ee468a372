"""The training config schema: nested dataclasses that omegaconf fills from YAML and ``key=value`` overrides.

The defaults are the tuned default run (``autotelic train`` with no config): tiny model, Playground-Text, SAC + HER,
learning-progress curriculum; ``configs/default.yaml`` only names it. Shipped configs state what differs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .ppo import PPOConfig
from .graph import LP_MODES
from .prompt import DEFAULT_TEMPLATE
from .relabel import STRATEGIES
from .sac import SACConfig
from .workers import WORKER_MODES

@dataclass
class EnvConfig:
    """Which env (a Gymnasium id or a dotted path ``module:Class``), its kwargs, and how many run in lockstep."""

    id: str = "autotelic/PlaygroundText-v0"
    kwargs: Dict[str, Any] = field(default_factory=dict)
    n_envs: int = 16
    eval_split: str = "test"  # held-out goals: env.all_goals(eval_split) when the env has it
    workers: str = "inline"   # [workers] "inline" (this process) or "subprocess" (one process per env; see
    #                           autotelic.workers: for envs whose step is expensive)

    def validate(self) -> None:
        if self.n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {self.n_envs}")
        if self.workers not in WORKER_MODES:
            raise ValueError(f"workers must be {'|'.join(WORKER_MODES)}, got {self.workers!r}")


@dataclass
class ModelConfig:
    """The language model: ``tiny`` (default, offline), ``tiny-causal``, ``smollm2-135m``, or a hub name/path."""

    name: str = "tiny"
    kwargs: Dict[str, Any] = field(default_factory=dict)  # passed to autotelic.lm.build_lm (sizes, lora_r, dtype)
    length_normalize: bool = False
    temperature: float = 1.0

    def validate(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")


@dataclass
class PromptConfig:
    template: str = DEFAULT_TEMPLATE


@dataclass
class HERConfig:
    """Hindsight relabelling at sample time: strategy, k relabelled per original (fraction k/(k+1)), n-step, γ."""

    strategy: str = "future"
    k: float = 4.0
    n_step: int = 3
    gamma: float = 0.7  # a short horizon keeps Q gaps between right and wrong moves wide (0.7 vs 0.49, not 0.9 vs
    #                     0.81): with 0.9 the default run stays flat at ~0.3 success (README "Results")

    def validate(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be {'|'.join(STRATEGIES)}, got {self.strategy!r}")
        if self.k < 0:
            raise ValueError(f"k must be >= 0 (0 disables HER), got {self.k}")
        if self.n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {self.n_step}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")


@dataclass
class ReplayConfig:
    capacity: int = 100_000  # transitions

    def validate(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {self.capacity}")


@dataclass
class CurriculumConfig:
    """A registered curriculum name (uniform, lp, novelty, frontier, mixture) or a dotted path to a user class."""

    name: str = "lp"
    kwargs: Dict[str, Any] = field(default_factory=dict)
    seeds: List[str] = field(default_factory=list)  # goals given by the user before any discovery
    seed_env_goals: bool = False  # also seed every goal of env.all_goals() (e.g. to compare curricula on a
    #                               goal space that is mostly impossible, as in MAGELLAN)


@dataclass
class GraphConfig:
    window: int = 20
    mastery_threshold: float = 0.8
    lp_mode: str = "window"

    def validate(self) -> None:
        if self.window < 2:
            raise ValueError(f"window must be >= 2, got {self.window}")
        if not 0.0 < self.mastery_threshold <= 1.0:
            raise ValueError(f"mastery_threshold must be in (0, 1], got {self.mastery_threshold}")
        if self.lp_mode not in LP_MODES:
            raise ValueError(f"lp_mode must be {'|'.join(LP_MODES)}, got {self.lp_mode!r}")


@dataclass
class LoopConfig:
    """Budget and schedules, all in env steps (one rollout step of n envs counts n)."""

    total_env_steps: int = 6_000  # the Quickstart run: a few minutes on 2 CPU cores (README "Results")
    update_every: int = 16       # run the learner's pending updates every this many env steps
    chain_goals: int = 0         # after a success, pursue up to this many next goals from the state reached (envs
    #                              with chain(goal): Playground, Crafter) before a reset; 0: reset after every episode
    chain_replay: bool = True    # an off-policy learner also gets each successful chain as one episode from the
    #                              reset pursuing its last goal (replay only: no extra updates)
    chain_follow: float = 0.0    # chance that a chained goal is first a not-yet-mastered goal seen after the one just
    #                              achieved (n_{A<B} > 0, uniform among them), before the curriculum's draws
    log_every: int = 1_000
    eval_every: int = 2_000      # 0 disables periodic evaluation
    eval_goals: int = 24         # discovered goals evaluated (a seeded sample when more are known)
    eval_repeats: int = 1
    checkpoint_every: int = 3_000   # 0: only at the end (and on Ctrl-C)
    snapshot_every: int = 2_000     # goal-graph snapshots (JSON); 0: only at the end
    progress: bool = True

    def validate(self) -> None:
        for k in ("total_env_steps", "update_every", "log_every"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be >= 1, got {getattr(self, k)}")
        for k in ("eval_every", "checkpoint_every", "snapshot_every", "eval_goals", "chain_goals"):
            if getattr(self, k) < 0:
                raise ValueError(f"{k} must be >= 0, got {getattr(self, k)}")
        if not 0.0 <= self.chain_follow <= 1.0:
            raise ValueError(f"chain_follow must be in [0, 1], got {self.chain_follow}")
        if self.chain_follow and not self.chain_goals:
            raise ValueError("chain_follow needs goal chaining: set loop.chain_goals > 0 too")


@dataclass
class TrainConfig:
    """Everything a run needs; saved resolved as ``config.yaml`` in the run directory."""

    name: str = "default"
    seed: int = 0
    runs_dir: str = "runs"
    learner: str = "sac"
    torch_threads: int = 1  # the tiny model: one thread beats two (small ops; 0 leaves torch's default)
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    sac: SACConfig = field(default_factory=SACConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    her: HERConfig = field(default_factory=HERConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    run_dir: Optional[str] = None  # default: <runs_dir>/<name>

    def validate(self) -> None:
        from .build import LEARNERS  # the registry of learner factories

        if self.learner not in LEARNERS:
            raise ValueError(f"learner must be one of {tuple(sorted(LEARNERS))}, got {self.learner!r}")
        if self.torch_threads < 0:
            raise ValueError(f"torch_threads must be >= 0, got {self.torch_threads}")
