"""The default run is reproducible across refactors: a short run with the shipped default config and a fixed seed
gives the metrics recorded in ``tests/data/reference_default_run.json`` (timing columns excluded).

Re-record only for a change that is meant to alter the numbers, and say so in the commit message:
``python tests/test_regression.py`` rewrites the file.
"""
import json
import math
import sys
from pathlib import Path

from autotelic.cli import find_config
from autotelic.config import load_config
from autotelic.loop import TIMING_METRICS, AutotelicLoop
from autotelic.metrics import read_metrics
from autotelic.schema import TrainConfig

REFERENCE = Path(__file__).resolve().parent / "data" / "reference_default_run.json"
SHORT = ["loop.total_env_steps=640", "env.n_envs=4", "sac.learning_starts=64", "loop.log_every=128",
         "loop.eval_every=320", "loop.eval_goals=4", "loop.checkpoint_every=0", "loop.snapshot_every=0",
         "loop.progress=false"]


def short_default_run(run_dir: Path) -> list[dict]:
    cfg = load_config(TrainConfig, find_config("default"), SHORT + [f"run_dir={run_dir}"])
    AutotelicLoop(cfg).run()
    return [{k: v for k, v in r.items() if k not in TIMING_METRICS} for r in read_metrics(run_dir)]


# Statistics of the networks (sums of floats): CPUs with other vector units round them differently, and the
# difference grows with every update (another x86-64 machine than the recording one: 1e-7 relative up to step 384,
# 1.3e-4 at step 512, 3.7e-3 on losses/alpha at 640; a third, 4.2e-5 on losses/critic at step 384 with the landed
# code of ffdb979 as with later code; a fourth, with the code of 65201d1 whose recording passed where it was made, by
# up to 1.9e-4 relative on charts/entropy and 1.7e-4 absolute on losses/alpha, a near-cancelling sum, by step 256).
# Everything else (episodes, successes, goals, the curriculum)
# follows discrete events and must match exactly.
CONTINUOUS = ("losses/", "charts/alpha", "charts/entropy", "charts/q_mean", "charts/target_mean", "_grad_norm")
COMPARED_UNTIL = 384  # later rows: on the fourth machine the drift (2% on losses/alpha at 512) flips a sampled
#                       action and the discrete counts part at 640, so only the rows before are machine-independent
TIGHT_UNTIL = 256  # the rows before drift compounds: the same maths to 1e-3 relative (a changed loss moves more)


def _tolerance(key: str, step: int) -> dict[str, float]:
    if not any(c in key for c in CONTINUOUS):
        return {"rel_tol": 1e-9, "abs_tol": 1e-12}
    return {"rel_tol": 1e-3, "abs_tol": 5e-4} if step <= TIGHT_UNTIL else {"rel_tol": 2e-2, "abs_tol": 2e-3}


def test_short_default_run_matches_the_recorded_metrics(tmp_path):
    reference = json.loads(REFERENCE.read_text())
    rows = short_default_run(tmp_path / "run")
    assert [r["step"] for r in rows] == [r["step"] for r in reference]
    for ref, row in zip(reference, rows):
        if ref["step"] > COMPARED_UNTIL:
            break
        for key, want in ref.items():
            assert key in row, f"metric {key} missing at step {ref['step']}"
            assert math.isclose(row[key], want, **_tolerance(key, ref["step"])), \
                f"{key} at step {ref['step']}: {row[key]} != recorded {want}"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        REFERENCE.write_text(json.dumps(short_default_run(Path(d) / "run"), indent=0))
    print(f"wrote {REFERENCE}", file=sys.stderr)
