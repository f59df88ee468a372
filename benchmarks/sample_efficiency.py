"""Benchmark: sample efficiency of PPO vs SAC (no HER) vs SAC+HER on Playground-Text (the SAC-GLAM claim).

Every method trains on the same goal set — Grasp + Grow plant + Grow herbivore goals of the train split (37 goals),
seeded into the goal graph and sampled uniformly (``curriculum.name=uniform``, ``curriculum.kwargs.allowed`` = the
set, so goals discovered outside it are never pursued) — with the default model and settings otherwise:
  ppo      learner=ppo (configs/ppo.yaml when present)
  sac      learner=sac her.k=0
  sac_her  learner=sac (her.k from the config, 4 by default)
The curve is ``charts/success_rate`` (success of the last 100 training episodes, sampled policy) against env steps;
a success level counts once ``--min-episodes`` episodes have finished (100 by default: a full window).
Reported: env steps to reach 50% and 90% success per seed, their median over seeds (a seed that never reaches a
level counts as above the budget), and the ratios PPO / SAC+HER and SAC / SAC+HER. Target: SAC+HER needs at most a
third of PPO's steps (ratio >= 3).

``--ppo-steps N`` gives PPO its own, longer budget (its env steps are ~20x cheaper than SAC's here); the full run
uses 100000 for PPO and 20000 for SAC and SAC+HER (``benchmarks/run_all.sh``). ``--merge`` combines reports run
apart (one process per method, on different cores) into one report, table and plot.

``--model smollm2-135m`` runs the same comparison from the pretrained SmolLM2-135M-Instruct (LoRA) with a reduced
budget (320 env steps, 1 seed, 4 envs, smaller batches: ~25 s per SAC update of 16 states on one CPU core) and
``--greedy-eval 1``: greedy success over the whole goal set before and after training, which shows what the
language prior alone gives.

Usage: python benchmarks/sample_efficiency.py [--short] [--seeds 3] [--steps 20000] [--ppo-steps N]
                                             [--methods ppo,sac,sac_her] [--model tiny|smollm2-135m] [--n-envs N]
                                             [--greedy-eval N] [--merge JSON ...] [--out PATH] [--runs-dir DIR]
"""
from __future__ import annotations

import inspect
import math
import statistics
import sys
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (CONFIGS, base_parser, finish_args, fmt, fresh_dir, machine_info, make_config,  # noqa: E402
                    greedy_success, pyplot, quiet_overrides, read_parts, save_figure, series, steps_to_reach,
                    table, train, write_json)

from autotelic.envs.playground import all_goals, goal_family  # noqa: E402
from autotelic.lm import build_lm  # noqa: E402
from autotelic.loop import AutotelicLoop  # noqa: E402

NAME = "sample_efficiency"
METHODS = ("ppo", "sac", "sac_her")
LABELS = {"ppo": "PPO", "sac": "SAC", "sac_her": "SAC+HER"}
FAMILIES = ("grasp", "plant", "herbivore")
FAMILIES_ORDER = ("grasp", "plant", "herbivore", "carnivore")
LEVELS = (0.5, 0.9)
LM_ARGS = set(inspect.signature(build_lm).parameters) - {"name", "vocabulary", "config_overrides"}
PRETRAINED = {  # a reduced budget for a 135M-parameter model on CPU
    "smollm2-135m": ["env.n_envs=4", "sac.batch_size=16", "sac.learning_starts=64", "sac.updates_per_step=0.125",
                     "sac.critic_head=mlp",
                     "sac.uniform_warmup_updates=0", "ppo.rollout_steps=64", "ppo.minibatch_size=16",
                     "model.kwargs.dtype=float32"],
}


def goal_set(families: Sequence[str] = FAMILIES, split: str = "train") -> list[str]:
    """Playground-Text goals of ``split`` whose family is in ``families``."""
    unknown = set(families) - set(FAMILIES_ORDER)
    if unknown:
        raise ValueError(f"unknown goal families {sorted(unknown)}; expected grasp, plant, herbivore, carnivore")
    return [g for g in all_goals(split) if goal_family(g) in families]


def method_spec(method: str) -> tuple[str | None, list[str]]:
    """(config name or None for the defaults, overrides) of one method."""
    base = "default" if (CONFIGS / "default.yaml").is_file() else None
    if method == "ppo":
        return ("ppo" if (CONFIGS / "ppo.yaml").is_file() else base), ["learner=ppo"]
    if method == "sac":
        return base, ["learner=sac", "her.k=0"]
    if method == "sac_her":
        return base, ["learner=sac"]
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def family_means(per_goal: dict[str, float]) -> dict[str, float]:
    """Mean greedy success over all goals (``all``) and per goal family; empty when nothing was evaluated."""
    if not per_goal:
        return {}
    out = {"all": statistics.fmean(per_goal.values())}
    for fam in FAMILIES_ORDER:
        vals = [v for g, v in per_goal.items() if goal_family(g) == fam]
        if vals:
            out[fam] = statistics.fmean(vals)
    return out


def median_steps(values: Sequence[int | None]) -> float | None:
    """Median over seeds, a seed that never reached the level counting as +inf; None when the median is +inf."""
    m = statistics.median([math.inf if v is None else v for v in values])
    return None if math.isinf(m) else float(m)


def ratio(num: float | None, den: float | None, budget: int) -> dict[str, Any]:
    """num/den; when ``num`` never reached the level, budget/den as a lower bound."""
    if den is None or den <= 0:
        return {"value": None, "lower_bound": False}
    if num is None:
        return {"value": budget / den, "lower_bound": True}
    return {"value": num / den, "lower_bound": False}


def run_method(args, method: str, goals: list[str], extra: list[str], budget: int) -> dict[str, Any]:
    """Train ``method`` for ``budget`` env steps on every seed; its runs, curves and steps to each success level."""
    config, overrides = method_spec(method)
    runs = []
    for seed in args.seed_list:
        run_dir = fresh_dir(Path(args.runs_dir) / args.name / f"{method}-s{seed}", args.runs_dir)
        cfg = make_config(config, overrides + extra + quiet_overrides(args, run_dir, seed))
        if args.pretrained:  # the config's model.kwargs size the tiny model; keep only what build_lm itself takes
            cfg.model.kwargs = {k: v for k, v in cfg.model.kwargs.items() if k in LM_ARGS}
        if method == "sac_her" and cfg.her.k <= 0:
            cfg.her.k = 4.0  # the config disabled HER: the HER arm needs it
        cfg.curriculum.name = "uniform"
        cfg.curriculum.seeds = list(goals)
        cfg.curriculum.kwargs = {**cfg.curriculum.kwargs, "allowed": list(goals)}
        print(f"[{NAME}] {method} seed {seed}: {budget} env steps ...", file=sys.stderr, flush=True)
        loop = AutotelicLoop(cfg)
        before = greedy_success(loop, goals, args.greedy_eval, seed) if args.greedy_eval else {}
        res = train(cfg, loop)
        after = greedy_success(loop, goals, args.greedy_eval, seed) if args.greedy_eval else {}
        steps, succ = series(res.rows, "charts/success_rate")
        episodes = series(res.rows, "charts/episodes")[1]
        # a level counts once the success window holds enough episodes (early rows average a handful)
        full = [(s, v) for s, v, e in zip(steps, succ, episodes) if e >= args.min_episodes]
        ev = series(res.rows, "eval/success_discovered")[1]
        runs.append({"seed": seed, "run_dir": str(res.run_dir), "wall_s": res.wall_s, "env_steps": res.loop.env_steps,
                     "updates": int(getattr(res.loop.learner, "num_updates", 0)),
                     "steps": steps, "success": succ, "final_success": succ[-1] if succ else None,
                     "final_eval_success": ev[-1] if ev else None,
                     "episodes": episodes,
                     # greedy success over the whole goal set before and after training (--greedy-eval)
                     "greedy_before": family_means(before), "greedy_after": family_means(after),
                     **{f"steps_to_{int(lv * 100)}": steps_to_reach([s for s, _ in full], [v for _, v in full], lv)
                        for lv in LEVELS}})
    return summarize(method, config, overrides, runs, budget)


def merge_methods(paths: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(meta, methods) of part reports on one goal set: a method's parts (its seeds run as separate processes) are
    pooled and summarised again; every method must end with the same seeds, and a seed given twice is an error."""
    parts = read_parts(paths, NAME, "methods", same=("short", "goals", "min_episodes"))
    pooled: dict[str, dict[str, Any]] = {}
    for path, rep in parts:
        if sorted(rep["meta"]["seeds"]) != sorted({r["seed"] for res in rep["methods"].values() for r in res["runs"]}):
            raise SystemExit(f"--merge: {path}: its meta's seeds {rep['meta']['seeds']} are not its runs' seeds")
        for name, res in rep["methods"].items():
            budget = res.get("budget", rep["meta"].get("steps"))
            p = pooled.setdefault(name, {"config": res["config"], "overrides": res["overrides"], "budget": budget,
                                         "runs": []})
            if (res["config"], res["overrides"], budget) != (p["config"], p["overrides"], p["budget"]):
                raise SystemExit(f"--merge: {name!r} has another config, overrides or budget in {path}")
            clash = {r["seed"] for r in p["runs"]} & {r["seed"] for r in res["runs"]}
            if clash:
                raise SystemExit(f"--merge: {name!r} has seed {sorted(clash)} twice ({path})")
            p["runs"].extend(res["runs"])
    seeds = {name: sorted(r["seed"] for r in p["runs"]) for name, p in pooled.items()}
    if len({tuple(v) for v in seeds.values()}) > 1:
        raise SystemExit(f"--merge: the methods' seeds differ: {seeds}")
    meta = {**parts[0][1]["meta"], "seeds": next(iter(seeds.values()))}
    methods = {name: summarize(name, p["config"], p["overrides"], sorted(p["runs"], key=lambda r: r["seed"]),
                               p["budget"]) for name, p in pooled.items()}
    return meta, methods


def summarize(method: str, config: str, overrides: list[str], runs: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    """A method's report from its runs: the runs, mean final success and the median steps to each level."""
    out: dict[str, Any] = {"label": LABELS[method], "config": config, "overrides": overrides, "runs": runs,
                           "budget": budget,
                           "final_success_mean": statistics.fmean(r["final_success"] for r in runs)}
    for lv in LEVELS:
        key = f"steps_to_{int(lv * 100)}"
        vals = [r[key] for r in runs]
        out[key] = {"median": median_steps(vals), "reached": sum(v is not None for v in vals), "of": len(vals),
                    "per_seed": vals}
    return out


def plot(results: dict[str, Any], path: Path, title: str) -> Path:
    """Mean training success (band: min-max over seeds) against env steps; when the methods' budgets differ, a
    second panel zooms on the shortest budget."""
    plt = pyplot()
    budgets = sorted({int(r.get("budget") or max((x["steps"][-1] for x in r["runs"] if x["steps"]), default=0))
                      for r in results.values()})
    panels = [None] if len(budgets) < 2 else [None, budgets[0]]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.0), squeeze=False)
    for ax, xmax in zip(axes[0], panels):
        for res in results.values():
            runs = [r for r in res["runs"] if r["steps"]]
            if not runs:
                continue
            n = min(len(r["steps"]) for r in runs)
            xs = runs[0]["steps"][:n]
            ys = [[r["success"][i] for r in runs] for i in range(n)]
            line, = ax.plot(xs, [statistics.fmean(y) for y in ys], label=f"{res['label']} ({len(runs)} seeds)")
            if len(runs) > 1:
                ax.fill_between(xs, [min(y) for y in ys], [max(y) for y in ys], color=line.get_color(), alpha=0.2)
        for lv in LEVELS:
            ax.axhline(lv, color="grey", lw=0.8, ls="--")
        ax.set(xlabel="env steps", ylabel="training success (last 100 episodes)", ylim=(0, 1.02),
               title=title if xmax is None else f"the first {xmax} env steps")
        if xmax is not None:
            ax.set_xlim(0, xmax)
        ax.legend(loc="upper left")
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = base_parser(NAME, __doc__)
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of ppo,sac,sac_her")
    ap.add_argument("--model", default=None, help="model.name (default: the config's; e.g. smollm2-135m)")
    ap.add_argument("--n-envs", type=int, default=None, help="envs in lockstep (default: config; 4 with --short)")
    ap.add_argument("--min-episodes", type=int, default=None,
                    help="episodes finished before a success level counts (default 100 = the full success window; "
                         "10 with --short)")
    ap.add_argument("--families", default=",".join(FAMILIES), help="goal families of the goal set")
    ap.add_argument("--ppo-steps", type=int, default=None,
                    help="PPO's env-step budget (default: --steps); PPO's steps are cheap, and a ratio PPO / SAC+HER "
                         ">= 3 can only be seen when PPO runs at least 3x as long as SAC+HER needs")
    ap.add_argument("--greedy-eval", type=int, default=None, metavar="N",
                    help="greedy episodes per goal of the set before and after training (0: none; default 1 for a "
                         "pretrained --model without --short, else 0): what a pretrained model knows before it learns")
    ap.add_argument("--pretrained-settings", action="store_true",
                    help="run the default (or --model tiny*) model with the pretrained model's reduced budget and "
                         "settings: the like-for-like baseline of the SmolLM2 comparison")
    ap.add_argument("--merge", nargs="+", metavar="JSON", default=None,
                    help="train nothing: combine reports of earlier runs with the same budget and seeds (e.g. one "
                         "process per method) into one report, table and plot")
    args = ap.parse_args(argv)
    args.pretrained = args.model is not None and not args.model.lower().startswith("tiny")
    pretrained = args.pretrained or args.pretrained_settings  # the reduced budget and settings
    args.name = NAME if args.model is None else f"{NAME}_{args.model.lower().replace('/', '_')}"
    args.name += "_pretrained_settings" if args.pretrained_settings and not args.pretrained else ""
    finish_args(args, args.name, steps=320 if pretrained else 20000, short_steps=32 if pretrained else 600,
                seeds="1" if pretrained else "3", short_seeds="1")
    if args.min_episodes is None:  # a pretrained model's reduced budget holds far fewer than 100 episodes
        args.min_episodes = 10 if args.short else 20 if pretrained else 100
    if args.greedy_eval is None:  # a smoke run skips it (it costs more than 32 env steps of SmolLM2)
        args.greedy_eval = 1 if pretrained and not args.short else 0
    if args.greedy_eval < 0:
        raise SystemExit(f"--greedy-eval must be >= 0, got {args.greedy_eval}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        method_spec(m)  # validates the name
    goals = goal_set([f.strip() for f in args.families.split(",") if f.strip()])
    n_envs = args.n_envs or (2 if pretrained and args.short else 4 if args.short else None)
    extra = (PRETRAINED.get((args.model or "").lower(), PRETRAINED["smollm2-135m"]) if pretrained else []) \
        + ([f"model.name={args.model}"] if args.model else []) \
        + ([f"env.n_envs={n_envs}"] if n_envs else [])
    if pretrained and args.short:
        extra += ["sac.batch_size=4", "sac.learning_starts=16", "ppo.rollout_steps=16", "ppo.minibatch_size=8",
                  "ppo.epochs=1", "loop.eval_goals=2"]
    if args.ppo_steps is not None and args.ppo_steps < 1:
        raise SystemExit(f"--ppo-steps must be >= 1, got {args.ppo_steps}")
    budgets = {m: (args.ppo_steps or args.steps) if m == "ppo" else args.steps for m in methods}

    def log_interval(steps: int) -> int:  # ~25 log rows per run whatever its budget
        return max(steps // 25, n_envs or 16, 1)

    def budget_overrides(steps: int) -> list[str]:
        return [f"loop.total_env_steps={steps}", f"loop.log_every={log_interval(steps)}", "loop.eval_every=0",
                "loop.snapshot_every=0"]

    log_every = log_interval(args.steps)

    extra += list(args.overrides)  # after the budget's overrides (below), so --set can change them too

    if args.merge:
        # methods may have different budgets (PPO is cheap to run longer); seeds and goals must agree
        meta, results = merge_methods(args.merge)
        methods, goals, extra = list(results), meta["goals"], meta["overrides"]
        args.steps, args.seed_list, args.min_episodes = meta["steps"], meta["seeds"], meta["min_episodes"]
        n_envs, log_every, args.model = meta["n_envs"], meta["log_every"], meta["model"]
        args.model = None if args.model == "config" else args.model
        n_envs = None if n_envs == "config" else n_envs
        args.greedy_eval = meta.get("greedy_eval", 0)
        args.families = ",".join(sorted({goal_family(g) for g in goals}, key=FAMILIES_ORDER.index))
    else:
        results = {m: run_method(args, m, goals, budget_overrides(budgets[m]) + extra, budgets[m]) for m in methods}
    ratios: dict[str, Any] = {}
    for lv in LEVELS:
        key = f"steps_to_{int(lv * 100)}"
        her = results.get("sac_her", {}).get(key, {}).get("median")
        for other in ("ppo", "sac"):
            if other in results and "sac_her" in results:
                ratios[f"{other}_over_sac_her_{int(lv * 100)}"] = ratio(results[other][key]["median"], her,
                                                                         results[other].get("budget", args.steps))
    checks = [ratios.get(f"ppo_over_sac_her_{int(lv * 100)}") for lv in LEVELS]
    target_met = None if any(c is None or c["value"] is None for c in checks) \
        else all(c["value"] >= 3.0 for c in checks)

    title = f"Playground-Text, {len(goals)} goals ({args.families}), {args.model or 'default model'}"
    png = plot(results, args.plots / f"{Path(args.out).stem}.png", title)
    report = {"benchmark": NAME, "meta": {**machine_info(args.threads), "short": args.short, "steps": args.steps,
                                          "seeds": args.seed_list, "methods": methods, "model": args.model or "config",
                                          "n_envs": n_envs or "config", "log_every": log_every,
                                          "min_episodes": args.min_episodes, "overrides": extra,
                                          "greedy_eval": args.greedy_eval,
                                          "goals": goals, "n_goals": len(goals)},
              "methods": results, "ratios": ratios,
              "target": {"description": "SAC+HER needs <= 1/3 of PPO's env steps to reach 50% and 90% success",
                         "met": target_met},
              "budgets": {m: r.get("budget", args.steps) for m, r in results.items()},
              "plot": str(png)}
    path = write_json(args.out, report)

    rows = []
    greedy = any(x.get("greedy_before") for r in results.values() for x in r["runs"])
    for m, r in results.items():
        cells = [r["label"]]
        for lv in LEVELS:
            s = r[f"steps_to_{int(lv * 100)}"]
            per_seed = ", ".join(fmt(v, "{:.0f}") for v in s["per_seed"])
            cells.append(f"{fmt(s['median'], '{:.0f}')} ({s['reached']}/{s['of']}: {per_seed})")
        finals = [x["final_success"] for x in r["runs"] if x["final_success"] is not None]
        spread = statistics.stdev(finals) if len(finals) > 1 else 0.0
        cells += [f"{fmt(r['final_success_mean'], '{:.2f}')} ± {spread:.2f}",
                  fmt(statistics.fmean(x["wall_s"] for x in r["runs"]), "{:.0f}")]
        if greedy:
            cells.append(" -> ".join(fmt(statistics.fmean(x[k].get("all", math.nan) for x in r["runs"]), "{:.2f}")
                                     for k in ("greedy_before", "greedy_after")))
        rows.append(cells)
    budget_text = ", ".join(f"{r['label']} {r.get('budget', args.steps)}" for r in results.values())
    print(f"{title}; budget (env steps) {budget_text}; seeds {args.seed_list}")
    print(table(["method", "steps to 50% (reached: per seed)", "steps to 90% (reached: per seed)",
                 "final success (mean ± sd)", "wall s/run"] + (["greedy success before -> after"] if greedy else []),
                rows))
    for k, v in ratios.items():
        print(f"{k}: {fmt(v['value'], '{:.2f}')}{' (lower bound)' if v['lower_bound'] else ''}")
    verdict = "-" if target_met is None else "met" if target_met else "NOT met"
    print(f"target (PPO/SAC+HER >= 3 at 50% and 90%): {verdict}")
    print(f"wrote {path} and {png}")
    return report


if __name__ == "__main__":
    main()
