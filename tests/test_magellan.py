"""MAGELLAN curriculum: a success head on goal embeddings generalises competence to unseen goals, its LP is the
gap to a delayed copy, it scores goals never attempted, uses the policy's LLM once attached, and resumes exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from autotelic.curricula import make_curriculum
from autotelic.curricula.magellan import MagellanCurriculum, goal_embeddings
from autotelic.graph import GoalGraph

OBJECTS = [f"thing{i}" for i in range(40)]


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny MLP steps: threads only add overhead on a shared machine
    yield
    torch.set_num_threads(n)


def families() -> tuple[list[str], list[str]]:
    """'Grasp X' goals always succeed, 'Grow X' goals never do."""
    return [f"Grasp {o}" for o in OBJECTS], [f"Grow {o}" for o in OBJECTS]


def test_competence_generalises_to_goals_never_attempted():
    grasp, grow = families()
    c = make_curriculum("magellan", lr=3e-3, batch_size=32)
    rng = np.random.default_rng(0)
    for _ in range(400):  # outcomes on the first 30 objects only
        i = int(rng.integers(30))
        c.update(grasp[i], True)
        c.update(grow[i], False)
    g = GoalGraph()
    g.seed(grasp + grow)
    est = c.estimate_competence(g, grasp[30:] + grow[30:])  # 10 + 10 goals never attempted
    assert est[:10].min() > 0.8 and est[10:].max() < 0.2
    assert c.metrics()["curriculum/updates"] == 800.0


def test_lp_is_the_gap_to_the_delayed_head_and_drives_sampling():
    grasp, grow = families()
    g = GoalGraph()
    g.seed(grasp + grow)
    c = MagellanCurriculum(delay=20, lr=3e-3, epsilon=0.0)
    p0 = c.probabilities(g)
    assert max(p0.values()) == pytest.approx(min(p0.values()))  # untrained: no LP, uniform
    peak, drew = 0.0, False
    lps = []
    for r in range(15):  # grasp goals are successes, grow goals failures, on the first 20 objects
        for goal in grasp[:20]:
            c.update(goal, True)
        for goal in grow[:20]:
            c.update(goal, False)
        now, old = c._predict(grasp + grow)
        lp = c.learning_progress_array(g, c.pool(g)[0])
        assert np.allclose(lp, np.abs(now - old))
        peak = max(peak, float(lp.max()))
        lps.append(round(float(lp.max()), 3))
        if lp.max() > 0.05 and not drew:
            drew = True
            draws = c.sample(g, 2000, np.random.default_rng(0))
            assert len(set(draws)) > 20  # spread by generalisation, not only on attempted goals
            assert sum(d in grasp[20:] + grow[20:] for d in draws) > 200  # never-attempted goals are sampled
    assert drew and peak > 0.05
    assert lp.max() < 0.5 * peak, lps  # learning has converged: the delayed head caught up
    c.probabilities(g)  # metrics describe the last distribution
    m = c.metrics()
    assert m["curriculum/max_lp"] == pytest.approx(lp.max()) and m["curriculum/head_steps"] == 600


def tiny_policy():
    from autotelic.policy import build_policy

    words = ["Grasp", "Grow"] + OBJECTS
    return build_policy("tiny", words, seed=0, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_decoder_layers=1)


def test_attach_uses_the_policys_llm_and_resumes_exactly(tmp_path):
    policy = tiny_policy()
    grasp, grow = families()
    e = goal_embeddings(policy, grasp[:3] + grow[:2])
    assert e.shape == (5, policy.hidden_size) and not e.requires_grad
    assert not torch.allclose(e[0], e[1])
    policy.train()
    state_before = torch.get_rng_state()
    c = MagellanCurriculum(delay=5, seed=1)
    c.attach(policy)
    assert c.dim == policy.hidden_size
    assert torch.equal(torch.get_rng_state(), state_before)  # the head has its own seed
    for t in range(40):
        c.update(grasp[t % 10], True)
        c.update(grow[t % 10], t % 4 == 0)
    assert policy.training  # restored after embedding
    g = GoalGraph()
    g.seed(grasp + grow)
    torch.save(c.state_dict(), tmp_path / "m.pt")
    d = MagellanCurriculum(delay=5, seed=1)
    d.attach(policy)
    d.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    for cur in (c, d):  # both continue identically
        for t in range(10):
            cur.update(grasp[t], t % 2 == 0)
    assert np.array_equal(c.estimate_competence(g, grasp + grow), d.estimate_competence(g, grasp + grow))
    assert c.sample(g, 30, np.random.default_rng(5)) == d.sample(g, 30, np.random.default_rng(5))
    with pytest.raises(ValueError, match="embedding width"):
        MagellanCurriculum().load_state_dict(c.state_dict())
    with pytest.raises(TypeError, match="LMPolicy"):
        MagellanCurriculum().attach(object())


def test_mixture_forwards_attach_and_estimates():
    policy = tiny_policy()
    mix = make_curriculum("mixture", components={"magellan": 0.5, "uniform": 0.5})
    mix.attach(policy)
    assert mix.components["magellan"].policy is policy
    g = GoalGraph()
    g.seed(["Grasp thing1"])
    assert mix.estimate_competence(g, ["Grasp thing1"]).shape == (1,)


def test_estimate_is_the_heads_prior_updated_by_the_goals_own_window():
    """(m ĉ + n c_g)/(m + n) by hand: an untried goal keeps ĉ, a tried one moves toward its own success rate."""
    grasp, grow = families()
    c = make_curriculum("magellan", lr=3e-3, prior_outcomes=4)
    for t in range(50):
        c.update(grasp[t % 10], True)
        c.update(grow[t % 10], False)
    g = GoalGraph(window=10)
    g.seed(grasp + grow)
    for t in range(6):  # grow[0]: 3 of 6 succeed; grasp[0]: 0 of 2; grasp[1]: none recorded
        g.record_outcome(grow[0], t % 2 == 0)
    for _ in range(2):
        g.record_outcome(grasp[0], False)
    goals = [grow[0], grasp[0], grasp[1], "never in the graph"]
    head = c.predicted_competence(goals)
    est = c.estimate_competence(g, goals)
    want = [(4 * head[0] + 6 * 0.5) / 10, (4 * head[1] + 0) / 6, head[2], head[3]]
    assert est == pytest.approx(want, abs=1e-12)
    assert head[1] > 0.5 and est[1] < head[1]  # the head says "grasp succeeds", this goal's record says otherwise
    raw = make_curriculum("magellan", lr=3e-3, prior_outcomes=None)
    raw.load_state_dict(c.state_dict())
    assert np.array_equal(raw.estimate_competence(g, goals), head)  # the paper's estimate: the head alone
    with pytest.raises(ValueError, match="prior_outcomes must be > 0"):
        make_curriculum("magellan", prior_outcomes=0)


def test_encoder_lr_trains_the_heads_own_copy_of_the_llm_and_resumes_exactly(tmp_path):
    policy = tiny_policy()
    before = {k: v.clone() for k, v in policy.lm.state_dict().items() if torch.is_tensor(v)}
    grasp, grow = families()
    with pytest.raises(ValueError, match="refresh_every > 0"):
        MagellanCurriculum(encoder_lr=1e-3)
    c = MagellanCurriculum(delay=5, seed=1, encoder_lr=1e-2, refresh_every=7)
    c.attach(policy)
    enc0 = [p.detach().clone() for p in c.own.core.get_encoder().parameters()]
    for t in range(30):
        c.update(grasp[t % 10], True)
        c.update(grow[t % 10], False)
    moved = [not torch.equal(a, b) for a, b in zip(enc0, c.own.core.get_encoder().parameters())]
    assert any(moved)  # the copy's encoder trains with the head ...
    after = policy.lm.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())  # ... the policy's weights do not move
    p_own = c.predicted_competence(grasp + grow)
    assert p_own[:10].mean() > p_own[10:].mean() + 0.2  # it separates the two families it was shown
    g = GoalGraph()
    g.seed(grasp + grow)
    torch.save(c.state_dict(), tmp_path / "m.pt")  # as a checkpoint does: no tensor shared with the live run
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    d = MagellanCurriculum(delay=5, seed=1, encoder_lr=1e-2, refresh_every=7)
    d.attach(tiny_policy())
    d.load_state_dict(state)
    for cur in (c, d):
        for t in range(10):
            cur.update(grasp[t], t % 2 == 0)
    assert np.array_equal(c.estimate_competence(g, grasp + grow), d.estimate_competence(g, grasp + grow))
    frozen = MagellanCurriculum(delay=5, seed=1)
    frozen.attach(policy)
    with pytest.raises(ValueError, match="encoder_lr"):
        frozen.load_state_dict(state)
