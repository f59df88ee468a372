"""Discrete Soft Actor-Critic on an LLM policy that scores admissible actions (SAC-GLAM maths, CleanRL layout).

All sums run over each state's admissible actions (padded tensors + a bool mask) and are then averaged over
states (CleanRL averages over actions too, which rescales by 1/|A|). Symbols: π policy, Q_i twin critics,
Q̄_i their Polyak targets, α temperature, R the n-step return, γ^m its discount.

Critic gradients into the shared LM trunk decide learnability (measured on tests/toy_env.py, 12 objects, 40×16
episodes, ~770 updates, greedy success over all goals, seeds 0/1): trunk_grad 1.0 with the token head 1.00/0.92,
MLP head 0.83/1.00, dueling token head 0.92/0.83; trunk_grad 0.3 → 0.17/0.08 and heads only (0.0) → 0.08/0.08,
i.e. chance. Hence ``critic_trunk_grad=1.0`` by default: the critic loss trains the trunk (with the actor's optimiser
and learning rate) as well as the heads.

``target_trunk`` (off by default) scores s' for Q̄ with a Polyak copy of the trunk. Same toy setting, seeds 0/1/2,
greedy success at 20/30/40 iterations (``benchmarks/target_trunk.py``): online trunk 0.36/0.86/0.92, target trunk
τ=0.005 0.25/0.69/0.92, τ=0.05 0.31/0.86/0.97, ~20% more time per run: within seed noise, so not the default.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .critic import HEAD_TYPES, TwinQCritic
from .episode import Episode
from .modes import evaluating, training
from .policy import masked_entropy, masked_probs
from .relabel import HindsightRelabeller, TransitionBatch
from .replay import EpisodeReplay
from .strategy import split_count


# ---------------------------------------------------------------------------------------------- pure maths
def target_entropy(mask: Tensor, kappa: float) -> Tensor:
    """Per-state target entropy κ·log|A_s|; [B]."""
    return kappa * mask.sum(-1).clamp_min(1).to(torch.float32).log()


def soft_state_value(log_pi: Tensor, mask: Tensor, q1: Tensor, q2: Tensor, alpha: Tensor | float) -> Tensor:
    """V(s) = Σ_a π(a|s) [min_i Q_i(s,a) − α log π(a|s)]; [B]."""
    z = torch.zeros_like(log_pi)
    q = torch.where(mask, torch.minimum(q1, q2), z)
    lp = torch.where(mask, log_pi, z)
    return (masked_probs(log_pi, mask) * (q - alpha * lp)).sum(-1)


def sac_critic_target(next_log_pi: Tensor, next_mask: Tensor, next_q1: Tensor, next_q2: Tensor, returns: Tensor,
                      discounts: Tensor, alpha: Tensor | float) -> Tensor:
    """y = R + γ^m (1 − terminated) Σ_a' π(a'|s') [min_i Q̄_i(s',a') − α log π(a'|s')]; [B]."""
    return returns + discounts * soft_state_value(next_log_pi, next_mask, next_q1, next_q2, alpha)


def sac_critic_loss(q1_sa: Tensor, q2_sa: Tensor, y: Tensor) -> Tensor:
    """mean_s Σ_i (Q_i(s,a) − y)²."""
    return ((q1_sa - y) ** 2 + (q2_sa - y) ** 2).mean()


def sac_actor_loss(log_pi: Tensor, mask: Tensor, q1: Tensor, q2: Tensor, alpha: Tensor | float) -> Tensor:
    """mean_s Σ_a π(a|s) [α log π(a|s) − min_i Q_i(s,a)], Q detached."""
    z = torch.zeros_like(log_pi)
    q = torch.where(mask, torch.minimum(q1, q2).detach(), z)
    lp = torch.where(mask, log_pi, z)
    return (masked_probs(log_pi, mask) * (alpha * lp - q)).sum(-1).mean()


def sac_alpha_loss(log_alpha: Tensor, entropy: Tensor, target: Tensor) -> Tensor:
    """mean_s −log α · (H̄_s − H(π(·|s))), entropy detached: α rises when entropy is below its target."""
    return (-log_alpha * (target - entropy.detach())).mean()


@torch.no_grad()
def polyak_(target: nn.Module, online: nn.Module, tau: float) -> None:
    """θ̄ ← (1 − τ) θ̄ + τ θ for every floating-point parameter and buffer of ``target`` (same architecture); tied
    weights are averaged once (``parameters()`` lists a shared tensor once, ``state_dict()`` once per name)."""
    pairs = list(zip(target.parameters(), online.parameters())) + list(zip(target.buffers(), online.buffers()))
    for t, o in pairs:
        if t.is_floating_point():
            t.lerp_(o, tau)
        else:
            t.copy_(o)


def uniform_ce_loss(log_pi: Tensor, mask: Tensor) -> Tensor:
    """Cross-entropy towards uniform over admissible actions: mean_s −(1/|A_s|) Σ_a log π(a|s) (length-bias fix)."""
    m = mask.to(log_pi.dtype)
    return (-(log_pi * m).sum(-1) / m.sum(-1).clamp_min(1.0)).mean()


# ---------------------------------------------------------------------------------------------- learner
@dataclass
class SACConfig:
    """Discrete SAC hyper-parameters (n-step, γ and HER live in the relabeller)."""

    batch_size: int = 32
    actor_lr: float = 3e-4
    critic_lr: float = 1e-3
    alpha_lr: float = 3e-3
    init_alpha: float = 0.05
    alpha_min: float = 1e-3          # floor: with a flat Q, auto-tuning drives α to ~0 (DESIGN "Temperature")
    autotune_alpha: bool = True
    entropy_kappa: float = 0.2       # target entropy κ·log|A_s|. 0.6 kept the sampled policy near-random on
    #                                  multi-step goals and its bonus α·H per step outweighed a deep goal's
    #                                  discounted reward (benchmarks/RESULTS.md section 18)
    tau: float = 0.005               # Polyak rate for the target heads
    learning_starts: int = 256       # transitions in replay before updates start
    updates_per_step: float = 1.0    # updates asked for per observed env step (0.5 learns Grasp goals far slower)
    critic_warmup_updates: int = 0   # critic-only updates first (no actor loss, no α; the trunk still moves
    #                                  with the critic's gradient when critic_trunk_grad > 0)
    uniform_warmup_updates: int = 0  # actor trained towards uniform over A_s first (DESIGN "Length bias")
    max_grad_norm: float = 1.0
    critic_head: str = "token"
    critic_dueling: bool = False
    critic_mlp_hidden: int = 256
    critic_trunk_grad: float = 1.0   # scale of the critic's gradient into the shared trunk (0 = heads only)
    target_trunk: bool = False       # score s' for Q̄ with a Polyak copy of the policy's trunk (MAGELLAN keeps a
    #                                  target adapter); π(·|s') still comes from the online policy. Costs a copy
    #                                  of the policy and one more no-grad pass over s' per update.
    target_trunk_tau: float = 0.005  # Polyak rate of that copy

    def validate(self) -> None:
        """Raise ValueError naming the first out-of-range field (``autotelic.config`` calls this on load)."""
        if not 0 < self.alpha_min <= self.init_alpha:
            raise ValueError(f"need 0 < alpha_min <= init_alpha, got {self.alpha_min}, {self.init_alpha}")
        for k in ("batch_size", "critic_mlp_hidden"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be >= 1, got {getattr(self, k)}")
        for k in ("learning_starts", "critic_warmup_updates", "uniform_warmup_updates", "updates_per_step",
                  "critic_trunk_grad"):
            if getattr(self, k) < 0:
                raise ValueError(f"{k} must be >= 0, got {getattr(self, k)}")
        for k in ("actor_lr", "critic_lr", "alpha_lr", "max_grad_norm"):
            if not getattr(self, k) > 0:
                raise ValueError(f"{k} must be > 0, got {getattr(self, k)}")
        for k in ("tau", "target_trunk_tau"):
            if not 0 < getattr(self, k) <= 1:
                raise ValueError(f"{k} must be in (0, 1], got {getattr(self, k)}")
        if not 0 <= self.entropy_kappa <= 1:  # H(π(·|s)) <= log|A_s|: a target above it can never be met
            raise ValueError(f"entropy_kappa must be in [0, 1] (target κ·log|A_s| <= the maximum entropy log|A_s|), "
                             f"got {self.entropy_kappa}")
        if self.critic_head not in HEAD_TYPES:
            raise ValueError(f"unknown critic head {self.critic_head!r}; expected one of {HEAD_TYPES}")

    def shard(self, world_size: int) -> "SACConfig":
        """The config one of ``world_size`` data-parallel processes runs: the global batch split (it must be a
        multiple of ``world_size``), learning_starts split (rounded up), and updates_per_step × world_size since
        each process observes 1/world_size of the env steps but runs every update."""
        batch = split_count("sac.batch_size", self.batch_size, world_size, ": it is the global batch")
        n = int(world_size)
        return dataclasses.replace(self, batch_size=batch,
                                   learning_starts=math.ceil(self.learning_starts / n),
                                   updates_per_step=self.updates_per_step * n)


def _active_rows(policy: Any) -> Callable[[], int] | None:
    """``policy.active_vocab_size`` as a callable (rows of a growing vocabulary that a word owns now), if it has one."""
    if not hasattr(policy, "active_vocab_size"):
        return None
    return functools.partial(getattr, policy, "active_vocab_size")  # picklable, unlike a lambda


class SACLearner:
    """Discrete SAC + HER learner over an ``LMPolicy``; implements ``autotelic.learner.Learner``.

    One update: sample a relabelled batch, score s (with grad) and s' (no grad, only non-terminal rows), then one
    backward of critic + actor loss (critic gradient reaches the trunk only when ``critic_trunk_grad`` > 0; the actor
    loss sees Q detached), separate Adam steps for policy and heads, the α step, and the Polyak update.
    Targets are computed in eval mode (as the rollout acts: no dropout) and the gradient pass in train mode, each
    mode restored afterwards (``autotelic.modes``).
    """

    on_policy = False
    rank_local_keys = ("replay", "credit")

    def __init__(self, policy: nn.Module, replay: EpisodeReplay, relabeller: HindsightRelabeller,
                 config: SACConfig | None = None, critic: TwinQCritic | None = None) -> None:
        self.cfg = cfg = config or SACConfig()
        cfg.validate()
        self.policy, self.replay, self.relabeller = policy, replay, relabeller
        device = getattr(policy, "device", torch.device("cpu"))
        self.critic = (critic or TwinQCritic(policy.hidden_size, policy.vocab_size, head=cfg.critic_head,
                                             mlp_hidden=cfg.critic_mlp_hidden, dueling=cfg.critic_dueling,
                                             trunk_grad=cfg.critic_trunk_grad,
                                             init_rows=getattr(policy, "active_vocab_size", None),
                                             active_rows=_active_rows(policy))).to(device)
        self.log_alpha = torch.tensor(math.log(cfg.init_alpha), device=device, requires_grad=True)
        # optional target trunk: a frozen copy of the policy, Polyak-averaged towards it after every update
        self.target_policy: nn.Module | None = (copy.deepcopy(policy).requires_grad_(False) if cfg.target_trunk
                                                else None)
        # foreach: one multi-tensor kernel per Adam op instead of one op per parameter (same maths; ~2 ms of a
        # ~20 ms update on CPU, benchmarks/speed.py)
        self.actor_opt = torch.optim.Adam([p for p in policy.parameters() if p.requires_grad], lr=cfg.actor_lr,
                                          foreach=True)
        self.critic_opt = torch.optim.Adam(self.critic.online_parameters(), lr=cfg.critic_lr, foreach=True)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.alpha_lr)
        self.num_updates = 0
        self._credit = 0.0
        self.dist: Any = None  # [distributed] autotelic.distributed.Collectives: averages gradients over processes

    # ------------------------------------------------------------------ Learner protocol
    def observe(self, episodes: Sequence[Episode]) -> None:
        for ep in episodes:
            self.replay.add(ep)
            if self.ready():
                self._credit += len(ep) * self.cfg.updates_per_step

    def replay_only(self, episodes: Sequence[Episode]) -> None:
        """Add episodes to the replay without crediting updates (the loop's stitched chains: their steps were
        already counted once, as the chain's own episodes)."""
        for ep in episodes:
            self.replay.add(ep)

    def ready(self) -> bool:
        return len(self.replay) >= max(1, self.cfg.learning_starts)

    def pending_updates(self) -> int:
        return int(self._credit) if self.ready() else 0

    def networks(self) -> dict[str, nn.Module]:
        return {"policy": self.policy, "critic": self.critic}

    def replica_tensors(self) -> list[Tensor]:
        nets = list(self.networks().values()) + ([self.target_policy] if self.target_policy is not None else [])
        return [t for net in nets for t in net.state_dict().values()] + [self.log_alpha]

    @property
    def alpha(self) -> float:
        return self.log_alpha.detach().exp().item()

    def update(self, rng: np.random.Generator) -> dict[str, float]:
        """One SAC update on a relabelled batch from the replay."""
        batch = self.relabeller.sample(self.replay, self.cfg.batch_size, rng)
        metrics = self.update_on_batch(batch)
        self._credit = max(0.0, self._credit - 1.0)
        return metrics

    @torch.no_grad()
    def critic_target(self, batch: TransitionBatch, alpha: Tensor | float | None = None) -> Tensor:
        """``sac_critic_target`` for a batch, [B]: s' scored in eval mode with the target heads Q̄_i (on the target
        trunk's states when ``target_trunk``), only on rows where γ^m (1 − terminated) > 0 (the others get y = R).
        ``alpha`` defaults to the current α."""
        dev = self.log_alpha.device
        alpha = self.log_alpha.detach().exp() if alpha is None else alpha
        returns, discounts = batch.returns.to(dev), batch.discounts.to(dev)
        y = returns.clone()
        live = torch.nonzero(discounts > 0).flatten().tolist()
        if live:
            nprompts, ncands = [batch.next_prompts[i] for i in live], [batch.next_candidates[i] for i in live]
            tp = self.target_policy
            with evaluating(self.policy, self.critic, *([tp] if tp is not None else [])):
                ns = self.policy.score(nprompts, ncands)
                tq1, tq2 = self.critic.target(ns if tp is None else tp.score(nprompts, ncands))
            rows = torch.as_tensor(live, dtype=torch.long, device=dev)
            y[rows] = sac_critic_target(ns.log_pi, ns.mask, tq1, tq2, returns[rows], discounts[rows], alpha)
        return y

    def update_on_batch(self, batch: TransitionBatch) -> dict[str, float]:
        """One SAC update on a given batch (``update`` samples it); returns the metrics."""
        cfg, dev = self.cfg, self.log_alpha.device
        n = self.num_updates
        sac_actor = n >= cfg.critic_warmup_updates
        uniform = n < cfg.uniform_warmup_updates
        alpha = self.log_alpha.detach().exp()
        actions = batch.actions.to(dev)

        y = self.critic_target(batch, alpha)
        with training(self.policy, self.critic):
            scores = self.policy.score(batch.prompts, batch.candidates)
            q1, q2 = self.critic(scores)
        q1_sa = q1.gather(1, actions[:, None]).squeeze(1)
        q2_sa = q2.gather(1, actions[:, None]).squeeze(1)
        critic_loss = sac_critic_loss(q1_sa, q2_sa, y)
        entropy = masked_entropy(scores.log_pi, scores.mask)
        h_target = target_entropy(scores.mask, cfg.entropy_kappa).to(dev)
        if uniform:
            actor_loss = uniform_ce_loss(scores.log_pi, scores.mask)
        elif sac_actor:
            actor_loss = sac_actor_loss(scores.log_pi, scores.mask, q1, q2, alpha)
        else:
            actor_loss = torch.zeros((), device=dev)
        step_actor = uniform or sac_actor or cfg.critic_trunk_grad > 0

        self.actor_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        (critic_loss + actor_loss).backward()
        critic_params = self.critic.online_parameters()
        actor_params = [p for g in self.actor_opt.param_groups for p in g["params"]]
        if self.dist is not None:  # [distributed] mean gradient over processes before clipping, as DDP would
            self.dist.average_gradients(critic_params + actor_params)
        critic_gn = nn.utils.clip_grad_norm_(critic_params, cfg.max_grad_norm, foreach=True)
        actor_gn = nn.utils.clip_grad_norm_(actor_params, cfg.max_grad_norm, foreach=True)
        self.critic_opt.step()
        if step_actor:
            self.actor_opt.step()

        alpha_loss = torch.zeros((), device=dev)
        if cfg.autotune_alpha and sac_actor and not uniform:
            alpha_loss = sac_alpha_loss(self.log_alpha, entropy, h_target)
            self.alpha_opt.zero_grad(set_to_none=True)
            alpha_loss.backward()
            if self.dist is not None:  # [distributed] one α for every process
                self.dist.average_gradients([self.log_alpha])
            self.alpha_opt.step()
        with torch.no_grad():
            self.log_alpha.clamp_(min=math.log(cfg.alpha_min))
        self.critic.soft_update(cfg.tau)
        if self.target_policy is not None:
            polyak_(self.target_policy, self.policy, cfg.target_trunk_tau)
        self.num_updates += 1
        return {
            "losses/critic": critic_loss.item(), "losses/actor": actor_loss.item(), "losses/alpha": alpha_loss.item(),
            "charts/alpha": self.alpha, "charts/entropy": entropy.mean().item(),
            "charts/target_entropy": float(h_target.mean()), "charts/q_mean": float(q1_sa.detach().mean()),
            "charts/target_mean": float(y.mean()), "charts/actor_grad_norm": float(actor_gn),
            "charts/critic_grad_norm": float(critic_gn),
            "her/relabelled_fraction": float(batch.relabelled.float().mean()),
        }

    # ------------------------------------------------------------------ checkpoint
    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        state = {"config": asdict(self.cfg), "policy": self.policy.state_dict(), "critic": self.critic.state_dict(),
                 "log_alpha": self.log_alpha.detach().clone(), "actor_opt": self.actor_opt.state_dict(),
                 "critic_opt": self.critic_opt.state_dict(), "alpha_opt": self.alpha_opt.state_dict(),
                 "num_updates": self.num_updates, "credit": self._credit}
        if self.target_policy is not None:
            state["target_policy"] = self.target_policy.state_dict()
        if include_replay:
            state["replay"] = self.replay.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.critic.load_state_dict(state["critic"])
        if self.target_policy is not None:
            self.target_policy.load_state_dict(state.get("target_policy", state["policy"]))
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.num_updates = int(state["num_updates"])
        self._credit = float(state["credit"])
        if "replay" in state:
            self.replay.load_state_dict(state["replay"])
