"""SAC+HER with and without a target trunk (a Polyak copy of the policy scoring s' for the target heads) on the toy
grasp env of tests/toy_env.py: greedy success over all goals after each block of iterations, one CPU thread.

``python benchmarks/target_trunk.py [--seeds 0,1,2] [--iters 40] [--every 10] [--objects 12]`` prints a table and
writes ``benchmarks/out/target_trunk.json``. The setting is tests/test_learning.py's (16 envs, γ = 0.7, 3-step, k = 4,
batch 32, 0.5 updates per env step).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))

from toy_env import OBJECTS, ToyGraspEnv, collect, policy_act, success_rate  # noqa: E402

from autotelic.learner import run_pending_updates  # noqa: E402
from autotelic.policy import build_policy  # noqa: E402
from autotelic.prompt import PromptBuilder  # noqa: E402
from autotelic.relabel import HindsightRelabeller  # noqa: E402
from autotelic.replay import EpisodeReplay  # noqa: E402
from autotelic.sac import SACConfig, SACLearner  # noqa: E402

MODEL = dict(d_model=64, d_kv=16, d_ff=128, num_layers=1, num_decoder_layers=1)
VARIANTS = {"online trunk (default)": {}, "target trunk tau=0.005": {"target_trunk": True},
            "target trunk tau=0.05": {"target_trunk": True, "target_trunk_tau": 0.05}}


def run(variant: dict, seed: int, objects: tuple[str, ...], iters: int, every: int, n_envs: int = 16) -> dict:
    torch.manual_seed(seed)
    pb, env = PromptBuilder(), ToyGraspEnv(objects)
    policy = build_policy("tiny", env.vocabulary() + pb.words(), device="cpu", seed=seed, **MODEL)
    rl = HindsightRelabeller(pb, env.compute_reward, strategy="future", k=4, n_step=3, gamma=0.7)
    learner = SACLearner(policy, EpisodeReplay(50_000), rl,
                         SACConfig(batch_size=32, updates_per_step=0.5, learning_starts=256, **variant))
    envs = [ToyGraspEnv(objects) for _ in range(n_envs)]
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    curve, t0 = [], time.perf_counter()
    for it in range(1, iters + 1):
        goals = [env.goals[i] for i in rng.integers(0, len(env.goals), n_envs)]
        policy.eval()
        learner.observe(collect(envs, policy_act(policy, False, gen), pb, goals))
        policy.train()
        run_pending_updates(learner, rng)
        if it % every == 0:
            policy.eval()
            curve.append({"iter": it, "updates": learner.num_updates,
                          "success": success_rate(envs, policy_act(policy, True), pb)})
    return {"seed": seed, "curve": curve, "seconds": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--objects", type=int, default=12)
    ap.add_argument("--out", default=str(BENCH / "out" / "target_trunk.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {name: [run(v, s, OBJECTS[:args.objects], args.iters, args.every) for s in seeds]
               for name, v in VARIANTS.items()}
    iters = [p["iter"] for p in next(iter(results.values()))[0]["curve"]]
    print(f"greedy success over {args.objects} goals, seeds {seeds} (mean [per seed]); 16 envs x 3 steps per iter")
    print(f"{'variant':28s}" + "".join(f"  iter {i:<18d}" for i in iters) + "  s/run")
    for name, runs in results.items():
        cells = []
        for j in range(len(iters)):
            vals = [r["curve"][j]["success"] for r in runs]
            cells.append(f"  {np.mean(vals):.2f} [{' '.join(f'{v:.2f}' for v in vals)}]".ljust(25))
        print(f"{name:28s}" + "".join(cells) + f"  {np.mean([r['seconds'] for r in runs]):.0f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "target_trunk", "seeds": seeds, "objects": args.objects,
                               "variants": VARIANTS, "results": results}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
