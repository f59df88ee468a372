"""Text environments (installed as ``autotelic.envs``): the protocol, the checker, and Playground-Text."""
from __future__ import annotations

import gymnasium as gym

from .base import TextEnv, TextEnvError, default_compute_reward
from .checker import ProtocolError, check_text_env

PLAYGROUND_ID = "autotelic/PlaygroundText-v0"


def register_envs() -> None:
    """Register the built-in envs under their Gymnasium ids (idempotent)."""
    if PLAYGROUND_ID not in gym.registry:
        gym.register(id=PLAYGROUND_ID, entry_point="autotelic.envs.playground:PlaygroundText",
                     disable_env_checker=True)


register_envs()

__all__ = ["TextEnv", "TextEnvError", "default_compute_reward", "ProtocolError", "check_text_env",
           "PLAYGROUND_ID", "register_envs"]
