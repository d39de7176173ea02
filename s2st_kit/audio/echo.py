"""Echo guard: keep the translated speech coming out of the loudspeaker out of the microphone.

With open speakers the microphone hears the synthesised translation and the recognizer
would transcribe (and translate) it again. :class:`EchoGuard` is a half-duplex switch: it
wraps the sink to see when playback runs — from a segment's first ``write`` until its
``drain`` returns, plus ``tail_s`` for the room and the input buffers — and wraps the source
to replace the samples captured in that time by silence. Chunks keep their length and
``start_s``, so stream positions and timing stay continuous for the recognizer and the log.

Every muted stretch is recorded in :attr:`EchoGuard.muted_spans` (stream positions and
session-clock times). The segment log's columns are fixed, so save the spans beside it::

    guard = EchoGuard(BrowserMicrophone(...).source(), BrowserSpeaker())
    pipe = Pipeline(engines, config, source=guard.source, sink=guard.sink,
                    log_path="out/s.jsonl", clock=guard.clock)
    ...
    guard.save_json(EchoGuard.spans_path("out/s.jsonl"))   # out/s.muted.json

Capture time of a chunk is estimated as its arrival time minus the source's
``capture_delay_s`` when the source reports one
(:class:`~s2st_kit.engines.protocols.SupportsCaptureDelay`: the browser microphone's measured
capture → arrival delay), so a mute decision is made per sample.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from ..clock import SessionClock
from ..engines.protocols import AudioSink, AudioSource, SupportsCaptureDelay
from ..records import AudioChunk

__all__ = ["EchoGuard", "GuardedSink", "GuardedSource", "MutedSpan", "PlaybackSpan"]

_JITTER_S = 0.02  # arrival-time jitter (s) tolerated when continuing a mute across chunks


@dataclass(frozen=True, slots=True)
class MutedSpan:
    """Input audio replaced by silence.

    start_s / end_s: positions in the input stream (s), as in ``AudioChunk.start_s`` and the
        log's ``audio_start_s`` / ``audio_end_s``.
    t_start / t_end: estimated capture times on the session clock (s).
    """

    start_s: float
    end_s: float
    t_start: float
    t_end: float

    @property
    def duration_s(self) -> float:
        """Length of the muted stretch (s)."""
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class PlaybackSpan:
    """The sink was playing from ``t_start`` to ``t_end`` (session clock, s; ``None``: still playing)."""

    t_start: float
    t_end: float | None


@dataclass(slots=True)
class _Playing:
    """One stretch of playback (monotonic s); ``end`` is None while it plays."""

    start: float
    end: float | None


class EchoGuard:
    """Half-duplex echo guard around a source and a sink.

    source: the microphone (any AudioSource); use :attr:`source` (the guarded one) instead.
    sink: the loudspeaker (any AudioSink); use :attr:`sink` instead.
    tail_s: how long (s) input stays muted after playback has drained, default 0.15 s
        (room reverberation plus input buffering).
    clock: session clock for the ``t_*`` of the spans; pass the same one to the Pipeline
        (``Pipeline(..., clock=guard.clock)``). Default: a new SessionClock.
    enabled: ``False`` records playback but mutes nothing (switchable while running).
    """

    def __init__(
        self,
        source: AudioSource,
        sink: AudioSink,
        *,
        tail_s: float = 0.15,
        clock: SessionClock | None = None,
        enabled: bool = True,
    ) -> None:
        if tail_s < 0:
            raise ValueError(f"tail_s must be >= 0 s, got {tail_s}")
        self.tail_s = tail_s
        self.clock = clock or SessionClock()
        self.enabled = enabled
        self.source = GuardedSource(self, source)
        self.sink = GuardedSink(self, sink)
        self.muted_chunks = 0
        self._playback: list[_Playing] = []
        self._muted: list[list[float]] = []  # [start_s, end_s, t0, t1] (t monotonic)

    # -- playback side ---------------------------------------------------------------------
    def _playback_started(self) -> None:
        now = time.monotonic()
        if self._playback:
            last = self._playback[-1]
            if last.end is None:
                return
            if now <= last.end + self.tail_s:  # back-to-back segments: one span
                last.end = None
                return
        self._playback.append(_Playing(now, None))

    def _playback_ended(self) -> None:
        if self._playback and self._playback[-1].end is None:
            self._playback[-1].end = time.monotonic()

    @property
    def playing(self) -> bool:
        """True while the sink is playing (between a first write and the end of its drain)."""
        return bool(self._playback) and self._playback[-1].end is None

    # -- capture side ----------------------------------------------------------------------
    def _guard(self, chunk: AudioChunk, arrived: float, capture_delay_s: float) -> AudioChunk:
        """Silence the samples of ``chunk`` captured while playback (+ tail) was running."""
        if not self.enabled or not self._playback or chunk.n_samples == 0:
            return chunk
        n, rate = chunk.n_samples, chunk.sample_rate
        c1 = arrived - capture_delay_s  # capture time just after the last sample
        c0 = c1 - n / rate
        mask = np.zeros(n, dtype=bool)
        for span in reversed(self._playback):
            end = float("inf") if span.end is None else span.end + self.tail_s
            if end <= c0:
                break  # older spans end even earlier
            if span.start >= c1:
                continue
            i0 = max(0, int(np.floor((span.start - c0) * rate)))
            i1 = n if end == float("inf") else min(n, int(np.ceil((end - c0) * rate)))
            mask[i0:i1] = True
        if not mask.any():
            return chunk
        # Arrival times jitter by a few ms: a mute that ran to the end of the previous chunk
        # continues from this chunk's first sample instead of leaving a sliver of sound.
        first = int(np.argmax(mask))
        if 0 < first < _JITTER_S * rate and self._muted:
            if abs(self._muted[-1][1] - chunk.start_s) < 1.5 / rate:
                mask[:first] = True
        self.muted_chunks += 1
        samples = chunk.samples().copy()
        samples[mask] = 0
        # Record the muted runs (in stream positions), merged with the previous span.
        edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.view(np.int8), [0]))))
        for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            s0, s1 = chunk.start_s + a / rate, chunk.start_s + b / rate
            t0, t1 = c0 + a / rate, c0 + b / rate
            if self._muted and abs(self._muted[-1][1] - s0) < 1.5 / rate:
                self._muted[-1][1], self._muted[-1][3] = s1, t1
            else:
                self._muted.append([s0, s1, t0, t1])
        return AudioChunk(samples.tobytes(), rate, chunk.start_s)

    # -- results ---------------------------------------------------------------------------
    @property
    def muted_spans(self) -> list[MutedSpan]:
        """Stretches of input replaced by silence, in stream order."""
        at = self.clock.at
        return [MutedSpan(s0, s1, at(t0), at(t1)) for s0, s1, t0, t1 in self._muted]

    @property
    def playback_spans(self) -> list[PlaybackSpan]:
        """When the sink played (session clock, s)."""
        at = self.clock.at
        return [
            PlaybackSpan(at(p.start), None if p.end is None else at(p.end)) for p in self._playback
        ]

    @property
    def muted_s(self) -> float:
        """Total input muted (s)."""
        return sum(s1 - s0 for s0, s1, _, _ in self._muted)

    def summary(self) -> dict[str, Any]:
        """Counters for a session summary: enabled, tail_s, muted_s, muted_spans, muted_chunks, playback_spans."""
        return {
            "enabled": self.enabled,
            "tail_s": self.tail_s,
            "muted_s": round(self.muted_s, 4),
            "muted_spans": len(self._muted),
            "muted_chunks": self.muted_chunks,
            "playback_spans": len(self._playback),
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything recorded, JSON-ready (spans as dicts)."""
        return {
            **self.summary(),
            "muted": [asdict(s) for s in self.muted_spans],
            "playback": [asdict(s) for s in self.playback_spans],
        }

    @staticmethod
    def spans_path(log_path: str | os.PathLike[str]) -> Path:
        """Where to keep the spans beside a segment log: ``x.jsonl`` → ``x.muted.json``."""
        return Path(log_path).with_suffix(".muted.json")

    def save_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` (parents created); returns the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        return p


class GuardedSource:
    """The guarded microphone: the inner source's chunks with playback time silenced.

    Other attributes (``stats``, ``chunk_ms``, ...) are the inner source's.
    """

    def __init__(self, guard: EchoGuard, inner: AudioSource) -> None:
        self.guard = guard
        self.inner = inner

    @property
    def sample_rate(self) -> int:
        """The inner source's rate (Hz)."""
        return self.inner.sample_rate

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[AudioChunk]:
        inner = self.inner
        measured = inner if isinstance(inner, SupportsCaptureDelay) else None
        async for chunk in inner:
            delay = measured.capture_delay_s if measured is not None else 0.0
            yield self.guard._guard(chunk, time.monotonic(), delay)

    async def aclose(self) -> None:
        """Close the inner source."""
        await self.inner.aclose()


class _SettableRate(Protocol):
    sample_rate: int | None


class GuardedSink:
    """The guarded loudspeaker: tells the guard when playback runs; otherwise the inner sink."""

    def __init__(self, guard: EchoGuard, inner: AudioSink) -> None:
        self.guard = guard
        self.inner = inner

    @property
    def sample_rate(self) -> int | None:
        """The inner sink's rate (Hz; ``None`` while open); the pipeline converts to it."""
        return self.inner.sample_rate

    @sample_rate.setter
    def sample_rate(self, value: int) -> None:
        # Only an open-rate inner sink (rate None) is ever told a rate (by PacedSink).
        cast("_SettableRate", self.inner).sample_rate = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def write(self, chunk: AudioChunk) -> None:
        """Mark playback as running, then write to the inner sink."""
        self.guard._playback_started()
        await self.inner.write(chunk)

    async def drain(self) -> None:
        """Wait for the inner sink to finish playing; the mute ends ``tail_s`` later."""
        try:
            await self.inner.drain()
        finally:
            self.guard._playback_ended()

    async def aclose(self) -> None:
        """Close the inner sink."""
        self.guard._playback_ended()
        await self.inner.aclose()
