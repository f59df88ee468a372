"""PPO: GAE(λ) against a hand computation, truncation bootstraps, and the learner's on-policy mechanics."""
from __future__ import annotations

import dataclasses
import io
import math
import pathlib
import sys

import numpy as np
import pytest
import torch

from autotelic.learner import Learner, run_pending_updates
from autotelic.ppo import PPOConfig, PPOLearner, gae

sys.path.insert(0, str(pathlib.Path(__file__).parent))


def hand_gae(r, v, v_last, gamma, lam):
    """Â_t = Σ_k (γλ)^k δ_{t+k}, δ_t = r_t + γ V(s_{t+1}) − V(s_t), written out as a double loop."""
    T = len(r)
    vv = list(v) + [v_last]
    delta = [r[t] + gamma * vv[t + 1] - vv[t] for t in range(T)]
    return [sum((gamma * lam) ** k * delta[t + k] for k in range(T - t)) for t in range(T)]


def test_gae_matches_hand_computation_for_termination_and_truncation():
    r = torch.tensor([0.0, 0.5, 1.0])
    v = torch.tensor([0.2, 0.4, 0.6])
    gamma, lam = 0.9, 0.8
    adv, ret = gae(r, v, 0.7, terminated=True, gamma=gamma, lam=lam)      # V(s_T) ignored: terminal
    expected = hand_gae([0.0, 0.5, 1.0], [0.2, 0.4, 0.6], 0.0, gamma, lam)
    assert adv.tolist() == pytest.approx(expected, rel=1e-6)
    assert ret.tolist() == pytest.approx([a + b for a, b in zip(expected, [0.2, 0.4, 0.6])], rel=1e-6)
    # by hand for the last step: δ_2 = 1.0 + 0 − 0.6 = 0.4
    assert adv[2].item() == pytest.approx(0.4)
    adv_tr, _ = gae(r, v, 0.7, terminated=False, gamma=gamma, lam=lam)   # timeout: bootstrap V(s_T) = 0.7
    assert adv_tr.tolist() == pytest.approx(hand_gae([0.0, 0.5, 1.0], [0.2, 0.4, 0.6], 0.7, gamma, lam), rel=1e-6)
    assert adv_tr[2].item() == pytest.approx(1.0 + gamma * 0.7 - 0.6)
    # λ = 1: Monte-Carlo returns; λ = 0: one-step TD errors
    _, ret1 = gae(r, v, 0.0, True, gamma, 1.0)
    assert ret1.tolist() == pytest.approx([0.5 * gamma + gamma ** 2, 0.5 + gamma, 1.0], rel=1e-6)
    adv0, _ = gae(r, v, 0.0, True, gamma, 0.0)
    assert adv0.tolist() == pytest.approx([0 + gamma * 0.4 - 0.2, 0.5 + gamma * 0.6 - 0.4, 0.4], rel=1e-6)
    with pytest.raises(ValueError):
        gae(r, v[:2], 0.0, True, gamma, lam)


@pytest.fixture(scope="module")
def setup():
    from toy_env import ToyGraspEnv, collect, random_act
    from autotelic.policy import build_policy
    from autotelic.prompt import PromptBuilder

    torch.set_num_threads(1)
    env, pb = ToyGraspEnv(("apple", "ball", "cup")), PromptBuilder()
    envs = [ToyGraspEnv(env.objects) for _ in range(8)]
    rng = np.random.default_rng(0)
    eps = collect(envs, random_act(rng), pb, [env.goals[i % 3] for i in range(8)])

    def make(**cfg):
        policy = build_policy("tiny", env.vocabulary() + pb.words(), device="cpu", d_model=32, d_kv=8, d_ff=64,
                              num_layers=1, num_decoder_layers=1, num_heads=4)
        return PPOLearner(policy, pb, PPOConfig(**{"rollout_steps": 10, "minibatch_size": 8, **cfg}))
    return make, eps


def test_ppo_on_policy_mechanics(setup):
    make, eps = setup
    L = make(epochs=2)
    assert isinstance(L, Learner) and L.on_policy
    assert L.pending_updates() == 0
    L.observe(eps[:2])
    assert sum(len(e) for e in eps[:2]) < 10 and not L.ready()
    L.observe(eps[2:])
    assert L.ready() and L.pending_updates() == 1
    before = [p.detach().clone() for p in L.policy.parameters()]
    m = run_pending_updates(L, np.random.default_rng(0))
    assert {"losses/policy", "losses/value", "losses/entropy", "charts/approx_kl", "charts/clipfrac"} <= set(m)
    assert all(math.isfinite(v) for k, v in m.items() if k != "charts/explained_variance")
    assert L.pending_updates() == 0 and not L.ready()             # the rollout is consumed
    assert not all(torch.equal(a, b) for a, b in zip(before, L.policy.parameters()))
    bad = eps[0].__class__(goal="g")
    with pytest.raises(ValueError, match="finished"):
        L.observe([bad])


def test_ppo_state_dict_round_trips(setup):
    make, eps = setup
    L = make()
    L.observe(eps)
    L.update(np.random.default_rng(0))
    buf = io.BytesIO()
    torch.save(L.state_dict(), buf)
    buf.seek(0)
    L2 = make()
    L2.load_state_dict(torch.load(buf, weights_only=True))
    assert L2.num_updates == 1
    for a, b in zip(L.value_head.state_dict().values(), L2.value_head.state_dict().values()):
        assert torch.equal(a, b)
    L.observe(eps)
    L2.observe(eps)
    m1, m2 = L.update(np.random.default_rng(5)), L2.update(np.random.default_rng(5))
    assert m1["losses/value"] == pytest.approx(m2["losses/value"], rel=1e-5)


def test_clipped_policy_loss_outside_the_trust_region_by_hand():
    from autotelic.ppo import clipped_policy_loss
    ratio = torch.tensor([1.5, 0.5, 1.5, 0.5, 1.0], requires_grad=True)
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0, 2.0])
    loss = clipped_policy_loss(ratio, adv, 0.2)
    # min(ρÂ, clip(ρ, .8, 1.2)Â): 1.2 (clipped), 0.5, −1.5 (pessimistic, unclipped), −0.8 (clipped), 2.0
    assert loss.item() == pytest.approx(-(1.2 + 0.5 - 1.5 - 0.8 + 2.0) / 5)
    loss.backward()
    # clipped terms carry no gradient; the others −Â/N
    assert ratio.grad.tolist() == pytest.approx([0.0, -0.2, 0.2, 0.0, -0.4])


def test_ppo_loss_terms_and_signs_by_hand():
    from autotelic.ppo import ppo_loss, value_loss
    v = value_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0]))
    assert v.item() == pytest.approx(0.5 * (1.0 + 4.0) / 2)
    # L = L^CLIP + c_V L^V − c_H H: more entropy, lower loss
    total = ppo_loss(torch.tensor(0.1), v, torch.tensor(0.5), vf_coef=0.5, ent_coef=0.01)
    assert total.item() == pytest.approx(0.1 + 0.5 * 1.25 - 0.01 * 0.5)


def test_ppo_config_validation_and_shard():
    PPOConfig().validate()
    for bad in ({"gamma": 0.0}, {"gamma": 1.5}, {"gae_lambda": 1.1}, {"clip_coef": 0.0}, {"epochs": 0},
                {"minibatch_size": 0}, {"rollout_steps": 0}, {"lr": 0.0}, {"ent_coef": -0.1}, {"target_kl": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            PPOConfig(**bad).validate()
    s = PPOConfig(rollout_steps=257, minibatch_size=64).shard(4)
    assert (s.rollout_steps, s.minibatch_size) == (65, 16)
    with pytest.raises(ValueError, match="ppo.minibatch_size"):
        PPOConfig(minibatch_size=63).shard(2)


def _value_bias(L, b):
    with torch.no_grad():
        L.value_head[-1].bias.fill_(b)


def _hand_values(L, ep):
    """V(s_t) for every state of ``ep`` (T+1 of them; the last only when it has actions), in eval mode."""
    L.policy.eval()
    with torch.no_grad():
        vals = []
        for t in range(len(ep.observations)):
            if not ep.admissible[t]:
                vals.append(0.0)
                continue
            sc = L.policy.score([L.prompt_fn(ep.goal, ep.observations[t])], [list(ep.admissible[t])])
            vals.append(L._value(sc).item())
    return vals


def test_rollout_batch_bootstraps_truncations_by_hand(setup):
    make, eps = setup
    L = make(gamma=0.9, gae_lambda=0.8)
    _value_bias(L, 1.0)                                   # V(s_T) clearly non-zero
    assert any(e.truncated for e in eps) and any(e.terminated for e in eps)
    L.observe(eps)
    batch = L.rollout_batch()
    want = []
    for ep in eps:
        v = _hand_values(L, ep)
        last = 0.0 if ep.terminated else v[-1]           # a timeout bootstraps V(s_T)
        want += hand_gae(ep.rewards, v[:-1], last, 0.9, 0.8)
    assert batch.advantages.tolist() == pytest.approx(want, rel=1e-4, abs=1e-5)


def test_truncated_episode_without_actions_in_its_last_state(setup):
    make, eps = setup
    from autotelic.episode import Episode
    ep = Episode(goal="grasp apple", observations=[eps[0].observations[0], "you are nowhere ."],
                 admissible=[eps[0].admissible[0], ()], actions=[0], rewards=[0.5], achieved=[frozenset()],
                 truncated=True)
    L = make(rollout_steps=1, gamma=0.9)
    _value_bias(L, 1.0)
    L.observe([ep])
    batch = L.rollout_batch()                             # no "candidates[0] is empty"
    v0 = _hand_values(L, ep)[0]
    assert batch.advantages.tolist() == pytest.approx([0.5 - v0], rel=1e-5)   # V(s_T) = 0: no action possible
    m = L.update(np.random.default_rng(0))
    assert math.isfinite(m["losses/policy"])


def test_old_logp_is_the_stored_behaviour_logp(setup):
    make, eps = setup
    L = make()
    with_logp = [dataclasses.replace(e, logps=[-0.1 * (t + 1) for t in range(len(e))]) for e in eps[:3]]
    L.observe(with_logp + eps[3:])                        # the others recompute with the current policy
    batch = L.rollout_batch()
    n = sum(len(e) for e in with_logp)
    assert batch.old_logp[:n].tolist() == pytest.approx([x for e in with_logp for x in e.logps])
    L.policy.eval()
    with torch.no_grad():
        sc = L.policy.score(batch.prompts[n:], batch.candidates[n:])
    cur = sc.log_pi.gather(1, batch.actions[n:, None]).squeeze(1)
    assert torch.allclose(batch.old_logp[n:], cur, atol=1e-5)
    # checkpoints keep the stored log-probs: a resumed update uses exactly the same old log-probs
    buf = io.BytesIO()
    torch.save(L.state_dict(), buf)
    buf.seek(0)
    L2 = make()
    L2.load_state_dict(torch.load(buf, weights_only=True))
    assert [e.logps for e in L2._episodes] == [e.logps for e in L._episodes]


def test_update_trains_the_value_head_and_the_entropy_bonus_raises_entropy(setup):
    make, eps = setup
    # Â = 0 (zero value head, zero rewards, no normalisation): only the entropy bonus moves the policy
    L = make(vf_coef=0.0, ent_coef=1.0, lr=3e-2, epochs=2, normalize_advantages=False)
    with torch.no_grad():
        for p in L.value_head[-1].parameters():
            p.zero_()
    quiet = [dataclasses.replace(e, rewards=[0.0] * len(e), terminated=False, truncated=True) for e in eps]
    states = [(L.prompt_fn(e.goal, o), list(a)) for e in quiet for o, a in zip(e.observations[:-1], e.admissible)]

    def entropy():
        with torch.no_grad():
            return L.policy.score([s for s, _ in states], [c for _, c in states]).entropy.mean().item()
    h0 = entropy()
    L.observe(quiet)
    L.update(np.random.default_rng(0))
    assert entropy() > h0 + 1e-3
    # with the value loss on, the value head learns (its only gradient is the value loss')
    L = make(vf_coef=0.5, ent_coef=0.0)
    before = [p.detach().clone() for p in L.value_head.parameters()]
    L.observe(eps)
    L.update(np.random.default_rng(0))
    assert not any(torch.equal(a, b) for a, b in zip(before, L.value_head.parameters()))


def test_values_in_eval_mode_gradient_passes_in_train_mode(setup):
    from toy_env import ToyGraspEnv
    from autotelic.policy import build_policy
    from autotelic.prompt import PromptBuilder
    _, eps = setup
    env, pb = ToyGraspEnv(("apple", "ball", "cup")), PromptBuilder()
    policy = build_policy("tiny", env.vocabulary() + pb.words(), device="cpu", d_model=32, d_kv=8, d_ff=64,
                          num_layers=1, num_decoder_layers=1, num_heads=4, dropout_rate=0.5)
    L = PPOLearner(policy, pb, PPOConfig(rollout_steps=10, minibatch_size=64, epochs=2))
    drops = [m for m in policy.modules() if isinstance(m, torch.nn.Dropout)]
    calls, score = [], policy.score

    def rec(*a, **k):
        calls.append(drops[0].training)
        return score(*a, **k)
    policy.score = rec
    policy.train()                                        # the caller left it in train mode
    L.observe(eps)
    b1 = L.rollout_batch()
    assert torch.equal(b1.values, L.rollout_batch().values)   # deterministic: no dropout
    calls.clear()
    L.update(np.random.default_rng(0))
    k = calls.index(True)
    assert k >= 1 and not any(calls[:k]) and all(calls[k:]) and len(calls[k:]) == 2   # 2 epochs × 1 minibatch
    assert policy.training
