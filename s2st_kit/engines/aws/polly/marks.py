"""Polly speech marks (word and sentence) mapped onto the text and the audio of a synthesis.

Polly answers a request with ``OutputFormat=json`` and ``SpeechMarkTypes`` with one JSON
object per line: ``{"time": 373, "type": "word", "start": 5, "end": 8, "value": "had"}`` —
``time`` in ms from the start of that request's audio, ``start`` / ``end`` byte offsets
(UTF-8, not characters) into the request's ``Text``: the SSML document, tags and entities
included, when the text was sent as SSML (https://docs.aws.amazon.com/polly/latest/dg/output.html).
:func:`parse_marks` turns them into :class:`SpeechMark` items in seconds and in characters
of the plain text the caller gave.

Word marks have a start only: :meth:`SpeechMark.word_mark` leaves ``end_s`` None (the next
word's start, or the end of the audio, closes a word; the gap before the next word is a
pause, not part of the word).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from ....errors import EngineError
from ....records import WordMark
from .ssml import RequestText

__all__ = ["MARK_TYPES", "SpeechMark", "marks_request", "parse_marks"]

#: The speech mark types requested alongside the audio.
MARK_TYPES = ("word", "sentence")


@dataclass(frozen=True, slots=True)
class SpeechMark:
    """One word or sentence of synthesized speech.

    kind: ``"word"`` or ``"sentence"``. time_s: when it starts (s from the first sample of
    the audio the same call yields). char_start / char_end: its span in the text given to
    that call. text: that span of the text.
    """

    kind: Literal["word", "sentence"]
    time_s: float
    char_start: int
    char_end: int
    text: str

    def word_mark(self) -> WordMark:
        """As a :class:`~s2st_kit.records.WordMark` (``end_s`` None: Polly gives starts only)."""
        return WordMark(
            text=self.text,
            start_s=self.time_s,
            end_s=None,
            char_start=self.char_start,
            char_end=self.char_end,
        )


def marks_request(audio_request: dict[str, Any]) -> dict[str, Any]:
    """The speech-marks request for an audio request: the same Text, voice, engine,
    lexicons and language, ``OutputFormat=json`` and word + sentence marks."""
    request = {k: v for k, v in audio_request.items() if k != "SampleRate"}
    request["OutputFormat"] = "json"
    request["SpeechMarkTypes"] = list(MARK_TYPES)
    return request


def parse_marks(
    raw: bytes,
    request: RequestText,
    piece: str,
    *,
    char_offset: int = 0,
    time_offset_s: float = 0.0,
) -> list[SpeechMark]:
    """Word and sentence marks of ``raw`` (Polly's JSON lines for ``request``, which says
    ``piece``); other mark types are skipped. Character spans are shifted by
    ``char_offset`` (where ``piece`` starts in the caller's text) and times by
    ``time_offset_s`` (where its audio starts in the call's audio, s).

    Raises EngineError for a line that is not a speech mark.
    """
    marks = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            kind, time_ms = item["type"], float(item["time"])
            if kind not in MARK_TYPES:
                continue
            start, end = request.char_span(int(item["start"]), int(item["end"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise EngineError(
                f"aws-polly: speech mark line {number} is not a mark: {line[:80]!r}",
                engine="aws-polly",
            ) from exc
        marks.append(
            SpeechMark(
                kind=kind,
                time_s=time_offset_s + time_ms / 1000,
                char_start=char_offset + start,
                char_end=char_offset + end,
                text=piece[start:end],
            )
        )
    return marks
