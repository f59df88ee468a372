"""autotelic: open-ended, intrinsically motivated language agents."""
from __future__ import annotations

from . import envs as _envs  # noqa: F401  registers the Gymnasium ids
from .episode import Episode

__version__ = "0.1.0"
__all__ = ["Episode", "__version__"]
