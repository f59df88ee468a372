"""Where the text envs run: in this process (``env.workers: inline``, default) or in worker processes
(``env.workers: subprocess``), for envs whose ``step`` is expensive.

Subprocess workers use Gymnasium's own engine, ``gymnasium.vector.AsyncVectorEnv`` (one process per env, pipes,
error propagation, clean shutdown), with ``autoreset_mode=DISABLED`` because ``Rollout`` decides every reset itself.
``Rollout`` resets envs one at a time, each with its own seed and goal (``options={"goal": g}``). AsyncVectorEnv
takes one seed per env but a single ``options`` dict per call; with ``options["reset_mask"]`` (Gymnasium >= 1.1) it
resets only the masked envs, so a per-env reset is ``reset(seed=[.., s_i, ..], options={"goal": g_i,
"reset_mask": one_hot(i)})`` — one round trip to every worker (the others answer "reset-noop"). ``WorkerEnv`` is the
per-env view ``Rollout`` sees: it keeps the env protocol (``reset``/``step``/``goal``/``compute_reward``/
``vocabulary``/``all_goals``, and ``chain`` where the env has it) over the shared vector env.

Steps run in parallel: :func:`pipelined` wraps the rollout's ``act`` so that, as soon as the actions are chosen, every
worker steps at once (``AsyncVectorEnv.step``); ``Rollout`` then reads each env's result from ``WorkerEnv.step``.
A step outside that path (a resumed rollout replaying its actions) steps one env through ``AsyncVectorEnv.call``.
``compute_reward``, ``vocabulary`` and ``all_goals`` are pure functions of their arguments in the text-env protocol
(hindsight relabelling already calls them on a busy env), so ``WorkerEnv`` answers them from one local reference
env instead of a round trip per relabelled transition.

This module imports no torch, so worker processes start light.
"""
from __future__ import annotations

import importlib
import multiprocessing
import weakref
from typing import Any, Callable, Sequence

import numpy as np
from gymnasium.spaces import Text

WORKER_MODES = ("inline", "subprocess")
_TEXT_LIMIT = 1 << 20  # placeholder Text spaces: AsyncVectorEnv needs spaces to batch; text envs need not declare any

__all__ = ["WORKER_MODES", "EnvWorkers", "WorkerEnv", "make_env", "make_envs", "pipelined"]


def make_env(cfg: Any) -> Any:
    """An env from ``cfg.id`` — a Gymnasium id (``autotelic/PlaygroundText-v0``) or a dotted path
    ``package.module:Class`` — built with ``cfg.kwargs``."""
    return _build_env(cfg.id, dict(cfg.kwargs))


def _build_env(env_id: str, kwargs: dict[str, Any]) -> Any:
    if ":" in env_id and "/" not in env_id.split(":")[0]:
        mod, _, attr = env_id.partition(":")
        try:
            cls = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"cannot load env {env_id!r}: {e}") from e
        return _construct(env_id, lambda: cls(**kwargs), kwargs)
    import gymnasium as gym

    import autotelic.envs  # noqa: F401  registers the built-in ids (a worker process imports only this module)

    try:
        return _construct(env_id, lambda: gym.make(env_id, **kwargs), kwargs)
    except gym.error.Error as e:
        raise ValueError(f"cannot make env {env_id!r}: {e}") from e


def _construct(env_id: str, build: Callable[[], Any], kwargs: dict[str, Any]) -> Any:
    """``build()``; a kwarg the env does not take is one ValueError naming ``env.kwargs``, not a traceback."""
    try:
        return build()
    except TypeError as e:
        if not kwargs or "argument" not in str(e):
            raise
        raise ValueError(f"env.kwargs {sorted(kwargs)} do not fit env {env_id!r}: {e}") from None


def make_envs(cfg: Any, n: int | None = None) -> list[Any]:
    """``n`` (default ``cfg.n_envs``) envs as ``cfg.workers`` asks: plain envs (``inline``) or ``WorkerEnv`` views
    over one ``EnvWorkers`` group (``subprocess``)."""
    n = cfg.n_envs if n is None else n
    mode = getattr(cfg, "workers", "inline")
    if mode == "inline":
        return [make_env(cfg) for _ in range(n)]
    if mode == "subprocess":
        return EnvWorkers(cfg.id, dict(cfg.kwargs), n).envs
    raise ValueError(f"env.workers must be one of {WORKER_MODES}, got {mode!r}")


def pipelined(act: Callable[[list[str], list[list[str]]], list[int]], envs: Sequence[Any]
              ) -> Callable[[list[str], list[list[str]]], list[int]]:
    """``act`` itself for in-process envs; for ``WorkerEnv`` views of one group, an ``act`` that also steps every
    worker in parallel with the chosen actions (Rollout's contract: env i takes ``candidates[i][choice_i]`` next)."""
    group = getattr(envs[0], "group", None) if envs else None
    if not isinstance(group, EnvWorkers) or [getattr(e, "group", None) for e in envs] != [group] * len(envs) \
            or [e.index for e in envs] != list(range(group.n)):
        return act

    def act_and_step(prompts: list[str], candidates: list[list[str]]) -> list[int]:
        choices = act(prompts, candidates)
        group.step_all([candidates[i][int(a)] for i, a in enumerate(choices)])
        return choices

    return act_and_step


# ---------------------------------------------------------------------------------------------- worker side
class _EnvFactory:
    """Picklable constructor run in worker ``index``: the env, given placeholder Text spaces when it has none."""

    def __init__(self, env_id: str, kwargs: dict[str, Any], index: int) -> None:
        self.env_id, self.kwargs, self.index = env_id, kwargs, index

    def __call__(self) -> Any:
        return _WorkerSide(_build_env(self.env_id, self.kwargs), self.index)


class _WorkerSide:
    """The env as worker ``index`` runs it: what AsyncVectorEnv's worker calls (``reset``, ``step``, ``close``,
    ``get_wrapper_attr``, the spaces; placeholder Text spaces when the env declares none), plus a single-env step
    addressed by index (``AsyncVectorEnv.call`` reaches every worker; only the addressed one steps)."""

    def __init__(self, env: Any, index: int) -> None:
        self.env, self.index = env, index
        self.metadata = dict(getattr(env, "metadata", {}) or {})
        self.render_mode = getattr(env, "render_mode", None)
        self.spec = getattr(env, "spec", None)
        for name in ("observation_space", "action_space"):
            try:
                space = getattr(env, name)
            except AttributeError:
                space = None
            setattr(self, name, space if space is not None else Text(max_length=_TEXT_LIMIT))

    def reset(self, **kwargs: Any) -> Any:
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        return self.env.step(action)

    def close(self) -> None:
        close = getattr(self.env, "close", None)
        if close is not None:
            close()

    def autotelic_step_one(self, index: int, action: str) -> Any:
        return self.env.step(action) if index == self.index else None

    def autotelic_chain_one(self, index: int, goal: str) -> Any:
        """The env's ``chain(goal)`` (goal chaining) in the addressed worker only."""
        return getattr(self.env, "unwrapped", self.env).chain(goal) if index == self.index else None

    def get_wrapper_attr(self, name: str) -> Any:
        if name in ("autotelic_step_one", "autotelic_chain_one"):
            return getattr(self, name)
        if hasattr(self.env, "get_wrapper_attr"):
            return self.env.get_wrapper_attr(name)
        return getattr(self.env, name)


# ---------------------------------------------------------------------------------------------- parent side
def _context() -> str:
    """forkserver (workers fork from a clean server with this module preloaded) where available, else spawn:
    never fork a process that may hold CUDA, gloo or OpenMP threads."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        multiprocessing.get_context("forkserver").set_forkserver_preload(["autotelic.workers"])
        return "forkserver"
    return "spawn"


def _plain(x: Any) -> Any:
    """numpy scalars from Gymnasium's info batching back to python values."""
    return x.item() if isinstance(x, np.generic) else x


def _unbatch_info(infos: dict[str, Any], i: int) -> dict[str, Any]:
    """Env i's info dict out of AsyncVectorEnv's batched infos (values + ``_key`` presence masks)."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_") and key[1:] in infos:
            continue
        if isinstance(value, dict):
            out[key] = _unbatch_info(value, i)
        elif f"_{key}" in infos and bool(infos[f"_{key}"][i]):
            out[key] = _plain(value[i])
    return out


class EnvWorkers:
    """``n`` envs, each in its own worker process (``gymnasium.vector.AsyncVectorEnv``), seen through ``envs``."""

    def __init__(self, env_id: str, kwargs: dict[str, Any], n: int) -> None:
        if n < 1:
            raise ValueError(f"EnvWorkers needs n >= 1 envs, got {n}")
        from gymnasium.vector import AsyncVectorEnv, AutoresetMode

        self.n = n
        self.reference = _build_env(env_id, kwargs)  # local env for the pure functions (compute_reward, ...)
        self.vec = AsyncVectorEnv([_EnvFactory(env_id, kwargs, i) for i in range(n)], shared_memory=False,
                                  copy=False, context=_context(), daemon=True,
                                  autoreset_mode=AutoresetMode.DISABLED)
        self._finalizer = weakref.finalize(self, _close_vec, self.vec)
        self._pending: list[tuple[str, tuple] | None] = [None] * n
        self.envs = [WorkerEnv(self, i) for i in range(n)]

    def step_all(self, actions: Sequence[str]) -> None:
        """Step every worker at once; each ``WorkerEnv.step(action)`` then returns its env's result."""
        if len(actions) != self.n:
            raise ValueError(f"step_all needs {self.n} actions, got {len(actions)}")
        self._pending = [None] * self.n
        obs, rew, term, trunc, infos = self.vec.step(tuple(actions))
        self._pending = [(a, (obs[i], float(rew[i]), bool(term[i]), bool(trunc[i]), _unbatch_info(infos, i)))
                         for i, a in enumerate(actions)]

    def step_one(self, i: int, action: str) -> tuple:
        """Env i's step result: the one ``step_all`` computed, or a single-env step in worker i."""
        pending, self._pending[i] = self._pending[i], None
        if pending is not None:
            if pending[0] != action:
                raise RuntimeError(f"env {i} was stepped with {pending[0]!r} by step_all, not {action!r}: "
                                   "step the envs in the order the rollout chose their actions")
            return pending[1]
        results = self.vec.call("autotelic_step_one", i, action)
        return tuple(results[i])

    def reset_one(self, i: int, seed: int | None, options: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        """Reset env i alone with its own seed and options (reset_mask: the other workers do nothing)."""
        self._pending[i] = None
        seeds: list[int | None] = [None] * self.n
        seeds[i] = seed
        mask = np.zeros(self.n, dtype=np.bool_)
        mask[i] = True
        obs, infos = self.vec.reset(seed=seeds, options={**(options or {}), "reset_mask": mask})
        return obs[i], _unbatch_info(infos, i)

    def chain_one(self, i: int, goal: str) -> tuple[str, dict[str, Any]] | None:
        """Env i's ``chain(goal)`` in its worker: the new goal's first (observation, info), or None if refused."""
        self._pending[i] = None
        return self.vec.call("autotelic_chain_one", i, goal)[i]

    def get_attr(self, i: int, name: str) -> Any:
        return self.vec.get_attr(name)[i]

    def close(self) -> None:
        """Stop the worker processes (idempotent; also runs when the group is garbage-collected)."""
        self._finalizer()


def _close_vec(vec: Any) -> None:
    try:
        vec.close(terminate=True)
    except Exception:  # noqa: BLE001  shutting down: a dead worker must not mask the real error
        pass


REFERENCE_HELPERS = ("vocabulary", "all_goals", "goal_family")


class WorkerEnv:
    """Env ``index`` of an ``EnvWorkers`` group with the text-env protocol (what ``Rollout`` and the loop use)."""

    def __init__(self, group: EnvWorkers, index: int) -> None:
        self.group, self.index = group, index

    @property
    def unwrapped(self) -> "WorkerEnv":
        return self

    @property
    def goal(self) -> Any:
        """The goal pursued in env ``index`` (set by the env on reset)."""
        return self.group.get_attr(self.index, "goal")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        return self.group.reset_one(self.index, seed, options)

    def step(self, action: str) -> tuple:
        return self.group.step_one(self.index, action)

    def compute_reward(self, goal: str, achieved_goals: Any) -> tuple[float, bool]:
        return getattr(self.group.reference, "unwrapped", self.group.reference).compute_reward(goal, achieved_goals)

    def __getattr__(self, name: str) -> Any:
        # vocabulary(), all_goals(split), goal_family(goal): pure helpers of the goal grammar, from the local
        # reference env; chain(goal) runs in the worker, and exists only where the env has it
        ref = self.group.reference
        ref = getattr(ref, "unwrapped", ref)
        if name in REFERENCE_HELPERS:
            return getattr(ref, name)
        if name == "chain" and callable(getattr(ref, "chain", None)):
            return lambda goal: self.group.chain_one(self.index, goal)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def close(self) -> None:
        self.group.close()
