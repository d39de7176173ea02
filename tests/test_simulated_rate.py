"""The simulated synthesizer's own rate (SupportsRate): shorter audio, same latency model."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from s2st_kit.engines.protocols import SupportsRate
from s2st_kit.engines.simulated import LatencyModel, LogNormal, SimulatedSynthesizer
from s2st_kit.errors import ConfigError, UnsupportedVoiceError
from s2st_kit.records import AudioChunk

TEXT = "Buenos días a todos, gracias por venir a esta charla sobre la traducción."


async def _collect(synth: SimulatedSynthesizer, speed: float | None) -> list[AudioChunk]:
    if speed is None:
        stream = synth.synthesize(TEXT, voice="sim-es-1", language="es")
    else:
        stream = synth.synthesize_at(TEXT, voice="sim-es-1", language="es", speed=speed)
    return [c async for c in stream]


def _duration(chunks: list[AudioChunk]) -> float:
    return sum(c.duration_s for c in chunks)


def test_declares_the_capability_for_every_voice() -> None:
    synth = SimulatedSynthesizer()
    assert isinstance(synth, SupportsRate)
    assert all(synth.rate_supported(v.id) for v in synth.voices())


@pytest.mark.parametrize("speed", [1.0, 1.25, 1.5, 2.0, 3.0])
async def test_audio_is_speed_times_shorter(speed: float) -> None:
    synth = SimulatedSynthesizer()
    natural = _duration(await _collect(synth, None))
    assert natural == pytest.approx(len(TEXT) / synth.chars_per_s, rel=1e-3)
    chunks = await _collect(synth, speed)
    assert _duration(chunks) == pytest.approx(natural / speed, rel=0.01)
    assert {c.sample_rate for c in chunks} == {synth.sample_rate}
    assert chunks[0].start_s == 0.0
    for a, b in itertools.pairwise(chunks):
        assert b.start_s == pytest.approx(a.end_s)


async def test_speed_one_is_the_natural_waveform() -> None:
    synth = SimulatedSynthesizer()
    natural = b"".join(c.pcm for c in await _collect(synth, None))
    assert b"".join(c.pcm for c in await _collect(synth, 1.0)) == natural


async def test_faster_speech_keeps_its_pitch() -> None:
    # A synthesizer's own rate shortens the syllables, not the voice's pitch (unlike resampling).
    synth = SimulatedSynthesizer()

    def peak_hz(chunks: list[AudioChunk]) -> float:
        x = np.concatenate([c.samples() for c in chunks]).astype(float)
        spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
        return float(np.fft.rfftfreq(x.size, 1 / synth.sample_rate)[spectrum.argmax()])

    natural = peak_hz(await _collect(synth, None))
    fast = peak_hz(await _collect(synth, 2.0))
    assert natural == pytest.approx(200.0, rel=0.1)
    assert fast == pytest.approx(natural, rel=0.1)


async def test_same_latency_model_first_audio_then_rtf() -> None:
    # 0.2 s to first audio, then 0.2 s of compute per second of audio: at 2x the audio is
    # half as long, so the compute after the first chunk halves; the first chunk does not.
    model = LatencyModel(tts_first_audio=LogNormal(0.2), tts_rtf=0.2)
    synth = SimulatedSynthesizer(preset=model)
    timings = {}
    for speed in (1.0, 2.0):
        start = time.monotonic()
        first = None
        async for _ in synth.synthesize_at(TEXT, voice="sim-es-1", language="es", speed=speed):
            first = first if first is not None else time.monotonic() - start
        timings[speed] = (first, time.monotonic() - start)
    natural_s = len(TEXT) / synth.chars_per_s
    for speed, (first, total) in timings.items():
        assert first == pytest.approx(0.2, abs=0.08)
        assert total - first == pytest.approx(0.2 * natural_s / speed, rel=0.15)


async def test_refuses_bad_speed_and_unknown_voice() -> None:
    synth = SimulatedSynthesizer()
    for speed in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError):
            synth.synthesize_at(TEXT, voice="sim-es-1", language="es", speed=speed)
    with pytest.raises(UnsupportedVoiceError):
        synth.synthesize_at(TEXT, voice="nobody", language="es", speed=1.5)
