"""The ``autotelic`` command line."""
from __future__ import annotations

import argparse
import json
import os
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


def shipped_configs_dir() -> Path:
    """The folder of the configs shipped inside the package (``autotelic.configs``), for any install kind."""
    from importlib.resources import files

    return Path(str(files("autotelic.configs")))


def shipped_configs() -> list[str]:
    """Names ``autotelic train NAME`` accepts: the shipped YAML files, relative to their folder, without ``.yaml``."""
    root = shipped_configs_dir()
    return sorted(str(f.relative_to(root).with_suffix("")) for f in root.rglob("*.yaml"))


def find_config(name: str) -> str:
    """A YAML path as given, or a shipped config by name (``default``, ``ppo``, ``curricula/uniform`` ...).

    A name that is neither is an error: a run never falls back to other settings silently."""
    p = Path(name).expanduser()
    if p.is_file():
        return str(p)
    shipped = shipped_configs_dir() / (name if name.endswith(".yaml") else f"{name}.yaml")
    if shipped.is_file():
        return str(shipped)
    raise ValueError(f"config {name!r} not found: give a YAML path or a shipped config name "
                     f"({', '.join(shipped_configs())})")


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
    from .distributed import strategy_from_env
    from .loop import AutotelicLoop, resolve_run_dir
    from .schema import TrainConfig

    strategy = strategy_from_env()  # [distributed] DataParallel under accelerate launch / torchrun with N > 1
    say = print if strategy.is_main else (lambda *a, **k: None)  # [distributed] rank 0 speaks
    config, overrides = _split_args(args.items)
    if args.resume:
        if config is not None:
            raise ValueError("--resume takes the run directory's own config; give only key=value overrides")
        loop = AutotelicLoop.resume(args.resume, overrides, strategy=strategy)
        if loop.final:
            say(f"{loop.run_dir} is finished (env step {loop.env_steps} of {loop.total_env_steps}); to train it "
                f"further: autotelic train --resume {loop.run_dir} loop.total_env_steps={2 * loop.total_env_steps}",
                file=sys.stderr)
            return 0
        say(f"resuming {loop.run_dir} at env step {loop.env_steps} of {loop.total_env_steps}", file=sys.stderr)
    else:
        cfg = load_config(TrainConfig, find_config(config or "default"), overrides)
        run_dir = resolve_run_dir(cfg)
        ckpts = run_dir / "checkpoints"
        if not args.overwrite and ckpts.is_dir() and any(ckpts.iterdir()):
            raise ValueError(f"{run_dir} already holds a run: use --resume {run_dir}, another name=..., "
                             "or --overwrite")
        if args.overwrite and run_dir.exists() and strategy.is_main:
            shutil.rmtree(run_dir)
        loop = AutotelicLoop(cfg, strategy=strategy)
    row = loop.run()
    if loop.interrupted:
        say(f"stopped at env step {loop.env_steps} of {loop.total_env_steps}; checkpoint saved in "
            f"{loop.run_dir / 'checkpoints'}. Resume with: autotelic train --resume {loop.run_dir}", file=sys.stderr)
        return 130  # the shell's code for a run stopped by Ctrl-C (128 + SIGINT)
    say(_summary(loop.run_dir, row))
    return 0


def _summary(run_dir: Path, row: dict[str, float]) -> str:
    keys = ("charts/success_rate", "eval/success_discovered", "eval/success_heldout", "curriculum/discovered",
            "curriculum/mastered")
    parts = [f"{k.split('/')[1]}={row[k]:.3g}" for k in keys if k in row]
    return f"run: {run_dir}  " + "  ".join(parts)


def _eval(args: argparse.Namespace) -> int:
    from .distributed import strategy_from_env
    from .loop import AutotelicLoop

    loop = AutotelicLoop.resume(args.run_dir, [f"loop.eval_goals={args.goals}", f"loop.eval_repeats={args.repeats}"],
                                strategy=strategy_from_env())
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
    from .build import unwrapped
    from .checkpoint import load_latest_checkpoint
    from .config import load_config
    from .graph import GoalGraph
    from .schema import TrainConfig
    from .workers import make_env

    run_dir = Path(args.run_dir)
    state, path = load_latest_checkpoint(run_dir)
    graph = GoalGraph.from_state_dict(state["graph"])
    out = Path(args.out or run_dir)
    family = None
    if (run_dir / "config.yaml").is_file():  # the env names goal families for pictures of thousands of goals
        env = unwrapped(make_env(load_config(TrainConfig, str(run_dir / "config.yaml")).env))
        family = getattr(env, "goal_family", None)
    written = viz.render_all(graph, out, state["loop"].get("timeline"), family=family)
    print(f"{len(graph.discovered())} goals discovered, {len(graph.mastered())} mastered (from {path.name}); "
          f"wrote {', '.join(written)} to {out}")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("autotelic")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown (not installed)"


def config_sections() -> list[tuple[str, list[str]]]:
    """(section, its keys) for every section of the training config schema, top-level keys first as ''."""
    import dataclasses

    from .schema import TrainConfig

    top, sections = [], []
    for f in dataclasses.fields(TrainConfig):
        value = getattr(TrainConfig(), f.name)
        if dataclasses.is_dataclass(value):
            sections.append((f.name, [g.name for g in dataclasses.fields(value)]))
        else:
            top.append(f.name)
    return [("", top), *sections]


class _TrainHelp(argparse.Action):
    """``train --help``: the usage plus the shipped config names and every config section with its keys (this
    imports the schema, so only this help pays for torch)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        lines = ["shipped configs: " + ", ".join(shipped_configs()), "", "config sections (key=value overrides):"]
        for section, keys in config_sections():
            lines.append(f"  {section or '(top level)':12s} {', '.join(keys)}")
        lines.append("\nfull reference: autotelic/schema.py; the resolved config of a run is runs/NAME/config.yaml")
        parser.epilog = "\n".join(lines)
        parser.print_help()
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autotelic", description="Autotelic language agents: train, evaluate, draw.")
    p.add_argument("--version", action="version", version=f"autotelic {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="play one Playground-Text episode with the solver and print it")
    d.add_argument("--goal", default=None, help="e.g. 'Grow cow' (default: a random training goal)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--random", action="store_true", help="random actions instead of the BFS solver")
    d.set_defaults(func=_demo)
    t = sub.add_parser("train", help="train an autotelic agent (default config: a few minutes on 2 CPU cores)",
                       add_help=False, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="autotelic train [CONFIG] [key=value ...] | autotelic train --resume RUN_DIR "
                                   "[key=value ...]\nCONFIG is a YAML path or a shipped config name (default: "
                                   "default); key=value overrides any config key, e.g. her.gamma=0.9.")
    t.add_argument("-h", "--help", action=_TrainHelp, help="show this help (shipped configs, config sections)")
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
    args = build_parser().parse_args(argv)  # before any heavy import: --help and --version stay instant
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # dotted paths (env.id=my_env:MyEnv) import from here, as `python -m` does
    from .checkpoint import CheckpointError
    from .lm import ModelUnavailableError

    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, ModelUnavailableError, CheckpointError) as e:
        # bad user input: one clear line, no traceback
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"autotelic: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
