"""The tiny models' vocabulary needs no help from the user: probing an env, growing into spare rows, [UNK] accounting.

The learning test trains the crafting toy (tests/craft_env.py) with and without ``vocabulary()`` through the loop;
measured on the dev machine (2 cores shared with other jobs, load 2.5-4, one torch thread), 1000 env steps each,
greedy success over the 4 goals, seeds 0/1/2: with vocabulary() 1.00/1.00/0.75, without 1.00/1.00/0.75; without and
``spare_rows=0`` (the behaviour before growth: every env word is [UNK], 71% of the tokens) 0.25/0.25/0.25; a
uniformly random policy 0.50. The three runs of seed 0 take ~47 s in all.
"""
from __future__ import annotations

import io
import pathlib
import sys

import pytest
import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from craft_env import GOALS, WORDS, CraftEnv  # noqa: E402

from autotelic.critic import TwinQCritic  # noqa: E402
from autotelic.lm import build_lm, build_word_tokenizer  # noqa: E402
from autotelic.policy import LMPolicy  # noqa: E402
from autotelic.reference import score_naive  # noqa: E402
from autotelic.prompt import PromptBuilder  # noqa: E402
from autotelic.vocab import UnkMonitor, probe_vocabulary, split_words, unk_warning  # noqa: E402

torch.set_num_threads(1)

PB = PromptBuilder()
SMALL = dict(d_model=32, d_kv=16, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2)
PROMPT = PB("make plank", "you have wood .")


def tiny(spare_rows=None, name="tiny", seed=0, vocabulary=None):
    kw = SMALL if name == "tiny" else {}
    return build_lm(name, PB.words() if vocabulary is None else vocabulary, device="cpu", seed=seed,
                    spare_rows=spare_rows, **kw).eval()


# ---- words and the probe ------------------------------------------------------------------------------------------


def test_split_words_is_the_word_tokenizers_split():
    text = "Goal: Make PLANK.\nYou have wood, stone."
    tok = build_word_tokenizer([text])
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == split_words(text)
    assert split_words(text)[:4] == ["goal", ":", "make", "plank"]


def test_probe_finds_the_words_of_an_env_without_vocabulary_and_leaves_it_untouched():
    env = CraftEnv(vocabulary=False)
    assert env.vocabulary() == []
    fresh = CraftEnv(vocabulary=False)
    env.reset(seed=5)
    rng_before = env._rng.getstate()
    words = probe_vocabulary(env, episodes=8, seed=3)
    assert set(WORDS) <= set(words) and words == sorted(set(words))
    assert probe_vocabulary(env, episodes=8, seed=3) == words  # deterministic for a seed
    assert env._rng.getstate() == rng_before and env.t == 0  # played on a copy
    fresh.reset(seed=5)
    assert env.reset(seed=11) == fresh.reset(seed=11)
    assert probe_vocabulary(env, episodes=0, texts=["Hello, world"]) == sorted({",", "hello", "world",
                                                                                *split_words(" ".join(GOALS))})


def test_probe_rejects_bad_arguments():
    with pytest.raises(ValueError, match="episodes"):
        probe_vocabulary(CraftEnv(), episodes=-1)


# ---- growth -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tiny", "tiny-causal", "tiny-gpt2"])
def test_a_new_word_takes_a_spare_row_so_actions_that_differ_by_it_score_differently(name):
    grown = LMPolicy(tiny(name=name))
    assert grown.lm.vocab_size == grown.lm.active_vocab_size + 256
    sc = grown.score([PROMPT], [["collect wood", "collect stone"]])
    ids = sc.token_ids[0]
    assert not torch.equal(ids[0], ids[1]) and (ids < grown.lm.active_vocab_size).all()
    assert grown.lm.tokenizer.unk_token_id not in ids.tolist()
    assert sc.seq_logp[0, 0] != sc.seq_logp[0, 1]
    assert grown.lm.unk_rate() == 0.0
    assert torch.allclose(sc.seq_logp, score_naive(grown, [PROMPT], [["collect wood", "collect stone"]]), atol=1e-4)
    # without spare rows (the old behaviour) both actions are "collect [UNK]": the same score
    stuck = LMPolicy(tiny(spare_rows=0, name=name))
    sc0 = stuck.score([PROMPT], [["collect wood", "collect stone"]])
    assert torch.equal(sc0.token_ids[0, 0], sc0.token_ids[0, 1]) and sc0.seq_logp[0, 0] == sc0.seq_logp[0, 1]


def test_spare_rows_change_nothing_while_no_new_word_appears():
    vocab = PB.words() + WORDS
    a, b = LMPolicy(tiny(spare_rows=0, vocabulary=vocab)), LMPolicy(tiny(spare_rows=64, vocabulary=vocab))
    cands = [list(GOALS)]
    assert torch.equal(a.score([PROMPT], cands).seq_logp, b.score([PROMPT], cands).seq_logp)
    wa, wb = a.lm.lm_head_weight(), b.lm.lm_head_weight()
    assert wb.shape[0] == wa.shape[0] + 64 and torch.equal(wa, wb[: wa.shape[0]])
    # the critic: same first rows, same other weights; spare rows start at 0 and get no gradient while unused
    torch.manual_seed(0)
    ca = TwinQCritic(a.hidden_size, a.vocab_size)
    torch.manual_seed(0)
    cb = TwinQCritic(b.hidden_size, b.vocab_size, init_rows=b.active_vocab_size,
                     active_rows=lambda: b.active_vocab_size)
    sa, sb = ca.state_dict(), cb.state_dict()
    assert set(sb) - set(sa) == {f"{q}.spare_{p}.weight" for q in ("q1", "q2", "q1_target", "q2_target")
                                 for p in ("weight", "bias")}
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not cb.q1.spare_weight.weight.any()
    q1, q2 = cb(b.score([PROMPT], cands))
    (q1.sum() + q2.sum()).backward()
    assert cb.q1.token_weight.weight.grad is not None and cb.q1.spare_weight.weight.grad is None


def test_critic_uses_the_spare_rows_once_a_word_owns_them():
    pol = LMPolicy(tiny(spare_rows=8))
    critic = TwinQCritic(pol.hidden_size, pol.vocab_size, init_rows=pol.active_vocab_size,
                         active_rows=lambda: pol.active_vocab_size)
    q1, q2 = critic(pol.score([PROMPT], [["collect wood", "collect stone"]]))  # grows the vocabulary first
    (q1.sum() + q2.sum()).backward()
    assert critic.q1.spare_weight.weight.grad is not None and critic.q1.spare_weight.weight.grad.any()
    tq1, _ = critic.target(pol.score([PROMPT], [["collect wood"]]))
    assert tq1.shape == (1, 1)


def test_full_spare_rows_fall_back_to_unk_and_are_counted():
    lm = tiny(spare_rows=2)
    base = lm.active_vocab_size
    ids = lm.encode_candidates(["make plank stick"])[0]  # 3 new words, 2 rows: make, plank get ids; stick is [UNK]
    assert ids == (base, base + 1, lm.tokenizer.unk_token_id, lm.eos_id)
    assert lm.word_vocab.overflow == {"stick"} and lm.word_vocab.free == 0
    assert lm.unk_rate() == pytest.approx(1 / 3)  # the appended EOS is not counted
    assert lm.add_words(["wood"]) == []


def test_unk_rate_counts_every_encoded_token_and_resets():
    lm = tiny(spare_rows=0)
    lm.encode_prompts(["goal : wood"])          # 3 tokens, 1 [UNK]
    lm.encode_candidates(["action", "wood"])    # 2 tokens, 1 [UNK]; cached texts count again
    lm.encode_candidates(["wood"])
    assert lm.unk_rate(reset=False) == pytest.approx(3 / 6)
    assert lm.unk_rate() == pytest.approx(3 / 6) and lm.unk_rate() == 0.0


def test_add_words_puts_probed_words_in_spare_rows():
    lm = tiny()
    added = lm.add_words(probe_vocabulary(CraftEnv(vocabulary=False), episodes=4))
    assert set(WORDS) - set(PB.words()) <= set(added)
    assert lm.add_words(["wood"]) == []
    before = lm.active_vocab_size
    lm.encode_prompts([PROMPT])
    assert lm.active_vocab_size == before and lm.unk_rate() == 0.0


def test_processes_that_defer_growth_agree_on_word_ids():
    ranks = [tiny(seed=0), tiny(seed=0)]
    for lm in ranks:
        lm.grow_on_encode = False
    ranks[0].encode_prompts([PB("collect wood", "you have nothing .")])
    ranks[1].encode_candidates(["make stick", "collect stone"])
    assert ranks[0].active_vocab_size == ranks[1].active_vocab_size == len(tiny(seed=0).word_vocab)
    assert ranks[1].unk_rate() == 1.0  # every word stays [UNK] until added
    gathered = [lm.take_unseen_words() for lm in ranks]  # what all_gather_object would return on every rank
    assert gathered[1] == ["collect", "make", "stick", "stone"] and ranks[1].take_unseen_words() == []
    for lm in reversed(ranks):
        lm.add_words(w for words in gathered for w in words)
    assert ranks[0].word_vocab.words() == ranks[1].word_vocab.words()
    assert ranks[1].encode_candidates(["make stick"]) == ranks[0].encode_candidates(["make stick"])
    assert ranks[1].unk_rate() == 0.0


@pytest.mark.parametrize("name", ["tiny", "tiny-causal"])
def test_growth_survives_a_state_dict_round_trip_with_weights_only(name):
    pol = LMPolicy(tiny(name=name, seed=1))
    cands = [["collect wood", "collect stone", "make plank"]]
    pol.lm.encode_candidates(["zebra"])
    want = pol.score([PROMPT], cands).seq_logp
    buf = io.BytesIO()
    torch.save(pol.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    again = LMPolicy(tiny(name=name, seed=2))
    again.load_state_dict(state)
    assert again.lm.word_vocab.words() == pol.lm.word_vocab.words()
    assert torch.equal(again.score([PROMPT], cands).seq_logp, want)
    assert again.lm.unk_rate() == pol.lm.unk_rate() == 0.0
    # a state saved before the vocabulary was part of it (no _extra_state) still loads
    state.pop("lm._extra_state")
    LMPolicy(tiny(name=name, seed=2)).load_state_dict(state)


def test_save_pretrained_after_growth_reloads_identical_scores(tmp_path):
    pol = LMPolicy(tiny(seed=3))
    cands = [["collect wood", "collect stone"]]
    want = pol.score([PROMPT], cands).seq_logp
    pol.lm.save_pretrained(tmp_path / "m")
    again = LMPolicy(build_lm(str(tmp_path / "m"), device="cpu")).eval()
    assert again.lm.active_vocab_size == pol.lm.active_vocab_size and again.lm.word_vocab.free > 0
    assert torch.allclose(again.score([PROMPT], cands).seq_logp, want, atol=1e-6)


def test_bad_spare_rows_and_saved_vocabulary_are_refused():
    with pytest.raises(ValueError, match="spare_rows"):
        tiny(spare_rows=-1)
    lm = tiny(spare_rows=1)
    with pytest.raises(ValueError, match="does not fit"):
        lm.word_vocab.set_words(lm.word_vocab.words() + ["a", "b"])
    with pytest.raises(ValueError, match="starts with"):
        lm.word_vocab.set_words(["a"])


# ---- the warning --------------------------------------------------------------------------------------------------


def test_unk_monitor_warns_once_in_one_line_above_the_threshold():
    lines: list[str] = []
    monitor = UnkMonitor(emit=lines.append)
    lm = tiny(spare_rows=0)
    lm.encode_prompts([PROMPT])
    assert monitor.read(lm) == pytest.approx(6 / 12) and len(lines) == 1  # make plank you have wood .
    assert "\n" not in lines[0] and "[UNK]" in lines[0] and "spare_rows" in lines[0]
    lm.encode_prompts([PROMPT])
    monitor.read(lm)
    assert len(lines) == 1  # once
    assert unk_warning(0.02) is None and unk_warning(0.021) is not None
    quiet = UnkMonitor(emit=lines.append)
    lm.encode_prompts(["goal :"])
    assert quiet.read(lm) == 0.0 and len(lines) == 1


def test_unk_warning_names_overflowed_words():
    lm = tiny(spare_rows=1)
    lm.encode_candidates(["collect wood"])
    lines: list[str] = []
    UnkMonitor(emit=lines.append).read(lm)
    assert "'wood'" in lines[0]


# ---- learning -------------------------------------------------------------------------------------------------------

LEARN = ["env.id=craft_env:CraftEnv", "env.n_envs=8", "loop.total_env_steps=1000", "loop.log_every=500",
         "loop.eval_every=0", "loop.checkpoint_every=0", "loop.snapshot_every=0", "loop.progress=false",
         "torch_threads=1", "model.kwargs.d_model=32", "model.kwargs.d_kv=16", "model.kwargs.d_ff=64",
         "model.kwargs.num_layers=1", "model.kwargs.num_decoder_layers=1", "model.kwargs.num_heads=2",
         "her.gamma=0.7", "her.k=4", "her.n_step=3", "sac.batch_size=32", "sac.learning_starts=128",
         "sac.updates_per_step=0.5", "sac.actor_lr=1e-3", "loop.update_every=16", "curriculum.name=uniform"]


def _train(tmp_path, name: str, *extra: str) -> tuple[float, float]:
    """Greedy success over every goal after a short fixed-seed SAC+HER run, and the run's [UNK] rate."""
    from autotelic.config import load_config
    from autotelic.evaluate import evaluate_goals
    from autotelic.loop import AutotelicLoop
    from autotelic.schema import TrainConfig

    cfg = load_config(TrainConfig, None, LEARN + [f"run_dir={tmp_path / name}", *extra])
    loop = AutotelicLoop(cfg)
    loop.run()
    from autotelic.metrics import read_metrics

    unk = read_metrics(tmp_path / name)[-1]["charts/unk_rate"]  # [UNK] share since the previous row
    with torch.no_grad():
        per_goal = evaluate_goals(loop.eval_envs, lambda p, c: loop.policy.act(p, c, greedy=True), loop.prompt,
                                  list(GOALS), seed=1)
    return sum(per_goal.values()) / len(per_goal), unk


@pytest.mark.slow
def test_an_env_without_vocabulary_learns_the_crafting_toy_as_well_as_with_one(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parent))
    random_rate = 0.50  # uniform over the 4 actions, horizon 5 (tests/craft_env.py; 4000 episodes per goal)
    with_vocab, unk_with = _train(tmp_path, "with")
    without, unk_without = _train(tmp_path, "without", "env.kwargs.vocabulary=false")
    monkeypatch.setattr("autotelic.build.probe_vocabulary", lambda *a, **k: [])  # neither probe nor growth:
    stuck, unk_stuck = _train(tmp_path, "stuck", "env.kwargs.vocabulary=false", "model.kwargs.spare_rows=0")
    print(f"\ngreedy success: with vocabulary() {with_vocab:.2f}, without {without:.2f}, without and no spare rows "
          f"{stuck:.2f} ([UNK] rate {unk_stuck:.2f}); random {random_rate:.2f}")
    assert unk_with == unk_without == 0.0 and unk_stuck > 0.5
    assert with_vocab >= 0.75 and without >= with_vocab - 0.25 and without >= random_rate + 0.25
    assert stuck <= 0.5  # the test can fail: all-[UNK] words do not learn it
