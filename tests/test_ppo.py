"""PPO: GAE(λ) against a hand computation, truncation bootstraps, and the learner's on-policy mechanics."""
from __future__ import annotations

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
