"""benchmarks/envs.py: --short parts run apart and --merge into one report (tiny model, a few dozen env steps)."""
from __future__ import annotations

import importlib.util
import json
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
