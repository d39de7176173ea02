"""Amazon Polly (``SynthesizeSpeech``, PCM) as a streaming :class:`~s2st_kit.engines.protocols.Synthesizer`.

The response body is read chunk by chunk in a worker thread and every chunk is handed to
the async caller as soon as it arrives (``loop.call_soon_threadsafe``), so the first audio
is yielded while Polly is still synthesising. Text over the request limits (3,000 billed
characters, 6,000 characters including SSML tags) is split at sentence boundaries and the
pieces are synthesised in sequence. A voice that does not exist, or does not support the
chosen engine or language, raises :class:`~s2st_kit.errors.UnsupportedVoiceError` before
any synthesis request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal
from xml.sax.saxutils import escape

from ...errors import ConfigError, EngineError, UnsupportedLanguageError, UnsupportedVoiceError
from ...records import AudioChunk, Voice
from ._text import split_text
from .errors import RetryPolicy, call_with_retry, map_boto_error, require_boto3
from .session import ClientFactory

__all__ = [
    "ENGINES",
    "MAX_BILLED_CHARS",
    "MAX_TOTAL_CHARS",
    "AwsPollySynthesizer",
    "create_synthesizer",
    "ssml_for",
]

logger = logging.getLogger(__name__)

PollyEngine = Literal["standard", "neural", "long-form", "generative"]
ENGINES: tuple[str, ...] = ("standard", "neural", "long-form", "generative")
#: Characters billed per SynthesizeSpeech request (SSML tags excluded).
MAX_BILLED_CHARS = 3000
#: Characters per request including SSML tags.
MAX_TOTAL_CHARS = 6000
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


class AwsPollySynthesizer:
    """Amazon Polly, PCM output.

    region / profile / endpoint_url: as for the other AWS engines.
    engine: ``"standard"``, ``"neural"`` (default), ``"long-form"`` or ``"generative"``;
        the voice must support it.
    sample_rate: 16000 (default) or 8000 Hz — Polly's PCM rates.
    rate / volume: SSML prosody (``"x-slow"``..``"x-fast"`` or ``"N%"``; ``"silent"``..
        ``"x-loud"`` or ``"+NdB"``); when set, text is sent as escaped SSML.
    lexicon_names: pronunciation lexicons applied to every request (up to 5).
    read_bytes: bytes read from the response body per chunk (default 1600 = 50 ms at 16 kHz).
    max_pending_chunks: chunks read ahead of the consumer before the reader waits (64).
    max_attempts / backoff_base_s / backoff_cap_s: throttling retry (5 calls, 0.1 s, 5 s).
    connect_timeout_s / read_timeout_s: socket timeouts (s; 5 and 30).
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
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        if sample_rate not in (8000, 16000):
            raise ConfigError(f"Polly PCM sample_rate must be 8000 or 16000 Hz, got {sample_rate}")
        _check_prosody("rate", rate, _RATES, "%")
        _check_prosody("volume", volume, _VOLUMES, "dB")
        if isinstance(lexicon_names, str):
            lexicon_names = [lexicon_names]
        self.lexicon_names = tuple(lexicon_names)
        if len(self.lexicon_names) > 5:
            raise ConfigError("Polly applies at most 5 lexicons per request")
        if read_bytes < 2 or max_pending_chunks < 1:
            raise ConfigError("read_bytes must be >= 2 and max_pending_chunks >= 1")
        self.engine: str = engine
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
        self._catalogue: list[Voice] | None = None
        self._additional: dict[str, tuple[str, ...]] = {}
        self._catalogue_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"AwsPollySynthesizer(engine={self.engine!r}, sample_rate={self.sample_rate}, "
            f"region={self._clients.region!r}, endpoint_url={self._clients.endpoint_url!r})"
        )

    @property
    def ssml(self) -> bool:
        """True when requests are sent as SSML (a prosody option is set)."""
        return self.rate is not None or self.volume is not None

    # voice catalogue ------------------------------------------------------------------------
    def _describe_voices(self) -> list[Voice]:
        """Blocking: every voice from DescribeVoices (all pages), cached."""
        with self._catalogue_lock:
            if self._catalogue is not None:
                return self._catalogue
            client = self._clients.get()
            voices: list[Voice] = []
            additional: dict[str, tuple[str, ...]] = {}
            token: str | None = None
            try:
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
                        break
            except Exception as exc:
                raise map_boto_error(
                    exc,
                    engine=self.name,
                    operation="DescribeVoices",
                    permission="polly:DescribeVoices",
                ) from exc
            voices.sort(key=lambda v: (v.language, v.locale or "", v.id))
            self._catalogue = voices
            self._additional = additional
            return voices

    async def load_voices(self, *, refresh: bool = False) -> list[Voice]:
        """Fetch (or re-fetch) the voice catalogue in a worker thread; returns every voice."""
        self._check_open()
        if refresh:
            with self._catalogue_lock:
                self._catalogue = None
        return await asyncio.to_thread(self._describe_voices)

    def voice_catalogue(
        self, language: str | None = None, engine: str | None = None
    ) -> list[Voice]:
        """Voices, optionally only those speaking ``language`` (ISO 639-1 like ``"es"``,
        or a locale like ``"es-US"``) and supporting ``engine``.

        Uses the cached catalogue; the first call fetches it (a blocking DescribeVoices —
        in async code ``await load_voices()`` first).
        """
        voices = self._catalogue if self._catalogue is not None else self._describe_voices()
        out = []
        for v in voices:
            if engine is not None and engine not in v.engines:
                continue
            if language is not None and not self._speaks(v, language):
                continue
            out.append(v)
        return out

    def voices(self, language: str | None = None) -> list[Voice]:
        """Voices usable with this synthesizer's engine, optionally for ``language``."""
        return self.voice_catalogue(language, self.engine)

    def _speaks(self, voice: Voice, language: str) -> bool:
        if "-" in language:
            codes = (voice.locale or "", *self._additional.get(voice.id, ()))
            return language.lower() in (c.lower() for c in codes)
        langs = {voice.language, *(iso_language(c) for c in self._additional.get(voice.id, ()))}
        return language.lower() in langs

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
        catalogue = self._catalogue if self._catalogue is not None else self._describe_voices()
        found = next((v for v in catalogue if v.id.lower() == voice.lower()), None)
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
        if language is not None and not self._speaks(found, language):
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

    # synthesis ------------------------------------------------------------------------------
    def _pieces(self, text: str) -> list[str]:
        if not self.ssml:
            return split_text(text, limit=MAX_BILLED_CHARS)
        overhead = len(ssml_for("", rate=self.rate, volume=self.volume))
        slack = MAX_TOTAL_CHARS - MAX_BILLED_CHARS

        def size(piece: str) -> int:
            escaped = len(escape(_XML_INVALID.sub(" ", piece)))
            return max(len(piece), escaped + overhead - slack)

        return split_text(text, limit=MAX_BILLED_CHARS, size=size)

    def _request(self, piece: str, voice: Voice, language: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "Engine": self.engine,
            "OutputFormat": "pcm",
            "SampleRate": str(self.sample_rate),
            "VoiceId": voice.id,
        }
        if self.ssml:
            kwargs["Text"] = ssml_for(piece, rate=self.rate, volume=self.volume)
            kwargs["TextType"] = "ssml"
        else:
            kwargs["Text"] = piece
            kwargs["TextType"] = "text"
        if self.lexicon_names:
            kwargs["LexiconNames"] = list(self.lexicon_names)
        if "-" in language and language in self._additional.get(voice.id, ()):
            kwargs["LanguageCode"] = language
        return kwargs

    async def synthesize(
        self, text: str, *, voice: str, language: str
    ) -> AsyncIterator[AudioChunk]:
        """Yield PCM chunks (``sample_rate`` Hz, ``start_s`` from 0) as Polly streams them.

        Raises UnsupportedVoiceError before any request for a bad voice / engine / language.
        """
        self._check_open()
        if self._catalogue is None:
            await self.load_voices()
        entry = self.check_voice(voice, language)
        position_s = 0.0
        for piece in self._pieces(text):
            if not piece.strip():
                continue
            async for pcm in self._stream_piece(self._request(piece, entry, language)):
                chunk = AudioChunk(pcm, self.sample_rate, position_s)
                position_s = chunk.end_s
                yield chunk

    async def _stream_piece(self, request: dict[str, Any]) -> AsyncIterator[bytes]:
        def call() -> Any:
            return self._clients.get().synthesize_speech(**request)

        response = await call_with_retry(
            call,
            policy=self.retry,
            engine=self.name,
            operation="SynthesizeSpeech",
            permission="polly:SynthesizeSpeech",
            extra_permissions="Lexicons must exist in the same region.",
        )
        body = response["AudioStream"]
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
        slots = threading.Semaphore(self.max_pending_chunks)
        cancelled = threading.Event()

        def post(item: bytes | BaseException | None) -> bool:
            while not slots.acquire(timeout=0.1):
                if cancelled.is_set():
                    return False
            if cancelled.is_set():
                return False
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, item)
            return True

        def reader() -> None:
            carry = b""
            try:
                while not cancelled.is_set():
                    data = body.read(self.read_bytes)
                    if not data:
                        break
                    data = carry + data
                    cut = len(data) - len(data) % 2
                    carry = data[cut:]
                    if cut and not post(data[:cut]):
                        return
                post(None)
            except BaseException as exc:
                post(exc)
            finally:
                with contextlib.suppress(Exception):
                    body.close()

        worker = loop.run_in_executor(None, reader)
        try:
            while True:
                item = await queue.get()
                slots.release()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise map_boto_error(
                        item,
                        engine=self.name,
                        operation="SynthesizeSpeech (reading audio)",
                        permission="polly:SynthesizeSpeech",
                    ) from item
                yield item
        finally:
            cancelled.set()
            if not worker.done():
                # Stopped early: closing the body ends a blocked read; do not wait long.
                with contextlib.suppress(Exception):
                    body.close()
                with contextlib.suppress(Exception, asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(worker), 1.0)

    def _check_open(self) -> None:
        if self._closed:
            raise EngineError(f"{self.name}: the synthesizer is closed", engine=self.name)

    async def aclose(self) -> None:
        """Close the client's connections. Idempotent; a closed synthesizer refuses calls."""
        self._closed = True
        self._clients.close()


def create_synthesizer(**options: Any) -> AwsPollySynthesizer:
    """Registry factory: ``AwsPollySynthesizer(**options)``.

    Accepts the shared AWS bundle options (see :func:`.session.options_for`): region,
    profile, ``endpoint_urls={"polly": url}`` or ``endpoint_url``, and the keyword options
    of :class:`AwsPollySynthesizer`; options of the other AWS stages are ignored.
    """
    from .session import options_for

    return AwsPollySynthesizer(**options_for("polly", options))
