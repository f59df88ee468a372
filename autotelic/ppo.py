"""PPO baseline (GLAM): clipped policy objective on the LLM scoring policy, a value head on the same forward pass.

On-policy: the learner keeps the episodes it observes until they hold ``rollout_steps`` transitions, then one
``update`` computes values with the (unchanged) policy, GAE(λ) per episode, and runs ``epochs`` × minibatches of
the clipped objective; the buffer is then emptied. The "old" log-prob of a step is the behaviour log-prob the
rollout stored with it (``Episode.logps``, from ``LMPolicy.act``): an episode in progress across an update was
partly sampled by the previous policy, and its ratio says so. Episodes without stored log-probs (an act function
that returns plain indices) get them recomputed with the current policy. Values and recomputed log-probs are taken
in eval mode, as acting is (no dropout); the gradient passes run in train mode (``autotelic.modes``).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .critic import grad_scale, state_features
from .episode import Episode
from .modes import evaluating, training
from .policy import masked_entropy
from .strategy import split_count


def gae(rewards: Tensor, values: Tensor, last_value: float | Tensor, terminated: bool, gamma: float,
        lam: float) -> tuple[Tensor, Tensor]:
    """GAE(λ) for one episode of T steps: returns (advantages Â_t, value targets Â_t + V(s_t)), each [T].

    δ_t = r_t + γ V(s_{t+1}) − V(s_t), with V(s_T) = ``last_value`` after a truncation and 0 after a termination;
    Â_t = δ_t + γλ Â_{t+1}.
    """
    T = rewards.shape[0]
    if values.shape[0] != T:
        raise ValueError(f"need one value per step: {values.shape[0]} values for {T} rewards")
    v_next = torch.cat([values[1:], torch.as_tensor([0.0 if terminated else float(last_value)],
                                                    dtype=values.dtype, device=values.device)])
    delta = rewards + gamma * v_next - values
    adv = torch.zeros_like(rewards)
    acc = 0.0
    for t in range(T - 1, -1, -1):
        acc = delta[t] + gamma * lam * acc
        adv[t] = acc
    return adv, adv + values


def clipped_policy_loss(ratio: Tensor, advantages: Tensor, clip_coef: float) -> Tensor:
    """L^CLIP = −mean_t min(ρ_t Â_t, clip(ρ_t, 1−ε, 1+ε) Â_t), ρ_t = π(a_t|s_t) / π_old(a_t|s_t)."""
    return -torch.min(ratio * advantages, ratio.clamp(1 - clip_coef, 1 + clip_coef) * advantages).mean()


def value_loss(values: Tensor, returns: Tensor) -> Tensor:
    """L^V = ½ mean_t (V(s_t) − R_t)²."""
    return 0.5 * ((values - returns) ** 2).mean()


def ppo_loss(policy_loss: Tensor, v_loss: Tensor, entropy: Tensor, vf_coef: float, ent_coef: float) -> Tensor:
    """L = L^CLIP + c_V L^V − c_H H: the entropy bonus lowers the loss of a more random policy."""
    return policy_loss + vf_coef * v_loss - ent_coef * entropy


@dataclass
class PPOBatch:
    """Every transition of one rollout, flattened: the inputs of PPO's epochs."""

    prompts: list[str]
    candidates: list[list[str]]
    actions: Tensor      # [N] long
    old_logp: Tensor     # [N] behaviour log π_old(a_t|s_t)
    values: Tensor       # [N] V(s_t) before the update
    advantages: Tensor   # [N] GAE(λ) Â_t
    returns: Tensor      # [N] value targets Â_t + V(s_t)

    def __len__(self) -> int:
        return len(self.prompts)


@dataclass
class PPOConfig:
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    epochs: int = 4
    minibatch_size: int = 64
    rollout_steps: int = 256          # transitions per update
    lr: float = 3e-4
    value_lr: float = 1e-3
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    max_grad_norm: float = 0.5
    normalize_advantages: bool = True
    target_kl: float | None = None    # stop the epochs early when the approximate KL exceeds it
    value_trunk_grad: float = 1.0     # scale of the value loss' gradient into the shared trunk
    value_hidden: int = 256

    def validate(self) -> None:
        """Raise ValueError naming the first out-of-range field (``autotelic.config`` calls this on load)."""
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise ValueError(f"gae_lambda must be in [0, 1], got {self.gae_lambda}")
        for k in ("clip_coef", "lr", "value_lr", "max_grad_norm"):
            if not getattr(self, k) > 0:
                raise ValueError(f"{k} must be > 0, got {getattr(self, k)}")
        for k in ("epochs", "minibatch_size", "rollout_steps", "value_hidden"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be >= 1, got {getattr(self, k)}")
        for k in ("vf_coef", "ent_coef", "value_trunk_grad"):
            if getattr(self, k) < 0:
                raise ValueError(f"{k} must be >= 0, got {getattr(self, k)}")
        if self.target_kl is not None and not self.target_kl > 0:
            raise ValueError(f"target_kl must be > 0 or null (no early stop), got {self.target_kl}")

    def shard(self, world_size: int) -> "PPOConfig":
        """The config one of ``world_size`` data-parallel processes runs: rollout_steps split (rounded up) and the
        global minibatch split (it must be a multiple of ``world_size``)."""
        mb = split_count("ppo.minibatch_size", self.minibatch_size, world_size, ": it is the global minibatch")
        return dataclasses.replace(self, rollout_steps=math.ceil(self.rollout_steps / int(world_size)),
                                   minibatch_size=mb)


class PPOLearner:
    """PPO over an ``LMPolicy`` with prompts built by ``prompt_fn(goal, observation)``; a ``Learner``."""

    on_policy = True
    rank_local_keys = ("episodes",)

    def __init__(self, policy: nn.Module, prompt_fn: Callable[[str, str], str], config: PPOConfig | None = None
                 ) -> None:
        self.cfg = cfg = config or PPOConfig()
        cfg.validate()
        self.policy, self.prompt_fn = policy, prompt_fn
        device = getattr(policy, "device", torch.device("cpu"))
        h = policy.hidden_size
        self.value_head = nn.Sequential(nn.Linear(h, cfg.value_hidden), nn.Tanh(),
                                        nn.Linear(cfg.value_hidden, 1)).to(device)
        self.optimizer = torch.optim.Adam([
            {"params": [p for p in policy.parameters() if p.requires_grad], "lr": cfg.lr},
            {"params": list(self.value_head.parameters()), "lr": cfg.value_lr}], foreach=True)
        self._episodes: list[Episode] = []
        self._steps = 0
        self.num_updates = 0
        self.dist: Any = None  # [distributed] autotelic.distributed.Collectives: averages gradients over processes

    # ------------------------------------------------------------------ Learner protocol
    def observe(self, episodes: Sequence[Episode]) -> None:
        for ep in episodes:
            if not ep.done or len(ep) == 0:
                raise ValueError("PPO observes finished, non-empty episodes only")
            ep.validate()
            self._episodes.append(ep)
            self._steps += len(ep)

    def ready(self) -> bool:
        return self._steps >= self.cfg.rollout_steps

    def pending_updates(self) -> int:
        return 1 if self.ready() else 0

    def networks(self) -> dict[str, nn.Module]:
        return {"policy": self.policy, "value": self.value_head}

    def replica_tensors(self) -> list[Tensor]:
        return [t for net in self.networks().values() for t in net.state_dict().values()]

    def _value(self, scores: Any) -> Tensor:
        feats = grad_scale(state_features(scores.token_hidden, scores.mask), self.cfg.value_trunk_grad)
        return self.value_head(feats).squeeze(-1)

    @torch.no_grad()
    def _evaluate(self, prompts: list[str], cands: list[list[str]], actions: Tensor | None) -> tuple[Tensor, Tensor]:
        """(log π(a|s) or empty, V(s)) in chunks of one minibatch, in eval mode and without gradients."""
        mb = self.cfg.minibatch_size
        logps, vals = [], []
        with evaluating(self.policy, self.value_head):
            for i in range(0, len(prompts), mb):
                sc = self.policy.score(prompts[i:i + mb], cands[i:i + mb])
                vals.append(self._value(sc))
                if actions is not None:
                    logps.append(sc.log_pi.gather(1, actions[i:i + mb, None].to(sc.log_pi.device)).squeeze(1))
        return (torch.cat(logps) if logps else torch.empty(0)), torch.cat(vals)

    def rollout_batch(self) -> PPOBatch:
        """Flatten the observed episodes: behaviour log-probs (stored, else recomputed), values, GAE(λ) targets.

        A truncated episode bootstraps from V(s_T) unless s_T offers no admissible action (then no future reward:
        V(s_T) = 0, as in the relabeller)."""
        cfg = self.cfg
        if not self._episodes:
            raise ValueError("PPO update with no observed episodes")
        prompts, cands, acts, rews, bounds, stored = [], [], [], [], [], []
        boot_prompts, boot_cands, boot_eps = [], [], []
        for k, ep in enumerate(self._episodes):
            start = len(prompts)
            for t in range(len(ep)):
                prompts.append(self.prompt_fn(ep.goal, ep.observations[t]))
                cands.append(list(ep.admissible[t]))
            acts.extend(ep.actions)
            rews.extend(ep.rewards)
            bounds.append((start, len(prompts)))
            if len(ep.logps) == len(ep):
                stored.append((start, ep.logps))
            if not ep.terminated and ep.admissible[-1]:  # truncated: bootstrap V(s_T)
                boot_prompts.append(self.prompt_fn(ep.goal, ep.observations[-1]))
                boot_cands.append(list(ep.admissible[-1]))
                boot_eps.append(k)
        device = getattr(self.policy, "device", torch.device("cpu"))
        actions = torch.tensor(acts, dtype=torch.long, device=device)
        rewards = torch.tensor(rews, dtype=torch.float32, device=device)
        old_logp, values = self._evaluate(prompts, cands, actions)
        for start, logps in stored:  # the behaviour policy's log-probs, not the current policy's
            old_logp[start:start + len(logps)] = torch.tensor(logps, dtype=old_logp.dtype, device=old_logp.device)
        last_values = dict(zip(boot_eps, self._evaluate(boot_prompts, boot_cands, None)[1].tolist())) \
            if boot_prompts else {}
        advantages = torch.zeros_like(rewards)
        returns = torch.zeros_like(rewards)
        for k, (a, b) in enumerate(bounds):
            ep = self._episodes[k]
            advantages[a:b], returns[a:b] = gae(rewards[a:b], values[a:b], last_values.get(k, 0.0), ep.terminated,
                                                cfg.gamma, cfg.gae_lambda)
        return PPOBatch(prompts=prompts, candidates=cands, actions=actions, old_logp=old_logp, values=values,
                        advantages=advantages, returns=returns)

    def update(self, rng: np.random.Generator) -> dict[str, float]:
        """PPO epochs over every observed episode, then clear them."""
        cfg = self.cfg
        batch = self.rollout_batch()
        prompts, cands, actions, old_logp = batch.prompts, batch.candidates, batch.actions, batch.old_logp
        values, advantages, returns = batch.values, batch.advantages, batch.returns
        device = actions.device

        n = len(prompts)
        # [distributed] every process runs the same number of minibatches: each uses min_r n_r of its transitions
        n_used = n if self.dist is None else self.dist.min_int(n)
        sums: dict[str, float] = {}
        count = 0
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        stop = False
        for _ in range(cfg.epochs):
            perm = rng.permutation(n)[:n_used]
            for i in range(0, n_used, cfg.minibatch_size):
                idx = perm[i:i + cfg.minibatch_size].tolist()
                it = torch.tensor(idx, dtype=torch.long, device=device)
                with training(self.policy, self.value_head):
                    sc = self.policy.score([prompts[j] for j in idx], [cands[j] for j in idx])
                    v_pred = self._value(sc)
                new_logp = sc.log_pi.gather(1, actions[it, None]).squeeze(1)
                log_ratio = new_logp - old_logp[it]
                ratio = log_ratio.exp()
                adv = advantages[it]
                if cfg.normalize_advantages and len(idx) > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pg_loss = clipped_policy_loss(ratio, adv, cfg.clip_coef)
                v_loss = value_loss(v_pred, returns[it])
                entropy = masked_entropy(sc.log_pi, sc.mask).mean()
                loss = ppo_loss(pg_loss, v_loss, entropy, cfg.vf_coef, cfg.ent_coef)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if self.dist is not None:  # [distributed] mean gradient over processes before clipping
                    self.dist.average_gradients(params)
                nn.utils.clip_grad_norm_(params, cfg.max_grad_norm, foreach=True)
                self.optimizer.step()
                with torch.no_grad():
                    approx_kl = float(((ratio - 1) - log_ratio).mean())
                    if self.dist is not None:  # [distributed] the early stop must agree across processes
                        approx_kl = self.dist.mean_float(approx_kl)
                    clipfrac = float(((ratio - 1).abs() > cfg.clip_coef).float().mean())
                for key, v in (("losses/policy", pg_loss.item()), ("losses/value", v_loss.item()),
                               ("losses/entropy", entropy.item()), ("charts/approx_kl", approx_kl),
                               ("charts/clipfrac", clipfrac)):
                    sums[key] = sums.get(key, 0.0) + v
                count += 1
                if cfg.target_kl is not None and approx_kl > cfg.target_kl:
                    stop = True
                    break
            if stop:
                break
        var_y = float(returns.var()) if n > 1 else 0.0
        explained = float("nan") if var_y == 0 else 1.0 - float((returns - values).var()) / var_y
        metrics = {k: v / count for k, v in sums.items()}
        metrics.update({"charts/explained_variance": explained, "charts/value_mean": float(values.mean()),
                        "charts/return_mean": float(returns.mean()), "charts/rollout_steps": float(n)})
        self._episodes, self._steps = [], 0
        self.num_updates += 1
        return metrics

    # ------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        """Policy, value head, optimiser, counters and the episodes collected since the last update (they were
        collected with the saved policy, so a resumed run updates on exactly what an uninterrupted one would)."""
        return {"config": asdict(self.cfg), "policy": self.policy.state_dict(), "value": self.value_head.state_dict(),
                "optimizer": self.optimizer.state_dict(), "num_updates": self.num_updates,
                "episodes": [ep.to_dict() for ep in self._episodes]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.value_head.load_state_dict(state["value"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.num_updates = int(state["num_updates"])
        self._episodes = [Episode.from_dict(d) for d in state.get("episodes", [])]
        self._steps = sum(len(ep) for ep in self._episodes)
