"""The autotelic loop end to end: exact resume, corrupt-checkpoint fallback, user plug-ins, clear CLI errors."""
import json
from pathlib import Path

import pytest
import torch

from autotelic.cli import main
from autotelic.config import load_config
from autotelic.loop import TIMING_METRICS, AutotelicLoop
from autotelic.metrics import read_metrics
from autotelic.schema import TrainConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SMALL = ["env.n_envs=2", "loop.log_every=40", "loop.eval_every=120", "loop.checkpoint_every=80",
         "loop.snapshot_every=120", "loop.eval_goals=4", "loop.progress=false", "loop.update_every=8",
         "sac.learning_starts=24", "sac.batch_size=8", "sac.uniform_warmup_updates=2", "ppo.rollout_steps=32",
         "ppo.minibatch_size=16", "ppo.epochs=1", "torch_threads=1",
         "model.kwargs.d_model=32", "model.kwargs.d_kv=16", "model.kwargs.d_ff=64", "model.kwargs.num_layers=1",
         "model.kwargs.num_decoder_layers=1", "model.kwargs.num_heads=2"]


def _cfg(tmp_path, name, *extra):
    return load_config(TrainConfig, None, SMALL + [f"run_dir={tmp_path / name}", *extra])


def _rows(run_dir):
    return [{k: v for k, v in r.items() if k not in TIMING_METRICS} for r in read_metrics(run_dir)]


@pytest.mark.parametrize("learner,extra", [("sac", []), ("ppo", []), ("sac", ["loop.chain_goals=2"]),
                                           ("sac", ["loop.chain_goals=2", "loop.chain_follow=1.0"])])
def test_resume_gives_the_same_metrics_as_an_uninterrupted_run(tmp_path, learner, extra):
    full = AutotelicLoop(_cfg(tmp_path, "full", f"learner={learner}", "loop.total_env_steps=200", *extra))
    full.run()
    part = AutotelicLoop(_cfg(tmp_path, "part", f"learner={learner}", "loop.total_env_steps=120", *extra))
    part.run()
    resumed = AutotelicLoop.resume(tmp_path / "part", ["loop.total_env_steps=200"])
    assert resumed.env_steps == 120
    resumed.run()
    a, b = _rows(tmp_path / "full"), _rows(tmp_path / "part")
    assert [r["step"] for r in a] == [40, 80, 120, 160, 200]
    assert a == b
    if learner == "sac":
        assert any("losses/critic" in r for r in a)
    if extra:  # goals chained from a success, some of them across the checkpoint (replayed on resume)
        assert any(r.get("charts/chained_episodes", 0) > 0 for r in a)
    for name in ("graph.png", "graph.html", "graph.graphml", "timeline.png", "config.yaml"):
        assert (tmp_path / "full" / name).is_file()


def test_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path):
    AutotelicLoop(_cfg(tmp_path, "run", "loop.total_env_steps=160")).run()
    ckpts = sorted((tmp_path / "run" / "checkpoints").glob("ckpt_*.pt"))
    assert [p.name for p in ckpts][-2:] == ["ckpt_000000080.pt", "ckpt_000000160.pt"]
    data = ckpts[-1].read_bytes()
    ckpts[-1].write_bytes(data[: len(data) // 2])
    with pytest.warns(RuntimeWarning, match="corrupt"):
        loop = AutotelicLoop.resume(tmp_path / "run")
    assert loop.env_steps == 80


def test_user_curriculum_and_user_env_by_dotted_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    cfg = _cfg(tmp_path, "user", "env.id=custom_env:CounterEnv", "curriculum.name=custom_curriculum:GoldilocksCurriculum",
               "loop.total_env_steps=160")
    row = AutotelicLoop(cfg).run()
    assert row["curriculum/proposed"] > 0 and row["curriculum/discovered"] >= 3
    assert "eval/success_heldout" in row  # CounterEnv.all_goals gives the held-out set


def test_cli_train_then_graph_and_eval(tmp_path, capsys):
    run = tmp_path / "cli"
    assert main(["train", *SMALL, f"run_dir={run}", "loop.total_env_steps=80"]) == 0
    assert "run: " in capsys.readouterr().out
    assert main(["train", *SMALL, f"run_dir={run}", "loop.total_env_steps=80"]) == 2  # refuses to overwrite
    assert main(["graph", str(run), "--out", str(tmp_path / "pics")]) == 0
    assert (tmp_path / "pics" / "graph.html").is_file() and (tmp_path / "pics" / "timeline.png").is_file()
    assert main(["eval", str(run), "--goals", "3", "--repeats", "1"]) == 0
    assert "eval/success_heldout" in json.loads((run / "eval.json").read_text())
    state = torch.load(sorted((run / "checkpoints").glob("*.pt"))[-1], weights_only=True)
    assert state["step"] == 80


def test_bad_chain_goals_are_clear_errors(tmp_path, monkeypatch):
    from autotelic.config import ConfigError
    with pytest.raises(ConfigError, match="chain_goals must be >= 0"):
        _cfg(tmp_path, "neg", "loop.chain_goals=-1")
    with pytest.raises(ConfigError, match=r"chain_follow must be in \[0, 1\]"):
        _cfg(tmp_path, "p", "loop.chain_goals=1", "loop.chain_follow=1.5")
    with pytest.raises(ConfigError, match="chain_follow needs goal chaining"):
        _cfg(tmp_path, "off", "loop.chain_follow=0.5")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    with pytest.raises(ValueError, match="needs envs with chain"):  # the example env has no chain(goal)
        AutotelicLoop(_cfg(tmp_path, "nochain", "loop.chain_goals=1", "env.id=custom_env:CounterEnv"))


def test_chain_follow_proposes_unmastered_goals_seen_after_the_success(tmp_path):
    from episodes import make_episode
    loop = AutotelicLoop(_cfg(tmp_path, "follow", "loop.chain_goals=2", "loop.chain_follow=1.0"))
    g = loop.graph
    for _ in range(30):  # Grasp water, then Grow carrot, then Grow cow (never mastered); Grasp chair mastered
        g.observe(make_episode("Grow cow", [["Grasp water"], ["Grow carrot"], ["Grow cow"]], False), step=0)
        g.observe(make_episode("Grasp chair", [["Grow carrot"], ["Grasp chair"]], True), step=0)
    assert g.is_mastered("Grasp chair") and not g.is_mastered("Grow cow")
    success = make_episode("Grow carrot", [["Grow carrot"]], True)
    assert loop._follow_goals([success] * 20) == ["Grow cow"] * 20
    assert loop._follow_goals([make_episode("Grow cow", [["Grow cow"]], True)]) == [None]  # nothing follows
    loop.chain_follow = 0.5
    assert 0 < sum(x is None for x in loop._follow_goals([success] * 40)) < 40
