"""Audio in and out: bad files refused up front, conversion, pacing."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import soundfile as sf
from conftest import speechlike

from s2st_kit.audio import (
    FileSource,
    MemorySink,
    MemorySource,
    PacedSink,
    Rechunker,
    StreamResampler,
    WavSink,
    probe,
)
from s2st_kit.engines.protocols import PacedSource
from s2st_kit.errors import AudioError, AudioFormatError
from s2st_kit.records import AudioChunk


def write_wav(path, samples, rate, channels=1):
    data = samples if channels == 1 else np.stack([samples] * channels, axis=1)
    sf.write(path, data, rate, subtype="PCM_16")
    return path


def test_empty_file_refused(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioFormatError, match="empty"):
        FileSource(p)


def test_truncated_wav_refused(tmp_path):
    p = write_wav(tmp_path / "t.wav", speechlike(2.0, 16000, [(0, 2)]), 16000)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioFormatError, match="truncated WAV"):
        FileSource(p)


def test_text_file_renamed_wav_refused(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("these are my meeting notes, not audio\n" * 20)
    with pytest.raises(AudioFormatError, match="not a readable audio file"):
        FileSource(p)


def test_missing_file_refused(tmp_path):
    with pytest.raises(AudioFormatError, match="no such file"):
        FileSource(tmp_path / "nope.wav")


def test_header_only_wav_refused(tmp_path):
    p = write_wav(tmp_path / "h.wav", np.zeros(0, np.int16), 16000)
    with pytest.raises(AudioFormatError):
        probe(p)


async def test_44k_stereo_converted(tmp_path):
    x = speechlike(1.0, 44100, [(0, 1)])
    p = write_wav(tmp_path / "s.wav", x, 44100, channels=2)
    src = FileSource(p, sample_rate=16000, chunk_ms=100, realtime=False)
    assert src.info.channels == 2 and src.info.sample_rate == 44100
    chunks = [c async for c in src]
    assert {c.sample_rate for c in chunks} == {16000}
    assert sum(c.n_samples for c in chunks) == 16000
    assert chunks[1].start_s == pytest.approx(0.1)
    rms = np.sqrt(np.mean((np.concatenate([c.samples() for c in chunks]) / 32768.0) ** 2))
    assert rms == pytest.approx(np.sqrt(np.mean((x / 32768.0) ** 2)), rel=0.05)


async def test_flac_reads(tmp_path):
    p = tmp_path / "a.flac"
    sf.write(p, speechlike(0.5, 22050, [(0, 0.5)]), 22050, format="FLAC")
    chunks = [c async for c in FileSource(p, realtime=False)]
    assert sum(c.n_samples for c in chunks) == 11025 and chunks[0].sample_rate == 22050


async def test_realtime_pacing(tmp_path):
    p = write_wav(tmp_path / "a.wav", speechlike(0.6, 16000, [(0, 0.6)]), 16000)
    t0 = time.monotonic()
    n = 0
    async for _ in FileSource(p, chunk_ms=100, realtime=True, speed=2.0):
        n += 1
    assert n == 6
    assert time.monotonic() - t0 >= 0.28  # 0.6 s of audio at 2x


async def test_file_source_aclose_stops_iteration(tmp_path):
    p = write_wav(tmp_path / "a.wav", speechlike(5, 16000, [(0, 5)]), 16000)
    src = FileSource(p, realtime=True, speed=4)
    got = []
    async for c in src:
        got.append(c)
        if len(got) == 2:
            await src.aclose()
    assert len(got) == 2


def test_rechunker_uniform_and_positions():
    rc = Rechunker(16000, 20)
    out = []
    for n in (100, 555, 1, 999, 345):
        out += rc.push(AudioChunk(np.zeros(n, np.int16).tobytes(), 16000, 0.0))
    out += rc.flush()
    assert [c.n_samples for c in out[:-1]] == [320] * (len(out) - 1)
    assert sum(c.n_samples for c in out) == 2000
    assert out[3].start_s == pytest.approx(3 * 0.02)


def test_stream_resampler_keeps_length_and_level():
    x = speechlike(1.0, 22050, [(0, 1)])
    rs = StreamResampler(16000)
    out = [
        rs.process(AudioChunk(x[i : i + 1000].tobytes(), 22050, i / 22050))
        for i in range(0, len(x), 1000)
    ]
    out.append(rs.flush())
    y = np.concatenate([c.samples() for c in out])
    assert len(y) == 16000
    assert np.sqrt(np.mean((y / 32768.0) ** 2)) == pytest.approx(
        np.sqrt(np.mean((x / 32768.0) ** 2)), rel=0.03
    )


async def test_wav_sink_writes_valid_file(tmp_path):
    sink = WavSink(tmp_path / "o" / "out.wav")
    for i in range(5):
        await sink.write(AudioChunk(speechlike(0.1, 16000, [(0, 0.1)]).tobytes(), 16000, i * 0.1))
    await sink.drain()
    await sink.aclose()
    data, rate = sf.read(tmp_path / "o" / "out.wav", dtype="int16")
    assert rate == 16000 and len(data) == 8000


async def test_wav_sink_empty_session_still_valid(tmp_path):
    sink = WavSink(tmp_path / "e.wav")
    await sink.aclose()
    assert sf.info(tmp_path / "e.wav").frames == 0


async def test_paced_sink_takes_real_time():
    inner = MemorySink()
    sink = PacedSink(inner, speed=1.0, buffer_s=0.05)
    chunk = AudioChunk(np.zeros(1600, np.int16).tobytes(), 16000, 0.0)  # 0.1 s
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for _ in range(4):
        await sink.write(chunk)
    t_written = loop.time() - t0
    await sink.drain()
    t_drained = loop.time() - t0
    assert 0.3 <= t_written < 0.4  # writes ran ahead only by buffer_s
    assert 0.39 <= t_drained < 0.5
    assert inner.duration_s == pytest.approx(0.4)


async def test_sources_declare_pacing(tmp_path):
    path = write_wav(tmp_path / "a.wav", speechlike(0.5, 16000, [(0, 0.5)]), 16000)
    for src in (
        FileSource(path, realtime=False, speed=2.0),
        MemorySource(speechlike(0.5, 16000), 16000, realtime=True, speed=1.5),
    ):
        assert isinstance(src, PacedSource)
        assert isinstance(src.realtime, bool) and isinstance(src.speed, float)


async def test_paced_sink_gives_its_rate_to_an_open_inner_and_refuses_a_different_one(tmp_path):
    wav = WavSink(tmp_path / "w.wav")
    PacedSink(wav, sample_rate=22050)
    assert wav.sample_rate == 22050  # an inner whose rate was still open adopts ours
    assert PacedSink(MemorySink(48000)).sample_rate == 48000
    # Regression: a sink with a rate of its own was silently retuned to PacedSink's.
    fixed = MemorySink(48000)
    with pytest.raises(AudioError, match="16000 Hz cannot feed a 48000 Hz sink"):
        PacedSink(fixed, sample_rate=16000)
    assert fixed.sample_rate == 48000
