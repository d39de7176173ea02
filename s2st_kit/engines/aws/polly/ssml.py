"""The Text of a Polly request: plain text, or an SSML document built around escaped text.

:func:`request_text` builds what is sent and keeps, for every character of the plain text,
the UTF-8 byte offset where it begins in that document — speech marks give their
``start`` / ``end`` as byte offsets into the request's Text (SSML tags and entities
included), and :meth:`RequestText.char_span` maps them back to characters of the plain
text. :func:`pieces` splits long text under Polly's limits (3,000 billed characters,
6,000 characters of the whole SSML document).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from ....errors import ConfigError
from .._text import split_text

__all__ = [
    "MAX_BILLED_CHARS",
    "MAX_RATE_PERCENT",
    "MAX_TOTAL_CHARS",
    "MIN_RATE_PERCENT",
    "RequestText",
    "check_prosody",
    "pieces",
    "request_text",
    "ssml_for",
]

#: Characters billed per SynthesizeSpeech request (SSML tags excluded).
MAX_BILLED_CHARS = 3000
#: Characters per request including SSML tags.
MAX_TOTAL_CHARS = 6000
#: The ``<prosody rate="N%">`` range Polly documents (% of the voice's natural rate).
MIN_RATE_PERCENT, MAX_RATE_PERCENT = 20, 200

_RATES = ("x-slow", "slow", "medium", "fast", "x-fast")
_VOLUMES = ("silent", "x-soft", "soft", "medium", "loud", "x-loud")
_PITCHES = ("default", "x-low", "low", "medium", "high", "x-high")
_FORMATS = {
    "rate": (re.compile(r"\d{1,3}%"), "90%"),
    "volume": (re.compile(r"[+-]\d+(\.\d+)?dB"), "+6dB"),
    "pitch": (re.compile(r"[+-]\d+(\.\d+)?%"), "+10%"),
}
_WORDS = {"rate": _RATES, "volume": _VOLUMES, "pitch": _PITCHES}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def check_prosody(name: Literal["rate", "volume", "pitch"], value: str | None) -> None:
    """Raise ConfigError unless ``value`` is a valid ``<prosody {name}>`` (or None).

    rate: x-slow..x-fast or ``"N%"``; volume: silent..x-loud or ``"+NdB"`` / ``"-NdB"``;
    pitch: default, x-low..x-high or ``"+N%"`` / ``"-N%"`` (relative change).
    """
    if value is None or value in _WORDS[name]:
        return
    pattern, example = _FORMATS[name]
    if pattern.fullmatch(value):
        return
    raise ConfigError(
        f"{name} must be one of {', '.join(_WORDS[name])} or a value like {example}, got {value!r}"
    )


def base_percent(rate: str | None) -> int | None:
    """A configured ``rate`` as % of the voice's natural rate: unset or ``"medium"`` (the
    voice's normal speed) is 100, ``"N%"`` is N; the other named rates have no documented
    percentage (None)."""
    if rate is None or rate == "medium":
        return 100
    return int(rate[:-1]) if rate.endswith("%") else None


def scaled_rate(rate: str | None, speed: float) -> str | None:
    """``rate`` × ``speed`` as ``"N%"`` within 20-200 %; None for a named rate."""
    if not (speed > 0 and math.isfinite(speed)):
        raise ConfigError(f"speed must be a positive number (× natural), got {speed}")
    base = base_percent(rate)
    if base is None:
        return None
    return f"{min(MAX_RATE_PERCENT, max(MIN_RATE_PERCENT, round(base * speed)))}%"


@dataclass(frozen=True, slots=True)
class RequestText:
    """The ``Text`` / ``TextType`` of one request, and where each plain character is in it.

    byte_starts: for character i of the plain text, the UTF-8 byte offset in ``text``
    where it begins; one more entry, the offset just after the last character.
    """

    text: str
    text_type: Literal["text", "ssml"]
    byte_starts: tuple[int, ...]

    def char_span(self, start_byte: int, end_byte: int) -> tuple[int, int]:
        """Characters ``[start, end)`` of the plain text covered by the bytes
        ``[start_byte, end_byte)`` of :attr:`text` (a speech mark's ``start`` / ``end``);
        offsets inside tags snap to the nearest characters of the text."""
        n = len(self.byte_starts) - 1
        start = min(n, max(0, bisect_right(self.byte_starts, start_byte) - 1))
        end = min(n, max(start, bisect_left(self.byte_starts, end_byte)))
        return start, end


def _tags(
    rate: str | None, volume: str | None, pitch: str | None, newscaster: bool
) -> tuple[str, str]:
    attrs = "".join(
        f' {k}="{escape(v, {chr(34): "&quot;"})}"'
        for k, v in (("rate", rate), ("volume", volume), ("pitch", pitch))
        if v is not None
    )
    head, tail = "<speak>", "</speak>"
    if newscaster:
        head, tail = head + '<amazon:domain name="news">', "</amazon:domain>" + tail
    if attrs:
        head, tail = head + f"<prosody{attrs}>", "</prosody>" + tail
    return head, tail


def request_text(
    text: str,
    *,
    rate: str | None = None,
    volume: str | None = None,
    pitch: str | None = None,
    newscaster: bool = False,
    ssml: bool | None = None,
) -> RequestText:
    """What to send for ``text``: SSML when any option is set (or ``ssml=True``), the
    text XML-escaped (characters XML forbids become spaces) inside ``<speak>``, then
    ``<amazon:domain name="news">`` (``newscaster``), then ``<prosody>``; else the text."""
    if ssml is None:
        ssml = newscaster or any(v is not None for v in (rate, volume, pitch))
    if not ssml:
        parts, head, tail = list(text), "", ""
    else:
        parts = [escape(_XML_INVALID.sub(" ", ch)) for ch in text]
        head, tail = _tags(rate, volume, pitch, newscaster)
    starts = []
    offset = len(head.encode("utf-8"))
    for part in parts:
        starts.append(offset)
        offset += len(part.encode("utf-8"))
    starts.append(offset)
    return RequestText(head + "".join(parts) + tail, "ssml" if ssml else "text", tuple(starts))


def ssml_for(
    text: str,
    *,
    rate: str | None = None,
    volume: str | None = None,
    pitch: str | None = None,
    newscaster: bool = False,
) -> str:
    """``<speak>`` document saying ``text`` (XML-escaped), wrapped in
    ``<amazon:domain name="news">`` when ``newscaster`` and in ``<prosody>`` when ``rate``
    (``"fast"``, ``"90%"``), ``volume`` (``"loud"``, ``"+3dB"``) or ``pitch`` (``"high"``,
    ``"-10%"``) is set."""
    return request_text(
        text, rate=rate, volume=volume, pitch=pitch, newscaster=newscaster, ssml=True
    ).text


def pieces(
    text: str,
    *,
    rate: str | None = None,
    volume: str | None = None,
    pitch: str | None = None,
    newscaster: bool = False,
) -> list[str]:
    """``text`` split into requests within Polly's limits (billed characters, and total
    characters of the SSML document when an option makes it one); ``"".join`` gives
    ``text`` back."""
    if not newscaster and rate is None and volume is None and pitch is None:
        return split_text(text, limit=MAX_BILLED_CHARS)
    overhead = len(ssml_for("", rate=rate, volume=volume, pitch=pitch, newscaster=newscaster))
    slack = MAX_TOTAL_CHARS - MAX_BILLED_CHARS

    def size(piece: str) -> int:
        escaped = len(escape(_XML_INVALID.sub(" ", piece)))
        return max(len(piece), escaped + overhead - slack)

    return split_text(text, limit=MAX_BILLED_CHARS, size=size)
