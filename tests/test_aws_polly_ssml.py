"""Polly beyond plain speech: pitch, the newscaster style, speech marks (word timing), and
which engine honours what — real boto3 against the fake Polly on 127.0.0.1."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re

import pytest

from s2st_kit.config import PipelineConfig
from s2st_kit.engines import Engines, create_stage
from s2st_kit.engines.aws.polly import (
    NEWSCASTER_VOICES,
    PROSODY_RATE,
    AwsPollySynthesizer,
    PollyFeatures,
    SpeechMark,
    create_synthesizer,
    feature_summary,
    parse_marks,
    polly_features,
    request_text,
    ssml_for,
)
from s2st_kit.engines.protocols import SupportsRate, SupportsWordTiming
from s2st_kit.errors import (
    ConfigError,
    EngineError,
    UnsupportedLanguageError,
    UnsupportedVoiceError,
)
from s2st_kit.pipeline.prepare import validate
from s2st_kit.records import AudioChunk, WordMark
from tests.fakes import fake_aws_env
from tests.fakes.polly_server import FakePollyServer, billed_text

SPANISH = "¿Dónde está la estación?"


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    fake_aws_env(monkeypatch, tmp_path)


@pytest.fixture
def fake():
    with FakePollyServer() as server:
        yield server


def synth(fake, **options) -> AwsPollySynthesizer:
    options.setdefault("backoff_base_s", 0.001)
    options.setdefault("backoff_cap_s", 0.01)
    return AwsPollySynthesizer(endpoint_url=fake.endpoint_url, region="us-west-2", **options)


async def marked(s, text, voice="Lucia", language="es", speed=1.0):
    """(audio chunks, word marks, audio duration s) of one synthesize_marked call."""
    items = [
        i async for i in s.synthesize_marked(text, voice=voice, language=language, speed=speed)
    ]
    chunks = [i for i in items if isinstance(i, AudioChunk)]
    words = [i for i in items if isinstance(i, WordMark)]
    assert len(chunks) + len(words) == len(items)
    return chunks, words, sum(c.duration_s for c in chunks)


def calls_by_format(fake):
    calls = fake.speech_calls()
    return [c for c in calls if c["OutputFormat"] == "pcm"], [
        c for c in calls if c["OutputFormat"] == "json"
    ]


# -- SSML -------------------------------------------------------------------------------------


def test_ssml_wraps_escaped_text_in_the_style_then_prosody():
    doc = ssml_for('a<b & "c"', rate="120%", pitch="-10%", newscaster=True)
    assert doc == (
        '<speak><amazon:domain name="news"><prosody rate="120%" pitch="-10%">'
        'a&lt;b &amp; "c"</prosody></amazon:domain></speak>'
    )
    assert billed_text(doc, "ssml") == 'a<b & "c"'  # well-formed: the fake parses it
    assert ssml_for("x", volume="loud") == '<speak><prosody volume="loud">x</prosody></speak>'
    assert ssml_for("x") == "<speak>x</speak>"


@pytest.mark.parametrize(
    "options",
    [{}, {"volume": "loud"}, {"rate": "150%", "newscaster": True}, {"pitch": "x-high"}],
)
def test_request_text_maps_every_byte_offset_back_to_its_character(options):
    text = 'Tom & "<Jerry>" ¿Dónde? 東京\x07 ok'
    sent = request_text(text, **options)
    assert sent.text_type == ("ssml" if options else "text")
    raw = sent.text.encode("utf-8")
    for i in range(len(text)):
        start, end = sent.byte_starts[i], sent.byte_starts[i + 1]
        fragment = raw[start:end].decode("utf-8")
        expected = (
            text[i]
            if not options
            else {"&": "&amp;", "<": "&lt;", ">": "&gt;"}.get(
                text[i], " " if text[i] == "\x07" else text[i]
            )
        )
        assert fragment == expected
        assert sent.char_span(start, end) == (i, i + 1)
    w = text.index("Dónde")
    assert sent.char_span(sent.byte_starts[w], sent.byte_starts[w + 5]) == (w, w + 5)
    if options:  # inside the tags: snaps to the text
        assert sent.char_span(0, 3) == (0, 0)
        assert sent.char_span(len(raw) - 1, len(raw)) == (len(text), len(text))


def test_prosody_values_checked():
    for good in ("x-low", "high", "default", "+10%", "-5.5%"):
        AwsPollySynthesizer(engine="standard", pitch=good)
    for bad in ("10%", "higher", "+10dB"):
        with pytest.raises(ConfigError, match="pitch must be one of"):
            AwsPollySynthesizer(engine="standard", pitch=bad)


# -- pitch --------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["neural", "long-form", "generative"])
def test_pitch_refused_where_the_engine_ignores_it(engine):
    with pytest.raises(ConfigError, match="only engine= standard"):
        AwsPollySynthesizer(engine=engine, pitch="high")


async def test_pitch_sent_in_prosody_with_the_standard_engine(aws_env, fake):
    s = synth(fake, engine="standard", pitch="-10%", volume="soft")
    assert [c async for c in s.synthesize("Hola & adiós.", voice="Conchita", language="es")]
    fast = s.synthesize_at("Hola.", voice="Conchita", language="es", speed=1.2)
    assert [c async for c in fast]
    await s.aclose()
    natural, sped = fake.speech_calls()
    assert natural["Text"] == (
        '<speak><prosody volume="soft" pitch="-10%">Hola &amp; adiós.</prosody></speak>'
    )
    assert sped["Text"] == (
        '<speak><prosody rate="120%" volume="soft" pitch="-10%">Hola.</prosody></speak>'
    )


# -- newscaster ---------------------------------------------------------------------------------


async def test_newscaster_style_wraps_requests_on_a_voice_that_has_it(aws_env, fake):
    s = synth(fake, newscaster=True, lexicon_names=["names"])
    assert s.ssml
    chunks, words, _ = await marked(s, "Good evening & welcome.", voice="Matthew", language="en")
    await s.aclose()
    assert chunks and [w.text for w in words] == ["Good", "evening", "welcome"]
    (audio,), (marks,) = calls_by_format(fake)
    assert audio["Text"] == (
        '<speak><amazon:domain name="news">Good evening &amp; welcome.</amazon:domain></speak>'
    )
    assert marks["Text"] == audio["Text"] and marks["LexiconNames"] == ["names"]


async def test_newscaster_refuses_other_voices_before_any_request_listing_those_that_have_it(
    aws_env, fake
):
    s = synth(fake, newscaster=True)
    with pytest.raises(UnsupportedVoiceError, match="no newscaster style") as info:
        [c async for c in s.synthesize("Hola.", voice="Lucia", language="es")]
    for voice in NEWSCASTER_VOICES:
        assert voice in str(info.value)
    assert fake.speech_calls() == []
    # the session's own validation (pipeline.prepare.validate) lists the voices that would do
    assert [v.id for v in s.voices("es")] == ["Lupe"]
    assert s.default_voice("es") == "Lupe" and s.default_voice("en") == "Joanna"
    engines = Engines(create_stage("asr", "simulated"), create_stage("mt", "simulated"), s)
    config = PipelineConfig(source_lang="en", target_lang="es", voice="Lucia")
    with pytest.raises(UnsupportedVoiceError, match=r"try one of: Lupe$"):
        await asyncio.to_thread(validate, engines, config)
    with pytest.raises(UnsupportedLanguageError, match=r"no newscaster voice speaks 'fr'.*Amy"):
        s.default_voice("fr")
    await engines.aclose()
    assert fake.speech_calls() == []


@pytest.mark.parametrize("engine", ["standard", "long-form", "generative"])
def test_newscaster_needs_the_neural_engine(engine):
    with pytest.raises(ConfigError, match=r"needs engine='neural'.*Lupe"):
        AwsPollySynthesizer(engine=engine, newscaster=True)


def test_new_options_are_aws_bundle_options(aws_env, fake):
    s = create_synthesizer(
        endpoint_urls={"polly": fake.endpoint_url},
        polly_engine="standard",
        polly_pitch="high",
        region="us-west-2",
    )
    assert (s.engine, s.pitch, s.newscaster) == ("standard", "high", False)
    assert create_synthesizer(newscaster=True, region="us-west-2").newscaster


# -- speech marks ---------------------------------------------------------------------------------


async def test_word_marks_map_utf8_byte_offsets_to_characters(aws_env, fake):
    s = synth(fake)
    assert isinstance(s, SupportsWordTiming) and s.speech_marks_supported
    _, words, duration = await marked(s, SPANISH)
    await s.aclose()
    assert [w.text for w in words] == ["Dónde", "está", "la", "estación"]
    for w in words:
        assert SPANISH[w.char_start : w.char_end] == w.text
        assert w.end_s is None  # Polly gives word starts only
    starts = [w.start_s for w in words]
    assert starts == sorted(starts) and 0 <= starts[0] and starts[-1] < duration
    (audio,), (marks,) = calls_by_format(fake)
    assert marks["SpeechMarkTypes"] == ["word", "sentence"] and "SampleRate" not in marks
    assert {k: v for k, v in marks.items() if k not in ("OutputFormat", "SpeechMarkTypes")} == {
        k: v for k, v in audio.items() if k not in ("OutputFormat", "SampleRate")
    }


async def test_marks_of_escaped_ssml_point_at_the_plain_text(aws_env, fake):
    # The marks' byte offsets count "<speak><prosody…>", "&amp;" and multi-byte characters.
    text = "Tom & Jerry «comen» crème brûlée: 東京 ¿sí?"
    s = synth(fake, volume="+2dB", newscaster=True)
    _, words, _ = await marked(s, text, voice="Lupe", language="es")
    await s.aclose()
    assert [w.text for w in words] == re.findall(r"\w+", text)
    assert all(text[w.char_start : w.char_end] == w.text for w in words)
    (marks,) = calls_by_format(fake)[1]
    assert marks["TextType"] == "ssml" and "&amp;" in marks["Text"]


async def test_sentence_marks_parsed_and_times_proportional_to_the_audio(aws_env, fake):
    text = "Hola a todos. ¿Qué tal? Bien."
    s = synth(fake)
    items = [i async for i in s.synthesize_with_marks(text, voice="Lucia", language="es")]
    await s.aclose()
    duration = sum(i.duration_s for i in items if isinstance(i, AudioChunk))
    marks = [i for i in items if isinstance(i, SpeechMark)]
    sentences = [m for m in marks if m.kind == "sentence"]
    assert [m.text for m in sentences] == ["Hola a todos.", "¿Qué tal?", "Bien."]
    assert all(text[m.char_start : m.char_end] == m.text for m in marks)
    # the fake spreads characters evenly over the audio: a mark starts at its share of it
    for m in marks:
        assert m.time_s == pytest.approx(duration * m.char_start / len(text), abs=0.0015)
    assert [m.time_s for m in marks] == sorted(m.time_s for m in marks)


async def test_marks_for_sped_up_speech_come_from_the_same_rate_wrapped_ssml(aws_env, fake):
    s = synth(fake)
    assert isinstance(s, SupportsRate) and s.rate_supported("Lucia")
    _, natural, natural_s = await marked(s, SPANISH)
    _, fast, fast_s = await marked(s, SPANISH, speed=1.5)
    await s.aclose()
    audio, marks = calls_by_format(fake)
    assert audio[1]["Text"] == marks[1]["Text"] == ssml_for(SPANISH, rate="150%")
    assert fast_s == pytest.approx(natural_s / 1.5, rel=0.01)
    assert [w.text for w in fast] == [w.text for w in natural]
    assert [(w.char_start, w.char_end) for w in fast] == [
        (w.char_start, w.char_end) for w in natural
    ]
    for quick, slow in zip(fast, natural, strict=True):
        assert quick.start_s == pytest.approx(slow.start_s / 1.5, abs=0.002)
        assert quick.start_s < fast_s


async def test_long_text_marks_follow_each_piece_into_the_whole_audio(aws_env):
    sentence = "Esta es una frase de prueba con acentos: camión, pingüino. "  # 59 chars
    text = sentence * 110  # 6,490 characters: three requests
    with FakePollyServer(s_per_char=0.001) as fake:
        s = synth(fake)
        _, words, duration = await marked(s, text)
        await s.aclose()
        audio, marks = calls_by_format(fake)
    assert len(audio) == len(marks) == 3
    assert len(words) == 110 * len(re.findall(r"\w+", sentence))
    assert all(text[w.char_start : w.char_end] == w.text for w in words)
    starts = [w.start_s for w in words]
    assert starts == sorted(starts) and starts[-1] < duration
    # a piece's marks are offset by where its audio starts (the fake: 1 ms per character)
    second = len(audio[0]["Text"])  # the second piece starts at this character
    after = next(w for w in words if w.char_start >= second)
    assert (after.char_start, after.text) == (second, "Esta")
    assert after.start_s == pytest.approx(second * 0.001, abs=0.002)


async def test_marks_request_runs_concurrently_on_own_threads(aws_env):
    class CountingExecutor(concurrent.futures.ThreadPoolExecutor):
        submitted = 0

        def submit(self, fn, /, *args, **kwargs):
            CountingExecutor.submitted += 1
            return super().submit(fn, *args, **kwargs)

    asyncio.get_running_loop().set_default_executor(CountingExecutor(max_workers=2))
    # The fake holds the audio after its first chunk until the marks have been answered:
    # only a client that asks for both at once gets past it.
    with FakePollyServer(hold_audio_for_marks=True) as fake:
        s = synth(fake)
        items = [i async for i in s.synthesize_marked(SPANISH, voice="Lucia", language="es")]
        await s.aclose()
    assert fake.held_until_marks == [True]
    assert CountingExecutor.submitted == 0
    assert sum(isinstance(i, WordMark) for i in items) == 4


async def test_failed_marks_request_is_logged_and_the_audio_goes_on(aws_env, caplog):
    caplog.set_level(logging.WARNING, logger="s2st_kit")
    with FakePollyServer(fail_marks=True) as fake:
        s = synth(fake)
        chunks, words, _ = await marked(s, SPANISH)
        await s.aclose()
    assert chunks and words == []
    assert "no speech marks" in caplog.text and "ServiceFailure" in caplog.text


async def test_generative_has_no_speech_marks_audio_only(aws_env, fake):
    s = synth(fake, engine="generative")
    assert not s.speech_marks_supported
    chunks, words, _ = await marked(s, "Hello there.", voice="Joanna", language="en")
    await s.aclose()
    assert chunks and words == []
    assert calls_by_format(fake)[1] == []  # never asked


async def test_stopping_early_cancels_the_marks_request(aws_env):
    with FakePollyServer(marks_delay_s=5.0) as fake:
        s = synth(fake)
        gen = s.synthesize_marked("a " * 100, voice="Lucia", language="es")
        assert isinstance(await anext(gen), AudioChunk)
        await gen.aclose()
        for _ in range(3):
            await asyncio.sleep(0)  # let the cancellation run
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
        await s.aclose()


def test_parse_marks_skips_other_types_and_refuses_garbage():
    sent = request_text("Sí, ¡vale!", volume="loud")
    head = len('<speak><prosody volume="loud">')
    raw = (
        f'{{"time":0,"type":"sentence","start":{head},"end":{head + 12},"value":"x"}}\n'
        f'{{"time":5,"type":"viseme","value":"s"}}\n'
        f'{{"time":6,"type":"word","start":{head},"end":{head + 3},"value":"Sí"}}\n\n'
    ).encode()
    marks = parse_marks(raw, sent, "Sí, ¡vale!", char_offset=10, time_offset_s=1.0)
    assert marks == [
        SpeechMark("sentence", 1.0, 10, 20, "Sí, ¡vale!"),
        SpeechMark("word", 1.006, 10, 12, "Sí"),
    ]
    with pytest.raises(EngineError, match="line 1 is not a mark"):
        parse_marks(b"<html>", sent, "Sí, ¡vale!")


# -- which engine supports what ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("voice", "engine", "expected"),
    [
        ("Joanna", "standard", PollyFeatures(True, True, False, True)),
        ("Joanna", "neural", PollyFeatures(True, False, True, True)),
        ("lupe", "neural", PollyFeatures(True, False, True, True)),
        ("Lucia", "neural", PollyFeatures(True, False, False, True)),
        ("Danielle", "long-form", PollyFeatures(True, False, False, True)),
        ("Matthew", "generative", PollyFeatures(True, False, False, False)),
    ],
)
def test_polly_features_table(voice, engine, expected):
    assert polly_features(voice, engine) == expected


async def test_features_of_a_voice_use_the_catalogue_and_rate_matches_it(aws_env, fake):
    for engine, voice in [("standard", "Conchita"), ("neural", "Amy"), ("generative", "Lupe")]:
        s = synth(fake, engine=engine)
        await s.load_voices()
        features = s.features(voice)
        assert features == polly_features(voice, engine)
        assert s.rate_supported(voice) is features.rate is PROSODY_RATE[engine]
        assert s.speech_marks_supported is features.speech_marks
        assert s.features("Nobody") == PollyFeatures(False, False, False, False)
        await s.aclose()
    summary = feature_summary()
    assert "prosody pitch: standard\n" in summary
    assert "speech marks (word, sentence): standard, neural, long-form" in summary
    assert "Matthew (en-US)" in summary
