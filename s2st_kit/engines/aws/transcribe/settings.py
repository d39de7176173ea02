"""Every option of an Amazon Transcribe streaming session, in one validated frozen dataclass.

:class:`TranscribeSettings` holds the StartStreamTranscription parameters *and* the
recognizer's streaming behaviour (chunk size, keep-alive, renewal, reconnects). A
recognizer's settings may leave the language to the session (``stream(language=...)``);
:meth:`TranscribeSettings.for_language` resolves it into the settings of one request.
Everything is checked in ``__post_init__``, so a bad combination fails when the settings
are made, before any request.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ....config import Stability
from ....errors import ConfigError, UnsupportedLanguageError

__all__ = [
    "DEFAULT_LOCALES",
    "MAX_EVENT_BYTES",
    "FilterMethod",
    "PiiMode",
    "TranscribeSettings",
    "iso_of",
]

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
#: Largest audio event payload the service accepts (bytes).
MAX_EVENT_BYTES = 32 * 1024
#: The service's no-audio timeout (s): a stream without audio for this long is ended.
SERVICE_SILENCE_TIMEOUT_S = 15.0
#: The service's longest stream (s).
SERVICE_MAX_STREAM_S = 4 * 3600.0

FilterMethod = Literal["remove", "mask", "tag"]
PiiMode = Literal["PII"]

_LOCALE = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")
_SEQUENCES = ("language_options", "vocabulary_names", "vocabulary_filter_names", "pii_entity_types")
#: Closed sets of values, checked at run time too (the Literal types only bind type checkers).
_CHOICES: dict[str, tuple[str, ...]] = {
    "partial_results_stability": get_args(Stability),
    "vocabulary_filter_method": get_args(FilterMethod),
    "content_redaction_type": get_args(PiiMode),
    "content_identification_type": get_args(PiiMode),
}


def iso_of(code: str) -> str:
    """``"en-US"`` -> ``"en"``."""
    return code.split("-")[0].lower()


def _locale_of(language: str) -> str | None:
    """A locale as is, an ISO code through :data:`DEFAULT_LOCALES`, else None."""
    return language if _LOCALE.match(language) else DEFAULT_LOCALES.get(language)


def _listed(values: tuple[str, ...], send: bool = True) -> list[str] | None:
    """A list for the SDK, or None (not sent) when empty or not wanted."""
    return list(values) if values and send else None


@dataclass(frozen=True, kw_only=True)
class TranscribeSettings:
    """The options of a Transcribe streaming session (validated when made; all keyword-only).

    Service parameters (sent with StartStreamTranscription as they are):

    language_code: fixed locale (``"en-GB"``); None: the session's language decides
        (an ISO code through :data:`DEFAULT_LOCALES`, a locale, or ``"auto"``).
    identify_language / identify_multiple_languages: automatic language identification
        among ``language_options`` (>= 2 locales); ``preferred_language`` speeds it up.
        ``"auto"`` as the session language turns identify_language on when >= 2
        language_options are given.
    media_sample_rate_hz: PCM rate sent (8000-48000 Hz, default 16000); input at another
        rate is resampled.
    enable_partial_results_stabilization (default True) / partial_results_stability
        (``"low"``/``"medium"``/``"high"``; None: the session's ``PipelineConfig.stability``
        through ``configure()``, else ``"high"``).
    vocabulary_name / vocabulary_filter_name (+ vocabulary_filter_method: remove / mask /
        tag) for a fixed language; vocabulary_names / vocabulary_filter_names (one per
        language) with identification. language_model_name, content_redaction_type /
        content_identification_type (``"PII"``) + pii_entity_types, show_speaker_label,
        session_id: as the service defines them.

    Streaming behaviour:

    chunk_ms: audio event size (ms, default 100; 10-1000, <= 32 KiB; 50-200 recommended).
    keepalive_s: after this long (s, default 5) without input audio one chunk of silence is
        sent, so the service's 15 s no-audio timeout never fires; None disables it.
    max_stream_s: renew the stream after this much streamed audio or wall-clock time (s,
        default 4 h - 10 min; the service ends a stream at 4 h) at the next pause (0.3 s of audio below -40 dBFS or
        twice the noise floor: see :mod:`.renewal`), or ``renew_grace_s`` (s, default 60)
        later at the latest (then a word may be cut in two).
    max_reconnects: reconnects allowed within ``reconnect_window_s`` of input audio (default
        3 within 300 s), counted afresh after a stream that delivered a final result; counted
        in audio, like the pipeline's restarts, so a replay faster than real time has the
        budget of a live session. reconnect_backoff_s: base of the jittered exponential wait
        between them (s, default 0.2; see :mod:`s2st_kit.retry`).
    max_resend_s: audio kept for re-sending after a reconnect (s, default 60; silence before
        the next sound is not kept). A sender that gets this far ahead of the final results
        waits for them (at most ``keepalive_s``, then drops the oldest audio).
    final_timeout_s: deadline for the last results after the audio ended (s, default 15).
    max_speed: send at most this many times real time (None: as fast as audio comes; e.g.
        1.0 for pre-recorded files sent to the real service).
    """

    # service parameters
    language_code: str | None = None
    media_sample_rate_hz: int = 16000
    identify_language: bool = False
    identify_multiple_languages: bool = False
    language_options: tuple[str, ...] = ()
    preferred_language: str | None = None
    enable_partial_results_stabilization: bool = True
    partial_results_stability: Stability | None = None
    vocabulary_name: str | None = None
    vocabulary_names: tuple[str, ...] = ()
    vocabulary_filter_name: str | None = None
    vocabulary_filter_names: tuple[str, ...] = ()
    vocabulary_filter_method: FilterMethod | None = None
    language_model_name: str | None = None
    content_redaction_type: PiiMode | None = None
    content_identification_type: PiiMode | None = None
    pii_entity_types: tuple[str, ...] = ()
    show_speaker_label: bool = False
    session_id: str | None = None
    # streaming behaviour
    chunk_ms: int = 100
    keepalive_s: float | None = 5.0
    max_stream_s: float = SERVICE_MAX_STREAM_S - 600.0
    renew_grace_s: float = 60.0
    max_reconnects: int = 3
    reconnect_window_s: float = 300.0
    reconnect_backoff_s: float = 0.2
    max_resend_s: float = 60.0
    final_timeout_s: float = 15.0
    max_speed: float | None = None

    def __post_init__(self) -> None:
        for name in _SEQUENCES:  # accept any iterable (a list, one string) as the tuple
            value: str | Iterable[str] = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        self._check_identification()
        self._check_names_and_choices()
        self._check_streaming()

    @classmethod
    def from_options(cls, **options: Any) -> TranscribeSettings:
        """``TranscribeSettings(**options)``, with ``stability`` as an alias of
        ``partial_results_stability`` and an unknown name as a ConfigError listing the known."""
        if "stability" in options:
            alias = options.pop("stability")
            if options.get("partial_results_stability") is None:
                options["partial_results_stability"] = alias
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown Transcribe option(s): {', '.join(unknown)}; known: "
                f"{', '.join(sorted(known))}"
            )
        return cls(**options)

    # derived values ---------------------------------------------------------------------
    @property
    def identifies(self) -> bool:
        """True when the request asks the service to identify the language."""
        return self.identify_language or self.identify_multiple_languages

    @property
    def can_identify(self) -> bool:
        """True when identification is on, or ``"auto"`` would turn it on (>= 2 options)."""
        return self.identifies or len(self.language_options) >= 2

    @property
    def frame_samples(self) -> int:
        """Samples per audio event (``chunk_ms`` at ``media_sample_rate_hz``)."""
        return round(self.media_sample_rate_hz * self.chunk_ms / 1000)

    def notes(self) -> list[str]:
        """Advice that is not an error (the recognizer logs it once)."""
        notes = []
        if not 50 <= self.chunk_ms <= 200:
            notes.append(f"chunk_ms={self.chunk_ms}: Transcribe recommends 50-200 ms chunks")
        if self.content_redaction_type and self.can_identify:
            notes.append("PII redaction is only available for some languages (en-US, ...)")
        return notes

    # checks -----------------------------------------------------------------------------
    def _check_identification(self) -> None:
        if self.identify_language and self.identify_multiple_languages:
            raise ConfigError("choose identify_language or identify_multiple_languages, not both")
        if self.identifies:
            if len(self.language_options) < 2:
                raise ConfigError(
                    "language identification needs at least 2 language_options, e.g. "
                    "language_options=['en-US', 'es-US']"
                )
            if self.language_code is not None:
                raise ConfigError("language_code must not be set with language identification")
            if self.vocabulary_name or self.vocabulary_filter_name:
                raise ConfigError(
                    "with language identification use vocabulary_names / "
                    "vocabulary_filter_names (one per language), not the singular options"
                )
        elif not self.can_identify and (self.vocabulary_names or self.vocabulary_filter_names):
            raise ConfigError(
                "vocabulary_names / vocabulary_filter_names are for language identification; "
                "use vocabulary_name / vocabulary_filter_name"
            )
        if len(set(self.language_options)) != len(self.language_options):
            raise ConfigError("language_options contains duplicates")
        if self.preferred_language and not self.can_identify:
            raise ConfigError("preferred_language needs identify_language and language_options")
        if self.preferred_language and self.preferred_language not in self.language_options:
            raise ConfigError(
                f"preferred_language {self.preferred_language!r} must be one of "
                f"language_options {list(self.language_options)}"
            )

    def _check_names_and_choices(self) -> None:
        for code in (*self.language_options, *filter(None, [self.language_code])):
            if not _LOCALE.match(code):
                raise ConfigError(f"{code!r} is not a Transcribe locale such as 'en-US'")
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ConfigError(
                    f"{name} must be one of {', '.join(allowed)} (or None), got {value!r}"
                )
        if self.vocabulary_filter_method and not (
            self.vocabulary_filter_name or self.vocabulary_filter_names
        ):
            raise ConfigError("vocabulary_filter_method needs vocabulary_filter_name(s)")
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

    def _check_streaming(self) -> None:
        rate = self.media_sample_rate_hz
        if not 8000 <= rate <= 48000:
            raise ConfigError(f"media_sample_rate_hz must be 8000-48000 Hz, got {rate}")
        if not 10 <= self.chunk_ms <= 1000:
            raise ConfigError(f"chunk_ms must be 10-1000 ms, got {self.chunk_ms}")
        if self.frame_samples * 2 > MAX_EVENT_BYTES:
            raise ConfigError(
                f"chunk_ms={self.chunk_ms} at {rate} Hz makes {self.frame_samples * 2}-byte "
                f"audio events; Transcribe accepts at most {MAX_EVENT_BYTES} bytes: use "
                f"chunk_ms <= {MAX_EVENT_BYTES * 1000 // (2 * rate)}"
            )
        if self.keepalive_s is not None and not 0 < self.keepalive_s < SERVICE_SILENCE_TIMEOUT_S:
            raise ConfigError("keepalive_s must be between 0 and 15 s (the service's timeout)")
        if not 0 < self.max_stream_s <= SERVICE_MAX_STREAM_S - max(self.renew_grace_s, 0):
            raise ConfigError(
                "max_stream_s must be > 0 and max_stream_s + renew_grace_s <= 4 h (14400 s), "
                "the service's longest stream"
            )
        if self.max_reconnects < 0 or min(self.max_resend_s, self.reconnect_window_s) <= 0:
            raise ConfigError(
                "max_reconnects must be >= 0, max_resend_s and reconnect_window_s > 0 s"
            )
        if min(self.renew_grace_s, self.reconnect_backoff_s) < 0 or self.final_timeout_s <= 0:
            raise ConfigError(
                "renew_grace_s and reconnect_backoff_s must be >= 0 s, final_timeout_s > 0 s"
            )
        if self.max_speed is not None and self.max_speed <= 0:
            raise ConfigError("max_speed must be > 0")

    # one request ------------------------------------------------------------------------
    def for_language(self, language: str) -> TranscribeSettings:
        """The settings of one request for a session in ``language`` (ISO code, locale or
        ``"auto"``). A configured ``language_code`` wins; with identification an ISO code or
        locale among ``language_options`` becomes ``preferred_language``."""
        if self.language_code:
            return self
        locale = None if language == "auto" else _locale_of(language)
        if self.identifies:
            if locale in self.language_options and not self.preferred_language:
                return dataclasses.replace(self, preferred_language=locale)
            return self
        if language == "auto":
            if len(self.language_options) < 2:
                raise ConfigError(
                    "aws-transcribe: language 'auto' needs language_options with at least 2 "
                    "locales, e.g. language_options=['en-US', 'es-US']"
                )
            return dataclasses.replace(self, identify_language=True)
        if locale is None:
            raise UnsupportedLanguageError(
                f"aws-transcribe: no streaming locale known for {language!r}; pass a locale "
                f"(language_code='xx-YY') or one of {', '.join(sorted(DEFAULT_LOCALES))}"
            )
        return dataclasses.replace(self, language_code=locale)

    def sdk_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``TranscribeStreamingClient.start_stream_transcription``
        (needs a resolved language: see :meth:`for_language`)."""
        if not (self.language_code or self.identifies):
            raise ConfigError(
                "language_code is required without language identification (or resolve the "
                "session's language with for_language())"
            )
        stabilize = self.enable_partial_results_stabilization
        identify = self.identifies
        return {
            "language_code": self.language_code,
            "media_sample_rate_hz": self.media_sample_rate_hz,
            "media_encoding": "pcm",
            "vocabulary_name": self.vocabulary_name,
            "vocabulary_names": _listed(self.vocabulary_names, identify),
            "session_id": self.session_id,
            "vocab_filter_method": self.vocabulary_filter_method,
            "vocab_filter_name": self.vocabulary_filter_name,
            "vocab_filter_names": _listed(self.vocabulary_filter_names, identify),
            "show_speaker_label": True if self.show_speaker_label else None,
            "enable_partial_results_stabilization": True if stabilize else None,
            "partial_results_stability": (
                (self.partial_results_stability or "high") if stabilize else None
            ),
            "language_model_name": self.language_model_name,
            "identify_language": True if self.identify_language else None,
            "preferred_language": self.preferred_language if identify else None,
            "identify_multiple_languages": True if self.identify_multiple_languages else None,
            "language_options": _listed(self.language_options, identify),
            "pii_entity_types": _listed(self.pii_entity_types),
            "content_redaction_type": self.content_redaction_type,
            "content_identification_type": self.content_identification_type,
        }
