"""A lean T5 forward for candidate scoring: the same maths as transformers' T5, in a few dozen tensor ops.

For small models the scoring forward is bound by per-operation overhead (masks, caches, dispatch), not by arithmetic
(see benchmarks/speed.py). ``t5_grid_states`` computes, from the model's own modules (so LoRA layers injected by peft
still apply), the decoder states of every candidate laid out as a grid [B, A, L, H]:

    enc    = T5Encoder(prompt_b)                                   once per prompt (rows b)
    h[b,a] = T5Decoder(<start>, t_1 .. t_{L-1} | enc_b)            position l predicts t_{l+1}

Cross-attention runs per prompt on the flattened queries of its A candidates ([B, heads, A·L, d] against the prompt's
[B, heads, S, d] keys), so the prompt's keys/values are projected once and never copied per candidate. Causality makes
a candidate's padding invisible to its real positions, so the decoder needs no padding mask. Attention is
softmax(q·kᵀ + bias) v with T5's unscaled dot product, relative position bias and additive finfo.min masks.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["fused_unsupported_reason", "t5_grid_states"]

_FUSED_TYPES = ("t5", "mt5")  # umt5 has a position bias per layer, longt5 local attention: not covered


def fused_unsupported_reason(core: nn.Module) -> str | None:
    """Why the lean forward cannot stand in for ``core``'s own forward (None when it can)."""
    cfg = core.config
    if getattr(cfg, "model_type", None) not in _FUSED_TYPES or not getattr(cfg, "is_encoder_decoder", False):
        return f"model_type {getattr(cfg, 'model_type', None)!r} is not one of {_FUSED_TYPES}"
    if core.training and float(getattr(cfg, "dropout_rate", 0.0)) > 0:
        return "dropout is active (train mode with dropout_rate > 0)"
    if next(core.parameters()).dtype == torch.float16:
        return "float16 needs transformers' inf clamping"
    return None


KERNELS = {"rms_norm": False, "sdpa": False}  # torch's fused rms_norm / scaled_dot_product_attention (same maths)


def _rms(ln: nn.Module, x: Tensor) -> Tensor:
    """T5LayerNorm: w · x / sqrt(mean(x²) + ε) (no mean subtraction, no bias), statistics in float32."""
    if KERNELS["rms_norm"] and x.dtype == torch.float32 and ln.weight.dtype == torch.float32:
        return nn.functional.rms_norm(x, (x.shape[-1],), ln.weight, ln.variance_epsilon)
    var = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
    x = x * torch.rsqrt(var + ln.variance_epsilon)
    if ln.weight.dtype in (torch.float16, torch.bfloat16):
        x = x.to(ln.weight.dtype)
    return ln.weight * x


def _heads(y: Tensor, n_heads: int) -> Tensor:
    """[..., T, heads·d] -> [..., heads, T, d]."""
    return y.unflatten(-1, (n_heads, -1)).transpose(-2, -3)


def _attend(att: nn.Module, x: Tensor, kv: tuple[Tensor, Tensor] | None, bias: tuple[Tensor, ...]) -> Tensor:
    """T5Attention without its cache machinery: o(softmax(q kᵀ + Σ bias) v) (T5 does not scale q·k); the bias terms
    (position bias, additive masks) broadcast against the scores."""
    nh = att.n_heads
    q = _heads(att.q(x), nh)
    k, v = kv if kv is not None else (_heads(att.k(x), nh), _heads(att.v(x), nh))
    if KERNELS["sdpa"]:
        mask = bias[0] if len(bias) == 1 else sum(bias[1:], bias[0])
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)
    else:
        scores = torch.matmul(q, k.transpose(-1, -2))
        for term in bias:  # in place: no second [.., heads, T, S] tensor per bias term
            scores += term
        out = torch.matmul(scores.float().softmax(-1).type_as(scores), v)
    out = out.transpose(-2, -3).flatten(-2)  # [..., T, heads·d]
    return att.o(out)


def _ff(layer: nn.Module, x: Tensor) -> Tensor:
    """x + DenseReluDense(LayerNorm(x)) (plain or gated activation, as the module is built)."""
    return x + layer.DenseReluDense(_rms(layer.layer_norm, x))


def _position_bias(att: nn.Module, q_len: int, k_len: int, bidirectional: bool, buckets: dict) -> Tensor:
    """[1, heads, q_len, k_len] relative position bias of ``att`` (bucket ids memoised per shape)."""
    emb = att.relative_attention_bias
    key = (q_len, k_len, bidirectional, emb.weight.device)
    idx = buckets.get(key)
    if idx is None:
        ctx = torch.arange(q_len, dtype=torch.long, device=emb.weight.device)[:, None]
        mem = torch.arange(k_len, dtype=torch.long, device=emb.weight.device)[None, :]
        idx = att._relative_position_bucket(mem - ctx, bidirectional=bidirectional,
                                            num_buckets=att.relative_attention_num_buckets,
                                            max_distance=att.relative_attention_max_distance)
        buckets[key] = idx
    return emb(idx).permute(2, 0, 1).unsqueeze(0)


def t5_grid_states(core: nn.Module, p_ids: Tensor, p_mask: Tensor, dec_in: Tensor, buckets: dict) -> Tensor:
    """Decoder states [B, A, L, H] for prompts ``p_ids``/``p_mask`` [B, S] and decoder inputs ``dec_in`` [B, A, L]
    (<start>, t_1 .. t_{L-1} per candidate; padded rows and positions give finite values to be masked by the caller).
    ``buckets`` memoises relative-position bucket ids across calls."""
    enc_stack, dec_stack = core.get_encoder(), core.get_decoder()
    dtype = enc_stack.embed_tokens.weight.dtype
    neg = torch.finfo(dtype).min
    b, s = p_ids.shape
    _, a, width = dec_in.shape
    # ---- encoder: bidirectional self-attention over each prompt, padded keys masked
    key_pad = torch.zeros((b, 1, 1, s), dtype=dtype, device=p_ids.device).masked_fill_(~p_mask[:, None, None, :], neg)
    x = enc_stack.embed_tokens(p_ids)                                                  # [B, S, H]
    enc_bias = None
    for block in enc_stack.block:
        sa = block.layer[0]
        if enc_bias is None:  # layer 0 owns the bias; later layers share it (as in T5Stack)
            enc_bias = (_position_bias(sa.SelfAttention, s, s, True, buckets), key_pad)  # [1, h, S, S], [B, 1, 1, S]
        x = x + _attend(sa.SelfAttention, _rms(sa.layer_norm, x), None, enc_bias)
        x = _ff(block.layer[-1], x)
    enc = _rms(enc_stack.final_layer_norm, x)                                          # [B, S, H]
    # ---- decoder: causal self-attention within each candidate, cross-attention to its prompt
    y = dec_stack.embed_tokens(dec_in)                                                 # [B, A, L, H]
    causal = torch.ones((width, width), dtype=torch.bool, device=dec_in.device).triu(1)
    self_bias = None
    for block in dec_stack.block:
        sa, ca = block.layer[0], block.layer[1]
        if self_bias is None:
            self_bias = (_position_bias(sa.SelfAttention, width, width, False, buckets).masked_fill(causal, neg),)
        h = _rms(sa.layer_norm, y).flatten(0, 1)                                       # [B·A, L, H] per candidate
        y = y + _attend(sa.SelfAttention, h, None, self_bias).unflatten(0, (b, a))
        att = ca.EncDecAttention
        kv = (_heads(att.k(enc), att.n_heads), _heads(att.v(enc), att.n_heads))        # [B, heads, S, d], per prompt
        q_in = _rms(ca.layer_norm, y).flatten(1, 2)                                    # [B, A·L, H]
        y = y + _attend(att, q_in, kv, (key_pad,)).unflatten(1, (a, width))
        y = _ff(block.layer[-1], y)
    return _rms(dec_stack.final_layer_norm, y)                                         # [B, A, L, H]
