"""Benchmark: depth of mastery on Playground-Text, greedy success per goal family over training (issue 14).

One part = one config variant (``--label``, the config plus ``--set`` overrides) and its seeds, starting from an
empty goal graph. Every ``--eval-every`` env steps (and at the end) the greedy policy pursues **every** train goal
of each family (Grasp 25, Grow-plant 6, Grow-herbivore 6, Grow-carnivore 6 goals; ``--eval-repeats`` seeded
episodes each) in envs of its own built with ``horizon_factor=--eval-horizon-factor`` (1.5, Playground's default),
so a family's figure depends neither on what the agent discovered nor on the step budget a variant trains with.
Reported per variant (mean over seeds): success per family over time, env steps to 50% and to 80% per family (the
first evaluation at or above the level, per seed), wall time. Targets (issue 14): Grow-plant >= 0.8 and
Grow-herbivore >= 0.5 greedy, 3 seeds, <= 1 h of CPU per run.

Parts run as separate processes (one core each) and are combined with ``--merge``:

    python benchmarks/depth.py --label default --seeds 0,1,2 --steps 12000 --threads 1 \\
        --out benchmarks/out/depth/default.json
    python benchmarks/depth.py --label gamma0.8 --set her.gamma=0.8 --seeds 0,1,2 --steps 12000 --threads 1 \\
        --out benchmarks/out/depth/gamma0.8.json
    python benchmarks/depth.py --merge benchmarks/out/depth/*.json
    python benchmarks/depth.py --extend benchmarks/out/depth/gamma0.8.json --steps 24000 --out ...  # resume, longer

(one process per seed works too: ``--seed 1`` (or ``--seeds 1,``) is seed 1 alone, ``--seeds 1`` a count, i.e.
seed 0; parts of one variant are pooled by ``--merge``).

Usage: python benchmarks/depth.py [--short] [--label NAME] [--config default] [--set KEY=VALUE ...] [--seeds 3]
                                  [--steps 12000] [--eval-every 2000] [--eval-repeats 2] [--out PATH]
                                  [--merge JSON ...]
"""
from __future__ import annotations

import dataclasses
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (RESULTS, base_parser, finish_args, fmt, fresh_dir, greedy_success, machine_info,  # noqa: E402
                    make_config, pyplot, quiet_overrides, read_parts, save_figure, steps_to_reach, table, train,
                    write_json)

from autotelic.callbacks import Callback  # noqa: E402
from autotelic.core import crossed  # noqa: E402
from autotelic.config import load_config  # noqa: E402
from autotelic.loop import AutotelicLoop  # noqa: E402
from autotelic.schema import TrainConfig  # noqa: E402
from autotelic.workers import make_env  # noqa: E402

NAME = "depth"
FAMILIES = ("grasp", "plant", "herbivore", "carnivore")  # by depth (optimal plan length 2 / 4 / 7 / 10)
LEVELS = (0.5, 0.8)
TARGETS = {"plant": 0.8, "herbivore": 0.5}
SHORT = ["env.n_envs=4", "sac.batch_size=8", "sac.learning_starts=32", "loop.eval_goals=2", "loop.eval_every=0"]


class FamilyEval(Callback):
    """Greedy success on every train goal of each family every ``every`` env steps and at the end (rank 0), in
    ``envs`` (the same success definition for every variant)."""

    def __init__(self, envs: list[Any], every: int, repeats: int, seed: int) -> None:
        self.envs, self.every, self.repeats, self.seed = envs, int(every), int(repeats), int(seed)
        self.history: list[dict[str, Any]] = []

    def on_step(self, core: Any, before: int, now: int) -> None:
        if not (core.final or crossed(before, now, self.every)):
            return
        env = getattr(self.envs[0], "unwrapped", self.envs[0])
        goals = [g for g in env.all_goals("train") if env.goal_family(g) in FAMILIES]
        res = greedy_success(core, goals, self.repeats, self.seed + now, envs=self.envs)
        row: dict[str, Any] = {"step": int(now)}
        for f in FAMILIES:
            vals = [res[g] for g in goals if env.goal_family(g) == f and g in res]
            row[f] = statistics.fmean(vals) if vals else None
        self.history.append(row)


def run_seed(args: Any, seed: int) -> dict[str, Any]:
    """Train one seed of the variant with per-family evaluation; the curves and steps to each level."""
    run_dir = fresh_dir(Path(args.runs_dir) / NAME / f"{args.label}-s{seed}", args.runs_dir)
    over = [f"loop.total_env_steps={args.steps}"] + (SHORT if args.short else []) + list(args.overrides)
    cfg = make_config(args.config, over + quiet_overrides(args, run_dir, seed))
    cb = FamilyEval(_eval_envs(cfg, args.eval_horizon_factor), args.eval_every, args.eval_repeats, seed)
    print(f"[{NAME}] {args.label} seed {seed}: {args.steps} env steps ...", file=sys.stderr, flush=True)
    return _result(seed, cb, train(cfg, AutotelicLoop(cfg, callbacks=[cb])))


def extend_seed(run: dict[str, Any], meta: dict[str, Any], steps: int) -> dict[str, Any]:
    """Resume a part's run (its latest checkpoint) to ``steps`` env steps, evaluating as the part did; resume is
    exact, so the curve is the one a run of ``steps`` from the start would give."""
    cfg = load_config(TrainConfig, str(Path(run["run_dir"]) / "config.yaml"))
    cb = FamilyEval(_eval_envs(cfg, meta["eval_horizon_factor"]), meta["eval_every"], meta["eval_repeats"],
                    run["seed"])
    loop = AutotelicLoop.resume(run["run_dir"], [f"loop.total_env_steps={steps}"], callbacks=[cb])
    cb.history = [h for h in run["history"] if h["step"] <= loop.env_steps]
    print(f"[{NAME}] seed {run['seed']}: {loop.env_steps} -> {steps} env steps ...", file=sys.stderr, flush=True)
    out = _result(run["seed"], cb, train(loop.cfg, loop))
    out["wall_s"] += run["wall_s"]
    return out


def _eval_envs(cfg: Any, horizon_factor: float) -> list[Any]:
    eval_cfg = dataclasses.replace(cfg.env, kwargs={**cfg.env.kwargs, "horizon_factor": horizon_factor})
    return [make_env(eval_cfg) for _ in range(16)]


def _result(seed: int, cb: FamilyEval, res: Any) -> dict[str, Any]:
    steps = [h["step"] for h in cb.history]
    reach = {f: {str(lv): steps_to_reach(steps, [h[f] if h[f] is not None else -1.0 for h in cb.history], lv)
                 for lv in LEVELS} for f in FAMILIES}
    succ = [r["charts/success_rate"] for r in res.rows if "charts/success_rate" in r]
    return {"seed": seed, "run_dir": str(res.run_dir), "wall_s": res.wall_s, "env_steps": res.loop.env_steps,
            "updates": int(getattr(res.loop.learner, "num_updates", 0)), "history": cb.history,
            "final": cb.history[-1] if cb.history else {}, "steps_to": reach,
            "train_success": succ[-1] if succ else None, "discovered": len(res.loop.graph.discovered())}


def aggregate(runs: list[dict[str, Any]], overrides: list[str]) -> dict[str, Any]:
    """Mean over seeds of the final per-family success; per-seed steps to each level (None: not reached)."""
    mean = {f: _mean(r["final"].get(f) for r in runs) for f in FAMILIES}
    return {"overrides": overrides, "seeds": [r["seed"] for r in runs], "runs": runs, "final_mean": mean,
            "final_per_seed": {f: [r["final"].get(f) for r in runs] for f in FAMILIES},
            "steps_to": {f: {str(lv): [r["steps_to"][f][str(lv)] for r in runs] for lv in LEVELS} for f in FAMILIES},
            "wall_s_mean": statistics.fmean(r["wall_s"] for r in runs),
            "targets_met": {f: (mean[f] is not None and mean[f] >= t) for f, t in TARGETS.items()}}


def merge(paths: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(meta, variants) of part reports on one budget: parts of the same variant (its seeds run as separate
    processes) are pooled and aggregated again; a seed given twice for one variant is an error."""
    parts = read_parts(paths, NAME, "variants", same=("steps",))
    pooled: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
    for path, rep in parts:
        for name, v in rep["variants"].items():
            overrides, runs = pooled.setdefault(name, (v["overrides"], []))
            if v["overrides"] != overrides:
                raise SystemExit(f"--merge: variant {name!r} has other overrides in {path}")
            clash = {r["seed"] for r in runs} & {r["seed"] for r in v["runs"]}
            if clash:
                raise SystemExit(f"--merge: variant {name!r} has seed {sorted(clash)} twice ({path})")
            runs.extend(v["runs"])
    variants = {name: aggregate(sorted(runs, key=lambda r: r["seed"]), overrides)
                for name, (overrides, runs) in pooled.items()}
    return parts[0][1]["meta"], variants


def _mean(xs) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else None


def report(meta: dict[str, Any], variants: dict[str, Any]) -> str:
    rows = []
    for name, v in variants.items():
        reach = ["/".join("-" if s is None else f"{s / 1000:g}k" for s in v["steps_to"][f]["0.8"])
                 for f in ("grasp", "plant", "herbivore")]
        rows.append([name, len(v["seeds"]), *[fmt(v["final_mean"][f], "{:.2f}") for f in FAMILIES], *reach,
                     fmt(v["wall_s_mean"], "{:.0f}")])
    head = ["variant", "seeds", *[f"{f} (end)" for f in FAMILIES], "grasp 80% at", "plant 80% at",
            "herbivore 80% at", "wall s/run"]
    return f"greedy success per family after {meta['steps']} env steps (mean over seeds):\n" + table(head, rows)


def plot(variants: dict[str, Any], path: Path, steps: int) -> Path:
    """One panel per family: greedy success over env steps, mean over seeds (thin lines: each seed)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(FAMILIES), figsize=(4 * len(FAMILIES), 3.4), sharey=True)
    for k, (name, v) in enumerate(variants.items()):
        color = f"C{k}"
        for ax, f in zip(axes, FAMILIES):
            curves = [([h["step"] for h in r["history"]], [h[f] for h in r["history"]]) for r in v["runs"]]
            for xs, ys in curves:
                ax.plot(xs, ys, color=color, alpha=0.3, lw=0.8)
            n = min(len(xs) for xs, _ in curves)
            ax.plot(curves[0][0][:n], [statistics.fmean(ys[i] for _, ys in curves) for i in range(n)], color=color,
                    label=f"{name} ({len(curves)} seeds)")
    for ax, f in zip(axes, FAMILIES):
        ax.axhline(TARGETS.get(f, 0.8), color="grey", ls=":", lw=0.8)
        ax.set(title=f, xlabel="env steps", xlim=(0, steps))
    axes[0].set(ylabel="greedy success, every train goal")
    axes[0].legend(fontsize=8)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = base_parser(NAME, __doc__)
    ap.add_argument("--label", default="default", help="name of this config variant in the table")
    ap.add_argument("--config", default="default", help="a shipped config name or a YAML path (default: default)")
    ap.add_argument("--eval-every", type=int, default=None, help="env steps between evaluations (default 2000)")
    ap.add_argument("--eval-repeats", type=int, default=None, help="greedy episodes per goal (default 2; 1 short)")
    ap.add_argument("--eval-horizon-factor", type=float, default=1.5,
                    help="Playground horizon factor of the evaluation envs (default 1.5, the env's default)")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON", help="combine part reports")
    ap.add_argument("--extend", default=None, metavar="JSON",
                    help="resume the runs of this part report to --steps env steps (a new part in --out)")
    args = ap.parse_args(argv)
    if args.merge:
        meta, variants = merge(args.merge)
        text = report(meta, variants)
        out = Path(args.out) if args.out else Path(args.merge[0]).parent / "depth_merged.json"
    elif args.extend:
        (_, part), = read_parts([args.extend], NAME, "variants")
        if not args.steps or not args.out or args.steps <= part["meta"]["steps"]:
            raise SystemExit(f"--extend needs --out and --steps above the part's {part['meta']['steps']}")
        meta = {**part["meta"], "steps": args.steps, "extended_from": part["meta"]["steps"]}
        variants = {name: aggregate([extend_seed(r, meta, args.steps) for r in v["runs"]], v["overrides"])
                    for name, v in part["variants"].items()}
        text = report(meta, variants)
        out = Path(args.out)
    else:
        args = finish_args(args, NAME, steps=12000, short_steps=192, seeds="3", short_seeds="1")
        args.eval_every = args.eval_every or (96 if args.short else 2000)
        args.eval_repeats = args.eval_repeats or (1 if args.short else 2)
        if args.eval_every < 1 or args.eval_repeats < 1:
            raise SystemExit("--eval-every and --eval-repeats must be >= 1")
        runs = [run_seed(args, s) for s in args.seed_list]
        meta = {**machine_info(args.threads), "steps": args.steps, "short": args.short, "config": args.config,
                "eval_every": args.eval_every, "eval_repeats": args.eval_repeats,
                "eval_horizon_factor": args.eval_horizon_factor}
        variants = {args.label: aggregate(runs, list(args.overrides))}
        text = report(meta, variants)
        out = Path(args.out)
    print(text)
    plots = Path(args.plots) if args.plots else RESULTS
    print(f"wrote {plot(variants, plots / (out.stem + '.png'), int(meta['steps']))}")
    full = {"benchmark": NAME, "meta": meta, "variants": variants, "table": text}
    print(f"wrote {write_json(out, full)}")
    return full


if __name__ == "__main__":
    main()
