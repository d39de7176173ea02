"""The whole pipeline with the three AWS engines against the three loopback fakes."""

from __future__ import annotations

import json

import numpy as np
import pytest

pipeline = pytest.importorskip("s2st_kit.pipeline", reason="s2st_kit.pipeline not written yet")

from s2st_kit.audio import MemorySink  # noqa: E402
from s2st_kit.audio.memory import MemorySource  # noqa: E402
from s2st_kit.config import PipelineConfig  # noqa: E402
from s2st_kit.engines import Engines  # noqa: E402
from s2st_kit.engines.aws.polly import AwsPollySynthesizer  # noqa: E402
from s2st_kit.engines.aws.transcribe import AwsTranscribeRecognizer  # noqa: E402
from s2st_kit.engines.aws.translate import AwsTranslator  # noqa: E402
from s2st_kit.errors import EngineUnavailableError  # noqa: E402
from tests.fakes import fake_aws_env  # noqa: E402
from tests.fakes.certs import make_self_signed_cert  # noqa: E402
from tests.fakes.polly_server import FakePollyServer  # noqa: E402
from tests.fakes.transcribe_server import FakeTranscribeServer, Fault, Utterance, tone_clip  # noqa: E402
from tests.fakes.translate_server import FakeTranslateServer  # noqa: E402

Pipeline = pipeline.Pipeline

VOCAB = [
    Utterance(300.0, "good morning everyone.", "en-US"),
    Utterance(500.0, "hello world.", "en-US"),
    Utterance(900.0, "questions at the end.", "en-US"),
]
PLAN = [(300.0, 0.3, 1.3), (500.0, 1.8, 2.6), (900.0, 3.1, 3.8)]
EXPECTED = ["buenos días todos.", "hola mundo.", "preguntas al el final."]


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    fake_aws_env(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


def engines(ts, tr, po, **rec_options) -> Engines:
    rec_options.setdefault("reconnect_backoff_s", 0.01)
    return Engines(
        AwsTranscribeRecognizer(
            endpoint_url=ts.endpoint_url,
            ca_bundle=ts.cert.cert_path,
            connect_timeout_s=3,
            final_timeout_s=5,
            **rec_options,
        ),
        AwsTranslator(
            endpoint_url=tr.endpoint_url, backoff_base_s=0.001, backoff_cap_s=0.01, max_attempts=2
        ),
        AwsPollySynthesizer(endpoint_url=po.endpoint_url, backoff_base_s=0.001),
    )


def source(speed: float | None = None) -> MemorySource:
    clip = tone_clip(PLAN)
    if speed is None:
        return MemorySource(clip, 16000, chunk_ms=100)
    return MemorySource(clip, 16000, chunk_ms=100, realtime=True, speed=speed)


async def test_clip_in_translated_speech_and_complete_log_out(aws_env, cert, tmp_path):
    with (
        FakeTranscribeServer(cert, vocabulary=VOCAB) as ts,
        FakeTranslateServer() as tr,
        FakePollyServer(ttfb_s=0.02, pace=20.0) as po,
    ):
        eng = engines(ts, tr, po)
        sink = MemorySink()
        log_path = tmp_path / "session.jsonl"
        pipe = Pipeline(
            eng,
            PipelineConfig(source_lang="en", target_lang="es"),
            source=source(),
            sink=sink,
            log_path=log_path,
        )
        log = await pipe.run()
        await eng.aclose()
    df = log.to_pandas()
    assert list(df.transcript) == [u.text for u in VOCAB]
    assert list(df.translation) == EXPECTED
    assert (df.status == "ok").all()
    assert set(df.asr_engine) == {"aws-transcribe"} and set(df.mt_engine) == {"aws-translate"}
    assert set(df.tts_engine) == {"aws-polly"} and set(df.voice) == {"Lucia"}
    assert np.allclose(df.audio_start_s, [p[1] for p in PLAN], atol=0.12)
    assert np.allclose(df.audio_end_s, [p[2] for p in PLAN], atol=0.12)
    assert (
        df[
            [
                "t_asr_final",
                "t_mt_start",
                "t_mt_end",
                "t_tts_first_audio",
                "t_play_start",
                "t_play_end",
            ]
        ]
        .notna()
        .all()
        .all()
    )
    assert sink.duration_s == pytest.approx(df.tts_audio_s.sum(), rel=1e-3)
    assert sink.duration_s > 1.0 and np.abs(sink.audio()).max() > 3000
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert len(rows) == 3
    # every request carried the stage's parameters
    assert ts.streams[0].headers["x-amzn-transcribe-language-code"] == "en-US"
    assert {c["TargetLanguageCode"] for c in tr.translate_calls()} == {"es"}
    assert {c["VoiceId"] for c in po.speech_calls()} == {"Lucia"}


async def test_transient_faults_do_not_lose_anything(aws_env, cert):
    # Transcribe drops mid-utterance; Translate throttles twice (retried inside the engine).
    with (
        FakeTranscribeServer(
            cert, vocabulary=VOCAB, faults={0: Fault("drop", at_audio_s=2.2)}
        ) as ts,
        FakeTranslateServer(throttle=2) as tr,
        FakePollyServer(throttle=1) as po,
    ):
        eng = engines(ts, tr, po)
        log = await Pipeline(
            eng,
            PipelineConfig(source_lang="en", target_lang="es"),
            source=source(),
            sink=MemorySink(),
        ).run()
        await eng.aclose()
    df = log.to_pandas()
    assert len(ts.streams) == 2 and tr.throttled == 2 and po.throttled == 1
    assert list(df.transcript) == [u.text for u in VOCAB]
    assert (df.status == "ok").all()


async def test_fatal_recognizer_fault_stops_with_clear_error_keeping_the_log(
    aws_env, cert, tmp_path
):
    # Stream 0 fails during the third utterance and every later stream fails at once: the
    # recognizer gives up after its reconnects, the pipeline after its stream restarts.
    faults = {0: Fault("service_unavailable", at_audio_s=3.5)}
    faults |= {i: Fault("service_unavailable", at_audio_s=0.0) for i in range(1, 40)}
    with (
        FakeTranscribeServer(cert, vocabulary=VOCAB, faults=faults) as ts,
        FakeTranslateServer() as tr,
        FakePollyServer() as po,
    ):
        eng = engines(ts, tr, po, max_reconnects=1)
        log_path = tmp_path / "session.jsonl"
        pipe = Pipeline(
            eng,
            PipelineConfig(source_lang="en", target_lang="es"),
            source=source(speed=2.0),
            sink=MemorySink(),
            log_path=log_path,
        )
        with pytest.raises(EngineUnavailableError, match="ServiceUnavailable"):
            await pipe.run()
        await eng.aclose()
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert len(rows) == len(pipe.log) >= 2  # what was logged is on disk
    assert [r["transcript"] for r in rows[:2]] == [u.text for u in VOCAB[:2]]
    assert all(r["status"] == "ok" for r in rows[:2])


async def test_translation_failure_is_logged_per_segment_and_session_goes_on(aws_env, cert):
    with (
        FakeTranscribeServer(cert, vocabulary=VOCAB) as ts,
        FakeTranslateServer(unsupported_pairs={("en", "es")}) as tr,
        FakePollyServer() as po,
    ):
        eng = engines(ts, tr, po)
        log = await Pipeline(
            eng,
            PipelineConfig(source_lang="en", target_lang="es"),
            source=source(),
            sink=MemorySink(),
        ).run()
        await eng.aclose()
    df = log.to_pandas()
    assert len(df) == 3 and (df.status == "error").all()
    assert df.error.str.contains("Unsupported language pair").all()


async def test_session_config_reaches_transcribe(aws_env, cert):
    """The pipeline hands chunk_ms and stability to the recognizer before the stream opens."""
    with (
        FakeTranscribeServer(cert, vocabulary=VOCAB) as ts,
        FakeTranslateServer() as tr,
        FakePollyServer(ttfb_s=0.0, pace=50.0) as po,
    ):
        eng = engines(ts, tr, po)
        cfg = PipelineConfig(source_lang="en", target_lang="es", chunk_ms=50, stability="low")
        log = await Pipeline(eng, cfg, source=source(), sink=MemorySink()).run()
        await eng.aclose()
    assert len(log) == 3
    sizes = ts.streams[0].chunk_sizes
    assert max(sizes) == 1600  # 50 ms of 16 kHz PCM16
    assert ts.streams[0].headers["x-amzn-transcribe-partial-results-stability"] == "low"
