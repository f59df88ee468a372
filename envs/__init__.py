"""Text environments (installed as ``autotelic.envs``): the protocol, the checker, and Playground-Text."""
from __future__ import annotations

import gymnasium as gym

from .base import TextEnv, TextEnvError, default_compute_reward
from .checker import ProtocolError, check_text_env

PLAYGROUND_ID = "autotelic/PlaygroundText-v0"
BABYAI_ID = "autotelic/BabyAIText-v0"      # needs the 'babyai' extra (minigrid); imported only when made
CRAFTER_ID = "autotelic/CrafterText-v0"    # needs the 'crafter' extra (crafter); imported only when made
TEXTWORLD_ID = "autotelic/TextWorldText-v0"  # needs the 'textworld' extra (textworld); imported only when made


def register_envs() -> None:
    """Register the built-in envs under their Gymnasium ids (idempotent)."""
    for env_id, entry in ((PLAYGROUND_ID, "autotelic.envs.playground:PlaygroundText"),
                          (BABYAI_ID, "autotelic.envs.babyai:BabyAIText"),
                          (CRAFTER_ID, "autotelic.envs.crafter:CrafterText"),
                          (TEXTWORLD_ID, "autotelic.envs.textworld:TextWorldText")):
        if env_id not in gym.registry:  # entry points are strings: optional packages load on gym.make only
            gym.register(id=env_id, entry_point=entry, disable_env_checker=True)


register_envs()

__all__ = ["TextEnv", "TextEnvError", "default_compute_reward", "ProtocolError", "check_text_env",
           "PLAYGROUND_ID", "BABYAI_ID", "CRAFTER_ID", "TEXTWORLD_ID",
           "register_envs"]
