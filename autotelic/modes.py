"""Train/eval mode for a stretch of code: the learners compute targets and old log-probs as acting does (eval mode,
no dropout) and take gradients in train mode, whatever mode the caller left the modules in."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn

__all__ = ["evaluating", "training", "in_mode"]

_MODULE_TRAIN = nn.Module.train


@contextmanager
def in_mode(train: bool, *modules: nn.Module) -> Iterator[None]:
    """Put ``modules`` (and their children) in train (``train=True``) or eval mode for the block, then restore every
    submodule's own flag (a submodule kept in eval mode on purpose stays so)."""
    mods = [m for module in modules for m in module.modules()]
    saved = [m.training for m in mods]
    if all(type(m).train is _MODULE_TRAIN for m in mods):
        for m in mods:  # what nn.Module.train does, without its recursion and __setattr__ checks (~1 ms per update)
            m.__dict__["training"] = train
    else:  # a module overrides train(): let it run
        for module in modules:
            module.train(train)
    try:
        yield
    finally:
        for m, flag in zip(mods, saved):
            m.__dict__["training"] = flag


def evaluating(*modules: nn.Module):
    """``with evaluating(policy):`` the block runs in eval mode (dropout off), as the rollout acts."""
    return in_mode(False, *modules)


def training(*modules: nn.Module):
    """``with training(policy):`` the block runs in train mode (the gradient pass)."""
    return in_mode(True, *modules)
