"""GLAM-style policy: π(a|s) ∝ exp(log p_LM(a | prompt(s))) over each state's admissible actions.

``LMPolicy.score`` runs one batched LM pass (prompt encoded once, see ``autotelic.lm``) and returns ``Scores``:

    seq_logp[b, a] = Σ_l log softmax(logits_l)[t_l]        (sum of token log-probs of candidate a, incl. EOS)
                     (/ n_tokens if length_normalize) / temperature
    log_pi[b, a]   = seq_logp[b, a] − logsumexp_{a' ∈ A_b} seq_logp[b, a']   (real candidates only; pads = 0)

GLAM's original code summed raw logits instead of log-softmax token log-probs (fixed in Lamorel PR #38/#51).

Candidate tokens include a final EOS (``LanguageModel.append_eos``), so "Go to" and "Go to lamp" are different
events. ``token_hidden``/``features`` are float32 whatever the model dtype; the LM's own logits are
``lm.logits(token_hidden)`` (= LM head of ``lm.output_scale · h``, the scale being d_model^-0.5 for tied T5), which a
per-token critic head Q = Σ_l w·h_l[t_l] shaped like the LM head can mirror. Dropout makes ``score`` stochastic in
train mode: tiny models have none; pretrained configs may (T5: 0.1), so call ``.eval()`` where that matters.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
from torch import Tensor, nn

from .lm import LanguageModel, build_lm

__all__ = ["Scores", "Actions", "LMPolicy", "masked_log_softmax", "masked_probs", "masked_entropy",
           "build_policy"]


@dataclass
class Scores:
    """Scores of B prompts × A (max) candidates; every [B, A] field is 0 where ``mask`` is False."""

    seq_logp: Tensor      # [B, A] candidate log-prob (length-normalised and /temperature if configured); pads 0.0
    log_pi: Tensor        # [B, A] log π(a|s) over each state's real candidates; pads 0.0
    mask: Tensor          # [B, A] bool, True for real candidates
    features: Tensor      # [B, A, H] float32 mean over candidate-token states (masked mean of token_hidden)
    token_hidden: Tensor  # [B, A, L, H] float32 LM state at the position predicting candidate token l; pads 0
    token_ids: Tensor     # [B, A, L] long candidate token l (pad id where masked)
    token_mask: Tensor    # [B, A, L] bool

    @property
    def probs(self) -> Tensor:
        """π(a|s) as [B, A]; each row sums to 1 over real candidates, pads are 0 (``masked_probs``)."""
        return masked_probs(self.log_pi, self.mask)

    @property
    def entropy(self) -> Tensor:
        """H(π(·|s)) = −Σ_a π log π per state, [B] (``masked_entropy``)."""
        return masked_entropy(self.log_pi, self.mask)

    @property
    def counts(self) -> Tensor:
        """|A_s| per state, [B] long."""
        return self.mask.sum(-1)


def masked_log_softmax(x: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """log_softmax of ``x`` over entries where ``mask`` is True; masked entries are 0 (never part of the softmax)."""
    return x.masked_fill(~mask, float("-inf")).log_softmax(dim).masked_fill(~mask, 0.0)


def masked_probs(log_pi: Tensor, mask: Tensor) -> Tensor:
    """π(a|s) = exp log π over entries where ``mask`` is True, exactly 0 elsewhere: pads are filled with −inf before
    ``exp``, so whatever they hold never overflows nor sends a NaN gradient."""
    return log_pi.masked_fill(~mask, float("-inf")).exp()


def masked_entropy(log_pi: Tensor, mask: Tensor) -> Tensor:
    """H(π(·|s)) = −Σ_{a∈A_s} π(a|s) log π(a|s) per state, [B]; pads contribute 0."""
    return -(masked_probs(log_pi, mask) * log_pi.masked_fill(~mask, 0.0)).sum(-1)


class Actions(list):
    """What ``LMPolicy.act`` returns: the chosen candidate indices (a plain ``list[int]`` to every caller) and
    ``logp``, log π(a|s) of each choice under the policy that acted (PPO's behaviour log-prob)."""

    def __init__(self, indices: Iterable[int] = (), logp: Iterable[float] = ()) -> None:
        super().__init__(indices)
        self.logp: list[float] = [float(x) for x in logp]
        if len(self.logp) != len(self):
            raise ValueError(f"{len(self)} actions but {len(self.logp)} log-probs")


def _flatten(prompts: Sequence[str], candidates: Sequence[Sequence[str]]):
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of str, not a single str")
    if len(prompts) != len(candidates):
        raise ValueError(f"{len(prompts)} prompts but {len(candidates)} candidate lists")
    if len(prompts) == 0:
        raise ValueError("score() needs at least one prompt")
    flat: list[str] = []
    owner: list[int] = []
    col: list[int] = []
    for i, cands in enumerate(candidates):
        if isinstance(cands, str):
            raise TypeError(f"candidates[{i}] must be a list of str, got a str {cands!r}")
        if len(cands) == 0:
            raise ValueError(f"candidates[{i}] is empty: prompt {i} ({prompts[i][:80]!r}) has no admissible action")
        flat.extend(cands)
        owner.extend([i] * len(cands))
        col.extend(range(len(cands)))
    return flat, owner, col


class LMPolicy(nn.Module):
    """Scores every admissible action by the LM's token log-probs; ``act`` samples (or argmaxes) π(a|s)."""

    def __init__(self, lm: LanguageModel, *, length_normalize: bool = False, temperature: float = 1.0,
                 act_chunk: int = 256):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if act_chunk < 1:
            raise ValueError(f"act_chunk must be >= 1, got {act_chunk}")
        self.act_chunk = act_chunk  # prompts per no-grad forward in act() (bounds the per-candidate KV copies)
        self.lm = lm
        self.length_normalize = length_normalize
        self.temperature = float(temperature)

    @property
    def hidden_size(self) -> int:
        return self.lm.hidden_size

    @property
    def vocab_size(self) -> int:
        """Rows of the LM head (including spare rows for words not seen yet)."""
        return self.lm.vocab_size

    @property
    def active_vocab_size(self) -> int:
        """Rows of the LM head that a token owns now (``lm.active_vocab_size``)."""
        return self.lm.active_vocab_size

    @property
    def device(self) -> torch.device:
        return self.lm.device

    def score(self, prompts: Sequence[str], candidates: Sequence[Sequence[str]]) -> Scores:
        """One batched, differentiable LM pass over all (prompt, candidate) pairs → ``Scores``."""
        _flatten(prompts, candidates)  # validation only: the grid keeps candidates per prompt
        g = self.lm.grid_states(prompts, candidates)
        tmask = g.token_mask                                          # [B, A, L]
        # log p(t_l | ...) = logit[t_l] − logsumexp(logits)   (log-softmax, not raw logits), at real tokens only
        logits = self.lm.logits(g.hidden[tmask])                      # [M, V]
        tok_lp = logits.gather(-1, g.token_ids[tmask].unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)
        tok_logp = torch.zeros(tmask.shape, dtype=tok_lp.dtype, device=tok_lp.device).masked_scatter(tmask, tok_lp)
        seq_logp = tok_logp.sum(-1)                                   # [B, A]; 0 on padding rows
        if self.length_normalize:
            seq_logp = seq_logp / tmask.sum(-1).clamp_min(1)
        if self.temperature != 1.0:
            seq_logp = seq_logp / self.temperature
        log_pi = masked_log_softmax(seq_logp, g.mask)
        token_hidden = g.hidden.float() * tmask.unsqueeze(-1)         # [B, A, L, H], pads zeroed
        features = token_hidden.sum(2) / tmask.sum(2, keepdim=True).clamp_min(1)  # [B, A, H]
        return Scores(seq_logp=seq_logp, log_pi=log_pi, mask=g.mask, features=features, token_hidden=token_hidden,
                      token_ids=g.token_ids, token_mask=tmask)

    @torch.no_grad()
    def act(self, prompts: Sequence[str], candidates: Sequence[Sequence[str]], greedy: bool = False,
            generator: torch.Generator | None = None) -> Actions:
        """Index of the chosen candidate per prompt: argmax π if ``greedy`` else a sample a ~ π(·|s); the result's
        ``logp`` holds log π(a|s) of each choice (in the policy's current train/eval mode)."""
        _flatten(prompts, candidates)  # validate everything before any forward pass
        out: list[int] = []
        logp: list[float] = []
        for i in range(0, len(prompts), self.act_chunk):
            sc = self.score(prompts[i: i + self.act_chunk], candidates[i: i + self.act_chunk])
            if greedy:
                idx = sc.log_pi.masked_fill(~sc.mask, float("-inf")).argmax(-1)
            else:
                probs = sc.probs.float()
                probs = probs.to(generator.device if generator is not None else probs.device)
                idx = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
            idx = idx.to(sc.log_pi.device)
            out += idx.tolist()
            logp += sc.log_pi.gather(1, idx[:, None]).squeeze(1).tolist()
        return Actions(out, logp)

    def forward(self, prompts: Sequence[str], candidates: Sequence[Sequence[str]]) -> Scores:
        return self.score(prompts, candidates)


def build_policy(name: str = "tiny", vocabulary: Iterable[str] | None = None, *, length_normalize: bool = False,
                 temperature: float = 1.0, **lm_kwargs) -> LMPolicy:
    """``LMPolicy(build_lm(name, vocabulary, **lm_kwargs))``."""
    return LMPolicy(build_lm(name, vocabulary, **lm_kwargs), length_normalize=length_normalize,
                    temperature=temperature)
