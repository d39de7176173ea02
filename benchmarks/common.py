"""Shared pieces of the benchmark suite: result rows, statistics, sources, sinks, scripts.

Every figure a benchmark produces is a :class:`Figure` (value in the unit it names, an
optional target and verdict). Sources and sinks here are deliberately minimal so that
what is measured is the pipeline, not the test harness.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from s2st_kit.engines import Engines
from s2st_kit.engines.simulated import (
    Faults,
    LatencyModel,
    SimulatedRecognizer,
    SimulatedSynthesizer,
    SimulatedTranslator,
)
from s2st_kit.records import AudioChunk

__all__ = [
    "BenchResult",
    "DiscardSink",
    "Figure",
    "ToneSource",
    "percentile",
    "read_rss_mb",
    "simulated_engines",
    "speech_array",
    "talk_script",
]


@dataclass(slots=True)
class Figure:
    """One line of the results table.

    value: the measurement, in ``unit`` (``None`` when it could not be measured).
    target: human-readable target, e.g. ``"< 1000 µs"`` (empty: informational).
    ok: True = PASS, False = MISS, None = no target.
    note: a short qualifier printed after the verdict.
    """

    benchmark: str
    metric: str
    value: float | None
    unit: str
    target: str = ""
    ok: bool | None = None
    note: str = ""


@dataclass(slots=True)
class BenchResult:
    """What one benchmark returns: its table lines, raw details for the JSON, wall time (s)."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    wall_s: float = 0.0

    def add(
        self,
        metric: str,
        value: float | None,
        unit: str,
        *,
        target: str = "",
        ok: bool | None = None,
        note: str = "",
    ) -> Figure:
        """Append a figure and return it."""
        fig = Figure(self.name, metric, value, unit, target, ok, note)
        self.figures.append(fig)
        return fig


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0-100, linear interpolation) of the finite values; NaN if none."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return math.nan
    return float(np.percentile(arr, q))


def read_rss_mb() -> float:
    """Resident set size of this process (MiB), from ``/proc/self/status`` (``VmRSS``).

    Falls back to ``resource.getrusage`` (peak RSS, not current) where /proc is missing.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0  # kB → MiB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- scripts

_CLAUSES = (
    "first we open the valve",
    "then we wait a little",
    "the pressure settles slowly",
    "after that the pump starts",
    "we check the gauges again",
    "most readings look normal",
    "one sensor is a bit high",
    "so we note it in the log",
    "the team meets at noon",
    "everyone brings their notes",
    "we agree on the next steps",
    "the report goes out tomorrow",
)


def talk_script(
    n_utterances: int,
    *,
    seed: int = 0,
    chars_per_s: float = 14.0,
    pause_s: tuple[float, float] = (1.0, 2.0),
    clauses: tuple[int, int] = (2, 3),
    lead_s: float = 0.5,
) -> list[tuple[str, float, float]]:
    """A synthetic talk: multi-clause sentences (commas) separated by pauses.

    Returns ``(text, start_s, end_s)`` utterances; durations follow ``chars_per_s`` (the
    simulated synthesizer's default rate, so output speech is about as long as the input)
    and pauses are drawn uniformly from ``pause_s`` (s). Deterministic for a seed.
    """
    rng = random.Random(seed)
    out: list[tuple[str, float, float]] = []
    t = lead_s
    for i in range(n_utterances):
        k = rng.randint(*clauses)
        parts = rng.sample(_CLAUSES, k)
        text = ", ".join(parts) + "."
        text = text[0].upper() + text[1:]
        text = f"{text[:-1]} ({i})." if i % 7 == 6 else text  # a few distinct texts
        duration = len(text) / chars_per_s
        out.append((text, round(t, 3), round(t + duration, 3)))
        t += duration + rng.uniform(*pause_s)
    return out


def speech_array(
    duration_s: float, spans: Sequence[tuple[float, float]], rate: int = 16000
) -> np.ndarray:
    """Int16 tone bursts (speech-like) where ``spans`` (s) are, silence elsewhere."""
    t = np.arange(round(duration_s * rate)) / rate
    x = np.zeros_like(t)
    for a, b in spans:
        m = (t >= a) & (t < b)
        x[m] = 0.3 * np.sin(2 * np.pi * 180 * t[m]) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t[m]))
    return np.round(x * 32767).astype(np.int16)


def simulated_engines(
    script: Sequence[Any],
    *,
    preset: str | LatencyModel = "instant",
    seed: int = 0,
    faults: Faults | None = None,
    synthesizer: type[SimulatedSynthesizer] = SimulatedSynthesizer,
    **recognizer_options: Any,
) -> Engines:
    """The simulated recognizer / translator / synthesizer for ``script`` (one seed for all)."""
    return Engines(
        SimulatedRecognizer(script, preset=preset, seed=seed, faults=faults, **recognizer_options),
        SimulatedTranslator(preset=preset, seed=seed, faults=faults),
        synthesizer(preset=preset, seed=seed, faults=faults),
    )


# --------------------------------------------------------------------------- sources / sinks


class ToneSource:
    """A long input stream generated on the fly (never holds more than one chunk of PCM).

    duration_s: length of the stream (s). spans: sorted ``(start_s, end_s)`` speech spans
    (a tone is played there, silence elsewhere). chunk_ms: chunk length (ms).
    realtime / speed: pace chunks at ``speed`` x real time; otherwise yield to the loop once
    per chunk and go as fast as the pipeline consumes. on_position: called with each
    chunk's end position (s) before it is yielded (memory probes hook in here).
    """

    def __init__(
        self,
        duration_s: float,
        spans: Sequence[tuple[float, float]],
        *,
        sample_rate: int = 16000,
        chunk_ms: int = 100,
        realtime: bool = False,
        speed: float = 1.0,
        on_position: Callable[[float], None] | None = None,
    ) -> None:
        self.duration_s = duration_s
        self.spans = list(spans)
        self.sample_rate = sample_rate
        self.chunk_ms = chunk_ms
        self.realtime = realtime
        self.speed = speed
        self.on_position = on_position
        self._closed = False
        n = round(sample_rate * chunk_ms / 1000)
        t = np.arange(n) / sample_rate
        tone = 0.3 * np.sin(2 * np.pi * 180 * t)
        self._tone = np.round(tone * 32767).astype(np.int16).tobytes()
        self._silence = bytes(2 * n)

    async def aclose(self) -> None:
        """Stop delivering chunks."""
        self._closed = True

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[AudioChunk]:
        step_s = self.chunk_ms / 1000
        n_chunks = math.ceil(self.duration_s / step_s - 1e-9)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        span_i = 0
        for k in range(n_chunks):
            if self._closed:
                return
            start = k * step_s
            while span_i < len(self.spans) and self.spans[span_i][1] <= start:
                span_i += 1
            speaking = span_i < len(self.spans) and self.spans[span_i][0] < start + step_s
            chunk = AudioChunk(self._tone if speaking else self._silence, self.sample_rate, start)
            if self.on_position is not None:
                self.on_position(chunk.end_s)
            if self.realtime:
                delay = t0 + chunk.end_s / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            yield chunk


class DiscardSink:
    """An audio sink that counts what it is given and keeps nothing (s of audio, chunks)."""

    def __init__(self, sample_rate: int | None = None) -> None:
        self.sample_rate = sample_rate  # type: ignore[assignment]
        self.audio_s = 0.0
        self.chunks = 0

    async def write(self, chunk: AudioChunk) -> None:
        """Count ``chunk`` and drop it."""
        if self.sample_rate is None:
            self.sample_rate = chunk.sample_rate
        self.audio_s += chunk.duration_s
        self.chunks += 1

    async def drain(self) -> None:
        """Nothing is pending."""

    async def aclose(self) -> None:
        """Nothing to release."""
