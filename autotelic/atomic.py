"""Atomic file writes: a temp file in the target's folder, flushed and fsynced, then renamed over the target, so a
crash leaves the old file or the new one, never half of one."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any, Callable

__all__ = ["TMP_PREFIX", "atomic_write", "atomic_write_text", "fsync_dir"]

TMP_PREFIX = ".tmp_"  # temp files start with this (checkpoint listing skips them)


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable (no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[Any]], Any], binary: bool = True) -> Path:
    """Write ``path`` through ``write(fileobj)`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}")
    try:
        with (open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8", newline="")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write the text file ``path`` atomically (UTF-8)."""
    return atomic_write(path, lambda f: f.write(text), binary=False)
