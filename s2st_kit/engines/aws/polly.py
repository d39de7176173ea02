"""Amazon Polly (``SynthesizeSpeech``, PCM) as a streaming :class:`~s2st_kit.engines.protocols.Synthesizer`.

The response body is read chunk by chunk in one of the synthesizer's own worker threads
(:func:`s2st_kit.bridge.executor`, never the loop's shared default executor) and every
chunk is handed to the async caller as soon as it arrives through a bounded
:class:`s2st_kit.bridge.ThreadChannel`, so the first audio is yielded while Polly is still
synthesising. Text over the request limits (3,000 billed
characters, 6,000 characters including SSML tags) is split at sentence boundaries and the
pieces are synthesised in sequence. A voice that does not exist, or does not support the
chosen engine or language, raises :class:`~s2st_kit.errors.UnsupportedVoiceError` before
any synthesis request.

Faster speech (:class:`~s2st_kit.engines.protocols.SupportsRate`):
:meth:`AwsPollySynthesizer.synthesize_at` wraps each request's escaped text in SSML
``<prosody rate="NN%">``; :data:`PROSODY_RATE` says which engines honour it, and where
that is documented.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import threading
from collections.abc import AsyncIterator, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal, get_args
from xml.sax.saxutils import escape

from ...bridge import ThreadChannel, executor
from ...errors import ConfigError, EngineError, UnsupportedLanguageError, UnsupportedVoiceError
from ...records import AudioChunk, Voice
from ._text import split_text
from .errors import RetryPolicy, call_with_retry, map_boto_error, require_boto3
from .session import ClientFactory, options_for

__all__ = [
    "ENGINES",
    "MAX_BILLED_CHARS",
    "MAX_RATE_PERCENT",
    "MAX_TOTAL_CHARS",
    "MIN_RATE_PERCENT",
    "PROSODY_RATE",
    "AwsPollySynthesizer",
    "VoiceCatalogue",
    "create_synthesizer",
    "ssml_for",
]

logger = logging.getLogger(__name__)

PollyEngine = Literal["standard", "neural", "long-form", "generative"]
ENGINES: tuple[str, ...] = get_args(PollyEngine)
#: Characters billed per SynthesizeSpeech request (SSML tags excluded).
MAX_BILLED_CHARS = 3000
#: Characters per request including SSML tags.
MAX_TOTAL_CHARS = 6000

#: Which engines honour SSML ``<prosody rate>`` (what :meth:`AwsPollySynthesizer.synthesize_at`
#: sends). Every one does, per the Amazon Polly Developer Guide:
#:
#: ============  =======================================================================
#: engine        ``<prosody rate>``
#: ============  =======================================================================
#: standard      yes ("Prosody tag attributes are fully supported by the standard TTS
#:               voices")
#: neural        yes ("Generative, Neural, and Long-Form voices support the volume and
#: long-form     rate attributes, but don't support the pitch attribute"; the "Partial
#: generative    availability" of <prosody> in the "Supported SSML tags" table is pitch)
#: ============  =======================================================================
#:
#: Generative voices take the tag "only around full sentences": it wraps a whole request
#: here, and requests are split at sentence boundaries (only a single sentence over 3,000
#: characters is cut inside). The rate is "any percentage of the speech rate, between 20%
#: and 200%", and approximate ("depending on the voice you've chosen").
#: Sources: https://docs.aws.amazon.com/polly/latest/dg/prosody-tag.html,
#: https://docs.aws.amazon.com/polly/latest/dg/supportedtags.html,
#: https://docs.aws.amazon.com/polly/latest/dg/voice-speed-change-vip.html
#: An engine marked False here makes ``rate_supported()`` False: the pipeline then
#: time-stretches the natural-speed audio instead.
PROSODY_RATE: Mapping[str, bool] = MappingProxyType(
    {"standard": True, "neural": True, "long-form": True, "generative": True}
)
#: The ``<prosody rate="N%">`` range Polly documents (% of the voice's natural rate).
MIN_RATE_PERCENT, MAX_RATE_PERCENT = 20, 200
#: Worker threads per synthesizer: one per synthesis in flight (each reads its audio stream
#: while it plays out) plus the catalogue; more concurrent syntheses wait for a thread.
_WORKERS = 8
_RATES = ("x-slow", "slow", "medium", "fast", "x-fast")
_VOLUMES = ("silent", "x-soft", "soft", "medium", "loud", "x-loud")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Polly locale prefixes that are not ISO 639-1 codes.
_ISO_OF_PREFIX = {"cmn": "zh", "yue": "zh", "arb": "ar", "nb": "no", "fil": "tl"}
# Well-known voices default_voice() prefers when they support the engine.
_PREFERRED_VOICES = frozenset(
    {
        "Joanna",
        "Lucia",
        "Lupe",
        "Lea",
        "Vicki",
        "Bianca",
        "Camila",
        "Kazuha",
        "Zhiyu",
        "Seoyeon",
        "Laura",
        "Hala",
    }
)
# Locale tried first by default_voice() for a language.
_PREFERRED_LOCALE = {
    "en": "en-US",
    "es": "es-ES",
    "fr": "fr-FR",
    "de": "de-DE",
    "pt": "pt-BR",
    "it": "it-IT",
    "ja": "ja-JP",
    "zh": "cmn-CN",
    "ar": "arb",
    "nl": "nl-NL",
    "ko": "ko-KR",
}


def iso_language(locale: str) -> str:
    """ISO 639-1 code of a Polly locale (``"es-US"`` -> ``"es"``, ``"cmn-CN"`` -> ``"zh"``)."""
    prefix = locale.split("-")[0].lower()
    return _ISO_OF_PREFIX.get(prefix, prefix)


def _check_prosody(name: str, value: str | None, words: tuple[str, ...], unit: str) -> None:
    if value is None or value in words:
        return
    if unit == "%" and re.fullmatch(r"\d{1,3}%", value):
        return
    if unit == "dB" and re.fullmatch(r"[+-]\d+(\.\d+)?dB", value):
        return
    raise ConfigError(
        f"{name} must be one of {', '.join(words)} or a value like "
        f"{'90%' if unit == '%' else '+6dB'}, got {value!r}"
    )


def _base_percent(rate: str | None) -> int | None:
    """A configured ``rate`` as % of the voice's natural rate: unset or ``"medium"`` (the
    voice's normal speed) is 100, ``"N%"`` is N; the other named rates have no documented
    percentage (None)."""
    if rate is None or rate == "medium":
        return 100
    return int(rate[:-1]) if rate.endswith("%") else None


def _scaled_rate(rate: str | None, speed: float) -> str | None:
    """``rate`` × ``speed`` as ``"N%"`` within 20-200 %; None for a named rate."""
    if not (speed > 0 and math.isfinite(speed)):
        raise ConfigError(f"speed must be a positive number (× natural), got {speed}")
    base = _base_percent(rate)
    if base is None:
        return None
    return f"{min(MAX_RATE_PERCENT, max(MIN_RATE_PERCENT, round(base * speed)))}%"


def ssml_for(text: str, *, rate: str | None = None, volume: str | None = None) -> str:
    """``<speak>`` document saying ``text`` (XML-escaped), wrapped in ``<prosody>`` when
    ``rate`` (``"fast"``, ``"90%"``) or ``volume`` (``"loud"``, ``"+3dB"``) is set."""
    body = escape(_XML_INVALID.sub(" ", text))
    attrs = "".join(
        f' {k}="{escape(v, {chr(34): "&quot;"})}"'
        for k, v in (("rate", rate), ("volume", volume))
        if v is not None
    )
    if attrs:
        body = f"<prosody{attrs}>{body}</prosody>"
    return f"<speak>{body}</speak>"


class VoiceCatalogue:
    """Polly's voices from ``DescribeVoices`` (every page), fetched once and cached.

    Thread-safe; :meth:`fetch` blocks (call it from a worker thread). ``name`` is the
    engine name used in error messages.
    """

    def __init__(self, clients: ClientFactory, name: str) -> None:
        self._clients = clients
        self._name = name
        self._lock = threading.Lock()
        self._voices: list[Voice] | None = None
        self._additional: dict[str, tuple[str, ...]] = {}  # voice id -> more locales

    @property
    def loaded(self) -> bool:
        return self._voices is not None

    def fetch(self, *, refresh: bool = False) -> list[Voice]:
        """Blocking: every voice (sorted by language, locale, id), from the cache if loaded."""
        with self._lock:
            if self._voices is not None and not refresh:
                return self._voices
            try:
                voices, additional = self._describe_all()
            except Exception as exc:
                raise map_boto_error(
                    exc,
                    engine=self._name,
                    operation="DescribeVoices",
                    permission="polly:DescribeVoices",
                ) from exc
            voices.sort(key=lambda v: (v.language, v.locale or "", v.id))
            self._voices, self._additional = voices, additional
            return voices

    def _describe_all(self) -> tuple[list[Voice], dict[str, tuple[str, ...]]]:
        client = self._clients.get()
        voices: list[Voice] = []
        additional: dict[str, tuple[str, ...]] = {}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"IncludeAdditionalLanguageCodes": True}
            if token:
                kwargs["NextToken"] = token
            response = client.describe_voices(**kwargs)
            for v in response.get("Voices", []):
                locale = v.get("LanguageCode", "")
                voices.append(
                    Voice(
                        id=v["Id"],
                        name=v.get("Name", v["Id"]),
                        language=iso_language(locale),
                        locale=locale or None,
                        gender=v.get("Gender"),
                        engines=tuple(v.get("SupportedEngines", ())),
                    )
                )
                additional[v["Id"]] = tuple(v.get("AdditionalLanguageCodes", ()))
            token = response.get("NextToken")
            if not token:
                return voices, additional

    def additional_locales(self, voice_id: str) -> tuple[str, ...]:
        """Locales the voice speaks besides its own (``AdditionalLanguageCodes``)."""
        return self._additional.get(voice_id, ())

    def speaks(self, voice: Voice, language: str) -> bool:
        """True when ``voice`` speaks ``language`` (ISO code, or a locale like ``"es-US"``)."""
        extra = self.additional_locales(voice.id)
        if "-" in language:
            return language.lower() in (c.lower() for c in (voice.locale or "", *extra))
        return language.lower() in {voice.language, *(iso_language(c) for c in extra)}

    def select(self, language: str | None = None, engine: str | None = None) -> list[Voice]:
        """The voices speaking ``language`` and supporting ``engine`` (None: any)."""
        return [
            v
            for v in self.fetch()
            if (engine is None or engine in v.engines)
            and (language is None or self.speaks(v, language))
        ]

    def find(self, voice_id: str) -> Voice | None:
        """The voice named ``voice_id`` (case-insensitive), or None."""
        return next((v for v in self.fetch() if v.id.lower() == voice_id.lower()), None)


class AwsPollySynthesizer:
    """Amazon Polly, PCM output.

    region / profile / endpoint_url: as for the other AWS engines.
    engine: ``"standard"``, ``"neural"`` (default), ``"long-form"`` or ``"generative"``;
        the voice must support it.
    sample_rate: 16000 (default) or 8000 Hz — Polly's PCM rates.
    rate / volume: SSML prosody (``"x-slow"``..``"x-fast"`` or ``"N%"``; ``"silent"``..
        ``"x-loud"`` or ``"+NdB"``); when set, text is sent as escaped SSML.
        :meth:`synthesize_at` multiplies a ``"N%"`` rate (unset = 100 %) by its speed; with a
        named rate other than ``"medium"`` it cannot (:meth:`rate_supported` is False).
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
        _check_options(engine, sample_rate, rate, volume, self.lexicon_names)
        if read_bytes < 2 or max_pending_chunks < 1:
            raise ConfigError("read_bytes must be >= 2 and max_pending_chunks >= 1")
        self.engine: PollyEngine = engine
        self.sample_rate = sample_rate
        self.rate = rate
        self.volume = volume
        self.read_bytes = read_bytes - read_bytes % 2
        self.max_pending_chunks = max_pending_chunks
        self.retry = retry or RetryPolicy(
            max_attempts=max_attempts, base_s=backoff_base_s, cap_s=backoff_cap_s
        )
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
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"AwsPollySynthesizer(engine={self.engine!r}, sample_rate={self.sample_rate}, "
            f"region={self._clients.region!r}, endpoint_url={self._clients.endpoint_url!r})"
        )

    @property
    def ssml(self) -> bool:
        """True when :meth:`synthesize` sends SSML (a prosody option is set);
        :meth:`synthesize_at` always does."""
        return self.rate is not None or self.volume is not None

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
        """Voices usable with this synthesizer's engine, optionally for ``language``."""
        return self.catalogue.select(language, self.engine)

    def default_voice(self, language: str) -> str:
        """A voice for ``language`` that supports this engine (preferring the main locale);
        raises UnsupportedLanguageError when there is none."""
        candidates = [
            v
            for v in self.voices(language)
            if v.language == iso_language(language) or "-" in language
        ]
        if not candidates:
            raise UnsupportedLanguageError(
                f"{self.name}: no {self.engine!r} voice speaks {language!r}; try another "
                f"engine ({', '.join(e for e in ENGINES if e != self.engine)}) or language"
            )
        preferred = _PREFERRED_LOCALE.get(language)
        candidates.sort(
            key=lambda v: (
                v.locale != preferred,
                v.id not in _PREFERRED_VOICES,
                v.gender != "Female",
                v.id,
            )
        )
        return candidates[0].id

    def check_voice(self, voice: str, language: str | None = None) -> Voice:
        """The catalogue entry of ``voice``; raises UnsupportedVoiceError when the voice does
        not exist, does not support this engine, or does not speak ``language``."""
        found = self.catalogue.find(voice)
        if found is None:
            some = ", ".join(v.id for v in self.voices(language)[:8]) or "none"
            raise UnsupportedVoiceError(
                f"{self.name}: there is no voice {voice!r}; voices for "
                f"{language or 'any language'} with engine {self.engine!r}: {some}"
            )
        if self.engine not in found.engines:
            raise UnsupportedVoiceError(
                f"{self.name}: voice {found.id!r} supports the {', '.join(found.engines)} "
                f"engine(s), not {self.engine!r}; choose engine= one of those or another voice"
            )
        if language is not None and not self.catalogue.speaks(found, language):
            raise UnsupportedVoiceError(
                f"{self.name}: voice {found.id!r} speaks {found.locale}, not {language!r}; "
                f"default for {language!r} would be "
                f"{self._default_or_none(language) or 'none'}"
            )
        return found

    def _default_or_none(self, language: str) -> str | None:
        try:
            return self.default_voice(language)
        except UnsupportedLanguageError:
            return None

    async def prepare(self, *, voice: str | None, language: str) -> str:
        """Load the catalogue (in a thread) and validate; returns the voice id to use."""
        await self.load_voices()
        if voice is None:
            return self.default_voice(language)
        return self.check_voice(voice, language).id

    # rate (SupportsRate) ---------------------------------------------------------------------
    def rate_supported(self, voice: str) -> bool:
        """True when :meth:`synthesize_at` speaks ``voice`` faster by itself: the engine
        honours ``<prosody rate>`` (:data:`PROSODY_RATE`), the configured ``rate`` is a
        percentage (or unset, or ``"medium"``), and — once the catalogue is loaded — the
        voice exists with this engine. Never fetches the catalogue (safe on the loop)."""
        if not PROSODY_RATE.get(self.engine, False) or _base_percent(self.rate) is None:
            return False
        if not self.catalogue.loaded:
            return True  # synthesis checks the voice before any request
        found = self.catalogue.find(voice)
        return found is not None and self.engine in found.engines

    @property
    def max_speed(self) -> float:
        """The fastest :meth:`synthesize_at` speed (× natural): 200 % / the configured rate."""
        base = _base_percent(self.rate)
        return MAX_RATE_PERCENT / base if base else 1.0

    def rate_at(self, speed: float) -> str:
        """The ``<prosody rate>`` for ``speed``: the configured rate × ``speed`` in whole %,
        within Polly's 20-200 % (so above :attr:`max_speed` speech is no faster)."""
        scaled = _scaled_rate(self.rate, speed)
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
        return self._synthesize(text, voice, language, self.rate_at(speed))

    # synthesis ------------------------------------------------------------------------------
    def _request(self, piece: str, voice: Voice, language: str, rate: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "Engine": self.engine,
            "OutputFormat": "pcm",
            "SampleRate": str(self.sample_rate),
            "VoiceId": voice.id,
        }
        if rate is not None or self.volume is not None:
            kwargs["Text"] = ssml_for(piece, rate=rate, volume=self.volume)
            kwargs["TextType"] = "ssml"
        else:
            kwargs["Text"] = piece
            kwargs["TextType"] = "text"
        if self.lexicon_names:
            kwargs["LexiconNames"] = list(self.lexicon_names)
        if "-" in language and language in self.catalogue.additional_locales(voice.id):
            kwargs["LanguageCode"] = language
        return kwargs

    def synthesize(self, text: str, *, voice: str, language: str) -> AsyncIterator[AudioChunk]:
        """Yield PCM chunks (``sample_rate`` Hz, ``start_s`` from 0) as Polly streams them.

        Raises UnsupportedVoiceError before any request for a bad voice / engine / language.
        """
        return self._synthesize(text, voice, language, self.rate)

    async def _synthesize(
        self, text: str, voice: str, language: str, rate: str | None
    ) -> AsyncIterator[AudioChunk]:
        self._check_open()
        if not self.catalogue.loaded:
            await self.load_voices()
        entry = self.check_voice(voice, language)
        position_s = 0.0
        for piece in _pieces(text, rate=rate, volume=self.volume):
            if not piece.strip():
                continue
            request = self._request(piece, entry, language, rate)
            async for pcm in self._stream_piece(request):
                chunk = AudioChunk(pcm, self.sample_rate, position_s)
                position_s = chunk.end_s
                yield chunk

    async def _stream_piece(self, request: dict[str, Any]) -> AsyncIterator[bytes]:
        """One SynthesizeSpeech request; its audio as it arrives (even byte counts)."""
        response = await call_with_retry(
            lambda: self._clients.get().synthesize_speech(**request),
            policy=self.retry,
            engine=self.name,
            operation="SynthesizeSpeech",
            permission="polly:SynthesizeSpeech",
            extra_permissions="Lexicons must exist in the same region.",
            executor=self._executor,
        )
        body = response["AudioStream"]
        channel: ThreadChannel[bytes | Exception | None] = ThreadChannel(self.max_pending_chunks)
        reader = asyncio.get_running_loop().run_in_executor(
            self._executor, _read_body, body, channel, self.read_bytes
        )
        try:
            while (item := await channel.get()) is not None:
                if isinstance(item, Exception):
                    raise map_boto_error(
                        item,
                        engine=self.name,
                        operation="SynthesizeSpeech (reading audio)",
                        permission="polly:SynthesizeSpeech",
                    ) from item
                yield item
        finally:
            channel.close()  # the reader's next put returns False: it stops
            if not reader.done():
                # Stopped early: closing the body ends a blocked read; do not wait long.
                with contextlib.suppress(Exception):
                    body.close()
                with contextlib.suppress(Exception, asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(reader), 1.0)

    def _check_open(self) -> None:
        if self._closed:
            raise EngineError(f"{self.name}: the synthesizer is closed", engine=self.name)

    async def aclose(self) -> None:
        """Close the client's connections and the worker threads. Idempotent; a closed
        synthesizer refuses calls."""
        self._closed = True
        self._clients.close()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _pieces(text: str, *, rate: str | None, volume: str | None) -> list[str]:
    """``text`` split into requests within Polly's limits (billed characters, and total
    characters of the SSML document when ``rate`` or ``volume`` makes it one)."""
    if rate is None and volume is None:
        return split_text(text, limit=MAX_BILLED_CHARS)
    overhead = len(ssml_for("", rate=rate, volume=volume))
    slack = MAX_TOTAL_CHARS - MAX_BILLED_CHARS

    def size(piece: str) -> int:
        escaped = len(escape(_XML_INVALID.sub(" ", piece)))
        return max(len(piece), escaped + overhead - slack)

    return split_text(text, limit=MAX_BILLED_CHARS, size=size)


def _read_body(
    body: Any, channel: ThreadChannel[bytes | Exception | None], read_bytes: int
) -> None:
    """(Worker thread.) Read ``body`` in ``read_bytes`` pieces (even byte counts) into
    ``channel``; then None, or the exception that ended the read."""
    carry = b""
    try:
        while not channel.closed:
            data = body.read(read_bytes)
            if not data:
                channel.put(None)
                return
            data = carry + data
            cut = len(data) - len(data) % 2
            carry = data[cut:]
            if cut and not channel.put(data[:cut]):
                return
    except Exception as exc:
        channel.put(exc)
    finally:
        with contextlib.suppress(Exception):  # the body may be half-read: just drop it
            body.close()


def _check_options(
    engine: str, sample_rate: int, rate: str | None, volume: str | None, lexicons: tuple[str, ...]
) -> None:
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if sample_rate not in (8000, 16000):
        raise ConfigError(f"Polly PCM sample_rate must be 8000 or 16000 Hz, got {sample_rate}")
    _check_prosody("rate", rate, _RATES, "%")
    _check_prosody("volume", volume, _VOLUMES, "dB")
    if len(lexicons) > 5:
        raise ConfigError("Polly applies at most 5 lexicons per request")


def create_synthesizer(**options: Any) -> AwsPollySynthesizer:
    """Registry factory: ``AwsPollySynthesizer(**options)``.

    Accepts the shared AWS bundle options (see :func:`.session.options_for`): region,
    profile, ``endpoint_urls={"polly": url}`` or ``endpoint_url``, and the keyword options
    of :class:`AwsPollySynthesizer`; options of the other AWS stages are ignored.
    """
    return AwsPollySynthesizer(**options_for("polly", options))
