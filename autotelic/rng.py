"""Seeding and capture/restore of every random number generator a run uses, as checkpoint-safe values.

``get_rng_state`` returns a dict of plain Python values and tensors (``torch.load(weights_only=True)`` loads it):
  python        — ``random.getstate()`` (a tuple of ints, and a float/None)
  numpy_legacy  — ``np.random.get_state()`` with its uint32 key as a list of ints
  numpy_generator (when a Generator is given) — ``bit_generator.state`` with arrays as lists of ints
  torch         — ``torch.get_rng_state()`` (uint8 tensor); torch_cuda — one tensor per device when CUDA is up
"""
from __future__ import annotations

import os
import random
import warnings
from typing import Any

import numpy as np
import torch

__all__ = ["get_rng_state", "seed_everything", "set_rng_state"]

_MAX_SEED = 2**32 - 1  # numpy's legacy seeding accepts [0, 2**32)


def seed_everything(seed: int, deterministic_torch: bool = False) -> np.random.Generator:
    """Seed python ``random``, numpy's global RNG and torch (CPU and CUDA); return ``np.random.default_rng(seed)``.

    ``deterministic_torch=True`` also asks torch for deterministic kernels (slower; warns where none exists).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= _MAX_SEED:
        raise ValueError(f"seed must be an int in [0, 2**32 - 1], got {seed!r}")
    seed = int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # affects subprocesses only (hash seeds are fixed at start-up)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic_torch:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)


def _arrays_to_lists(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _arrays_to_lists(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def get_rng_state(np_generator: np.random.Generator | None = None) -> dict[str, Any]:
    """Capture python/numpy/torch RNG states (and ``np_generator``'s, if given) as checkpoint-safe values."""
    name, key, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy_legacy": {
            "bit_generator": str(name),
            "key": np.asarray(key).tolist(),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if np_generator is not None:
        if not isinstance(np_generator, np.random.Generator):
            raise TypeError(f"np_generator must be a numpy.random.Generator, got {type(np_generator).__qualname__}")
        state["numpy_generator"] = _arrays_to_lists(np_generator.bit_generator.state)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, Any], np_generator: np.random.Generator | None = None) -> None:
    """Restore states captured by :func:`get_rng_state`; ``np_generator`` is restored in place.

    Raises KeyError naming missing parts, ValueError when a part does not match (e.g. a different bit generator).
    """
    if not isinstance(state, dict):
        raise TypeError(f"rng state must be a dict, got {type(state).__qualname__}")
    missing = [k for k in ("python", "numpy_legacy", "torch") if k not in state]
    if np_generator is not None and "numpy_generator" not in state:
        missing.append("numpy_generator")
    if missing:
        raise KeyError(f"rng state is missing {', '.join(missing)} (has: {', '.join(sorted(state)) or 'nothing'})")

    py = state["python"]
    # weights_only loading keeps tuples, but a JSON/YAML round trip would give lists: accept both.
    random.setstate((int(py[0]), tuple(int(v) for v in py[1]), None if py[2] is None else float(py[2])))

    leg = state["numpy_legacy"]
    np.random.set_state(
        (
            leg["bit_generator"],
            np.asarray(leg["key"], dtype=np.uint32),
            int(leg["pos"]),
            int(leg["has_gauss"]),
            float(leg["cached_gaussian"]),
        ),
    )

    t = state["torch"]
    if not isinstance(t, torch.Tensor):
        t = torch.as_tensor(t, dtype=torch.uint8)
    torch.set_rng_state(t.to(device="cpu", dtype=torch.uint8))

    if np_generator is not None:
        gen_state = state["numpy_generator"]
        want, have = gen_state.get("bit_generator"), type(np_generator.bit_generator).__name__
        if want != have:
            raise ValueError(f"numpy generator state is for bit generator {want!r}, but the generator uses {have!r}")
        np_generator.bit_generator.state = gen_state

    if "torch_cuda" in state:
        cuda_states = list(state["torch_cuda"])
        if torch.cuda.is_available() and torch.cuda.device_count() == len(cuda_states):
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
        else:
            have = torch.cuda.device_count() if torch.cuda.is_available() else 0
            warnings.warn(
                f"rng state holds {len(cuda_states)} CUDA generator(s) but {have} CUDA device(s) are visible: "
                "CUDA RNG not restored",
                RuntimeWarning,
                stacklevel=2,
            )
