"""Prompt construction from (goal, observation[, recent actions]).

The template is a ``str.format`` string with the fields ``{goal}``, ``{observation}`` and optionally ``{history}``.
Default (``history_k=0``)::

    Goal: grow carrot
    Observation: You see: carrot seed, water, baby cow. You are standing on nothing. Inventory: empty.
    Action:

With ``history_k=k > 0`` the last k actions are rendered by ``history_template`` (``{actions}`` joined by
``history_sep``) into ``{history}``, e.g. ``"Previous actions: Go to water, Grasp\\n"``; with no past actions the
history line is omitted. Candidates (admissible actions) are scored as the continuation of this prompt.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Sequence

__all__ = ["PromptBuilder", "DEFAULT_TEMPLATE"]

DEFAULT_TEMPLATE = "Goal: {goal}\n{history}Observation: {observation}\nAction:\n"
_FIELDS = {"goal", "observation", "history"}
_WORD = re.compile(r"\w+|[^\w\s]")


def _fields(template: str) -> list[str]:
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise ValueError(f"bad prompt template {template!r}: {e}") from None


def _literal(template: str) -> str:
    return " ".join(lit for lit, _, _, _ in string.Formatter().parse(template))


@dataclass
class PromptBuilder:
    """Builds the policy prompt; ``words()`` lists the template's own words for a word-level tokenizer."""

    template: str = DEFAULT_TEMPLATE
    history_k: int = 0
    history_template: str = "Previous actions: {actions}\n"
    history_sep: str = ", "

    def __post_init__(self) -> None:
        fields = _fields(self.template)
        unknown = set(fields) - _FIELDS
        if unknown:
            raise ValueError(f"prompt template has unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}")
        for need in ("goal", "observation"):
            if need not in fields:
                raise ValueError(f"prompt template must contain {{{need}}}: {self.template!r}")
        if self.history_k < 0:
            raise ValueError(f"history_k must be >= 0, got {self.history_k}")
        if self.history_k > 0:
            if "history" not in fields:
                raise ValueError("history_k > 0 needs a {history} field in the template")
            hf = _fields(self.history_template)
            if set(hf) != {"actions"}:
                raise ValueError(f"history_template must use exactly the field {{actions}}: {self.history_template!r}")

    def history_text(self, history: Sequence[str] = ()) -> str:
        """The rendered ``{history}`` part: the last ``history_k`` actions, or "" (none kept or none yet)."""
        if isinstance(history, str):
            raise TypeError("history must be a sequence of action strings, not a str")
        if self.history_k == 0 or not history:
            return ""
        recent = list(history)[-self.history_k:]
        return self.history_template.format(actions=self.history_sep.join(recent))

    def __call__(self, goal: str, observation: str, history: Sequence[str] = ()) -> str:
        """The prompt for pursuing ``goal`` from ``observation`` after the actions in ``history`` (oldest first)."""
        return self.template.format(goal=goal, observation=observation, history=self.history_text(history))

    def words(self) -> list[str]:
        """Words and punctuation of the template text itself (not its fields), sorted and unique."""
        text = _literal(self.template)
        if self.history_k > 0:
            text += " " + _literal(self.history_template) + " " + self.history_sep
        return sorted(set(_WORD.findall(text.lower())))
