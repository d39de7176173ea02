"""Amazon Polly (``SynthesizeSpeech``, PCM) as a streaming :class:`~s2st_kit.engines.protocols.Synthesizer`.

Audio streams chunk by chunk from the synthesizer's own worker threads
(:mod:`.transport`). Text over the request limits is split at sentence boundaries and the
pieces are synthesised in sequence (:func:`.ssml.pieces`). A voice that does not exist,
does not support the engine or language, or lacks the newscaster style when it is asked
for, raises :class:`~s2st_kit.errors.UnsupportedVoiceError` before any synthesis request.

Capabilities: :class:`~s2st_kit.engines.protocols.SupportsRate` (SSML ``<prosody rate>``),
:class:`~s2st_kit.engines.protocols.SupportsWordTiming` (speech marks, requested alongside
the audio), :class:`~s2st_kit.engines.protocols.SupportsVoiceCatalogue`. Which engine
honours what: :mod:`.features`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from typing import Any

from ....bridge import executor
from ....errors import (
    ConfigError,
    EngineError,
)
from ....records import AudioChunk, Voice, WordMark
from ..errors import RetryPolicy, require_boto3
from ..session import ClientFactory
from .catalogue import VoiceCatalogue
from .features import (
    ENGINES,
    NEWSCASTER_ENGINES,
    PROSODY_PITCH,
    PROSODY_RATE,
    SPEECH_MARKS,
    PollyEngine,
    PollyFeatures,
    newscaster_list,
)
from .marks import SpeechMark
from .ssml import (
    MAX_RATE_PERCENT,
    RequestText,
    base_percent,
    check_prosody,
    pieces,
    request_text,
    scaled_rate,
)
from .transport import PollyTransport
from .voices import VoiceRules

__all__ = ["AwsPollySynthesizer"]

#: Worker threads per synthesizer: per synthesis in flight one reads its audio stream while
#: it plays out and one its speech marks; plus the catalogue. More wait for a thread.
_WORKERS = 8


class AwsPollySynthesizer:
    """Amazon Polly, PCM output.

    region / profile / endpoint_url: as for the other AWS engines.
    engine: ``"standard"``, ``"neural"`` (default), ``"long-form"`` or ``"generative"``;
        the voice must support it.
    sample_rate: 16000 (default) or 8000 Hz — Polly's PCM rates.
    rate / volume / pitch: SSML prosody (``"x-slow"``..``"x-fast"`` or ``"N%"``;
        ``"silent"``..``"x-loud"`` or ``"+NdB"``; ``"x-low"``..``"x-high"`` or ``"+N%"`` /
        ``"-N%"``); when set, text is sent as escaped SSML. ``pitch`` needs
        ``engine="standard"`` (the others ignore it: refused here). :meth:`synthesize_at`
        multiplies a ``"N%"`` rate (unset = 100 %) by its speed; with a named rate other
        than ``"medium"`` it cannot (:meth:`rate_supported` is False).
    newscaster: speak in the newscaster style (``<amazon:domain name="news">``); needs
        ``engine="neural"`` and one of the voices in :data:`.features.NEWSCASTER_VOICES`
        (others are refused before synthesis, with the list).
    lexicon_names: pronunciation lexicons applied to every request (up to 5).
    read_bytes: bytes read from the response body per chunk (default 1600 = 50 ms at 16 kHz).
    max_pending_chunks: chunks read ahead of the consumer before the reader waits (64).
    max_attempts / backoff_base_s / backoff_cap_s: throttling retry (5 calls, 0.1 s, 5 s), or
        ``retry=`` a :class:`~s2st_kit.retry.RetryPolicy`; inside a pipeline stage retry the
        stage's policy applies instead (retries never multiply).
    connect_timeout_s / read_timeout_s: socket timeouts (s; 5 and 30).

    Blocking work (requests, reading the audio stream) runs on the synthesizer's own
    worker threads (``s2st-polly``), shut down by :meth:`aclose`.
    """

    name = "aws-polly"

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        engine: PollyEngine = "neural",
        sample_rate: int = 16000,
        rate: str | None = None,
        volume: str | None = None,
        pitch: str | None = None,
        newscaster: bool = False,
        lexicon_names: Iterable[str] = (),
        read_bytes: int = 1600,
        max_pending_chunks: int = 64,
        max_attempts: int = 5,
        backoff_base_s: float = 0.1,
        backoff_cap_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        require_boto3()
        self.lexicon_names = (
            (lexicon_names,) if isinstance(lexicon_names, str) else tuple(lexicon_names)
        )
        _check_options(engine, sample_rate, rate, volume, pitch, newscaster, self.lexicon_names)
        if read_bytes < 2 or max_pending_chunks < 1:
            raise ConfigError("read_bytes must be >= 2 and max_pending_chunks >= 1")
        self.engine: PollyEngine = engine
        self.sample_rate = sample_rate
        self.rate, self.volume, self.pitch, self.newscaster = rate, volume, pitch, newscaster
        self._clients = ClientFactory(
            "polly",
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
        )
        self.catalogue = VoiceCatalogue(self._clients, self.name)
        self._executor = executor("polly", max_workers=_WORKERS)
        self._transport = PollyTransport(
            clients=self._clients,
            retry=retry
            or RetryPolicy(max_attempts=max_attempts, base_s=backoff_base_s, cap_s=backoff_cap_s),
            executor=self._executor,
            name=self.name,
            read_bytes=read_bytes - read_bytes % 2,
            max_pending_chunks=max_pending_chunks,
        )
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"AwsPollySynthesizer(engine={self.engine!r}, sample_rate={self.sample_rate}, "
            f"region={self._clients.region!r}, endpoint_url={self._clients.endpoint_url!r})"
        )

    @property
    def ssml(self) -> bool:
        """True when :meth:`synthesize` sends SSML (a prosody option or the newscaster
        style is set); :meth:`synthesize_at` always does."""
        return self.newscaster or any(v is not None for v in (self.rate, self.volume, self.pitch))

    # voices (SupportsVoiceCatalogue) --------------------------------------------------------
    async def load_voices(self, *, refresh: bool = False) -> list[Voice]:
        """Fetch (or re-fetch) the voice catalogue in a worker thread; returns every voice."""
        self._check_open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, lambda: self.catalogue.fetch(refresh=refresh)
        )

    def voice_catalogue(
        self, language: str | None = None, engine: str | None = None
    ) -> list[Voice]:
        """Voices, optionally only those speaking ``language`` (ISO 639-1 like ``"es"``,
        or a locale like ``"es-US"``) and supporting ``engine``.

        Uses the cached catalogue; the first call fetches it (a blocking DescribeVoices —
        in async code ``await load_voices()`` first).
        """
        return self.catalogue.select(language, engine)

    def voices(self, language: str | None = None) -> list[Voice]:
        """Voices usable with this synthesizer's engine (and, with ``newscaster``, having
        that style), optionally for ``language``."""
        return self._rules.voices(language)

    def default_voice(self, language: str) -> str:
        """A voice for ``language`` usable with this engine and style (preferring the main
        locale); raises UnsupportedLanguageError when there is none."""
        return self._rules.default_voice(language)

    def check_voice(self, voice: str, language: str | None = None) -> Voice:
        """The catalogue entry of ``voice``; raises UnsupportedVoiceError when the voice does
        not exist, does not support this engine, does not speak ``language``, or (with
        ``newscaster``) has no newscaster style — each message says what would work."""
        return self._rules.check_voice(voice, language)

    @property
    def _rules(self) -> VoiceRules:
        return VoiceRules(self.catalogue, self.name, self.engine, self.newscaster)

    async def prepare(self, *, voice: str | None, language: str) -> str:
        """Load the catalogue (in a thread) and validate; returns the voice id to use."""
        await self.load_voices()
        if voice is None:
            return self.default_voice(language)
        return self.check_voice(voice, language).id

    def features(self, voice: str) -> PollyFeatures:
        """What ``voice`` can do with this engine (:func:`.features.polly_features`); all
        False when it does not exist or lacks the engine. Fetches the catalogue if needed
        (blocking: in async code ``await load_voices()`` first)."""
        return self._rules.features(voice)

    # rate (SupportsRate) ---------------------------------------------------------------------
    def rate_supported(self, voice: str) -> bool:
        """True when :meth:`synthesize_at` speaks ``voice`` faster by itself: the engine
        honours ``<prosody rate>`` (:data:`.features.PROSODY_RATE`), the configured ``rate``
        is a percentage (or unset, or ``"medium"``), and — once the catalogue is loaded —
        the voice exists with this engine. Never fetches the catalogue (safe on the loop)."""
        if not PROSODY_RATE.get(self.engine, False) or base_percent(self.rate) is None:
            return False
        if not self.catalogue.loaded:
            return True  # synthesis checks the voice before any request
        found = self.catalogue.find(voice)
        return found is not None and self.engine in found.engines

    @property
    def max_speed(self) -> float:
        """The fastest :meth:`synthesize_at` speed (× natural): 200 % / the configured rate."""
        base = base_percent(self.rate)
        return MAX_RATE_PERCENT / base if base else 1.0

    def rate_at(self, speed: float) -> str:
        """The ``<prosody rate>`` for ``speed``: the configured rate × ``speed`` in whole %,
        within Polly's 20-200 % (so above :attr:`max_speed` speech is no faster)."""
        scaled = scaled_rate(self.rate, speed)
        if scaled is None or not PROSODY_RATE.get(self.engine, False):
            raise ConfigError(
                f"{self.name}: no own rate with engine={self.engine!r}, rate={self.rate!r} "
                "(rate_supported() is False; time-stretch the audio instead)"
            )
        return scaled

    def synthesize_at(
        self, text: str, *, voice: str, language: str, speed: float
    ) -> AsyncIterator[AudioChunk]:
        """:meth:`synthesize`, ``speed`` times faster: each request is SSML with the
        escaped text in ``<prosody rate="NN%">`` (:meth:`rate_at`; lexicons and text
        splitting as for :meth:`synthesize`). The speed is approximate, as Polly says."""
        return _audio_only(self._synthesize(text, voice, language, self.rate_at(speed), False))

    # synthesis ------------------------------------------------------------------------------
    def synthesize(self, text: str, *, voice: str, language: str) -> AsyncIterator[AudioChunk]:
        """Yield PCM chunks (``sample_rate`` Hz, ``start_s`` from 0) as Polly streams them.

        Raises UnsupportedVoiceError before any request for a bad voice / engine / language.
        """
        return _audio_only(self._synthesize(text, voice, language, self.rate, False))

    # word timing (SupportsWordTiming) ---------------------------------------------------------
    @property
    def speech_marks_supported(self) -> bool:
        """True when this engine returns speech marks (:data:`.features.SPEECH_MARKS`: not
        generative); without them :meth:`synthesize_marked` yields audio only."""
        return SPEECH_MARKS.get(self.engine, False)

    def synthesize_marked(
        self, text: str, *, voice: str, language: str, speed: float = 1.0
    ) -> AsyncIterator[AudioChunk | WordMark]:
        """:meth:`synthesize` (``speed`` 1.0) or :meth:`synthesize_at`, with a
        :class:`~s2st_kit.records.WordMark` per word among the chunks
        (:meth:`synthesize_with_marks`; ``end_s`` None: Polly times word starts only).
        A ``speed`` other than 1.0 where :meth:`rate_supported` is False raises ConfigError,
        as :meth:`synthesize_at` does (the caller time-stretches natural speech instead)."""
        return _word_marks(
            self.synthesize_with_marks(text, voice=voice, language=language, speed=speed)
        )

    def synthesize_with_marks(
        self, text: str, *, voice: str, language: str, speed: float = 1.0
    ) -> AsyncGenerator[AudioChunk | SpeechMark, None]:
        """The audio, and Polly's word and sentence marks for it: per request, a second
        request with ``OutputFormat=json`` for the same SSML (same rate, so times match
        sped-up audio) runs concurrently with the audio's. A mark is yielded as soon as its
        request's marks have arrived and the position of that request's audio in this
        call's audio is known; times are s from this call's first sample, character spans
        index ``text``. Marks are in time order per request. A failed marks request is
        logged (warning) and the audio goes on without them; with the generative engine
        (no speech marks) only audio is yielded.
        """
        rate = self.rate if speed == 1.0 else self.rate_at(speed)
        return self._synthesize(text, voice, language, rate, self.speech_marks_supported)

    def _request(self, text: RequestText, voice: Voice, language: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "Engine": self.engine,
            "OutputFormat": "pcm",
            "SampleRate": str(self.sample_rate),
            "Text": text.text,
            "TextType": text.text_type,
            "VoiceId": voice.id,
        }
        if self.lexicon_names:
            kwargs["LexiconNames"] = list(self.lexicon_names)
        if "-" in language and language in self.catalogue.additional_locales(voice.id):
            kwargs["LanguageCode"] = language
        return kwargs

    async def _synthesize(
        self, text: str, voice: str, language: str, rate: str | None, marked: bool
    ) -> AsyncGenerator[AudioChunk | SpeechMark, None]:
        """Check the voice, then each piece of ``text`` in turn: its audio (and marks)."""
        self._check_open()
        if not self.catalogue.loaded:
            await self.load_voices()
        entry = self.check_voice(voice, language)
        options: dict[str, Any] = {
            "rate": rate,
            "volume": self.volume,
            "pitch": self.pitch,
            "newscaster": self.newscaster,
        }
        position_s, char_offset = 0.0, 0
        for piece in pieces(text, **options):
            piece_offset, char_offset = char_offset, char_offset + len(piece)
            if not piece.strip():
                continue
            sent = request_text(piece, **options)
            request = self._request(sent, entry, language)
            marks = None
            if marked:
                marks = asyncio.ensure_future(
                    self._transport.marks(request, sent, piece, piece_offset, position_s)
                )
            items = self._transport.audio_and_marks(request, marks, position_s, self.sample_rate)
            async with contextlib.aclosing(items):
                async for item in items:
                    if isinstance(item, AudioChunk):
                        position_s = item.end_s
                    yield item

    def _check_open(self) -> None:
        if self._closed:
            raise EngineError(f"{self.name}: the synthesizer is closed", engine=self.name)

    async def aclose(self) -> None:
        """Close the client's connections and the worker threads. Idempotent; a closed
        synthesizer refuses calls."""
        self._closed = True
        self._clients.close()
        self._executor.shutdown(wait=False, cancel_futures=True)


async def _audio_only(
    stream: AsyncGenerator[AudioChunk | SpeechMark, None],
) -> AsyncIterator[AudioChunk]:
    async with contextlib.aclosing(stream):  # a consumer stopping early stops the requests
        async for item in stream:
            if isinstance(item, AudioChunk):
                yield item


async def _word_marks(
    stream: AsyncGenerator[AudioChunk | SpeechMark, None],
) -> AsyncIterator[AudioChunk | WordMark]:
    async with contextlib.aclosing(stream):
        async for item in stream:
            if isinstance(item, AudioChunk):
                yield item
            elif item.kind == "word":
                yield item.word_mark()


def _check_options(
    engine: str,
    sample_rate: int,
    rate: str | None,
    volume: str | None,
    pitch: str | None,
    newscaster: bool,
    lexicons: tuple[str, ...],
) -> None:
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if sample_rate not in (8000, 16000):
        raise ConfigError(f"Polly PCM sample_rate must be 8000 or 16000 Hz, got {sample_rate}")
    check_prosody("rate", rate)
    check_prosody("volume", volume)
    check_prosody("pitch", pitch)
    if pitch is not None and not PROSODY_PITCH.get(engine, False):
        engines = ", ".join(e for e in ENGINES if PROSODY_PITCH.get(e, False))
        raise ConfigError(
            f"Polly's {engine!r} voices do not honour <prosody pitch>; only engine= {engines} "
            "does: choose it (with a voice that has it) or leave pitch unset"
        )
    if newscaster and engine not in NEWSCASTER_ENGINES:
        raise ConfigError(
            f"the newscaster style needs engine='neural' (not {engine!r}), with one of "
            f"{newscaster_list()}"
        )
    if len(lexicons) > 5:
        raise ConfigError("Polly applies at most 5 lexicons per request")
