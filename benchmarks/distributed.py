"""Benchmark: env steps/s with 1 vs 2 data-parallel processes, and inline vs subprocess env workers.

Part 1 (``accelerate launch``, the real CLI): the default tiny model on Playground-Text with ``env.n_envs`` envs in
total, 1 process (plain loop) vs 2 processes (gloo on CPU), each process with ``--threads`` torch threads, in two
regimes: ``acting`` (no learner update: rollout + policy forward + the per-iteration episode all-gather) and
``training`` (SAC + HER updates, global batch ``--batch``). env steps/s = env steps / seconds between the first and
the next-to-last metrics rows (steady state: no start-up, no final evaluation); ``launch_s`` is the time outside the
loop (process start, model build, final evaluation and outputs).

Part 2 (in process): ``Rollout`` with random actions over 8 envs, inline vs ``env.workers=subprocess``
(``gymnasium.vector.AsyncVectorEnv``), for Playground-Text as is (a step costs microseconds) and with an extra
per-step cost of ``--cost-ms`` spent sleeping (an env waiting on an external simulator) or busy (CPU-bound).

Usage: python benchmarks/distributed.py [--short] [--threads 1] [--out benchmarks/out/distributed.json]
Honest caveat: on a 2-core machine shared with other jobs the numbers are noisy; the load average is recorded.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # worker processes import benchmarks.distributed:CostlyPlayground

TINY = ["model.kwargs.d_model=64", "model.kwargs.d_kv=32", "model.kwargs.d_ff=128", "model.kwargs.num_layers=2",
        "model.kwargs.num_decoder_layers=2", "model.kwargs.num_heads=2"]


class CostlyPlayground:
    """Playground-Text whose every step and reset also costs ``cost_ms`` (sleeping, or busy on the CPU)."""

    def __init__(self, cost_ms: float = 2.0, busy: bool = False) -> None:
        from autotelic.envs.playground import PlaygroundText

        self.env, self.cost, self.busy = PlaygroundText(), cost_ms / 1000.0, busy

    def _spend(self) -> None:
        if not self.busy:
            time.sleep(self.cost)
            return
        end = time.perf_counter() + self.cost
        while time.perf_counter() < end:
            pass

    @property
    def goal(self) -> str | None:
        return self.env.goal

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        self._spend()
        return self.env.reset(seed=seed, options=options)

    def step(self, action: str) -> Any:
        self._spend()
        return self.env.step(action)

    def compute_reward(self, goal: str, achieved: Any) -> Any:
        return self.env.compute_reward(goal, achieved)

    def vocabulary(self) -> list[str]:
        return self.env.vocabulary()


# ---------------------------------------------------------------------------------------------- part 1
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_run(nproc: int, overrides: list[str], run_dir: Path, timeout: int) -> dict[str, float]:
    """One ``autotelic train`` under accelerate launch; env steps/s from its last metrics row."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "--num_processes", str(nproc)]
    if nproc > 1:
        launch += ["--multi_gpu", "--main_process_port", str(_free_port())]
    cmd = launch + ["-m", "autotelic", "train", *overrides, f"run_dir={run_dir}"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    total = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{nproc}-process run failed:\n{res.stderr[-3000:]}")
    from autotelic.metrics import read_metrics  # here, not at the top: env worker processes import this module

    rows = read_metrics(run_dir)
    if len(rows) < 3:
        raise RuntimeError(f"need >= 3 metric rows, got {len(rows)}: lower loop.log_every")
    # steady state: from the first logged row to the one before the last (the last includes the final evaluation)
    a, b = rows[0], rows[-2]
    steps, secs = b["step"] - a["step"], float(b["charts/wall_time"]) - float(a["charts/wall_time"])
    wall = float(rows[-1]["charts/wall_time"])
    return {"processes": nproc, "env_steps": int(rows[-1]["step"]), "timed_steps": int(steps),
            "timed_s": round(secs, 2), "env_steps_per_s": round(steps / secs, 1), "loop_s": round(wall, 2),
            "launch_s": round(total - wall, 1), "updates_per_s": round(float(b.get("charts/updates_per_s", 0.0)), 2)}


def part1(args: argparse.Namespace) -> list[dict[str, Any]]:
    steps_act, steps_train = (640, 640) if args.short else (3200, 1600)
    common = TINY + [f"env.n_envs={args.envs}", f"torch_threads={args.threads}", "loop.progress=false",
                     "loop.eval_every=0", "loop.checkpoint_every=0", "loop.snapshot_every=0",
                     f"loop.log_every={steps_train // 4}"]
    regimes = {
        "acting": [f"loop.total_env_steps={steps_act}", f"sac.learning_starts={10 * steps_act}"],
        "training": [f"loop.total_env_steps={steps_train}", "sac.learning_starts=256", f"sac.batch_size={args.batch}",
                     "sac.updates_per_step=0.25", "loop.update_every=16"],
    }
    out = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_dist_"))
    try:
        for regime, extra in regimes.items():
            for nproc in (1, 2):
                row = launch_run(nproc, common + extra, tmp / f"{regime}_{nproc}", args.timeout)
                row["regime"] = regime
                out.append(row)
                print(f"  {regime:9s} {nproc} process(es): {row['env_steps_per_s']:8.1f} env steps/s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------- part 2
def rollout_rate(workers: str, env_id: str, kwargs: dict[str, Any], n_envs: int, steps: int) -> float:
    """Env steps/s of a Rollout with random actions (startup excluded)."""
    from types import SimpleNamespace

    from autotelic.rollout import Rollout
    from autotelic.workers import make_envs, pipelined

    envs = make_envs(SimpleNamespace(id=env_id, kwargs=kwargs, n_envs=n_envs, workers=workers))
    try:
        rng = np.random.default_rng(0)
        r = Rollout(envs, lambda g, o: o, lambda idx: [None] * len(idx), seed=0)
        act = pipelined(lambda p, c: [int(rng.integers(len(x))) for x in c], envs)
        t0 = time.perf_counter()
        for _ in range(steps):
            r.step(act)
        return n_envs * steps / (time.perf_counter() - t0)
    finally:
        if workers == "subprocess":
            envs[0].close()


def part2(args: argparse.Namespace) -> list[dict[str, Any]]:
    n = 8
    cases = [("playground (us/step)", "autotelic/PlaygroundText-v0", {}, 400 if args.short else 2000),
             (f"+{args.cost_ms:g} ms sleep/step", "benchmarks.distributed:CostlyPlayground",
              {"cost_ms": args.cost_ms}, 20 if args.short else 100),
             (f"+{args.cost_ms:g} ms busy/step", "benchmarks.distributed:CostlyPlayground",
              {"cost_ms": args.cost_ms, "busy": True}, 20 if args.short else 100)]
    out = []
    for name, env_id, kwargs, steps in cases:
        row: dict[str, Any] = {"env": name, "n_envs": n, "rollout_steps": steps}
        for workers in ("inline", "subprocess"):
            row[workers] = round(rollout_rate(workers, env_id, kwargs, n, steps), 1)
        row["speedup"] = round(row["subprocess"] / row["inline"], 2)
        print(f"  {name:24s} inline {row['inline']:9.1f}  subprocess {row['subprocess']:9.1f} env steps/s "
              f"(x{row['speedup']})", flush=True)
        out.append(row)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short", action="store_true", help="small budgets (a smoke run)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--envs", type=int, default=16, help="env.n_envs in total (split across processes)")
    p.add_argument("--batch", type=int, default=64, help="global SAC batch")
    p.add_argument("--cost-ms", type=float, default=2.0, help="extra per-step env cost in part 2")
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--skip-launch", action="store_true", help="only part 2")
    p.add_argument("--out", default=None,
                   help="JSON result (default benchmarks/out/distributed.json; benchmarks/out/short/ with --short)")
    args = p.parse_args()
    if args.out is None:  # a smoke run never overwrites the full-budget result
        args.out = str(ROOT / "benchmarks" / "out" / ("short" if args.short else "") / "distributed.json")
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPU(s), load average {load0:.2f} at start")
    print("part 1: autotelic train under accelerate launch, 1 vs 2 processes")
    launches = [] if args.skip_launch else part1(args)
    print("part 2: Rollout, inline vs subprocess env workers (8 envs, random actions)")
    workers = part2(args)
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                          "load_avg_start": round(load0, 2),
                          "load_avg_end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None},
              "settings": {"config": "configs/default.yaml + overrides", "threads_per_process": args.threads,
                           "n_envs_total": args.envs, "global_batch": args.batch, "short": args.short},
              "processes": launches, "env_workers": workers}
    print()
    if launches:
        print(f"{'regime':10s} {'procs':>5s} {'timed steps':>11s} {'timed s':>8s} {'steps/s':>8s} {'updates/s':>9s} "
              f"{'launch s':>8s}")
        for r in launches:
            print(f"{r['regime']:10s} {r['processes']:5d} {r['timed_steps']:11d} {r['timed_s']:8.1f} "
                  f"{r['env_steps_per_s']:8.1f} {r['updates_per_s']:9.2f} {r['launch_s']:8.1f}")
        print()
    print(f"{'env (8 envs)':26s} {'inline':>10s} {'subprocess':>11s} {'speedup':>8s}")
    for r in workers:
        print(f"{r['env']:26s} {r['inline']:10.1f} {r['subprocess']:11.1f} {r['speedup']:8.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
