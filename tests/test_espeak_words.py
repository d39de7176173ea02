"""eSpeak NG word events on real synthesis (SupportsWordTiming), and the simulated synthesizer's marks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest

from s2st_kit.engines.protocols import SupportsWordTiming
from s2st_kit.engines.simulated import SimulatedSynthesizer
from s2st_kit.records import AudioChunk, WordMark
from s2st_kit.words import estimate_marks, mark_spans


async def _marked(
    items: AsyncIterator[AudioChunk | WordMark],
) -> tuple[np.ndarray, list[WordMark], int]:
    pcm, marks, rate = [], [], 0
    async for item in items:
        if isinstance(item, WordMark):
            marks.append(item)
        else:
            pcm.append(item.samples())
            rate = item.sample_rate
    return np.concatenate(pcm).astype(np.float64) / 32768.0, marks, rate


def _rms(x: np.ndarray, rate: int, a: float, b: float) -> float:
    seg = x[max(0, int(a * rate)) : int(b * rate)]
    return float(np.sqrt(np.mean(seg**2))) if seg.size else 0.0


# -- eSpeak NG -------------------------------------------------------------------------------
espeak_mod = pytest.importorskip("s2st_kit.engines.offline.espeak")


@pytest.fixture
async def synth() -> AsyncIterator[object]:
    pytest.importorskip("espeakng_loader", reason="espeakng-loader is not installed")
    s = espeak_mod.ESpeakSynthesizer()
    try:
        yield s
    finally:
        await s.aclose()


@pytest.mark.offline
async def test_espeak_word_events_name_every_word_in_order(synth) -> None:
    text = "¿Cómo estás? Muy bien, gracias, señor García."
    assert isinstance(synth, SupportsWordTiming)
    audio, marks, rate = await _marked(synth.synthesize_marked(text, voice="es", language="es"))
    assert [m.text for m in marks] == ["Cómo", "estás", "Muy", "bien", "gracias", "señor", "García"]
    for m in marks:  # character spans index the text (characters, not UTF-8 bytes)
        assert text[m.char_start : m.char_end] == m.text
        assert m.end_s is None
    starts = [m.start_s for m in marks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert 0.0 <= starts[0] and starts[-1] < len(audio) / rate


@pytest.mark.offline
async def test_espeak_word_starts_fall_where_speech_resumes(synth) -> None:
    """After a sentence pause, the next word's mark sits at the end of the silence."""
    text = "Hello there. Wonderful morning. Goodbye now."
    audio, marks, rate = await _marked(synth.synthesize_marked(text, voice="en-US", language="en"))
    by_word = {m.text: m.start_s for m in marks}
    for word in ("Wonderful", "Goodbye"):
        t = by_word[word]
        before, after = _rms(audio, rate, t - 0.12, t - 0.02), _rms(audio, rate, t, t + 0.2)
        assert before < 0.2 * after, (word, before, after)


@pytest.mark.offline
async def test_espeak_marks_follow_its_own_rate(synth) -> None:
    text = "This sentence is spoken once at natural speed and once faster."
    natural, m1, rate = await _marked(synth.synthesize_marked(text, language="en"))
    fast, m2, _ = await _marked(synth.synthesize_marked(text, language="en", speed=1.5))
    assert [m.text for m in m1] == [m.text for m in m2]
    # the marks time the faster speech itself: last word at about the same share of the audio
    share1 = m1[-1].start_s / (len(natural) / rate)
    share2 = m2[-1].start_s / (len(fast) / rate)
    assert m2[-1].start_s < 0.8 * m1[-1].start_s
    assert share2 == pytest.approx(share1, abs=0.08)


@pytest.mark.offline
async def test_espeak_plain_synthesis_has_no_marks_and_marked_stream_closes_early(synth) -> None:
    items = [c async for c in synth.synthesize("One two three.", language="en")]
    assert items and all(isinstance(c, AudioChunk) for c in items)
    stream = synth.synthesize_marked("One two three four five six seven.", language="en")
    first = await anext(stream)
    await stream.aclose()  # stops the eSpeak thread; the next call works
    assert isinstance(first, AudioChunk | WordMark)
    _, marks, _ = await _marked(synth.synthesize_marked("Still working.", language="en"))
    assert [m.text for m in marks] == ["Still", "working"]


# -- simulated ------------------------------------------------------------------------------
async def test_simulated_marks_are_proportional_and_inside_the_audio() -> None:
    s = SimulatedSynthesizer(chunk_s=0.05)
    assert isinstance(s, SupportsWordTiming)
    text = "a bb cccc dddddddd"
    for speed in (1.0, 2.0):
        audio, marks, rate = await _marked(
            s.synthesize_marked(text, voice="sim-es-1", language="es", speed=speed)
        )
        duration = len(audio) / rate
        assert duration == pytest.approx(max(0.3, len(text) / 14.0) / speed, abs=1e-3)
        assert [m.text for m in marks] == text.split()
        assert marks == estimate_marks(text, duration)
        lengths = [m.end_s - m.start_s for m in marks]  # proportional to characters
        assert lengths[3] == pytest.approx(8 * lengths[0]) and lengths[2] == pytest.approx(
            2 * lengths[1]
        )
        assert marks[-1].end_s <= duration and marks[0].start_s == 0.0


async def test_simulated_marks_come_before_the_chunk_they_start_in() -> None:
    s = SimulatedSynthesizer(chunk_s=0.1)
    position = 0.0
    async for item in s.synthesize_marked(
        "one two three four five six", voice="sim-en-1", language="en"
    ):
        if isinstance(item, WordMark):
            assert position <= item.start_s < position + 0.1 + 1e-9
        else:
            position = item.end_s


def test_mark_spans_close_open_ends_and_cut_overlaps() -> None:
    marks = [WordMark("b", 0.5), WordMark("a", 0.0, 0.7), WordMark("c", 0.9, 5.0)]
    assert mark_spans(marks, 1.2) == [("a", 0.0, 0.5), ("b", 0.5, 0.9), ("c", 0.9, 1.2)]
