"""Benchmark: SAC update cost, training speed on ~100-word prompts and acting share — the landed code ("before")
against this tree ("after"), side by side in one run on one machine.

"before" is the merge base of HEAD and ``main`` (``--base``), extracted with ``git archive`` into a temporary folder
(or a folder made earlier with ``--export-base DIR`` and given as ``--base-dir DIR``, e.g. on a machine without the
git history). Every measurement runs in a fresh subprocess that imports ``autotelic`` from its own tree through a
folder of symlinks (``autotelic/*`` plus ``curricula/`` and ``envs/`` as ``autotelic.curricula``/``autotelic.envs``,
the setuptools package-dir mapping), so neither tree needs installing. Arms (``--arms``):

  before      base commit, its default config (batch 32, 1 update per env step)
  after       this tree, its default config (fused T5 scoring: ``model.kwargs.scoring=auto``)
  after-hf    this tree with ``model.kwargs.scoring=hf`` (transformers' forward): what the fused forward buys
  after-b128  this tree, batch 128 at 0.25 updates per env step (the same replay ratio: 32 transitions per step)
  after-b128+foreach  after-b128 with benchmarks/out/sac_speed.patch applied in the worker (foreach Adam and
              gradient clipping; sac.py is not this benchmark's to change)

Phases, run in this order, before and after alternated (``--reps`` rounds of the update phase):

  update  ``learner.update_on_batch`` on fixed relabelled batches (seed 0) from a replay filled by the untrained
          policy: median wall and thread-CPU ms per update and per transition, FLOPs (torch.utils.flop_counter),
          aten ops per update (a TorchDispatchMode count: forward, backward and optimiser), the padding share of
          the encoder (prompt) and decoder (candidate) token grids, and in the same process the GFLOP/s of a large
          ``torch.mm`` (the compute ceiling).
  train   env steps/s of training (updates on) over a window after ``learning_starts``, and the share of that wall
          time spent in the one batched policy call per step (``policy.act``): ``long16`` ~100-word prompts
          (``LongPromptPlayground`` below), 16 envs; ``act16``/``act64`` the default env at 16 and 64 envs.

Ratios are before/after of the same quantity in this run (CPU time where shown: it does not count time the
process waited for a core). ``--device cuda`` times on a GPU when one is present (else it falls back to CPU and
says so); it runs the update and long16 phases of before/after only, with small windows, to fit a few minutes.

Usage: python benchmarks/speed.py [--short] [--device cpu|cuda] [--arms before,after,...] [--reps N]
                                  [--base REV | --base-dir DIR] [--export-base DIR] [--threads 1] [--out PATH]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
NAME = "speed"
B128 = ["sac.batch_size=128", "sac.updates_per_step=0.25"]
ARMS: dict[str, tuple[str, list[str], bool]] = {  # name -> (tree, config overrides, apply the foreach patch)
    "before": ("base", [], False),
    "after": ("here", [], False),
    "after-hf": ("here", ["model.kwargs.scoring=hf"], False),
    "after-b128": ("here", B128, False),
    "after-b128+foreach": ("here", B128, True),
}
DESCRIPTION = ("The room is large and bright . A wooden floor runs from the north wall to the south wall . There is "
               "a window on the east side and a closed box near the west corner . A grey key lies two steps ahead "
               "and a red ball three steps to your right . A green door is locked and a purple box is open . You "
               "hear birds outside and the air smells of rain . Far to the left a yellow ball rests beside a blue "
               "key .")


# ---------------------------------------------------------------------------------------------- the long-prompt env
def _long_prompt_env_class():
    from autotelic.envs.playground import PlaygroundText

    class LongPromptPlayground(PlaygroundText):
        """Playground-Text whose observations carry a ~75-word room description (BabyAI-style), sentences in a
        random order per step: prompts of ~100 words with the game unchanged."""

        def _describe(self, obs: str) -> str:
            sentences = [s.strip() + " ." for s in DESCRIPTION.split(" .") if s.strip()]
            self._rng.shuffle(sentences)
            return obs + "\n" + " ".join(sentences)

        def reset(self, *, seed=None, options=None):
            obs, info = super().reset(seed=seed, options=options)
            return self._describe(obs), info

        def step(self, action):
            obs, reward, terminated, truncated, info = super().step(action)
            return self._describe(obs), reward, terminated, truncated, info

        def vocabulary(self) -> list[str]:
            return sorted(set(super().vocabulary()) | set(DESCRIPTION.split()))

    return LongPromptPlayground


def __getattr__(name: str):  # env id "speed:LongPromptPlayground", resolved lazily (autotelic comes from the tree)
    if name == "LongPromptPlayground":
        return _long_prompt_env_class()
    raise AttributeError(name)


# ---------------------------------------------------------------------------------------------- trees
def export_base(rev: str, dest: Path) -> Path:
    """Extract commit ``rev`` of this repository into ``dest`` (``git archive``); return ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as tar:
        subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev], stdout=tar, check=True)
        tar.seek(0)
        with tarfile.open(fileobj=tar) as tf:
            tf.extractall(dest, filter="data")
    (dest / "BASE_COMMIT").write_text(subprocess.run(["git", "-C", str(REPO), "rev-parse", rev], check=True,
                                                     capture_output=True, text=True).stdout)
    return dest


def base_rev() -> str:
    out = subprocess.run(["git", "-C", str(REPO), "merge-base", "HEAD", "main"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"cannot find the merge base of HEAD and main ({out.stderr.strip()}); pass --base REV "
                         "or --base-dir DIR")
    return out.stdout.strip()


def make_shim(tree: Path, dest: Path) -> Path:
    """A folder whose ``autotelic`` package is ``tree/autotelic`` with ``tree/curricula``, ``tree/envs`` mounted as its
    subpackages (symlinks), to put first on PYTHONPATH."""
    pkg = dest / "autotelic"
    pkg.mkdir(parents=True)
    for entry in (tree / "autotelic").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry.resolve())
    for sub in ("curricula", "envs"):
        if (tree / sub).is_dir() and not (pkg / sub).exists():
            (pkg / sub).symlink_to((tree / sub).resolve())
    return dest


def default_config(tree: Path) -> Path:
    for cand in (tree / "configs" / "default.yaml", tree / "autotelic" / "configs" / "default.yaml"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"no default.yaml under {tree}/configs or {tree}/autotelic/configs")


# ---------------------------------------------------------------------------------------------- worker (subprocess)
def _sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, dev) -> tuple[float, float]:
    """(wall s, thread-CPU s) of fn()."""
    _sync(dev)
    w, c = time.perf_counter(), time.thread_time()
    fn()
    _sync(dev)
    return time.perf_counter() - w, time.thread_time() - c


def _build_loop(job: dict, overrides: list[str]):
    import torch

    from autotelic.config import load_config
    from autotelic.loop import AutotelicLoop
    from autotelic.schema import TrainConfig

    torch.manual_seed(0)
    run_dir = Path(tempfile.mkdtemp(prefix="speed-run-"))
    dev = [f"model.kwargs.device={job['device']}"]
    cfg = load_config(TrainConfig, job["config"], [f"run_dir={run_dir}", f"seed={job['seed']}",
                                                   f"torch_threads={job['threads']}", "loop.progress=false",
                                                   "loop.checkpoint_every=0", *dev, *overrides])
    return AutotelicLoop(cfg)


class _OpCount:
    """Counts aten ops dispatched (below autograd: forward, backward and optimiser ops)."""

    def __init__(self) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        outer = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                outer.n += 1
                return func(*args, **(kwargs or {}))

        self.n, self.mode = 0, Mode()


def _padding_probe(lm_mod, lm):
    """Wrap ``autotelic.lm._pad_right`` (and the LM's ``encode_prompts``) to tally real vs padded token slots of the
    encoder (prompt) and decoder (candidate) id grids."""
    tally = {"enc_real": 0, "enc_slots": 0, "dec_real": 0, "dec_slots": 0}
    prompt_lists: set[int] = set()
    orig_pad, orig_enc = lm_mod._pad_right, lm.encode_prompts

    def encode_prompts(texts):
        out = orig_enc(texts)
        prompt_lists.add(id(out))
        return out

    def pad_right(seqs, pad_id, device):
        kind = "enc" if id(seqs) in prompt_lists else "dec"
        width = max((len(s) for s in seqs), default=0)
        tally[f"{kind}_real"] += sum(len(s) for s in seqs)
        tally[f"{kind}_slots"] += len(seqs) * width
        return orig_pad(seqs, pad_id, device)

    def install():
        lm_mod._pad_right, lm.encode_prompts = pad_right, encode_prompts

    def remove():
        lm_mod._pad_right = orig_pad
        lm.__dict__.pop("encode_prompts", None)

    return tally, install, remove


def _matmul_gflops(dev, n: int, reps: int = 5) -> float:
    """GFLOP/s of an n×n×n torch.mm (thread-CPU time on CPU, wall on GPU)."""
    import torch

    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    torch.mm(a, b)
    times = [_timed(lambda: torch.mm(a, b), dev)[1 if dev.type == "cpu" else 0] for _ in range(reps)]
    return 2 * n ** 3 / statistics.median(times) / 1e9


def _apply_foreach_patch(loop) -> None:
    """What benchmarks/out/sac_speed.patch does to SACLearner, applied to a built loop (before any step)."""
    import torch
    from torch import nn

    learner = loop.learner
    for name in ("actor_opt", "critic_opt", "alpha_opt"):
        opt = getattr(learner, name)
        setattr(learner, name, torch.optim.Adam([p for g in opt.param_groups for p in g["params"]],
                                                lr=opt.param_groups[0]["lr"], foreach=True))
    clip = nn.utils.clip_grad_norm_
    nn.utils.clip_grad_norm_ = lambda params, max_norm, **kw: clip(params, max_norm, **{"foreach": True, **kw})


def phase_update(job: dict) -> dict:
    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import autotelic.lm as lm_mod

    loop = _build_loop(job, job["overrides"] + ["sac.learning_starts=1000000000"])
    if job["foreach_patch"]:
        _apply_foreach_patch(loop)
    while loop.env_steps < job["fill"]:
        loop.train_iteration()
    learner, policy = loop.learner, loop.policy
    dev = policy.device
    bs = int(loop.cfg.sac.batch_size)
    rng = np.random.default_rng(0)
    n = job["warmup"] + job["updates"] + 2
    batches = [learner.relabeller.sample(learner.replay, bs, rng) for _ in range(n)]
    policy.train()
    for b in batches[: job["warmup"]]:
        learner.update_on_batch(b)
    wall, cpu = [], []
    for b in batches[job["warmup"]: job["warmup"] + job["updates"]]:
        w, c = _timed(lambda: learner.update_on_batch(b), dev)
        wall.append(w)
        cpu.append(c)
    counter = _OpCount()
    tally, install, remove = _padding_probe(lm_mod, policy.lm)
    install()
    try:
        with counter.mode:
            learner.update_on_batch(batches[-2])
    finally:
        remove()
    flops = FlopCounterMode(display=False)
    with flops:
        learner.update_on_batch(batches[-1])
    total_flops = flops.get_total_flops()
    mm = {str(k): _matmul_gflops(dev, k) for k in ((1024, 2048) if dev.type == "cpu" else (4096, 8192))}
    w, c = statistics.median(wall), statistics.median(cpu)
    return {"batch_size": bs, "updates_timed": len(wall), "update_wall_ms": 1e3 * w, "update_cpu_ms": 1e3 * c,
            "per_transition_wall_ms": 1e3 * w / bs, "per_transition_cpu_ms": 1e3 * c / bs,
            "gflop_per_update": total_flops / 1e9, "gflops_wall": total_flops / w / 1e9,
            "gflops_cpu": total_flops / c / 1e9 if dev.type == "cpu" else None, "aten_ops_per_update": counter.n,
            "enc_padding": 1 - tally["enc_real"] / max(1, tally["enc_slots"]),
            "dec_padding": 1 - tally["dec_real"] / max(1, tally["dec_slots"]),
            "matmul_gflops": mm, "scoring": getattr(policy.lm, "scoring", "hf (landed)")}


def phase_train(job: dict) -> dict:
    """Env steps/s and the policy call's share of wall time over a window of training after learning_starts."""
    loop = _build_loop(job, job["overrides"])
    if job["foreach_patch"]:
        _apply_foreach_patch(loop)
    policy = loop.policy
    dev = policy.device
    act_time = [0.0, 0.0]  # wall, process CPU
    orig_act = policy.act

    def act(*a, **k):
        _sync(dev)
        t, c = time.perf_counter(), time.process_time()
        try:
            return orig_act(*a, **k)
        finally:
            _sync(dev)
            act_time[0] += time.perf_counter() - t
            act_time[1] += time.process_time() - c

    policy.act = act  # instance attribute: the loop's own calls go through it
    starts = int(loop.cfg.sac.learning_starts)
    while loop.env_steps < starts + job["warm_steps"]:  # fill + the first updates (warm caches)
        loop.train_iteration()
    first_step, updates0 = loop.env_steps, loop.learner.num_updates
    act_time[:] = [0.0, 0.0]
    t, c = time.perf_counter(), time.process_time()
    while loop.env_steps < first_step + job["window"]:
        loop.train_iteration()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    steps = loop.env_steps - first_step
    import numpy as np

    sample = loop.learner.relabeller.sample(loop.learner.replay, 64, np.random.default_rng(0))
    words = statistics.mean(len(p.split()) for p in sample.prompts)
    calls = max(1, steps // max(1, loop.cfg.env.n_envs))
    return {"env_steps": steps, "wall_s": wall, "cpu_s": cpu, "env_steps_per_s": steps / wall,
            "env_steps_per_cpu_s": steps / cpu if cpu > 0 else None, "act_share": act_time[0] / wall,
            "act_share_cpu": act_time[1] / cpu if cpu > 0 else None, "act_ms_per_call": 1e3 * act_time[0] / calls,
            "act_cpu_ms_per_call": 1e3 * act_time[1] / calls,
            "updates": loop.learner.num_updates - updates0, "n_envs": loop.cfg.env.n_envs, "prompt_words": words}


def worker(job: dict) -> dict:
    import torch

    import autotelic

    if not str(Path(autotelic.__file__).parent).startswith(job["shim"]):
        raise SystemExit(f"worker imported autotelic from {autotelic.__file__}, not from {job['shim']}")
    torch.set_num_threads(job["threads"])
    if job["phase"] == "update":
        return phase_update(job)
    return phase_train(job)


# ---------------------------------------------------------------------------------------------- parent
def run_job(shim: Path, job: dict, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(shim) + os.pathsep + str(BENCH), TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS=str(job["threads"]), PYTHONDONTWRITEBYTECODE="1")
    job = dict(job, shim=str(shim.resolve()))
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {job['arm']}/{job['phase']} failed:\n{proc.stderr[-4000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["subprocess_s"] = time.perf_counter() - t
    return res


def _ratio(a, b):
    return a / b if (a is not None and b) else None


def fmt(v, spec="{:.3g}") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return spec.format(v)
    return str(v)


def table(headers, rows) -> str:
    cells = [list(map(str, headers))] + [[fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def budget(args) -> dict:
    if args.device == "cuda":
        return dict(fill=320, warmup=3, updates=10, reps=1, long_window=128, act_window=0, warm_steps=32)
    if args.short:
        return dict(fill=320, warmup=2, updates=6, reps=1, long_window=64, act_window=64, warm_steps=16)
    return dict(fill=640, warmup=4, updates=24, reps=args.reps, long_window=256, act_window=256, warm_steps=64)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="benchmarks/speed.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="small windows (about two minutes): a smoke run")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--arms", default=None, help=f"comma-separated subset of {','.join(ARMS)} (default: all; "
                                                 "before,after with --device cuda)")
    ap.add_argument("--phases", default="update,long16,act16,act64", help="which phases to run (comma-separated)")
    ap.add_argument("--reps", type=int, default=2, help="rounds of the update phase (before/after alternated)")
    ap.add_argument("--base", default=None, help="base revision (default: git merge-base HEAD main)")
    ap.add_argument("--base-dir", default=None, help="an extracted base tree (from --export-base) instead of git")
    ap.add_argument("--export-base", default=None, metavar="DIR", help="extract the base tree to DIR and exit")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in every worker")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON file (default benchmarks/out/speed.json, out/short/ with --short)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.export_base:
        rev = args.base or base_rev()
        print(f"exported {rev} to {export_base(rev, Path(args.export_base))}")
        return
    note = None
    gpu_asked = args.device == "cuda"
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            note = "--device cuda asked but CUDA is not available: measured on CPU"
            print(f"[{NAME}] {note}", file=sys.stderr)
            args.device = "cpu"
            args.short = True
    arms = args.arms.split(",") if args.arms else (["before", "after"] if gpu_asked else list(ARMS))
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise SystemExit(f"unknown arms {unknown}; choose from {list(ARMS)}")
    plan = budget(args)
    out = Path(args.out) if args.out else (OUT / "short" if args.short else OUT) / f"{NAME}.json"
    work = Path(tempfile.mkdtemp(prefix="autotelic-speed-"))
    try:
        if args.base_dir:
            base_tree = Path(args.base_dir).resolve()
            rev = (base_tree / "BASE_COMMIT").read_text().strip() if (base_tree / "BASE_COMMIT").is_file() else "?"
        else:
            rev = args.base or base_rev()
            base_tree = export_base(rev, work / "base")
        trees = {"base": base_tree, "here": REPO}
        shims = {k: make_shim(t, work / f"shim-{k}") for k, t in trees.items()}
        common = dict(device=args.device, threads=args.threads, seed=args.seed, **plan)
        results: dict[str, dict[str, Any]] = {a: {} for a in arms}
        timeout = 1800

        def job(arm: str, phase: str, **extra) -> dict:
            tree, overrides, patch = ARMS[arm]
            return run_job(shims[tree], dict(common, arm=arm, phase=phase, config=str(default_config(trees[tree])),
                                             foreach_patch=patch,
                                             overrides=list(overrides) + extra.pop("overrides", []), **extra),
                           timeout)

        t0 = time.perf_counter()
        phases = set(args.phases.split(","))
        for rep in range(plan["reps"] if "update" in phases else 0):
            for arm in arms:
                print(f"[{NAME}] update phase, round {rep + 1}: {arm}", file=sys.stderr, flush=True)
                results[arm].setdefault("update_rounds", []).append(job(arm, "update"))
        env_long = ["env.id=speed:LongPromptPlayground", "env.n_envs=16"]
        train_phases = [("long16", env_long, plan["long_window"])]
        if plan["act_window"]:
            train_phases += [("act16", ["env.n_envs=16"], plan["act_window"]),
                             ("act64", ["env.n_envs=64"], plan["act_window"])]
        for name, ov, window in train_phases:
            if name not in phases:
                continue
            for arm in arms:
                if name != "long16" and arm not in ("before", "after"):
                    continue
                print(f"[{NAME}] train phase {name}: {arm}", file=sys.stderr, flush=True)
                results[arm][name] = job(arm, "train", overrides=ov, window=window)
        elapsed = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for arm, res in results.items():  # median over rounds
        rounds = res.get("update_rounds")
        if not rounds:
            continue
        rounds = res["update_rounds"]
        res["update"] = {k: (statistics.median(r[k] for r in rounds) if isinstance(rounds[0][k], (int, float))
                             and not isinstance(rounds[0][k], bool) else rounds[0][k]) for k in rounds[0]}
    before = results.get("before")
    rows = []
    for arm, res in results.items():
        if "update" not in res:
            continue
        u = res["update"]
        mm = max(u["matmul_gflops"].values())
        gf = u["gflops_cpu"] if u["gflops_cpu"] is not None else u["gflops_wall"]
        bu = before.get("update") if before else None
        rows.append([arm, u["batch_size"], u["update_wall_ms"], u["update_cpu_ms"], u["per_transition_cpu_ms"],
                     _ratio(bu["per_transition_cpu_ms"], u["per_transition_cpu_ms"]) if bu and args.device == "cpu"
                     else None,  # host CPU time says nothing about GPU work
                     _ratio(bu["per_transition_wall_ms"], u["per_transition_wall_ms"]) if bu else None,
                     u["gflop_per_update"], gf, mm, _ratio(mm, gf), u["aten_ops_per_update"],
                     f"{100 * u['enc_padding']:.0f}%", f"{100 * u['dec_padding']:.0f}%"])
    t1 = table(["arm", "batch", "upd wall ms", "upd cpu ms", "cpu ms/transition", "speed-up (cpu)",
                "speed-up (wall)", "GFLOP/upd", "GFLOP/s", "mm GFLOP/s", "mm/achieved", "aten ops/upd",
                "enc pad", "dec pad"], rows)
    rows2 = []
    for arm, res in results.items():
        for name in ("long16", "act16", "act64"):
            if name in res:
                r = res[name]
                b = before.get(name) if before else None
                key = "env_steps_per_cpu_s" if r.get("env_steps_per_cpu_s") and args.device == "cpu" \
                    else "env_steps_per_s"
                share = r["act_share_cpu"] if key == "env_steps_per_cpu_s" else r["act_share"]
                rows2.append([f"{arm} {name}", r["n_envs"], r.get("prompt_words"), r["env_steps_per_s"], r[key],
                              _ratio(r[key], b[key]) if b else None, f"{100 * share:.1f}%",
                              r["act_cpu_ms_per_call" if key == "env_steps_per_cpu_s" else "act_ms_per_call"],
                              r["updates"], r["env_steps"]])
    per = "CPU-s" if args.device == "cpu" else "s"
    t2 = table(["arm phase", "envs", "prompt words", "env steps/s (wall)", f"env steps/{per}", "speed-up",
                "act share", "act ms/call", "updates", "env steps"], rows2)
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "base_commit": rev, "head": subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"],
                                                       capture_output=True, text=True).stdout.strip() or None,
            "device": args.device, "threads": args.threads, "short": args.short, "plan": plan, "arms": arms,
            "python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "load_avg_end": load, "elapsed_s": elapsed, "note": note, "command": " ".join(sys.argv)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": NAME, "meta": meta, "results": results}, indent=2))
    print(f"SAC update (default config, {args.device}, {args.threads} torch thread(s); medians over "
          f"{plan['reps']} round(s) x {plan['updates']} updates)")
    print(t1)
    print()
    print("Training (updates on) after learning_starts; speed-up and act share (policy.act / total) in process CPU "
          "time on CPU (robust to other jobs on the cores), wall time on GPU")
    print(t2)
    print(f"\nload average at the end {load}; wrote {out}")


if __name__ == "__main__":
    main()
