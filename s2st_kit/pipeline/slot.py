"""A committed segment on its way to the sink (shared by the workers and the scheduler)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..records import AudioChunk, Segment
from ..words import SegmentWords

__all__ = ["END", "Slot"]

END = object()  # end of a slot's audio (also the end-of-stream marker of the session's queues)


@dataclass(slots=True)
class Slot:
    """A segment between commit and logging, with its audio on the way to the sink.

    speed: the playback speed lag control chose before synthesis (1.0 = natural).
    synthesized: all of its audio has been handed to ``audio``.
    finished: its row has been logged.
    words: its synthesized words (marks or estimate) and where its audio played.
    """

    segment: Segment
    audio: asyncio.Queue[AudioChunk | object] = field(default_factory=lambda: asyncio.Queue(256))
    speed: float = 1.0
    synthesized: bool = False
    finished: bool = False
    words: SegmentWords = field(default_factory=SegmentWords)
