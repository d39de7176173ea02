"""Commit policies: when recognised words are handed to translation.

A policy is pure and synchronous (no clock, no I/O): feed it every hypothesis with
:meth:`CommitPolicy.update` and it returns the :class:`Commit` pieces that became ready;
:meth:`CommitPolicy.finish` flushes at the end of the stream. The pipeline timestamps and
translates each commit as one segment.

``final``            each final result is one commit (the classic behaviour).
``stable``           commit the recognizer's *stable* prefix as soon as it ends at a sentence
                     or clause boundary (``. ! ? ; : ,``); the rest follows, at the latest
                     with the final.
``local-agreement``  commit the prefix that two consecutive hypotheses agree on
                     (LocalAgreement-2), for engines without stability flags.

Words are counted per utterance: once ``n`` words are committed, later commits start at
word ``n`` of whatever the recognizer says next, so every word is committed exactly once
even when the recognizer revises a word it had already shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from .config import POLICIES, PolicyName
from .errors import ConfigError
from .records import Transcript, Word

__all__ = [
    "Commit",
    "CommitPolicy",
    "FinalPolicy",
    "LocalAgreementPolicy",
    "StablePrefixPolicy",
    "make_policy",
]

_BOUNDARY = re.compile(r"[.!?;:,…。！？；：，]['\")\]]*$")


@dataclass(frozen=True, slots=True)
class Commit:
    """A piece of an utterance ready for translation.

    text: the committed words joined by spaces.
    first_word / end_word: word indices [first, end) within the utterance.
    audio_start_s / audio_end_s: span of those words in the recognizer's stream (s).
    closes_utterance: this is the last piece of its utterance.
    words: the committed words with their times in the recognizer's stream (s).
    """

    utterance_id: int
    text: str
    first_word: int
    end_word: int
    audio_start_s: float
    audio_end_s: float
    closes_utterance: bool
    language: str | None = None
    confidence: float | None = None
    words: tuple[Word, ...] = field(default=(), compare=False, repr=False)


@dataclass(slots=True)
class _Utterance:
    committed: int = 0
    previous: tuple[str, ...] = ()
    last: Transcript | None = None


def _words(t: Transcript) -> tuple[Word, ...]:
    """Timed words of a transcript; untimed text is spread evenly over the utterance span.

    When the engine's word list and its (normalised) text have the same number of tokens,
    the text's spelling wins: recognizers may restore case and punctuation in ``text`` only.
    """
    if t.words:
        tokens = t.text.split()
        if len(tokens) == len(t.words) and any(
            w.text != tok for w, tok in zip(t.words, tokens, strict=True)
        ):
            return tuple(
                Word(tok, w.start_s, w.end_s, w.stable, w.confidence)
                for w, tok in zip(t.words, tokens, strict=True)
            )
        return t.words
    tokens = t.text.split()
    if not tokens:
        return ()
    stable_n = len(t.stable_text.split()) if t.stable_text else 0
    total = sum(len(tok) + 1 for tok in tokens)
    span = max(t.end_s - t.start_s, 0.0)
    out, pos = [], 0
    for i, tok in enumerate(tokens):
        start = t.start_s + span * pos / total
        pos += len(tok) + 1
        out.append(Word(tok, start, t.start_s + span * pos / total, stable=i < stable_n))
    return tuple(out)


@dataclass(slots=True)
class CommitPolicy:
    """Base policy: commits each utterance whole when its final arrives (``final``).

    min_commit_words: early (pre-final) commits carry at least this many words.
    """

    min_commit_words: int = 3
    _utts: dict[int, _Utterance] = field(default_factory=dict, init=False, repr=False)
    _closed: set[int] = field(default_factory=set, init=False, repr=False)

    name: ClassVar[PolicyName] = "final"

    def update(self, transcript: Transcript) -> list[Commit]:
        """Take one hypothesis; return the commits it makes ready (possibly none)."""
        if transcript.utterance_id in self._closed:
            return []  # a late hypothesis for an utterance that already ended
        state = self._utts.setdefault(transcript.utterance_id, _Utterance())
        state.last = transcript
        words = _words(transcript)
        if transcript.is_final:
            out = self._commit(transcript, words, state, len(words), closes=True)
            del self._utts[transcript.utterance_id]
            self._closed.add(transcript.utterance_id)
            return out
        end = self._ready(words, state)
        if end - state.committed >= self.min_commit_words:
            return self._commit(transcript, words, state, end, closes=False)
        return []

    def finish(self) -> list[Commit]:
        """End of stream: commit what is left of every open utterance (as if final)."""
        out: list[Commit] = []
        for uid in sorted(self._utts):
            state = self._utts[uid]
            if state.last is not None:
                out += self._commit(state.last, _words(state.last), state, None, closes=True)
            self._closed.add(uid)
        self._utts.clear()
        return out

    def _ready(self, words: tuple[Word, ...], state: _Utterance) -> int:
        """Index one past the last word that may be committed now (base: none early)."""
        return state.committed

    @staticmethod
    def _commit(
        t: Transcript, words: tuple[Word, ...], state: _Utterance, end: int | None, *, closes: bool
    ) -> list[Commit]:
        end = len(words) if end is None else end
        piece = words[state.committed : end]
        first = state.committed
        state.committed = max(state.committed, end)
        if not piece:
            return []
        return [
            Commit(
                utterance_id=t.utterance_id,
                text=" ".join(w.text for w in piece),
                first_word=first,
                end_word=first + len(piece),
                audio_start_s=piece[0].start_s,
                audio_end_s=piece[-1].end_s,
                closes_utterance=closes,
                language=t.language,
                confidence=t.confidence,
                words=piece,
            )
        ]


class FinalPolicy(CommitPolicy):
    """Translate each final result: one commit per utterance."""

    name = "final"


class StablePrefixPolicy(CommitPolicy):
    """Commit the stable prefix once it ends at a sentence or clause boundary."""

    name = "stable"

    def _ready(self, words: tuple[Word, ...], state: _Utterance) -> int:
        stable_end = 0
        for w in words:
            if not w.stable:
                break
            stable_end += 1
        for i in range(stable_end, state.committed, -1):
            if _BOUNDARY.search(words[i - 1].text):
                return i
        return state.committed


class LocalAgreementPolicy(CommitPolicy):
    """Commit the longest prefix on which this and the previous hypothesis agree."""

    name = "local-agreement"

    def _ready(self, words: tuple[Word, ...], state: _Utterance) -> int:
        current = tuple(w.text for w in words)
        agreed = 0
        for a, b in zip(state.previous, current, strict=False):
            if a != b:
                break
            agreed += 1
        state.previous = current
        return max(agreed, state.committed)


_POLICIES: dict[str, type[CommitPolicy]] = {
    "final": FinalPolicy,
    "stable": StablePrefixPolicy,
    "local-agreement": LocalAgreementPolicy,
}


def make_policy(name: str, *, min_commit_words: int = 3) -> CommitPolicy:
    """A fresh policy by name (``final``, ``stable``, ``local-agreement``)."""
    try:
        cls = _POLICIES[name]
    except KeyError:
        raise ConfigError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}") from None
    return cls(min_commit_words=min_commit_words)
