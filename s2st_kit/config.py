"""Frozen configuration objects.

:class:`PipelineConfig` holds everything that shapes a run and that a log row records
(languages, voice, chunk size, commit policy) plus the queue bounds. It is immutable:
use :meth:`PipelineConfig.replace` to derive a variant (sweeps do exactly that).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .errors import ConfigError
from .lag import CatchUp, LagController, check_lag_settings
from .retry import RestartBudget, RetryPolicy

__all__ = ["POLICIES", "AudioFormat", "Overflow", "PipelineConfig", "PolicyName", "Stability"]

PolicyName = Literal["final", "stable", "local-agreement"]
Overflow = Literal["block", "drop-oldest", "error"]
Stability = Literal["low", "medium", "high"]
POLICIES: tuple[str, ...] = get_args(PolicyName)
_OVERFLOWS: tuple[str, ...] = get_args(Overflow)
_STABILITY: tuple[str, ...] = get_args(Stability)


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """PCM format: signed 16-bit little-endian samples.

    sample_rate: samples per second (Hz), default 16000.
    channels: interleaved channels, default 1 (the pipeline works in mono).
    """

    sample_rate: int = 16000
    channels: int = 1

    def __post_init__(self) -> None:
        if not 1000 <= self.sample_rate <= 384000:
            raise ConfigError(f"sample_rate must be 1000-384000 Hz, got {self.sample_rate}")
        if self.channels < 1:
            raise ConfigError(f"channels must be >= 1, got {self.channels}")

    @property
    def bytes_per_frame(self) -> int:
        """Bytes per sample frame (2 x channels)."""
        return 2 * self.channels

    def frames(self, duration_s: float) -> int:
        """Number of frames in ``duration_s`` seconds (rounded)."""
        return round(duration_s * self.sample_rate)


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """What one session does.

    source_lang / target_lang: ISO 639-1 codes (``"en"``, ``"es"``); ``source_lang="auto"``
        asks a recognizer with language identification to detect it.
    voice: synthesizer voice id; ``None`` takes the engine's default for ``target_lang``.
    chunk_ms: size of the audio chunks sent to the recognizer, in milliseconds (10-1000,
        default 100; 50-200 ms is what streaming services recommend).
    policy: when recognised text is committed for translation: ``"final"`` (each final
        result), ``"stable"`` (stable prefix at a sentence/clause boundary) or
        ``"local-agreement"`` (prefix two consecutive hypotheses agree on).
    stability: partial-result stabilisation level requested from recognizers that have it
        (``"low"``, ``"medium"``, ``"high"``).
    min_commit_words: the ``stable`` / ``local-agreement`` policies never commit fewer
        words than this (default 3) unless the utterance ends.
    audio_queue_size: bound (chunks) of the queue between the source and the recognizer.
    segment_queue_size: bound (segments) of the queue in front of translation.
    max_inflight: segments translated / synthesised concurrently (default 4).
    overflow: what a full queue does: ``"block"`` (back-pressure), ``"drop-oldest"``
        (drop and count / log as ``dropped``) or ``"error"`` (raise QueueOverflowError).
    stage_retries: retries of a translation or synthesis call that failed with a retryable
        error (throttling, timeout, unavailable), with full-jitter backoff (default 2). This
        is the whole budget of the call: an engine's own retries inside it draw from the
        same attempts (see :mod:`s2st_kit.retry`), so one segment never costs more than
        ``stage_retries + 1`` calls.
    retry_budget_s: longest total backoff for one translation or synthesis call, across
        its retries (s, default 10).
    recognizer_restarts / restart_window_s: a dropped recognizer stream is reopened on the
        following audio, at most ``recognizer_restarts`` times (default 3) within any
        ``restart_window_s`` seconds of input audio (default 120 s). A session of hours
        with a dropped stream every few minutes goes on; a stream that keeps failing at once
        (a dead service, bad credentials) ends the session with its error.
    max_lag_s: lag control's target: how far (s) the listener may fall behind the speaker
        (``t_play_start − t_speech_end``). ``None`` (default) turns control off: every
        segment plays at natural speed however far behind playback falls. For live use 3 s
        (a human interpreter's ear-voice span); it must be above the stages' own latency
        (≈ 1.7 s for the cloud stack, ≈ 0.8 s offline), which speed cannot win back.
    max_speedup: fastest playback when behind (× natural speed, default 1.5: intelligible
        with every engine here; the synthesizer's own rate where it has one, else
        time-stretching).
    catch_up: ``"speed+skip"`` (default: also skip segments that have not started playing
        when even ``max_speedup`` cannot hold the target — bounded lag) or ``"speed"``
        (never leave speech out; the lag can still grow when the cap is not enough).
    brevity_when_behind: under lag control, ask a translator that can shorten its output
        (:class:`~s2st_kit.engines.protocols.SupportsBrevity`: Amazon Translate's brevity
        setting, on the pairs that have it) for a brief translation whenever the segment
        will start playing later than the controller's set point (default False).
    session_id: recorded in every row; generated when ``None``.
    engine_options: free-form per-engine options (e.g. ``{"aws": {"region": "eu-west-1"}}``).
    """

    source_lang: str = "en"
    target_lang: str = "es"
    voice: str | None = None
    chunk_ms: int = 100
    policy: PolicyName = "final"
    stability: Stability = "high"
    min_commit_words: int = 3
    audio_queue_size: int = 64
    segment_queue_size: int = 32
    max_inflight: int = 4
    overflow: Overflow = "block"
    stage_retries: int = 2
    retry_budget_s: float = 10.0
    recognizer_restarts: int = 3
    restart_window_s: float = 120.0
    max_lag_s: float | None = None
    max_speedup: float = 1.5
    catch_up: CatchUp = "speed+skip"
    brevity_when_behind: bool = False
    session_id: str | None = None
    engine_options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not 10 <= self.chunk_ms <= 1000:
            raise ConfigError(f"chunk_ms must be between 10 and 1000 ms, got {self.chunk_ms}")
        if self.policy not in POLICIES:
            raise ConfigError(
                f"unknown policy {self.policy!r}; choose one of {', '.join(POLICIES)}"
            )
        if self.overflow not in _OVERFLOWS:
            raise ConfigError(
                f"unknown overflow {self.overflow!r}; choose one of {', '.join(_OVERFLOWS)}"
            )
        if self.stability not in _STABILITY:
            raise ConfigError(
                f"unknown stability {self.stability!r}; choose one of {', '.join(_STABILITY)}"
            )
        for name in ("stage_retries", "recognizer_restarts", "retry_budget_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        check_lag_settings(self.max_lag_s, self.max_speedup, self.catch_up)
        if self.restart_window_s <= 0:
            raise ConfigError(f"restart_window_s must be > 0 s, got {self.restart_window_s}")
        for name in ("audio_queue_size", "segment_queue_size", "max_inflight", "min_commit_words"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("source_lang", "target_lang"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{name} must be a language code such as 'en', got {value!r}")

    def retry_policy(self) -> RetryPolicy:
        """The retry policy of one translation or synthesis call in this session."""
        return RetryPolicy(
            max_attempts=self.stage_retries + 1, base_s=0.1, cap_s=2.0, budget_s=self.retry_budget_s
        )

    def restart_budget(self) -> RestartBudget:
        """A fresh budget of recognizer stream restarts for one session."""
        return RestartBudget(self.recognizer_restarts, self.restart_window_s)

    def lag_controller(self) -> LagController | None:
        """The session's lag controller, or ``None`` when ``max_lag_s`` is None (no control)."""
        if self.max_lag_s is None:
            return None
        return LagController(self.max_lag_s, self.max_speedup, self.catch_up)

    def replace(self, **changes: Any) -> PipelineConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)
