"""The seam between the recognizer and a streaming SDK: one request, SDK-independent results.

:class:`StreamingBackend` opens requests, :class:`StreamingHandle` is one open request.
:class:`~.adapter.AmazonTranscribeBackend` implements them with ``amazon-transcribe``; an
adapter for another SDK (e.g. ``aws-sdk-transcribe-streaming``) implements the same
methods and raises :class:`TransientStreamError` for "reconnect and go on".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from ....errors import EngineError, S2STError
from .settings import TranscribeSettings

__all__ = [
    "ItemKind",
    "RawItem",
    "RawResult",
    "StreamingBackend",
    "StreamingHandle",
    "TransientStreamError",
]

ItemKind = Literal["pronunciation", "punctuation"]


@dataclass(frozen=True, slots=True)
class RawItem:
    """One item of a result as the service sent it (times in *stream* seconds)."""

    content: str
    start_s: float
    end_s: float
    kind: ItemKind = "pronunciation"
    stable: bool | None = None
    confidence: float | None = None
    speaker: str | None = None


@dataclass(frozen=True, slots=True)
class RawResult:
    """One result of a TranscriptEvent, SDK-independent (times in *stream* seconds)."""

    result_id: str
    start_s: float
    end_s: float
    is_partial: bool
    transcript: str
    items: tuple[RawItem, ...] = ()
    language_code: str | None = None


class TransientStreamError(EngineError):
    """The stream failed in a way a reconnect may fix (internal to the recognizer).

    final: what to raise when the reconnects are exhausted (default: a StreamClosedError).
    """

    retryable = True

    def __init__(self, message: str, *, final: S2STError | None = None) -> None:
        super().__init__(message, engine="aws-transcribe")
        self.final = final


class StreamingHandle(Protocol):
    """One open streaming request."""

    async def send(self, pcm: bytes) -> None:
        """Send one audio event (raises TransientStreamError / S2STError)."""
        ...

    async def end(self) -> None:
        """Signal the end of the audio."""
        ...

    def results(self) -> AsyncIterator[RawResult]:
        """Results until the service ends the stream (raises on a stream error)."""
        ...

    async def aclose(self) -> None:
        """Drop the request and its connection. Idempotent."""
        ...


class StreamingBackend(Protocol):
    """Opens streaming requests: the only part of the recognizer that knows the SDK."""

    async def open(self, settings: TranscribeSettings) -> StreamingHandle:
        """Start one StartStreamTranscription request (raises ConfigError on BadRequest)."""
        ...

    async def aclose(self) -> None:
        """Release what the backend holds (TLS context, connections). Idempotent."""
        ...
