"""benchmarks/envs.py: --short parts run apart and --merge into one report (tiny model, a few dozen env steps)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("minigrid")

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
TINY = ["model.kwargs.d_model=32", "model.kwargs.d_kv=16", "model.kwargs.d_ff=64", "model.kwargs.num_heads=2",
        "env.n_envs=2", "loop.eval_goals=2"]


def _load():
    spec = importlib.util.spec_from_file_location("bench_envs", BENCH / "envs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_parts_and_merge(tmp_path):
    torch.set_num_threads(1)
    mod = _load()
    common = ["--short", "--steps", "48", "--runs-dir", str(tmp_path / "runs"), "--threads", "1", "--envs", "babyai",
              "--eval-limit", "2"] + [x for o in TINY for x in ("--set", o)]
    a = mod.main(common + ["--methods", "random", "--out", str(tmp_path / "a.json")])
    b = mod.main(common + ["--methods", "sac_her", "--seeds", "0,", "--out", str(tmp_path / "b.json")])
    assert set(a["runs"]) == {"babyai/random/s0"} and set(b["runs"]) == {"babyai/sac_her/s0"}
    for r in (a["runs"]["babyai/random/s0"], b["runs"]["babyai/sac_her/s0"]):
        assert r["env_steps"] >= 48 and set(r["per_goal"]) == {"go to the red ball", "go to the red box"}
        assert 0.0 <= r["greedy"]["all"] <= 1.0 and "goto" in r["greedy"]
        assert 0.0 <= r["sampled"]["all"] <= 1.0
        assert set(r["per_heldout_goal"]) == {"go to the red key", "go to the green ball"}
    assert a["runs"]["babyai/random/s0"]["sampled"] == a["runs"]["babyai/random/s0"]["greedy"]  # one policy
    merged = mod.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                       "--out", str(tmp_path / "m.json")])
    data = json.loads((tmp_path / "m.json").read_text())
    assert set(data["summary"]) == {"babyai/random", "babyai/sac_her"} == set(merged["summary"])
    assert data["targets"]["babyai_greedy_over_random"]["target"] == 2.0
    extend = ["--extend", str(tmp_path / "b.json"), "--eval-limit", "2", "--threads", "1"]
    longer = mod.main(extend + ["--steps", "80", "--out", str(tmp_path / "e.json")])["runs"]["babyai/sac_her/s0"]
    assert longer["env_steps"] >= 80 and longer["extended_from"] == 48 and longer["budget"] == 80
    assert set(longer["per_goal"]) == {"go to the red ball", "go to the red box"}
    with pytest.raises(SystemExit, match="no run to resume"):
        mod.main(["--extend", str(tmp_path / "a.json"), "--steps", "80", "--out", str(tmp_path / "x.json")])
    with pytest.raises(SystemExit, match="above the part's 48"):
        mod.main(extend + ["--steps", "40", "--out", str(tmp_path / "x.json")])


def _load_learnability():
    spec = importlib.util.spec_from_file_location("bench_learnability", BENCH / "learnability.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_learnability_labels_baselines_and_short_report(tmp_path):
    torch.set_num_threads(1)
    mod = _load_learnability()
    samples = mod.collect(80, seed=3)
    assert samples == mod.collect(80, seed=3) and len(samples) == 80  # deterministic in its seed
    assert all(s.action in ("turn left", "turn right", "go forward") for s in samples)  # the expert never picks up
    assert all(("You see a " + s.goal[len("go to the "):] + " ") in (s.observation + " ") for s in samples if s.in_view)
    presence = mod.relabel(samples, "presence")
    assert [s.action == "go forward" for s in presence] == [s.in_view for s in presence]
    counts = [sum(s.in_view for s in samples), sum(not s.in_view for s in samples)]
    assert mod.majority(presence) == max(counts) / 80  # by hand: the larger of the two classes
    with pytest.raises(ValueError, match="unknown task"):
        mod.relabel(samples, "nope")
    assert mod.lookup(presence, presence)["all"] == 1.0  # the goal object's clauses decide presence exactly
    S, here, gone = mod.Sample, "You see a red ball 1 step left, You see a wall 2 steps forward", "You see a red key 1 step forward"
    train = [S("go to the red ball", here, "turn left", True)] * 2 + [S("go to the red ball", here, "go forward", True),
                                                                       S("go to the red ball", gone, "turn right", False)]
    test = [S("go to the red ball", here, "turn left", True), S("go to the red ball", gone, "turn right", False),
            S("go to the red ball", "You see a red ball 3 steps forward", "go forward", True)]  # unseen: "turn left"
    assert mod.lookup(train, test) == {"all": 2 / 3, "in_view": 1 / 2, "out_of_view": 1.0}  # by hand
    report = mod.main(["--short", "--arms", "tiny,tiny-presence", "--updates", "2", "--evals", "1",
                       "--out", str(tmp_path / "l.json")])
    data = json.loads((tmp_path / "l.json").read_text())
    assert set(data["results"]) == {"tiny", "tiny-presence"} == set(report["results"])
    for r in data["results"].values():
        assert [c["update"] for c in r["curve"]] == [0, 2] and 0.0 <= r["final"]["all"] <= 1.0
        assert 0.0 < r["majority"]["all"] <= 1.0 and 0.0 <= r["lookup"]["all"] <= 1.0
    with pytest.raises(SystemExit, match="unknown arm"):
        mod.main(["--short", "--arms", "huge"])
