"""Benchmark: where the time of a default training run goes.

Builds ``AutotelicLoop`` from the default config (``configs/default.yaml`` when present, else the schema's defaults)
and, before ``run()``, wraps methods on the loop's own objects (instance attributes, nothing in autotelic/ is
changed) with timers that keep *exclusive* time (a section's time minus the time of wrapped sections inside it):
  env                      env.step / env.reset (training and evaluation envs)
  prompt building          the prompt builder, wherever it is called (rollout, relabelling, PPO, evaluation)
  tokenisation             LanguageModel._encode (ids of prompts and candidates, memoised)
  forward: acting          LMPolicy.score called to act (sampling a ~ π)
  act glue                 LMPolicy.act around score (validation, sampling)
  forward: update          LMPolicy.score inside a learner update (s and s'; PPO's evaluation passes)
  update: backward+optim   the rest of learner.update: losses, critic heads, backward, clipping, Adam, Polyak
  relabelling              HindsightRelabeller.sample (goal choice, n-step returns, batch assembly)
  replay / observe         learner.observe (episodes into the replay or PPO's rollout buffer)
  graph / curriculum       graph.observe / summary, curriculum.sample / update / metrics
  logging                  the loop's metric row (MetricLogger: JSONL, CSV, TensorBoard)
  forward: eval, eval glue greedy evaluation (the final one; periodic ones when eval_every > 0)
  checkpoint & pictures    checkpoints, graph snapshots, PNG/HTML pictures (once at the end)
  other                    wall time not in any section (the loop's own bookkeeping)
Model compute = every forward + update backward/optimiser. Target: the rest is < 10% of wall time.
``--cprofile`` also runs cProfile and writes its top functions next to the JSON (it slows the run down).

Usage: python benchmarks/profile_run.py [--short] [--steps 2000] [--learner sac|ppo] [--n-envs N] [--out PATH]
"""
from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from common import (CONFIGS, base_parser, finish_args, fmt, fresh_dir, machine_info, make_config, pyplot,  # noqa: E402
                    quiet_overrides, save_figure, table, train, write_json)

from autotelic.callbacks import EvalCallback, LogCallback, RenderCallback, SnapshotCallback
from autotelic.loop import AutotelicLoop  # noqa: E402

NAME = "profile_run"
MODEL = ("forward: acting", "forward: update", "forward: eval", "update: backward+optim")
ORDER = ("env", "prompt building", "tokenisation", "forward: acting", "act glue", "forward: update",
         "update: backward+optim", "relabelling", "replay / observe", "graph / curriculum", "logging",
         "forward: eval", "eval glue", "checkpoint & pictures", "other")


class SectionTimer:
    """Exclusive wall time per label over wrapped callables (nested wrapped calls are charged to their own label)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._stack: list[list[Any]] = []  # [label, time spent in wrapped children]

    def inside(self, label: str) -> bool:
        return any(frame[0] == label for frame in self._stack)

    def wrap(self, obj: Any, attr: str, label: str | Callable[["SectionTimer"], str]) -> None:
        """Replace ``obj.attr`` (a method or callable attribute) by a timed wrapper set on the instance."""
        fn = getattr(obj, attr)
        if not callable(fn):
            raise TypeError(f"{type(obj).__name__}.{attr} is not callable")

        def timed(*args: Any, **kwargs: Any) -> Any:
            lab = label(self) if callable(label) else label
            self._stack.append([lab, 0.0])
            t0 = self.clock()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = self.clock() - t0
                _, children = self._stack.pop()
                self.seconds[lab] += dt - children
                self.calls[lab] += 1
                if self._stack:
                    self._stack[-1][1] += dt

        setattr(obj, attr, timed)  # an instance attribute shadows the class's method


def instrument(loop: AutotelicLoop) -> SectionTimer:
    """Wrap the loop's objects' methods (see the module docstring for the sections)."""
    t = SectionTimer()
    for env in list(loop.envs) + list(loop.eval_envs):
        t.wrap(env, "step", "env")
        t.wrap(env, "reset", "env")
    t.wrap(loop.rollout, "prompt_fn", "prompt building")
    t.wrap(loop.evaluator, "prompt_fn", "prompt building")  # evaluation builds its rollout from it at call time
    learner = loop.learner
    relabeller = getattr(learner, "relabeller", None)
    if relabeller is not None:
        t.wrap(relabeller, "prompt_fn", "prompt building")
        t.wrap(relabeller, "sample", "relabelling")
    elif hasattr(learner, "prompt_fn"):
        t.wrap(learner, "prompt_fn", "prompt building")
    lm = loop.policy.lm
    if hasattr(lm, "_encode"):
        t.wrap(lm, "_encode", "tokenisation")
    t.wrap(loop.policy, "score", lambda s: "forward: update" if s.inside("update: backward+optim")
           else "forward: eval" if s.inside("eval glue") else "forward: acting")
    t.wrap(loop.policy, "act", lambda s: "eval glue" if s.inside("eval glue") else "act glue")
    t.wrap(learner, "update", "update: backward+optim")
    t.wrap(learner, "observe", "replay / observe")
    for name in ("observe", "summary"):
        t.wrap(loop.graph, name, "graph / curriculum")
    for name in ("sample", "update", "metrics"):
        t.wrap(loop.curriculum, name, "graph / curriculum")
    by_type = {type(cb): cb for cb in loop.callbacks}
    t.wrap(by_type[LogCallback], "log", "logging")
    t.wrap(by_type[EvalCallback], "evaluator", "eval glue")
    t.wrap(loop, "save", "checkpoint & pictures")
    t.wrap(by_type[SnapshotCallback], "snapshot", "checkpoint & pictures")
    t.wrap(by_type[RenderCallback], "on_run_end", "checkpoint & pictures")
    return t


def breakdown(t: SectionTimer, wall: float) -> dict[str, Any]:
    """Seconds and fraction of wall time per section, the model-compute share and the rest."""
    secs = {k: float(t.seconds.get(k, 0.0)) for k in ORDER if k != "other"}
    secs.update({k: float(v) for k, v in t.seconds.items() if k not in secs})
    secs["other"] = max(0.0, wall - sum(secs.values()))
    model = sum(secs.get(k, 0.0) for k in MODEL)
    end = secs.get("checkpoint & pictures", 0.0)
    return {"seconds": secs, "fraction": {k: v / wall for k, v in secs.items()},
            "calls": dict(t.calls), "model_s": model, "model_fraction": model / wall,
            "non_model_fraction": 1.0 - model / wall,
            "non_model_fraction_excl_end": 1.0 - model / max(wall - end, 1e-9)}


def plot(res: dict[str, Any], path: Path, title: str) -> Path:
    plt = pyplot()
    fr = res["fraction"]
    keys = [k for k in ORDER if fr.get(k, 0) > 0][::-1]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.barh(keys, [100 * fr[k] for k in keys], color=["tab:blue" if k in MODEL else "tab:orange" for k in keys])
    ax.set(xlabel="% of wall time (blue: model forward/backward)", title=title)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = base_parser(NAME, __doc__)
    ap.add_argument("--learner", default=None, choices=("sac", "ppo"), help="default: the config's (sac)")
    ap.add_argument("--n-envs", type=int, default=None, help="envs in lockstep (default: config; 4 with --short)")
    ap.add_argument("--cprofile", action="store_true", help="also run under cProfile; top functions to a .txt")
    args = ap.parse_args(argv)
    finish_args(args, NAME, steps=2000, short_steps=400, seeds="1", short_seeds="1")
    seed = args.seed_list[0]
    n_envs = args.n_envs or (4 if args.short else None)
    config = "default" if (CONFIGS / "default.yaml").is_file() else None
    run_dir = fresh_dir(Path(args.runs_dir) / NAME / f"default-s{seed}", args.runs_dir)
    overrides = [f"loop.total_env_steps={args.steps}"] + ([f"env.n_envs={n_envs}"] if n_envs else []) \
        + ([f"learner={args.learner}"] if args.learner else []) + list(args.overrides) \
        + quiet_overrides(args, run_dir, seed)
    cfg = make_config(config, overrides)
    print(f"[{NAME}] {cfg.learner} {cfg.model.name}, {cfg.env.n_envs} envs, {args.steps} env steps ...",
          file=sys.stderr, flush=True)
    loop = AutotelicLoop(cfg)
    timer = instrument(loop)
    prof = cProfile.Profile() if args.cprofile else None
    if prof:
        prof.enable()
    res = train(cfg, loop)
    if prof:
        prof.disable()
    b = breakdown(timer, res.wall_s)
    updates = int(getattr(loop.learner, "num_updates", 0))
    summary = {"wall_s": res.wall_s, "env_steps": loop.env_steps, "updates": updates,
               "env_steps_per_s": loop.env_steps / res.wall_s,
               "updates_per_s_of_update_time": updates / max(b["seconds"]["forward: update"]
                                                             + b["seconds"]["update: backward+optim"]
                                                             + b["seconds"]["relabelling"], 1e-9),
               "acting_env_steps_per_s": loop.env_steps / max(b["seconds"]["env"] + b["seconds"]["forward: acting"]
                                                              + b["seconds"]["act glue"]
                                                              + b["seconds"]["prompt building"], 1e-9)}
    cprofile_path = None
    if prof:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(40)
        cprofile_path = Path(args.out).with_suffix(".cprofile.txt")
        cprofile_path.parent.mkdir(parents=True, exist_ok=True)
        cprofile_path.write_text(s.getvalue())
    png = plot(b, args.plots / f"{Path(args.out).stem}.png", f"{cfg.learner} {cfg.model.name}, {cfg.env.n_envs} envs, "
                                              f"{loop.env_steps} env steps, {res.wall_s:.0f} s")
    report = {"benchmark": NAME, "meta": {**machine_info(args.threads), "short": args.short, "steps": args.steps,
                                          "seed": seed, "config": config or "schema defaults", "learner": cfg.learner,
                                          "model": cfg.model.name, "n_envs": cfg.env.n_envs, "overrides": overrides,
                                          "batch_size": cfg.sac.batch_size,
                                          "updates_per_step": cfg.sac.updates_per_step},
              "summary": summary, "breakdown": b,
              "target": {"description": "everything but model forward/backward < 10% of wall time",
                         "met": bool(b["non_model_fraction"] < 0.10)},
              "plot": str(png), "cprofile": str(cprofile_path) if cprofile_path else None}
    path = write_json(args.out, report)

    rows = [[k, fmt(b["seconds"][k], "{:.2f}"), fmt(100 * b["fraction"][k], "{:.1f}"), b["calls"].get(k, "-"),
             "model" if k in MODEL else ""] for k in ORDER if k in b["seconds"]]
    print(f"{cfg.learner}, model {cfg.model.name}, {cfg.env.n_envs} envs, {loop.env_steps} env steps, {updates} "
          f"updates in {res.wall_s:.1f} s ({summary['env_steps_per_s']:.1f} env steps/s), "
          f"{torch.get_num_threads()} thread(s)")
    print(table(["section", "seconds", "% wall", "calls", ""], rows))
    print(f"model forward/backward: {100 * b['model_fraction']:.1f}% of wall; everything else "
          f"{100 * b['non_model_fraction']:.1f}% ({100 * b['non_model_fraction_excl_end']:.1f}% without the "
          f"end-of-run checkpoint & pictures); target < 10%: {'met' if report['target']['met'] else 'NOT met'}")
    print(f"wrote {path} and {png}" + (f" and {cprofile_path}" if cprofile_path else ""))
    return report


if __name__ == "__main__":
    main()
