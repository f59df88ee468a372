"""Learned absolute positions for a T5 encoder's input (``model.kwargs.abs_positions``).

T5 sees only relative positions, so in a prompt "Goal: go to the red ball Observation: You see a red key ..." a word
of the goal and the same word in the observation look alike to an attention key; telling them apart costs the tiny
model a layer of context. ``EncoderPositions`` adds a learned row p_i to the embedding of prompt token i < n
(prompts are right-padded, so i counts from the prompt's first token); rows start at zero, so a model with them
computes what it computed without until training moves them.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

POSITIONS_FILE = "abs_positions.pt"  # the rows, beside a saved model (``LanguageModel.save_pretrained``)


class EncoderPositions(nn.Module):
    """``embed(ids) + P[:L]`` for ids [..., L]; positions >= n get no row. ``weight`` is the wrapped embedding's."""

    def __init__(self, embed: nn.Embedding, n: int) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"abs_positions must be >= 1, got {n}")
        self.embed = embed
        w = embed.weight
        self.rows = nn.Parameter(torch.zeros(n, w.shape[1], dtype=w.dtype, device=w.device))

    @property
    def weight(self) -> Tensor:  # T5Stack and the fused forward read the embedding's dtype here
        return self.embed.weight

    def forward(self, ids: Tensor) -> Tensor:
        x = self.embed(ids)
        k = min(ids.shape[-1], self.rows.shape[0])
        return torch.cat([x[..., :k, :] + self.rows[:k].to(x.dtype), x[..., k:, :]], dim=-2)


def add_encoder_positions(model: nn.Module, n: int) -> EncoderPositions:
    """Wrap ``model``'s encoder input embedding (a T5-style encoder-decoder) with ``n`` zero position rows."""
    if not getattr(model.config, "is_encoder_decoder", False):
        raise ValueError("abs_positions applies to encoder-decoder (T5) tiny models; causal ones have their own "
                         f"positions (got model_type {model.config.model_type!r})")
    enc = model.get_encoder()
    if isinstance(enc.embed_tokens, EncoderPositions):
        raise ValueError("the encoder already has absolute positions")
    enc.embed_tokens = EncoderPositions(enc.embed_tokens, n)
    return enc.embed_tokens


def encoder_positions(model: nn.Module) -> EncoderPositions | None:
    """The ``EncoderPositions`` of ``model``'s encoder, or None."""
    get = getattr(model, "get_encoder", None)
    emb = getattr(get(), "embed_tokens", None) if get is not None and model.config.is_encoder_decoder else None
    return emb if isinstance(emb, EncoderPositions) else None
