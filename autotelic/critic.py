"""Twin Q heads on the policy's ``Scores`` (the same forward pass that scores the actions) with Polyak targets.

Head types: ``token`` (default) — shaped like the LM head, Q(s,a) = b + Σ_l (w[a_{l+1}]·h_l + c[a_{l+1}]) over the
candidate's tokens (DESIGN: with heads only it learned where a pooled MLP did not; with the critic's gradient in
the trunk both learn the toy task); ``mlp`` — an MLP on the pooled ``features``.
``dueling=True`` adds a state value: Q(s,a) = V(s) + A(s,a) − mean_{a'∈A_s} A(s,a'), with V read from the hidden
state that predicts each candidate's first token (a function of the prompt alone).
``trunk_grad`` scales the critic's gradient into the shared trunk (0 = heads only; the forward is unchanged); 1 is
the default because heads-only critics stayed at chance in the learning tests (see ``autotelic.sac``).
"""
from __future__ import annotations

import copy
from typing import Any, Callable

import torch
from torch import Tensor, nn

HEAD_TYPES = ("token", "mlp")


class _GradScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.scale, None


def grad_scale(x: Tensor, scale: float) -> Tensor:
    """Identity forward; backward multiplies the gradient by ``scale`` (0 detaches)."""
    if scale == 0.0:
        return x.detach()
    if scale == 1.0:
        return x
    return _GradScale.apply(x, scale)


def state_features(token_hidden: Tensor, mask: Tensor) -> Tensor:
    """[B, H] state representation: mean over real candidates of the hidden state predicting the first token."""
    h0 = token_hidden[:, :, 0, :]                       # [B, A, H]
    w = mask.to(h0.dtype).unsqueeze(-1)
    return (h0 * w).sum(1) / w.sum(1).clamp_min(1.0)


def _mlp(inp: int, hidden: int, out: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, out))


class QHead(nn.Module):
    """One Q head: raw per-candidate values [B, A] from (token_hidden, token_ids, token_mask) or features."""

    def __init__(self, hidden_size: int, vocab_size: int, head: str = "token", mlp_hidden: int = 256,
                 dueling: bool = False, init_std: float = 0.02, init_rows: int | None = None,
                 active_rows: Callable[[], int] | None = None) -> None:
        super().__init__()
        self.active_rows = active_rows  # rows a word owns now (None: assume all)
        if head not in HEAD_TYPES:
            raise ValueError(f"unknown critic head {head!r}; expected one of {HEAD_TYPES}")
        rows = vocab_size if init_rows is None else int(init_rows)
        if not 0 < rows <= vocab_size:
            raise ValueError(f"init_rows must be in 1..vocab_size={vocab_size}, got {init_rows}")
        self.head, self.dueling = head, dueling
        self.n_spare = vocab_size - rows if head == "token" else 0
        if head == "token":
            self.token_weight = nn.Embedding(rows, hidden_size)   # w[v]: like a row of the LM head
            self.token_bias = nn.Embedding(rows, 1)               # c[v]
            nn.init.normal_(self.token_weight.weight, std=init_std)
            nn.init.zeros_(self.token_bias.weight)
            self.bias = nn.Parameter(torch.zeros(()))                   # b
            if self.n_spare:
                # rows [init_rows, vocab_size): the LM's spare rows for words not seen yet, w[v] = c[v] = 0 until a
                # word owns row v. Separate tensors, left out of the graph while ``active_rows()`` (rows owned by a
                # word) is init_rows: no gradient, so optimiser steps and gradient norms skip them and a run that
                # never grows its vocabulary computes exactly what a critic without spare rows does.
                self.spare_weight = nn.Embedding(self.n_spare, hidden_size, _weight=torch.zeros(self.n_spare,
                                                                                              hidden_size))
                self.spare_bias = nn.Embedding(self.n_spare, 1, _weight=torch.zeros(self.n_spare, 1))
        else:
            self.mlp = _mlp(hidden_size, mlp_hidden)
        if dueling:
            self.value = _mlp(hidden_size, mlp_hidden)

    def forward(self, token_hidden: Tensor, token_ids: Tensor, token_mask: Tensor, features: Tensor,
                mask: Tensor) -> Tensor:
        if self.head == "token":
            if self.n_spare and (self.active_rows is None or self.active_rows() > self.token_weight.num_embeddings):
                w = nn.functional.embedding(token_ids, torch.cat([self.token_weight.weight, self.spare_weight.weight]))
                c = nn.functional.embedding(token_ids, torch.cat([self.token_bias.weight, self.spare_bias.weight]))
            else:
                w, c = self.token_weight(token_ids), self.token_bias(token_ids)  # [B, A, L, H], [B, A, L, 1]
            per_tok = (w * token_hidden).sum(-1) + c.squeeze(-1)
            q = (per_tok * token_mask.to(per_tok.dtype)).sum(-1) + self.bias
        else:
            q = self.mlp(features).squeeze(-1)                          # [B, A]
        if self.dueling:
            m = mask.to(q.dtype)
            adv_mean = (q * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1.0)
            v = self.value(state_features(token_hidden, mask))          # [B, 1]
            q = v + q - adv_mean
        return torch.where(mask, q, torch.zeros_like(q))



class TwinQCritic(nn.Module):
    """Two Q heads and their Polyak-averaged targets; ``forward(scores) -> (q1, q2)``, each [B, A], pads 0."""

    def __init__(self, hidden_size: int, vocab_size: int, head: str = "token", mlp_hidden: int = 256,
                 dueling: bool = False, trunk_grad: float = 1.0, init_std: float = 0.02,
                 init_rows: int | None = None, active_rows: Callable[[], int] | None = None) -> None:
        super().__init__()
        self.q1 = QHead(hidden_size, vocab_size, head, mlp_hidden, dueling, init_std, init_rows)
        self.q2 = QHead(hidden_size, vocab_size, head, mlp_hidden, dueling, init_std, init_rows)
        self.q1_target = copy.deepcopy(self.q1).requires_grad_(False)
        self.q2_target = copy.deepcopy(self.q2).requires_grad_(False)
        for q in (self.q1, self.q2, self.q1_target, self.q2_target):
            q.active_rows = active_rows  # set after the copies: it reads the live policy, which is never copied
        self.trunk_grad = float(trunk_grad)

    def online_parameters(self) -> list[nn.Parameter]:
        return list(self.q1.parameters()) + list(self.q2.parameters())

    @staticmethod
    def _inputs(scores: Any, scale: float) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        return (grad_scale(scores.token_hidden, scale), scores.token_ids, scores.token_mask,
                grad_scale(scores.features, scale), scores.mask)

    def forward(self, scores: Any) -> tuple[Tensor, Tensor]:
        x = self._inputs(scores, self.trunk_grad)
        return self.q1(*x), self.q2(*x)

    @torch.no_grad()
    def target(self, scores: Any) -> tuple[Tensor, Tensor]:
        x = self._inputs(scores, 0.0)
        return self.q1_target(*x), self.q2_target(*x)

    @torch.no_grad()
    def soft_update(self, tau: float) -> None:
        """θ̄ ← τ θ + (1 − τ) θ̄ for both target heads."""
        online = list(self.q1.parameters()) + list(self.q2.parameters())
        target = list(self.q1_target.parameters()) + list(self.q2_target.parameters())
        torch._foreach_lerp_(target, online, tau)  # one multi-tensor op: tp.lerp_(p, τ) for every pair
