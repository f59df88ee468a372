"""Discrete SAC maths against hand computations (uneven candidate lists), the critic heads, and learner mechanics."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from autotelic.learner import Learner
from autotelic.critic import TwinQCritic, grad_scale, state_features
from autotelic.sac import (SACConfig, SACLearner, masked_entropy, sac_actor_loss, sac_alpha_loss, sac_critic_loss,
                           sac_critic_target, target_entropy, uniform_ce_loss)

# Two states: s0 has 3 admissible actions, s1 has 2 (padded to 3). Pads hold garbage that must not leak.
PI = [[0.5, 0.3, 0.2], [0.9, 0.1]]
Q1 = [[1.0, 2.0, 0.5], [-1.0, 0.25]]
Q2 = [[1.5, 1.0, 0.7], [-2.0, 0.5]]
GARBAGE = 1e6


def padded(rows: list[list[float]], pad: float) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.float32)


def case():
    mask = torch.tensor([[True, True, True], [True, True, False]])
    log_pi = padded([[math.log(p) for p in r] for r in PI], 0.0)
    return log_pi, mask, padded(Q1, GARBAGE), padded(Q2, -GARBAGE)


def hand_soft_value(alpha: float) -> list[float]:
    """Σ_a π (min Q − α log π), written out per state over its real actions only."""
    out = []
    for pi, q1, q2 in zip(PI, Q1, Q2):
        out.append(sum(p * (min(a, b) - alpha * math.log(p)) for p, a, b in zip(pi, q1, q2)))
    return out


def test_critic_target_matches_hand_computation():
    log_pi, mask, q1, q2 = case()
    alpha, gamma = 0.2, 0.9
    returns = torch.tensor([0.5, 1.0])
    discounts = torch.tensor([gamma ** 3, 0.0])     # s1 terminal: y = R
    y = sac_critic_target(log_pi, mask, q1, q2, returns, discounts, alpha)
    v = hand_soft_value(alpha)
    # s0: 0.5·(min(1,1.5)=1 − 0.2 ln .5) + 0.3·(1 − 0.2 ln .3) + 0.2·(0.5 − 0.2 ln .2)
    assert v[0] == pytest.approx(0.5 * (1 - 0.2 * math.log(.5)) + 0.3 * (1 - 0.2 * math.log(.3))
                                 + 0.2 * (0.5 - 0.2 * math.log(.2)))
    assert y.tolist() == pytest.approx([0.5 + gamma ** 3 * v[0], 1.0], rel=1e-6)
    # a non-terminal s1 uses only its two real actions
    y2 = sac_critic_target(log_pi, mask, q1, q2, returns, torch.tensor([1.0, 1.0]), alpha)
    assert y2[1].item() == pytest.approx(1.0 + v[1], rel=1e-6)


def test_critic_loss_is_sum_over_heads_mean_over_states():
    q1, q2, y = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 3.0]), torch.tensor([0.5, 2.5])
    expected = ((0.5 ** 2 + 0.5 ** 2) + (0.5 ** 2 + 0.5 ** 2)) / 2
    assert sac_critic_loss(q1, q2, y).item() == pytest.approx(expected)


def test_actor_loss_sums_over_actions_and_averages_over_states():
    log_pi, mask, q1, q2 = case()
    alpha = 0.1
    per_state = [sum(p * (alpha * math.log(p) - min(a, b)) for p, a, b in zip(pi, r1, r2))
                 for pi, r1, r2 in zip(PI, Q1, Q2)]
    loss = sac_actor_loss(log_pi, mask, q1, q2, alpha)
    assert loss.item() == pytest.approx(np.mean(per_state), rel=1e-6)
    # CleanRL's mean over padded actions would differ (rescales by 1/|A|)
    assert loss.item() != pytest.approx(np.mean([s / 3 for s in per_state]), rel=1e-3)
    # Q is detached: gradients reach log π only
    q1r = q1.clone().requires_grad_(True)
    lp = log_pi.clone().requires_grad_(True)
    sac_actor_loss(lp, mask, q1r, q2, alpha).backward()
    assert q1r.grad is None and lp.grad is not None and lp.grad[1, 2] == 0.0


def test_entropy_target_and_alpha_loss():
    log_pi, mask, _, _ = case()
    h = masked_entropy(log_pi, mask)
    assert h.tolist() == pytest.approx([-sum(p * math.log(p) for p in r) for r in PI], rel=1e-6)
    tgt = target_entropy(mask, 0.6)
    assert tgt.tolist() == pytest.approx([0.6 * math.log(3), 0.6 * math.log(2)], rel=1e-6)
    log_alpha = torch.tensor(math.log(0.05), requires_grad=True)
    loss = sac_alpha_loss(log_alpha, h, tgt)
    expected = np.mean([-math.log(0.05) * (t - e) for t, e in zip(tgt.tolist(), h.tolist())])
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # d/dlogα = −mean(target − H): entropy below target ⇒ negative gradient ⇒ gradient descent raises α
    assert log_alpha.grad.item() == pytest.approx(-np.mean((tgt - h).tolist()), rel=1e-6)
    low = sac_alpha_loss(log_alpha, torch.zeros(2), tgt)
    assert torch.autograd.grad(low, log_alpha)[0].item() < 0


def test_uniform_ce_is_minimal_at_uniform():
    mask = torch.tensor([[True, True, True], [True, True, False]])
    uni = torch.log(torch.tensor([[1 / 3] * 3, [0.5, 0.5, 1.0]])).masked_fill(~mask, 0.0)
    skew = torch.log(torch.tensor([[0.8, 0.1, 0.1], [0.9, 0.1, 1.0]])).masked_fill(~mask, 0.0)
    assert uniform_ce_loss(uni, mask).item() == pytest.approx((math.log(3) + math.log(2)) / 2, rel=1e-6)
    assert uniform_ce_loss(skew, mask) > uniform_ce_loss(uni, mask)


class FakeScores:
    def __init__(self, B=2, A=3, L=4, H=5, V=11, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.mask = torch.tensor([[True, True, True], [True, True, False]])
        self.token_mask = torch.zeros(B, A, L, dtype=torch.bool)
        lengths = [[2, 4, 3], [1, 2, 0]]
        for b in range(B):
            for a in range(A):
                self.token_mask[b, a, :lengths[b][a]] = True
        self.token_ids = torch.randint(0, V, (B, A, L), generator=g)
        self.token_hidden = torch.randn(B, A, L, H, generator=g) * self.token_mask[..., None]
        self.features = torch.randn(B, A, H, generator=g)
        self.log_pi = torch.zeros(B, A)


def test_token_head_is_the_lm_head_shaped_sum():
    sc = FakeScores()
    crit = TwinQCritic(hidden_size=5, vocab_size=11, head="token")
    head = crit.q1
    with torch.no_grad():
        head.token_bias.weight.normal_()
        head.bias.fill_(0.3)
    q1, _ = crit(sc)
    W, c = head.token_weight.weight, head.token_bias.weight[:, 0]
    for b in range(2):
        for a in range(3):
            if not sc.mask[b, a]:
                assert q1[b, a].item() == 0.0
                continue
            # Q(s,a) = b + Σ_l (w[a_{l+1}]·h_l + c[a_{l+1}]) over the candidate's real tokens
            exp = 0.3 + sum(float(W.detach()[sc.token_ids[b, a, l]] @ sc.token_hidden[b, a, l] + c.detach()[sc.token_ids[b, a, l]])
                            for l in range(4) if sc.token_mask[b, a, l])
            assert q1[b, a].item() == pytest.approx(exp, rel=1e-5, abs=1e-6)


def test_dueling_head_has_zero_mean_advantage_and_state_value():
    sc = FakeScores()
    crit = TwinQCritic(hidden_size=5, vocab_size=11, head="mlp", dueling=True, mlp_hidden=8)
    q1, _ = crit(sc)
    v = crit.q1.value(state_features(sc.token_hidden, sc.mask)).squeeze(-1)
    means = [(q1[b][sc.mask[b]]).mean().item() for b in range(2)]
    assert means == pytest.approx(v.tolist(), rel=1e-5, abs=1e-6)
    assert q1[1, 2].item() == 0.0


def test_trunk_gradient_scale_and_polyak_update():
    x = torch.ones(3, requires_grad=True)
    (grad_scale(x, 0.25) * 2).sum().backward()
    assert x.grad.tolist() == [0.5, 0.5, 0.5]
    assert not grad_scale(x, 0.0).requires_grad
    crit = TwinQCritic(hidden_size=5, vocab_size=11)
    before = crit.q1_target.token_weight.weight.clone()
    with torch.no_grad():
        crit.q1.token_weight.weight.add_(1.0)
    crit.soft_update(0.1)
    # θ̄ ← τθ + (1−τ)θ̄
    expected = 0.1 * crit.q1.token_weight.weight + 0.9 * before
    assert torch.allclose(crit.q1_target.token_weight.weight, expected)
    assert not any(p.requires_grad for p in crit.q1_target.parameters())
    assert not torch.equal(crit.q1.token_weight.weight, crit.q2.token_weight.weight)   # twins differ


# ----------------------------------------------------------------------------------- learner mechanics (real policy)
@pytest.fixture(scope="module")
def small_setup():
    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    from toy_env import ToyGraspEnv, collect, random_act
    from autotelic.policy import build_policy
    from autotelic.prompt import PromptBuilder

    torch.set_num_threads(1)
    env, pb = ToyGraspEnv(("apple", "ball", "cup")), PromptBuilder()
    envs = [ToyGraspEnv(env.objects) for _ in range(8)]
    rng = np.random.default_rng(0)
    eps = []
    for _ in range(4):
        eps += collect(envs, random_act(rng), pb, [env.goals[i % 3] for i in range(8)])

    def make(**cfg):
        from autotelic.relabel import HindsightRelabeller
        from autotelic.replay import EpisodeReplay
        policy = build_policy("tiny", env.vocabulary() + pb.words(), device="cpu", d_model=32, d_kv=8, d_ff=64,
                              num_layers=1, num_decoder_layers=1, num_heads=4)
        rl = HindsightRelabeller(pb, env.compute_reward, k=4, n_step=3, gamma=0.9)
        return SACLearner(policy, EpisodeReplay(1000), rl, SACConfig(batch_size=16, learning_starts=20, **cfg))
    return make, eps


METRICS = {"losses/critic", "losses/actor", "losses/alpha", "charts/alpha", "charts/entropy",
           "charts/target_entropy", "charts/q_mean", "her/relabelled_fraction"}


def test_learner_update_metrics_credit_and_alpha_floor(small_setup):
    make, eps = small_setup
    L = make(updates_per_step=0.5, alpha_lr=1.0, alpha_min=0.02, init_alpha=0.05, entropy_kappa=0.0)
    assert isinstance(L, Learner) and not L.on_policy
    assert not L.ready() and L.pending_updates() == 0
    L.observe(eps[:2])
    assert not L.ready() and L.pending_updates() == 0          # < learning_starts transitions
    L.observe(eps[2:])
    assert L.ready()
    n = L.pending_updates()
    assert n >= 1
    rng = np.random.default_rng(0)
    for _ in range(5):
        m = L.update(rng)
        assert METRICS <= set(m) and all(math.isfinite(v) for v in m.values())
    assert L.pending_updates() == max(0, n - 5)
    # target entropy 0 < H: α is pushed down hard, but never below its floor
    assert L.alpha == pytest.approx(0.02, rel=1e-4)


def test_uniform_warmup_trains_towards_uniform_and_freezes_alpha(small_setup):
    make, eps = small_setup
    L = make(uniform_warmup_updates=4, actor_lr=3e-3)
    L.observe(eps)
    rng = np.random.default_rng(4)
    ms = [L.update(rng) for _ in range(4)]
    assert all(m["losses/alpha"] == 0.0 and m["charts/alpha"] == pytest.approx(0.05) for m in ms)
    assert all(m["losses/actor"] > 0 for m in ms)                     # cross-entropy, not the SAC actor loss
    assert ms[-1]["charts/entropy"] > ms[0]["charts/entropy"]         # towards log|A_s|
    assert L.update(rng)["losses/alpha"] != 0.0


def test_critic_warmup_leaves_the_policy_alone_without_trunk_gradient(small_setup):
    make, eps = small_setup
    L = make(critic_warmup_updates=3, critic_trunk_grad=0.0)
    L.observe(eps)
    before = [p.detach().clone() for p in L.policy.parameters()]
    head_before = L.critic.q1.token_weight.weight.detach().clone()
    rng = np.random.default_rng(1)
    for _ in range(3):
        m = L.update(rng)
        assert m["losses/actor"] == 0.0 and m["losses/alpha"] == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, L.policy.parameters()))
    assert not torch.equal(head_before, L.critic.q1.token_weight.weight)
    L.update(rng)                                                # warm-up over: the actor moves
    assert not all(torch.equal(a, b) for a, b in zip(before, L.policy.parameters()))


def test_learner_state_dict_round_trips_with_weights_only(small_setup):
    make, eps = small_setup
    L = make()
    L.observe(eps)
    rng = np.random.default_rng(2)
    L.update(rng)
    buf = io.BytesIO()
    torch.save(L.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    L2 = make()
    L2.load_state_dict(state)
    assert L2.num_updates == 1 and len(L2.replay) == len(L.replay)
    assert L2.alpha == pytest.approx(L.alpha)
    for a, b in zip(L.critic.state_dict().values(), L2.critic.state_dict().values()):
        assert torch.equal(a, b)
    # identical continuation from identical state and rng
    m1, m2 = L.update(np.random.default_rng(3)), L2.update(np.random.default_rng(3))
    assert m1["losses/critic"] == pytest.approx(m2["losses/critic"], rel=1e-5)


def test_config_validation():
    with pytest.raises(ValueError, match="alpha_min"):
        SACConfig(alpha_min=0.1, init_alpha=0.05).validate()
    with pytest.raises(ValueError, match="critic head"):
        SACConfig(critic_head="pooled").validate()


def test_config_rejects_entropy_target_above_the_maximum_and_bad_ranges():
    SACConfig(entropy_kappa=1.0).validate()                       # κ = 1: the uniform policy's entropy log|A_s|
    for bad in ({"entropy_kappa": 1.5}, {"entropy_kappa": -0.1}, {"tau": 0.0}, {"batch_size": 0},
                {"actor_lr": 0.0}, {"learning_starts": -1}, {"max_grad_norm": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SACConfig(**bad).validate()


def test_learner_validates_its_config(small_setup):
    make, _ = small_setup
    with pytest.raises(ValueError, match="entropy_kappa"):
        make(entropy_kappa=2.0)


def test_shard_splits_the_global_counts():
    cfg = SACConfig(batch_size=64, learning_starts=257, updates_per_step=0.25)
    s = cfg.shard(4)
    assert (s.batch_size, s.learning_starts, s.updates_per_step) == (16, 65, 1.0)
    assert s.actor_lr == cfg.actor_lr and cfg.batch_size == 64           # a copy; the rest unchanged
    assert cfg.shard(1) == cfg
    with pytest.raises(ValueError, match="sac.batch_size"):
        SACConfig(batch_size=63).shard(2)
    with pytest.raises(ValueError, match="world_size"):
        cfg.shard(0)


def test_masked_probs_never_exponentiate_pads():
    from autotelic.policy import Scores, masked_probs
    mask = torch.tensor([[True, True, False]])
    lp = torch.tensor([[math.log(0.25), math.log(0.75), 1e4]], requires_grad=True)   # a garbage pad
    p = masked_probs(lp, mask)
    assert p[0].tolist() == pytest.approx([0.25, 0.75, 0.0])
    (p * torch.tensor([[1.0, 2.0, 3.0]])).sum().backward()
    assert torch.isfinite(lp.grad).all() and lp.grad[0, 2] == 0.0      # exp(1e4)·0 would be inf·0 = NaN
    h = masked_entropy(lp.detach(), mask)
    assert h.item() == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))
    sc = Scores(seq_logp=lp.detach(), log_pi=lp.detach(), mask=mask, features=torch.zeros(1, 3, 1),
                token_hidden=torch.zeros(1, 3, 1, 1), token_ids=torch.zeros(1, 3, 1, dtype=torch.long),
                token_mask=torch.ones(1, 3, 1, dtype=torch.bool))
    assert torch.equal(sc.probs, p.detach()) and sc.entropy.item() == pytest.approx(h.item())  # one definition


def test_critic_gradient_reaches_the_trunk_scaled_by_trunk_grad():
    grads = {}
    for scale in (1.0, 0.5, 0.0):
        torch.manual_seed(0)
        crit = TwinQCritic(hidden_size=5, vocab_size=11, head="token", trunk_grad=scale)
        sc = FakeScores()
        sc.token_hidden.requires_grad_(True)
        q1, q2 = crit(sc)
        (q1.sum() + q2.sum()).backward()
        grads[scale] = sc.token_hidden.grad
    assert grads[1.0].abs().sum() > 0
    assert torch.allclose(grads[0.5], 0.5 * grads[1.0])
    assert grads[0.0] is None


def _perturb_targets(L, scale=0.5, seed=7):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in list(L.critic.q1_target.parameters()) + list(L.critic.q2_target.parameters()):
            p.add_(torch.randn(p.shape, generator=g) * scale)


def _hand_batch():
    from autotelic.prompt import PromptBuilder
    from autotelic.relabel import TransitionBatch
    pb = PromptBuilder()
    obs = ["you are at the middle . you hold nothing .", "you are at the apple . you hold nothing .",
           "you are at the ball . you hold ball ."]
    cands = [["go to apple", "go to ball", "go to cup"], ["go to ball", "go to cup", "grasp"],
             ["go to apple", "go to cup", "release"]]
    gamma = 0.9
    return TransitionBatch(
        prompts=[pb("grasp ball", o) for o in obs], candidates=cands, actions=torch.tensor([1, 2, 0]),
        returns=torch.tensor([0.0, 0.5, 1.0]), discounts=torch.tensor([gamma ** 3, gamma, 0.0]),  # row 2 terminal
        next_prompts=[pb("grasp ball", obs[1]), pb("grasp cup", obs[2]), pb("grasp ball", obs[0])],
        next_candidates=[cands[1], cands[2][:2], cands[0]], relabelled=torch.tensor([False, True, False]),
        terminated=torch.tensor([False, False, True]), steps=torch.tensor([3, 1, 1]),
        goals=["grasp ball", "grasp cup", "grasp ball"])


def _hand_target(L, batch, alpha):
    """y_b = R_b + γ^m(1−d) Σ_a' π(a'|s') [min_i Q̄_i(s',a') − α log π(a'|s')], summed in python per real action."""
    ys = []
    for b in range(len(batch)):
        R, d = float(batch.returns[b]), float(batch.discounts[b])
        if d == 0.0:
            ys.append(R)
            continue
        L.policy.eval()
        with torch.no_grad():
            ns = L.policy.score([batch.next_prompts[b]], [batch.next_candidates[b]])
            x = (ns.token_hidden, ns.token_ids, ns.token_mask, ns.features, ns.mask)
            t1, t2 = L.critic.q1_target(*x)[0].tolist(), L.critic.q2_target(*x)[0].tolist()
        lp = ns.log_pi[0].tolist()
        v = sum(math.exp(lp[a]) * (min(t1[a], t2[a]) - alpha * lp[a]) for a in range(len(batch.next_candidates[b])))
        ys.append(R + d * v)
    return ys


def test_learner_target_is_hand_computed_from_target_heads_alpha_and_discount(small_setup):
    make, _ = small_setup
    L = make(init_alpha=0.5, alpha_min=1e-3)
    _perturb_targets(L)                      # target heads differ from the online heads
    batch = _hand_batch()
    want = _hand_target(L, batch, alpha=0.5)
    assert L.critic_target(batch).tolist() == pytest.approx(want, rel=1e-5, abs=1e-6)
    # the update regresses on that same target (no second copy of the maths inside update_on_batch)
    m = L.update_on_batch(batch)
    assert m["charts/target_mean"] == pytest.approx(np.mean(want), rel=1e-5, abs=1e-6)
    # sanity: the three ingredients matter for this batch, so dropping any of them changes y
    with torch.no_grad():
        L2 = make(init_alpha=0.5, alpha_min=1e-3)
        _perturb_targets(L2)
        ns = L2.policy.score(batch.next_prompts[:2], batch.next_candidates[:2])
        online = L2.critic(ns)
        target = L2.critic.target(ns)
    assert not torch.allclose(online[0], target[0])
    assert want[0] != pytest.approx(_hand_target(L2, batch, alpha=0.0)[0], rel=1e-3)


def test_update_moves_target_heads_by_polyak(small_setup):
    make, eps = small_setup
    L = make(tau=0.3)
    L.observe(eps)
    before = [p.detach().clone() for p in L.critic.q1_target.parameters()] + \
        [p.detach().clone() for p in L.critic.q2_target.parameters()]
    L.update(np.random.default_rng(0))
    online = list(L.critic.q1.parameters()) + list(L.critic.q2.parameters())
    target = list(L.critic.q1_target.parameters()) + list(L.critic.q2_target.parameters())
    moved = False
    for tb, th, p in zip(before, target, online):
        # θ̄ ← (1 − τ) θ̄ + τ θ, θ being the online weights after this update's step
        assert torch.allclose(th, 0.7 * tb + 0.3 * p.detach(), atol=1e-6)
        moved |= not torch.equal(th, tb)
    assert moved


def test_critic_warmup_trains_the_trunk_through_the_critic_loss(small_setup):
    make, eps = small_setup
    L = make(critic_warmup_updates=5, critic_trunk_grad=1.0)
    L.observe(eps)
    before = [p.detach().clone() for p in L.policy.parameters()]
    m = L.update(np.random.default_rng(1))
    assert m["losses/actor"] == 0.0                                  # no actor loss in the warm-up
    assert not all(torch.equal(a, b) for a, b in zip(before, L.policy.parameters()))


@pytest.fixture(scope="module")
def dropout_make():
    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    from toy_env import ToyGraspEnv
    from autotelic.policy import build_policy
    from autotelic.prompt import PromptBuilder
    from autotelic.relabel import HindsightRelabeller
    from autotelic.replay import EpisodeReplay

    env, pb = ToyGraspEnv(("apple", "ball", "cup")), PromptBuilder()

    def make(**cfg):
        policy = build_policy("tiny", env.vocabulary() + pb.words(), device="cpu", d_model=32, d_kv=8, d_ff=64,
                              num_layers=1, num_decoder_layers=1, num_heads=4, dropout_rate=0.5)
        rl = HindsightRelabeller(pb, env.compute_reward, k=4, n_step=3, gamma=0.9)
        return SACLearner(policy, EpisodeReplay(1000), rl, SACConfig(batch_size=3, learning_starts=1, **cfg))
    return make


def _record_modes(policy):
    """Patch ``policy.score`` to record, per call, whether the model's dropout layers were in train mode."""
    drops = [m for m in policy.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops, "the test model must have dropout"
    calls, score = [], policy.score

    def rec(*a, **k):
        flags = {m.training for m in drops}
        assert len(flags) == 1
        calls.append(flags.pop())
        return score(*a, **k)
    policy.score = rec
    return calls


@pytest.mark.parametrize("left_in", ["train", "eval"])
def test_target_in_eval_mode_gradient_pass_in_train_mode(dropout_make, left_in):
    L = dropout_make()
    batch = _hand_batch()
    getattr(L.policy, left_in)()                                       # whatever mode the caller left it in
    y1, y2 = L.critic_target(batch), L.critic_target(batch)
    assert torch.equal(y1, y2)                                         # no dropout in the target
    calls = _record_modes(L.policy)
    L.update_on_batch(batch)
    assert calls == [False, True]                                      # s' in eval mode, s in train mode
    assert L.policy.training == (left_in == "train")                   # the caller's mode is restored


def test_target_trunk_scores_next_states_for_the_target_heads_and_follows_by_polyak(small_setup):
    make, eps = small_setup
    L = make(target_trunk=True, target_trunk_tau=0.25, init_alpha=0.5)
    assert L.target_policy is not None and not any(p.requires_grad for p in L.target_policy.parameters())
    with torch.no_grad():
        for p in L.target_policy.parameters():           # a target trunk that differs from the online one
            p.add_(0.05 * torch.randn_like(p))
    batch = _hand_batch()
    online_trunk = _hand_target(L, batch, alpha=0.5)     # Q̄ heads on the online trunk: not the target any more
    assert L.critic_target(batch)[0].item() != pytest.approx(online_trunk[0], rel=1e-4)
    # by hand: π from the online policy, Q̄_i from the target heads on the target trunk's states
    nb = [0, 1]
    with torch.no_grad():
        L.policy.eval(), L.target_policy.eval()
        ns = L.policy.score([batch.next_prompts[b] for b in nb], [batch.next_candidates[b] for b in nb])
        ts = L.target_policy.score([batch.next_prompts[b] for b in nb], [batch.next_candidates[b] for b in nb])
        t1, t2 = L.critic.target(ts)
    want = [float(batch.returns[b]) + float(batch.discounts[b]) * sum(
        math.exp(ns.log_pi[b, a]) * (min(t1[b, a], t2[b, a]) - 0.5 * ns.log_pi[b, a])
        for a in range(len(batch.next_candidates[b]))).item() for b in nb]
    assert L.critic_target(batch)[:2].tolist() == pytest.approx(want, rel=1e-5)
    before = [p.detach().clone() for p in L.target_policy.parameters()]
    L.observe(eps)
    L.update(np.random.default_rng(0))
    for tb, th, p in zip(before, L.target_policy.parameters(), L.policy.parameters()):
        assert torch.allclose(th, 0.75 * tb + 0.25 * p.detach(), atol=1e-6)
    # checkpoints carry the target trunk
    L2 = make(target_trunk=True)
    L2.load_state_dict(L.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(L2.target_policy.parameters(), L.target_policy.parameters()))


def test_replay_only_episodes_are_replayed_but_earn_no_updates(small_setup):
    make, eps = small_setup
    L = make(updates_per_step=0.5)
    L.observe(eps)
    n, size = L.pending_updates(), len(L.replay)
    L.replay_only(eps[:3])
    assert L.pending_updates() == n and len(L.replay) == size + sum(len(e) for e in eps[:3])
