"""Checkpoints: atomic save, weights_only round trip, corruption fallback, keep-last-K, RNG state, Ctrl-C."""
from __future__ import annotations

import collections
import dataclasses
import random
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from autotelic.checkpoint import (
    CheckpointError,
    checkpoint_step,
    graceful_interrupt,
    list_checkpoints,
    load_checkpoint,
    load_latest_checkpoint,
    save_checkpoint,
    to_plain,
    validate_state,
)
from autotelic.rng import get_rng_state, seed_everything, set_rng_state


def _state(seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    return {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "graph": {"nodes": ["Grasp carrot", "Grow carrot"], "edges": [("Grasp carrot", "Grow carrot", 2)]},
        "stats": {"step": 123, "alpha": 0.05, "done": True, "best": None, "ratio": float("inf")},
        "nested": [1, (2.5, "x", [None, False]), {"k": torch.arange(3)}],
    }


def _assert_equal(a, b) -> None:
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict)), (type(a), type(b))
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_equal(x, y)
    else:
        assert a == b


def test_round_trip_tensors_and_plain_types_weights_only(tmp_path: Path) -> None:
    state = _state()
    path = save_checkpoint(state, tmp_path, step=100)
    assert path == tmp_path / "checkpoints" / "ckpt_000000100.pt"
    assert checkpoint_step(path) == 100
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == path.name
    # The raw file itself is loadable without arbitrary pickle.
    raw = torch.load(path, weights_only=True)
    assert raw["step"] == 100
    loaded, lpath = load_latest_checkpoint(tmp_path)
    assert lpath == path
    _assert_equal(state, loaded)
    # Loaded state restores a model and an optimiser exactly.
    model = torch.nn.Linear(4, 3)
    model.load_state_dict(loaded["model"])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt.load_state_dict(loaded["optimizer"])
    assert torch.equal(model.weight, state["model"]["weight"])
    assert not list((tmp_path / "checkpoints").glob(".tmp_*")), "temp file left behind"


def test_unsafe_value_is_rejected_at_save_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"state\['graph'\]\['seen'\].*frozenset.*to_plain"):
        save_checkpoint({"graph": {"seen": frozenset({"a"})}}, tmp_path, step=1)
    assert list_checkpoints(tmp_path) == []


@dataclasses.dataclass
class _Rec:
    goal: str
    achieved: frozenset


def test_to_plain_makes_unsafe_values_loadable(tmp_path: Path) -> None:
    value = {
        "set": {3, 1, 2},
        "fs": frozenset({"b", "a"}),
        "dq": collections.deque([1, 2], maxlen=5),
        "arr": np.arange(6, dtype=np.float32).reshape(2, 3),
        "sarr": np.array(["x", "y"]),
        "scalars": [np.int64(4), np.float32(0.5), np.bool_(True)],
        "rec": _Rec("Grow carrot", frozenset({"Grasp carrot"})),
        "path": Path("/tmp/x"),
        np.int64(7): "numpy key",
    }
    plain = to_plain(value)
    save_checkpoint({"v": plain}, tmp_path, step=0)
    got, _ = load_latest_checkpoint(tmp_path)
    v = got["v"]
    assert v["set"] == [1, 2, 3] and v["fs"] == ["a", "b"] and v["dq"] == [1, 2]
    assert isinstance(v["arr"], torch.Tensor) and v["arr"].shape == (2, 3) and v["arr"].dtype == torch.float32
    assert v["sarr"] == ["x", "y"]
    assert v["scalars"] == [4, 0.5, True] and type(v["scalars"][0]) is int
    assert v["rec"] == {"goal": "Grow carrot", "achieved": ["Grasp carrot"]}
    assert v["path"] == "/tmp/x" and v[7] == "numpy key"
    with pytest.raises(TypeError, match="object"):
        to_plain({"bad": object()})


def test_truncated_newest_checkpoint_falls_back_to_previous(tmp_path: Path) -> None:
    save_checkpoint({"step": 1, "w": torch.ones(1000)}, tmp_path, step=1)
    newest = save_checkpoint({"step": 2, "w": torch.full((1000,), 2.0)}, tmp_path, step=2)
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # a write cut off half-way
    with pytest.warns(RuntimeWarning, match=r"ckpt_000000002\.pt is corrupt.*falling back"):
        state, path = load_latest_checkpoint(tmp_path)
    assert path.name == "ckpt_000000001.pt"
    assert state["step"] == 1 and torch.equal(state["w"], torch.ones(1000))


def test_no_valid_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="run directory not found"):
        load_latest_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match=r"no checkpoints .* in .*checkpoints"):
        load_latest_checkpoint(tmp_path)
    p = save_checkpoint({"a": 1}, tmp_path, step=5)
    p.write_bytes(b"")  # crashed before any byte reached the disk
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(CheckpointError) as ei:
            load_latest_checkpoint(tmp_path)
    msg = str(ei.value)
    assert "no valid checkpoint in" in msg and str(tmp_path) in msg and "empty (0 bytes)" in msg
    assert "\n" not in msg


def test_foreign_pickle_is_refused(tmp_path: Path) -> None:
    import pickle

    d = tmp_path / "checkpoints"
    d.mkdir(parents=True)
    (d / "ckpt_000000001.pt").write_bytes(pickle.dumps({"x": _Rec("a", frozenset())}, protocol=2))
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        load_checkpoint(d / "ckpt_000000001.pt")
    torch.save({"not": "ours"}, d / "ckpt_000000002.pt")
    with pytest.raises(CheckpointError, match="not an autotelic checkpoint"):
        load_checkpoint(d / "ckpt_000000002.pt")


def test_keep_last_k_and_abandoned_timeline(tmp_path: Path) -> None:
    for step in (10, 20, 30, 40, 50):
        save_checkpoint({"s": step}, tmp_path, step=step, keep_last=3)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [30, 40, 50]
    save_checkpoint({"s": 60}, tmp_path, step=60, keep_last=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [50, 60]
    # Resuming from 50 and saving 55 makes 60 stale: it is removed so "latest" is the current timeline.
    with pytest.warns(RuntimeWarning, match="newer than step 55"):
        save_checkpoint({"s": 55}, tmp_path, step=55, keep_last=3)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [50, 55]
    assert load_latest_checkpoint(tmp_path)[0] == {"s": 55}
    # A stale temp file from a killed save is ignored by loading and cleaned by the next save.
    stale = tmp_path / "checkpoints" / ".tmp_ckpt_000000070.pt.999"
    stale.write_bytes(b"partial")
    assert load_latest_checkpoint(tmp_path)[0] == {"s": 55}
    save_checkpoint({"s": 70}, tmp_path, step=70)
    assert not stale.exists()


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_step_rejected(tmp_path: Path, bad) -> None:
    with pytest.raises(ValueError, match="step"):
        save_checkpoint({}, tmp_path, step=bad)


def test_validate_state_lists_missing_keys() -> None:
    state = {"model": {}, "learner": {"actor": 1}, "rng": {}}
    validate_state(state, ["model", "learner.actor", "rng"])
    with pytest.raises(CheckpointError) as ei:
        validate_state(state, ["model", "optimizer", "learner.critic", "replay"], source="ckpt_000000001.pt")
    msg = str(ei.value)
    assert "malformed ckpt_000000001.pt" in msg
    assert "optimizer, learner.critic, replay" in msg
    assert "learner, model, rng" in msg
    with pytest.raises(CheckpointError, match="expected a dict"):
        validate_state([1, 2], ["model"])


def test_rng_state_round_trip_reproduces_draws(tmp_path: Path) -> None:
    gen = seed_everything(1234)
    random.random(), np.random.rand(), gen.random(), torch.rand(1)  # advance every stream
    np.random.randn()  # leaves a cached gaussian in the legacy state
    save_checkpoint({"rng": get_rng_state(gen)}, tmp_path, step=1)

    def draws(g: np.random.Generator):
        return (
            [random.random() for _ in range(3)],
            np.random.rand(3).tolist() + [np.random.randn()],
            g.random(3).tolist(),
            torch.rand(3).tolist(),
        )

    expected = draws(gen)
    seed_everything(999)  # scramble everything
    other = np.random.default_rng(5)
    other.random(7)
    state, _ = load_latest_checkpoint(tmp_path)
    set_rng_state(state["rng"], other)
    assert draws(other) == expected


def test_rng_state_errors() -> None:
    gen = np.random.default_rng(0)
    st = get_rng_state()
    with pytest.raises(KeyError, match="numpy_generator"):
        set_rng_state(st, gen)
    st = get_rng_state(np.random.Generator(np.random.MT19937(0)))
    with pytest.raises(ValueError, match="MT19937.*PCG64"):
        set_rng_state(st, gen)
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_graceful_interrupt_first_sets_flag_second_raises() -> None:
    before = signal.getsignal(signal.SIGINT)
    steps = 0
    with pytest.raises(KeyboardInterrupt):
        with graceful_interrupt() as flag:
            while not flag.requested:
                steps += 1
                if steps == 3:
                    signal.raise_signal(signal.SIGINT)
            assert flag.requested and flag.count == 1 and steps == 3
            signal.raise_signal(signal.SIGINT)  # second Ctrl-C: abort now
    assert signal.getsignal(signal.SIGINT) is before
