"""Real eSpeak NG through espeakng-loader: audio, streaming, voices, lifecycle."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator

import pytest
from conftest import LoopWatch

from s2st_kit.engines.protocols import SupportsLoad, SupportsVoiceCatalogue
from s2st_kit.errors import ConfigError, UnsupportedLanguageError, UnsupportedVoiceError
from s2st_kit.records import AudioChunk

pytestmark = pytest.mark.offline

pytest.importorskip("espeakng_loader", reason="espeakng-loader is not installed")

from s2st_kit.engines.offline import espeak  # noqa: E402
from s2st_kit.engines.offline.espeak import ESpeakSynthesizer, create_synthesizer  # noqa: E402


@pytest.fixture
async def synth() -> AsyncIterator[ESpeakSynthesizer]:
    s = create_synthesizer()
    try:
        yield s
    finally:
        await s.aclose()


async def _collect(s: ESpeakSynthesizer, text: str, **kw) -> list[AudioChunk]:
    return [c async for c in s.synthesize(text, **kw)]


def _duration(chunks: list[AudioChunk]) -> float:
    return sum(c.duration_s for c in chunks)


async def test_sample_rate_and_audio(synth: ESpeakSynthesizer) -> None:
    assert synth.sample_rate == 22050
    chunks = await _collect(synth, "Hello world.", voice="en-US", language="en")
    assert chunks and all(c.sample_rate == 22050 for c in chunks)
    pcm = AudioChunk(b"".join(c.pcm for c in chunks), 22050)
    assert pcm.rms() > 0.01
    # chunk positions are contiguous from 0
    assert chunks[0].start_s == 0.0
    for a, b in itertools.pairwise(chunks):
        assert b.start_s == pytest.approx(a.end_s)


async def test_duration_grows_with_text(synth: ESpeakSynthesizer) -> None:
    short = _duration(await _collect(synth, "Yes.", language="en"))
    long = _duration(
        await _collect(
            synth, "Yes, and this sentence is a good deal longer than that.", language="en"
        )
    )
    assert long > 2 * short


async def test_streaming_first_chunk_before_synthesis_ends() -> None:
    """With room for only 2 queued chunks, a long text can only finish if the consumer
    receives chunks while eSpeak is still synthesising."""
    s = ESpeakSynthesizer(max_queued_chunks=2)
    try:
        text = " ".join(["This is a fairly long sentence for streaming."] * 6)
        t0 = time.perf_counter()
        first_at = None
        n = 0
        gen = s.synthesize(text, language="en")
        async with asyncio.timeout(20):
            async for _ in gen:
                if first_at is None:
                    first_at = time.perf_counter() - t0
                n += 1
        total = time.perf_counter() - t0
        assert n > 10
        assert first_at is not None and first_at < total
        print(
            f"\neSpeak NG time to first chunk {first_at * 1000:.2f} ms, "
            f"{n} chunks in {total * 1000:.1f} ms"
        )
    finally:
        await s.aclose()


async def test_abandoned_stream_does_not_block_next(synth: ESpeakSynthesizer) -> None:
    gen = synth.synthesize(" ".join(["A long text to abandon."] * 20), language="en")
    async for _ in gen:
        break
    await gen.aclose()
    chunks = await asyncio.wait_for(_collect(synth, "Next.", language="en"), timeout=5)
    assert chunks


async def test_voices_and_defaults(synth: ESpeakSynthesizer) -> None:
    spanish = synth.voices("es")
    assert spanish and all(v.language == "es" for v in spanish)
    assert synth.default_voice("es") in {v.id for v in spanish}
    assert synth.default_voice("en") == "en-US"
    assert len(synth.voices()) > 50
    with pytest.raises(UnsupportedLanguageError):
        synth.default_voice("xx")
    chunks = await _collect(synth, "Hola, ¿qué tal?", voice="es", language="es")
    assert _duration(chunks) > 0.3
    variant = await _collect(synth, "Hello.", voice="en-US+f3", language="en")
    assert variant


async def test_unknown_voice(synth: ESpeakSynthesizer) -> None:
    with pytest.raises(UnsupportedVoiceError, match="en-US"):
        async for _ in synth.synthesize("Hello.", voice="klingon-x", language="en"):
            pass
    # The instance's voice is checked once the library is there: by load() (the pipeline
    # calls it before the session starts) or the first synthesis.
    wrong = create_synthesizer(voice="nope")
    try:
        with pytest.raises(UnsupportedVoiceError, match="'nope'"):
            await wrong.load()
        with pytest.raises(UnsupportedVoiceError, match="'nope'"):
            await _collect(wrong, "Hello.", language="en")
    finally:
        await wrong.aclose()


def test_bad_options() -> None:
    with pytest.raises(ConfigError):
        ESpeakSynthesizer(rate=5)
    with pytest.raises(ConfigError):
        ESpeakSynthesizer(pitch=200)


async def test_rate_changes_duration() -> None:
    slow, fast = ESpeakSynthesizer(rate=100), ESpeakSynthesizer(rate=300)
    try:
        text = "The quick brown fox jumps over the lazy dog."
        d_slow = _duration(await _collect(slow, text, language="en"))
        d_fast = _duration(await _collect(fast, text, language="en"))
        assert d_slow > 1.5 * d_fast
    finally:
        await slow.aclose()
        await fast.aclose()


async def test_thread_gone_after_aclose() -> None:
    s = create_synthesizer()
    await _collect(s, "Hello.", language="en")
    assert any(t.name.startswith("s2st-espeak") for t in threading.enumerate())
    await s.aclose()
    await s.aclose()  # idempotent
    assert not any(t.name.startswith("s2st-espeak") for t in threading.enumerate())
    # a new synthesizer initialises the library again
    again = create_synthesizer()
    try:
        assert await _collect(again, "Hello again.", language="en")
    finally:
        await again.aclose()


async def test_construction_and_load_never_stall_the_loop(monkeypatch) -> None:
    """Regression: the constructor waited on the eSpeak thread (library load, voice list) on
    the caller's thread — a notebook widget callback on the event loop."""
    real_load = espeak._load_library

    def slow_load():
        time.sleep(0.3)  # a cold disk, a slow container
        return real_load()

    monkeypatch.setattr(espeak, "_load_library", slow_load)
    async with LoopWatch() as watch:
        t0 = time.perf_counter()
        s = ESpeakSynthesizer(voice="es")
        constructed_s = time.perf_counter() - t0
        try:
            assert constructed_s < 0.1, f"the constructor took {constructed_s:.3f} s"
            assert isinstance(s, SupportsLoad) and isinstance(s, SupportsVoiceCatalogue)
            await s.load()
            assert s.voice == "es" and s.sample_rate == 22050
            assert [v.id for v in await s.load_voices()] == [v.id for v in s.voices()]
            assert s.voice_catalogue("es", "espeak-ng") == s.voices("es") != []
            assert await _collect(s, "Hola.", language="es")
        finally:
            await s.aclose()
    assert watch.max_gap_s < 0.1, f"the loop stalled {watch.max_gap_s:.3f} s"


def test_capability_queries_wait_for_the_library_off_the_loop() -> None:
    """voices() / default_voice() from a worker thread (the pipeline's validate()) wait."""
    s = ESpeakSynthesizer()
    try:
        assert s.default_voice("en") == "en-US" and s.voices("fr")
    finally:
        asyncio.run(s.aclose())


# -- own rate (SupportsRate) ----------------------------------------------------------------
RATE_TEXTS = {
    "en": "Good morning everyone, and thank you for coming to this talk about translation.",
    "es": "Buenos días a todos, y gracias por venir a esta charla sobre la traducción.",
}


async def test_declares_the_rate_capability(synth: ESpeakSynthesizer) -> None:
    from s2st_kit.engines.protocols import SupportsRate

    assert isinstance(synth, SupportsRate)
    assert synth.rate_supported("en-US") and synth.rate_supported("es")


@pytest.mark.parametrize("language", ["en", "es"])
async def test_rate_makes_speech_shorter(synth: ESpeakSynthesizer, language: str) -> None:
    # eSpeak's rate (words per minute) is not exactly linear in duration: measured 0.70 (en)
    # and 0.71 (es) of natural at 1.5 against an exact 0.667; 0.52 / 0.57 at 2.0.
    text = RATE_TEXTS[language]
    natural = await _collect(synth, text, language=language)
    durations = {}
    for speed in (1.25, 1.5, 2.0):
        chunks = [c async for c in synth.synthesize_at(text, language=language, speed=speed)]
        assert {c.sample_rate for c in chunks} == {c.sample_rate for c in natural} == {22050}
        durations[speed] = _duration(chunks)
    assert durations[1.5] / _duration(natural) == pytest.approx(1 / 1.5, rel=0.10)
    assert _duration(natural) > durations[1.25] > durations[1.5] > durations[2.0]


async def test_rate_is_the_default_rate_times_speed_within_espeaks_range() -> None:
    s = create_synthesizer(rate=200)
    try:
        assert s.rate_at(1.0) == 200 and s.rate_at(1.5) == 300 and s.rate_at(1.25) == 250
        assert s.rate_at(3.0) == 450  # eSpeak's maximum
        assert s.max_speed == pytest.approx(450 / 200)
        assert s.rate_at(0.1) == 80  # and its minimum
        for bad in (0.0, -1.0, float("nan")):
            with pytest.raises(ConfigError):
                s.synthesize_at("Hello.", language="en", speed=bad)
        # the instance's rate is untouched: natural speed after a fast one
        first = await _collect(s, "Hello there.", language="en")
        fast = [c async for c in s.synthesize_at("Hello there.", language="en", speed=2.0)]
        again = await _collect(s, "Hello there.", language="en")
        assert _duration(fast) < 0.7 * _duration(first)
        assert _duration(again) == pytest.approx(_duration(first), rel=0.01)
    finally:
        await s.aclose()
