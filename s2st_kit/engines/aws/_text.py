"""Splitting long text at sentence boundaries under a size limit (service request limits)."""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["split_sentences", "split_text", "utf8_len"]

# A sentence: anything up to terminal punctuation followed by space / end, or a CJK full
# stop, plus the whitespace after it. The pieces concatenate back to the input exactly.
_SENTENCE = re.compile(r".+?(?:[.!?…]+[\"'”’)\]]*(?=\s|$)|[。！？]+|$)\s*", re.S)


def utf8_len(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes."""
    return len(text.encode("utf-8"))


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` with their trailing whitespace; ``"".join(result) == text``."""
    return [m.group(0) for m in _SENTENCE.finditer(text) if m.group(0)]


def _hard_split(sentence: str, limit: int, size: Callable[[str], int]) -> list[str]:
    """Split one over-long sentence at whitespace, and a too-long word by characters."""
    pieces: list[str] = []
    current = ""
    for word in re.findall(r"\S+\s*|\s+", sentence):
        if size(current + word) <= limit:
            current += word
            continue
        if current:
            pieces.append(current)
            current = ""
        if size(word) <= limit:
            current = word
            continue
        for char in word:  # a single "word" longer than the limit
            if size(current + char) > limit:
                pieces.append(current)
                current = ""
            current += char
    if current:
        pieces.append(current)
    return pieces


def split_text(text: str, *, limit: int, size: Callable[[str], int] = len) -> list[str]:
    """Pack whole sentences into pieces with ``size(piece) <= limit``.

    A sentence longer than ``limit`` is split at whitespace, and a word longer than
    ``limit`` by characters. ``"".join(result) == text``; no piece is empty.
    ``size`` measures a piece (default: characters; use :func:`utf8_len` for bytes).
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if size(text) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        if size(current + sentence) <= limit:
            current += sentence
            continue
        if current:
            pieces.append(current)
            current = ""
        if size(sentence) <= limit:
            current = sentence
        else:
            *head, current = _hard_split(sentence, limit, size)
            pieces.extend(head)
    if current:
        pieces.append(current)
    return pieces
