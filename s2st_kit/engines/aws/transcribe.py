"""Amazon Transcribe streaming as a :class:`~s2st_kit.engines.protocols.Recognizer`.

Two layers:

- :class:`AwsTranscribeRecognizer` — everything that does not depend on the SDK: request
  settings and their validation, resampling and uniform re-chunking of the audio, keep-alive
  silence, stream renewal before the 4 h limit, reconnection with re-sending of the audio
  since the last final result, and the mapping of results to :class:`~s2st_kit.records.Transcript`.
- a :class:`StreamingBackend` — one streaming request on the wire. :class:`AmazonTranscribeBackend`
  uses ``amazon-transcribe`` (HTTP/2 over awscrt); an adapter for another SDK
  (e.g. ``aws-sdk-transcribe-streaming``) only has to implement the same three methods.

Times. Every stream starts its own clock at 0; keep-alive silence advances it without
advancing the input, and a reconnected stream starts with re-sent audio. The recognizer keeps
a timeline (stream time -> input time) per stream, so ``Transcript.start_s`` / ``end_s`` /
word times are always positions in the *input* (monotonic across reconnects).

Faults. A dropped connection, a mid-stream LimitExceeded / ServiceUnavailable /
InternalFailure / no-audio timeout, or a start that does not answer within
``connect_timeout_s`` reconnects (up to ``max_reconnects`` times in a row without a final
result) and re-sends the buffered audio since the last final (at most ``max_resend_s``), so
no speech is lost. A BadRequest at start is a configuration problem: ConfigError, no retry.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import os
import random
import re
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from ...errors import (
    AudioFormatError,
    ConfigError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    S2STError,
    StreamClosedError,
    UnsupportedLanguageError,
)
from ...records import AudioChunk, Transcript, Word
from .errors import redact, require_transcribe
from .session import credential_source, make_session, options_for, resolve_region

__all__ = [
    "DEFAULT_LOCALES",
    "AmazonTranscribeBackend",
    "AwsTranscribeRecognizer",
    "RawItem",
    "RawResult",
    "StreamingBackend",
    "StreamingHandle",
    "TranscribeSettings",
    "create_recognizer",
]

logger = logging.getLogger(__name__)

#: Streaming locale used for an ISO 639-1 language (``language_code=`` picks any other).
#: Source: Amazon Transcribe Developer Guide, "Supported languages" (streaming column),
#: https://docs.aws.amazon.com/transcribe/latest/dg/supported-languages.html, as of 2024-06.
DEFAULT_LOCALES: dict[str, str] = {
    "af": "af-ZA",
    "ar": "ar-SA",
    "ca": "ca-ES",
    "cs": "cs-CZ",
    "da": "da-DK",
    "de": "de-DE",
    "el": "el-GR",
    "en": "en-US",
    "es": "es-US",
    "eu": "eu-ES",
    "fa": "fa-IR",
    "fi": "fi-FI",
    "fr": "fr-FR",
    "gl": "gl-ES",
    "he": "he-IL",
    "hi": "hi-IN",
    "hr": "hr-HR",
    "id": "id-ID",
    "it": "it-IT",
    "ja": "ja-JP",
    "ko": "ko-KR",
    "lv": "lv-LV",
    "ms": "ms-MY",
    "nl": "nl-NL",
    "no": "no-NO",
    "pl": "pl-PL",
    "pt": "pt-BR",
    "ro": "ro-RO",
    "ru": "ru-RU",
    "sk": "sk-SK",
    "so": "so-SO",
    "sr": "sr-RS",
    "sv": "sv-SE",
    "th": "th-TH",
    "tl": "tl-PH",
    "tr": "tr-TR",
    "uk": "uk-UA",
    "vi": "vi-VN",
    "zh": "zh-CN",
    "zu": "zu-ZA",
}
_LOCALE = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")
_STABILITIES = ("low", "medium", "high")
_FILTER_METHODS = ("remove", "mask", "tag")
#: Largest audio event payload the service accepts (bytes).
MAX_EVENT_BYTES = 32 * 1024
# A stream due for renewal is renewed in a pause: this much trailing audio below this RMS.
_RENEW_PAUSE_S = 0.3
_RENEW_SILENCE_RMS = 0.01


def _rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    return float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0


def iso_of(code: str) -> str:
    """``"en-US"`` -> ``"en"``."""
    return code.split("-")[0].lower()


# --------------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TranscribeSettings:
    """The StartStreamTranscription parameters of one session (validated).

    language_code: fixed locale (``"en-US"``); None with identification.
    identify_language / identify_multiple_languages: automatic language identification among
        ``language_options`` (>= 2 locales); ``preferred_language`` speeds it up.
    media_sample_rate_hz: 8000-48000 Hz. Other fields mirror the service's parameters.
    """

    language_code: str | None
    media_sample_rate_hz: int
    identify_language: bool = False
    identify_multiple_languages: bool = False
    language_options: tuple[str, ...] = ()
    preferred_language: str | None = None
    enable_partial_results_stabilization: bool = True
    partial_results_stability: str | None = "high"
    vocabulary_name: str | None = None
    vocabulary_names: tuple[str, ...] = ()
    vocabulary_filter_name: str | None = None
    vocabulary_filter_names: tuple[str, ...] = ()
    vocabulary_filter_method: str | None = None
    language_model_name: str | None = None
    content_redaction_type: str | None = None
    content_identification_type: str | None = None
    pii_entity_types: tuple[str, ...] = ()
    show_speaker_label: bool = False
    session_id: str | None = None

    def __post_init__(self) -> None:
        identify = self.identify_language or self.identify_multiple_languages
        if not 8000 <= self.media_sample_rate_hz <= 48000:
            raise ConfigError(
                f"media_sample_rate_hz must be 8000-48000 Hz, got {self.media_sample_rate_hz}"
            )
        if self.identify_language and self.identify_multiple_languages:
            raise ConfigError("choose identify_language or identify_multiple_languages, not both")
        if identify:
            if len(self.language_options) < 2:
                raise ConfigError(
                    "language identification needs at least 2 language_options, e.g. "
                    "language_options=['en-US', 'es-US']"
                )
            if len(set(self.language_options)) != len(self.language_options):
                raise ConfigError("language_options contains duplicates")
            if self.language_code is not None:
                raise ConfigError("language_code must not be set with language identification")
            if self.preferred_language and self.preferred_language not in self.language_options:
                raise ConfigError(
                    f"preferred_language {self.preferred_language!r} must be one of "
                    f"language_options {list(self.language_options)}"
                )
            if self.vocabulary_name or self.vocabulary_filter_name:
                raise ConfigError(
                    "with language identification use vocabulary_names / "
                    "vocabulary_filter_names (one per language), not the singular options"
                )
        else:
            if not self.language_code:
                raise ConfigError("language_code is required without language identification")
            if self.vocabulary_names or self.vocabulary_filter_names:
                raise ConfigError(
                    "vocabulary_names / vocabulary_filter_names are for language "
                    "identification; use vocabulary_name / vocabulary_filter_name"
                )
            if self.preferred_language:
                raise ConfigError("preferred_language needs identify_language")
        for code in (*self.language_options, *filter(None, [self.language_code])):
            if not _LOCALE.match(code):
                raise ConfigError(f"{code!r} is not a Transcribe locale such as 'en-US'")
        if self.partial_results_stability not in (None, *_STABILITIES):
            raise ConfigError(
                f"partial_results_stability must be one of {', '.join(_STABILITIES)}, got "
                f"{self.partial_results_stability!r}"
            )
        if self.vocabulary_filter_method not in (None, *_FILTER_METHODS):
            raise ConfigError(
                f"vocabulary_filter_method must be one of {', '.join(_FILTER_METHODS)}"
            )
        if self.vocabulary_filter_method and not (
            self.vocabulary_filter_name or self.vocabulary_filter_names
        ):
            raise ConfigError("vocabulary_filter_method needs vocabulary_filter_name(s)")
        for name in ("content_redaction_type", "content_identification_type"):
            if getattr(self, name) not in (None, "PII"):
                raise ConfigError(f"{name} must be 'PII' or None")
        if self.content_redaction_type and self.content_identification_type:
            raise ConfigError(
                "content_redaction_type and content_identification_type cannot both be set"
            )
        if self.pii_entity_types and not (
            self.content_redaction_type or self.content_identification_type
        ):
            raise ConfigError(
                "pii_entity_types needs content_redaction_type or content_identification_type"
            )
        if self.content_redaction_type and identify:
            logger.warning("PII redaction is only available for some languages (en-US, ...)")

    def sdk_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``TranscribeStreamingClient.start_stream_transcription``."""
        kwargs: dict[str, Any] = {
            "language_code": self.language_code,
            "media_sample_rate_hz": self.media_sample_rate_hz,
            "media_encoding": "pcm",
            "vocabulary_name": self.vocabulary_name,
            "vocabulary_names": list(self.vocabulary_names) or None,
            "session_id": self.session_id,
            "vocab_filter_method": self.vocabulary_filter_method,
            "vocab_filter_name": self.vocabulary_filter_name,
            "vocab_filter_names": list(self.vocabulary_filter_names) or None,
            "show_speaker_label": True if self.show_speaker_label else None,
            "enable_partial_results_stabilization": (
                True if self.enable_partial_results_stabilization else None
            ),
            "partial_results_stability": (
                self.partial_results_stability
                if self.enable_partial_results_stabilization
                else None
            ),
            "language_model_name": self.language_model_name,
            "identify_language": True if self.identify_language else None,
            "preferred_language": self.preferred_language,
            "identify_multiple_languages": True if self.identify_multiple_languages else None,
            "language_options": list(self.language_options) or None,
            "pii_entity_types": list(self.pii_entity_types) or None,
            "content_redaction_type": self.content_redaction_type,
            "content_identification_type": self.content_identification_type,
        }
        return kwargs


# --------------------------------------------------------------------------------------------
# the SDK seam
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RawItem:
    """One item of a result as the service sent it (times in *stream* seconds)."""

    content: str
    start_s: float
    end_s: float
    kind: str = "pronunciation"  # or "punctuation"
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
    """The stream failed in a way a reconnect may fix (internal to the recognizer)."""

    retryable = True

    def __init__(self, message: str, *, final: S2STError | None = None) -> None:
        super().__init__(message, engine="aws-transcribe")
        self.final = final  # what to raise when reconnects are exhausted


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

    async def aclose(self) -> None: ...


def _item_from_sdk(item: Any) -> RawItem:
    return RawItem(
        content=item.content or "",
        start_s=float(item.start_time or 0.0),
        end_s=float(item.end_time or 0.0),
        kind=item.item_type or "pronunciation",
        stable=item.stable,
        confidence=item.confidence,
        speaker=item.speaker,
    )


class _SdkHandle:
    """A StreamingHandle over ``amazon_transcribe``'s StartStreamTranscriptionEventStream."""

    def __init__(self, backend: AmazonTranscribeBackend, client: Any, stream: Any) -> None:
        self._backend = backend
        self._client = client
        self._stream = stream
        self._closed = False

    async def send(self, pcm: bytes) -> None:
        try:
            async with asyncio.timeout(self._backend.send_timeout_s):
                await self._stream.input_stream.send_audio_event(audio_chunk=pcm)
        except TimeoutError as exc:
            raise TransientStreamError(
                f"sending audio took longer than {self._backend.send_timeout_s} s",
                final=EngineTimeoutError(
                    "aws-transcribe: sending audio timed out; check the network",
                    engine="aws-transcribe",
                ),
            ) from exc
        except Exception as exc:
            raise self._backend.map_error(exc, started=True) from exc

    async def end(self) -> None:
        try:
            async with asyncio.timeout(self._backend.send_timeout_s):
                await self._stream.input_stream.end_stream()
        except TimeoutError as exc:
            raise TransientStreamError("ending the audio stream timed out") from exc
        except Exception as exc:
            raise self._backend.map_error(exc, started=True) from exc

    async def results(self) -> AsyncIterator[RawResult]:
        try:
            async for event in self._stream.output_stream:
                transcript = getattr(event, "transcript", None)
                if transcript is None:
                    continue
                for r in transcript.results or ():
                    alt = r.alternatives[0] if r.alternatives else None
                    yield RawResult(
                        result_id=r.result_id or "",
                        start_s=float(r.start_time or 0.0),
                        end_s=float(r.end_time or 0.0),
                        is_partial=bool(r.is_partial),
                        transcript=(alt.transcript or "") if alt else "",
                        items=tuple(_item_from_sdk(i) for i in (alt.items or ())) if alt else (),
                        language_code=r.language_code,
                    )
        except S2STError:
            raise
        except Exception as exc:
            raise self._backend.map_error(exc, started=True) from exc
        if self._stream_failed():
            raise TransientStreamError("the connection to Transcribe was lost")

    def _stream_failed(self) -> bool:
        """True when the HTTP/2 stream ended with a transport error (dropped connection)."""
        raw = getattr(self._stream.output_stream, "_raw_stream", None)
        crt_stream = getattr(raw, "_stream", None)
        future = getattr(crt_stream, "completion_future", None)
        if future is None or not future.done():
            return False
        return future.exception() is not None

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._stream.input_stream._input_stream.close()
        _close_connections(self._client)


def _close_connections(client: Any) -> None:
    """Close the SDK client's cached HTTP/2 connections (the SDK has no close())."""
    manager = getattr(client, "_session_manager", None)
    connections = getattr(manager, "_connections", None)
    if not isinstance(connections, dict):
        return
    for connection in list(connections.values()):
        with contextlib.suppress(Exception):
            connection.close()
    connections.clear()


class AmazonTranscribeBackend:
    """Streaming requests through ``amazon-transcribe`` (``TranscribeStreamingClient``).

    region / profile: resolved through boto3's chain; credentials are handed to the SDK
    by a resolver backed by the botocore session (refreshable, never logged).
    endpoint_url: override (``StaticEndpointResolver``), e.g. a VPC endpoint or a fake.
    ca_bundle: PEM file of extra trusted CAs for TLS (default: ``AWS_CA_BUNDLE`` if set,
        else the system store) — awscrt ignores ``SSL_CERT_FILE``.
    connect_timeout_s / send_timeout_s: deadlines (s) for starting a stream / one send.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        connect_timeout_s: float = 10.0,
        send_timeout_s: float = 5.0,
    ) -> None:
        self._sdk = require_transcribe()
        self._session = make_session(region=region, profile=profile)
        self.region = resolve_region(self._session, region)
        self.endpoint_url = endpoint_url
        bundle = ca_bundle if ca_bundle is not None else os.environ.get("AWS_CA_BUNDLE")
        self.ca_bundle = os.fspath(bundle) if bundle else None
        if self.ca_bundle and not os.path.isfile(self.ca_bundle):
            raise ConfigError(f"ca_bundle {self.ca_bundle!r} is not a file")
        self.connect_timeout_s = connect_timeout_s
        self.send_timeout_s = send_timeout_s
        self._tls_ctx: Any = None
        self._credentials = _BotocoreCredentialResolver(self._session, self._sdk)

    def __repr__(self) -> str:
        return (
            f"AmazonTranscribeBackend(region={self.region!r}, endpoint_url={self.endpoint_url!r})"
        )

    def credential_source(self) -> str | None:
        """Where the AWS chain found credentials (never the values)."""
        return credential_source(self._session)

    def _client(self) -> Any:
        sdk = self._sdk
        resolver = (
            sdk.endpoints.StaticEndpointResolver(self.endpoint_url) if self.endpoint_url else None
        )
        client = sdk.client.TranscribeStreamingClient(
            region=self.region, endpoint_resolver=resolver, credential_resolver=self._credentials
        )
        if self.ca_bundle:
            import awscrt.io

            if self._tls_ctx is None:
                options = awscrt.io.TlsContextOptions()
                options.override_default_trust_store_from_path(ca_filepath=self.ca_bundle)
                self._tls_ctx = awscrt.io.ClientTlsContext(options)
            manager = getattr(client, "_session_manager", None)
            if manager is None or not hasattr(manager, "_tls_ctx"):
                raise ConfigError(
                    "ca_bundle is not supported with this amazon-transcribe version "
                    f"({sdk.__version__}); pin amazon-transcribe==0.6.4"
                )
            manager._tls_ctx = self._tls_ctx
        return client

    async def open(self, settings: TranscribeSettings) -> StreamingHandle:
        client = self._client()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                stream = await client.start_stream_transcription(**settings.sdk_kwargs())
        except TimeoutError as exc:
            _close_connections(client)
            raise TransientStreamError(
                f"Transcribe did not answer within {self.connect_timeout_s} s",
                final=EngineTimeoutError(
                    f"aws-transcribe: the service did not answer within "
                    f"{self.connect_timeout_s} s; check the network, region and endpoint_url "
                    "(or raise connect_timeout_s)",
                    engine="aws-transcribe",
                ),
            ) from exc
        except BaseException as exc:
            _close_connections(client)
            if isinstance(exc, Exception):
                raise self.map_error(exc, started=False) from exc
            raise
        return _SdkHandle(self, client, stream)

    def map_error(self, exc: BaseException, *, started: bool) -> S2STError:
        """Map an SDK / awscrt exception; TransientStreamError means "reconnect"."""
        if isinstance(exc, S2STError):
            return exc
        sdk_exc = self._sdk.exceptions
        message = redact(str(getattr(exc, "message", "") or exc))
        name = type(exc).__name__
        if isinstance(exc, sdk_exc.BadRequestException):
            if started and "timed out" in message.lower():
                return TransientStreamError(f"stream ended for lack of audio: {message}")
            if started:
                return StreamClosedError(
                    f"aws-transcribe: the service ended the stream: {message}",
                    engine="aws-transcribe",
                )
            return ConfigError(
                f"aws-transcribe: the service rejected the stream settings (BadRequest: "
                f"{message}). Check language_code / language_options, sample rate, "
                "vocabulary and filter names and the region."
            )
        if isinstance(
            exc,
            sdk_exc.LimitExceededException
            | sdk_exc.ServiceUnavailableException
            | sdk_exc.InternalFailureException,
        ):
            return TransientStreamError(
                f"{name}: {message}",
                final=EngineUnavailableError(
                    f"aws-transcribe: {name} persisted after reconnecting ({message}); try "
                    "again later or check your Transcribe quotas",
                    engine="aws-transcribe",
                ),
            )
        if isinstance(exc, sdk_exc.ConflictException):
            return StreamClosedError(
                f"aws-transcribe: another stream took over this session id ({message})",
                engine="aws-transcribe",
            )
        if isinstance(exc, sdk_exc.CredentialsException):
            return ConfigError(
                "aws-transcribe: no usable AWS credentials; set AWS_PROFILE / profile=, run "
                "'aws configure' or 'aws sso login'"
            )
        if isinstance(exc, sdk_exc.UnknownServiceException):
            status = getattr(exc, "status_code", 0) or 0
            code = getattr(exc, "error_code", "")
            if status == 403 or "AccessDenied" in str(code):
                return ConfigError(
                    f"aws-transcribe: access denied ({code}: {message}). Grant the IAM "
                    "permission 'transcribe:StartStreamTranscription' to this identity; "
                    "see s2st_kit.engines.aws.doctor.iam_policy_json()"
                )
            if status in (401,) or code in (
                "UnrecognizedClientException",
                "InvalidSignatureException",
            ):
                return ConfigError(
                    f"aws-transcribe: the AWS credentials were rejected ({code}); refresh them "
                    "and check the system clock"
                )
            if status >= 500 or status == 429:
                return TransientStreamError(f"{code} ({status}): {message}")
            return EngineError(
                f"aws-transcribe: {code} ({status}): {message}", engine="aws-transcribe"
            )
        if isinstance(exc, sdk_exc.SDKError):
            return TransientStreamError(f"{name}: {message}")
        # awscrt raises awscrt.exceptions.AwsCrtError for transport failures.
        if type(exc).__module__.startswith("awscrt") or isinstance(exc, OSError):
            return TransientStreamError(
                f"connection problem ({name}: {message})",
                final=EngineUnavailableError(
                    f"aws-transcribe: cannot keep a connection to Transcribe ({name}); check "
                    "the network, region and endpoint_url",
                    engine="aws-transcribe",
                ),
            )
        return EngineError(f"aws-transcribe: unexpected {name}: {message}", engine="aws-transcribe")

    async def aclose(self) -> None:
        self._tls_ctx = None


class _BotocoreCredentialResolver:
    """amazon-transcribe CredentialResolver backed by a botocore session (refreshing)."""

    def __init__(self, session: Any, sdk: Any) -> None:
        self._session = session
        self._sdk = sdk
        self._cached: Any = None
        self._cached_at = 0.0

    def __repr__(self) -> str:
        return "<_BotocoreCredentialResolver>"

    def _resolve(self) -> Any:
        creds = self._session.get_credentials()
        if creds is None:
            raise ConfigError(
                "aws-transcribe: no AWS credentials found. Set AWS_PROFILE (or profile=), run "
                "'aws configure' / 'aws sso login', or export AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY"
            )
        frozen = creds.get_frozen_credentials()
        return self._sdk.auth.Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    async def get_credentials(self) -> Any:
        # Cached for 60 s: the SDK asks for credentials to sign every audio event; botocore
        # refreshes temporary credentials itself before they expire.
        now = time.monotonic()
        if self._cached is None or now - self._cached_at > 60.0:
            self._cached = await asyncio.to_thread(self._resolve)
            self._cached_at = now
        return self._cached


# --------------------------------------------------------------------------------------------
# the recognizer
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Frame:
    pcm: bytes
    start_s: float  # input stream position (s)
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass
class _Timeline:
    """Stream time -> input time for one stream (real audio only; keep-alive is not input)."""

    stream_starts: list[float] = field(default_factory=list)
    input_starts: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    stream_pos: float = 0.0

    def add(self, frame: _Frame | None, duration_s: float) -> None:
        if frame is not None:
            if (
                self.durations
                and abs(self.stream_starts[-1] + self.durations[-1] - self.stream_pos) < 1e-9
                and abs(self.input_starts[-1] + self.durations[-1] - frame.start_s) < 1e-6
            ):
                self.durations[-1] += duration_s
            else:
                self.stream_starts.append(self.stream_pos)
                self.input_starts.append(frame.start_s)
                self.durations.append(duration_s)
        self.stream_pos += duration_s

    def to_input(self, t: float) -> float:
        i = bisect.bisect_right(self.stream_starts, t) - 1
        if i < 0:
            return self.input_starts[0] if self.input_starts else 0.0
        offset = min(max(t - self.stream_starts[i], 0.0), self.durations[i])
        return self.input_starts[i] + offset


@dataclass
class _SessionState:
    frames: asyncio.Queue
    resend: deque = field(default_factory=deque)
    input_done: bool = False
    next_utterance: int = 0
    open_utterance: int | None = None
    last_final_end: float = 0.0
    last_end: float = 0.0
    reconnects: int = 0
    streams: int = 0
    dropped_resend_s: float = 0.0
    request_code: str | None = None
    attempt_finals: int = 0


@dataclass
class _AttemptState:
    timeline: _Timeline = field(default_factory=_Timeline)
    ids: dict[str, int] = field(default_factory=dict)
    utterance_open: bool = False
    quiet_s: float = 0.0  # trailing silence sent (s), for renewing at a pause
    started: float = field(default_factory=time.monotonic)


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_DONE = object()


class AwsTranscribeRecognizer:
    """Amazon Transcribe streaming recognizer (name ``"aws-transcribe"``).

    Language (per session, from ``stream(..., language=)``): an ISO code (``"en"`` ->
    :data:`DEFAULT_LOCALES`), a locale (``"en-GB"``) or ``"auto"``; options override it:

    language_code: fixed locale, e.g. ``"en-GB"``.
    identify_language / identify_multiple_languages + language_options (>= 2 locales) +
        preferred_language: automatic language identification (``"auto"`` turns
        identify_language on when language_options are given).
    media_sample_rate_hz: PCM rate sent (8000-48000, default 16000); ``sample_rate`` follows
        it and input at another rate is resampled.
    chunk_ms: audio event size (ms, default 100; 50-200 recommended, <= 1000 and <= 32 KiB).
    enable_partial_results_stabilization (default True) / partial_results_stability
        (``"low"``/``"medium"``/``"high"``, default ``"high"``; ``stability`` is an alias
        matching PipelineConfig.stability).
    vocabulary_name(s), vocabulary_filter_name(s) + vocabulary_filter_method
        (remove/mask/tag), language_model_name, content_redaction_type /
        content_identification_type (``"PII"``) + pii_entity_types, show_speaker_label,
        session_id: passed to the service as is.
    keepalive_s: after this long (s, default 5) without input audio, one chunk of silence is
        sent so the service's 15 s no-audio timeout never fires; None disables.
    max_stream_s: renew the stream after this much streamed audio (s, default 4 h - 10 min),
        at the next pause (0.3 s of silence, no open utterance) or ``renew_grace_s``
        (default 60 s) later at the latest.
    max_reconnects: reconnects in a row without a final result before giving up (3);
        reconnect_backoff_s: base of the jittered back-off between them (s, 0.2).
    max_resend_s: audio kept for re-sending after a reconnect (s, default 60).
    connect_timeout_s / send_timeout_s / final_timeout_s: deadlines (s) to start a stream
        (10), to send one event (5) and for the last results after the audio ends (15).
    max_speed: send at most this many times real time (None: as fast as audio comes; set
        e.g. 1.0 for pre-recorded files to a real service).
    backend: a :class:`StreamingBackend` (default :class:`AmazonTranscribeBackend` built from
        region / profile / endpoint_url / ca_bundle).
    """

    name = "aws-transcribe"

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        language_code: str | None = None,
        identify_language: bool = False,
        identify_multiple_languages: bool = False,
        language_options: Sequence[str] = (),
        preferred_language: str | None = None,
        media_sample_rate_hz: int = 16000,
        chunk_ms: int = 100,
        enable_partial_results_stabilization: bool = True,
        partial_results_stability: str | None = None,
        stability: str | None = None,
        vocabulary_name: str | None = None,
        vocabulary_names: Iterable[str] = (),
        vocabulary_filter_name: str | None = None,
        vocabulary_filter_names: Iterable[str] = (),
        vocabulary_filter_method: Literal["remove", "mask", "tag"] | None = None,
        language_model_name: str | None = None,
        content_redaction_type: Literal["PII"] | None = None,
        content_identification_type: Literal["PII"] | None = None,
        pii_entity_types: Iterable[str] = (),
        show_speaker_label: bool = False,
        session_id: str | None = None,
        keepalive_s: float | None = 5.0,
        max_stream_s: float = 4 * 3600 - 600,
        renew_grace_s: float = 60.0,
        max_reconnects: int = 3,
        reconnect_backoff_s: float = 0.2,
        max_resend_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        send_timeout_s: float = 5.0,
        final_timeout_s: float = 15.0,
        max_speed: float | None = None,
        backend: StreamingBackend | None = None,
    ) -> None:
        self._explicit_stability = partial_results_stability is not None or stability is not None
        if partial_results_stability is None:
            partial_results_stability = stability or "high"
        self._base = dict(
            language_code=language_code,
            identify_language=identify_language,
            identify_multiple_languages=identify_multiple_languages,
            language_options=tuple(language_options),
            preferred_language=preferred_language,
            media_sample_rate_hz=media_sample_rate_hz,
            enable_partial_results_stabilization=enable_partial_results_stabilization,
            partial_results_stability=partial_results_stability,
            vocabulary_name=vocabulary_name,
            vocabulary_names=tuple(vocabulary_names),
            vocabulary_filter_name=vocabulary_filter_name,
            vocabulary_filter_names=tuple(vocabulary_filter_names),
            vocabulary_filter_method=vocabulary_filter_method,
            language_model_name=language_model_name,
            content_redaction_type=content_redaction_type,
            content_identification_type=content_identification_type,
            pii_entity_types=tuple(pii_entity_types),
            show_speaker_label=show_speaker_label,
            session_id=session_id,
        )
        # Validate everything that does not depend on the session's language now.
        identifies = (
            identify_language
            or identify_multiple_languages
            or (len(self._base["language_options"]) >= 2)
        )
        self._settings_for(language_code or ("auto" if identifies else "en"))
        self.sample_rate = media_sample_rate_hz
        self._set_chunk_ms(chunk_ms)
        if keepalive_s is not None and not 0 < keepalive_s < 15:
            raise ConfigError("keepalive_s must be between 0 and 15 s (the service's timeout)")
        if not 0 < max_stream_s <= 4 * 3600:
            raise ConfigError("max_stream_s must be > 0 and <= 4 h (14400 s)")
        if max_reconnects < 0 or max_resend_s <= 0:
            raise ConfigError("max_reconnects must be >= 0 and max_resend_s > 0")
        if max_speed is not None and max_speed <= 0:
            raise ConfigError("max_speed must be > 0")
        self.keepalive_s = keepalive_s
        self.max_stream_s = max_stream_s
        self.renew_grace_s = renew_grace_s
        self.max_reconnects = max_reconnects
        self.reconnect_backoff_s = reconnect_backoff_s
        self.max_resend_s = max_resend_s
        self.final_timeout_s = final_timeout_s
        self.max_speed = max_speed
        self._backend: StreamingBackend = backend or AmazonTranscribeBackend(
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            ca_bundle=ca_bundle,
            connect_timeout_s=connect_timeout_s,
            send_timeout_s=send_timeout_s,
        )
        self._language_codes: OrderedDict[int, str] = OrderedDict()
        self._runners: set[asyncio.Task] = set()
        self._closed = False
        #: Counters of the last session: streams opened, reconnects, audio re-sent (s).
        self.stats: dict[str, float] = {}

    def _set_chunk_ms(self, chunk_ms: int) -> None:
        if not 10 <= chunk_ms <= 1000:
            raise ConfigError(f"chunk_ms must be 10-1000 ms, got {chunk_ms}")
        frame_samples = round(self.sample_rate * chunk_ms / 1000)
        if frame_samples * 2 > MAX_EVENT_BYTES:
            raise ConfigError(
                f"chunk_ms={chunk_ms} at {self.sample_rate} Hz makes {frame_samples * 2}-"
                f"byte audio events; Transcribe accepts at most {MAX_EVENT_BYTES} bytes: use "
                f"chunk_ms <= {MAX_EVENT_BYTES * 1000 // (2 * self.sample_rate)}"
            )
        if not 50 <= chunk_ms <= 200:
            logger.info("chunk_ms=%d: Transcribe recommends 50-200 ms chunks", chunk_ms)
        self.chunk_ms = chunk_ms
        self.frame_samples = frame_samples

    def configure(self, config: Any) -> None:
        """Adopt a session's ``chunk_ms`` and ``stability`` (called by the pipeline before it
        starts). A stability level given to the constructor wins over the config's."""
        self._set_chunk_ms(int(config.chunk_ms))
        if not self._explicit_stability:
            self._base["partial_results_stability"] = config.stability

    def __repr__(self) -> str:
        return (
            f"AwsTranscribeRecognizer(sample_rate={self.sample_rate}, chunk_ms={self.chunk_ms}, "
            f"backend={self._backend!r})"
        )

    # capabilities -------------------------------------------------------------------------
    def languages(self) -> frozenset[str]:
        """ISO codes with a default streaming locale, plus ``"auto"`` when language_options
        (>= 2) are configured."""
        codes = set(DEFAULT_LOCALES)
        if len(self._base["language_options"]) >= 2:
            codes.add("auto")
        if self._base["language_code"]:
            codes.add(iso_of(self._base["language_code"]))
        return frozenset(codes)

    def language_code_of(self, utterance_id: int) -> str | None:
        """The full locale (``"en-US"``) of a recent utterance (Transcript.language is ISO)."""
        return self._language_codes.get(utterance_id)

    def _settings_for(self, language: str) -> TranscribeSettings:
        base = dict(self._base)
        identify = base["identify_language"] or base["identify_multiple_languages"]
        if base["language_code"]:
            pass
        elif identify:
            if language != "auto" and not base["preferred_language"]:
                locale = language if _LOCALE.match(language) else DEFAULT_LOCALES.get(language)
                if locale in base["language_options"]:
                    base["preferred_language"] = locale
        elif language == "auto":
            if len(base["language_options"]) < 2:
                raise ConfigError(
                    "aws-transcribe: language 'auto' needs language_options with at least 2 "
                    "locales, e.g. language_options=['en-US', 'es-US']"
                )
            base["identify_language"] = True
        elif _LOCALE.match(language):
            base["language_code"] = language
        elif language in DEFAULT_LOCALES:
            base["language_code"] = DEFAULT_LOCALES[language]
        else:
            raise UnsupportedLanguageError(
                f"aws-transcribe: no streaming locale known for {language!r}; pass a locale "
                f"(language_code='xx-YY') or one of {', '.join(sorted(DEFAULT_LOCALES))}"
            )
        return TranscribeSettings(**base)

    # streaming ----------------------------------------------------------------------------
    async def stream(
        self, chunks: AsyncIterable[AudioChunk], *, language: str
    ) -> AsyncIterator[Transcript]:
        """Recognise ``chunks``; yields partial and final transcripts (see the class doc)."""
        if self._closed:
            raise EngineError(f"{self.name}: the recognizer is closed", engine=self.name)
        settings = self._settings_for(language)
        out: asyncio.Queue = asyncio.Queue(maxsize=256)
        runner = asyncio.create_task(self._run(chunks, settings, out))
        self._runners.add(runner)
        try:
            while True:
                item = await out.get()
                if item is _DONE:
                    break
                if isinstance(item, _Failed):
                    raise item.exc
                yield item
        finally:
            if not runner.done():
                runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            self._runners.discard(runner)

    async def _run(
        self, chunks: AsyncIterable[AudioChunk], settings: TranscribeSettings, out: asyncio.Queue
    ) -> None:
        state = _SessionState(frames=asyncio.Queue(maxsize=64), request_code=settings.language_code)
        producer = asyncio.create_task(self._produce(chunks, state.frames))
        try:
            await self._session(settings, state, out)
            await out.put(_DONE)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await out.put(_Failed(exc))
        finally:
            self.stats = {
                "streams": state.streams,
                "reconnects": state.reconnects,
                "dropped_resend_s": state.dropped_resend_s,
            }
            if not producer.done():
                producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer

    async def _produce(self, chunks: AsyncIterable[AudioChunk], frames: asyncio.Queue) -> None:
        """Resample to ``sample_rate`` and cut into uniform frames of ``chunk_ms``."""
        frame_bytes = self.frame_samples * 2
        pending = bytearray()
        position: float | None = None
        resampler: Any = None
        in_rate: int | None = None
        try:
            async for chunk in chunks:
                if position is None:
                    position = chunk.start_s
                if len(chunk.pcm) % 2:
                    raise AudioFormatError("PCM chunks must hold whole 16-bit samples")
                pcm = chunk.pcm
                if chunk.sample_rate != self.sample_rate:
                    if in_rate is None:
                        import soxr

                        in_rate = chunk.sample_rate
                        resampler = soxr.ResampleStream(in_rate, self.sample_rate, 1, dtype="int16")
                    elif chunk.sample_rate != in_rate:
                        raise AudioFormatError(
                            f"sample rate changed mid-stream ({in_rate} -> {chunk.sample_rate} Hz)"
                        )
                    pcm = resampler.resample_chunk(np.frombuffer(pcm, dtype="<i2")).tobytes()
                pending += pcm
                while len(pending) >= frame_bytes:
                    frame = bytes(pending[:frame_bytes])
                    del pending[:frame_bytes]
                    await frames.put(_Frame(frame, position, self.chunk_ms / 1000))
                    position += self.chunk_ms / 1000
            if resampler is not None:
                pending += resampler.resample_chunk(
                    np.zeros(0, dtype=np.int16), last=True
                ).tobytes()
            while pending:
                frame = bytes(pending[:frame_bytes]).ljust(frame_bytes, b"\0")
                del pending[:frame_bytes]
                await frames.put(_Frame(frame, position or 0.0, self.chunk_ms / 1000))
                position = (position or 0.0) + self.chunk_ms / 1000
            await frames.put(None)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await frames.put(_Failed(exc))

    async def _session(
        self, settings: TranscribeSettings, state: _SessionState, out: asyncio.Queue
    ) -> None:
        failures = 0
        rng = random.Random()
        while True:
            try:
                outcome = await self._attempt(settings, state, out)
            except TransientStreamError as exc:
                # A stream that delivered final results made progress: count afresh.
                failures = 1 if state.attempt_finals else failures + 1
                state.reconnects += 1
                if failures > self.max_reconnects:
                    final = exc.final or StreamClosedError(
                        f"aws-transcribe: the stream failed {failures} times in a row "
                        f"({exc}); giving up",
                        engine=self.name,
                    )
                    raise final from exc
                wait = rng.uniform(0, self.reconnect_backoff_s * 2 ** (failures - 1))
                logger.warning(
                    "%s: %s; reconnecting in %.2f s and re-sending %.2f s of audio",
                    self.name,
                    exc,
                    wait,
                    sum(f.duration_s for f in state.resend),
                )
                await asyncio.sleep(wait)
                continue
            if outcome == "done":
                return
            failures = 0  # "renew": a planned new stream

    async def _attempt(
        self, settings: TranscribeSettings, state: _SessionState, out: asyncio.Queue
    ) -> str:
        attempt = _AttemptState()
        state.attempt_finals = 0
        handle = await self._backend.open(settings)
        state.streams += 1
        receiver = asyncio.create_task(self._receive(handle, attempt, state, out))
        sender = asyncio.create_task(self._send(handle, attempt, state))
        try:
            done, _ = await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done and not sender.done():
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sender
                receiver.result()  # raises the stream's error
                raise TransientStreamError("Transcribe closed the stream unexpectedly")
            outcome = sender.result()
            try:
                async with asyncio.timeout(self.final_timeout_s):
                    await receiver
            except TimeoutError as exc:
                raise TransientStreamError(
                    f"no end of results within {self.final_timeout_s} s of the end of audio",
                    final=EngineTimeoutError(
                        f"{self.name}: the service did not finish within "
                        f"{self.final_timeout_s} s after the audio ended",
                        engine=self.name,
                    ),
                ) from exc
            return outcome
        finally:
            for task in (sender, receiver):
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await handle.aclose()

    async def _send(
        self, handle: StreamingHandle, attempt: _AttemptState, state: _SessionState
    ) -> str:
        frame_s = self.chunk_ms / 1000
        for frame in list(state.resend):
            await self._send_frame(handle, attempt, frame, frame.pcm, frame_s)
        silence = bytes(self.frame_samples * 2)
        while not state.input_done:
            if attempt.timeline.stream_pos >= self.max_stream_s and (
                (not attempt.utterance_open and attempt.quiet_s >= _RENEW_PAUSE_S)
                or attempt.timeline.stream_pos >= self.max_stream_s + self.renew_grace_s
            ):
                logger.info(
                    "%s: renewing the stream after %.1f s", self.name, attempt.timeline.stream_pos
                )
                await handle.end()
                return "renew"
            try:
                if self.keepalive_s is None:
                    item = await state.frames.get()
                else:
                    async with asyncio.timeout(self.keepalive_s):
                        item = await state.frames.get()
            except TimeoutError:
                logger.debug(
                    "%s: no audio for %.1f s; sending keep-alive silence",
                    self.name,
                    self.keepalive_s,
                )
                await self._send_frame(handle, attempt, None, silence, frame_s)
                continue
            if item is None:
                state.input_done = True
                break
            if isinstance(item, _Failed):
                raise item.exc
            state.resend.append(item)
            self._trim_resend(state)
            await self._send_frame(handle, attempt, item, item.pcm, frame_s)
        await handle.end()
        return "done"

    async def _send_frame(
        self,
        handle: StreamingHandle,
        attempt: _AttemptState,
        frame: _Frame | None,
        pcm: bytes,
        duration_s: float,
    ) -> None:
        if self.max_speed is not None:
            due = attempt.started + attempt.timeline.stream_pos / self.max_speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        attempt.timeline.add(frame, duration_s)
        if frame is None or _rms(pcm) < _RENEW_SILENCE_RMS:
            attempt.quiet_s += duration_s
        else:
            attempt.quiet_s = 0.0
        await handle.send(pcm)

    def _trim_resend(self, state: _SessionState) -> None:
        total = sum(f.duration_s for f in state.resend)
        while state.resend and total > self.max_resend_s:
            dropped = state.resend.popleft()
            total -= dropped.duration_s
            state.dropped_resend_s += dropped.duration_s
            if state.dropped_resend_s == dropped.duration_s:
                logger.warning(
                    "%s: more than %.0f s of audio without a final result; audio older than "
                    "that will not be re-sent after a reconnect",
                    self.name,
                    self.max_resend_s,
                )

    async def _receive(
        self,
        handle: StreamingHandle,
        attempt: _AttemptState,
        state: _SessionState,
        out: asyncio.Queue,
    ) -> None:
        async for raw in handle.results():
            transcript = self._to_transcript(raw, attempt, state)
            if transcript is None:
                continue
            await out.put(transcript)
            if transcript.is_final:
                state.attempt_finals += 1
                state.last_final_end = max(state.last_final_end, transcript.end_s)
                while state.resend and state.resend[0].start_s < state.last_final_end - 1e-3:
                    state.resend.popleft()

    def _to_transcript(
        self, raw: RawResult, attempt: _AttemptState, state: _SessionState
    ) -> Transcript | None:
        text = raw.transcript.strip()
        uid = attempt.ids.get(raw.result_id)
        if uid is None:
            if not text:
                return None
            if state.open_utterance is not None:
                uid = state.open_utterance  # continues an utterance cut by a reconnect
            else:
                uid = state.next_utterance
                state.next_utterance += 1
            attempt.ids[raw.result_id] = uid
        final = not raw.is_partial
        state.open_utterance = None if final else uid
        attempt.utterance_open = not final
        to_input = attempt.timeline.to_input
        words = tuple(
            Word(
                text=item.content,
                start_s=to_input(item.start_s),
                end_s=to_input(item.end_s),
                stable=final or bool(item.stable),
                confidence=item.confidence,
            )
            for item in raw.items
            if item.kind == "pronunciation"
        )
        start_s = to_input(raw.start_s)
        end_s = max(to_input(raw.end_s), start_s)
        if final:
            stable_text = text
        elif any(item.stable is not None for item in raw.items):
            stable_text = _stable_prefix(text, raw.items)
        else:
            stable_text = ""
        code = raw.language_code or state.request_code
        if code:
            self._language_codes[uid] = code
            while len(self._language_codes) > 1024:
                self._language_codes.popitem(last=False)
        confidences = [w.confidence for w in words if w.confidence is not None]
        speaker = next((i.speaker for i in raw.items if i.speaker is not None), None)
        return Transcript(
            text=text,
            is_final=final,
            start_s=start_s,
            end_s=end_s,
            utterance_id=uid,
            stable_text=stable_text,
            language=iso_of(code) if code else None,
            confidence=sum(confidences) / len(confidences) if confidences else None,
            words=words,
            speaker=speaker,
        )

    async def aclose(self) -> None:
        """Stop running sessions and release the backend. Idempotent."""
        self._closed = True
        for runner in list(self._runners):
            runner.cancel()
        for runner in list(self._runners):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        self._runners.clear()
        await self._backend.aclose()


def _stable_prefix(text: str, items: Sequence[RawItem]) -> str:
    """The prefix of ``text`` covering the leading run of stable items."""
    end = 0
    pos = 0
    for item in items:
        if not item.stable:
            break
        found = text.find(item.content, pos) if item.content else -1
        if found < 0:
            break
        pos = found + len(item.content)
        end = pos
    return text[:end]


def create_recognizer(**options: Any) -> AwsTranscribeRecognizer:
    """Registry factory: ``AwsTranscribeRecognizer(**options)``.

    Accepts the shared AWS bundle options (see :func:`.session.options_for`): region,
    profile, ``endpoint_urls={"transcribe": url}`` or ``endpoint_url``, and the keyword
    options of :class:`AwsTranscribeRecognizer`; options of the other AWS stages are ignored.
    """
    return AwsTranscribeRecognizer(**options_for("transcribe", options))
