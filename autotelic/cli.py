"""The ``autotelic`` command line."""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    """Play one Playground-Text episode with the BFS solver (or random actions) and print it."""
    from .envs.playground import PlaygroundText, bfs_plan

    env = PlaygroundText(goal_in_observation=True)
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


def _find_config(name: str | None) -> str | None:
    """A config path as given, or a bundled config by name (``default``, ``ppo``, ``paper`` ...)."""
    if name is None:
        return None
    p = Path(name)
    if p.is_file():
        return str(p)
    for folder in _config_dirs():
        if (folder / f"{name}.yaml").is_file():
            return str(folder / f"{name}.yaml")
    if name == "default":
        return None  # the schema's defaults are the default config
    raise ValueError(f"config {name!r} not found (a YAML path, or a name in configs/: "
                     f"{', '.join(sorted(bundled_configs()))})")


def _config_dirs() -> list[Path]:
    """./configs, then the configs/ folder of the source tree this package runs from."""
    return [d for d in (Path("configs"), Path(__file__).resolve().parent.parent / "configs") if d.is_dir()]


def bundled_configs() -> list[str]:
    return sorted({f.stem for d in _config_dirs() for f in d.glob("*.yaml")})


def _split_args(items: list[str]) -> tuple[str | None, list[str]]:
    """Split ``[CONFIG] key=value ...`` into the config and the overrides."""
    config = None
    overrides = []
    for i, item in enumerate(items):
        if "=" in item:
            overrides.append(item)
        elif i == 0:
            config = item
        else:
            raise ValueError(f"unexpected argument {item!r}: overrides take the form key=value")
    return config, overrides


def _train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .distributed import loop_class
    from .schema import TrainConfig

    loop_cls = loop_class()  # [distributed] DistributedLoop under accelerate launch / torchrun with N > 1
    if args.resume:
        config, overrides = _split_args(args.items)
        if config is not None:
            raise ValueError("--resume takes the run directory's own config; give only key=value overrides")
        loop = loop_cls.resume(args.resume, overrides)
        if getattr(loop, "is_main", True):
            print(f"resuming {loop.run_dir} at env step {loop.env_steps}", file=sys.stderr)
    else:
        config, overrides = _split_args(args.items)
        cfg = load_config(TrainConfig, _find_config(config or "default"), overrides)
        loop = loop_cls(cfg)
        if not args.overwrite and (loop.run_dir / "checkpoints").is_dir() \
                and any((loop.run_dir / "checkpoints").iterdir()):
            raise ValueError(f"{loop.run_dir} already holds a run: use --resume {loop.run_dir}, another name=..., "
                             "or --overwrite")
        if args.overwrite and loop.run_dir.exists() and getattr(loop, "is_main", True):  # [distributed] rank 0
            shutil.rmtree(loop.run_dir)
    row = loop.run()
    if getattr(loop, "is_main", True):
        print(_summary(loop.run_dir, row))
    return 0


def _summary(run_dir: Path, row: dict[str, float]) -> str:
    keys = ("charts/success_rate", "eval/success_discovered", "eval/success_heldout", "curriculum/discovered",
            "curriculum/mastered")
    parts = [f"{k.split('/')[1]}={row[k]:.3g}" for k in keys if k in row]
    return f"run: {run_dir}  " + "  ".join(parts)


def _eval(args: argparse.Namespace) -> int:
    from .distributed import loop_class

    loop = loop_class().resume(args.run_dir, [f"loop.eval_goals={args.goals}", f"loop.eval_repeats={args.repeats}"])
    res = loop.evaluate()
    if not getattr(loop, "is_main", True):  # [distributed] rank 0 evaluates and writes
        return 0
    for k, v in sorted(res.items()):
        print(f"{k:32s} {v:.3f}")
    out = Path(args.run_dir) / "eval.json"
    out.write_text(json.dumps({"step": loop.env_steps, **res}, indent=1))
    print(f"wrote {out}")
    return 0


def _graph(args: argparse.Namespace) -> int:
    from . import viz
    from .checkpoint import load_latest_checkpoint
    from .graph import GoalGraph

    run_dir = Path(args.run_dir)
    state, path = load_latest_checkpoint(run_dir)
    graph = GoalGraph.from_state_dict(state["graph"])
    out = Path(args.out or run_dir)
    written = viz.render_all(graph, out, state["loop"].get("timeline"))
    print(f"{len(graph.discovered())} goals discovered, {len(graph.mastered())} mastered (from {path.name}); "
          f"wrote {', '.join(written)} to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autotelic", description="Autotelic language agents: train, evaluate, draw.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="play one Playground-Text episode with the solver and print it")
    d.add_argument("--goal", default=None, help="e.g. 'Grow cow' (default: a random training goal)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--random", action="store_true", help="random actions instead of the BFS solver")
    d.set_defaults(func=_demo)
    t = sub.add_parser("train", help="train an autotelic agent (default config: a few minutes on 2 CPU cores)",
                       description="autotelic train [CONFIG] [key=value ...] | autotelic train --resume RUN_DIR "
                                   "[key=value ...]. CONFIG is a YAML path or a name in configs/ (default: default).")
    t.add_argument("items", nargs="*", metavar="[CONFIG] key=value", help="config file/name, then overrides")
    t.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue a run from its latest checkpoint")
    t.add_argument("--overwrite", action="store_true", help="delete an existing run of the same name first")
    t.set_defaults(func=_train)
    e = sub.add_parser("eval", help="greedy evaluation of a run's latest checkpoint")
    e.add_argument("run_dir")
    e.add_argument("--goals", type=int, default=64, help="discovered goals to evaluate (a seeded sample)")
    e.add_argument("--repeats", type=int, default=2, help="episodes per goal")
    e.set_defaults(func=_eval)
    g = sub.add_parser("graph", help="draw a run's goal graph (PNG, HTML, GraphML, JSON) and discovery timeline")
    g.add_argument("run_dir")
    g.add_argument("--out", default=None, help="output folder (default: the run directory)")
    g.set_defaults(func=_graph)
    return p


def main(argv: list[str] | None = None) -> int:
    from .checkpoint import CheckpointError
    from .lm import ModelUnavailableError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, ModelUnavailableError, CheckpointError) as e:
        # bad user input: one clear line, no traceback
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"autotelic: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
