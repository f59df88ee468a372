"""Prompt construction from (goal, observation).

The template is a ``str.format`` string with the fields ``{goal}`` and ``{observation}``. Default::

    Goal: grow carrot
    Observation: You see: carrot seed, water, baby cow. You are standing on nothing. Inventory: empty.
    Action:

Candidates (admissible actions) are scored as the continuation of this prompt. The prompt holds no action history:
hindsight relabelling rebuilds a stored step's prompt from (new goal, observation) alone.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass

__all__ = ["PromptBuilder", "DEFAULT_TEMPLATE"]

DEFAULT_TEMPLATE = "Goal: {goal}\nObservation: {observation}\nAction:\n"
_FIELDS = {"goal", "observation"}
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

    def __post_init__(self) -> None:
        # configs saved by autotelic 0.1 carry an always-empty {history} field: drop it so their runs resume
        self.template = self.template.replace("{history}", "")
        fields = _fields(self.template)
        unknown = set(fields) - _FIELDS
        if unknown:
            raise ValueError(f"prompt template has unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}")
        for need in ("goal", "observation"):
            if need not in fields:
                raise ValueError(f"prompt template must contain {{{need}}}: {self.template!r}")

    def __call__(self, goal: str, observation: str) -> str:
        """The prompt for pursuing ``goal`` from ``observation``."""
        return self.template.format(goal=goal, observation=observation)

    def words(self) -> list[str]:
        """Words and punctuation of the template text itself (not its fields), sorted and unique."""
        return sorted(set(_WORD.findall(_literal(self.template).lower())))
