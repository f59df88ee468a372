"""The word-level vocabulary of the tiny models: split text into words, probe an env for its words, grow into spare
embedding rows at run time, and watch the [UNK] rate.

A tiny model's word ids are fixed at build time from ``vocabulary`` (``env.vocabulary()`` + the prompt's words, or
``probe_vocabulary(env)`` for an env without one) and its embedding has ``spare_rows`` more rows than that
(``autotelic.lm.build_lm``). ``WordVocab.add`` gives a word first seen at run time the next free row; once the rows
are used up a new word stays [UNK] and is remembered in ``WordVocab.overflow``. No tensor is ever resized, so
optimisers, critic heads shaped on ``vocab_size`` and checkpoints keep their shapes.

``UnkMonitor`` reads a model's [UNK] rate for the metric ``charts/unk_rate`` and prints one warning line, once, the
first time the rate is above its threshold (2%).
"""
from __future__ import annotations

import copy
import functools
import random
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

__all__ = ["PAD", "EOS", "UNK", "SPECIALS", "new_word_pipeline", "split_words", "probe_vocabulary", "WordVocab", "UnkMonitor",
           "unk_warning", "UNK_WARN_THRESHOLD"]

PAD, EOS, UNK = "[PAD]", "[EOS]", "[UNK]"
SPECIALS = (PAD, EOS, UNK)  # ids 0, 1, 2 of every word-level tokenizer
UNK_WARN_THRESHOLD = 0.02
MAX_OVERFLOW = 1000  # words remembered (for the warning's examples) that found no free row


def new_word_pipeline() -> tuple[Any, Any]:
    """A fresh (normalizer, pre-tokenizer) of the word-level tokenizer: NFKC, lower case, whitespace split,
    punctuation split off as single-character words."""
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    pre = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("isolated")])
    return normalizer, pre


@functools.lru_cache(maxsize=1)
def _shared_pipeline() -> tuple[Any, Any]:
    return new_word_pipeline()


def split_words(text: str) -> list[str]:
    """The words of ``text`` exactly as the word-level tokenizer splits it (in order, repeats kept)."""
    if not isinstance(text, str):
        raise TypeError(f"expected str, got {type(text).__name__}: {text!r}")
    normalizer, pre = _shared_pipeline()
    return [w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text))]


def _texts_of(info: dict) -> list[str]:
    out = [str(a) for a in info.get("admissible_actions", ())]
    out += [str(g) for g in info.get("achieved_goals", ())]
    return out


def probe_vocabulary(env: Any, episodes: int = 64, seed: int = 0, max_steps: int = 64,
                     texts: Iterable[str] = ()) -> list[str]:
    """Sorted words seen in ``episodes`` random episodes of ``env`` (observations, admissible actions, achieved
    goals, the pursued goal and ``env.all_goals()`` where it exists) plus those of ``texts``.

    Episode i resets with seed ``seed + i`` and takes uniformly random admissible actions (``random.Random(seed)``)
    for at most ``max_steps`` steps, so the result is a function of (env, seed). The episodes run on a deep copy of
    ``env`` where it can be copied (otherwise on ``env`` itself; its next seeded reset starts afresh anyway). Pass
    an in-process env (e.g. a fresh ``autotelic.workers.make_env(cfg.env)``), not a view of a worker process.
    """
    if episodes < 0 or max_steps < 1:
        raise ValueError(f"probe_vocabulary needs episodes >= 0 and max_steps >= 1, got {episodes}, {max_steps}")
    try:
        probe = copy.deepcopy(env)
    except Exception:  # an env holding a process, socket or lock: play on it; the loop reseeds it on reset
        probe = env
    seen: list[str] = [str(t) for t in texts]
    base = getattr(probe, "unwrapped", probe)
    all_goals = getattr(base, "all_goals", None)
    if callable(all_goals):
        try:
            seen += [str(g) for g in all_goals()]
        except TypeError:  # all_goals needs a split argument in this env
            pass
    rng = random.Random(seed)
    for i in range(episodes):
        obs, info = probe.reset(seed=seed + i)
        seen.append(str(obs))
        seen += _texts_of(info)
        goal = getattr(base, "goal", None)
        if goal is not None:
            seen.append(str(goal))
        for _ in range(max_steps):
            actions = list(info.get("admissible_actions", ()))
            if not actions:
                break
            obs, _, terminated, truncated, info = probe.step(actions[rng.randrange(len(actions))])
            seen.append(str(obs))
            seen += _texts_of(info)
            if terminated or truncated:
                break
    words: set[str] = set()
    for text in seen:
        words.update(split_words(text))
    return sorted(words - set(SPECIALS))


class WordVocab:
    """Word → id map of a word-level tokenizer whose model has ``capacity`` embedding rows.

    ``add(words)`` gives each new word the next free id (in sorted order, so a batch's ids do not depend on the order
    of its texts) and rebuilds the tokenizer's WordLevel model; words beyond ``capacity`` stay [UNK] and are kept
    in ``overflow``. ``words()`` / ``set_words()`` save and restore the map (ids are list positions).
    """

    def __init__(self, tokenizer: Any, capacity: int) -> None:
        self.tokenizer = tokenizer
        self.ids: dict[str, int] = dict(tokenizer.get_vocab())
        if sorted(self.ids.values()) != list(range(len(self.ids))):
            raise ValueError("word-level tokenizer ids must be 0 .. n-1")
        if capacity < len(self.ids):
            raise ValueError(f"the model has {capacity} embedding rows for {len(self.ids)} words")
        self.capacity = int(capacity)
        self.overflow: set[str] = set()

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def free(self) -> int:
        """Embedding rows not yet given to a word."""
        return self.capacity - len(self.ids)

    def words(self) -> list[str]:
        """Every word (specials first) in id order."""
        out = [""] * len(self.ids)
        for w, i in self.ids.items():
            out[i] = w
        return out

    def unknown(self, words: Iterable[str]) -> list[str]:
        """The words of ``words`` that have no id (sorted, unique)."""
        return sorted({w for w in words if w not in self.ids})

    def add(self, words: Iterable[str]) -> list[str]:
        """Give each new word of ``words`` a free row while rows are left; returns the words added."""
        new = self.unknown(words)
        room = max(self.free, 0)
        added, rest = new[:room], new[room:]
        self.overflow.update(rest[: max(MAX_OVERFLOW - len(self.overflow), 0)])
        if added:
            for w in added:
                self.ids[w] = len(self.ids)
            self._rebuild()
        return added

    def set_words(self, words: Sequence[str]) -> None:
        """Replace the map by ``words`` in id order (as saved by ``words()``)."""
        words = list(words)
        if tuple(words[:len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a saved word vocabulary starts with {list(SPECIALS)}, got {words[:3]}")
        if len(set(words)) != len(words):
            raise ValueError("a saved word vocabulary has repeated words")
        if len(words) > self.capacity:
            raise ValueError(f"a saved word vocabulary of {len(words)} words does not fit this model's "
                             f"{self.capacity} embedding rows")
        self.ids = {w: i for i, w in enumerate(words)}
        self.overflow = set()
        self._rebuild()

    def _rebuild(self) -> None:
        from tokenizers.models import WordLevel

        self.tokenizer.backend_tokenizer.model = WordLevel(dict(self.ids), unk_token=UNK)


def unk_warning(rate: float, threshold: float = UNK_WARN_THRESHOLD, examples: Sequence[str] = (),
                word_level: bool = True) -> str | None:
    """The one-line warning for an [UNK] rate above ``threshold`` (None when it is not)."""
    if not rate > threshold:
        return None
    eg = f" (e.g. {', '.join(repr(w) for w in list(examples)[:5])})" if examples else ""
    if word_level:
        fix = ("the tiny model's spare vocabulary rows are used up: raise model.kwargs.spare_rows, or give the env "
               "a vocabulary() listing its words")
    else:
        fix = "the model's tokenizer has no tokens for them"
    return f"warning: {rate:.1%} of the tokens the policy reads are [UNK]{eg}; actions that differ only in such " \
           f"words look identical to it: {fix}"


@dataclass
class UnkMonitor:
    """Reads ``lm.unk_rate()`` (which resets the count) for the metric ``charts/unk_rate``; the first time the rate
    is above ``threshold`` it emits ``unk_warning(...)`` once (``emit``: one line to stderr by default)."""

    threshold: float = UNK_WARN_THRESHOLD
    emit: Callable[[str], Any] = field(default=lambda line: print(line, file=sys.stderr, flush=True))
    warned: bool = False

    def read(self, lm: Any) -> float:
        rate = float(lm.unk_rate())
        if not self.warned:
            vocab = getattr(lm, "word_vocab", None)
            examples = sorted(vocab.overflow, key=lambda w: (not w.isalnum(), w)) if vocab is not None else []
            line = unk_warning(rate, self.threshold, examples, word_level=vocab is not None)
            if line is not None:
                self.emit(line)
                self.warned = True
        return rate
