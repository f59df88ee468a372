"""TextWorld-Text: small TextWorld (Côté et al. 2018) games generated offline, with the game's facts as goals.

``n_games`` games (default 2) are generated from ``game_seed``, ``game_seed + 1``, ... with TextWorld's own
generator (``nb_rooms`` rooms, ``nb_objects`` objects, a key/lock structure from a ``quest_length``-step quest whose
text and win condition are then dropped: the games have no quest, no score and never end by themselves) and
compiled with the Inform7 bundled in the ``textworld`` wheel, once per parameter set, into ``cache_dir`` (default:
``<system temp dir>/autotelic-textworld``); later resets and later processes reuse the compiled files.

The observation is the game's room description (what "look" prints) and inventory, preceded after a step by the
game's answer to the action when that is not the room description again, e.g. "You open the wooden chest,
revealing a broom. / -= Attic =- You are in an attic. ... / You are carrying: a shirt." The game's intro banner and
objective are never shown. The actions are the game's admissible commands, sorted, without the meta commands that
change nothing ("look", "inventory", "examine ..."; they would double the list): "go west", "take broom", "open
wooden chest", "insert broom into wooden chest", "unlock wooden chest with key", "eat apple", ...

Goals are facts of TextWorld's state as short English: "the player is in the attic", "you carry the broom", "the
broom is in the wooden chest", "the broom is on the rack", "the broom is in the attic" (on its floor), "the
wooden door is open" / "is closed" / "is locked", "the apple is eaten". ``info["achieved_goals"]`` after a step
holds every such fact that BECAME true in that step (was false before it, as in Crafter-Text), whatever the
episode's goal: a goal that already holds needs undoing and redoing, and standing still achieves nothing.
``all_goals()`` lists the facts that some action of some game can make true (delete-relaxed reachability over the
game's rules from its initial state; every TextWorld action here is undoable except eating, so this is the
achievable set); ``reset(options={"goal": g})`` plays a game that can produce ``g`` (TextEnvError for other
strings); ``reset()`` draws a game, then one of its goals, from the env's rng seeded by reset's seed. There are no
held-out goals (``all_goals("test")`` is empty). Reward 1 and termination when the goal is achieved; truncation
after ``max_steps``. ``reset(seed)`` fixes the game, the goal and every observation. Needs ``pip install
textworld`` (its dependency jericho is built from source: needs a C compiler).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Iterable

from .base import TextEnv, TextEnvError

try:
    import textworld
    from textworld.generator import compile_game, make_game, make_grammar
    from textworld.generator.game import Game
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError("autotelic/TextWorldText-v0 needs the textworld package: pip install textworld "
                      "(or pip install 'autotelic[textworld]')") from None

FORMAT = 1  # bump when the cached files' content changes
META_COMMANDS = ("look", "inventory", "examine")  # admissible in every state, change nothing: left out
FAMILIES = ("go", "take", "put", "open", "close", "lock", "eat")
_PATTERNS = ((re.compile(r"the player is in the (.+)"), "go"),
             (re.compile(r"you carry the (.+)"), "take"),
             (re.compile(r"the (.+) is (?:in|on) the (.+)"), "put"),
             (re.compile(r"the (.+) is open"), "open"),
             (re.compile(r"the (.+) is closed"), "close"),
             (re.compile(r"the (.+) is locked"), "lock"),
             (re.compile(r"the (.+) is eaten"), "eat"))
# words of the Inform7 / TextWorld answers that are not names or descriptions (vocabulary())
_ANSWER_WORDS = ("you are carrying nothing : a an the some and of from into on onto in to with it is that "
                 "pick up ground take drop put insert open close lock unlock eat go you're already can't cannot see "
                 "revealing empty contains nothing there exit exits north south east west door doorway leading "
                 "unguarded unblocked floor what a waste day taken dropped which isn't locked unlocked opened "
                 "closed first have need this that's not here anything else ate delicious eating bad your score "
                 "just gone up by one point things something must open-able ! ? ' \" , . - = > ( ) [ ]")


def fact_text(predicate: str, args: list[tuple[str, str]]) -> str | None:
    """A fact as a goal string, or None for a predicate that is no goal. ``args`` are (name, type) pairs; the
    types are TextWorld's: P player, I inventory, r room, d door, c container, s supporter, o/k/f objects."""
    if predicate == "at" and len(args) == 2:
        (x, xt), (r, _) = args
        return f"the player is in the {r}" if xt == "P" else f"the {x} is in the {r}"
    if predicate == "in" and len(args) == 2:
        (x, _), (y, yt) = args
        return f"you carry the {x}" if yt == "I" else f"the {x} is in the {y}"
    if predicate == "on" and len(args) == 2:
        return f"the {args[0][0]} is on the {args[1][0]}"
    if predicate in ("open", "closed", "locked", "eaten") and len(args) == 1:
        return f"the {args[0][0]} is {predicate}"
    return None


def goal_family(goal: str) -> str:
    """The goal's kind: 'go', 'take', 'put', 'open', 'close', 'lock' or 'eat'; TextEnvError for other strings."""
    for pattern, family in _PATTERNS:
        if pattern.fullmatch(goal):
            return family
    raise TextEnvError(f"unknown goal {goal!r}: TextWorld-Text goals are facts such as 'the player is in the "
                       f"kitchen', 'you carry the apple', 'the apple is in the chest', 'the wooden door is open'")


def _names(game: Game) -> dict[str, str]:
    return {k: (v.name or k) for k, v in game.infos.items()}


def reachable_goals(game: Game) -> list[str]:
    """Goal strings of the facts some action can make true, by delete-relaxed reachability from the initial state."""
    names = _names(game)
    rules = [r for name, r in game.kb.rules.items() if not name.startswith(META_COMMANDS)]
    state = game.world.state.copy()
    added: set = set()
    while True:
        new = set()
        for action in list(state.all_applicable_actions(rules)):
            for fact in action.added:
                added.add(fact)
                if not state.is_fact(fact):
                    new.add(fact)
        if not new:
            break
        state.add_facts(new)
    goals = {fact_text(f.name, [(names.get(v.name, v.name), str(v.type)) for v in f.arguments]) for f in added}
    return sorted(g for g in goals if g)


def _words_of_game(game: Game, goals: Iterable[str]) -> list[str]:
    texts = [str(v.name) for v in game.infos.values() if v.name]
    texts += [re.sub(r"\[[^\]]*\]", " ", v.desc) for v in game.infos.values() if v.desc]
    texts += [str(v.adj) for v in game.infos.values() if getattr(v, "adj", None)]
    texts += list(goals)
    return texts


def build_game(seed: int, nb_rooms: int, nb_objects: int, quest_length: int, cache_dir: str | os.PathLike) -> Path:
    """The folder of the compiled game for these parameters (``game.z8``, ``game.json``, ``meta.json``), generated
    and compiled on the first call; the folder appears atomically, so concurrent processes may race safely."""
    params = {"seed": int(seed), "nb_rooms": int(nb_rooms), "nb_objects": int(nb_objects),
              "quest_length": int(quest_length), "textworld": textworld.__version__, "format": FORMAT}
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    root = Path(cache_dir)
    final = root / f"game-{key}"
    if (final / "meta.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        t0 = time.perf_counter()
        opts = textworld.GameOptions()
        opts.seeds = int(seed)
        opts.nb_rooms, opts.nb_objects, opts.quest_length = int(nb_rooms), int(nb_objects), int(quest_length)
        world = make_game(opts).world  # the quest only shapes the world (keys, locked containers/doors)
        import numpy as np  # textworld's own dependency
        game = Game(world, make_grammar(opts.grammar, rng=np.random.RandomState(int(seed))), quests=())
        opts.path = str(tmp / "game.z8")
        opts.force_recompile = True
        compile_game(game, opts)
        goals = reachable_goals(game)
        if not goals:
            raise RuntimeError(f"TextWorld game {params} has no achievable goal")
        from autotelic.vocab import split_words  # the tokenizer's own word split
        words = sorted({w for t in _words_of_game(game, goals) for w in split_words(t)})
        meta = {"params": params, "goals": goals, "words": words,
                "generation_seconds": round(time.perf_counter() - t0, 3)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished first: use its copy
            if not (final / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _clean(text: str) -> str:
    """Game text without the prompt line ('>' and the status bar with the move counter) and empty lines."""
    lines = [ln.strip() for ln in (text or "").splitlines()]
    return "\n".join(ln for ln in lines if ln and not ln.startswith(">"))


class TextWorldText(TextEnv):
    """Small generated TextWorld games as a text env; one fact per episode as the goal (see the module docstring)."""

    def __init__(self, max_steps: int = 50, n_games: int = 2, game_seed: int = 0, nb_rooms: int = 3,
                 nb_objects: int = 6, quest_length: int = 3, cache_dir: str | None = None) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if n_games < 1 or nb_rooms < 1 or nb_objects < 0 or quest_length < 1:
            raise ValueError(f"need n_games >= 1, nb_rooms >= 1, nb_objects >= 0 and quest_length >= 1, got "
                             f"{n_games}, {nb_rooms}, {nb_objects}, {quest_length}")
        self.max_steps, self.n_games, self.game_seed = int(max_steps), int(n_games), int(game_seed)
        self.cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), "autotelic-textworld")
        self.dirs = [build_game(self.game_seed + i, nb_rooms, nb_objects, quest_length, self.cache_dir)
                     for i in range(self.n_games)]
        metas = [json.loads((d / "meta.json").read_text()) for d in self.dirs]
        self.game_goals: list[list[str]] = [m["goals"] for m in metas]
        self.generation_seconds = [m["generation_seconds"] for m in metas]
        self._goal_sets = [frozenset(g) for g in self.game_goals]
        self._goals = sorted(set().union(*self._goal_sets))
        self._words = sorted(set().union(*(m["words"] for m in metas)))
        self._envs: dict[int, Any] = {}  # game index -> textworld env, started on first use
        self._rng = random.Random()
        self.goal: str | None = None
        self.game: int | None = None
        self.t, self._done = 0, True
        self._state: Any = None
        self._actions: list[str] = []

    # ------------------------------------------------------------------ goals and words
    def all_goals(self, split: str | None = None) -> list[str]:
        """The goals the games can produce ('train' and 'all'); no held-out goals, so 'test' is empty."""
        if split not in (None, "train", "test", "all"):
            raise ValueError(f"unknown split {split!r}; expected 'train', 'test' or 'all'")
        return [] if split == "test" else list(self._goals)

    def goal_family(self, goal: str) -> str:
        family = goal_family(goal)
        if goal not in self._goals:
            raise TextEnvError(f"goal {goal!r} is no fact these games can make true; see all_goals()")
        return family

    def vocabulary(self) -> list[str]:
        from autotelic.vocab import split_words
        return sorted(set(self._words) | set(split_words(_ANSWER_WORDS)))

    # ------------------------------------------------------------------ game
    def _env(self, index: int) -> Any:
        if index not in self._envs:
            infos = textworld.EnvInfos(description=True, inventory=True, admissible_commands=True, facts=True,
                                       feedback=True)
            with warnings.catch_warnings():  # jericho: "not fully supported ... score, move, change detection
                warnings.filterwarnings("ignore", message=".*is not fully supported")  # disabled": TextWorld tracks
                self._envs[index] = textworld.start(str(self.dirs[index] / "game.z8"), request_infos=infos)
        return self._envs[index]

    def _facts(self) -> frozenset[str]:
        out = set()
        for f in self._state.facts or ():
            text = fact_text(f.name, [(str(v.name), str(v.type)) for v in f.arguments])
            if text:
                out.add(text)
        return frozenset(out)

    def describe(self, feedback: str = "") -> str:
        """The observation: the answer to the last action (unless it is the room description), the room
        description and the inventory."""
        desc, inv = _clean(self._state.description), _clean(self._state.inventory)
        feedback = _clean(feedback)
        parts = ([feedback] if feedback and feedback != desc else []) + [desc, inv]
        return "\n".join(p for p in parts if p)

    def _admissible(self) -> list[str]:
        cmds = sorted({c for c in self._state.admissible_commands or () if not c.startswith(META_COMMANDS)})
        return cmds or ["look"]

    def _info(self, achieved: frozenset[str]) -> dict[str, Any]:
        return {"admissible_actions": list(self._actions), "achieved_goals": achieved, "goal": self.goal,
                "game": self.game, "feasible": True}

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        goal = self.begin_reset(seed, options).get("goal")
        if goal is None:
            game = self._rng.randrange(self.n_games)
            goal = self._rng.choice(self.game_goals[game])
        else:
            if not isinstance(goal, str) or goal not in self._goals:
                goal_family(goal if isinstance(goal, str) else repr(goal))  # names the grammar for non-facts
                raise TextEnvError(f"goal {goal!r} is no fact these games can make true (e.g. "
                                   f"{self._goals[:3]}); see all_goals()")
            game = self._rng.choice([i for i, s in enumerate(self._goal_sets) if goal in s])
        self._state = self._env(game).reset()
        self._facts_now = self._facts()
        self._actions = self._admissible()
        self.goal, self.game, self.t, self._done = goal, game, 0, False
        return self.describe(), self._info(frozenset())

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self.goal is None or self._done:
            raise TextEnvError("step() called after the episode ended (or before reset); call reset() first")
        if action not in self._actions:
            raise TextEnvError(f"action {action!r} is not admissible; admissible actions: {self._actions}")
        before = self._facts_now
        self._state, _, game_over = self._envs[self.game].step(action)
        self._facts_now = self._facts()
        achieved = (self._facts_now - before) & self._goal_sets[self.game]
        self._actions = self._admissible()
        self.t += 1
        out = self._info(achieved)
        reward, terminated = self.compute_reward(self.goal, achieved)
        terminated = terminated or bool(game_over)  # (the quest-less games never end by themselves)
        truncated = not terminated and self.t >= self.max_steps
        self._done = terminated or truncated
        return self.describe(self._state.feedback), reward, terminated, truncated, out

    def render(self) -> str:
        return self.describe() if self._state is not None else ""

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()
