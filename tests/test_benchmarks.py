"""The benchmark scripts: each --short mode once (in-process, tiny model and budget) and the JSON it writes; helpers."""
from __future__ import annotations

import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
TINY = ["model.kwargs.d_model=32", "model.kwargs.d_kv=16", "model.kwargs.d_ff=64", "model.kwargs.num_layers=1",
        "model.kwargs.num_decoder_layers=1", "model.kwargs.num_heads=2", "sac.batch_size=8", "sac.learning_starts=24",
        "ppo.rollout_steps=32", "ppo.minibatch_size=16", "ppo.epochs=1", "loop.eval_goals=2"]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(name: str, tmp_path: Path, *extra: str) -> tuple[dict, dict, Path]:
    """Run ``benchmarks/<name>.py --short`` in-process; return (returned report, JSON on disk, plot folder)."""
    torch.set_num_threads(1)
    plots = tmp_path / "plots"
    argv = ["--short", "--out", str(tmp_path / f"{name}.json"), "--runs-dir", str(tmp_path / "runs"),
            "--plots", str(plots), "--threads", "1", *extra]
    for o in TINY:
        argv += ["--set", o]
    t0 = time.perf_counter()
    report = _load(name).main(argv)
    print(f"{name} --short: {time.perf_counter() - t0:.1f} s")
    data = json.loads((tmp_path / f"{name}.json").read_text())
    return report, data, plots


def _finite(*xs) -> bool:
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in xs)


def _meta_ok(meta: dict, short: bool = True) -> None:
    for k in ("date", "torch", "cpu_count", "torch_threads", "short", "steps"):
        assert k in meta, k
    assert meta["short"] is short


# ---------------------------------------------------------------------------------------------- the scripts
def test_sample_efficiency_short(tmp_path):
    report, data, plots = _run("sample_efficiency", tmp_path, "--steps", "64", "--n-envs", "2", "--seeds", "0,3",
                               "--greedy-eval", "1", "--ppo-steps", "96")
    assert data["budgets"] == {"ppo": 96, "sac": 64, "sac_her": 64}
    assert data["benchmark"] == "sample_efficiency" and data["methods"].keys() == {"ppo", "sac", "sac_her"}
    _meta_ok(data["meta"])
    assert data["meta"]["seeds"] == [0, 3]
    assert data["meta"]["n_goals"] == 37 and "Grasp water" in data["meta"]["goals"]
    assert not any(g.startswith("Grow lion") for g in data["meta"]["goals"])  # carnivores are outside the set
    for m, res in data["methods"].items():
        assert [r["seed"] for r in res["runs"]] == [0, 3]
        for r in res["runs"]:
            assert r["env_steps"] == data["budgets"][m]
            assert r["steps"] and r["steps"] == sorted(r["steps"]) and r["steps"][-1] == r["env_steps"]
            assert len(r["success"]) == len(r["steps"]) and all(0.0 <= v <= 1.0 for v in r["success"])
            assert _finite(r["final_success"], r["wall_s"])
        for key in ("steps_to_50", "steps_to_90"):
            assert res[key]["of"] == 2 and 0 <= res[key]["reached"] <= 2 and len(res[key]["per_seed"]) == 2
    assert data["methods"]["ppo"]["runs"][0]["updates"] >= 1 and data["methods"]["sac_her"]["runs"][0]["updates"] >= 1
    assert {"ppo_over_sac_her_50", "ppo_over_sac_her_90", "sac_over_sac_her_50"} <= data["ratios"].keys()
    assert data["target"]["met"] in (None, True, False)
    assert (plots / "sample_efficiency.png").stat().st_size > 0
    # the config each run used: uniform over the fixed goal set, HER only in the HER arm
    cfgs = {m: (Path(report["methods"][m]["runs"][0]["run_dir"]) / "config.yaml").read_text()
            for m in ("sac", "sac_her", "ppo")}
    assert "learner: ppo" in cfgs["ppo"] and "k: 0.0" in cfgs["sac"] and "k: 0.0" not in cfgs["sac_her"]
    assert all("name: uniform" in c and "Grow cow" in c for c in cfgs.values())
    # --greedy-eval: greedy success over the goal set before and after training, overall and per family
    for res in data["methods"].values():
        for r in res["runs"]:
            for key in ("greedy_before", "greedy_after"):
                assert set(r[key]) == {"all", "grasp", "plant", "herbivore"}
                assert all(0.0 <= v <= 1.0 for v in r[key].values())
    # --merge: one report per method (run apart, e.g. on different cores) combine into the same report
    parts = []
    for m in ("ppo", "sac", "sac_her"):
        part = {**data, "methods": {m: data["methods"][m]}}
        parts.append(tmp_path / f"part_{m}.json")
        parts[-1].write_text(json.dumps(part))
    merged = _load("sample_efficiency").main(["--merge", *map(str, parts), "--out", str(tmp_path / "merged.json"),
                                              "--plots", str(plots)])
    assert merged["methods"].keys() == data["methods"].keys() and merged["ratios"] == data["ratios"]
    assert merged["meta"]["seeds"] == [0, 3] and merged["meta"]["goals"] == data["meta"]["goals"]
    assert merged["meta"]["greedy_eval"] == 1 and (plots / "merged.png").stat().st_size > 0
    assert merged["budgets"] == {"ppo": 96, "sac": 64, "sac_her": 64}
    # one process per seed: a method's parts are pooled and summarised again; a seed given twice is refused
    her = data["methods"]["sac_her"]
    seed_parts = []
    for r in her["runs"]:
        seed_parts.append(tmp_path / f"her_s{r['seed']}.json")
        seed_parts[-1].write_text(json.dumps({**data, "meta": {**data["meta"], "seeds": [r["seed"]]},
                                              "methods": {"sac_her": {**her, "runs": [r]}}}))
    pooled = _load("sample_efficiency").main(["--merge", *map(str, parts[:2]), *map(str, seed_parts), "--out",
                                              str(tmp_path / "pooled.json"), "--plots", str(plots)])
    assert pooled["methods"]["sac_her"] == merged["methods"]["sac_her"] and pooled["ratios"] == data["ratios"]
    with pytest.raises(SystemExit, match="twice"):
        _load("sample_efficiency").main(["--merge", *map(str, parts), str(seed_parts[0]),
                                         "--out", str(tmp_path / "m3.json"), "--plots", str(plots)])
    # a method run on a longer budget keeps it (a lower-bound ratio then uses that method's budget) ...
    longer = {**data, "meta": {**data["meta"], "steps": 640}, "methods": {"ppo": {**data["methods"]["ppo"],
                                                                                 "budget": 640}}}
    (tmp_path / "longer.json").write_text(json.dumps(longer))
    merged = _load("sample_efficiency").main(["--merge", str(tmp_path / "longer.json"), *map(str, parts[1:]),
                                              "--out", str(tmp_path / "m1.json"), "--plots", str(plots)])
    assert merged["budgets"] == {"ppo": 640, "sac": 64, "sac_her": 64}
    # ... but other seeds must not be merged silently
    bad = {**data, "meta": {**data["meta"], "seeds": [0, 4]}, "methods": {"ppo": data["methods"]["ppo"]}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(SystemExit, match="seeds"):
        _load("sample_efficiency").main(["--merge", str(parts[1]), str(tmp_path / "bad.json"),
                                         "--out", str(tmp_path / "m2.json"), "--plots", str(plots)])


def test_curricula_short(tmp_path):
    report, data, plots = _run("curricula", tmp_path, "--steps", "48", "--n-envs", "2")
    assert data["benchmark"] == "curricula" and _finite(data["meta"]["steps"])
    _meta_ok(data["meta"])
    assert list(data["curricula"]) == ["uniform", "lp", "novelty", "frontier", "mixture"]
    assert data["best"] in data["curricula"]
    for name, res in data["curricula"].items():
        assert res["config"] == f"configs/curricula/{name}.yaml"
        assert set(res["mastered_per_family_mean"]) == {"grasp", "plant", "herbivore", "carnivore"}
        (run,) = res["runs"]
        assert run["seed"] == 0 and run["env_steps"] == 48
        assert len(run["mastered"]) == len(run["steps"]) >= 1
        assert run["n_goals"] == 43 and 0 < run["n_possible"] < run["n_goals"]  # 80% of the grammar impossible
        assert run["final_mastered"] == sum(run["mastered_per_family"].values()) <= run["n_possible"]
        assert run["final_discovered"] >= 1 and run["snapshot_steps"][-1] == 48
        assert all(len(v) == len(run["snapshot_steps"]) for v in run["mastered_per_family_over_time"].values())
        assert _finite(res["final_mastered_mean"], res["eval_mastered_mean"], run["wall_s"])
        # the curriculum-independent count: every feasible goal evaluated greedily, mastered at >= the threshold
        assert len(run["greedy_success"]) == run["n_possible"]
        assert all(0.0 <= v <= 1.0 for v in run["greedy_success"].values())
        assert run["eval_mastered"] == sum(v >= 0.8 for v in run["greedy_success"].values())
        assert run["eval_mastered"] == sum(run["eval_mastered_per_family"].values())
    assert data["eval_repeats"] == 2
    assert set(data["ratios"]) == {"eval_mastered_mean", "final_mastered_mean"}
    assert data["target"]["met"] in (None, True, False)
    assert (plots / "curricula.png").stat().st_size > 0
    # --merge: one report per curriculum combine into the same report and ratios
    parts = []
    for name in data["curricula"]:
        parts.append(tmp_path / f"part_{name}.json")
        parts[-1].write_text(json.dumps({**data, "curricula": {name: data["curricula"][name]}}))
    merged = _load("curricula").main(["--merge", *map(str, parts), "--out", str(tmp_path / "merged.json"),
                                      "--plots", str(plots)])
    assert merged["curricula"].keys() == data["curricula"].keys()
    assert merged["ratios"] == data["ratios"] and merged["best"] == data["best"]
    with pytest.raises(SystemExit, match="more than one"):
        _load("curricula").main(["--merge", str(parts[0]), str(parts[0]), "--out", str(tmp_path / "m2.json")])


def test_depth_short(tmp_path):
    report, data, plots = _run("depth", tmp_path, "--steps", "64", "--eval-every", "32", "--label", "tiny")
    assert (plots / "depth.png").stat().st_size > 0
    _meta_ok(data["meta"])
    (name, v), = data["variants"].items()
    (run,) = v["runs"]
    assert name == "tiny" and run["env_steps"] == 64 and v["seeds"] == [0]
    assert [h["step"] for h in run["history"]] == [32, 64]                # every --eval-every and at the end
    fams = ("grasp", "plant", "herbivore", "carnivore")
    assert all(0.0 <= h[f] <= 1.0 for h in run["history"] for f in fams)   # every family has train goals
    assert v["final_mean"] == {f: run["history"][-1][f] for f in fams}
    for f in fams:
        s = run["steps_to"][f]["0.5"]
        first = next((h["step"] for h in run["history"] if h[f] >= 0.5), None)
        assert s == first
    assert set(v["targets_met"]) == {"plant", "herbivore"}
    other, seed1 = tmp_path / "other.json", tmp_path / "seed1.json"
    other.write_text(json.dumps({**data, "variants": {"other": v}}))
    run1 = {**run, "seed": 1, "final": {**run["final"], "grasp": 1.0}}
    seed1.write_text(json.dumps({**data, "variants": {"tiny": {**v, "runs": [run1]}}}))
    merged = _load("depth").main(["--merge", str(tmp_path / "depth.json"), str(other), str(seed1), "--out",
                                  str(tmp_path / "merged.json"), "--plots", str(plots)])
    assert (plots / "merged.png").stat().st_size > 0
    assert list(merged["variants"]) == ["tiny", "other"] and "plant 80% at" in merged["table"]
    pooled = merged["variants"]["tiny"]                                     # seeds of one variant pooled
    assert pooled["seeds"] == [0, 1] and pooled["final_mean"]["grasp"] == pytest.approx((run["final"]["grasp"] + 1) / 2)
    with pytest.raises(SystemExit, match="seed \\[0\\] twice"):
        _load("depth").main(["--merge", str(tmp_path / "depth.json"), str(tmp_path / "depth.json"), "--plots",
                             str(plots)])
    # --extend resumes the part's run: the curve continues and equals a run of the longer budget from the start
    ext = _load("depth").main(["--extend", str(tmp_path / "depth.json"), "--steps", "96", "--out",
                               str(tmp_path / "ext.json"), "--plots", str(plots)])
    (erun,) = ext["variants"]["tiny"]["runs"]
    assert [h["step"] for h in erun["history"]] == [32, 64, 96] and erun["history"][:2] == run["history"]
    _, fresh, _ = _run("depth", tmp_path / "fresh", "--steps", "96", "--eval-every", "32", "--label", "tiny")
    assert fresh["variants"]["tiny"]["runs"][0]["history"] == erun["history"]
    with pytest.raises(SystemExit, match="--steps above"):
        _load("depth").main(["--extend", str(tmp_path / "depth.json"), "--steps", "64", "--out", str(tmp_path / "x")])


def test_profile_run_short(tmp_path):
    _, data, plots = _run("profile_run", tmp_path, "--steps", "96", "--n-envs", "2")
    _meta_ok(data["meta"])
    b, s = data["breakdown"], data["summary"]
    assert s["env_steps"] == 96 and s["updates"] >= 1 and _finite(s["wall_s"], s["env_steps_per_s"])
    for k in ("env", "prompt building", "forward: acting", "forward: update", "update: backward+optim",
              "relabelling", "graph / curriculum", "logging", "other"):
        assert _finite(b["seconds"][k]) and b["seconds"][k] >= 0, k
    for k in ("env", "prompt building", "forward: acting", "forward: update", "update: backward+optim",
              "relabelling", "graph / curriculum", "logging"):
        assert b["calls"][k] >= 1, k  # every section was actually reached
    assert b["calls"]["forward: acting"] == 96 // 2  # one batched policy call per lockstep step
    assert sum(b["seconds"].values()) == pytest.approx(s["wall_s"], rel=0.02)
    assert 0 < b["model_fraction"] < 1 and b["non_model_fraction"] == pytest.approx(1 - b["model_fraction"])
    assert isinstance(data["target"]["met"], bool)
    assert (plots / "profile_run.png").stat().st_size > 0


def test_throughput_short(tmp_path):
    _, data, plots = _run("throughput", tmp_path)
    _meta_ok(data["meta"])
    assert data["meta"]["envs"] == [1, 2]
    got = {(r["n_envs"], r["mode"]) for r in data["results"]}
    assert got == {(1, "acting"), (1, "training"), (2, "acting"), (2, "training")}
    for r in data["results"]:
        assert _finite(r["env_steps_per_s"]) and r["env_steps_per_s"] > 0
        if r["mode"] == "acting":
            assert r["updates"] == 0 and r["updates_per_s"] is None
        else:
            assert r["updates"] >= 1 and _finite(r["updates_per_s"]) and r["updates_per_s"] > 0
    assert (plots / "throughput.png").stat().st_size > 0


# ---------------------------------------------------------------------------------------------- helpers
def _common():
    sys.path.insert(0, str(BENCH))
    import common

    return common


def test_single_seed_is_a_one_seed_list_and_excludes_seeds():
    import common

    ap = common.base_parser("x", None)
    args = common.finish_args(ap.parse_args(["--seed", "2"]), "x", steps=1, short_steps=1, seeds="3", short_seeds="1")
    assert args.seed_list == [2]
    assert common.finish_args(ap.parse_args(["--seeds", "2"]), "x", steps=1, short_steps=1, seeds="3",
                              short_seeds="1").seed_list == [0, 1]            # --seeds N is a count
    for bad in (["--seed", "1", "--seeds", "1,"], ["--seed", "-1"]):
        with pytest.raises(SystemExit, match="--seed takes one"):
            common.single_seed(ap.parse_args(bad))


def test_parse_seeds():
    c = _common()
    assert c.parse_seeds("3") == [0, 1, 2] and c.parse_seeds("0,2,5") == [0, 2, 5]
    for bad in ("0", "-1", "a", "1,1", "1,-2"):
        with pytest.raises(ValueError, match="--seeds"):
            c.parse_seeds(bad)


def test_steps_to_reach_and_series():
    c = _common()
    rows = [{"step": 10, "a": 0.2}, {"step": 20}, {"step": 30, "a": 0.6}, {"step": 40, "a": 0.95}]
    steps, vals = c.series(rows, "a")
    assert steps == [10, 30, 40] and vals == [0.2, 0.6, 0.95]
    assert c.steps_to_reach(steps, vals, 0.5) == 30 and c.steps_to_reach(steps, vals, 0.9) == 40
    assert c.steps_to_reach(steps, vals, 0.99) is None


def test_write_json_turns_nan_into_null(tmp_path):
    c = _common()
    p = c.write_json(tmp_path / "x" / "r.json", {"a": float("nan"), "b": [1.0, float("inf")], "c": (1, 2)})
    assert json.loads(p.read_text()) == {"a": None, "b": [1.0, None], "c": [1, 2]}


def test_fresh_dir_refuses_paths_outside_the_runs_dir(tmp_path):
    c = _common()
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "metrics.jsonl").write_text("{}")
    assert not c.fresh_dir(tmp_path / "runs" / "a", tmp_path / "runs").exists()
    with pytest.raises(ValueError, match="refusing"):
        c.fresh_dir(tmp_path / "elsewhere", tmp_path / "runs")


def test_sample_efficiency_median_and_ratio():
    se = _load("sample_efficiency")
    assert se.median_steps([100, None, 300]) == 300       # a seed that never reached counts as above the budget
    assert se.median_steps([100, None, None]) is None
    assert se.ratio(900, 300, 1000) == {"value": 3.0, "lower_bound": False}
    assert se.ratio(None, 250, 1000) == {"value": 4.0, "lower_bound": True}
    assert se.ratio(900, None, 1000)["value"] is None
    assert len(se.goal_set()) == 37 and len(se.goal_set(["plant"])) == 6
    with pytest.raises(ValueError, match="families"):
        se.goal_set(["fish"])
    with pytest.raises(ValueError, match="method"):
        se.method_spec("dqn")


def test_curricula_deepest_family():
    cu = _load("curricula")
    assert cu.deepest({"grasp": 3, "plant": 0, "herbivore": 1}) == "herbivore"
    assert cu.deepest({"grasp": 0}) is None
    assert cu.family("Grow cow") == "herbivore" and cu.family("Fly") == "other"


def test_section_timer_charges_nested_time_to_the_inner_section():
    pr = _load("profile_run")
    now = [0.0]

    class Obj:  # work advances a fake clock: exact, whatever the machine's load
        def outer(self):
            now[0] += 0.02
            self.inner()
            now[0] += 0.005

        def inner(self):
            now[0] += 0.03

    o = Obj()
    t = pr.SectionTimer(clock=lambda: now[0])
    t.wrap(o, "inner", "inner")
    t.wrap(o, "outer", lambda s: "outer")
    o.outer()
    o.inner()
    assert t.calls == {"outer": 1, "inner": 2}
    assert t.seconds["inner"] == pytest.approx(0.06) and t.seconds["outer"] == pytest.approx(0.025)


def test_throughput_clean_rows_drop_warmup_and_final_eval():
    tp = _load("throughput")
    rows = [{"step": s} for s in (8, 16, 24, 32)]
    assert [r["step"] for r in tp.clean_rows(rows, 8)] == [16, 24]
    assert [r["step"] for r in tp.clean_rows(rows[:1], 8)] == [8]


def test_speed_long_prompt_env_gives_100_word_prompts_in_its_vocabulary():
    speed = _load("speed")
    from autotelic.prompt import PromptBuilder

    env = speed.LongPromptPlayground()
    obs, info = env.reset(seed=0, options={})
    prompt = PromptBuilder()("grasp carrot", obs)
    assert 90 <= len(prompt.split()) <= 130
    from autotelic.lm import build_word_tokenizer

    tok = build_word_tokenizer(env.vocabulary() + PromptBuilder().words())
    assert tok.unk_token_id not in tok(prompt)["input_ids"]  # every word of the description is in the vocabulary
    obs2, *_ = env.step(info["admissible_actions"][0])
    assert speed.DESCRIPTION.split(" .")[0].strip() in obs2


def test_speed_shim_imports_a_tree_with_its_mapped_subpackages(tmp_path):
    import subprocess

    speed = _load("speed")
    shim = speed.make_shim(speed.REPO, tmp_path / "shim")
    code = "import autotelic, autotelic.envs, autotelic.curricula; print(autotelic.__file__)"
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(shim), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out.strip().startswith(str(shim))
    assert speed.default_config(speed.REPO).is_file()
