"""Behaviour log-probs: ``LMPolicy.act`` returns them, the rollout stores them per step, checkpoints keep them."""
from __future__ import annotations

import pathlib
import pickle
import sys

import numpy as np
import pytest
import torch

from autotelic.episode import Episode
from autotelic.policy import Actions, build_policy
from autotelic.prompt import PromptBuilder
from autotelic.rollout import Rollout

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from toy_env import ToyGraspEnv  # noqa: E402


@pytest.fixture(scope="module")
def policy():
    torch.set_num_threads(1)
    env, pb = ToyGraspEnv(("apple", "ball", "cup")), PromptBuilder()
    return build_policy("tiny", env.vocabulary() + pb.words(), device="cpu", d_model=32, d_kv=8, d_ff=64,
                        num_layers=1, num_decoder_layers=1, num_heads=4).eval()


def _rollout(n=3, seed=0):
    env = ToyGraspEnv(("apple", "ball", "cup"))
    return Rollout([ToyGraspEnv(env.objects) for _ in range(n)], PromptBuilder(), lambda idx: [env.goals[i % 3] for i in idx],
                   seed=seed)


def test_act_returns_indices_with_their_log_probs(policy):
    prompts = ["goal : grasp apple . you are at the middle .", "goal : grasp cup . you are at the ball ."]
    cands = [["go to apple", "go to ball", "go to cup"], ["go to apple", "grasp"]]
    gen = torch.Generator().manual_seed(0)
    a = policy.act(prompts, cands, generator=gen)
    assert isinstance(a, list) and all(isinstance(i, int) for i in a) and len(a.logp) == 2
    sc = policy.score(prompts, cands)
    assert a.logp == pytest.approx([sc.log_pi[b, i].item() for b, i in enumerate(a)], abs=1e-6)
    g = policy.act(prompts, cands, greedy=True)
    assert g.logp == pytest.approx(sc.log_pi.masked_fill(~sc.mask, -1e9).max(-1).values.tolist(), abs=1e-6)
    back = pickle.loads(pickle.dumps(a))                  # episodes cross processes by pickling
    assert back == a and back.logp == a.logp
    with pytest.raises(ValueError, match="log-probs"):
        Actions([0, 1], [0.0])


def test_rollout_stores_the_behaviour_logp_of_every_step(policy):
    r = _rollout()
    gen = torch.Generator().manual_seed(1)
    finished = []
    while len(finished) < 3:
        finished += r.step(lambda p, c: policy.act(p, c, generator=gen))
    pb = PromptBuilder()
    for ep in finished:
        ep.validate()
        assert len(ep.logps) == len(ep)
        with torch.no_grad():
            sc = policy.score([pb(ep.goal, o) for o in ep.observations[:-1]], [list(a) for a in ep.admissible[:-1]])
        assert ep.logps == pytest.approx([sc.log_pi[t, a].item() for t, a in enumerate(ep.actions)], abs=1e-5)
    # an act function that returns plain indices records none (backward compatible)
    rng = np.random.default_rng(0)
    r2, plain = _rollout(), []
    while not plain:
        plain += r2.step(lambda p, c: [int(rng.integers(len(x))) for x in c])
    assert all(ep.logps == [] for ep in plain)


def test_resumed_rollout_keeps_the_logps_of_episodes_in_progress(policy):
    r = _rollout(seed=3)
    gen = torch.Generator().manual_seed(2)
    act = lambda p, c: policy.act(p, c, generator=gen)  # noqa: E731
    r.step(act)
    state = r.state_dict()
    r2 = _rollout(seed=99)
    r2.load_state_dict(state)
    assert [s.episode.logps for s in r2.slots] == [s.episode.logps for s in r.slots]
    assert all(len(s.episode.logps) == len(s.episode) for s in r2.slots)
    old = {**state, "slots": [{k: v for k, v in s.items() if k != "logps"} for s in state["slots"]]}
    r3 = _rollout()
    r3.load_state_dict(old)                               # a checkpoint from before log-probs were stored
    assert all(s.episode.logps == [] for s in r3.slots)


def test_episode_dict_round_trip_and_validation():
    ep = Episode(goal="g", observations=["a", "b"], admissible=[("x", "y"), ("x",)], actions=[1], rewards=[0.0],
                 achieved=[frozenset()], truncated=True, logps=[-0.6931471805599453])
    assert Episode.from_dict(ep.to_dict()) == ep
    d = ep.to_dict()
    del d["logps"]
    assert Episode.from_dict(d).logps == []
    ep.logps = [-0.1, -0.2]
    with pytest.raises(ValueError, match="log-probs"):
        ep.validate()
