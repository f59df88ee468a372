"""MAGELLAN curriculum (Gaven et al. 2025): learning progress predicted from the policy's own LLM.

A success head ĉ_θ(g) = σ(MLP_θ(e(g))) reads e(g), the mean-pooled, detached hidden state of the goal text under the
policy's LLM (encoder states for seq2seq models, last-layer states for causal ones), and is trained online by binary
cross-entropy on the (goal, success) outcomes the loop reports through ``update``:
    L(θ) = − mean_{(g, s) ~ recent outcomes} [ s log ĉ_θ(g) + (1 − s) log(1 − ĉ_θ(g)) ].
A delayed copy θ' is a snapshot of θ taken ``delay`` to 2·``delay`` head steps ago (snapshots every ``delay``
steps, the older of the last two is used), and
    LP(g) = | ĉ_θ(g) − ĉ_θ'(g) |,    p(g) = ε/N + (1 − ε) LP(g) / Σ_h LP(h)   (uniform while Σ LP = 0).
Because e(g) is shared across similar goals, competence and LP generalise to goals never attempted.

The competence estimate (``estimate_competence``, what ``curriculum/competence_error`` scores) treats ĉ_θ(g) as a
Beta prior worth m = ``prior_outcomes`` outcomes and updates it with the goal's own windowed record in the graph
(n outcomes at success rate c_g): ĉ(g) = (m ĉ_θ(g) + n c_g) / (m + n). A goal never tried gets the head's
prediction, a goal tried often its own success rate; ``prior_outcomes=None`` reports ĉ_θ alone (the paper's
estimate). Sampling uses the head's LP either way.

``attach(policy)`` hands over the ``LMPolicy``; before it (or for a policy-less use) e(g) is a fixed bag-of-words
hashing embedding of the goal text. Embeddings are cached per goal and recomputed every ``refresh_every`` outcomes
(0: never); the cache is part of the state, so a resumed run continues exactly. ``encoder_lr > 0`` gives the head
its own copy of the policy's LLM, taken at ``attach``, whose encoder trains with the head on the same loss (the
paper fine-tunes the LLM for the success estimate; a copy keeps the policy's weights the learner's alone); the
cache then goes stale as the copy trains, so it needs ``refresh_every > 0``. The copy knows the words of the
policy's vocabulary at ``attach`` time only.
"""
from __future__ import annotations

import copy
import hashlib
from collections import deque
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from autotelic.graph import GoalGraph

from .base import BaseCurriculum, GoalPool, graph_column, register_curriculum

HASH_DIM = 64  # width of the bag-of-words fallback embedding


def _hash_embedding(texts: Sequence[str], dim: int = HASH_DIM) -> torch.Tensor:
    """Deterministic bag-of-words embedding: each lower-cased word adds a fixed ±1 pattern (blake2b of the word)."""
    out = torch.zeros(len(texts), dim)
    for i, t in enumerate(texts):
        words = t.lower().replace(",", " ").split()
        for w in words:
            h = hashlib.blake2b(w.encode(), digest_size=dim // 8).digest()
            bits = np.unpackbits(np.frombuffer(h, dtype=np.uint8)).astype(np.float32)
            out[i] += torch.from_numpy(2.0 * bits - 1.0)
        if words:
            out[i] /= len(words) ** 0.5
    return out


def pooled_goal_states(lm: Any, texts: Sequence[str]) -> torch.Tensor:
    """Mean-pooled hidden states of ``texts`` under ``lm`` (an ``autotelic.lm.LanguageModel``) [n, H], in ``lm``'s
    dtype and device, with a graph when grad is enabled (encoder states for seq2seq models, last layer for causal)."""
    ids = lm.tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    ids = [list(x) if len(x) else [lm.eos_id if lm.eos_id is not None else lm.pad_id] for x in ids]
    width = max(len(x) for x in ids)
    inp = torch.tensor([x + [lm.pad_id] * (width - len(x)) for x in ids], dtype=torch.long, device=lm.device)
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids], dtype=torch.long, device=lm.device)
    core = lm.core
    if lm.is_encoder_decoder:
        h = core.get_encoder()(input_ids=inp, attention_mask=mask).last_hidden_state
    else:
        h = core.base_model(input_ids=inp, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp_min(1)


@torch.no_grad()
def goal_embeddings(policy: Any, texts: Sequence[str], batch: int = 512) -> torch.Tensor:
    """Mean-pooled LLM hidden states of ``texts`` [n, H] (float32, CPU), no gradient, dropout off; ``policy``: an
    ``LMPolicy`` or its ``LanguageModel``."""
    lm = getattr(policy, "lm", policy)
    was_training = lm.training
    lm.eval()
    try:
        out = [pooled_goal_states(lm, texts[s: s + batch]).float().cpu() for s in range(0, len(texts), batch)]
        return torch.cat(out) if out else torch.zeros(0, lm.hidden_size)
    finally:
        lm.train(was_training)


class SuccessHead(nn.Module):
    """ĉ(g) logits: a small MLP on a goal embedding (LayerNorm first: LLM states have model-specific scales)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.net(e).squeeze(-1)


@register_curriculum("magellan")
class MagellanCurriculum(BaseCurriculum):
    """Sample goals in proportion to predicted |ĉ_now − ĉ_delayed| (see the module docstring)."""

    name = "magellan"
    predicts_competence = True

    def __init__(self, epsilon: float = 0.2, hidden: int = 64, lr: float = 1e-3, batch_size: int = 64,
                 buffer_size: int = 2048, delay: int = 50, train_every: int = 1, refresh_every: int = 0,
                 embed_batch: int = 512, prior_outcomes: float | None = 4.0, encoder_lr: float = 0.0,
                 seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
        for k, v in (("hidden", hidden), ("batch_size", batch_size), ("buffer_size", buffer_size),
                     ("delay", delay), ("train_every", train_every), ("embed_batch", embed_batch)):
            if int(v) < 1:
                raise ValueError(f"{k} must be >= 1, got {v}")
        if prior_outcomes is not None and not float(prior_outcomes) > 0:
            raise ValueError(f"prior_outcomes must be > 0 (or None: the head's prediction alone), got {prior_outcomes}")
        self.prior_outcomes = None if prior_outcomes is None else float(prior_outcomes)
        if refresh_every < 0 or lr <= 0:
            raise ValueError(f"need refresh_every >= 0 and lr > 0, got {refresh_every}, {lr}")
        if encoder_lr < 0 or (encoder_lr > 0 and not refresh_every):
            raise ValueError(f"encoder_lr must be >= 0 and, when > 0, needs refresh_every > 0 (the cached embeddings "
                             f"go stale as the head's encoder trains), got encoder_lr={encoder_lr}, "
                             f"refresh_every={refresh_every}")
        self.encoder_lr = float(encoder_lr)
        self.own: Any = None  # the head's copy of the policy's LLM (encoder_lr > 0, after attach)
        self.epsilon, self.hidden, self.lr = float(epsilon), int(hidden), float(lr)
        self.batch_size, self.delay, self.train_every = int(batch_size), int(delay), int(train_every)
        self.refresh_every, self.embed_batch, self.seed = int(refresh_every), int(embed_batch), int(seed)
        self.buffer: deque[tuple[str, bool]] = deque(maxlen=int(buffer_size))
        self.policy: Any = None
        self.head_steps = 0
        self.loss_ema: float | None = None
        self._gen = torch.Generator().manual_seed(self.seed)
        self._emb_goals: list[str] = []
        self._emb_index: dict[str, int] = {}
        self._emb = torch.zeros(0, 0)
        self._build(HASH_DIM)

    # ------------------------------------------------------------------ model
    def _build(self, dim: int) -> None:
        g = torch.random.fork_rng(devices=[])  # initialise from our own seed, leave the global RNG untouched
        with g:
            torch.manual_seed(self.seed)
            self.head = SuccessHead(dim, self.hidden)
        groups = [{"params": list(self.head.parameters())}]
        if self.own is not None:
            groups.append({"params": [p for p in self.own.core.get_encoder().parameters() if p.requires_grad]
                           if self.own.is_encoder_decoder else list(self.own.trainable_parameters()),
                           "lr": self.encoder_lr})
        self.opt = torch.optim.Adam(groups, lr=self.lr)
        self._snapshots: deque[dict[str, torch.Tensor]] = deque([self._copy()], maxlen=2)
        self.delayed = copy.deepcopy(self.head).requires_grad_(False)
        self.dim = dim
        self._pred_cache: tuple[Any, np.ndarray, np.ndarray] | None = None
        self._pool_rows = None

    def _copy(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.head.state_dict().items()}

    def attach(self, policy: Any) -> None:
        """Use ``policy``'s LLM for goal embeddings (an ``autotelic.policy.LMPolicy``); resets the head when the
        embedding width changes (call it before training, as the builder does)."""
        if not hasattr(policy, "lm"):
            raise TypeError(f"magellan.attach needs an LMPolicy (with .lm), got {type(policy).__name__}")
        self.policy = policy
        if self.encoder_lr > 0:
            self.own = copy.deepcopy(policy.lm)
            self._build(int(policy.hidden_size))  # the optimiser now holds the copy's encoder too
        elif int(policy.hidden_size) != self.dim:
            self._build(int(policy.hidden_size))
        self._clear_embeddings()

    # ------------------------------------------------------------------ embeddings
    def _clear_embeddings(self) -> None:
        self._emb_goals, self._emb_index = [], {}
        self._emb = torch.zeros(0, self.dim)
        self._pred_cache = None
        self._pool_rows: tuple[Any, torch.Tensor] | None = None

    def _embed_new(self, texts: list[str]) -> torch.Tensor:
        if self.policy is None:
            return _hash_embedding(texts, self.dim)
        return goal_embeddings(self.own if self.own is not None else self.policy.lm, texts, self.embed_batch)

    def embeddings(self, goals: Sequence[str]) -> torch.Tensor:
        """e(g) for every goal [n, dim], computing (and caching) those not embedded yet in one batched call."""
        missing = list(dict.fromkeys(g for g in goals if g not in self._emb_index))
        if missing:
            new = self._embed_new(missing)
            start = len(self._emb_goals)
            self._emb_goals += missing
            self._emb_index.update((g, start + i) for i, g in enumerate(missing))
            self._emb = torch.cat([self._emb, new]) if len(self._emb) else new
        idx = torch.as_tensor([self._emb_index[g] for g in goals], dtype=torch.long)
        return self._emb.index_select(0, idx)

    # ------------------------------------------------------------------ predictions
    @torch.no_grad()
    def _predict(self, goals: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ĉ_now, ĉ_delayed) per goal."""
        e = self.embeddings(goals)
        now = torch.sigmoid(self.head(e)).numpy().astype(np.float64)
        old = torch.sigmoid(self.delayed(e)).numpy().astype(np.float64)
        return now, old

    def _pool_predictions(self, graph: GoalGraph, pool: GoalPool) -> tuple[np.ndarray, np.ndarray]:
        """(ĉ_now, ĉ_delayed) over the pool, cached until the head trains, the pool grows or goals are re-embedded."""
        key = (self.head_steps, len(self._emb_goals), len(graph), len(pool), id(graph))
        if self._pred_cache is not None and self._pred_cache[0] == key:
            return self._pred_cache[1], self._pred_cache[2]
        ikey = (len(self._emb_goals), len(graph), len(pool), id(graph))
        if self._pool_rows is None or self._pool_rows[0] != ikey:
            self.embeddings(list(pool))  # embeds what is missing
            rows = torch.as_tensor([self._emb_index[g] for g in pool], dtype=torch.long)
            self._pool_rows = ((len(self._emb_goals), len(graph), len(pool), id(graph)), rows)
        with torch.no_grad():
            e = self._emb.index_select(0, self._pool_rows[1])
            now = torch.sigmoid(self.head(e)).numpy().astype(np.float64)
            old = torch.sigmoid(self.delayed(e)).numpy().astype(np.float64)
        self._pred_cache = (key, now, old)
        return now, old

    def learning_progress_array(self, graph: GoalGraph, pool: GoalPool) -> np.ndarray:
        """Predicted LP(g) = |ĉ_now(g) − ĉ_delayed(g)| for every pool goal."""
        now, old = self._pool_predictions(graph, pool)
        return np.abs(now - old)

    def weights(self, graph: GoalGraph, pool: GoalPool) -> np.ndarray:
        lp = self.learning_progress_array(graph, pool)
        n, total = len(pool), lp.sum()
        if total <= 0:
            return np.full(n, 1.0 / n)
        return self.epsilon / n + (1.0 - self.epsilon) * lp / total

    def predicted_competence(self, goals: Sequence[str]) -> np.ndarray:
        """The head's success probability ĉ_θ(g) for any goals, attempted or not."""
        if not len(goals):
            return np.zeros(0)
        return self._predict(list(goals))[0]

    def estimate_competence(self, graph: GoalGraph, goals: Sequence[str]) -> np.ndarray:
        """(m ĉ_θ(g) + n c_g) / (m + n): the head's prediction as a prior of m outcomes, updated by the goal's n
        windowed outcomes in ``graph`` (none for a goal the graph does not hold); ĉ_θ alone if ``prior_outcomes``
        is None."""
        head = self.predicted_competence(goals)
        if self.prior_outcomes is None or not len(goals):
            return head
        n, c = graph_column(graph, "n_outcomes", goals), super().estimate_competence(graph, goals)
        m = self.prior_outcomes
        return (m * head + n * c) / (m + n)

    # ------------------------------------------------------------------ learning
    def update(self, goal: str, success: bool) -> None:
        super().update(goal, success)
        self.buffer.append((goal, bool(success)))
        if self.refresh_every and self.n_updates % self.refresh_every == 0:
            self._clear_embeddings()  # the LLM has changed: embed again from now on
        if self.n_updates % self.train_every == 0:
            self._train_step()

    def _train_step(self) -> None:
        """One Adam step of the BCE loss on a minibatch of recent outcomes; snapshot every ``delay`` steps."""
        n = len(self.buffer)
        k = min(self.batch_size, n)
        pick = torch.randint(n, (k,), generator=self._gen).tolist()
        goals = [self.buffer[i][0] for i in pick]
        y = torch.tensor([float(self.buffer[i][1]) for i in pick])
        if self.own is not None:  # through the head's own encoder, with its graph
            self.own.train()
            e = pooled_goal_states(self.own, goals).float().cpu()
        else:
            e = self.embeddings(goals)
        loss = nn.functional.binary_cross_entropy_with_logits(self.head(e), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.head_steps += 1
        loss = float(loss.detach())
        self.loss_ema = loss if self.loss_ema is None else 0.95 * self.loss_ema + 0.05 * loss
        if self.head_steps % self.delay == 0:
            self._snapshots.append(self._copy())
            self.delayed.load_state_dict(self._snapshots[0])  # taken delay..2·delay steps ago
        self._pred_cache = None

    # ------------------------------------------------------------------ bookkeeping
    def _extra_metrics(self, graph: GoalGraph, pool: GoalPool, p: np.ndarray) -> dict[str, float]:
        lp = self.learning_progress_array(graph, pool)
        now, _ = self._pool_predictions(graph, pool)
        return {"curriculum/mean_lp": float(lp.mean()), "curriculum/max_lp": float(lp.max()),
                "curriculum/mean_predicted_competence": float(now.mean()),
                "curriculum/head_loss": float(self.loss_ema) if self.loss_ema is not None else 0.0,
                "curriculum/head_steps": float(self.head_steps),
                "curriculum/embedded_goals": float(len(self._emb_goals))}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "dim": self.dim, "head": self._copy(),
                "delayed": {k: v.clone() for k, v in self.delayed.state_dict().items()},
                "snapshots": [dict(s) for s in self._snapshots], "opt": self.opt.state_dict(),
                "buffer_goals": [g for g, _ in self.buffer], "buffer_success": [s for _, s in self.buffer],
                "head_steps": self.head_steps, "loss_ema": self.loss_ema, "gen": self._gen.get_state(),
                "emb_goals": list(self._emb_goals), "emb": self._emb.clone(),
                **({"own": self.own.state_dict()} if self.own is not None else {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if int(state["dim"]) != self.dim:
            raise ValueError(f"magellan state has embedding width {state['dim']}, this curriculum {self.dim} "
                             f"(attach the same policy before loading)")
        if (self.own is not None) != ("own" in state):
            raise ValueError("magellan state and curriculum disagree on encoder_lr > 0 (the head's own encoder): "
                             "resume with the curriculum.kwargs the state was saved with")
        if self.own is not None:
            self.own.load_state_dict(state["own"])
        self.head.load_state_dict(state["head"])
        self.delayed.load_state_dict(state["delayed"])
        self._snapshots = deque([dict(s) for s in state["snapshots"]], maxlen=2)
        self.opt.load_state_dict(state["opt"])
        self.buffer.clear()
        self.buffer.extend(zip(state["buffer_goals"], (bool(s) for s in state["buffer_success"])))
        self.head_steps = int(state["head_steps"])
        self.loss_ema = None if state["loss_ema"] is None else float(state["loss_ema"])
        self._gen.set_state(state["gen"])
        self._emb_goals = list(state["emb_goals"])
        self._emb_index = {g: i for i, g in enumerate(self._emb_goals)}
        self._emb = state["emb"].clone()
        self._pred_cache = None
        self._pool_rows = None
