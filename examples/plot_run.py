"""Plot a run's learning curves from its metrics.jsonl.

    python examples/plot_run.py runs/default [--out curves.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from autotelic.metrics import read_metrics  # noqa: E402

PANELS = [("charts/success_rate", "eval/success_discovered", "eval/success_heldout"),
          ("curriculum/discovered", "curriculum/mastered"),
          ("losses/critic", "losses/actor"),
          ("charts/alpha", "charts/entropy", "charts/target_entropy")]


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Draw one panel per metric group against env steps; return the PNG path."""
    rows = read_metrics(run_dir)
    if not rows:
        raise SystemExit(f"{run_dir}: no metrics yet")
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.4))
    for ax, keys in zip(axes, PANELS):
        for key in keys:
            pts = [(r["step"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts), label=key.split("/", 1)[1], marker="." if len(pts) < 30 else None)
        ax.set_xlabel("env steps")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(str(run_dir))
    fig.tight_layout()
    out = Path(out or Path(run_dir) / "curves.png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    print(plot_run(a.run_dir, a.out))
