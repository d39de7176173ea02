"""The three engine interfaces, plus audio sources and sinks.

Engines are small: one streaming method each, a few capability queries so a bad choice
fails before a session starts, and ``aclose()``. They never take timestamps for the log:
the pipeline does that around every call.

Blocking SDKs and libraries (boto3, pocketsphinx, Apertium pipes, eSpeak) must run their
work in threads; an engine method must never block the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..records import AudioChunk, Transcript, Translation, Voice, WordMark

if TYPE_CHECKING:
    from ..config import PipelineConfig

__all__ = [
    "AudioSink",
    "AudioSource",
    "PacedSource",
    "Recognizer",
    "SupportsBrevity",
    "SupportsCaptureDelay",
    "SupportsCheckPair",
    "SupportsConfigure",
    "SupportsLoad",
    "SupportsLoadPairs",
    "SupportsRate",
    "SupportsVoiceCatalogue",
    "SupportsWordTiming",
    "Synthesizer",
    "Translator",
]


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

    @property
    def sample_rate(self) -> int: ...

    def __aiter__(self) -> AsyncIterator[AudioChunk]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class AudioSink(Protocol):
    """Where translated speech goes.

    ``write`` may wait (a real-time sink applies back-pressure); ``drain`` returns when
    everything written so far has been played (or stored).

    sample_rate: the rate (Hz) it plays or stores; ``None`` while it is still open (a file
    or memory sink takes the rate of the first chunk written). The pipeline resamples to it.
    """

    @property
    def sample_rate(self) -> int | None: ...

    async def write(self, chunk: AudioChunk) -> None: ...

    async def drain(self) -> None: ...

    async def aclose(self) -> None: ...


# -- optional capabilities ------------------------------------------------------------------
# Declared once, checked with ``isinstance(obj, SupportsX)`` (never ``getattr`` probes).
# ``runtime_checkable`` checks that the members exist, not their signatures: the role
# (recognizer, translator, …) tells which of the two ``load`` shapes applies.


@runtime_checkable
class SupportsConfigure(Protocol):
    """An engine that adopts session settings before the clock starts.

    The pipeline calls ``configure(config)`` once per session, before :class:`SupportsLoad`;
    e.g. the AWS recognizer takes ``chunk_ms`` and ``stability`` from it. It must not keep
    per-session state that outlives the session (engines are reused across sessions).
    """

    def configure(self, config: PipelineConfig) -> None: ...


@runtime_checkable
class SupportsLoad(Protocol):
    """A recognizer or synthesizer that loads its model before the first segment.

    ``load()`` may be a coroutine function (awaited on the loop) or a plain function
    (run in a worker thread); either way the first segment's latency measures the work,
    not the loading.
    """

    def load(self) -> object: ...


@runtime_checkable
class SupportsLoadPairs(Protocol):
    """A translator that prepares the directions a session will use (``load(pairs)``).

    Like :class:`SupportsLoad`: a coroutine function is awaited, a plain one runs in a thread.
    """

    def load(self, pairs: Iterable[tuple[str, str]]) -> object: ...


@runtime_checkable
class SupportsCheckPair(Protocol):
    """A translator with its own message for a missing direction (e.g. the package to install).

    ``check_pair(source, target)`` raises UnsupportedLanguageError or returns None.
    """

    def check_pair(self, source: str, target: str) -> None: ...


@runtime_checkable
class SupportsVoiceCatalogue(Protocol):
    """A synthesizer whose voice list comes from a service (fetched once, then cached).

    ``await load_voices()`` fetches it off the loop; ``voice_catalogue(language, engine)``
    filters the cached list (all engines' voices, not only the configured one).
    """

    async def load_voices(self, *, refresh: bool = False) -> list[Voice]: ...

    def voice_catalogue(
        self, language: str | None = None, engine: str | None = None
    ) -> list[Voice]: ...


@runtime_checkable
class PacedSource(Protocol):
    """A source that knows whether it delivers in real time.

    realtime: True when chunks arrive at the pace they were spoken (microphone, paced file).
    speed: the pacing factor (1.0 = real time; 2.0 = twice as fast).
    A source without these is taken to be live at speed 1.0.
    """

    realtime: bool
    speed: float


@runtime_checkable
class SupportsCaptureDelay(Protocol):
    """A live source that measures how long audio takes from capture to arrival (s).

    Used by the echo guard to line up muted spans with what was captured (the browser
    microphone measures it; a local device has none).
    """

    @property
    def capture_delay_s(self) -> float: ...


@runtime_checkable
class SupportsRate(Protocol):
    """A synthesizer that can speak faster by itself (the lag controller's first choice).

    ``synthesize_at(text, voice=…, language=…, speed=s)`` yields speech ``s`` times faster
    than natural (1.0 = natural; the lag controller asks for 1.0 to ``max_speedup``), with
    the engine's own prosody — better than time-stretching the audio afterwards.
    ``rate_supported(voice)`` says whether the voice honours it (Polly: not every engine
    does); when it is False, the pipeline time-stretches the natural-speed audio instead.
    ``max_speed``: the fastest the engine goes (× natural; Polly's 200 %, eSpeak's 450 words
    per minute); for a faster speed the pipeline time-stretches instead.
    """

    @property
    def max_speed(self) -> float: ...

    def rate_supported(self, voice: str) -> bool: ...

    def synthesize_at(
        self, text: str, *, voice: str, language: str, speed: float
    ) -> AsyncIterator[AudioChunk]: ...


@runtime_checkable
class SupportsBrevity(Protocol):
    """A translator that can make a translation shorter on request (less speech to catch up).

    ``brevity_supported(source, target)`` says whether the engine shortens that direction
    (Amazon Translate: into fr, de, it, pt, es from any language; from those into en).
    ``await translate_brief(text, source=…, target=…)`` is :meth:`Translator.translate`
    asking for a shorter translation; where brevity is not supported it returns the
    ordinary translation. A separate method, not a ``brief=`` keyword on ``translate``, so
    that ``isinstance`` tells which translators have it and ``translate`` stays the same
    for all. Off by default: the pipeline decides when to call it.
    """

    def brevity_supported(self, source: str, target: str) -> bool: ...

    async def translate_brief(self, text: str, *, source: str, target: str) -> Translation: ...


@runtime_checkable
class SupportsWordTiming(Protocol):
    """A synthesizer that says when each word is spoken (captions, highlights, per-word lag).

    ``synthesize_marked(text, voice=…, language=…, speed=s)`` is :meth:`Synthesizer.synthesize`
    (or :meth:`SupportsRate.synthesize_at` when ``speed`` is not 1.0 and the engine has a
    rate) yielding :class:`~s2st_kit.records.WordMark` items among the audio chunks. A mark
    may come before or after the audio it times; its times are positions in the audio this
    call yields (s from its first sample), so the pipeline can map them onto playback.
    Polly: speech marks (a second request, ``OutputFormat=json``); eSpeak NG: word events
    from its synth callback; simulated: proportional to characters. A synthesizer without
    it gets an estimate, flagged ``estimated`` in the words table.
    """

    def synthesize_marked(
        self, text: str, *, voice: str, language: str, speed: float = 1.0
    ) -> AsyncIterator[AudioChunk | WordMark]: ...
