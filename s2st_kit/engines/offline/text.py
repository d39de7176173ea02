"""Text normalisation shared by the offline engines.

pocketsphinx emits lower-case words without punctuation (``"i think i'm late"``); machine
translation and synthesis work much better on ``"I think I'm late."``. These helpers are
pure functions with no I/O.
"""

from __future__ import annotations

import re

__all__ = ["is_filler", "normalize_words", "restore_case", "strip_variant"]

#: lower-case token -> its written form (first-person pronoun and common titles).
_TRUECASE: dict[str, str] = {
    "i": "I",
    "i'm": "I'm",
    "i'll": "I'll",
    "i've": "I've",
    "i'd": "I'd",
    "mr": "Mr",
    "mrs": "Mrs",
    "ms": "Ms",
    "dr": "Dr",
}

_VARIANT = re.compile(r"\(\d+\)$")
_TERMINAL = (".", "!", "?", "…")


def strip_variant(word: str) -> str:
    """Remove a pronunciation-variant suffix: ``"was(2)"`` -> ``"was"``."""
    return _VARIANT.sub("", word)


def is_filler(word: str) -> bool:
    """True for pocketsphinx silence / filler / noise tokens.

    Examples: ``<s>``, ``</s>``, ``<sil>``, ``[NOISE]``, ``++GARBAGE++``.
    """
    return not word or word[0] in "<[+"


def normalize_words(words: list[str]) -> list[str]:
    """Drop fillers and variant suffixes from a decoder word list, keeping order."""
    return [strip_variant(w) for w in words if not is_filler(w)]


def restore_case(text: str, *, final_period: bool = True) -> str:
    """Restore ``I``-forms and titles, capitalise the first letter and end with a period.

    ``"i think i'm late"`` -> ``"I think I'm late."``. Empty or blank text gives ``""``.
    final_period: add ``"."`` unless the text already ends with ``. ! ? …`` (default True).
    """
    tokens = text.split()
    if not tokens:
        return ""
    out = [_TRUECASE.get(t.lower(), t) for t in tokens]
    first = out[0]
    out[0] = first[:1].upper() + first[1:]
    result = " ".join(out)
    if final_period and not result.endswith(_TERMINAL):
        result += "."
    return result
