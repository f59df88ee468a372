"""Benchmark: the built-in real envs, a uniform random policy vs SAC+HER (and PPO on BabyAI), on the same budget.

  babyai   configs/babyai.yaml  (BabyAI-Text GoToLocal, 24-step limit): random, sac_her, ppo
  crafter  configs/crafter.yaml (Crafter-Text, 22 achievements, 100-step episodes): random, sac_her, sac_her_chain
  textworld configs/textworld.yaml (TextWorld-Text, two generated games, their facts as goals): random, sac_her

Every method gets the same env-step budget per seed. ``random`` plays the uniform policy over the admissible actions
through the same envs (goals chosen by the env) and feeds its episodes to a goal graph, so "goals achieved" and the
stepping-stone edges compare like for like. After training, each method's greedy policy (``random``: the uniform
policy) is evaluated on a fixed goal set: BabyAI the level's 15 train goals (and, apart, its 3 held-out goals),
Crafter the 22 achievements; success is also reported per goal family (``env.goal_family``), and for the learners
also with actions sampled from the policy ("sampled success": a memoryless greedy policy can loop in a partially
observed room where the sampled one escapes).
Targets (issue 16): BabyAI GoToLocal SAC+HER greedy success >= 2x random; Crafter SAC+HER (with or without goal
chaining) achieves more distinct achievements than random within the budget, with Crafter's tech-tree edges in its
goal graph. TextWorld has no target: random vs SAC+HER is reported.

Each (env, method, seed) is one part: run parts as separate processes (``--envs``, ``--methods``, ``--seeds``,
``--out``) and combine their JSON with ``--merge`` (table, targets, one JSON). ``--short`` is a smoke run.

Usage: python benchmarks/envs.py [--short] [--envs babyai,crafter,textworld] [--methods random,sac_her,ppo] [--seeds 3]
                                 [--steps N] [--eval-repeats R] [--merge JSON ...] [--extend JSON] [--out PATH]
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (base_parser, finish_args, fmt, fresh_dir, greedy_success, machine_info, make_config,  # noqa: E402
                    merge_parts, quiet_overrides, read_parts, table, train, write_json)

from autotelic.evaluate import evaluate_goals  # noqa: E402
from autotelic.graph import GoalGraph  # noqa: E402
from autotelic.loop import AutotelicLoop  # noqa: E402
from autotelic.prompt import PromptBuilder  # noqa: E402
from autotelic.rollout import Rollout  # noqa: E402
from autotelic.workers import make_env  # noqa: E402

NAME = "envs"
ENVS: dict[str, dict[str, Any]] = {
    "babyai": {"config": "babyai", "methods": ("random", "sac_her", "ppo"), "package": "minigrid"},
    "crafter": {"config": "crafter", "methods": ("random", "sac_her", "sac_her_chain"), "package": "crafter"},
    "textworld": {"config": "textworld", "methods": ("random", "sac_her"), "package": "textworld"},
}
# sac_her_chain: goal chaining (README "Goal chaining"): after a success the next goal starts where it left off
METHOD_OVERRIDES = {"sac_her": ["learner=sac"], "ppo": ["learner=ppo"], "random": [],
                    "sac_her_chain": ["learner=sac", "loop.chain_goals=4"]}
# Crafter's tech tree (Hafner 2021, Fig. 4): each edge is a prerequisite
TECH_TREE = [("collect wood", "place table"), ("place table", "make wood pickaxe"),
             ("place table", "make wood sword"), ("make wood pickaxe", "collect stone"),
             ("collect stone", "place stone"), ("collect stone", "make stone pickaxe"),
             ("collect stone", "make stone sword"), ("collect stone", "place furnace"),
             ("make wood pickaxe", "collect coal"), ("make stone pickaxe", "collect iron"),
             ("collect iron", "make iron pickaxe"), ("collect iron", "make iron sword"),
             ("make iron pickaxe", "collect diamond"), ("collect sapling", "place plant"),
             ("place plant", "eat plant")]
SHORT = ["env.n_envs=4", "sac.batch_size=8", "sac.learning_starts=32", "ppo.rollout_steps=32",
         "ppo.minibatch_size=16", "ppo.epochs=1", "loop.eval_goals=2"]
SHORT_ENV = {"babyai": [], "crafter": ["env.kwargs.area=[32,32]", "env.kwargs.max_steps=30"], "textworld": []}


def eval_goals(env: Any, limit: int | None) -> tuple[list[str], list[str]]:
    """(the env's goals, its held-out goals): BabyAI the level's train goals and those naming a held-out object,
    Crafter the 22 achievements and none; the first ``limit`` of each when given."""
    goals, held = list(env.all_goals()), list(env.all_goals("test"))
    return (goals[:limit], held[:limit]) if limit else (goals, held)


def per_family(env: Any, per_goal: dict[str, float]) -> dict[str, float]:
    """Mean success over all goals ('all') and per ``env.goal_family``."""
    if not per_goal:
        return {}
    out = {"all": statistics.fmean(per_goal.values())}
    fams: dict[str, list[float]] = {}
    for g, v in per_goal.items():
        fams.setdefault(env.goal_family(g), []).append(v)
    out.update({f: statistics.fmean(v) for f, v in sorted(fams.items())})
    return out


def graph_summary(graph: GoalGraph) -> dict[str, Any]:
    """Discovered goals, the stepping-stone edges (with counts) and which of Crafter's tech-tree edges hold, either
    as an edge or as a path of edges."""
    import networkx as nx

    g = graph.stepping_stones()  # the drawn prerequisite edges
    edges = sorted(graph.edges())
    direct = [f"{a} -> {b}" for a, b in TECH_TREE if g.has_edge(a, b)]
    path = [f"{a} -> {b}" for a, b in TECH_TREE if a in g and b in g and nx.has_path(g, a, b)]
    return {"discovered": sorted(graph.discovered()), "n_discovered": len(graph.discovered()),
            "edges": edges, "tech_tree_edges": direct, "tech_tree_paths": path}


def random_act(rng: np.random.Generator) -> Callable[[list[str], list[list[str]]], list[int]]:
    """The uniform policy over each env's admissible actions."""
    return lambda prompts, cands: [int(rng.integers(len(c))) for c in cands]


def run_random(cfg: Any, env_name: str, seed: int, budget: int, args: Any) -> dict[str, Any]:
    """The uniform policy for ``budget`` env steps through ``cfg.env`` (the env picks goals), then on the goal set."""
    envs = [make_env(cfg.env) for _ in range(cfg.env.n_envs)]
    base = getattr(envs[0], "unwrapped", envs[0])
    prompt = PromptBuilder(template=cfg.prompt.template)
    rng = np.random.default_rng(seed)
    graph, rollout = GoalGraph(window=cfg.graph.window, mastery_threshold=cfg.graph.mastery_threshold), \
        Rollout(envs, prompt, lambda idx: [None] * len(idx), seed=seed)
    t0, successes = time.perf_counter(), []
    while rollout.env_steps < budget:
        for ep in rollout.step(random_act(rng)):
            graph.observe(ep, rollout.env_steps)
            successes.append(ep.success)
    wall = time.perf_counter() - t0
    goals, held = eval_goals(base, args.eval_limit)
    per_goal, per_held = (evaluate_goals(envs[:16], random_act(rng), prompt, g, repeats=args.eval_repeats,
                                         seed=seed + 10_007) for g in (goals, held))
    return {"env_steps": rollout.env_steps, "wall_s": wall, "episodes": len(successes),
            "train_success": statistics.fmean(successes[-100:]) if successes else None,
            "greedy": per_family(base, per_goal), "per_goal": per_goal, "heldout": per_family(base, per_held),
            "sampled": per_family(base, per_goal), "per_heldout_goal": per_held, **graph_summary(graph)}


def run_learner(cfg: Any, env_name: str, seed: int, budget: int, args: Any) -> dict[str, Any]:
    """Train with the config's learner for ``budget`` env steps, then evaluate the greedy policy on the goal set."""
    return learner_result(train(cfg), seed, args)


def extend_run(run: dict[str, Any], args: Any) -> dict[str, Any]:
    """Resume a learner part's run (its latest checkpoint) to ``args.steps`` env steps and evaluate it as a fresh
    part would be (resume is exact: the same numbers as a run of that budget from the start)."""
    if "run_dir" not in run:
        raise SystemExit(f"--extend: {run['env']}/{run['method']} seed {run['seed']} has no run to resume "
                         "(random parts are rerun, not extended)")
    if args.steps <= run["budget"]:
        raise SystemExit(f"--extend needs --steps above the part's {run['budget']}, got {args.steps}")
    print(f"[{NAME}] {run['env']} {run['method']} seed {run['seed']}: {run['budget']} -> {args.steps} env steps ...",
          file=sys.stderr, flush=True)
    loop = AutotelicLoop.resume(run["run_dir"], [f"loop.total_env_steps={args.steps}"])
    out = learner_result(train(loop.cfg, loop), run["seed"], args)
    out["wall_s"] += run["wall_s"]
    return {"env": run["env"], "method": run["method"], "seed": run["seed"], "budget": args.steps,
            "extended_from": run["budget"], **out}


def learner_result(res: Any, seed: int, args: Any) -> dict[str, Any]:
    """A trained learner's report: greedy (and sampled) success on the goal set and held-out goals, the graph."""
    loop = res.loop
    base = getattr(loop.envs[0], "unwrapped", loop.envs[0])
    goals, held = eval_goals(base, args.eval_limit)
    per_goal, per_held = (greedy_success(loop, g, args.eval_repeats, seed) for g in (goals, held))
    sampled = greedy_success(loop, goals, args.eval_repeats, seed, greedy=False)  # the policy as it acts in training
    succ = [r["charts/success_rate"] for r in res.rows if "charts/success_rate" in r]
    return {"env_steps": loop.env_steps, "wall_s": res.wall_s, "run_dir": str(res.run_dir),
            "updates": int(getattr(loop.learner, "num_updates", 0)), "episodes": loop.episodes,
            "train_success": succ[-1] if succ else None, "greedy": per_family(base, per_goal), "per_goal": per_goal,
            "heldout": per_family(base, per_held), "per_heldout_goal": per_held, "sampled": per_family(base, sampled),
            **graph_summary(loop.graph)}


def run_part(args: Any, env_name: str, method: str, seed: int) -> dict[str, Any]:
    """One (env, method, seed) part on ``args.steps`` env steps."""
    spec = ENVS[env_name]
    run_dir = fresh_dir(Path(args.runs_dir) / NAME / f"{env_name}-{method}-s{seed}", args.runs_dir)
    overrides = METHOD_OVERRIDES[method] + [f"loop.total_env_steps={args.steps}",
                                            f"loop.log_every={max(args.steps // 20, 16)}", "loop.eval_every=0",
                                            "loop.snapshot_every=0"]
    if args.short:
        overrides += SHORT + SHORT_ENV[env_name]
    overrides += quiet_overrides(args, run_dir, seed) + list(args.overrides)
    cfg = make_config(spec["config"], overrides)
    if method == "ppo":
        cfg.ppo.gamma = cfg.her.gamma  # the same horizon as SAC's
    print(f"[{NAME}] {env_name} {method} seed {seed}: {args.steps} env steps ...", file=sys.stderr, flush=True)
    out = (run_random if method == "random" else run_learner)(cfg, env_name, seed, args.steps, args)
    return {"env": env_name, "method": method, "seed": seed, "budget": args.steps, **out}


def aggregate(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per (env, method): seeds, mean greedy success overall and per family, mean goals discovered, tech-tree edges."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in runs.values():
        groups.setdefault(f"{r['env']}/{r['method']}", []).append(r)
    out = {}
    for key, rs in groups.items():
        fams = sorted({f for r in rs for f in r["greedy"]})
        out[key] = {"env": rs[0]["env"], "method": rs[0]["method"], "seeds": sorted(r["seed"] for r in rs),
                    "budget": rs[0]["budget"], "wall_s": statistics.fmean(r["wall_s"] for r in rs),
                    "train_success": _mean(r["train_success"] for r in rs),
                    "greedy": {f: _mean(r["greedy"].get(f) for r in rs) for f in fams},
                    "greedy_per_seed": [r["greedy"].get("all") for r in rs],
                    "heldout": _mean(r["heldout"].get("all") for r in rs),
                    "sampled": _mean(r.get("sampled", {}).get("all") for r in rs),
                    "n_discovered": statistics.fmean(r["n_discovered"] for r in rs),
                    "discovered_union": sorted({g for r in rs for g in r["discovered"]}),
                    "tech_tree_edges": sorted({e for r in rs for e in r["tech_tree_edges"]}),
                    "tech_tree_paths": sorted({e for r in rs for e in r["tech_tree_paths"]})}
    return out


def _mean(xs) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else None


def targets(agg: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's two targets, each None when a needed method is missing."""
    out: dict[str, Any] = {}
    rnd, her = agg.get("babyai/random"), agg.get("babyai/sac_her")
    if rnd and her and rnd["greedy"].get("all") is not None and her["greedy"].get("all") is not None:
        ratio = her["greedy"]["all"] / rnd["greedy"]["all"] if rnd["greedy"]["all"] > 0 else None
        out["babyai_greedy_over_random"] = {"value": ratio, "target": 2.0,
                                            "met": None if ratio is None else ratio >= 2.0}
    for method in ("sac_her", "sac_her_chain"):
        rnd, her = agg.get("crafter/random"), agg.get(f"crafter/{method}")
        if rnd and her:
            out[f"crafter_discovered_{method}"] = {method: her["n_discovered"], "random": rnd["n_discovered"],
                                                   "met": her["n_discovered"] > rnd["n_discovered"],
                                                   "tech_tree_edges": her["tech_tree_edges"]}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = base_parser(NAME, __doc__)
    ap.add_argument("--envs", default=",".join(ENVS), help="comma-separated subset of babyai,crafter,textworld")
    ap.add_argument("--methods", default=None,
                    help="comma-separated subset of random,sac_her,sac_her_chain,ppo (default: every method of each "
                         "env)")
    ap.add_argument("--eval-repeats", type=int, default=None, help="greedy episodes per goal (default 4; 1 short)")
    ap.add_argument("--eval-limit", type=int, default=None, help="evaluate only the first N goals of the set")
    ap.add_argument("--merge", nargs="+", metavar="JSON", default=None,
                    help="train nothing: combine reports of parts run apart into one report and table")
    ap.add_argument("--extend", default=None, metavar="JSON",
                    help="resume the learner runs of this part report to --steps env steps (a new report in --out)")
    args = ap.parse_args(argv)
    if args.extend and (args.steps is None or args.out is None):
        raise SystemExit("--extend needs --steps and --out")
    finish_args(args, NAME, steps=4000, short_steps=96, seeds="3", short_seeds="1")
    if args.eval_repeats is None:
        args.eval_repeats = 1 if args.short else 4
    if args.eval_limit is None and args.short:
        args.eval_limit = 4
    if args.eval_repeats < 1:
        raise SystemExit(f"--eval-repeats must be >= 1, got {args.eval_repeats}")
    if args.merge:
        meta, runs = merge_parts(args.merge, NAME, "runs", same=("short",))
    elif args.extend:
        (_, part), = read_parts([args.extend], NAME, "runs", same=())
        runs = {k: extend_run({**r, "budget": r.get("budget", part["meta"]["steps"])}, args)
                for k, r in part["runs"].items()}
        meta = {**part["meta"], **machine_info(args.threads), "steps": args.steps, "extended_from": part["meta"]["steps"]}
    else:
        envs = [e.strip() for e in args.envs.split(",") if e.strip()]
        for e in envs:
            if e not in ENVS:
                raise SystemExit(f"unknown env {e!r}; expected a subset of {','.join(ENVS)}")
        runs = {}
        for e in envs:
            methods = [m.strip() for m in args.methods.split(",")] if args.methods else list(ENVS[e]["methods"])
            for m in methods:
                if m not in METHOD_OVERRIDES:
                    raise SystemExit(f"unknown method {m!r}; expected a subset of {','.join(METHOD_OVERRIDES)}")
                if m not in ENVS[e]["methods"]:
                    continue  # e.g. ppo on crafter: not part of this benchmark
                for s in args.seed_list:
                    runs[f"{e}/{m}/s{s}"] = run_part(args, e, m, s)
        meta = {**machine_info(args.threads), "short": args.short, "steps": args.steps, "seeds": args.seed_list,
                "eval_repeats": args.eval_repeats, "eval_limit": args.eval_limit, "overrides": list(args.overrides)}
    agg = aggregate(runs)
    tgt = targets(agg)
    report = {"benchmark": NAME, "meta": meta, "runs": runs, "summary": agg, "targets": tgt}
    path = write_json(args.out, report)

    fam_names = sorted({f for a in agg.values() for f in a["greedy"] if f != "all"})
    rows = []
    for key, a in sorted(agg.items()):
        rows.append([key, ",".join(map(str, a["seeds"])), a["budget"], fmt(a["wall_s"], "{:.0f}"),
                     fmt(a["train_success"], "{:.2f}"),
                     f"{fmt(a['greedy'].get('all'), '{:.2f}')} ({', '.join(fmt(v, '{:.2f}') for v in a['greedy_per_seed'])})",
                     *[fmt(a["greedy"].get(f), "{:.2f}") for f in fam_names], fmt(a["heldout"], "{:.2f}"),
                     fmt(a.get("sampled"), "{:.2f}"),
                     fmt(a["n_discovered"], "{:.1f}"), len(a["tech_tree_edges"])])
    print(table(["env/method", "seeds", "env steps", "wall s/run", "train success", "greedy success (per seed)",
                 *[f"greedy {f}" for f in fam_names], "held-out", "sampled success", "goals achieved",
                 "tech-tree edges"], rows))
    for k, v in tgt.items():
        print(f"{k}: {v}")
    print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
