"""BabyAI-Text: BabyAI's one-room levels (minigrid) with GLAM's text observations and action set.

Observations are GLAM-style relative descriptions of the agent's 7x7 egocentric view ("You see a wall 2 steps
forward, You see a red ball 1 step left and 2 steps forward, You carry a blue key"); the actions are GLAM's six
("turn left", "turn right", "go forward", "pick up", "drop", "toggle"). Goals use BabyAI's mission grammar with
"the": "go to the red ball" (true while the agent faces a red ball), "pick up the red ball" (the step it is picked
up), "put the red ball next to the blue key" (the step the red ball is dropped beside a blue key), "open the red
door" (the step a closed red door is toggled open; "go to the red door" while facing it). Every one of them that
holds after a step is in ``info["achieved_goals"]``, whatever the episode's goal: the hindsight signal.

Levels (``level=``): ``GoToLocal`` (8 objects, repeats allowed), ``PickupLocal`` (the same scenes, pick-up goals),
``PutNextLocal`` (8 distinct objects), ``mixed`` (go-to, pick-up, put-next and open goals in equal parts, with 2
closed doors of distinct colours in the walls: GLAM's MixedTrainLocal without its two-step "pick up X, then go to
Y" missions); an 8x8 room (6x6 floor; a second wall ring behind the doors), BabyAI's time limit (64 steps per
navigation: 64, or 128 for put-next). Held-out split: the
objects "red key", "green ball" and "blue box" never appear in train scenes; ``all_goals("test")`` lists the goals
that name one of them. The observation never contains the goal (relabel-safe). Needs ``pip install minigrid``.

History (``history=k``, default 0): the observation also lists the last k steps, oldest first, as GLAM's prompt does
(its 3 observations and 2 actions are ``history=2``): "Earlier: <view>; you chose turn left. Now: <view>". Without
it a greedy policy is a function of the current view alone and can loop where the view repeats (turning in an empty
corner); ``history_views=False`` keeps only the actions ("Earlier: you chose turn left. Now: ..."), a shorter prompt.
"""
from __future__ import annotations

import os
import random
from collections import deque
from typing import Any, Iterable

from .base import TextEnv, TextEnvError

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # minigrid imports pygame, which prints a banner
try:
    from minigrid.core.grid import Grid
    from minigrid.core.mission import MissionSpace
    from minigrid.core.world_object import Ball, Box, Door, Key, WorldObj
    from minigrid.minigrid_env import MiniGridEnv
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError("autotelic/BabyAIText-v0 needs the minigrid package: pip install minigrid "
                      "(or pip install 'autotelic[babyai]')") from None

COLORS = ("red", "green", "blue", "purple", "yellow", "grey")
TYPES = ("ball", "box", "key")
HELD_OUT = (("red", "key"), ("green", "ball"), ("blue", "box"))  # one per colour/type: every word is seen in train
SPLITS = ("train", "test", "all")
ACTIONS = {"turn left": 0, "turn right": 1, "go forward": 2, "pick up": 3, "drop": 4, "toggle": 5}  # minigrid ids
LEVELS = {"GoToLocal": ("goto",), "PickupLocal": ("pickup",), "PutNextLocal": ("putnext",),
          "mixed": ("goto", "pickup", "putnext", "open")}
LEVEL_DOORS = {"GoToLocal": 0, "PickupLocal": 0, "PutNextLocal": 0, "mixed": 2}
FAMILIES = ("goto", "pickup", "putnext", "open")
NAVS = {"goto": 1, "pickup": 1, "putnext": 2, "open": 1}  # BabyAI's navigations per instruction (limit = navs x 64)
DOOR = "door"
_MAKE = {"ball": Ball, "box": Box, "key": Key}

Obj = tuple[str, str]  # (colour, type)


def objects(split: str = "train") -> list[Obj]:
    """The (colour, type) objects of a split: 'train' 15, 'test' the 3 held out, 'all' 18."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    every = [(c, t) for c in COLORS for t in TYPES]
    return every if split == "all" else [o for o in every if (o in HELD_OUT) == (split == "test")]


def _name(o: Obj) -> str:
    return f"the {o[0]} {o[1]}"


def goal_text(family: str, a: Obj, b: Obj | None = None) -> str:
    """The goal string of a family over one object (two for 'putnext'; a (colour, 'door') for 'open')."""
    if family == "goto":
        return f"go to {_name(a)}"
    if family == "open" and a[1] == DOOR:
        return f"open {_name(a)}"
    if family == "pickup":
        return f"pick up {_name(a)}"
    if family == "putnext" and b is not None:
        return f"put {_name(a)} next to {_name(b)}"
    raise ValueError(f"bad goal family/objects: {family!r}, {a!r}, {b!r}")


def _parse_obj(text: str, door: bool = False) -> Obj | None:
    words = text.split()
    if len(words) == 3 and words[0] == "the" and words[1] in COLORS and (
            words[2] in TYPES or (door and words[2] == DOOR)):
        return words[1], words[2]
    return None


def parse_goal(goal: str) -> tuple[str, list[Obj]]:
    """(family, objects) of a goal string; TextEnvError for a string outside the grammar."""
    if isinstance(goal, str):
        for family, prefix in (("goto", "go to "), ("pickup", "pick up "), ("open", "open ")):
            if goal.startswith(prefix) and (o := _parse_obj(goal[len(prefix):], door=family != "pickup")) \
                    and (o[1] == DOOR or family != "open"):
                return family, [o]
        if goal.startswith("put ") and " next to " in goal:
            a, _, b = goal[len("put "):].partition(" next to ")
            oa, ob = _parse_obj(a), _parse_obj(b)
            if oa and ob and oa != ob:
                return "putnext", [oa, ob]
    raise TextEnvError(f"unknown goal {goal!r}: BabyAI-Text goals are 'go to the C T', 'pick up the C T', "
                       f"'put the C T next to the C2 T2' or 'open the C door' (C a colour in {COLORS}, T in {TYPES}; "
                       f"'go to the C door' too)")


def goal_family(goal: str) -> str:
    """'goto', 'pickup', 'putnext' or 'open'; TextEnvError outside the grammar."""
    return parse_goal(goal)[0]


def all_goals(split: str = "train", families: Iterable[str] = FAMILIES) -> list[str]:
    """Goals of the families over a split's objects: 'test' lists those naming a held-out object (doors have none)."""
    objs, every = objects(split), objects("all" if split != "train" else "train")
    out: list[str] = []
    for fam in families:
        if fam in ("goto", "pickup"):
            out += [goal_text(fam, o) for o in objs]
        elif fam == "open":
            out += [] if split == "test" else [goal_text(fam, (c, DOOR)) for c in COLORS]
        else:
            out += [goal_text(fam, a, b) for a in every for b in every
                    if a != b and (split != "test" or a in HELD_OUT or b in HELD_OUT)]
    return out


def _rel(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _where(right: int, forward: int) -> str:
    """'2 steps forward', '1 step left and 3 steps forward', '2 steps right' (right < 0 is left)."""
    parts = []
    if right:
        parts.append(f"{_rel(abs(right), 'step', 'steps')} {'right' if right > 0 else 'left'}")
    if forward:
        parts.append(f"{_rel(forward, 'step', 'steps')} forward")
    return " and ".join(parts)


def door_slots(width: int, height: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(door cell in the inner wall ring, the floor cell in front of it) for every non-corner wall cell."""
    slots = []
    for x in range(2, width - 2):
        slots += [((x, 1), (x, 2)), ((x, height - 2), (x, height - 3))]
    for y in range(2, height - 2):
        slots += [((1, y), (2, y)), ((width - 2, y), (width - 3, y))]
    return slots


_STEP = ((1, 0), (0, 1), (-1, 0), (0, -1))  # minigrid's agent_dir 0..3: right, down, left, up


def goto_plan(env: "BabyAIText") -> list[str] | None:
    """A shortest list of turn/forward actions after which the agent faces an object its go-to goal names (BFS over
    (cell, direction) on the full grid: an expert, not a policy of the view); [] if it already does, None if no
    object of the goal is reachable. TextEnvError for an episode whose goal is not a go-to goal."""
    if env.goal is None:
        raise TextEnvError("goto_plan() needs an episode: call reset() first")
    family, objs = parse_goal(env.goal)
    if family != "goto":
        raise TextEnvError(f"goto_plan() plans go-to goals only, got {env.goal!r}")
    grid = env._room.grid
    start = (int(env._room.agent_pos[0]), int(env._room.agent_pos[1]), int(env._room.agent_dir))
    back: dict[tuple[int, int, int], tuple[tuple[int, int, int], str] | None] = {start: None}
    todo = deque([start])
    while todo:
        state = todo.popleft()
        x, y, d = state
        cell = grid.get(x + _STEP[d][0], y + _STEP[d][1])
        if (_thing(cell) or _door(cell)) == objs[0]:
            plan: list[str] = []
            while back[state] is not None:
                state, action = back[state]
                plan.append(action)
            return plan[::-1]
        moves = [("turn left", (x, y, (d - 1) % 4)), ("turn right", (x, y, (d + 1) % 4))]
        if cell is None:  # an empty floor cell in front
            moves.append(("go forward", (x + _STEP[d][0], y + _STEP[d][1], d)))
        for action, nxt in moves:
            if nxt not in back:
                back[nxt] = (state, action)
                todo.append(nxt)
    return None


class _Room(MiniGridEnv):
    """One walled room (a second wall ring behind it, so an open door leads nowhere); ``layout`` (objects) and
    ``doors`` (colours) are set before each reset."""

    def __init__(self, room_size: int, max_steps: int) -> None:
        self.layout: list[Obj] = []
        self.doors: list[str] = []
        self.door_front: list[tuple[int, int]] = []
        super().__init__(mission_space=MissionSpace(mission_func=lambda: ""), grid_size=room_size + 2,
                         max_steps=max_steps, see_through_walls=False, agent_view_size=7)

    def _gen_grid(self, width: int, height: int) -> None:
        self.grid = Grid(width, height)
        self.grid.wall_rect(0, 0, width, height)
        self.grid.wall_rect(1, 1, width - 2, height - 2)
        self.door_front = []
        slots = door_slots(width, height)
        for color in self.doors:  # doors never side by side
            used = set(self.door_front)
            free = [s for s in slots if all(abs(s[1][0] - f[0]) + abs(s[1][1] - f[1]) > 2 for f in used)] \
                or [s for s in slots if s[1] not in used]  # a crowded wall: any free slot
            (door, front) = free[self._rand_int(0, len(free))]
            self.grid.set(*door, Door(color))
            self.door_front.append(front)
        for color, kind in self.layout:  # never in front of a door
            self.place_obj(_MAKE[kind](color), reject_fn=lambda env, pos: tuple(pos) in self.door_front)
        self.place_agent()
        self.mission = ""


def _thing(cell: WorldObj | None) -> Obj | None:
    return (cell.color, cell.type) if cell is not None and cell.type in _MAKE else None


def _door(cell: WorldObj | None) -> Obj | None:
    return (cell.color, DOOR) if cell is not None and cell.type == DOOR else None


class BabyAIText(TextEnv):
    """BabyAI one-room levels as a text env; one goal per episode, reward 1 and termination on success.

    ``reset(seed, options={"goal": g})`` builds a scene holding g's objects (every goal of the grammar is
    producible); without a goal the level samples one as BabyAI does (a random object of a random scene).
    """

    def __init__(self, level: str = "GoToLocal", split: str = "train", num_objs: int = 8, room_size: int = 8,
                 max_steps: int | None = None, num_doors: int | None = None, history: int = 0,
                 history_views: bool = True) -> None:
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; expected one of {sorted(LEVELS)}")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        if not 5 <= room_size <= 16:
            raise ValueError(f"room_size must be in 5..16 (walls included), got {room_size}")
        if not 2 <= num_objs <= (room_size - 2) ** 2 // 3:
            raise ValueError(f"num_objs must be in 2..{(room_size - 2) ** 2 // 3} for room_size={room_size}, "
                             f"got {num_objs}")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        num_doors = LEVEL_DOORS[level] if num_doors is None else num_doors
        if not 0 <= num_doors <= 4:
            raise ValueError(f"num_doors must be in 0..4, got {num_doors}")
        if not isinstance(history, int) or history < 0:
            raise ValueError(f"history must be an int >= 0 (earlier steps shown), got {history!r}")
        if "open" in LEVELS[level] and num_doors < 1:
            raise ValueError(f"level {level!r} has open goals and needs num_doors >= 1")
        self.level, self.split, self.num_objs, self.room_size = level, split, num_objs, room_size
        self.families, self.num_doors = LEVELS[level], num_doors
        self.max_steps, self.history, self.history_views = max_steps, history, bool(history_views)
        self._past: deque[tuple[str, str]] = deque(maxlen=history or 1)  # (view, action) of the last steps
        self._room = _Room(room_size, max_steps or 64)
        self._rng = random.Random()
        self.goal: str | None = None
        self.t, self.horizon, self._done = 0, 0, True

    # ------------------------------------------------------------------ goals and words
    def all_goals(self, split: str | None = None) -> list[str]:
        """Goals of this level's families over a split's objects (default: this env's split)."""
        return all_goals(split or self.split, self.families)

    def goal_family(self, goal: str) -> str:
        return goal_family(goal)

    def vocabulary(self) -> list[str]:
        words = {"you", "see", "carry", "a", "an", "wall", "step", "steps", "forward", "left", "right", "and", ",",
                 "earlier", "chose", "now", ":", ";", ".",
                 "open", "closed", DOOR,
                 "go", "to", "the", "pick", "up", "put", "next", "turn", "drop", "toggle", *COLORS, *TYPES,
                 *(str(k) for k in range(1, 7))}  # distances within the 7x7 view
        return sorted(words)

    # ------------------------------------------------------------------ text
    def describe(self) -> str:
        """GLAM-style text of the agent's view: walls straight ahead/left/right, each visible object, the carried one."""
        grid, vis = self._room.gen_obs_grid()
        n = grid.width
        ax, ay = n // 2, n - 1  # the agent's cell in its own view, facing "up" (decreasing y)
        lines = []
        if self._room.carrying is not None:
            lines.append(f"You carry a {self._room.carrying.color} {self._room.carrying.type}")
        for label, cells in (("forward", [(ax, ay - k) for k in range(1, n)]),
                             ("left", [(ax - k, ay) for k in range(1, ax + 1)]),
                             ("right", [(ax + k, ay) for k in range(1, ax + 1)])):
            for k, (i, j) in enumerate(cells, start=1):  # the nearest visible wall on that line (objects do not hide it)
                cell = grid.get(i, j)
                if cell is not None and cell.type in ("wall", DOOR):  # a door is part of its wall: listed below
                    if vis[i, j] and cell.type == "wall":
                        lines.append(f"You see a wall {_rel(k, 'step', 'steps')} {label}")
                    break
        seen = []
        for j in range(n):
            for i in range(n):
                cell = grid.get(i, j)
                o = _thing(cell) or _door(cell)
                if o and vis[i, j] and (i, j) != (ax, ay):
                    what = f"a {o[0]} {o[1]}" if o[1] != DOOR else \
                        f"{'an open' if cell.is_open else 'a closed'} {o[0]} door"
                    seen.append((abs(i - ax) + (ay - j), i - ax, ay - j, what))
        for _, right, forward, what in sorted(seen):
            lines.append(f"You see {what} {_where(right, forward)}")
        return ", ".join(lines)

    def _observe(self) -> str:
        """The current view, after the last ``history`` (view, action) pairs when history is on."""
        view = self.describe()
        if not self.history:
            return view
        past = [f"Earlier: {v + '; ' if self.history_views else ''}you chose {a}." for v, a in self._past]
        return " ".join([*past, f"Now: {view}"])

    # ------------------------------------------------------------------ scenes
    def _front(self) -> Obj | None:
        cell = self._room.grid.get(*self._room.front_pos)
        return _thing(cell) or _door(cell)

    def _state_goals(self) -> set[str]:
        front = self._front()
        return {goal_text("goto", front)} if front else set()

    def _reachable(self) -> bool:
        """Every object has a free floor cell beside it that the agent can walk to (BabyAI rejects other scenes)."""
        room, start = self._room, tuple(int(v) for v in self._room.agent_pos)
        seen, todo = {start}, deque([start])
        while todo:
            x, y = todo.popleft()
            for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if (nx, ny) not in seen and room.grid.get(nx, ny) is None:
                    seen.add((nx, ny))
                    todo.append((nx, ny))
        for x in range(room.width):
            for y in range(room.height):
                if _thing(room.grid.get(x, y)) and not any(
                        p in seen for p in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1))):
                    return False
        return all(front in seen or front == start for front in room.door_front)

    def _sample_goal(self, rng: random.Random) -> tuple[str, list[Obj]]:
        family = rng.choice(self.families)
        objs = objects(self.split)
        if family == "open":
            return family, [(rng.choice(COLORS), DOOR)]
        if family == "putnext":
            return family, rng.sample(objs, 2)
        return family, [rng.choice(objs)]

    def _layout(self, family: str, need: list[Obj], rng: random.Random) -> tuple[list[Obj], list[str]]:
        """(objects, door colours) of a scene holding ``need``: objects distinct for put-next (as PutNextLocal), else
        repeats allowed; the level's doors in distinct colours (one more when the goal names a door)."""
        doors = [o[0] for o in need if o[1] == DOOR]
        need = [o for o in need if o[1] != DOOR]
        others = [c for c in COLORS if c not in doors]
        rng.shuffle(others)
        doors += others[:max(self.num_doors - len(doors), 0)]
        return self._objects(family, need, rng), doors

    def _objects(self, family: str, need: list[Obj], rng: random.Random) -> list[Obj]:
        pool = objects(self.split)
        if family == "putnext":
            rest = [o for o in pool if o not in need]
            rng.shuffle(rest)
            return list(need) + rest[:self.num_objs - len(need)]
        return list(need) + [rng.choice(pool) for _ in range(self.num_objs - len(need))]

    # ------------------------------------------------------------------ gym API
    def _info(self, achieved: set[str]) -> dict[str, Any]:
        return {"admissible_actions": list(ACTIONS), "achieved_goals": frozenset(achieved), "goal": self.goal,
                "feasible": True}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        goal = self.begin_reset(seed, options).get("goal")
        if goal is None:
            family, need = self._sample_goal(self._rng)
            goal = goal_text(family, *need)
        else:
            family, need = parse_goal(goal)
        for _ in range(100):  # BabyAI's rejection sampling: reachable objects, goal not already true
            self._room.layout, self._room.doors = self._layout(family, need, self._rng)
            self._room.reset(seed=self._rng.randrange(2**31))
            if self._reachable() and goal not in self._state_goals():
                break
        else:
            raise TextEnvError(f"could not sample a scene for {goal!r} in 100 tries (room_size={self.room_size}, "
                               f"num_objs={self.num_objs})")
        self.goal, self.t, self._done = goal, 0, False
        self._past.clear()
        self.horizon = self.max_steps or NAVS[family] * (self.room_size ** 2)
        self._room.max_steps = self.horizon + 1  # the text env truncates; minigrid's own limit never fires first
        return self._observe(), self._info(self._state_goals())

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if self.goal is None or self._done:
            raise TextEnvError("step() called after the episode ended (or before reset); call reset() first")
        if action not in ACTIONS:
            raise TextEnvError(f"action {action!r} is not admissible; admissible actions: {list(ACTIONS)}")
        room = self._room
        carried = _thing(room.carrying)
        front = room.grid.get(*room.front_pos)
        was_closed = _door(front) is not None and not front.is_open
        if self.history:
            self._past.append((self.describe(), action))  # the view acted on (a scene set after reset included)
        room.step(ACTIONS[action])
        achieved = self._state_goals()
        if action == "toggle" and was_closed and front.is_open:
            achieved.add(goal_text("open", _door(front)))
        if action == "pick up" and carried is None and room.carrying is not None:
            achieved.add(goal_text("pickup", _thing(room.carrying)))
        elif action == "drop" and carried is not None and room.carrying is None:
            x, y = room.front_pos
            for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                other = _thing(room.grid.get(nx, ny))
                if other and other != carried:
                    achieved.add(goal_text("putnext", carried, other))
        self.t += 1
        info = self._info(achieved)
        reward, terminated = self.compute_reward(self.goal, info["achieved_goals"])
        truncated = not terminated and self.t >= self.horizon
        self._done = terminated or truncated
        return self._observe(), reward, terminated, truncated, info

    def render(self) -> str:
        return self.describe() if self.goal is not None else ""
