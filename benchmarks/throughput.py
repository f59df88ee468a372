"""Benchmark: env steps/s and learner updates/s of the default run at 1, 4, 16 and 32 envs in lockstep.

Two runs per env count, both through ``AutotelicLoop.run()`` with the default config:
  acting    no learning (``sac.learning_starts`` out of reach): env steps/s of rollout + one batched policy call
            per step (the acting ceiling);
  training  the default SAC settings (``updates_per_step``, ``batch_size``, ``update_every``, ``learning_starts``):
            env steps/s of the whole loop and learner updates/s (``charts/updates_per_s``: updates per second spent
            inside updates, which does not depend on the env count).
Each run logs every I env steps for 4 intervals (I = max(--steps, 8·n) acting, max(--steps/4, 2·n, update_every)
training, after ``learning_starts``);
the figures are the means of the logged ``charts/sps`` and ``charts/updates_per_s`` over the intervals after the
first (warm-up) and before the last (which holds the final evaluation).

Usage: python benchmarks/throughput.py [--short] [--envs 1,4,16,32] [--steps 256] [--out PATH] [--runs-dir DIR]
"""
from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import (CONFIGS, base_parser, finish_args, fmt, fresh_dir, machine_info, make_config, pyplot,  # noqa: E402
                    quiet_overrides, save_figure, table, train, write_json)

NAME = "throughput"
ENVS = (1, 4, 16, 32)
NEVER = 10**12  # learning_starts that is never reached: acting only


def clean_rows(rows: list[dict], after: int) -> list[dict]:
    """Rows logged after step ``after`` (the warm-up interval), without the last one (it includes evaluation)."""
    body = rows[:-1] if len(rows) > 1 else rows
    kept = [r for r in body if r["step"] > after]
    return kept or rows[-1:]


def measure(args, n: int, mode: str, config: str | None) -> dict[str, Any]:
    base = make_config(config, list(args.overrides))
    # acting is cheap: longer intervals; training intervals hold ~--steps/4 updates at the default update ratio
    # (a training interval spans at least one ``update_every`` so it always holds updates)
    want = max(args.steps, 8 * n) if mode == "acting" else max(args.steps // 4, 2 * n, base.loop.update_every)
    interval = int(math.ceil(want / n) * n)
    run_dir = fresh_dir(Path(args.runs_dir) / NAME / f"{mode}-{n}envs", args.runs_dir)
    starts = NEVER if mode == "acting" else base.sac.learning_starts
    warm = 0 if mode == "acting" else int(math.ceil(starts / interval) * interval)
    total = warm + 4 * interval
    overrides = [f"env.n_envs={n}", f"loop.total_env_steps={total}", f"loop.log_every={interval}",
                 "loop.eval_every=0", "loop.eval_goals=0", "loop.snapshot_every=0"] \
        + list(args.overrides) + ([f"sac.learning_starts={NEVER}"] if mode == "acting" else []) \
        + quiet_overrides(args, run_dir, args.seed_list[0])
    cfg = make_config(config, overrides)
    if cfg.learner != "sac" and mode == "acting":
        raise ValueError("the acting measurement needs learner=sac (learning_starts keeps it from updating)")
    print(f"[{NAME}] {mode} {n} envs: {total} env steps ...", file=sys.stderr, flush=True)
    res = train(cfg)
    rows = clean_rows(res.rows, warm + interval)
    ups = [r["charts/updates_per_s"] for r in rows if r.get("charts/updates_per_s", 0) > 0]
    return {"n_envs": n, "mode": mode, "interval": interval, "total_env_steps": total, "wall_s": res.wall_s,
            "measured_steps": [r["step"] for r in rows],
            "env_steps_per_s": statistics.fmean(r["charts/sps"] for r in rows),
            "updates_per_s": statistics.fmean(ups) if ups else None,
            "updates": int(getattr(res.loop.learner, "num_updates", 0))}


def plot(results: list[dict], path: Path) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for mode in ("acting", "training"):
        rs = [r for r in results if r["mode"] == mode]
        ax.plot([r["n_envs"] for r in rs], [r["env_steps_per_s"] for r in rs], marker="o", label=f"{mode}")
    ax.set(xscale="log", yscale="log", xlabel="envs in lockstep", ylabel="env steps / s",
           title="Throughput of the default run")
    ax.set_xticks([r["n_envs"] for r in results if r["mode"] == "acting"],
                  [str(r["n_envs"]) for r in results if r["mode"] == "acting"])
    ax.legend()
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = base_parser(NAME, __doc__)
    ap.add_argument("--envs", default=None, help="comma-separated env counts (default 1,4,16,32; 1,2 with --short)")
    ap.add_argument("--modes", default="acting,training", help="acting, training or both")
    args = ap.parse_args(argv)
    finish_args(args, NAME, steps=256, short_steps=32, seeds="1", short_seeds="1")
    try:
        envs = [int(x) for x in (args.envs or ("1,2" if args.short else ",".join(map(str, ENVS)))).split(",")]
    except ValueError:
        raise SystemExit(f"--envs takes comma-separated integers, got {args.envs!r}")
    if not envs or min(envs) < 1:
        raise SystemExit(f"--envs must be positive integers, got {args.envs!r}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"acting", "training"}:
        raise SystemExit(f"--modes takes acting and/or training, got {args.modes!r}")
    config = "default" if (CONFIGS / "default.yaml").is_file() else None
    results = [measure(args, n, mode, config) for n in envs for mode in modes]
    cfg = make_config(config, list(args.overrides))

    png = plot(results, args.plots / f"{Path(args.out).stem}.png")
    report = {"benchmark": NAME, "meta": {**machine_info(args.threads), "short": args.short, "steps": args.steps,
                                          "envs": envs, "modes": modes, "config": config or "schema defaults",
                                          "model": cfg.model.name, "learner": cfg.learner,
                                          "batch_size": cfg.sac.batch_size,
                                          "updates_per_step": cfg.sac.updates_per_step,
                                          "update_every": cfg.loop.update_every, "overrides": list(args.overrides)},
              "results": results, "plot": str(png)}
    path = write_json(args.out, report)

    by = {(r["n_envs"], r["mode"]): r for r in results}
    rows = [[str(n), *[fmt(by.get((n, m), {}).get("env_steps_per_s"), "{:.0f}") for m in ("acting", "training")],
             fmt(by.get((n, "training"), {}).get("updates_per_s"), "{:.2f}")] for n in envs]
    print(f"model {cfg.model.name}, SAC batch {cfg.sac.batch_size}, {cfg.sac.updates_per_step} updates per env step, "
          f"{torch.get_num_threads()} thread(s)")
    print(table(["envs", "acting env steps/s", "training env steps/s", "updates/s"], rows))
    print(f"wrote {path} and {png}")
    return report


if __name__ == "__main__":
    main()
