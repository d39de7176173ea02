"""Events a running pipeline publishes to its subscribers (UIs, progress printers).

Every event carries ``t``: seconds on the session clock. Subscribers are called on the
event loop, synchronously, in the order events happen; they must return quickly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .records import Transcript, Translation

__all__ = [
    "AudioFinished",
    "AudioStarted",
    "ErrorEvent",
    "Event",
    "EventKind",
    "FinalTranscript",
    "PartialTranscript",
    "SegmentCommitted",
    "SegmentLogged",
    "StateChanged",
    "TranslationReady",
    "WordsTimed",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base class: ``t`` is session time (s)."""

    t: float

    @property
    def kind(self) -> EventKind:
        """Short name, e.g. ``"partial"``, for filtering."""
        return _KIND[type(self).__name__]


@dataclass(frozen=True, slots=True)
class PartialTranscript(Event):
    """A new partial hypothesis (``utterance_id`` is the pipeline's count)."""

    transcript: Transcript
    utterance_id: int


@dataclass(frozen=True, slots=True)
class FinalTranscript(Event):
    """The final hypothesis of an utterance."""

    transcript: Transcript
    utterance_id: int


@dataclass(frozen=True, slots=True)
class SegmentCommitted(Event):
    """Text committed by the policy; it becomes segment ``segment_id``.

    utterance_id: the pipeline's utterance the text belongs to (as on the transcript events).
    """

    segment_id: int
    text: str
    utterance_id: int = -1


@dataclass(frozen=True, slots=True)
class TranslationReady(Event):
    """Segment ``segment_id`` was translated (for ``listener``'s branch of a fan-out)."""

    segment_id: int
    translation: Translation
    listener: str | None = None


@dataclass(frozen=True, slots=True)
class WordsTimed(Event):
    """Segment ``segment_id``'s translation was synthesized and its words timed.

    words: (word, start, end) in s from the segment's first played sample, at the speed it
        plays (the engine's marks, or an estimate in proportion to characters when
        ``estimated``). The words table gets them on the session clock once it has played.
    listener: the branch (fan-out) the segment's speech belongs to.
    """

    segment_id: int
    words: tuple[tuple[str, float, float], ...]
    estimated: bool = False
    listener: str | None = None


@dataclass(frozen=True, slots=True)
class AudioStarted(Event):
    """Playback of segment ``segment_id`` started.

    lag_s: how far behind the speaker it starts (s: now − when its last word was spoken;
        None when unknown). speed: its playback speed (1.0 = natural; > 1 under lag control).
    listener: the branch it plays in (a fan-out has one per listener).
    """

    segment_id: int
    lag_s: float | None = None
    speed: float = 1.0
    listener: str | None = None


@dataclass(frozen=True, slots=True)
class AudioFinished(Event):
    """Playback of segment ``segment_id`` finished (``audio_s`` seconds were played) in
    ``listener``'s branch."""

    segment_id: int
    audio_s: float
    listener: str | None = None


@dataclass(frozen=True, slots=True)
class SegmentLogged(Event):
    """A row was appended to the log (``row`` has the log's columns)."""

    segment_id: int
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorEvent(Event):
    """Something failed. ``segment_id`` is None for session-level errors; ``fatal`` ends the run."""

    stage: str
    message: str
    segment_id: int | None = None
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class StateChanged(Event):
    """The pipeline moved to ``state`` (idle, running, stopping, stopped, failed)."""

    state: str


#: The short names of the event classes (:attr:`Event.kind`).
EventKind = Literal[
    "event", "partial", "final", "committed", "translation", "audio_started", "audio_finished",
    "segment", "error", "state", "words",
]  # fmt: skip

_KIND: dict[str, EventKind] = {
    "Event": "event",
    "PartialTranscript": "partial",
    "FinalTranscript": "final",
    "SegmentCommitted": "committed",
    "TranslationReady": "translation",
    "WordsTimed": "words",
    "AudioStarted": "audio_started",
    "AudioFinished": "audio_finished",
    "SegmentLogged": "segment",
    "ErrorEvent": "error",
    "StateChanged": "state",
}
