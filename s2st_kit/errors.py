"""The s2st_kit exception tree.

Every error the toolkit raises on purpose derives from :class:`S2STError`, and every
message says what happened *and what to do about it*. Vendor exceptions (botocore,
amazon-transcribe, subprocess, ctypes) are mapped at the engine boundary with
``raise ... from exc`` so callers only ever need to catch these classes::

    S2STError
    ├── ConfigError                    bad choice, refused before a session starts
    │   ├── UnsupportedLanguageError   a language / language pair an engine lacks
    │   ├── UnsupportedVoiceError      a voice the synthesizer does not have
    │   └── EngineNotInstalledError    an engine whose packages are missing (says how to install)
    ├── AudioError
    │   ├── AudioFormatError           unreadable, empty, truncated or not audio at all
    │   └── DeviceError                no / busy / vanished audio device
    ├── EngineError                    a stage failed while running (logged per segment)
    │   ├── ThrottledError             rate limited; retry later (``retry_after_s``)
    │   ├── EngineUnavailableError     the service / process cannot be reached
    │   ├── EngineTimeoutError         a call took longer than its deadline
    │   └── StreamClosedError          a streaming session ended underneath us
    └── PipelineError
        ├── PipelineStateError         e.g. start() twice, or reuse after close
        └── QueueOverflowError         a bounded queue was full and overflow="error"

Secrets never appear in messages: engines must not interpolate credentials, headers or
signed URLs into them.
"""

from __future__ import annotations

__all__ = [
    "AudioError",
    "AudioFormatError",
    "ConfigError",
    "DeviceError",
    "EngineError",
    "EngineNotInstalledError",
    "EngineTimeoutError",
    "EngineUnavailableError",
    "PipelineError",
    "PipelineStateError",
    "QueueOverflowError",
    "S2STError",
    "StreamClosedError",
    "ThrottledError",
    "UnsupportedLanguageError",
    "UnsupportedVoiceError",
]


class S2STError(Exception):
    """Base class of every error s2st_kit raises on purpose."""


class ConfigError(S2STError, ValueError):
    """A configuration that cannot work; raised before any audio is processed."""


class UnsupportedLanguageError(ConfigError):
    """The chosen engine does not support this language or language pair."""


class UnsupportedVoiceError(ConfigError):
    """The chosen synthesizer has no such voice (or not for this language)."""


class EngineNotInstalledError(ConfigError):
    """An engine's Python or system packages are missing; the message says how to install them."""


class AudioError(S2STError):
    """Audio could not be read, converted, captured or played."""


class AudioFormatError(AudioError, ValueError):
    """The input is not usable audio (empty, truncated, corrupt, or not audio at all)."""


class DeviceError(AudioError):
    """An audio device is missing, busy or failed."""


class EngineError(S2STError):
    """A recognizer, translator or synthesizer call failed.

    ``engine`` names the engine (e.g. ``"aws-translate"``) and ``retryable`` tells the
    pipeline whether trying again may help.
    """

    retryable: bool = False

    def __init__(self, message: str, *, engine: str | None = None) -> None:
        super().__init__(message)
        self.engine = engine


class ThrottledError(EngineError):
    """The service rate-limited the request; ``retry_after_s`` is a hint (s) when known."""

    retryable = True

    def __init__(
        self, message: str, *, engine: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message, engine=engine)
        self.retry_after_s = retry_after_s


class EngineUnavailableError(EngineError):
    """The engine's service or process could not be reached or died."""

    retryable = True


class EngineTimeoutError(EngineError):
    """An engine call exceeded its deadline."""

    retryable = True


class StreamClosedError(EngineError):
    """A streaming recognition session was closed by the other side."""

    retryable = True


class PipelineError(S2STError):
    """The pipeline itself was misused or overran a limit."""


class PipelineStateError(PipelineError, RuntimeError):
    """An operation that the pipeline's current state does not allow."""


class QueueOverflowError(PipelineError):
    """A bounded queue was full and the configured overflow behaviour is ``"error"``."""
