"""Benchmark: goal curricula on a goal space where most goals are impossible (MAGELLAN's setting).

Runs ``configs/curricula/<name>.yaml`` for uniform, lp, novelty, frontier and mixture: every train goal of
Playground-Text is seeded into the goal graph (``curriculum.seed_env_goals=true``) and a fixed 80% of the goal grammar
is impossible in every scene (``env.kwargs.impossible_fraction=0.8``), so a curriculum must find the goals worth
pursuing. Same budget and seeds for all. Reported per curriculum (mean over seeds): goals mastered over time
(``curriculum/mastered``: competence >= the mastery threshold over the goal's recent attempts), mastered per family at
the end (from the goal-graph snapshots), the deepest family mastered (grasp < plant < herbivore < carnivore), and
the ratio best / uniform. Target: the best curriculum masters >= 1.5x the goals uniform does.

Two mastery counts, because the graph's own one depends on the curriculum: a goal's competence is measured on the
attempts the curriculum makes, so a curriculum that stops proposing a goal once it looks mastered (frontier) keeps
it "mastered" on the strength of a few lucky early attempts. The second count is curriculum-independent: after
training, every feasible goal is pursued ``--eval-repeats`` times by the greedy policy (``evaluate_goals``, the
loop's evaluation) and counts as mastered when its success rate >= the mastery threshold. The target is checked
on this greedy-evaluation count.

Usage: python benchmarks/curricula.py [--short] [--seeds 3] [--steps 12000] [--curricula uniform,lp,...]
                                      [--n-envs N] [--out PATH] [--runs-dir DIR]

Goal-space mode (``--goal-space littlezoo-25k``): uniform, lp, magellan and mixture (lp + magellan) on a Little-Zoo
space (``envs/littlezoo.py``: 24,992 scene goals, 80% impossible), every goal seeded. After training, a fixed sample
of ``--eval-per-family`` goals per family is evaluated greedily (``--eval-repeats`` episodes each); reported per
curriculum: goals mastered estimated over the space (per family: fraction of its sample with success >= the mastery
threshold x family size), success per family, the competence error mean |estimate_competence(g) - greedy success(g)|
of the curriculum and of Online-ALP (the graph's windowed competence, 0 for untried goals), goals tried. One process
per curriculum and seed, then ``--merge``:

    for c in uniform lp magellan mixture; do for s in 0 1 2; do
      python benchmarks/curricula.py --goal-space littlezoo-25k --curricula $c --seed $s --threads 1 \
        --out benchmarks/out/cz/$c-s$s.json > benchmarks/out/cz/$c-s$s.log 2>&1 & done; done; wait
    python benchmarks/curricula.py --merge benchmarks/out/cz/*.json
"""
from __future__ import annotations

import json
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import OUT as OUT_DIR  # noqa: E402
from common import (CONFIGS, base_parser, finish_args, fmt, fresh_dir, greedy_success, machine_info,  # noqa: E402
                    make_config, merge_parts, pyplot, quiet_overrides, save_figure, series, single_seed, table, train,
                    write_json)


from autotelic.envs.playground import OPTIMAL_LENGTH, goal_family  # noqa: E402

NAME = "curricula"
CURRICULA = ("uniform", "lp", "novelty", "frontier", "mixture")
FAMILIES = tuple(sorted(OPTIMAL_LENGTH, key=OPTIMAL_LENGTH.get))  # grasp, plant, herbivore, carnivore (by depth)


def family(goal: str) -> str:
    """Playground family of a goal, 'other' outside the grammar."""
    try:
        return goal_family(goal)
    except Exception:
        return "other"


def deepest(families: Counter | dict[str, int]) -> str | None:
    """The deepest family with at least one mastered goal (None when nothing is mastered)."""
    found = [f for f in FAMILIES if families.get(f, 0) > 0]
    return found[-1] if found else None


def snapshot_families(run_dir: Path) -> tuple[list[int], dict[str, list[int]]]:
    """(steps, mastered count per family at each step) from the run's goal-graph snapshots ``graph/graph_*.json``."""
    steps: list[int] = []
    per: dict[str, list[int]] = {f: [] for f in FAMILIES}
    for path in sorted((run_dir / "graph").glob("graph_*.json")):
        data = json.loads(path.read_text())
        c = Counter(family(n["id"]) for n in data["nodes"] if n.get("mastered"))
        steps.append(int(path.stem.split("_")[1]))
        for f in FAMILIES:
            per[f].append(int(c.get(f, 0)))
    return steps, per


def _is_space_report(path: str) -> bool:
    try:
        return json.loads(Path(path).read_text()).get("mode") == "goal_space"
    except (OSError, ValueError):
        return False


def run_curriculum(args, name: str, extra: list[str]) -> dict[str, Any]:
    config = CONFIGS / "curricula" / f"{name}.yaml"
    if not config.is_file():
        raise ValueError(f"no config {config} for curriculum {name!r}")
    runs = []
    for seed in args.seed_list:
        run_dir = fresh_dir(Path(args.runs_dir) / NAME / f"{name}-s{seed}", args.runs_dir)
        cfg = make_config(config, extra + quiet_overrides(args, run_dir, seed))
        print(f"[{NAME}] {name} seed {seed}: {args.steps} env steps ...", file=sys.stderr, flush=True)
        res = train(cfg)
        graph = res.loop.graph
        base = getattr(res.loop.envs[0], "unwrapped", res.loop.envs[0])
        impossible = set(getattr(base, "impossible_goals", ()))
        seeded = graph.seeded()
        possible = Counter(family(g) for g in seeded if g not in impossible)
        mastered = sorted(graph.mastered())
        fam = Counter(family(g) for g in mastered)
        feasible = [g for g in seeded if g not in impossible]
        greedy = greedy_success(res.loop, feasible, args.eval_repeats, seed)
        eval_mastered = sorted(g for g, s in greedy.items() if s >= res.loop.cfg.graph.mastery_threshold)
        eval_fam = Counter(family(g) for g in eval_mastered)
        steps, count = series(res.rows, "curriculum/mastered")
        snap_steps, snap_fam = snapshot_families(res.run_dir)
        runs.append({
            "seed": seed, "run_dir": str(res.run_dir), "wall_s": res.wall_s, "env_steps": res.loop.env_steps,
            "steps": steps, "mastered": [int(c) for c in count],
            "discovered": [int(v) for v in series(res.rows, "curriculum/discovered")[1]],
            "snapshot_steps": snap_steps, "mastered_per_family_over_time": snap_fam,
            "final_mastered": len(mastered), "mastered_goals": mastered,
            "final_discovered": len(graph.discovered()),
            "mastered_per_family": {f: int(fam.get(f, 0)) for f in FAMILIES},
            "possible_per_family": {f: int(possible.get(f, 0)) for f in FAMILIES},
            "n_goals": len(seeded), "n_possible": sum(possible.values()),
            "deepest_family": deepest(fam),
            "greedy_success": greedy, "eval_mastered": len(eval_mastered), "eval_mastered_goals": eval_mastered,
            "eval_mastered_per_family": {f: int(eval_fam.get(f, 0)) for f in FAMILIES},
            "eval_deepest_family": deepest(eval_fam),
            "final_success": (series(res.rows, "charts/success_rate")[1] or [None])[-1],
        })
    deepest_all = deepest(Counter({f: sum(r["mastered_per_family"][f] for r in runs) for f in FAMILIES}))
    eval_deepest = deepest(Counter({f: sum(r["eval_mastered_per_family"][f] for r in runs) for f in FAMILIES}))
    return {"config": str(config.relative_to(CONFIGS.parent)), "runs": runs,
            "final_mastered_mean": statistics.fmean(r["final_mastered"] for r in runs),
            "final_discovered_mean": statistics.fmean(r["final_discovered"] for r in runs),
            "mastered_per_family_mean": {f: statistics.fmean(r["mastered_per_family"][f] for r in runs)
                                         for f in FAMILIES},
            "deepest_family": deepest_all,
            "deepest_family_per_seed": [r["deepest_family"] for r in runs],
            "eval_mastered_mean": statistics.fmean(r["eval_mastered"] for r in runs),
            "eval_mastered_per_family_mean": {f: statistics.fmean(r["eval_mastered_per_family"][f] for r in runs)
                                              for f in FAMILIES},
            "eval_deepest_family": eval_deepest}


def plot(results: dict[str, Any], path: Path, title: str) -> Path:
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.0))
    for name, res in results.items():
        runs = res["runs"]
        n = min(len(r["steps"]) for r in runs)
        if n == 0:
            continue
        xs = runs[0]["steps"][:n]
        ax.plot(xs, [statistics.fmean(r["mastered"][i] for r in runs) for i in range(n)], label=name)
    seeds = len(next(iter(results.values()))["runs"])
    ax.set(xlabel="env steps", ylabel=f"curriculum/mastered (graph; mean of {seeds} seeds)", title=title)
    ax.legend()
    width = 0.8 / max(1, len(results))
    for k, (name, res) in enumerate(results.items()):
        bx.bar([i + k * width for i in range(len(FAMILIES))],
               [res["eval_mastered_per_family_mean"][f] for f in FAMILIES], width=width, label=name)
    bx.set_xticks([i + 0.4 - width / 2 for i in range(len(FAMILIES))], FAMILIES)
    bx.set(ylabel="mastered at the end (greedy eval, mean)", title="per family")
    bx.legend(fontsize=8)
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------------------- goal-space mode
SPACE_CURRICULA = ("uniform", "lp", "magellan", "mixture")
SPACE_FAMILIES = ("grasp", "plant", "herbivore", "carnivore", "impossible")
MIXTURE = ["curriculum.kwargs.components={lp: 0.5, magellan: 0.5}"]  # the mixture of the goal-space benchmark


def eval_sample(env: Any, per_family: int, seed: int = 12345) -> list[str]:
    """The same goals for every curriculum and seed: ``per_family`` train goals of each family (all when fewer)."""
    import random

    by: dict[str, list[str]] = {f: [] for f in SPACE_FAMILIES}
    for g in env.all_goals("train"):
        by[env.goal_family(g)].append(g)
    rng = random.Random(seed)
    return [g for f in SPACE_FAMILIES for g in sorted(rng.sample(by[f], min(per_family, len(by[f]))))]


def space_run(args, name: str, seed: int, extra: list[str]) -> dict[str, Any]:
    """Train one curriculum on the goal space; greedy-evaluate a per-family sample; compare estimated competence."""
    from autotelic.curricula.base import graph_column
    from autotelic.loop import AutotelicLoop

    run_dir = fresh_dir(Path(args.runs_dir) / NAME / f"{args.goal_space}-{name}-s{seed}", args.runs_dir)
    over = ["curriculum.seed_env_goals=true", f"curriculum.name={name}",
            f"env.kwargs.goal_space={args.goal_space}"] + (MIXTURE if name == "mixture" else []) + extra
    cfg = make_config("default", over + quiet_overrides(args, run_dir, seed))
    print(f"[{NAME}] {args.goal_space} {name} seed {seed}: {args.steps} env steps ...", file=sys.stderr, flush=True)
    loop = AutotelicLoop(cfg)  # the builder attaches the policy to a curriculum that reads it (magellan)
    res = train(cfg, loop)
    env = getattr(loop.envs[0], "unwrapped", loop.envs[0])
    goals = eval_sample(env, args.eval_per_family)
    greedy = greedy_success(loop, goals, args.eval_repeats, seed)
    measured = np.array([greedy[g] for g in goals])
    fam = [env.goal_family(g) for g in goals]
    est = np.asarray(loop.curriculum.estimate_competence(loop.graph, goals), dtype=np.float64)
    head = head_estimate(loop.curriculum, goals)  # magellan's ĉ alone (the paper's estimate), else None
    online = graph_column(loop.graph, "competence", goals)  # Online-ALP's estimate (0 when never tried)
    threshold = cfg.graph.mastery_threshold
    sizes = Counter(env.goal_family(g) for g in env.all_goals("train"))
    per_family = {}
    for f in SPACE_FAMILIES:
        idx = [i for i, x in enumerate(fam) if x == f]
        if not idx:
            continue
        tried = [goals[i] for i in idx if goals[i] in loop.graph]  # this family's evaluated goals the graph holds
        frac = float(np.mean(measured[idx] >= threshold))
        per_family[f] = {"n_eval": len(idx), "success": float(measured[idx].mean()), "mastered_fraction": frac,
                         "mastered_estimate": frac * sizes[f] if f != "impossible" else 0.0,
                         "competence_error": float(np.abs(est[idx] - measured[idx]).mean()),
                         "online_alp_error": float(np.abs(online[idx] - measured[idx]).mean()),
                         "head_error": None if head is None else float(np.abs(head[idx] - measured[idx]).mean()),
                         "attempted": int(np.count_nonzero(loop.graph.array("attempts", tried) > 0)) if tried else 0}
    graph_mastered = Counter(env.goal_family(g) for g in loop.graph.mastered())
    last = res.rows[-1] if res.rows else {}
    return {"seed": seed, "run_dir": str(res.run_dir), "wall_s": res.wall_s, "env_steps": loop.env_steps,
            "steps": series(res.rows, "curriculum/mastered")[0],
            "mastered": [int(c) for c in series(res.rows, "curriculum/mastered")[1]],
            "final_success": last.get("charts/success_rate"),
            "heldout_success": last.get("eval/success_heldout"),
            "graph_mastered_per_family": {f: int(graph_mastered.get(f, 0)) for f in SPACE_FAMILIES},
            "graph_mastered": int(sum(graph_mastered.values())),
            "attempted_goals": int(np.count_nonzero(loop.graph.array("attempts") > 0)),
            "mastered_estimate": float(sum(v["mastered_estimate"] for v in per_family.values())),
            "competence_error": float(np.abs(est - measured).mean()),
            "online_alp_error": float(np.abs(online - measured).mean()),
            "head_error": None if head is None else float(np.abs(head - measured).mean()),
            "per_family": per_family, "eval_goals": len(goals)}


def head_estimate(curriculum: Any, goals: list[str]) -> np.ndarray | None:
    """The success head's ĉ(g) alone, from magellan or a mixture's magellan component; None without a head."""
    for c in (curriculum, *getattr(curriculum, "components", {}).values()):
        if hasattr(c, "predicted_competence"):
            return np.asarray(c.predicted_competence(goals), dtype=np.float64)
    return None


def space_aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    runs = sorted(runs, key=lambda r: r["seed"])
    mean = lambda k: statistics.fmean(r[k] for r in runs)  # noqa: E731
    heads = [r["head_error"] for r in runs if r.get("head_error") is not None]
    fams = sorted({f for r in runs for f in r["per_family"]}, key=SPACE_FAMILIES.index)
    return {"runs": runs, "seeds": [r["seed"] for r in runs], "mastered_estimate_mean": mean("mastered_estimate"),
            "graph_mastered_mean": mean("graph_mastered"), "competence_error_mean": mean("competence_error"),
            "online_alp_error_mean": mean("online_alp_error"), "attempted_goals_mean": mean("attempted_goals"),
            "head_error_mean": statistics.fmean(heads) if len(heads) == len(runs) else None,
            "success_per_family_mean": {f: statistics.fmean(r["per_family"][f]["success"] for r in runs)
                                        for f in fams},
            "wall_s_mean": mean("wall_s")}


def space_merge(paths: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(meta, {curriculum: aggregate}) from per-curriculum/per-seed reports with the same space, budget and mode."""
    meta, runs = None, {}
    for path in paths:
        try:
            rep = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise SystemExit(f"--merge: cannot read {path}: {e}")
        if rep.get("benchmark") != NAME or rep.get("mode") != "goal_space":
            raise SystemExit(f"--merge: {path} is not a goal-space curricula report")
        m = rep["meta"]
        meta = meta or m
        for k in ("goal_space", "steps", "short", "eval_per_family", "eval_repeats"):
            if m.get(k) != meta.get(k):
                raise SystemExit(f"--merge: {path} has {k}={m.get(k)!r}, the first report {meta.get(k)!r}")
        for name, res in rep["curricula"].items():
            have = {r["seed"] for r in runs.get(name, [])}
            for r in res["runs"]:
                if r["seed"] in have:
                    raise SystemExit(f"--merge: {name!r} seed {r['seed']} appears twice ({path})")
                runs.setdefault(name, []).append(r)
    if meta is None:
        raise SystemExit("--merge needs at least one JSON report")
    order = [c for c in SPACE_CURRICULA if c in runs] + [c for c in runs if c not in SPACE_CURRICULA]
    return meta, {c: space_aggregate(runs[c]) for c in order}


def space_main(args) -> dict[str, Any]:
    short = args.short
    if args.eval_repeats is None:
        args.eval_repeats = 2 if short else 4
    args.eval_per_family = args.eval_per_family or (4 if short else 16)
    if args.out is None:
        args.out = str((OUT_DIR / "short" if short else OUT_DIR) / f"{NAME}_{args.goal_space}.json")
    if args.merge:
        meta, results = space_merge(args.merge)
        args.steps = meta["steps"]
    else:
        finish_args(args, NAME, steps=20000, short_steps=600, seeds="3", short_seeds="1")
        n_envs = args.n_envs or (4 if short else None)
        log_every = max(args.steps // 10, n_envs or 16, 1)
        extra = [f"loop.total_env_steps={args.steps}", f"loop.log_every={log_every}", "loop.eval_every=0",
                 "loop.snapshot_every=0", "loop.eval_goals=4"] + (["sac.learning_starts=64"] if short else []) + \
            ([f"env.n_envs={n_envs}"] if n_envs else []) + list(args.overrides)
        names = [c.strip() for c in (args.curricula or ",".join(SPACE_CURRICULA)).split(",") if c.strip()]
        results = {n: space_aggregate([space_run(args, n, s, extra) for s in args.seed_list]) for n in names}
        meta = {**machine_info(args.threads), "goal_space": args.goal_space, "steps": args.steps, "short": short,
                "seeds": args.seed_list, "curricula": names, "overrides": extra,
                "eval_per_family": args.eval_per_family, "eval_repeats": args.eval_repeats}
    uniform = results.get("uniform", {}).get("mastered_estimate_mean")
    best = max(results, key=lambda k: results[k]["mastered_estimate_mean"])
    ratio = results[best]["mastered_estimate_mean"] / uniform if uniform else None
    err = {k: v["competence_error_mean"] for k, v in results.items()}
    report = {"benchmark": NAME, "mode": "goal_space", "meta": meta, "curricula": results, "best": best,
              "best_over_uniform": ratio,
              "competence_error": err, "online_alp_error": results.get("lp", {}).get("online_alp_error_mean"),
              "target": {"description": "best >= 1.5x uniform in goals mastered (estimated from the per-family "
                                        "greedy evaluation) and magellan's competence error below Online-ALP's",
                         "mastered_met": None if ratio is None else bool(ratio >= 1.5),
                         "error_met": (None if "magellan" not in err or "lp" not in err
                                       else bool(err["magellan"] < err["lp"]))}}
    path = write_json(args.out, report)
    rows = []
    for name, r in results.items():
        per = [f"{x['mastered_estimate']:.0f}" for x in r["runs"]]
        rows.append([name, f"{r['mastered_estimate_mean']:.0f} ({', '.join(per)})", f"{r['graph_mastered_mean']:.1f}",
                     *[fmt(r["success_per_family_mean"].get(f), "{:.2f}") for f in SPACE_FAMILIES],
                     fmt(r["competence_error_mean"], "{:.3f}"), fmt(r.get("head_error_mean"), "{:.3f}"),
                     fmt(r["online_alp_error_mean"], "{:.3f}"),
                     f"{r['attempted_goals_mean']:.0f}", ",".join(map(str, r["seeds"])), f"{r['wall_s_mean']:.0f}"])
    print(f"{meta['goal_space']}: {meta['steps']} env steps per run; greedy eval on {meta['eval_per_family']} goals "
          f"per family x {meta['eval_repeats']} episodes")
    print(table(["curriculum", "mastered (est., per seed)", "mastered (graph)",
                 *[f"success {f}" for f in SPACE_FAMILIES], "competence err", "head-only err", "online-ALP err",
                 "goals tried", "seeds", "wall s/run"], rows))
    print("mastered (est.): sum over families of (fraction of the family's eval goals with greedy success >= the "
          "mastery threshold) x family size; competence err: mean |estimate_competence - greedy success| (magellan: "
          "its head as a prior updated by each goal's own outcomes; head-only: the head's prediction alone)")
    print(f"best: {best}; best/uniform = {fmt(ratio, '{:.2f}')}; wrote {path}")
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = base_parser(NAME, __doc__)
    ap.add_argument("--curricula", default=None,
                    help="comma-separated configs/curricula/<name>.yaml (goal-space mode: curriculum names)")
    ap.add_argument("--n-envs", type=int, default=None, help="envs in lockstep (default: config; 4 with --short)")
    ap.add_argument("--eval-repeats", type=int, default=None,
                    help="greedy episodes per feasible goal at the end (default 10; 2 with --short)")
    ap.add_argument("--merge", nargs="+", metavar="JSON", default=None,
                    help="train nothing: combine reports of earlier runs with the same budget and seeds (e.g. one "
                         "process per curriculum) into one report, table and plot")
    ap.add_argument("--goal-space", default=None, metavar="NAME",
                    help="run the goal-space benchmark instead (e.g. littlezoo-25k): uniform, lp, magellan, "
                         "mixture; run one process per curriculum and seed (--curricula X --seeds S --out F) and "
                         "combine them with --merge")
    ap.add_argument("--eval-per-family", type=int, default=None,
                    help="goal-space mode: greedy-evaluated goals per family (default 16; 4 with --short)")
    args = single_seed(ap.parse_args(argv))
    if args.goal_space is not None or (args.merge and _is_space_report(args.merge[0])):
        if args.goal_space is None:
            args.goal_space = json.loads(Path(args.merge[0]).read_text())["meta"]["goal_space"]
        return space_main(args)
    if args.eval_repeats is None:
        args.eval_repeats = 2 if args.short else 10
    if args.eval_repeats < 1:
        raise SystemExit(f"--eval-repeats must be >= 1, got {args.eval_repeats}")
    finish_args(args, NAME, steps=12000, short_steps=400, seeds="3", short_seeds="1")
    names = [c.strip() for c in (args.curricula or ",".join(CURRICULA)).split(",") if c.strip()]
    n_envs = args.n_envs or (4 if args.short else None)
    log_every = max(args.steps // 20, n_envs or 16, 1)
    extra = [f"loop.total_env_steps={args.steps}", f"loop.log_every={log_every}", "loop.eval_every=0",
             f"loop.snapshot_every={log_every}"] + ([f"env.n_envs={n_envs}"] if n_envs else []) + list(args.overrides)

    if args.merge:
        meta, results = merge_parts(args.merge, NAME, "curricula")
        names, extra, n_envs, log_every = list(results), meta["overrides"], meta["n_envs"], meta["log_every"]
        args.steps, args.seed_list = meta["steps"], meta["seeds"]
        args.eval_repeats = json.loads(Path(args.merge[0]).read_text())["eval_repeats"]
        n_envs = None if n_envs == "config" else n_envs
    else:
        results = {name: run_curriculum(args, name, extra) for name in names}
    ratios = {}
    for key in ("eval_mastered_mean", "final_mastered_mean"):
        uniform = results.get("uniform", {}).get(key)
        best = max(results, key=lambda k: results[k][key])
        ratios[key] = {"best": best, "best_mastered": results[best][key], "uniform_mastered": uniform,
                       # undefined while uniform masters nothing
                       "best_over_uniform": results[best][key] / uniform if uniform else None}
    best, best_n = ratios["eval_mastered_mean"]["best"], ratios["eval_mastered_mean"]["best_mastered"]
    ratio = ratios["eval_mastered_mean"]["best_over_uniform"]
    met = None if ratio is None else bool(ratio >= 1.5)

    png = plot(results, args.plots / f"{Path(args.out).stem}.png",
               f"80% impossible goals, {args.steps} env steps")
    report = {"benchmark": NAME, "meta": {**machine_info(args.threads), "short": args.short, "steps": args.steps,
                                          "seeds": args.seed_list, "curricula": names, "n_envs": n_envs or "config",
                                          "log_every": log_every, "overrides": extra, "families": list(FAMILIES)},
              "eval_repeats": args.eval_repeats, "curricula": results, "ratios": ratios,
              "best": best, "best_over_uniform": ratio,
              "target": {"description": "the best curriculum masters >= 1.5x the goals uniform does "
                                        "(greedy-evaluation mastery)", "met": met},
              "plot": str(png)}
    path = write_json(args.out, report)

    rows = []
    for name, r in results.items():
        runs = r["runs"]
        per_seed = [x["eval_mastered"] for x in runs]
        spread = f" ± {statistics.stdev(per_seed):.1f} ({', '.join(map(str, per_seed))})" if len(runs) > 1 else ""
        rows.append([name, fmt(r["eval_mastered_mean"], "{:.1f}") + spread,
                     *[fmt(r["eval_mastered_per_family_mean"][f], "{:.1f}") for f in FAMILIES],
                     r["eval_deepest_family"] or "-", fmt(r["final_mastered_mean"], "{:.1f}"),
                     r["deepest_family"] or "-", fmt(r["final_discovered_mean"], "{:.1f}"),
                     f"{runs[0]['n_possible']}/{runs[0]['n_goals']}",
                     fmt(statistics.fmean(x["wall_s"] for x in runs), "{:.0f}")])
    print(f"Playground-Text, 80% impossible goals; budget {args.steps} env steps; seeds {args.seed_list}")
    print(table(["curriculum", "mastered (eval: mean ± sd (per seed))", *FAMILIES, "deepest (eval)",
                 "mastered (graph)", "deepest (graph)",
                 "discovered", "feasible/goals", "wall s/run"], rows))
    print(f"mastered (eval): greedy success >= the mastery threshold over {args.eval_repeats} episodes per feasible "
          f"goal at the end; mastered (graph): curriculum/mastered, on the curriculum's own attempts")
    why = "" if ratio is not None else " (undefined: uniform masters no goal, or was not run)"
    print(f"best: {best} ({fmt(best_n, '{:.1f}')} mastered); best/uniform = {fmt(ratio, '{:.2f}')}{why}; "
          f"target >= 1.5: {'-' if met is None else 'met' if met else 'NOT met'}")
    print(f"wrote {path} and {png}")
    return report


if __name__ == "__main__":
    main()
