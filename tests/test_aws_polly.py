"""AwsPollySynthesizer (real boto3) against the fake Polly REST endpoint streaming real PCM."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from s2st_kit.engines.aws.polly import (
    MAX_BILLED_CHARS,
    MAX_TOTAL_CHARS,
    PROSODY_RATE,
    AwsPollySynthesizer,
    create_synthesizer,
    ssml_for,
)
from s2st_kit.engines.aws.polly import synthesizer as polly_synthesizer
from s2st_kit.engines.protocols import SupportsRate
from s2st_kit.errors import (
    ConfigError,
    EngineError,
    ThrottledError,
    UnsupportedLanguageError,
    UnsupportedVoiceError,
)
from tests.fakes import FAKE_SECRET_ACCESS_KEY, FAKE_SESSION_TOKEN, fake_aws_env
from tests.fakes.polly_server import VOICES, FakePollyServer, billed_text


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


async def collect(s, text, voice="Lucia", language="es"):
    return [c async for c in s.synthesize(text, voice=voice, language=language)]


async def test_streams_real_pcm_with_the_request_polly_expects(aws_env, fake):
    s = synth(fake, lexicon_names=["acronyms"])
    chunks = await collect(s, "Hola a todos.")
    await s.aclose()
    assert chunks and all(c.sample_rate == 16000 and len(c.pcm) % 2 == 0 for c in chunks)
    assert [c.start_s for c in chunks] == pytest.approx(
        np.cumsum([0.0] + [c.duration_s for c in chunks[:-1]]).tolist()
    )
    audio = np.concatenate([c.samples() for c in chunks])
    assert audio.size / 16000 == pytest.approx(len("Hola a todos.") * 0.06, abs=0.01)
    assert np.abs(audio).max() > 3000  # real signal, not zeros
    (call,) = fake.speech_calls()
    assert call == {
        "Engine": "neural",
        "OutputFormat": "pcm",
        "SampleRate": "16000",
        "Text": "Hola a todos.",
        "TextType": "text",
        "VoiceId": "Lucia",
        "LexiconNames": ["acronyms"],
    }


async def test_8khz_output(aws_env, fake):
    s = synth(fake, sample_rate=8000, engine="standard")
    chunks = await collect(s, "Bonjour.", voice="Celine", language="fr")
    assert {c.sample_rate for c in chunks} == {8000}
    assert fake.speech_calls()[0]["SampleRate"] == "8000"


async def test_first_audio_arrives_before_synthesis_ends(aws_env):
    # 3 s of speech streamed at 4x real time: synthesis lasts ~0.75 s after a 0.1 s TTFB.
    with FakePollyServer(ttfb_s=0.1, pace=4.0) as fake:
        s = synth(fake)
        await s.load_voices()  # the catalogue and the client are not what is measured
        start = time.monotonic()
        first_at = None
        n = 0
        async for _chunk in s.synthesize("a" * 50, voice="Lucia", language="es"):
            n += 1
            if first_at is None:
                first_at = time.monotonic()
        await s.aclose()
    assert first_at is not None and n > 10
    assert first_at - start < 0.6
    assert first_at - fake.started_at[0] < 0.35  # ~ the fake's 0.1 s time to first byte
    assert first_at < fake.finished_at[0] - 0.4  # yielded while Polly was still sending


async def test_blocking_work_runs_on_own_threads_not_the_default_executor(aws_env):
    # Long audio-stream reads used to hold threads of the loop's shared default executor.
    class CountingExecutor(concurrent.futures.ThreadPoolExecutor):
        submitted = 0

        def submit(self, fn, /, *args, **kwargs):
            CountingExecutor.submitted += 1
            return super().submit(fn, *args, **kwargs)

    asyncio.get_running_loop().set_default_executor(CountingExecutor(max_workers=2))
    with FakePollyServer(pace=8.0) as fake:
        s = synth(fake)
        seen: set[str] = set()
        async for _chunk in s.synthesize("hola a todos", voice="Lucia", language="es"):
            seen |= {t.name for t in threading.enumerate()}
        assert CountingExecutor.submitted == 0
        own = list(s._executor._threads)
        await s.aclose()
    assert own and all(t.name.startswith("s2st-polly") for t in own)
    assert {t.name for t in own} <= seen
    for thread in own:  # aclose shuts them down
        thread.join(2.0)
        assert not thread.is_alive()


async def test_voice_catalogue_paginated_cached_and_filtered(aws_env, fake):
    s = synth(fake)
    voices = await s.load_voices()
    assert {v.id for v in voices} == {v["Id"] for v in VOICES}
    pages = [r for r in fake.requests if r["path"].startswith("/v1/voices")]
    assert len(pages) == -(-len(VOICES) // 4)  # every page fetched
    s.voices("es"), s.voice_catalogue(), s.default_voice("en")
    assert len([r for r in fake.requests if r["path"].startswith("/v1/voices")]) == len(pages)
    assert {v.id for v in s.voices("es")} == {"Lucia", "Sergio", "Lupe"}  # neural only
    assert {v.id for v in s.voice_catalogue("es")} == {"Lucia", "Sergio", "Lupe", "Conchita"}
    assert {v.id for v in s.voice_catalogue("es-US")} == {"Lupe"}
    assert {v.id for v in s.voice_catalogue(engine="long-form")} == {"Danielle"}
    assert {v.id for v in s.voice_catalogue("en", engine="generative")} == {
        "Joanna",
        "Matthew",
        "Danielle",
    }
    assert {v.id for v in s.voice_catalogue("hi")} == {"Aditi"}  # additional language
    zh = s.voice_catalogue("zh")
    assert [v.id for v in zh] == ["Zhiyu"] and zh[0].locale == "cmn-CN"
    lucia = next(v for v in voices if v.id == "Lucia")
    assert (lucia.language, lucia.locale, lucia.gender) == ("es", "es-ES", "Female")
    assert lucia.engines == ("neural", "standard")


async def test_default_voice_prefers_main_locale_and_engine(aws_env, fake):
    s = synth(fake)
    await s.load_voices()
    assert s.default_voice("es") == "Lucia"
    assert s.default_voice("en") == "Joanna"
    assert synth(fake, engine="long-form").default_voice("en") == "Danielle"
    with pytest.raises(UnsupportedLanguageError):
        synth(fake, engine="generative").default_voice("fr")
    assert await s.prepare(voice=None, language="de") == "Vicki"


@pytest.mark.parametrize(
    ("engine", "voice", "language", "match"),
    [
        ("neural", "Nobody", "es", "no voice"),
        ("neural", "Conchita", "es", "not 'neural'"),
        ("generative", "Lucia", "es", "not 'generative'"),
        ("neural", "Joanna", "es", "speaks en-US"),
    ],
)
async def test_invalid_voice_refused_before_synthesis(
    aws_env, fake, engine, voice, language, match
):
    s = synth(fake, engine=engine)
    with pytest.raises(UnsupportedVoiceError, match=match):
        await collect(s, "hola", voice=voice, language=language)
    assert fake.speech_calls() == []


async def test_ssml_prosody_and_escaping(aws_env, fake):
    s = synth(fake, rate="90%", volume="+3dB")
    text = 'Tom & Jerry say "<hola>" \x07 > all'
    await collect(s, text)
    (call,) = fake.speech_calls()
    assert call["TextType"] == "ssml"
    root = ET.fromstring(call["Text"])  # well-formed XML
    prosody = root.find("prosody")
    assert prosody is not None and prosody.attrib == {"rate": "90%", "volume": "+3dB"}
    assert prosody.text == text.replace("\x07", " ")
    assert ssml_for("a<b", rate="fast") == '<speak><prosody rate="fast">a&lt;b</prosody></speak>'
    with pytest.raises(ConfigError):
        AwsPollySynthesizer(rate="ludicrous")
    with pytest.raises(ConfigError):
        AwsPollySynthesizer(volume="11")


async def test_long_text_split_at_sentences_in_sequence(aws_env):
    sentence = "Esta es una frase de prueba bastante normal. "  # 45 chars
    text = sentence * 150  # 6,750 characters
    with FakePollyServer(s_per_char=0.001) as fake:
        s = synth(fake)
        chunks = await collect(s, text)
    calls = fake.speech_calls()
    assert len(calls) == 3
    assert all(len(c["Text"]) <= MAX_BILLED_CHARS for c in calls)
    assert all(c["Text"].endswith("normal. ") for c in calls)
    assert "".join(c["Text"] for c in calls) == text
    starts = [c.start_s for c in chunks]
    assert starts == sorted(starts)  # one continuous stream


async def test_ssml_split_respects_total_limit_with_escapes(aws_env):
    text = "&&&&&&&&&. " * 400  # 4,400 chars; escaped 20,400
    with FakePollyServer(s_per_char=0.0001) as fake:
        s = synth(fake, volume="loud")
        await collect(s, text)
    calls = fake.speech_calls()
    assert all(len(c["Text"]) <= MAX_TOTAL_CHARS for c in calls)
    assert all(len(billed_text(c["Text"], "ssml")) <= MAX_BILLED_CHARS for c in calls)
    assert "".join(billed_text(c["Text"], "ssml") for c in calls) == text


async def test_throttling_retried_then_gives_up(aws_env):
    with FakePollyServer(throttle=2) as fake:
        chunks = await collect(synth(fake), "hola")
        assert chunks and fake.throttled == 2
    with FakePollyServer(throttle=100) as fake:
        with pytest.raises(ThrottledError):
            await collect(synth(fake, max_attempts=2), "hola")
        assert len(fake.speech_calls()) == 2


async def test_consumer_stopping_early_releases_the_stream(aws_env):
    with FakePollyServer(pace=2.0) as fake:
        s = synth(fake)
        gen = s.synthesize("a" * 100, voice="Lucia", language="es")
        await anext(gen)
        start = time.monotonic()
        await gen.aclose()
        await s.aclose()
        assert time.monotonic() - start < 1.5


async def test_secret_never_in_exception_or_log(aws_env, caplog, fake):
    caplog.set_level(logging.DEBUG, logger="s2st_kit")
    s = synth(fake, engine="standard", rate="fast")
    voices = await s.load_voices()
    fake.throttle = 1
    object.__setattr__(s, "engine", "generative")  # bypass the local check: server refuses
    s.catalogue._voices = [
        v.__class__(**{**{f: getattr(v, f) for f in v.__slots__}, "engines": ("generative",)})
        for v in voices
    ]
    with pytest.raises(UnsupportedVoiceError) as info:
        await collect(s, "hola", voice="Conchita")
    texts = [str(info.value), repr(info.value), repr(s), caplog.text]
    cause = info.value.__cause__
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__
    assert "EngineNotSupportedException" in texts[0]
    for text in texts:
        assert FAKE_SECRET_ACCESS_KEY not in text and FAKE_SESSION_TOKEN not in text


async def test_closed_and_factory(aws_env, fake):
    s = create_synthesizer(
        endpoint_urls={"polly": fake.endpoint_url},
        engine="standard",
        sample_rate=8000,
        formality="FORMAL",
        region="us-west-2",
    )
    assert (s.engine, s.sample_rate) == ("standard", 8000)
    await s.aclose()
    with pytest.raises(EngineError, match="closed"):
        await collect(s, "hola")
    with pytest.raises(ConfigError):
        AwsPollySynthesizer(sample_rate=22050)
    with pytest.raises(ConfigError):
        AwsPollySynthesizer(engine="turbo")  # type: ignore[arg-type]  # a bad value on purpose


# -- own rate (SupportsRate): SSML <prosody rate> -------------------------------------------


async def collect_at(s, text, speed, voice="Lucia", language="es"):
    stream = s.synthesize_at(text, voice=voice, language=language, speed=speed)
    return [c async for c in stream]


async def test_synthesize_at_sends_escaped_text_in_prosody_rate(aws_env, fake):
    s = synth(fake, lexicon_names=["acronyms"])
    assert isinstance(s, SupportsRate)
    text = 'Tom & Jerry: "<hola>" a todos.'
    natural = await collect(s, text)
    fast = await collect_at(s, text, 1.5)
    await s.aclose()
    plain, call = fake.speech_calls()
    assert plain["TextType"] == "text"
    assert call["TextType"] == "ssml"
    assert call["Text"] == (
        '<speak><prosody rate="150%">Tom &amp; Jerry: "&lt;hola&gt;" a todos.</prosody></speak>'
    )
    prosody = ET.fromstring(call["Text"]).find("prosody")
    assert prosody is not None and prosody.attrib == {"rate": "150%"} and prosody.text == text
    assert call["LexiconNames"] == ["acronyms"] and call["Engine"] == "neural"
    # the fake speaks at the prosody rate, as Polly does: 1/1.5 of the natural duration
    duration = sum(c.duration_s for c in fast)
    assert duration == pytest.approx(sum(c.duration_s for c in natural) / 1.5, rel=0.02)
    assert {c.sample_rate for c in fast} == {16000}


@pytest.mark.parametrize(
    ("rate", "speed", "expected"),
    [
        (None, 1.25, "125%"),
        ("medium", 2.0, "200%"),
        ("90%", 1.5, "135%"),  # the configured rate times the speed
        (None, 3.0, "200%"),  # Polly's documented maximum
        ("150%", 1.5, "200%"),
        (None, 0.1, "20%"),  # and minimum
    ],
)
async def test_rate_at_multiplies_the_configured_rate(aws_env, fake, rate, speed, expected):
    s = synth(fake, rate=rate)
    assert s.rate_at(speed) == expected
    assert s.max_speed == pytest.approx(200 / (int(rate[:-1]) if rate and "%" in rate else 100))


async def test_rate_with_volume_keeps_both_and_the_ssml_split(aws_env):
    text = "&&&&&&&&&. " * 400  # 4,400 chars; escaped 20,400
    with FakePollyServer(s_per_char=0.0001) as fake:
        s = synth(fake, volume="loud")
        await collect_at(s, text, 1.3, voice="Lucia")
    calls = fake.speech_calls()
    assert len(calls) > 1
    for c in calls:
        assert len(c["Text"]) <= MAX_TOTAL_CHARS and c["TextType"] == "ssml"
        prosody = ET.fromstring(c["Text"]).find("prosody")
        assert prosody is not None and prosody.attrib == {"rate": "130%", "volume": "loud"}
    assert "".join(billed_text(c["Text"], "ssml") for c in calls) == text


@pytest.mark.parametrize("engine", ["standard", "neural", "long-form", "generative"])
async def test_every_engine_honours_prosody_rate_per_the_docs(aws_env, fake, engine):
    # Polly's prosody-tag page: standard fully, neural / long-form / generative volume and rate.
    assert PROSODY_RATE[engine] is True
    voice = "Danielle" if engine == "long-form" else "Joanna"
    s = synth(fake, engine=engine)
    assert s.rate_supported(voice)
    await collect_at(s, "Hello everyone.", 1.5, voice=voice, language="en")
    assert ET.fromstring(fake.speech_calls()[-1]["Text"]).find("prosody").get("rate") == "150%"


async def test_rate_supported_follows_the_engine_table(aws_env, fake, monkeypatch):
    monkeypatch.setattr(polly_synthesizer, "PROSODY_RATE", {**PROSODY_RATE, "generative": False})
    s = synth(fake, engine="generative")
    assert not s.rate_supported("Joanna")
    with pytest.raises(ConfigError, match="time-stretch"):
        s.synthesize_at("Hello.", voice="Joanna", language="en", speed=1.5)
    assert synth(fake, engine="neural").rate_supported("Joanna")
    assert fake.speech_calls() == []


async def test_rate_supported_false_without_a_percentage_or_a_voice(aws_env, fake):
    assert not synth(fake, rate="fast").rate_supported("Lucia")  # no documented percentage
    assert synth(fake, rate="medium").rate_supported("Lucia")
    s = synth(fake, engine="neural")
    assert s.rate_supported("Celine")  # catalogue not loaded yet: no blocking fetch
    assert fake.requests == []
    await s.load_voices()
    assert not s.rate_supported("Celine")  # standard only
    assert not s.rate_supported("Nobody")
    assert s.rate_supported("lucia")
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError):
            s.synthesize_at("hola", voice="Lucia", language="es", speed=bad)
