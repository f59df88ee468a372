"""Learned absolute encoder positions (model.kwargs.abs_positions): identity at init, both forwards, save/load."""
import pytest
import torch

from autotelic.lm import build_lm
from autotelic.policy import LMPolicy
from autotelic.positions import encoder_positions

WORDS = "goal observation action you see a red blue ball key box go to the turn left right forward".split()
PROMPTS = ["Goal: go to the red ball Observation: you see a blue ball", "Goal: go to the blue key Observation: you see a red key and a red box"]
CANDS = [["turn left", "go forward"], ["turn right", "go to the red box", "go forward"]]


def _log_pi(lm, scoring):
    lm.scoring = scoring
    return LMPolicy(lm).score(PROMPTS, CANDS).log_pi


def test_zero_rows_change_nothing_then_rows_move_both_forwards_alike():
    plain, pos = build_lm("tiny", WORDS, seed=1, abs_positions=0), build_lm("tiny", WORDS, seed=1, abs_positions=6)
    assert encoder_positions(plain.core) is None
    rows = encoder_positions(pos.core).rows
    assert rows.shape == (6, 64) and rows.requires_grad and not rows.any()
    assert any(p is rows for p in pos.trainable_parameters())  # the optimiser sees them
    assert torch.equal(_log_pi(plain, "fused"), _log_pi(pos, "fused"))  # zero rows: the same model
    with torch.no_grad():
        rows.normal_(generator=torch.Generator().manual_seed(0))
    fused, hf = _log_pi(pos, "fused"), _log_pi(pos, "hf")
    assert torch.allclose(fused, hf, atol=1e-5)  # transformers' encoder goes through the same rows
    assert (fused - _log_pi(plain, "fused")).abs().max() > 1e-3  # and they change the scores
    # a row for position 7 and beyond does not exist: a prompt token there is embedded as before
    ids = torch.tensor([[5] * 9])
    enc = pos.core.get_encoder().embed_tokens
    assert torch.equal(enc(ids)[0, 6:], enc.embed(ids)[0, 6:]) and not torch.equal(enc(ids)[0, :6], enc.embed(ids)[0, :6])
    (-fused[0, 0]).backward()
    assert rows.grad is not None and rows.grad.abs().sum() > 0


def test_save_and_reload_keep_the_rows(tmp_path):
    lm = build_lm("tiny", WORDS, seed=2, abs_positions=4)
    with torch.no_grad():
        encoder_positions(lm.core).rows.uniform_(-1, 1)
    before = _log_pi(lm, "fused")
    lm.save_pretrained(tmp_path / "m")
    assert encoder_positions(lm.core) is not None  # saving leaves the live model wrapped
    back = build_lm(str(tmp_path / "m"))
    assert torch.equal(encoder_positions(back.core).rows, encoder_positions(lm.core).rows)
    assert torch.allclose(_log_pi(back, "fused"), before, atol=1e-6)


def test_the_default_tiny_t5_has_64_rows_and_other_models_none():
    assert encoder_positions(build_lm("tiny", WORDS).core).rows.shape == (64, 64)
    assert encoder_positions(build_lm("tiny-llama", WORDS).core) is None


def test_a_state_saved_without_positions_is_refused_with_the_fix():
    old, new = build_lm("tiny", WORDS, abs_positions=0), build_lm("tiny", WORDS)
    with pytest.raises(RuntimeError, match="model.kwargs.abs_positions=0"):
        new.load_state_dict(old.state_dict())
    with pytest.raises(RuntimeError, match="with absolute encoder positions and this one has none"):
        old.load_state_dict(new.state_dict())
    new.load_state_dict(build_lm("tiny", WORDS, seed=5).state_dict())  # same structure: loads


def test_bad_values_and_models_are_refused():
    with pytest.raises(ValueError, match="abs_positions must be >= 0"):
        build_lm("tiny", WORDS, abs_positions=-1)
    with pytest.raises(ValueError, match="encoder-decoder"):
        build_lm("tiny-llama", WORDS, abs_positions=4)
    with pytest.raises(ValueError, match="abs_positions"):
        build_lm("some/hub-model", abs_positions=4)
