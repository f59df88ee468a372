"""Every component of a run built from its config section, in one place: envs, prompt, policy, graph, curriculum,
learner. ``build_parts(cfg)`` returns them as :class:`Parts` for ``autotelic.core.LoopCore``.

Learners are a registry: ``@register_learner("name")`` on a factory ``(cfg, policy, prompt, env) -> Learner``; the
factory reads its own config section (``cfg.sac``, ``cfg.ppo``). Adding a learner is its module, its config section
in ``autotelic.schema.TrainConfig`` and one registration here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .curricula import make_curriculum
from .graph import GoalGraph
from .learner import Learner
from .lm import TINY_BUILDERS
from .policy import LMPolicy, build_policy
from .ppo import PPOLearner
from .prompt import PromptBuilder
from .relabel import HindsightRelabeller
from .replay import EpisodeReplay
from .sac import SACLearner
from .vocab import probe_vocabulary
from .workers import make_env, make_envs

__all__ = ["LEARNERS", "Parts", "build_learner", "build_parts", "env_vocabulary", "register_learner", "unwrapped"]

LearnerFactory = Callable[[Any, LMPolicy, PromptBuilder, Any], Learner]
LEARNERS: dict[str, LearnerFactory] = {}
MAX_EVAL_ENVS = 16


def register_learner(name: str) -> Callable[[LearnerFactory], LearnerFactory]:
    """Decorator: ``learner=name`` in the config builds the learner with this factory."""
    def deco(factory: LearnerFactory) -> LearnerFactory:
        LEARNERS[name] = factory
        return factory
    return deco


@register_learner("sac")
def _sac(cfg: Any, policy: LMPolicy, prompt: PromptBuilder, env: Any) -> Learner:
    relabeller = HindsightRelabeller(prompt, env.compute_reward, strategy=cfg.her.strategy, k=cfg.her.k,
                                     n_step=cfg.her.n_step, gamma=cfg.her.gamma)
    return SACLearner(policy, EpisodeReplay(cfg.replay.capacity), relabeller, cfg.sac)


@register_learner("ppo")
def _ppo(cfg: Any, policy: LMPolicy, prompt: PromptBuilder, env: Any) -> Learner:
    return PPOLearner(policy, prompt, cfg.ppo)


def build_learner(cfg: Any, policy: LMPolicy, prompt: PromptBuilder, env: Any) -> Learner:
    if cfg.learner not in LEARNERS:
        raise ValueError(f"unknown learner {cfg.learner!r}; registered: {', '.join(sorted(LEARNERS))}")
    return LEARNERS[cfg.learner](cfg, policy, prompt, env)


def env_vocabulary(cfg: Any, env: Any) -> list[str]:
    """The words a word-level tiny model starts with: ``env.vocabulary()``, or, for an env that offers none, the
    words a short random probe of a fresh env shows (the user's seeds and held-out goals included). Words first
    seen later take a spare embedding row (``autotelic.lm``), so the probe only decides when words get ids."""
    words = list(getattr(env, "vocabulary", lambda: [])())
    if words or cfg.model.name.lower() not in TINY_BUILDERS:
        return words
    probe_env = make_env(cfg.env)  # in this process, whatever env.workers says; the training envs stay untouched
    goals = getattr(unwrapped(probe_env), "all_goals", None)
    texts = list(cfg.curriculum.seeds) + (list(goals(cfg.env.eval_split)) if goals else [])
    return probe_vocabulary(probe_env, seed=cfg.seed, texts=texts)


def unwrapped(env: Any) -> Any:
    """The env under Gymnasium wrappers (where ``vocabulary``/``all_goals``/``compute_reward`` live)."""
    return getattr(env, "unwrapped", env)


@dataclass
class Parts:
    """The built components a loop core runs."""

    envs: list[Any]
    eval_envs: list[Any]
    prompt: PromptBuilder
    policy: LMPolicy
    graph: GoalGraph
    curriculum: Any
    learner: Learner
    heldout_goals: list[str]

    @property
    def env(self) -> Any:
        """The first training env, unwrapped: the goal grammar's owner (all_goals, goal_family, compute_reward)."""
        return unwrapped(self.envs[0])


def build_parts(cfg: Any) -> Parts:
    """Build every component from ``cfg`` (a ``TrainConfig``), in a fixed order (it fixes the random init)."""
    envs = make_envs(cfg.env)  # [workers] in this process, or one worker process per env
    eval_envs = [make_env(cfg.env) for _ in range(min(cfg.env.n_envs, MAX_EVAL_ENVS))]
    env = unwrapped(envs[0])
    prompt = PromptBuilder(template=cfg.prompt.template)
    vocabulary = env_vocabulary(cfg, env) + prompt.words()
    policy = build_policy(cfg.model.name, vocabulary, seed=cfg.seed, length_normalize=cfg.model.length_normalize,
                          temperature=cfg.model.temperature, **cfg.model.kwargs)
    graph = GoalGraph(window=cfg.graph.window, mastery_threshold=cfg.graph.mastery_threshold,
                      lp_mode=cfg.graph.lp_mode)
    env_goals = getattr(env, "all_goals", None)
    graph.seed(cfg.curriculum.seeds)
    if cfg.curriculum.seed_env_goals:
        if env_goals is None:
            raise ValueError(f"curriculum.seed_env_goals needs an env with all_goals(); {cfg.env.id} has none")
        graph.seed(env_goals())
    curriculum = make_curriculum(cfg.curriculum.name, **cfg.curriculum.kwargs)
    attach = getattr(curriculum, "attach", None)
    if callable(attach):  # curricula that read the policy's LLM (magellan's success head)
        attach(policy)
    heldout = list(env_goals(cfg.env.eval_split)) if env_goals else []
    learner = build_learner(cfg, policy, prompt, env)
    return Parts(envs=envs, eval_envs=eval_envs, prompt=prompt, policy=policy, graph=graph, curriculum=curriculum,
                 learner=learner, heldout_goals=heldout)
