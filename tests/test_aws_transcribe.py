"""AwsTranscribeRecognizer against the fake HTTP/2 Transcribe server, with the real SDK."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from s2st_kit.engines.aws.transcribe import (
    AwsTranscribeRecognizer,
    TranscribeSettings,
    create_recognizer,
)
from s2st_kit.errors import (
    ConfigError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    UnsupportedLanguageError,
)
from s2st_kit.records import AudioChunk, Transcript
from tests.fakes import FAKE_SECRET_ACCESS_KEY, FAKE_SESSION_TOKEN, fake_aws_env
from tests.fakes.certs import make_self_signed_cert
from tests.fakes.transcribe_server import FakeTranscribeServer, Fault, Utterance, tone_clip

VOCAB = [
    Utterance(300.0, "good morning everyone.", "en-US"),
    Utterance(500.0, "thank you for coming.", "en-US"),
    Utterance(700.0, "buenos días a todos.", "es-US"),
    Utterance(900.0, "questions at the end.", "en-US"),
]
# (freq, start_s, end_s): three utterances in 4 s of audio.
PLAN = [(300.0, 0.3, 1.3), (500.0, 1.8, 2.6), (900.0, 3.1, 3.8)]
TEXTS = ["good morning everyone.", "thank you for coming.", "questions at the end."]


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    fake_aws_env(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


def server(cert, **kwargs) -> FakeTranscribeServer:
    kwargs.setdefault("vocabulary", VOCAB)
    return FakeTranscribeServer(cert, **kwargs)


def recognizer(fake: FakeTranscribeServer, **options) -> AwsTranscribeRecognizer:
    options.setdefault("connect_timeout_s", 3.0)
    options.setdefault("final_timeout_s", 5.0)
    options.setdefault("reconnect_backoff_s", 0.01)
    return AwsTranscribeRecognizer(
        endpoint_url=fake.endpoint_url, ca_bundle=fake.cert.cert_path, **options
    )


async def chunks_of(
    samples: np.ndarray,
    rate: int = 16000,
    *,
    chunk_s: float = 0.032,
    pace: float | None = None,
    gap_at_s: float | None = None,
    gap_s: float = 0.0,
) -> AsyncIterator[AudioChunk]:
    """Yield ``samples`` in odd-sized chunks (to test re-chunking), optionally paced (x real
    time) and with a wall-clock pause (no chunks) at ``gap_at_s`` of audio."""
    step = round(chunk_s * rate)
    for i in range(0, samples.size, step):
        part = samples[i : i + step]
        if gap_at_s is not None and i / rate >= gap_at_s:
            await asyncio.sleep(gap_s)
            gap_at_s = None
        yield AudioChunk(part.astype("<i2").tobytes(), rate, i / rate)
        if pace:
            await asyncio.sleep(part.size / rate / pace)
        else:
            await asyncio.sleep(0)


async def collect(rec, chunks, language="en") -> list[Transcript]:
    return [t async for t in rec.stream(chunks, language=language)]


def finals(results: list[Transcript]) -> list[Transcript]:
    return [t for t in results if t.is_final]


def assert_clean_session(results: list[Transcript], texts=TEXTS, plan=PLAN, tol=0.12) -> None:
    fin = finals(results)
    assert [t.text for t in fin] == texts
    assert [t.utterance_id for t in fin] == list(range(len(texts)))
    for t, (_, start, end) in zip(fin, plan, strict=True):
        assert abs(t.start_s - start) < tol, (t, start)
        assert abs(t.end_s - end) < tol, (t, end)
    # one final per utterance, partials before their final, ids never go back
    ids = [t.utterance_id for t in results]
    assert ids == sorted(ids)
    for uid in set(ids):
        mine = [t for t in results if t.utterance_id == uid]
        assert mine[-1].is_final and sum(t.is_final for t in mine) == 1


# ---------------------------------------------------------------------------------------------
async def test_partials_finals_stability_words_and_headers(aws_env, cert):
    with server(cert) as fake:
        rec = recognizer(
            fake,
            partial_results_stability="medium",
            vocabulary_name="vocab1",
            show_speaker_label=True,
            chunk_ms=100,
        )
        results = await collect(rec, chunks_of(tone_clip(PLAN)))
        await rec.aclose()
    assert_clean_session(results)
    partials = [t for t in results if not t.is_final]
    assert partials, "partials expected"
    # stable_text is a prefix of text, made of stable items only
    assert any(t.stable_text for t in partials)
    for t in partials:
        assert t.text.startswith(t.stable_text)
        stable_words = [w.text for w in t.words if w.stable]
        assert t.stable_text.split() == stable_words or t.stable_text == ""
    final0 = finals(results)[0]
    assert final0.stable_text == final0.text
    assert [w.text for w in final0.words] == ["good", "morning", "everyone"]
    assert all(w.stable for w in final0.words)
    assert final0.words[0].start_s == pytest.approx(0.3, abs=0.12)
    assert final0.language == "en" and rec.language_code_of(0) == "en-US"
    assert final0.speaker == "0" and final0.confidence == pytest.approx(0.93)
    headers = fake.streams[0].headers
    assert headers["x-amzn-transcribe-language-code"] == "en-US"
    assert headers["x-amzn-transcribe-sample-rate"] == "16000"
    assert headers["x-amzn-transcribe-media-encoding"] == "pcm"
    assert headers["x-amzn-transcribe-enable-partial-results-stabilization"] == "True"
    assert headers["x-amzn-transcribe-partial-results-stability"] == "medium"
    assert headers["x-amzn-transcribe-vocabulary-name"] == "vocab1"
    assert headers["x-amzn-transcribe-show-speaker-label"] == "True"
    assert "authorization" not in {k.lower() for k in headers}
    assert fake.streams[0].ended_by_client


async def test_uniform_chunks_of_configured_size(aws_env, cert):
    with server(cert) as fake:
        rec = recognizer(fake, chunk_ms=50)
        clip = tone_clip(PLAN)
        await collect(rec, chunks_of(clip, chunk_s=0.037))
    sizes = fake.streams[0].chunk_sizes
    assert set(sizes) == {1600}  # 50 ms at 16 kHz, last one padded
    assert fake.streams[0].n_samples == -(-clip.size // 800) * 800


@pytest.mark.parametrize("rate", [8000, 48000])
async def test_resampled_to_media_sample_rate(aws_env, cert, rate):
    with server(cert) as fake:
        rec = recognizer(fake, media_sample_rate_hz=rate, chunk_ms=100)
        assert rec.sample_rate == rate
        clip = tone_clip(PLAN, sample_rate=44100)
        results = await collect(rec, chunks_of(clip, 44100))
    stream = fake.streams[0]
    assert stream.headers["x-amzn-transcribe-sample-rate"] == str(rate)
    assert set(stream.chunk_sizes) == {rate // 10 * 2}
    assert abs(stream.audio_s - clip.size / 44100) < 0.11
    assert_clean_session(results)


async def test_identify_language_sends_options_and_maps_codes(aws_env, cert):
    plan = [(300.0, 0.3, 1.2), (700.0, 1.7, 2.6)]
    with server(cert) as fake:
        rec = recognizer(fake, language_options=["en-US", "es-US"], preferred_language="en-US")
        assert "auto" in rec.languages()
        results = await collect(rec, chunks_of(tone_clip(plan)), language="auto")
    headers = fake.streams[0].headers
    assert headers["x-amzn-transcribe-identify-language"] == "True"
    assert headers["x-amzn-transcribe-language-options"] == "en-US,es-US"
    assert headers["x-amzn-transcribe-preferred-language"] == "en-US"
    assert "x-amzn-transcribe-language-code" not in headers
    fin = finals(results)
    assert [t.language for t in fin] == ["en", "es"]
    assert [rec.language_code_of(t.utterance_id) for t in fin] == ["en-US", "es-US"]


async def test_identify_multiple_languages_and_other_parameters(aws_env, cert):
    with server(cert) as fake:
        rec = recognizer(
            fake,
            identify_multiple_languages=True,
            language_options=["en-US", "es-US", "fr-FR"],
            vocabulary_names=["v-en", "v-es"],
            vocabulary_filter_names=["f-en", "f-es"],
            vocabulary_filter_method="mask",
            content_identification_type="PII",
            pii_entity_types=["NAME", "ADDRESS"],
            session_id="11111111-2222-3333-4444-555555555555",
            enable_partial_results_stabilization=False,
        )
        await collect(rec, chunks_of(tone_clip([(300.0, 0.2, 0.8)])), language="auto")
    h = fake.streams[0].headers
    assert h["x-amzn-transcribe-identify-multiple-languages"] == "True"
    assert h["x-amzn-transcribe-language-options"] == "en-US,es-US,fr-FR"
    assert h["x-amzn-transcribe-vocabulary-names"] == "v-en,v-es"
    assert h["x-amzn-transcribe-vocabulary-filter-names"] == "f-en,f-es"
    assert h["x-amzn-transcribe-vocabulary-filter-method"] == "mask"
    assert h["x-amzn-transcribe-content-identification-type"] == "PII"
    assert h["x-amzn-transcribe-pii-entity-types"] == "NAME,ADDRESS"
    assert h["x-amzn-transcribe-session-id"] == "11111111-2222-3333-4444-555555555555"
    assert "x-amzn-transcribe-enable-partial-results-stabilization" not in h


async def test_fixed_locale_redaction_filter_and_language_model(aws_env, cert):
    with server(cert) as fake:
        rec = recognizer(
            fake,
            language_code="en-GB",
            vocabulary_filter_name="swears",
            vocabulary_filter_method="remove",
            content_redaction_type="PII",
            language_model_name="my-clm",
        )
        await collect(rec, chunks_of(tone_clip([(300.0, 0.2, 0.8)])), language="en")
    h = fake.streams[0].headers
    assert h["x-amzn-transcribe-language-code"] == "en-GB"
    assert h["x-amzn-transcribe-vocabulary-filter-name"] == "swears"
    assert h["x-amzn-transcribe-vocabulary-filter-method"] == "remove"
    assert h["x-amzn-transcribe-content-redaction-type"] == "PII"
    assert h["x-amzn-transcribe-language-model-name"] == "my-clm"


@pytest.mark.parametrize(
    ("options", "language", "error"),
    [
        ({"identify_language": True, "language_options": ["en-US"]}, "auto", ConfigError),
        ({}, "auto", ConfigError),
        ({}, "xx", UnsupportedLanguageError),
        ({"media_sample_rate_hz": 96000}, "en", ConfigError),
        ({"chunk_ms": 1000, "media_sample_rate_hz": 48000}, "en", ConfigError),
        ({"partial_results_stability": "extreme"}, "en", ConfigError),
        (
            {"content_redaction_type": "PII", "content_identification_type": "PII"},
            "en",
            ConfigError,
        ),
        ({"pii_entity_types": ["NAME"]}, "en", ConfigError),
        (
            {
                "identify_language": True,
                "language_options": ["en-US", "es-US"],
                "preferred_language": "fr-FR",
            },
            "auto",
            ConfigError,
        ),
        ({"vocabulary_filter_method": "mask"}, "en", ConfigError),
        ({"keepalive_s": 20}, "en", ConfigError),
    ],
)
async def test_bad_settings_fail_before_any_request(aws_env, options, language, error):
    with pytest.raises(error):
        rec = AwsTranscribeRecognizer(endpoint_url="https://127.0.0.1:9", **options)
        async for _ in rec.stream(chunks_of(np.zeros(160, np.int16)), language=language):
            pass


def test_factory_takes_bundle_options_and_rejects_typos(aws_env):
    rec = create_recognizer(
        region="eu-west-1",
        stability="low",
        polly_engine="neural",
        endpoint_urls={"transcribe": "https://127.0.0.1:1"},
        formality="FORMAL",
    )
    assert rec.settings.partial_results_stability == "low"
    with pytest.raises(ConfigError, match="unknown AWS engine option"):
        create_recognizer(languag_code="en-US")


def test_settings_object_and_keyword_options(aws_env):
    settings = TranscribeSettings(language_code="en-GB", chunk_ms=50)
    rec = AwsTranscribeRecognizer(settings=settings, endpoint_url="https://127.0.0.1:9")
    assert rec.settings is settings and rec.chunk_ms == 50 and rec.sample_rate == 16000
    rec = AwsTranscribeRecognizer(
        settings=settings, endpoint_url="https://127.0.0.1:9", chunk_ms=200, stability="low"
    )
    assert (rec.settings.language_code, rec.chunk_ms) == ("en-GB", 200)
    assert rec.settings.partial_results_stability == "low"
    with pytest.raises(ConfigError, match="unknown Transcribe option"):
        AwsTranscribeRecognizer(endpoint_url="https://127.0.0.1:9", chunk_size=100)
    with pytest.raises(ConfigError):
        TranscribeSettings(vocabulary_filter_method="blur")  # type: ignore[arg-type]  # on purpose


def test_every_setting_is_a_bundle_option():
    import dataclasses

    from s2st_kit.engines.aws.session import SERVICE_OPTIONS

    names = {f.name for f in dataclasses.fields(TranscribeSettings)}
    assert names <= SERVICE_OPTIONS["transcribe"]


def test_identification_options_are_sent_only_when_identifying():
    settings = TranscribeSettings(language_options=["en-US", "es-US"], preferred_language="es-US")
    fixed = settings.for_language("en").sdk_kwargs()
    assert fixed["language_code"] == "en-US"
    assert fixed["language_options"] is None and fixed["preferred_language"] is None
    auto = settings.for_language("auto").sdk_kwargs()
    assert auto["identify_language"] and auto["language_options"] == ["en-US", "es-US"]
    assert auto["language_code"] is None and auto["preferred_language"] == "es-US"
    with pytest.raises(ConfigError, match="language_code is required"):
        settings.sdk_kwargs()  # the session's language was never resolved


def test_settings_to_sdk_kwargs_match_sdk_signature():
    import inspect

    from amazon_transcribe.client import TranscribeStreamingClient

    params = inspect.signature(TranscribeStreamingClient.start_stream_transcription).parameters
    kwargs = TranscribeSettings(language_code="en-US", media_sample_rate_hz=16000).sdk_kwargs()
    assert set(kwargs) <= set(params)


# faults ---------------------------------------------------------------------------------------
async def test_bad_request_at_start_is_a_config_error_without_retry(aws_env, cert):
    with server(cert, faults={0: Fault("bad_request", message="Invalid vocabulary.")}) as fake:
        rec = recognizer(fake)
        with pytest.raises(ConfigError, match="Invalid vocabulary"):
            await collect(rec, chunks_of(tone_clip(PLAN)))
        assert len(fake.streams) == 1


@pytest.mark.parametrize(
    "kind", ["limit_exceeded", "service_unavailable", "internal_failure", "drop"]
)
async def test_mid_stream_fault_reconnects_and_loses_no_speech(aws_env, cert, kind):
    # The fault hits in the middle of the second utterance (1.8-2.6 s).
    with server(cert, faults={0: Fault(kind, at_audio_s=2.2)}) as fake:
        rec = recognizer(fake)
        results = await collect(rec, chunks_of(tone_clip(PLAN), pace=8.0))
        await rec.aclose()
    assert fake.streams[0].fault == kind
    assert len(fake.streams) == 2
    assert rec.stats["reconnects"] == 1
    assert_clean_session(results)
    # only audio after the last final (end of utterance 1, 1.3 s) was sent again
    resent = fake.streams[0].audio_s + fake.streams[1].audio_s - 4.8
    assert 0.4 < resent < 1.1


async def test_persistent_fault_gives_up_with_clear_error(aws_env, cert):
    faults = {i: Fault("service_unavailable", at_audio_s=0.0) for i in range(5)}
    with server(cert, faults=faults) as fake:
        rec = recognizer(fake, max_reconnects=2)
        with pytest.raises(EngineUnavailableError, match="ServiceUnavailable"):
            await collect(rec, chunks_of(tone_clip(PLAN)))
        assert len(fake.streams) == 3


async def test_server_that_never_answers_times_out(aws_env, cert):
    faults = {0: Fault("never_answer"), 1: Fault("never_answer")}
    with server(cert, faults=faults) as fake:
        rec = recognizer(fake, connect_timeout_s=0.5, max_reconnects=1)
        start = time.monotonic()
        with pytest.raises(EngineTimeoutError, match="did not answer"):
            await collect(rec, chunks_of(tone_clip(PLAN)))
        assert time.monotonic() - start < 4
        assert len(fake.streams) == 2


async def test_one_unanswered_start_is_retried(aws_env, cert):
    with server(cert, faults={0: Fault("never_answer")}) as fake:
        rec = recognizer(fake, connect_timeout_s=0.5)
        results = await collect(rec, chunks_of(tone_clip(PLAN)))
    assert_clean_session(results)


async def test_keepalive_prevents_the_silence_timeout(aws_env, cert):
    # The fake ends a stream after 0.6 s without audio; the source pauses for 1.5 s.
    with server(cert, silence_timeout_s=0.6) as fake:
        rec = recognizer(fake, keepalive_s=0.2)
        results = await collect(rec, chunks_of(tone_clip(PLAN), gap_at_s=1.5, gap_s=1.5))
    assert len(fake.streams) == 1 and not fake.streams[0].timed_out
    assert fake.streams[0].audio_s > 4.8 + 0.5  # keep-alive silence was streamed
    assert_clean_session(results)  # times are input positions despite the extra silence


async def test_without_keepalive_the_fake_times_out_and_we_recover(aws_env, cert):
    with server(cert, silence_timeout_s=0.6) as fake:
        rec = recognizer(fake, keepalive_s=None)
        results = await collect(rec, chunks_of(tone_clip(PLAN), gap_at_s=1.5, gap_s=1.5))
    assert fake.streams[0].timed_out
    assert len(fake.streams) >= 2  # the reconnected stream may time out in the pause too
    assert_clean_session(results)


async def test_stream_renewed_before_max_stream_s(aws_env, cert):
    with server(cert) as fake:
        rec = recognizer(fake, max_stream_s=1.0, renew_grace_s=2.0)
        results = await collect(rec, chunks_of(tone_clip(PLAN)))
    assert len(fake.streams) >= 2
    assert all(s.ended_by_client for s in fake.streams)
    assert_clean_session(results)


async def test_secret_never_in_errors_or_logs(aws_env, cert, caplog):
    caplog.set_level(logging.DEBUG, logger="s2st_kit")
    faults = {i: Fault("internal_failure", at_audio_s=0.0) for i in range(3)}
    with server(cert, faults=faults) as fake:
        rec = recognizer(fake, max_reconnects=1)
        with pytest.raises(EngineUnavailableError) as info:
            await collect(rec, chunks_of(tone_clip(PLAN)))
        recorded = repr(fake.streams[0].headers)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("s2st_kit"))
    assert "reconnecting" in ours  # the failure was logged...
    texts = [str(info.value), repr(info.value), repr(rec), ours, recorded]  # ...without secrets
    cause = info.value.__cause__
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__
    for text in texts:
        assert FAKE_SECRET_ACCESS_KEY not in text
        assert FAKE_SESSION_TOKEN not in text
        assert "Signature=" not in text


async def test_early_stop_by_consumer_cleans_up(aws_env, cert):
    with server(cert) as fake:
        rec = recognizer(fake)
        gen = rec.stream(chunks_of(tone_clip(PLAN), pace=4.0), language="en")
        first = await anext(gen)
        await gen.aclose()
        await rec.aclose()
        assert first.utterance_id == 0
        with pytest.raises(Exception, match="closed"):
            await collect(rec, chunks_of(tone_clip(PLAN)))
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not tasks


# one recognizer, many sessions ----------------------------------------------------------------
# (freq, start_s, end_s): a Spanish utterance, then two English ones.
PLAN_ES_EN = [(700.0, 0.3, 1.3), (300.0, 1.8, 2.6), (900.0, 3.1, 3.8)]


async def test_next_session_does_not_inherit_the_last_sessions_language_codes(aws_env, cert):
    # The notebook reuses one engine for every session. The locales used to live in one map
    # on the recognizer, so a new session's utterance 0 "had" the last session's locale.
    with server(cert) as fake:
        rec = recognizer(fake, language_options=["en-US", "es-US"])
        first = finals(await collect(rec, chunks_of(tone_clip(PLAN_ES_EN)), language="auto"))
        assert first[0].language == "es" and rec.language_code_of(0) == "es-US"
        second = rec.stream(chunks_of(tone_clip(PLAN)), language="en")
        assert rec.language_code_of(0) is None  # nothing heard yet in this session
        results = [t async for t in second]
        await rec.aclose()
    assert [t.language for t in finals(results)] == ["en"] * 3
    assert rec.language_code_of(0) == "en-US"


async def test_overlapping_sessions_keep_their_own_stats_and_language_codes(aws_env, cert):
    # Session A's first request drops mid-speech; session B, running at the same time on
    # the same recognizer, never fails. Stats and locales used to be one engine-wide copy.
    with server(cert, faults={0: Fault("drop", at_audio_s=2.2)}) as fake:
        rec = recognizer(fake, language_options=["en-US", "es-US"])
        a = rec.stream(chunks_of(tone_clip(PLAN_ES_EN), pace=6.0), language="auto")
        a_results = [await anext(a)]  # A's request is the first one (index 0: the fault)
        b = rec.stream(chunks_of(tone_clip(PLAN), pace=6.0), language="en")

        async def rest(stream) -> list[Transcript]:
            return [t async for t in stream]

        more_a, b_results = await asyncio.gather(rest(a), rest(b))
        await rec.aclose()
    a_results += more_a
    assert len(fake.streams) == 3 and fake.streams[0].fault == "drop"
    assert a.stats == {"streams": 2, "reconnects": 1, "dropped_resend_s": 0.0}
    assert b.stats == {"streams": 1, "reconnects": 0, "dropped_resend_s": 0.0}
    assert rec.stats == b.stats  # the recognizer shows the most recent session
    assert [t.text for t in finals(a_results)] == [
        "buenos días a todos.",
        "good morning everyone.",
        "questions at the end.",
    ]
    assert_clean_session(b_results)
    assert [a.language_code_of(i) for i in range(3)] == ["es-US", "en-US", "en-US"]
    assert [b.language_code_of(i) for i in range(3)] == ["en-US"] * 3


async def test_closing_the_recognizer_ends_a_session_in_progress(aws_env, cert):
    # aclose() used to cancel the session's task and leave its consumer waiting forever.
    with server(cert) as fake:
        rec = recognizer(fake)
        stream = rec.stream(chunks_of(tone_clip(PLAN), pace=2.0), language="en")
        await anext(stream)

        async def rest() -> list[Transcript]:
            return [t async for t in stream]

        consumer = asyncio.create_task(rest())
        await asyncio.sleep(0.05)
        await rec.aclose()
        with pytest.raises(EngineError, match="closed"):
            await asyncio.wait_for(consumer, 5.0)
        assert len(fake.streams) == 1
