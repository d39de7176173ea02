"""Echo guard: input captured while the sink plays is silenced, spans recorded, positions kept."""

from __future__ import annotations

import asyncio
import itertools
import json

import numpy as np
import pytest
from conftest import SCRIPT, make_engines, speechlike

from s2st_kit import MemorySink, MemorySource, PacedSink, Pipeline, PipelineConfig
from s2st_kit.audio.echo import EchoGuard
from s2st_kit.engines.protocols import SupportsCaptureDelay
from s2st_kit.records import AudioChunk

RATE = 16000


def tone(duration_s: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(duration_s * rate)) / rate
    return np.round(0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


async def play(sink, at_s: float, duration_s: float, t0: float) -> tuple[float, float]:
    """Write ``duration_s`` of audio to ``sink`` at ``at_s`` after ``t0`` (loop time), drain."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, t0 + at_s - loop.time()))
    started = loop.time() - t0
    pcm = tone(duration_s)
    step = RATE // 20
    for i in range(0, len(pcm), step):
        await sink.write(AudioChunk(pcm[i : i + step].tobytes(), RATE, i / RATE))
    await sink.drain()
    return started, loop.time() - t0


async def capture(source) -> list[AudioChunk]:
    return [c async for c in source]


async def test_chunks_during_playback_are_silent_and_positions_continuous(tmp_path):
    mic = MemorySource(tone(3.0), RATE, chunk_ms=50, realtime=True)
    guard = EchoGuard(mic, PacedSink(MemorySink(), sample_rate=RATE, buffer_s=0.1), tail_s=0.15)
    t0 = asyncio.get_running_loop().time()
    chunks, (p0, p1) = await asyncio.gather(capture(guard.source), play(guard.sink, 1.0, 0.5, t0))

    # Positions continuous and nothing lost: same length as the input, back-to-back chunks.
    assert sum(c.n_samples for c in chunks) == 3 * RATE
    for a, b in itertools.pairwise(chunks):
        assert abs(a.end_s - b.start_s) < 1e-9
    # Playback lasted about 0.5 s (+ the paced sink's buffer) starting at 1.0 s.
    assert 0.95 < p0 < 1.15 and 1.45 < p1 < 1.7
    # Chunks captured well inside [p0, p1 + tail] are silent; chunks well outside are not.
    for c in chunks:
        silent = not c.samples().any()
        if p0 + 0.06 <= c.start_s and c.end_s <= p1 + 0.15 - 0.06:
            assert silent, f"chunk at {c.start_s:.2f} s should be muted"
        if c.end_s <= p0 - 0.08 or c.start_s >= p1 + 0.15 + 0.08:
            assert not silent, f"chunk at {c.start_s:.2f} s should not be muted"
    # One span recorded, matching the playback plus the tail.
    (span,) = guard.muted_spans
    assert abs(span.start_s - p0) < 0.08
    assert abs(span.end_s - (p1 + 0.15)) < 0.08
    assert abs(guard.muted_s - span.duration_s) < 1e-9
    # Inside the span every sample is zero; the audio outside it is the tone untouched.
    audio = np.concatenate([c.samples() for c in chunks])
    i0, i1 = round(span.start_s * RATE), round(span.end_s * RATE)
    assert not audio[i0:i1].any()
    np.testing.assert_array_equal(audio[: i0 - 1], tone(3.0)[: i0 - 1])
    np.testing.assert_array_equal(audio[i1 + 1 :], tone(3.0)[i1 + 1 :])
    (pb,) = guard.playback_spans
    assert pb.t_end is not None and pb.t_end > pb.t_start

    path = guard.save_json(EchoGuard.spans_path(tmp_path / "session.jsonl"))
    assert path.name == "session.muted.json"
    saved = json.loads(path.read_text())
    assert saved["muted_spans"] == 1 and len(saved["muted"]) == 1
    assert saved["muted"][0]["start_s"] == span.start_s


async def test_disabled_guard_records_playback_but_mutes_nothing():
    mic = MemorySource(tone(1.5), RATE, chunk_ms=50, realtime=True)
    guard = EchoGuard(mic, PacedSink(sample_rate=RATE), enabled=False)
    t0 = asyncio.get_running_loop().time()
    chunks, _ = await asyncio.gather(capture(guard.source), play(guard.sink, 0.3, 0.4, t0))
    np.testing.assert_array_equal(np.concatenate([c.samples() for c in chunks]), tone(1.5))
    assert guard.muted_spans == [] and len(guard.playback_spans) == 1


async def test_back_to_back_segments_make_one_span():
    mic = MemorySource(tone(1.6), RATE, chunk_ms=50, realtime=True)
    guard = EchoGuard(mic, PacedSink(sample_rate=RATE, buffer_s=0.05), tail_s=0.15)
    t0 = asyncio.get_running_loop().time()

    async def two():
        await play(guard.sink, 0.2, 0.3, t0)
        await play(guard.sink, 0.0, 0.3, t0)  # right after the first drain

    await asyncio.gather(capture(guard.source), two())
    assert len(guard.playback_spans) == 1
    assert len(guard.muted_spans) == 1


async def test_guard_in_a_pipeline_mutes_while_the_translation_plays(tmp_path):
    """A paced source and sink through a real Pipeline: muted spans follow AudioStarted/Finished."""
    duration = 10.5
    src = MemorySource(
        speechlike(duration, RATE, [(a, b) for _, a, b in SCRIPT]), RATE, realtime=True, speed=4
    )
    guard = EchoGuard(src, PacedSink(MemorySink(), speed=4), tail_s=0.05)
    pipe = Pipeline(
        make_engines(),
        PipelineConfig(chunk_ms=50),
        source=guard.source,
        sink=guard.sink,
        log_path=tmp_path / "s.jsonl",
        clock=guard.clock,
    )
    played: list[tuple[str, float]] = []
    pipe.subscribe(lambda ev: played.append((ev.kind, ev.t)) if "audio" in ev.kind else None)
    log = await pipe.run()
    df = log.to_pandas()
    assert len(df) == 3 and (df.status == "ok").all()
    # Positions continuous: the pipeline received the whole input.
    assert abs(pipe.stats.audio_s - duration) < 0.05
    spans = guard.muted_spans
    assert spans, "playback happened while the source was still running: something is muted"
    starts = [t for k, t in played if k == "audio_started"]
    ends = [t for k, t in played if k == "audio_finished"]
    # Every muted span lies within a playback (session clock), give or take a chunk.
    for s in spans:
        assert any(
            a - 0.05 <= s.t_start and s.t_end <= b + 0.05 + 0.05
            for a, b in zip(starts, ends, strict=True)
        )
    guard.save_json(EchoGuard.spans_path(tmp_path / "s.jsonl"))
    assert (tmp_path / "s.muted.json").exists()


class MeasuringSource:
    """A source that reports its capture → arrival delay (SupportsCaptureDelay), like the
    browser microphone."""

    def __init__(self, inner: MemorySource, delay_s: float) -> None:
        self.inner = inner
        self.sample_rate = inner.sample_rate
        self._delay_s = delay_s

    @property
    def capture_delay_s(self) -> float:
        return self._delay_s

    def __aiter__(self):
        return aiter(self.inner)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_capture_delay_of_a_measuring_source_moves_the_mute():
    """Audio that arrives 0.3 s after capture is muted 0.3 s later in the stream."""
    mic = MeasuringSource(MemorySource(tone(1.5), RATE, chunk_ms=20, realtime=True), 0.3)
    assert isinstance(mic, SupportsCaptureDelay)
    guard = EchoGuard(mic, PacedSink(sample_rate=RATE, buffer_s=0.02), tail_s=0.0)
    t0 = asyncio.get_running_loop().time()
    _, (started, ended) = await asyncio.gather(
        capture(guard.source), play(guard.sink, 0.3, 0.3, t0)
    )
    spans = guard.muted_spans
    assert len(spans) == 1
    # Stream position ≈ arrival time here (a paced source): shifted by the capture delay.
    assert spans[0].start_s == pytest.approx(started + 0.3, abs=0.08)
    assert spans[0].end_s == pytest.approx(ended + 0.3, abs=0.08)
