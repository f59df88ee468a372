"""Reference implementations that check the fast paths (tests, ``benchmarks/scoring.py``): slow on purpose.

``score_naive`` scores every (prompt, candidate) pair with the model's plain forward, no prompt reuse, no fused
kernels: ``LMPolicy.score`` must equal it (up to float reassociation).
"""
from __future__ import annotations

import inspect
from typing import Sequence

import torch
from torch import Tensor

from .policy import LMPolicy, _flatten

__all__ = ["score_naive"]

_KEEP_KW = "logits_to_keep"


def score_naive(policy: LMPolicy, prompts: Sequence[str], candidates: Sequence[Sequence[str]],
                batched: bool = False) -> Tensor:
    """Reference ``seq_logp`` [B, A] from the model's plain forward (no prompt reuse): every (prompt, candidate) pair
    is run on its own (``batched=False``) or all pairs at once with the prompt repeated (``batched=True``)."""
    lm = policy.lm
    core = lm.core
    flat, owner, col = _flatten(prompts, candidates)
    p_ids = lm.encode_prompts(prompts)
    c_ids = lm.encode_candidates(flat)
    dev = lm.device
    rows = lm.active_vocab_size  # spare embedding rows no word owns are outside the softmax (see LanguageModel.logits)
    pairs = [(p_ids[o], c) for o, c in zip(owner, c_ids)]
    groups = [pairs] if batched else [[p] for p in pairs]
    values: list[Tensor] = []
    for group in groups:
        if lm.is_encoder_decoder:
            enc = torch.nn.utils.rnn.pad_sequence([torch.tensor(p) for p, _ in group], batch_first=True,
                                                  padding_value=lm.pad_id).to(dev)
            enc_mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(p), dtype=torch.long) for p, _ in group],
                                                       batch_first=True).to(dev)
            dec = [torch.tensor((lm.decoder_start_id,) + c[:-1]) for _, c in group]
            dec_in = torch.nn.utils.rnn.pad_sequence(dec, batch_first=True, padding_value=lm.pad_id).to(dev)
            dec_mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(c), dtype=torch.long) for _, c in group],
                                                       batch_first=True).to(dev)
            logits = core(input_ids=enc, attention_mask=enc_mask, decoder_input_ids=dec_in,
                          decoder_attention_mask=dec_mask, use_cache=False).logits.float()
            for i, (_, c) in enumerate(group):
                lp = logits[i, : len(c), :rows].log_softmax(-1)
                values.append(lp.gather(-1, torch.tensor(c, device=dev).unsqueeze(-1)).sum())
        else:
            seqs = [torch.tensor(p + c) for p, c in group]
            ids = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=lm.pad_id).to(dev)
            mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(s), dtype=torch.long) for s in seqs],
                                                   batch_first=True).to(dev)
            width = max(len(c) for _, c in group)
            # positions len(p)-1 .. len(p)+len(c)-2 predict the candidate tokens; keep only those logits when the
            # model supports it (a [B·A, S, V] logits tensor is gigabytes for a 49k vocabulary)
            keep = torch.stack([(len(p) - 1 + torch.arange(width)).clamp_max(ids.shape[1] - 1) for p, _ in group])
            if _KEEP_KW in inspect.signature(core.forward).parameters:
                logits = core(input_ids=ids, attention_mask=mask, use_cache=False,
                              logits_to_keep=keep.to(dev)).logits.float()
            else:
                logits = core(input_ids=ids, attention_mask=mask, use_cache=False).logits
                logits = logits.gather(1, keep.to(dev)[..., None].expand(-1, -1, logits.shape[-1])).float()
            for i, (p, c) in enumerate(group):
                lp = logits[i, : len(c), :rows].log_softmax(-1)
                values.append(lp.gather(-1, torch.tensor(c, device=dev).unsqueeze(-1)).sum())
    seq = torch.stack(values)
    if policy.length_normalize:
        seq = seq / torch.tensor([len(c) for c in c_ids], device=dev, dtype=seq.dtype)
    seq = seq / policy.temperature
    out = torch.zeros((len(prompts), max(len(c) for c in candidates)), dtype=seq.dtype, device=dev)
    out[torch.tensor(owner, device=dev), torch.tensor(col, device=dev)] = seq
    return out
