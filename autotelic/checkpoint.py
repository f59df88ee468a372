"""Atomic, weights_only-safe checkpoints of a run's state, with corruption fallback and graceful Ctrl-C.

Layout: ``<run_dir>/checkpoints/ckpt_{step:09d}.pt`` plus a text pointer ``latest`` naming the newest file.
Each file holds ``{"format": 1, "step": step, "state": state}``; ``state`` is a nested dict of tensors and plain
Python values (dict/list/tuple/set/str/bytes/int/float/complex/bool/None, torch dtype/device/Size) so that it loads
with ``torch.load(..., weights_only=True)`` — no arbitrary pickle. One writer per run directory.
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import enum
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import TMP_PREFIX, atomic_write, fsync_dir

__all__ = [
    "CHECKPOINT_DIRNAME",
    "CheckpointError",
    "InterruptFlag",
    "checkpoint_path",
    "checkpoint_step",
    "check_weights_only_safe",
    "graceful_interrupt",
    "list_checkpoints",
    "load_checkpoint",
    "load_latest_checkpoint",
    "save_checkpoint",
    "to_plain",
    "validate_state",
]

CHECKPOINT_DIRNAME = "checkpoints"
LATEST_POINTER = "latest"
FORMAT_VERSION = 1
_CKPT_RE = re.compile(r"^ckpt_(\d{9,})\.pt$")

# Leaf types that torch's weights_only unpickler accepts (checked on torch 2.4–2.13).
_SAFE_LEAVES: tuple[type, ...] = (
    str, bytes, int, float, complex, bool, type(None), torch.Tensor, torch.dtype, torch.device, torch.Size,
)


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or malformed; the message names the file/directory and the problem."""


# ----------------------------------------------------------------------------------------------------------------
# Conversion to weights_only-safe values
# ----------------------------------------------------------------------------------------------------------------
def _sort_key(x: Any) -> tuple[str, str]:
    return (type(x).__name__, repr(x))


def to_plain(obj: Any) -> Any:
    """Recursively convert ``obj`` into values ``torch.load(weights_only=True)`` accepts.

    sets/frozensets → sorted lists, deques → lists, numeric numpy arrays → tensors (others → nested lists),
    numpy scalars → Python scalars, dataclasses → dicts, Enums → their value, Paths → str; tensors are kept.
    Raises TypeError naming the offending type for anything else.
    """
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, enum.Enum):
        return to_plain(obj.value)
    if isinstance(obj, (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device, torch.Size)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "biufc":
            try:
                return torch.from_numpy(np.ascontiguousarray(obj).copy())
            except TypeError:  # a dtype torch lacks
                return obj.tolist()
        return to_plain(obj.tolist())
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        out = {to_plain_key(k): to_plain(v) for k, v in obj.items()}
        return collections.OrderedDict(out) if isinstance(obj, collections.OrderedDict) else out
    if isinstance(obj, (set, frozenset)):
        items = [to_plain(x) for x in obj]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=_sort_key)
    if isinstance(obj, tuple):
        return tuple(to_plain(x) for x in obj)
    if isinstance(obj, (list, collections.deque)):
        return [to_plain(x) for x in obj]
    raise TypeError(f"to_plain: cannot convert a value of type {type(obj).__qualname__} to a checkpoint-safe type")


def to_plain_key(key: Any) -> Any:
    """Convert a mapping key (must stay hashable): numpy scalars → Python, frozensets → sorted tuples."""
    if isinstance(key, np.generic):
        return key.item()
    if isinstance(key, frozenset):
        try:
            return tuple(sorted(key))
        except TypeError:
            return tuple(sorted(key, key=_sort_key))
    if isinstance(key, enum.Enum):
        return to_plain_key(key.value)
    if isinstance(key, tuple):
        return tuple(to_plain_key(k) for k in key)
    return key


def check_weights_only_safe(obj: Any, _path: str = "state") -> None:
    """Raise TypeError naming the first value (by path) that ``torch.load(weights_only=True)`` would reject."""
    if isinstance(obj, _SAFE_LEAVES):
        return
    if type(obj) in (dict, collections.OrderedDict):
        for k, v in obj.items():
            check_weights_only_safe(k, f"{_path} key {k!r}")
            check_weights_only_safe(v, f"{_path}[{k!r}]")
        return
    if type(obj) in (list, tuple, set):
        for i, v in enumerate(obj):
            check_weights_only_safe(v, f"{_path}[{i}]")
        return
    raise TypeError(
        f"{_path}: a value of type {type(obj).__qualname__} cannot be loaded with torch.load(weights_only=True); "
        "convert it with autotelic.checkpoint.to_plain() (or a state_dict of plain types) before saving"
    )


# ----------------------------------------------------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------------------------------------------------
def _ckpt_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / CHECKPOINT_DIRNAME


def checkpoint_path(run_dir: str | os.PathLike, step: int) -> Path:
    """Path of the checkpoint for ``step`` in ``run_dir``."""
    return _ckpt_dir(run_dir) / f"ckpt_{step:09d}.pt"


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """All ``(step, path)`` checkpoint files of ``run_dir``, oldest step first (valid or not)."""
    d = _ckpt_dir(run_dir)
    if not d.is_dir():
        return []
    found = []
    for p in d.iterdir():
        m = _CKPT_RE.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def save_checkpoint(state: dict, run_dir: str | os.PathLike, step: int, keep_last: int = 3) -> Path:
    """Atomically write ``state`` as ``checkpoints/ckpt_{step:09d}.pt``; keep the newest ``keep_last`` files.

    Checkpoints with a step greater than ``step`` belong to an abandoned timeline (a run resumed from an older
    checkpoint) and are removed with a warning, so "latest" always means the current timeline.
    """
    if not isinstance(state, dict):
        raise TypeError(f"save_checkpoint: state must be a dict, got {type(state).__qualname__}")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"save_checkpoint: step must be a non-negative int, got {step!r}")
    if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1:
        raise ValueError(f"save_checkpoint: keep_last must be an int >= 1, got {keep_last!r}")
    step = int(step)
    check_weights_only_safe(state)

    d = _ckpt_dir(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    for stale in d.glob(f"{TMP_PREFIX}*"):  # left behind by a save that was killed mid-write
        with contextlib.suppress(OSError):
            stale.unlink()

    path = checkpoint_path(run_dir, step)
    payload = {"format": FORMAT_VERSION, "step": step, "state": state}
    atomic_write(path, lambda f: torch.save(payload, f))
    atomic_write(d / LATEST_POINTER, lambda f: f.write((path.name + "\n").encode()))

    existing = list_checkpoints(run_dir)
    newer = [p for s, p in existing if s > step]
    if newer:
        warnings.warn(
            f"save_checkpoint: removing {len(newer)} checkpoint(s) newer than step {step} in {d} "
            f"(an abandoned timeline): {', '.join(p.name for p in newer)}",
            RuntimeWarning,
            stacklevel=2,
        )
    older = [p for s, p in existing if s <= step]
    for p in newer + older[: max(0, len(older) - keep_last)]:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    fsync_dir(d)
    return path


# ----------------------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------------------
def _one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0] if msg else ''}".rstrip(": ")


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """Load one checkpoint file with ``weights_only=True`` and return its state; CheckpointError if unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): the write was interrupted")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, bad pickle, unsafe global ...
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable: {_one_line(e)}") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION or "state" not in payload:
        raise CheckpointError(
            f"checkpoint {path} is not an autotelic checkpoint (format {FORMAT_VERSION}): "
            f"top level is {type(payload).__qualname__} with keys {sorted(map(str, payload)) if isinstance(payload, dict) else '-'}"
        )
    state = payload["state"]
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path}: state is a {type(state).__qualname__}, expected a dict")
    return state


def load_latest_checkpoint(run_dir: str | os.PathLike, map_location: Any = "cpu") -> tuple[dict, Path]:
    """Load the newest valid checkpoint of ``run_dir``; warn and fall back to older ones when the newest is corrupt.

    Raises CheckpointError naming the directory when there is none, or none loads (with each file's problem).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run directory not found: {run_dir}")
    ckpts = list_checkpoints(run_dir)
    if not ckpts:
        raise CheckpointError(f"no checkpoints (ckpt_*.pt) in {_ckpt_dir(run_dir)}")
    problems: list[str] = []
    for _step, path in reversed(ckpts):
        try:
            state = load_checkpoint(path, map_location=map_location)
        except CheckpointError as e:
            problems.append(str(e))
            warnings.warn(f"{e}; falling back to the previous checkpoint", RuntimeWarning, stacklevel=2)
            continue
        return state, path
    raise CheckpointError(
        f"no valid checkpoint in {_ckpt_dir(run_dir)} ({len(ckpts)} tried): " + " | ".join(problems)
    )


def checkpoint_step(path: str | os.PathLike) -> int:
    """Step encoded in a checkpoint file name (``ckpt_000000123.pt`` → 123)."""
    m = _CKPT_RE.match(Path(path).name)
    if not m:
        raise ValueError(f"not a checkpoint file name: {Path(path).name!r} (expected ckpt_<step>.pt)")
    return int(m.group(1))


def validate_state(state: Any, required_keys: Iterable[str], source: str | os.PathLike = "checkpoint") -> None:
    """Raise CheckpointError listing every missing key; dotted keys (``"learner.critic"``) check nested dicts."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"malformed {source}: state is a {type(state).__qualname__}, expected a dict")
    missing = []
    for key in required_keys:
        node: Any = state
        for part in str(key).split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                missing.append(str(key))
                break
    if missing:
        raise CheckpointError(
            f"malformed {source}: missing key(s) {', '.join(missing)} (top-level keys present: "
            f"{', '.join(sorted(map(str, state))) or 'none'})"
        )


# ----------------------------------------------------------------------------------------------------------------
# Ctrl-C handling
# ----------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class InterruptFlag:
    """Set by the first Ctrl-C inside :func:`graceful_interrupt`; the loop checks ``requested`` and stops."""

    requested: bool = False
    count: int = 0

    def __bool__(self) -> bool:
        return self.requested


@contextlib.contextmanager
def graceful_interrupt(message: str | None = None) -> Iterator[InterruptFlag]:
    """Turn the first SIGINT into ``flag.requested = True``; a second SIGINT raises KeyboardInterrupt.

    Restores the previous handler on exit. Outside the main thread signals cannot be caught: the flag is still
    yielded but Ctrl-C keeps its default behaviour.
    """
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    text = message or "Interrupt received: finishing this step, saving a checkpoint and stopping (Ctrl-C again to abort now)."

    def handler(signum: int, frame: Any) -> None:
        flag.count += 1
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True
        print(text, file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
