"""Callbacks: what the loop core does besides training, each a small object with hooks (SB3's ``BaseCallback``).

The core calls, in list order, ``on_run_start(core)`` once, ``on_step(core, before, now)`` after every iteration
(env steps went from ``before`` to ``now``), ``on_run_end(core, interrupted)`` when the budget is spent or Ctrl-C
stopped the run, and ``close(core)`` always (also on errors). A callback with ``main_only = True`` runs on rank 0
only (it writes outputs); ``main_only = False`` runs on every process (it takes part in a collective).
``default_callbacks(cfg.loop, ...)`` is the built-in list: evaluation, metrics, snapshots, checkpoints, pictures,
progress bar.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .atomic import atomic_write_text
from .config import save_config
from .core import crossed
from .evaluate import Evaluator
from .metrics import MetricLogger
from .vocab import UnkMonitor

__all__ = ["Callback", "CheckpointCallback", "ConfigCallback", "EvalCallback", "LogCallback", "ProgressCallback",
           "RenderCallback", "SnapshotCallback", "TIMING_METRICS", "default_callbacks"]

TIMING_METRICS = ("charts/sps", "charts/updates_per_s", "charts/wall_time")
# the goal graph's summary under the curriculum/ prefix; its mean LP is not the LP curriculum's own mean LP
_GRAPH_NAMES = {"graph/mean_lp": "curriculum/graph_mean_lp"}


def _say(line: str) -> None:
    """One line to stderr that does not glue itself to a tqdm progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


class Callback:
    """Base class: every hook does nothing."""

    main_only = True

    def on_run_start(self, core: Any) -> None:
        pass

    def on_step(self, core: Any, before: int, now: int) -> None:
        pass

    def on_run_end(self, core: Any, interrupted: bool) -> None:
        pass

    def close(self, core: Any) -> None:
        pass


class ConfigCallback(Callback):
    """Create the run directory and write the resolved config (``config.yaml``) at the start of a run."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    def on_run_start(self, core: Any) -> None:
        core.run_dir.mkdir(parents=True, exist_ok=True)
        save_config(dataclasses.replace(self.cfg, run_dir=str(core.run_dir)), core.run_dir / "config.yaml")


class EvalCallback(Callback):
    """Greedy evaluation every ``every`` env steps and at the end; its metrics join the next log row."""

    def __init__(self, evaluator: Evaluator, every: int) -> None:
        self.evaluator, self.every = evaluator, int(every)

    def on_step(self, core: Any, before: int, now: int) -> None:
        if core.final or crossed(before, now, self.every):
            core.record(self.evaluator(core.policy, core.graph, core.env_steps, core.curriculum))


class LogCallback(Callback):
    """One metric row every ``every`` env steps and at the end (CSV/JSONL, TensorBoard when installed).

    Runs on every process: the learner metrics of a row are the mean over every update of every process.
    """

    main_only = False

    def __init__(self, every: int, goal_family: Callable[[str], str | None] | None = None) -> None:
        self.every = int(every)
        self.goal_family = goal_family  # envs that name goal families get per-family counts
        self.logger: MetricLogger | None = None
        self._warned: set[str] = set()
        self._unk = UnkMonitor(emit=_say)

    def on_run_start(self, core: Any) -> None:
        if core.is_main:
            self.logger = MetricLogger(core.run_dir, resume_step=core.env_steps or None)
        core.start_clock()
        self._t_log, self._steps_log, self._updates_log = time.perf_counter(), core.env_steps, self._updates(core)
        core.update_time = 0.0

    @staticmethod
    def _updates(core: Any) -> int:
        return int(core.learner.num_updates)

    def on_step(self, core: Any, before: int, now: int) -> None:
        if core.final or crossed(before, now, self.every):
            core.last_row = self.log(core)

    def log(self, core: Any) -> dict[str, float]:
        """Write one row: the recorded metrics' means, training statistics, graph and curriculum metrics."""
        now = time.perf_counter()
        dt = max(now - self._t_log, 1e-9)
        pending = core.strategy.merge_metrics(core.pending)
        row = {k: float(np.mean(v)) for k, v in pending.items()}
        row.update({
            "charts/episodes": float(core.episodes),
            "charts/success_rate": float(np.mean(core.recent)) if core.recent else 0.0,
            "charts/episode_length": float(np.mean(core.recent_len)) if core.recent_len else 0.0,
            "charts/sps": (core.env_steps - self._steps_log) / dt,
            "charts/updates_per_s": (self._updates(core) - self._updates_log) / max(core.update_time, 1e-9),
            "charts/wall_time": core.wall_time(),
        })
        row.update(self._unk_rate(core))
        graph = {_GRAPH_NAMES.get(k, k.replace("graph/", "curriculum/")): v for k, v in core.graph.summary().items()}
        row.update(graph)
        for k, v in core.curriculum.metrics().items():
            if k in graph:  # a curriculum may not overwrite the graph's counts
                self._warn_once(f"curriculum metric {k!r} clashes with the goal graph's; dropped")
                continue
            row[k] = v
        row.update(self._by_family(core.graph))
        core.timeline.append({"step": core.env_steps, "discovered": int(graph["curriculum/discovered"]),
                              "mastered": int(graph["curriculum/mastered"])})
        if self.logger is not None:
            self.logger.log(core.env_steps, row)
        core.pending.clear()
        self._t_log, self._steps_log, self._updates_log = now, core.env_steps, self._updates(core)
        core.update_time = 0.0
        return row

    def _by_family(self, graph: Any) -> dict[str, float]:
        """``curriculum/discovered/<family>`` and ``curriculum/mastered/<family>`` for envs that name families."""
        if self.goal_family is None:
            return {}
        out: dict[str, float] = {}
        for kind, goals in (("discovered", graph.discovered()), ("mastered", graph.mastered())):
            for goal in goals:
                family = self.goal_family(goal)
                if family:
                    key = f"curriculum/{kind}/{family}"
                    out[key] = out.get(key, 0.0) + 1.0
        return dict(sorted(out.items()))

    def _warn_once(self, text: str) -> None:
        if text not in self._warned:
            self._warned.add(text)
            _say(f"autotelic: warning: {text}")

    def _unk_rate(self, core: Any) -> dict[str, float]:
        """``charts/unk_rate`` (share of [UNK] tokens read since the last row); one warning line the first time it
        is above ``autotelic.vocab.UNK_WARN_THRESHOLD``."""
        lm = getattr(core.policy, "lm", None)
        if not callable(getattr(lm, "unk_rate", None)):
            return {}
        return {"charts/unk_rate": self._unk.read(lm)}

    def close(self, core: Any) -> None:
        if self.logger is not None:
            self.logger.close()
            self.logger = None


class SnapshotCallback(Callback):
    """The goal graph as JSON under ``graph/`` and the discovery timeline, every ``every`` env steps and at the end."""

    def __init__(self, every: int) -> None:
        self.every = int(every)

    def on_step(self, core: Any, before: int, now: int) -> None:
        if crossed(before, now, self.every):
            self.snapshot(core)

    def on_run_end(self, core: Any, interrupted: bool) -> None:
        if not interrupted:
            self.snapshot(core)

    @staticmethod
    def snapshot(core: Any) -> Path:
        out = core.run_dir / "graph"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"graph_{core.env_steps:09d}.json"
        core.graph.to_json(path)
        atomic_write_text(core.run_dir / "timeline.json", json.dumps(core.timeline))
        return path


class CheckpointCallback(Callback):
    """A checkpoint every ``every`` env steps, at the end and on Ctrl-C (collective: runs on every process)."""

    main_only = False

    def __init__(self, every: int) -> None:
        self.every = int(every)

    def on_step(self, core: Any, before: int, now: int) -> None:
        if crossed(before, now, self.every):
            core.save()

    def on_run_end(self, core: Any, interrupted: bool) -> None:
        core.save()


class RenderCallback(Callback):
    """The run's pictures (graph PNG/HTML/GraphML/JSON, timeline) at the end of a finished run; beyond a few
    thousand goals they aggregate by ``goal_family``."""

    def __init__(self, goal_family: Callable[[str], str | None] | None = None) -> None:
        self.goal_family = goal_family

    def on_run_end(self, core: Any, interrupted: bool) -> None:
        if not interrupted:
            from . import viz

            viz.render_all(core.graph, core.run_dir, core.timeline, family=self.goal_family)


class ProgressCallback(Callback):
    """A tqdm bar over env steps with the last row's success, goals found/mastered, env steps/s and an ETA.

    The ETA is measured from the first learner update on (the warm-up before ``learning_starts`` runs many times
    faster than training, so tqdm's own estimate would be far too short).
    """

    FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"

    def __init__(self, total: int) -> None:
        self.total = int(total)
        self.bar: Any = None
        self._shown: Any = None
        self._since: tuple[float, int] | None = None  # (time, env steps) at the first update

    def on_run_start(self, core: Any) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, initial=min(core.env_steps, self.total), unit="step", dynamic_ncols=True,
                        desc="autotelic", bar_format=self.FORMAT)

    def on_step(self, core: Any, before: int, now: int) -> None:
        if self.bar is None:
            return
        if self._since is None and core.learner.num_updates > 0:
            self._since = (time.perf_counter(), now)
        row = core.last_row
        if row and row is not self._shown:
            self._shown = row
            post = {"success": f"{row['charts/success_rate']:.2f}", "found": int(row["curriculum/discovered"]),
                    "mastered": int(row["curriculum/mastered"]), "sps": f"{row['charts/sps']:.0f}"}
            eta = self._eta(now)
            if eta is not None:
                post["eta"] = eta
            self.bar.set_postfix(post)
        self.bar.update(min(now, self.total) - min(before, self.total))

    def _eta(self, now: int) -> str | None:
        if self._since is None or now <= self._since[1]:
            return None
        rate = (now - self._since[1]) / max(time.perf_counter() - self._since[0], 1e-9)
        left = max(self.total - now, 0) / rate
        return f"{int(left // 60)}:{int(left % 60):02d}"

    def close(self, core: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def default_callbacks(cfg: Any, evaluator: Evaluator) -> list[Callback]:
    """The built-in callbacks for a ``TrainConfig``, in the order they run after each iteration."""
    lc = cfg.loop
    callbacks: list[Callback] = [ConfigCallback(cfg), EvalCallback(evaluator, lc.eval_every),
                                 LogCallback(lc.log_every, evaluator.goal_family), SnapshotCallback(lc.snapshot_every),
                                 CheckpointCallback(lc.checkpoint_every), RenderCallback(evaluator.goal_family)]
    if lc.progress:
        callbacks.append(ProgressCallback(lc.total_env_steps))
    return callbacks
