"""MetricLogger: JSONL + CSV with growing columns, resume truncation, TensorBoard switch."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import autotelic.metrics as metrics_mod
from autotelic.metrics import MetricLogger, read_metrics, tensorboard_available


def _read_csv(run_dir: Path) -> tuple[list[str], list[dict]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def test_csv_with_growing_keys_stays_valid(tmp_path: Path) -> None:
    with MetricLogger(tmp_path, use_tensorboard=False) as log:
        log.log(0, {"charts/success_rate": 0.1, "losses/critic": 1.5})
        log.log(1, {"charts/success_rate": 0.2, "losses/critic": 1.2, "her/relabel_frac": 0.8})
        log.log(2, {"eval/success_rate": np.float32(0.5), "curriculum/num_goals": 7})
        log.log(3, {"charts/success_rate": torch.tensor(0.4), "losses/critic": float("nan")})
    header, rows = _read_csv(tmp_path)
    assert header == ["step", "charts/success_rate", "losses/critic", "her/relabel_frac",
                      "eval/success_rate", "curriculum/num_goals"]
    assert len(rows) == 4
    assert all(None not in r and len(r) == len(header) for r in rows), "ragged CSV row"
    assert rows[0] == {"step": "0", "charts/success_rate": "0.1", "losses/critic": "1.5", "her/relabel_frac": "",
                       "eval/success_rate": "", "curriculum/num_goals": ""}
    assert rows[1]["her/relabel_frac"] == "0.8"
    assert rows[2]["curriculum/num_goals"] == "7" and rows[2]["charts/success_rate"] == ""
    assert float(rows[2]["eval/success_rate"]) == 0.5
    assert math.isnan(float(rows[3]["losses/critic"]))
    # Every line of the file has as many fields as the header (what pandas requires).
    with open(tmp_path / "metrics.csv", newline="") as f:
        assert {len(r) for r in csv.reader(f)} == {len(header)}

    js = read_metrics(tmp_path)
    assert [r["step"] for r in js] == [0, 1, 2, 3]
    assert js[2] == {"step": 2, "eval/success_rate": 0.5, "curriculum/num_goals": 7}
    assert type(js[2]["curriculum/num_goals"]) is int


def test_bad_metrics_are_rejected(tmp_path: Path) -> None:
    with MetricLogger(tmp_path, use_tensorboard=False) as log:
        with pytest.raises(ValueError, match="'charts/x'.*number"):
            log.log(0, {"charts/x": "high"})
        with pytest.raises(ValueError, match="reserved"):
            log.log(0, {"step": 1})
        with pytest.raises(ValueError, match="scalar"):
            log.log(0, {"losses/q": torch.ones(2)})
        with pytest.raises(ValueError, match="step"):
            log.log(-1, {"a": 1.0})
    assert read_metrics(tmp_path) == []
    with pytest.raises(RuntimeError, match="closed"):
        log.log(1, {"a": 1.0})


def _run(run_dir: Path, steps: range, resume_step: int | None = None) -> None:
    with MetricLogger(run_dir, use_tensorboard=False, resume_step=resume_step) as log:
        for s in steps:
            m = {"charts/return": s * 0.5}
            if s >= 4:
                m["eval/success_rate"] = s / 10
            log.log(s, m)


def test_resume_drops_rows_after_checkpoint_and_matches_uninterrupted(tmp_path: Path) -> None:
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    _run(full, range(10))
    _run(resumed, range(8))  # ran to step 7, but the last checkpoint was at step 5
    _run(resumed, range(6, 10), resume_step=5)
    assert read_metrics(resumed) == read_metrics(full)
    assert (resumed / "metrics.csv").read_text() == (full / "metrics.csv").read_text()


def test_resume_before_new_columns_shrinks_csv_header(tmp_path: Path) -> None:
    _run(tmp_path, range(6))  # eval/ column appears at step 4
    MetricLogger(tmp_path, use_tensorboard=False, resume_step=2).close()
    header, rows = _read_csv(tmp_path)
    assert header == ["step", "charts/return"] and [r["step"] for r in rows] == ["0", "1", "2"]


def test_torn_last_jsonl_line_is_dropped_on_reopen(tmp_path: Path) -> None:
    _run(tmp_path, range(3))
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "charts/ret')  # the process died mid-write
    with pytest.warns(RuntimeWarning, match="truncated last line"):
        log = MetricLogger(tmp_path, use_tensorboard=False)
    log.log(3, {"charts/return": 1.5})
    log.close()
    assert [r["step"] for r in read_metrics(tmp_path)] == [0, 1, 2, 3]
    _, rows = _read_csv(tmp_path)
    assert [r["step"] for r in rows] == ["0", "1", "2", "3"]


def test_corrupt_middle_line_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 0}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2: not valid JSON"):
        read_metrics(tmp_path)
    with pytest.raises(FileNotFoundError, match="no metrics file"):
        read_metrics(tmp_path / "empty")


class _FakeWriter:
    def __init__(self, log_dir, purge_step):
        self.log_dir, self.purge_step, self.scalars, self.closed = log_dir, purge_step, [], False

    def add_scalar(self, tag, value, global_step):
        self.scalars.append((tag, value, global_step))

    def close(self):
        self.closed = True


def test_tensorboard_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[_FakeWriter] = []
    monkeypatch.setattr(metrics_mod, "_make_summary_writer", lambda d, p: made.append(_FakeWriter(d, p)) or made[-1])
    monkeypatch.setattr(metrics_mod, "tensorboard_available", lambda: True)
    _run(tmp_path, range(6))  # (use_tensorboard=False)
    with MetricLogger(tmp_path, resume_step=4) as log:  # auto -> on
        log.log(5, {"losses/actor": 0.25})
    assert len(made) == 1 and made[0].purge_step == 5 and made[0].closed
    assert made[0].scalars == [("losses/actor", 0.25, 5)]
    MetricLogger(tmp_path / "off", use_tensorboard=False).close()
    assert len(made) == 1
    monkeypatch.setattr(metrics_mod, "tensorboard_available", lambda: False)
    MetricLogger(tmp_path / "auto").close()  # auto -> off, no error
    assert len(made) == 1
    with pytest.raises(ImportError, match="tensorboard"):
        MetricLogger(tmp_path / "forced", use_tensorboard=True)


@pytest.mark.skipif(not tensorboard_available(), reason="tensorboard not installed")
def test_real_tensorboard_writes_events(tmp_path: Path) -> None:
    with MetricLogger(tmp_path, use_tensorboard=True) as log:
        log.log(0, {"charts/success_rate": 0.5})
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_jsonl_rows_are_flushed_before_close(tmp_path: Path) -> None:
    log = MetricLogger(tmp_path, use_tensorboard=False)
    log.log(0, {"a": 1.0})
    assert json.loads((tmp_path / "metrics.jsonl").read_text()) == {"step": 0, "a": 1.0}
    assert (tmp_path / "metrics.csv").read_text().splitlines() == ["step,a", "0,1.0"]
    log.close()
