"""The ``autotelic`` command line."""
from __future__ import annotations

import argparse
import random
import sys


def _demo(args: argparse.Namespace) -> int:
    """Play one Playground-Text episode with the BFS solver (or random actions) and print it."""
    from .envs.playground import PlaygroundText, bfs_plan

    env = PlaygroundText()
    obs, info = env.reset(seed=args.seed, options={"goal": args.goal} if args.goal else None)
    rng = random.Random(args.seed)
    plan = bfs_plan(env.state, env.goal, env.horizon) if not args.random else None
    print(obs)
    t, done = 0, False
    while not done:
        action = plan[t] if plan else rng.choice(info["admissible_actions"])
        obs, reward, terminated, truncated, info = env.step(action)
        t += 1
        done = terminated or truncated
        print(f"\n> {action}   (reward {reward}, achieved: {sorted(info['achieved_goals']) or '-'})\n{obs}")
    print(f"\n{'success' if terminated else 'timeout'} after {t} steps")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autotelic", description="Autotelic language agents: train, evaluate, draw.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="play one Playground-Text episode with the solver and print it")
    d.add_argument("--goal", default=None, help="e.g. 'Grow cow' (default: a random training goal)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--random", action="store_true", help="random actions instead of the BFS solver")
    d.set_defaults(func=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError) as e:  # bad user input: one clear line, no traceback
        print(f"autotelic: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
