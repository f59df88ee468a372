"""Shared helpers of the benchmark scripts: arguments, one training run through the loop's public API, tables, JSON.

Every benchmark takes ``--short`` (tiny budget), ``--seeds`` (a count ``3`` or a list ``0,2,5``) or ``--seed S``
(that one seed), ``--steps`` (env steps per run), ``--out`` (the JSON file: ``benchmarks/out/<name>.json``,
``benchmarks/out/short/`` with ``--short``), ``--runs-dir`` (where run directories go), ``--plots`` (where the PNG
named after ``--out`` goes: ``benchmarks/results/`` for full runs, next to ``--out`` for ``--short``), ``--threads``
and ``--set key=value`` (extra config overrides applied to every run, e.g. a smaller model in tests).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from autotelic.cli import find_config
from autotelic.config import load_config
from autotelic.evaluate import evaluate_goals
from autotelic.loop import AutotelicLoop
from autotelic.metrics import read_metrics
from autotelic.schema import TrainConfig

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"          # gitignored: JSON and run directories
RESULTS = BENCH / "results"  # tracked: pictures embedded by RESULTS.md
CONFIGS = REPO / "configs"


# ---------------------------------------------------------------------------------------------- arguments
def parse_seeds(text: str) -> list[int]:
    """``"3"`` -> [0, 1, 2]; ``"0,2,5"`` -> [0, 2, 5]. ValueError for anything else."""
    text = str(text).strip()
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        else:
            n = int(text)
            if n < 1:
                raise ValueError
            seeds = list(range(n))
    except ValueError:
        raise ValueError(f"--seeds takes a count (e.g. 3) or a comma-separated list (e.g. 0,1,2), got {text!r}")
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"--seeds must name distinct non-negative seeds, got {text!r}")
    return seeds


def base_parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark shares; defaults of ``--steps``/``--seeds`` are filled by :func:`finish_args`."""
    ap = argparse.ArgumentParser(prog=f"benchmarks/{name}.py", description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="tiny budget (seconds to a minute): a smoke run")
    ap.add_argument("--seeds", default=None, help="a count (3 -> seeds 0,1,2) or a list (0,2,5)")
    ap.add_argument("--seed", type=int, default=None,
                    help="this one seed (one process per seed; the same as --seeds S,)")
    ap.add_argument("--steps", type=int, default=None, help="env steps per training run")
    ap.add_argument("--out", default=None,
                    help=f"JSON result file (default: benchmarks/out/{name}.json; benchmarks/out/short/ with --short)")
    ap.add_argument("--runs-dir", default=str(OUT / "runs"), help="parent of the run directories")
    ap.add_argument("--plots", default=None,
                    help="folder for the PNG, named after --out "
                         "(default: benchmarks/results, or next to --out with --short)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per run (default: the config's)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="extra config override for every run (repeatable)")
    return ap


def single_seed(args: argparse.Namespace) -> argparse.Namespace:
    """``--seed S`` becomes ``--seeds S,`` (SystemExit when both are given or S < 0); idempotent."""
    if getattr(args, "seed", None) is not None:
        if args.seed < 0 or args.seeds is not None:
            raise SystemExit("--seed takes one non-negative seed and excludes --seeds")
        args.seeds, args.seed = f"{args.seed},", None
    return args


def finish_args(args: argparse.Namespace, name: str, *, steps: int, short_steps: int, seeds: str,
                short_seeds: str) -> argparse.Namespace:
    """Fill budget defaults (short or full) and ``--out``, parse seeds, validate, and resolve the plot folder."""
    single_seed(args)
    if args.out is None:  # smoke runs never overwrite full-budget results
        args.out = str((OUT / "short" if args.short else OUT) / f"{name}.json")
    if args.steps is None:
        args.steps = short_steps if args.short else steps
    if args.steps < 1:
        raise SystemExit(f"--steps must be >= 1, got {args.steps}")
    if args.threads is not None and args.threads < 1:
        raise SystemExit(f"--threads must be >= 1, got {args.threads}")
    try:
        args.seed_list = parse_seeds(args.seeds if args.seeds is not None else (short_seeds if args.short else seeds))
    except ValueError as e:
        raise SystemExit(str(e))
    args.plots = Path(args.plots) if args.plots else (Path(args.out).parent if args.short else RESULTS)
    return args


# ---------------------------------------------------------------------------------------------- runs
def quiet_overrides(args: argparse.Namespace, run_dir: Path, seed: int) -> list[str]:
    """Overrides every benchmark run shares: its directory and seed, threads, no progress bar, no mid-run
    checkpoints (the loop still saves one at the end)."""
    threads = [] if args.threads is None else [f"torch_threads={args.threads}"]
    return [f"run_dir={run_dir}", f"seed={seed}", "loop.progress=false", "loop.checkpoint_every=0", *threads]


def make_config(config: str | os.PathLike | None, overrides: Sequence[str]) -> TrainConfig:
    """``load_config(TrainConfig, config, overrides)``; a shipped name (``default``, ``ppo``) resolves as
    ``autotelic train NAME`` does."""
    return load_config(TrainConfig, None if config is None else find_config(str(config)), list(overrides))


@dataclass
class RunResult:
    """One finished training run: its directory, metric rows, wall time and the loop (for graph/env queries)."""

    run_dir: Path
    rows: list[dict]
    wall_s: float
    loop: AutotelicLoop
    summary: dict[str, float] = field(default_factory=dict)


def fresh_dir(path: Path, root: Path) -> Path:
    """Empty ``path`` (which must lie under ``root``) so a rerun never appends to stale metrics."""
    path, root = Path(path).resolve(), Path(root).resolve()
    if root not in path.parents:
        raise ValueError(f"refusing to clear {path}: not under the runs directory {root}")
    if path.exists():
        shutil.rmtree(path)
    return path


def train(cfg: TrainConfig, loop: AutotelicLoop | None = None) -> RunResult:
    """Build (unless given) and run ``AutotelicLoop(cfg)``; return its metrics from ``read_metrics``."""
    loop = loop or AutotelicLoop(cfg)
    t0 = time.perf_counter()
    summary = loop.run()
    wall = time.perf_counter() - t0
    return RunResult(loop.run_dir, read_metrics(loop.run_dir), wall, loop, dict(summary))


def greedy_success(loop: AutotelicLoop, goals: list[str], repeats: int, seed: int,
                   envs: Sequence[Any] | None = None, greedy: bool = True) -> dict[str, float]:
    """Greedy (or, with ``greedy=False``, sampled) success rate per goal over ``repeats`` seeded episodes, with the
    loop's prompts and its evaluation envs (or ``envs``); the policy in eval mode either way."""
    if not goals:
        return {}
    was_training = loop.policy.training
    loop.policy.eval()
    try:
        with torch.no_grad():
            return evaluate_goals(loop.eval_envs if envs is None else envs,
                                  lambda p, c: loop.policy.act(p, c, greedy=greedy), loop.prompt, goals,
                                  repeats=repeats, seed=seed + 10_007)
    finally:
        loop.policy.train(was_training)


def series(rows: Iterable[dict], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of the rows that hold ``key``."""
    steps, values = [], []
    for r in rows:
        if key in r:
            steps.append(int(r["step"]))
            values.append(float(r[key]))
    return steps, values


def steps_to_reach(steps: Sequence[int], values: Sequence[float], threshold: float) -> int | None:
    """The first logged step whose value is >= ``threshold``; None when never reached."""
    for s, v in zip(steps, values):
        if v >= threshold:
            return int(s)
    return None


def read_parts(paths: Sequence[str | os.PathLike], benchmark: str, key: str,
               same: Sequence[str] = ("steps", "seeds", "short")) -> list[tuple[str, dict[str, Any]]]:
    """(path, report) of each JSON report of one benchmark, in order; SystemExit for an unreadable file, another
    benchmark's report, one without a ``key`` section, or a ``meta`` that disagrees with the first on ``same``."""
    parts: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        try:
            report = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise SystemExit(f"--merge: cannot read {path}: {e}")
        if not isinstance(report, dict) or report.get("benchmark") != benchmark \
                or not isinstance(report.get(key), dict):
            raise SystemExit(f"--merge: {path} is not a {benchmark} report (no '{key}' section)")
        if parts:
            first = parts[0][1]["meta"]
            for k in same:
                if report["meta"].get(k) != first.get(k):
                    raise SystemExit(f"--merge: {path} has {k}={report['meta'].get(k)!r}, "
                                     f"the first report {first.get(k)!r}")
        parts.append((str(path), report))
    if not parts:
        raise SystemExit("--merge needs at least one JSON report")
    return parts


def merge_parts(paths: Sequence[str | os.PathLike], benchmark: str, key: str,
                same: Sequence[str] = ("steps", "seeds", "short")) -> tuple[dict[str, Any], dict[str, Any]]:
    """(meta, results) of several JSON reports of one benchmark whose ``meta`` agree on ``same`` (e.g. one process
    per method on different cores): ``meta`` of the first, ``results`` the union of their ``key`` sections, each
    result with its report's env-step budget as ``budget``."""
    parts = read_parts(paths, benchmark, key, same)
    merged: dict[str, Any] = {}
    for path, report in parts:
        for name, res in report[key].items():
            if name in merged:
                raise SystemExit(f"--merge: {name!r} appears in more than one report ({path})")
            merged[name] = {**res, "budget": res.get("budget", report["meta"].get("steps"))}
    return parts[0][1]["meta"], merged


# ---------------------------------------------------------------------------------------------- output
def machine_info(threads: int | None = None) -> dict[str, Any]:
    """Where and when a benchmark ran; ``torch_threads`` is what the last run used (the config's unless given),
    ``load_avg`` the 1/5/15-minute load when the report was written (other jobs share the cores)."""
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {"date": datetime.date.today().isoformat(), "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": threads or torch.get_num_threads(),
            "cuda": torch.cuda.is_available(), "load_avg": load}


def _clean(x: Any) -> Any:
    """JSON-safe copy: NaN/inf become None, tuples lists, paths strings."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x


def write_json(path: str | os.PathLike, obj: dict) -> Path:
    """Write ``obj`` as indented JSON (NaN/inf as null), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(obj), indent=2))
    return path


def fmt(v: Any, spec: str = "{:.3g}") -> str:
    """A table cell: '-' for None, numbers through ``spec``."""
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return "-" if math.isnan(v) else "inf"
    if isinstance(v, int) and not isinstance(v, bool) and spec == "{:.3g}":
        return str(v)
    if isinstance(v, (int, float)):
        return spec.format(v)
    return str(v)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table (first column left-aligned)."""
    cells = [list(map(str, headers))] + [[c if isinstance(c, str) else fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for k, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure; return its path."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path
