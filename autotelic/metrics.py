"""Scalar metric logging to ``metrics.jsonl`` (source of truth), ``metrics.csv`` and TensorBoard when installed.

One row per :meth:`MetricLogger.log` call: ``{"step": step, name: value, ...}`` with names such as
``charts/success_rate``, ``losses/critic``, ``curriculum/...``, ``her/...``, ``eval/...``. The CSV's columns are
``step`` then metric names in first-seen order; when a new name appears the CSV is rewritten with the wider header
(earlier rows get empty cells), so it always reads with ``csv.DictReader``/pandas. Reopening a run directory with
``resume_step`` drops rows with ``step > resume_step`` so a resumed run's metrics equal an uninterrupted run's.
"""
from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import numbers
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import atomic_write

__all__ = ["METRICS_CSV", "METRICS_JSONL", "MetricLogger", "read_metrics", "tensorboard_available"]

METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
TENSORBOARD_DIRNAME = "tensorboard"


def tensorboard_available() -> bool:
    """True when the ``tensorboard`` package (needed by torch.utils.tensorboard) is importable."""
    return importlib.util.find_spec("tensorboard") is not None


def _make_summary_writer(log_dir: Path, purge_step: int | None) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def _read_jsonl(path: Path) -> tuple[list[dict], bool]:
    """Rows of a metrics JSONL file and whether a torn last line (a write cut short) was dropped."""
    rows: list[dict] = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    torn = False
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines):  # only the last line can be torn by a crash mid-write
                warnings.warn(f"{path}: dropping a truncated last line ({e.msg})", RuntimeWarning, stacklevel=3)
                torn = True
                break
            raise ValueError(f"{path}:{i}: not valid JSON ({e.msg}); the metrics file is corrupt") from e
        if not isinstance(row, dict) or "step" not in row:
            raise ValueError(f"{path}:{i}: expected an object with a 'step' field, got {line[:80]!r}")
        rows.append(row)
    return rows, torn


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """All rows of ``<run_dir>/metrics.jsonl`` in order (a torn last line is dropped with a warning)."""
    path = Path(run_dir) / METRICS_JSONL
    if not path.is_file():
        raise FileNotFoundError(f"no metrics file: {path}")
    return _read_jsonl(path)[0]


def _to_number(name: str, value: Any) -> int | float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"metric {name!r}: expected a scalar, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    elif isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"metric {name!r}: expected a scalar, got an array of shape {value.shape}")
        value = value.item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise ValueError(f"metric {name!r}: expected a number, got {type(value).__qualname__} {value!r:.60}")


def _columns_of(rows: list[dict]) -> list[str]:
    cols = ["step"]
    seen = {"step"}
    for row in rows:
        for k in row:
            if k not in seen:
                seen.add(k)
                cols.append(k)
    return cols


class MetricLogger:
    """Append-only scalar logger for one run directory; use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        run_dir: str | os.PathLike,
        use_tensorboard: bool | None = None,
        resume_step: int | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = self.run_dir / METRICS_JSONL
        self.csv_path = self.run_dir / METRICS_CSV
        if resume_step is not None and (isinstance(resume_step, bool) or int(resume_step) != resume_step):
            raise ValueError(f"resume_step must be an int or None, got {resume_step!r}")

        rows: list[dict] = []
        if self.jsonl_path.exists():
            rows, torn = _read_jsonl(self.jsonl_path)
            n = len(rows)
            if resume_step is not None:
                rows = [r for r in rows if r["step"] <= resume_step]
            if torn or len(rows) != n:
                self._rewrite_jsonl(rows)
        elif resume_step is not None and resume_step > 0:
            warnings.warn(f"resuming at step {resume_step} but {self.jsonl_path} does not exist", RuntimeWarning,
                          stacklevel=2)
        # The CSV is derived from the JSONL: rebuild it so both agree after any crash or truncation.
        self._columns = _columns_of(rows)
        self._rewrite_csv(rows)
        self.num_rows = len(rows)

        self._jsonl = open(self.jsonl_path, "a", encoding="utf-8")
        self._csv = open(self.csv_path, "a", encoding="utf-8", newline="")
        self._closed = False

        if use_tensorboard is None:
            use_tensorboard = tensorboard_available()
        elif use_tensorboard and not tensorboard_available():
            raise ImportError("use_tensorboard=True but the 'tensorboard' package is not installed "
                              "(pip install tensorboard, or pass use_tensorboard=None/False)")
        self._tb = None
        if use_tensorboard:
            purge = None if resume_step is None else int(resume_step) + 1
            self._tb = _make_summary_writer(self.run_dir / TENSORBOARD_DIRNAME, purge)

    # -- writing -----------------------------------------------------------------------------------------------
    def log(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Append one row ``{"step": step, **metrics}`` to every sink (each file flushed)."""
        if self._closed:
            raise RuntimeError(f"MetricLogger for {self.run_dir} is closed")
        if isinstance(step, bool) or not isinstance(step, (numbers.Integral,)) or step < 0:
            raise ValueError(f"step must be a non-negative int, got {step!r}")
        if not isinstance(metrics, Mapping):
            raise TypeError(f"metrics must be a mapping of name -> number, got {type(metrics).__qualname__}")
        row: dict[str, int | float] = {"step": int(step)}
        for name, value in metrics.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"metric names must be non-empty strings, got {name!r}")
            if name == "step":
                raise ValueError("'step' is reserved for the step column; pass it as the step argument")
            row[name] = _to_number(name, value)

        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()

        new = [k for k in row if k not in self._columns]
        if new:
            self._columns.extend(new)
            self._widen_csv()
        csv.DictWriter(self._csv, fieldnames=self._columns, restval="").writerow(
            row
        )
        self._csv.flush()

        if self._tb is not None:
            for name, value in row.items():
                if name != "step":
                    self._tb.add_scalar(name, value, global_step=int(step))
        self.num_rows += 1

    def close(self) -> None:
        """Flush and close every sink (idempotent)."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        for f in (self._jsonl, self._csv):
            with contextlib.suppress(OSError):
                f.flush()
                os.fsync(f.fileno())
            f.close()
        if self._tb is not None:
            self._tb.close()

    def __enter__(self) -> MetricLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # -- file rewriting (atomic: temp file + os.replace) -----------------------------------------------------------
    def _replace(self, path: Path, text_writer: Any) -> None:
        atomic_write(path, text_writer, binary=False)

    def _rewrite_jsonl(self, rows: list[dict]) -> None:
        self._replace(self.jsonl_path, lambda f: f.writelines(json.dumps(r) + "\n" for r in rows))

    def _rewrite_csv(self, rows: list[dict]) -> None:
        def write(f: Any) -> None:
            w = csv.DictWriter(f, fieldnames=self._columns, restval="")
            w.writeheader()
            for r in rows:
                w.writerow(r)

        self._replace(self.csv_path, write)

    def _widen_csv(self) -> None:
        """Rewrite the CSV under the current (wider) header, keeping its existing cells verbatim."""
        self._csv.close()
        with open(self.csv_path, encoding="utf-8", newline="") as f:
            old = list(csv.DictReader(f))

        def write(f: Any) -> None:
            w = csv.DictWriter(f, fieldnames=self._columns, restval="")
            w.writeheader()
            w.writerows(old)

        self._replace(self.csv_path, write)
        self._csv = open(self.csv_path, "a", encoding="utf-8", newline="")
