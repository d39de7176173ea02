"""Streaming time-stretch (Rubber Band via pedalboard): durations, pitch, joins, latency, loop."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
from conftest import LoopWatch

import s2st_kit.audio.stretch as stretch_module
from s2st_kit.audio import read_audio
from s2st_kit.audio.convert import float_to_pcm16
from s2st_kit.audio.stretch import StreamStretcher, stretch_stream
from s2st_kit.datasets import librivox_clips
from s2st_kit.records import AudioChunk

RATE = 16000
SPEEDS = (1.1, 1.3, 1.5, 2.0)


def tone(seconds: float, hz: float = 440.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return float_to_pcm16(0.3 * np.sin(2 * np.pi * hz * t))


def chirp(seconds: float, rate: int = RATE) -> np.ndarray:
    """150 Hz rising 40 Hz per second: no two blocks look alike."""
    t = np.arange(round(seconds * rate)) / rate
    return float_to_pcm16(0.3 * np.sin(2 * np.pi * (150 * t + 20 * t**2)))


def speech() -> np.ndarray:
    clips = librivox_clips()
    if not clips:
        pytest.skip("LibriVox clips absent (apt-get install pocketsphinx-testdata)")
    samples, _ = read_audio(clips[0].path, sample_rate=RATE)
    return float_to_pcm16(samples)


def chunked(pcm: np.ndarray, chunk_s: float = 0.05, rate: int = RATE, start_s: float = 0.0):
    n = round(chunk_s * rate)
    return [
        AudioChunk.from_array(pcm[i : i + n], rate, start_s + i / rate)
        for i in range(0, len(pcm), n)
    ]


def run(pcm: np.ndarray, speed: float, **kw) -> list[AudioChunk]:
    stretcher = StreamStretcher(speed, **kw)
    out = [o for c in chunked(pcm) for o in stretcher.process(c)]
    return out + stretcher.flush()


def joined(chunks: list[AudioChunk]) -> np.ndarray:
    return np.concatenate([c.samples() for c in chunks]).astype(np.float64) / 32767


def dominant_hz(x: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def test_public_names() -> None:
    assert set(stretch_module.__all__) == {
        "MAX_SPEED",
        "MIN_SPEED",
        "StreamStretcher",
        "stretch_stream",
    }


@pytest.mark.parametrize("speed", SPEEDS)
@pytest.mark.parametrize("signal", ["speech", "tone"])
def test_duration_is_input_over_speed(signal: str, speed: float) -> None:
    pcm = speech() if signal == "speech" else tone(3.0)
    out = run(pcm, speed)
    n_out = sum(c.n_samples for c in out)
    assert n_out == pytest.approx(len(pcm) / speed, rel=0.02)
    assert n_out == round(len(pcm) / speed)  # exact, in fact
    assert {c.sample_rate for c in out} == {RATE}


def test_positions_are_continuous_from_the_first_chunk() -> None:
    stretcher = StreamStretcher(1.5)
    chunks = chunked(tone(2.0), start_s=3.25)
    out = [o for c in chunks for o in stretcher.process(c)] + stretcher.flush()
    assert out[0].start_s == pytest.approx(3.25)
    for before, after in itertools.pairwise(out):
        assert after.start_s == pytest.approx(before.end_s, abs=1e-9)
    assert out[-1].end_s == pytest.approx(3.25 + 2.0 / 1.5, abs=1 / RATE)


@pytest.mark.parametrize("speed", [1.3, 2.0])
def test_pitch_is_preserved(speed: float) -> None:
    out = joined(run(tone(3.0), speed))
    middle = out[len(out) // 4 : 3 * len(out) // 4]
    assert dominant_hz(middle) == pytest.approx(440, rel=0.02)


def test_speed_one_passes_chunks_through_untouched() -> None:
    stretcher = StreamStretcher(1.0)
    chunks = chunked(tone(1.0), start_s=0.7)
    for chunk in chunks:
        assert stretcher.process(chunk) == [chunk]
        assert stretcher.process(chunk)[0] is chunk
    assert stretcher.flush() == []


@pytest.mark.parametrize("speed", SPEEDS)
@pytest.mark.parametrize("signal", ["tone", "chirp", "speech"])
def test_no_large_jump_at_block_joins(signal: str, speed: float) -> None:
    pcm = {"tone": lambda: tone(3.0), "chirp": lambda: chirp(3.0), "speech": speech}[signal]()
    x = pcm.astype(np.float64) / 32767
    out = joined(run(pcm, speed))
    assert np.abs(np.diff(out)).max() <= 1.25 * np.abs(np.diff(x)).max()


@pytest.mark.parametrize("speed", SPEEDS)
def test_no_dropout_at_block_joins(speed: float) -> None:
    """Two stretches of the same audio are out of phase; an unaligned crossfade of a tone
    fell to 30 % of its level at some joins. Every 10 ms of the output keeps its level."""
    out = joined(run(tone(4.0), speed))[800:-800]
    level = np.sqrt(np.convolve(out**2, np.ones(160) / 160, mode="valid"))
    assert level.min() >= 0.9 * np.median(level)


def test_first_output_after_one_block() -> None:
    stretcher = StreamStretcher(1.5, block_s=0.5)
    fed = 0.0
    for chunk in chunked(speech(), chunk_s=0.02):
        fed += chunk.duration_s
        out = stretcher.process(chunk)
        if out:
            break
    assert fed <= 0.5 + 1e-9
    assert sum(c.duration_s for c in out) >= 0.25 / 1.5  # most of the block, not a sliver


def test_stream_shorter_than_a_block_comes_at_flush() -> None:
    stretcher = StreamStretcher(1.5)
    assert stretcher.process(AudioChunk.from_array(tone(0.1), RATE)) == []
    out = stretcher.flush()
    assert sum(c.n_samples for c in out) == round(0.1 * RATE / 1.5)
    assert StreamStretcher(1.5).flush() == []


def test_rejects_bad_settings_and_misuse() -> None:
    with pytest.raises(ValueError, match="speed"):
        StreamStretcher(0.1)
    with pytest.raises(ValueError, match="speed"):
        StreamStretcher(5.0)
    with pytest.raises(ValueError, match="block_s"):
        StreamStretcher(1.5, block_s=0.05)
    stretcher = StreamStretcher(1.5)
    stretcher.process(AudioChunk.from_array(tone(0.1), RATE))
    with pytest.raises(ValueError, match="22050 Hz"):
        stretcher.process(AudioChunk.from_array(tone(0.1, rate=22050), 22050))
    stretcher.flush()
    with pytest.raises(RuntimeError, match="flushed"):
        stretcher.process(AudioChunk.from_array(tone(0.1), RATE))


def test_other_sample_rates_keep_their_rate() -> None:
    rate = 22050  # eSpeak NG's
    stretcher = StreamStretcher(1.5)
    chunks = chunked(tone(2.0, rate=rate), rate=rate)
    out = [o for c in chunks for o in stretcher.process(c)] + stretcher.flush()
    assert {c.sample_rate for c in out} == {rate}
    assert sum(c.n_samples for c in out) == round(2.0 * rate / 1.5)


async def _paced(chunks: list[AudioChunk]) -> AsyncIterator[AudioChunk]:
    for chunk in chunks:
        await asyncio.sleep(0)
        yield chunk


async def test_async_helper_matches_the_stretcher() -> None:
    pcm = speech()
    out = [c async for c in stretch_stream(_paced(chunked(pcm)), 1.5)]
    expected = run(pcm, 1.5)
    assert [c.start_s for c in out] == [c.start_s for c in expected]
    assert b"".join(c.pcm for c in out) == b"".join(c.pcm for c in expected)


async def test_async_helper_never_stalls_the_loop() -> None:
    """48 kHz, 2 s blocks: one block done on the loop would stall it for ``block_cost_s``."""
    rate = 48000
    pcm = tone(8.0, rate=rate)
    chunks = chunked(pcm, chunk_s=0.05, rate=rate)
    probe = StreamStretcher(1.5, block_s=2.0)
    probe.process(AudioChunk.from_array(pcm[: 2 * rate - 1], rate))
    t = time.perf_counter()
    assert probe.process(AudioChunk.from_array(pcm[2 * rate - 1 : 2 * rate], rate))
    block_cost_s = time.perf_counter() - t
    async with LoopWatch() as watch:
        out = [c async for c in stretch_stream(_paced(chunks), 1.5, block_s=2.0)]
    assert sum(c.n_samples for c in out) == round(len(pcm) / 1.5)
    assert watch.max_gap_s < max(0.01, block_cost_s / 2), (
        f"the loop stalled {watch.max_gap_s * 1000:.1f} ms (one block costs "
        f"{block_cost_s * 1000:.1f} ms)"
    )


async def test_async_helper_first_output_after_one_block() -> None:
    fed = 0.0

    async def source() -> AsyncIterator[AudioChunk]:
        nonlocal fed
        for chunk in chunked(speech(), chunk_s=0.02):
            fed += chunk.duration_s
            yield chunk

    stream = stretch_stream(source(), 1.3, block_s=0.5)
    first = await anext(stream)
    await stream.aclose()
    assert first.start_s == 0.0
    assert fed <= 0.5 + 1e-9


async def test_async_helper_passes_through_at_speed_one() -> None:
    chunks = chunked(tone(1.0))
    out = [c async for c in stretch_stream(_paced(chunks), 1.0)]
    assert all(a is b for a, b in zip(out, chunks, strict=True))
