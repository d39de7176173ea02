"""The three engine interfaces, plus audio sources and sinks.

Engines are small: one streaming method each, a few capability queries so a bad choice
fails before a session starts, and ``aclose()``. They never take timestamps for the log:
the pipeline does that around every call.

Blocking SDKs and libraries (boto3, pocketsphinx, Apertium pipes, eSpeak) must run their
work in threads; an engine method must never block the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol, runtime_checkable

from ..records import AudioChunk, Transcript, Translation, Voice

__all__ = ["AudioSink", "AudioSource", "Recognizer", "Synthesizer", "Translator"]


@runtime_checkable
class Recognizer(Protocol):
    """Streaming speech recognition.

    name: short engine id recorded in the log (``"pocketsphinx"``, ``"aws-transcribe"``).
    sample_rate: the PCM rate (Hz) the recognizer wants; the pipeline converts to it.
    """

    name: str
    sample_rate: int

    def languages(self) -> frozenset[str]:
        """ISO 639-1 codes the recognizer can transcribe (``"auto"`` if it can identify)."""
        ...

    def stream(
        self, chunks: AsyncIterable[AudioChunk], *, language: str
    ) -> AsyncIterator[Transcript]:
        """Recognise ``chunks`` (mono s16le at ``sample_rate``) and yield hypotheses.

        Partial hypotheses have ``is_final=False``; each utterance ends with exactly one
        ``is_final=True`` transcript. The iterator ends after the input ends and the last
        final has been yielded.
        """
        ...

    async def aclose(self) -> None:
        """Release resources (threads, connections). Idempotent."""
        ...


@runtime_checkable
class Translator(Protocol):
    """Text translation."""

    name: str

    def pairs(self) -> frozenset[tuple[str, str]]:
        """Supported (source, target) pairs of ISO 639-1 codes."""
        ...

    async def translate(self, text: str, *, source: str, target: str) -> Translation:
        """Translate ``text``. Raises :class:`~s2st_kit.errors.EngineError` subclasses."""
        ...

    async def aclose(self) -> None:
        """Release resources. Idempotent."""
        ...


@runtime_checkable
class Synthesizer(Protocol):
    """Streaming text-to-speech.

    sample_rate: rate (Hz) of the chunks it yields.
    """

    name: str
    sample_rate: int

    def voices(self, language: str | None = None) -> list[Voice]:
        """Voices, optionally only those speaking ``language`` (ISO 639-1)."""
        ...

    def default_voice(self, language: str) -> str:
        """The voice id used when the config names none; raises UnsupportedLanguageError."""
        ...

    def synthesize(self, text: str, *, voice: str, language: str) -> AsyncIterator[AudioChunk]:
        """Yield audio as soon as the engine produces it (first chunk before synthesis ends)."""
        ...

    async def aclose(self) -> None:
        """Release resources. Idempotent."""
        ...


@runtime_checkable
class AudioSource(Protocol):
    """Where speech comes from: an async iterator of mono PCM chunks.

    sample_rate: rate (Hz) of the chunks it yields (sources down-mix to mono themselves);
    the pipeline resamples to the recognizer's rate and re-chunks to ``chunk_ms``.
    """

    sample_rate: int

    def __aiter__(self) -> AsyncIterator[AudioChunk]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class AudioSink(Protocol):
    """Where translated speech goes.

    ``write`` may wait (a real-time sink applies back-pressure); ``drain`` returns when
    everything written so far has been played (or stored).
    """

    sample_rate: int

    async def write(self, chunk: AudioChunk) -> None: ...

    async def drain(self) -> None: ...

    async def aclose(self) -> None: ...
