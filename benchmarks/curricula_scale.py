"""Benchmark: curriculum sampling and goal-graph bookkeeping at 1k, 25k and 100k goals (Little-Zoo goal spaces).

For each size the goal graph is seeded with the space (``curriculum.seed_env_goals`` does this in a run) and fed
``--episodes`` synthetic episodes (a random scene goal, success with probability 0.3, the goals of its scene
achieved along the way). Then, per curriculum, one "rollout step" = one ``update`` (the graph changed) followed by
either **batch**: one ``sample(graph, 16)`` for 16 envs that reset, or **per reset**: 16 × (``sample(graph, 1)``
then ``update``), the loop's old pattern. Also timed: ``observe`` of one episode, ``summary``, ``facts``,
``render_all`` (aggregated by family), and MAGELLAN's one-off embedding of every goal with the tiny LLM.

Usage: python benchmarks/curricula_scale.py [--short] [--sizes 1000,25000,100000] [--repeats 5] [--out PATH]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, fmt, machine_info, table, write_json  # noqa: E402

from autotelic.curricula import make_curriculum  # noqa: E402
from autotelic.envs.littlezoo import build_goal_space  # noqa: E402
from autotelic.envs.playground import PlaygroundText  # noqa: E402
from autotelic.episode import Episode  # noqa: E402
from autotelic.graph import GoalGraph  # noqa: E402

CURRICULA = ("uniform", "lp", "novelty", "frontier", "mixture", "magellan")
N_ENVS = 16


def space_goals(size: int) -> tuple[list[str], dict[str, list[str]]]:
    """The first ``size`` goals of the smallest Little-Zoo space holding them, and the goals of each scene."""
    name = "littlezoo-25k" if size <= 25000 else "littlezoo-50k" if size <= 50000 else "littlezoo-100k"
    space = build_goal_space(name, "train")[:size]
    by_scene: dict[str, list[str]] = {}
    for g in space:
        if g.family != "impossible":
            by_scene.setdefault(g.text.partition(" with ")[2], []).append(g.text)
    return [g.text for g in space], by_scene


def episode(goal: str, by_scene: dict[str, list[str]], rng: np.random.Generator) -> Episode:
    scene = goal.partition(" with ")[2]
    reach = [g for g in by_scene.get(scene, []) if rng.random() < 0.5]
    success = goal in reach or (rng.random() < 0.3 and goal in by_scene.get(scene, []))
    if success and goal not in reach:
        reach.append(goal)
    if success:
        reach = [g for g in reach if g != goal] + [goal]
    steps, cur = [], frozenset()
    for g in reach or [None]:
        cur = cur | ({g} if g else set())
        steps.append(cur)
    T = len(steps)
    return Episode(goal=goal, observations=["o"] * (T + 1), admissible=[("a",)] * (T + 1), actions=[0] * T,
                   rewards=[0.0] * (T - 1) + [1.0 if success else 0.0], achieved=steps, terminated=success,
                   truncated=not success)


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls."""
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def bench_size(size: int, episodes: int, repeats: int, policy: Any) -> dict[str, Any]:
    goals, by_scene = space_goals(size)
    rng = np.random.default_rng(0)
    graph = GoalGraph()
    graph.seed(goals)
    t0 = time.perf_counter()
    eps = [episode(goals[int(rng.integers(len(goals)))], by_scene, rng) for _ in range(episodes)]
    for t, e in enumerate(eps):
        graph.observe(e, t)
    out: dict[str, Any] = {"size": size, "episodes": episodes, "fill_s": time.perf_counter() - t0}
    out["observe_ms"] = 1e3 * timed(lambda: graph.observe(eps[int(rng.integers(len(eps)))], episodes), repeats)
    out["summary_ms"] = 1e3 * timed(graph.summary, repeats)
    out["facts_ms"] = 1e3 * timed(graph.facts, repeats)
    env = PlaygroundText(goal_space="littlezoo-100k")
    with tempfile.TemporaryDirectory() as d:
        from autotelic import viz

        out["render_all_s"] = timed(lambda: viz.render_all(graph, d, family=env.goal_family), 1)
    per: dict[str, Any] = {}
    for name in CURRICULA:
        c = make_curriculum(name)
        if name == "magellan" and policy is not None:
            c.attach(policy)
            t0 = time.perf_counter()
            c.embeddings(goals)
            per["magellan_embed_all_s"] = time.perf_counter() - t0
        for e in eps[:200]:
            c.update(e.goal, e.success)
        g0 = goals[0]
        c.sample(graph, 1, rng)  # warm caches

        def batch() -> None:
            c.update(g0, False)
            c.sample(graph, N_ENVS, rng)

        def per_reset() -> None:
            for _ in range(N_ENVS):
                c.sample(graph, 1, rng)
                c.update(g0, False)

        per[name] = {"batch_ms": 1e3 * timed(batch, repeats), "per_reset_ms": 1e3 * timed(per_reset, repeats)}
    out["curricula"] = per
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="1k and 25k goals, 300 episodes, 3 repeats")
    ap.add_argument("--sizes", default=None, help="comma-separated goal counts (default 1000,25000,100000)")
    ap.add_argument("--episodes", type=int, default=None, help="episodes observed first (default 2000)")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats, median reported (default 5)")
    ap.add_argument("--no-llm", action="store_true", help="magellan with its hashing embedding, no tiny LLM")
    ap.add_argument("--out", default=None, help="JSON report (default benchmarks/out[/short]/curricula_scale.json)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    sizes = [int(s) for s in (args.sizes or ("1000,25000" if args.short else "1000,25000,100000")).split(",")]
    episodes = args.episodes or (300 if args.short else 2000)
    repeats = args.repeats or (3 if args.short else 5)
    policy = None
    if not args.no_llm:
        from autotelic.policy import build_policy

        env = PlaygroundText(goal_space="littlezoo-25k")
        policy = build_policy("tiny", env.vocabulary(), seed=0, d_model=64, d_kv=16, d_ff=128, num_layers=1,
                              num_decoder_layers=1)  # the default config's model
    results = [bench_size(n, episodes, repeats, policy) for n in sizes]
    rows = []
    for r in results:
        for name in CURRICULA:
            c = r["curricula"][name]
            rows.append([r["size"], name, fmt(c["batch_ms"], "{:.2f}"), fmt(c["per_reset_ms"], "{:.2f}"),
                         fmt(c["per_reset_ms"] / max(c["batch_ms"], 1e-9), "{:.1f}")])
    print(f"one rollout step with {N_ENVS} resets (median of {repeats}; ms):")
    print(table(["goals", "curriculum", "sample(graph, 16)", "16 x sample(graph, 1)", "ratio"], rows))
    print(table(["goals", "observe ms", "summary ms", "facts ms", "render_all s", "magellan embed all s"],
                [[r["size"], fmt(r["observe_ms"], "{:.2f}"), fmt(r["summary_ms"], "{:.2f}"),
                  fmt(r["facts_ms"], "{:.1f}"), fmt(r["render_all_s"], "{:.2f}"),
                  fmt(r["curricula"].get("magellan_embed_all_s"), "{:.2f}")] for r in results]))
    out = Path(args.out) if args.out else OUT / ("short" if args.short else "") / "curricula_scale.json"
    report = {"benchmark": "curricula_scale", "meta": {**machine_info(1), "short": args.short,
                                                       "episodes": episodes, "repeats": repeats},
              "results": results}
    print(f"wrote {write_json(out, report)}")
    return report


if __name__ == "__main__":
    main()
