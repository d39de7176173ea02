"""1. Overhead: the pipeline's own cost per segment, with the ``instant`` simulated engines.

Two measurements on the same script of short utterances (one every 1.0 s of audio), with the
synthesizer's waveforms rendered before the session (numpy rendering is engine compute):

* **per-segment span** — the source is paced at ``SPEED`` x real time, so segments arrive one
  at a time and never queue behind each other; with instant engines and a sink that
  discards, ``t_play_end − t_asr_final`` is everything the pipeline does for a segment:
  commit, queues, worker, the translate call, streaming ~18 synthesis chunks to playback,
  the sink calls, logging the row (and the source / recognizer work interleaved with it).
  Reported in µs (p50, p99).
* **throughput** — the same script with the source not paced at all: wall time per segment
  for the whole session (simulated recognizer included) and events per second delivered
  to a counting subscriber.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from s2st_kit import Pipeline, PipelineConfig
from s2st_kit.engines.simulated import SimulatedSynthesizer

from .common import BenchResult, DiscardSink, ToneSource, percentile, simulated_engines

NAME = "overhead"
SPEED = 25.0  #: source pacing for the span measurement (x real time)
TARGET_P99_US = 1000.0


class PrerenderedSynthesizer(SimulatedSynthesizer):
    """The simulated synthesizer with its waveforms rendered before the clock starts.

    Rendering (numpy, ~3 ms for a short sentence) is engine compute, not pipeline cost;
    :meth:`prerender` fills a cache so that during the session ``render`` is a dict lookup.
    Latency, chunking and streaming are the parent's.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def prerender(self, texts: list[str], voice: str) -> None:
        """Render ``texts`` for ``voice`` now."""
        for text in texts:
            self._cache[(text, voice)] = super().render(text, voice)

    def render(self, text: str, voice: str) -> np.ndarray:
        """The cached waveform, or the parent's rendering on a miss."""
        pcm = self._cache.get((text, voice))
        return pcm if pcm is not None else super().render(text, voice)


def _engines(sc: list[tuple[str, float, float]]) -> Any:
    engines = simulated_engines(sc, preset="instant", synthesizer=PrerenderedSynthesizer)
    voice = engines.synthesizer.default_voice("es")
    engines.synthesizer.prerender([f"[es] {text}" for text, _, _ in sc], voice)  # type: ignore[attr-defined]
    return engines


def script(n: int) -> list[tuple[str, float, float]]:
    """``n`` short utterances, 0.6 s of speech each, one per second of audio."""
    return [(f"Segment {i} is here.", 0.2 + 1.0 * i, 0.8 + 1.0 * i) for i in range(n)]


async def measure_span(n: int, *, speed: float = SPEED) -> dict[str, Any]:
    """Per-segment span (µs) with a paced source; see the module docstring."""
    sc = script(n)
    engines = _engines(sc)
    source = ToneSource(n * 1.0 + 0.5, [(a, b) for _, a, b in sc], realtime=True, speed=speed)
    pipe = Pipeline(engines, PipelineConfig(), source=source, sink=DiscardSink())
    df = (await pipe.run()).to_pandas()
    ok = df[df.status == "ok"]
    span_us = ((ok.t_play_end - ok.t_asr_final) * 1e6).to_numpy()
    return {
        "segments": len(df),
        "ok": len(ok),
        "speed": speed,
        "audio_chunks_per_segment": float((ok.tts_audio_s / 0.1).mean()),
        "p50_us": percentile(span_us, 50),
        "p90_us": percentile(span_us, 90),
        "p99_us": percentile(span_us, 99),
        "max_us": float(span_us.max()) if len(span_us) else float("nan"),
    }


async def measure_throughput(n: int) -> dict[str, Any]:
    """Unpaced session: wall time per segment (µs) and events per second."""
    sc = script(n)
    engines = _engines(sc)
    source = ToneSource(n * 1.0 + 0.5, [(a, b) for _, a, b in sc])
    pipe = Pipeline(engines, PipelineConfig(), source=source, sink=DiscardSink())
    events = 0

    def count(_ev: object) -> None:
        nonlocal events
        events += 1

    pipe.subscribe(count)
    t = time.perf_counter()
    log = await pipe.run()
    wall = time.perf_counter() - t
    return {
        "segments": len(log),
        "events": events,
        "wall_s": wall,
        "wall_per_segment_us": wall / max(1, len(log)) * 1e6,
        "events_per_s": events / wall,
        "audio_s": pipe.stats.audio_s,
    }


async def run(*, quick: bool = False) -> BenchResult:
    """Run both measurements (300 segments; 20 with ``quick``)."""
    n = 20 if quick else 300
    res = BenchResult(NAME)
    span = await measure_span(n)
    thr = await measure_throughput(n)
    res.details = {"span": span, "throughput": thr}
    res.add(
        "per-segment cost p50 (t_play_end - t_asr_final)",
        span["p50_us"],
        "µs",
        note=f"{span['ok']} segments of ~{span['audio_chunks_per_segment']:.0f} TTS chunks, "
        f"source paced at {span['speed']:g}x, instant engines, waveforms pre-rendered",
    )
    res.add(
        "per-segment cost p99",
        span["p99_us"],
        "µs",
        target=f"< {TARGET_P99_US:.0f} µs",
        ok=span["p99_us"] < TARGET_P99_US,
    )
    res.add(
        "wall per segment, unpaced source",
        thr["wall_per_segment_us"],
        "µs",
        note=f"whole session incl. simulated recognizer; {thr['audio_s']:.0f} s audio "
        f"in {thr['wall_s']:.2f} s",
    )
    res.add("events per second", thr["events_per_s"], "ev/s", note=f"{thr['events']} events")
    return res
