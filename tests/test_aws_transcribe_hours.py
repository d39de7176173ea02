"""Hours-long Transcribe sessions, time-compressed: renewals, dropped connections, silence.

The real ``amazon-transcribe`` SDK talks to the HTTP/2 fake (tests/fakes/transcribe_server.py),
which hears tones as sentences (see :class:`~tests.fakes.transcribe_server.Utterance`) and
enforces the service's limits: a stream that carries more than ``max_stream_s`` of audio (the
4-hour limit) or receives no audio event for ``silence_timeout_s`` (the 15 s rule) is ended
with a BadRequestException. Both limits, and the recognizer's renewal interval and keep-alive,
are scaled down so that hours become seconds; the audio itself is unpaced where wall time does
not matter.

What is compared: the words the pipeline committed (its log, one row per final utterance)
against the words the input was made of (the plan of tones), in order — a word lost at a
boundary is missing from that sequence, a word heard twice (re-sent audio recognised again and
committed again) appears twice.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest

from s2st_kit import MemorySink, MemorySource, Pipeline, PipelineConfig
from s2st_kit.audio import PacedSink
from s2st_kit.audio.echo import EchoGuard
from s2st_kit.engines import Engines
from s2st_kit.engines.aws.transcribe import AwsTranscribeRecognizer, TranscribeSettings
from s2st_kit.engines.aws.transcribe.renewal import PauseTracker
from s2st_kit.engines.aws.transcribe.timeline import Frame, ResendBuffer
from s2st_kit.engines.simulated import SimulatedSynthesizer, SimulatedTranslator
from s2st_kit.errors import ConfigError, StreamClosedError
from s2st_kit.records import AudioChunk, Transcript
from tests.fakes import fake_aws_env
from tests.fakes.certs import make_self_signed_cert
from tests.fakes.transcribe_server import FakeTranscribeServer, Fault, Utterance, tone_clip

RATE = 16000
#: Tones 30 % or more apart (the fake tells tones within 15 % apart as the same sentence).
VOCAB = [
    Utterance(300.0, "alpha bravo charlie."),
    Utterance(420.0, "delta echo."),
    Utterance(560.0, "foxtrot golf hotel india."),
    Utterance(740.0, "juliet kilo."),
    Utterance(980.0, "lima mike november."),
    Utterance(1300.0, "oscar papa quebec romeo."),
]
TEXT_OF = {u.freq_hz: u.text for u in VOCAB}
#: The loudspeaker's sound, heard by the microphone while the echo guard mutes it.
ECHO = Utterance(1700.0, "this is the loudspeaker.")

Plan = list[tuple[float, float, float]]


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    fake_aws_env(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


def speech_plan(total_s: float, *, seed: int, start_s: float = 0.5) -> Plan:
    """Utterances of 0.5-1.5 s separated by pauses of 0.5-1.2 s, until ``total_s`` (s)."""
    rng = np.random.default_rng(seed)
    plan: Plan = []
    t = start_s
    while True:
        length = float(rng.uniform(0.5, 1.5))
        if t + length > total_s - 1.0:
            return plan
        plan.append(
            (VOCAB[int(rng.integers(len(VOCAB)))].freq_hz, round(t, 3), round(t + length, 3))
        )
        t += length + float(rng.uniform(0.5, 1.2))


def words(texts: list[str]) -> list[str]:
    """The words of ``texts``, lower case, without punctuation."""
    return [w for text in texts for w in re.findall(r"[a-záéíóúñ']+", text.lower())]


def said(plan: Plan) -> list[str]:
    return words([TEXT_OF[f] for f, _, _ in plan])


def first_difference(got: list[str], want: list[str]) -> str:
    """Where two word sequences part (for the assertion message)."""
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return f"word {i}: got {got[i : i + 6]}, want {want[i : i + 6]}"
    return f"lengths {len(got)} vs {len(want)}"


def recognizer(fake: FakeTranscribeServer, **options) -> AwsTranscribeRecognizer:
    options.setdefault("connect_timeout_s", 5.0)
    options.setdefault("final_timeout_s", 5.0)
    options.setdefault("reconnect_backoff_s", 0.01)
    return AwsTranscribeRecognizer(
        endpoint_url=fake.endpoint_url, ca_bundle=fake.cert.cert_path, **options
    )


async def run_pipeline(rec: AwsTranscribeRecognizer, clip: np.ndarray, *, policy: str = "final"):
    """The whole pipeline (Transcribe through the fake; instant simulated MT and TTS)."""
    engines = Engines(rec, SimulatedTranslator(), SimulatedSynthesizer())
    pipe = Pipeline(
        engines,
        PipelineConfig(source_lang="en", target_lang="es", policy=policy),
        source=MemorySource(clip, RATE, chunk_ms=100),
        sink=MemorySink(),
    )
    try:
        log = await pipe.run()
    finally:
        await engines.aclose()
    return pipe, log.to_pandas(), dict(rec.stats)


def fake_finals(fake: FakeTranscribeServer) -> list[str]:
    """Every final transcript the fake sent, over all its streams."""
    return [r["Alternatives"][0]["Transcript"] for s in fake.streams for r in s.finals]


def mid_utterance_drops(fake: FakeTranscribeServer) -> int:
    """Dropped streams whose last result was a partial (the drop cut an utterance)."""
    return sum(
        s.fault == "drop" and bool(s.results) and s.results[-1]["IsPartial"] for s in fake.streams
    )


# renewals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["final", "stable", "local-agreement"])
async def test_session_across_renewals_loses_and_duplicates_no_words(aws_env, cert, policy):
    # 4 h streams renewed after 3 h 50 min, compressed: the fake ends a stream at 24 s of audio,
    # the recognizer renews after 20 s (at a pause, or 3 s later at the latest).
    plan = speech_plan(110.0, seed=1)
    clip = tone_clip(plan, total_s=110.0)
    with FakeTranscribeServer(cert, vocabulary=VOCAB, max_stream_s=24.0) as fake:
        rec = recognizer(fake, max_stream_s=20.0, renew_grace_s=3.0)
        pipe, df, stats = await run_pipeline(rec, clip, policy=policy)
    renewals = len(fake.streams) - 1
    assert renewals >= 3, renewals
    assert all(s.ended_by_client and not s.over_limit and s.fault is None for s in fake.streams)
    # every renewal found a pause before the grace ran out (no word cut in two)
    assert all(s.audio_s < 23.0 - 0.05 for s in fake.streams[:-1]), [
        s.audio_s for s in fake.streams
    ]
    assert stats["reconnects"] == 0 and pipe.stats.recognizer_restarts == 0
    assert (df.status == "ok").all(), df[df.status != "ok"].error.tolist()
    committed, given = words(list(df.transcript)), said(plan)
    assert committed == given, first_difference(committed, given)
    if policy == "final":  # one row per utterance, at the utterance's place in the input
        assert len(df) == len(plan)
        assert np.allclose(df.audio_start_s, [p[1] for p in plan], atol=0.12)
    print(
        f"\nrenewal[{policy}]: audio {clip.size / RATE:.0f} s, renewals {renewals}, "
        f"words given {len(given)}, recognised by the fake {len(words(fake_finals(fake)))}, "
        f"committed {len(committed)}, rows {len(df)}"
    )


async def test_renewals_find_the_pauses_in_a_noisy_room(aws_env, cert):
    # Background noise at -34 dBFS (above the fixed -40 dBFS silence level): the pauses are
    # found against the noise floor, so renewals still fall between words.
    plan = speech_plan(70.0, seed=4)
    clip = tone_clip(plan, total_s=70.0)
    noise = np.random.default_rng(4).normal(0.0, 0.02 * 32767, clip.size)
    noisy = np.clip(clip + noise, -32768, 32767).astype(np.int16)
    with FakeTranscribeServer(
        cert, vocabulary=VOCAB, max_stream_s=24.0, rms_threshold=0.08
    ) as fake:
        rec = recognizer(fake, max_stream_s=20.0, renew_grace_s=3.0)
        _, df, _ = await run_pipeline(rec, noisy)
    assert len(fake.streams) >= 3
    assert all(s.audio_s < 23.0 - 0.05 for s in fake.streams[:-1]), [
        s.audio_s for s in fake.streams
    ]
    committed, given = words(list(df.transcript)), said(plan)
    assert committed == given, first_difference(committed, given)


async def test_without_renewal_the_fake_ends_the_stream_at_its_limit(aws_env, cert):
    # The control: renewing later than the fake's limit makes the fake end the stream with an
    # error; the session then fails, or restarts at the pipeline level and loses words.
    plan = speech_plan(40.0, seed=2)
    with FakeTranscribeServer(cert, vocabulary=VOCAB, max_stream_s=15.0) as fake:
        rec = recognizer(fake, max_stream_s=100.0)
        try:
            pipe, df, _ = await run_pipeline(rec, tone_clip(plan, total_s=40.0))
        except StreamClosedError as exc:
            assert "maximum duration" in str(exc)
        else:
            assert pipe.stats.recognizer_restarts >= 1
            assert words(list(df[df.status == "ok"].transcript)) != said(plan)
    assert fake.streams[0].over_limit


# dropped connections -------------------------------------------------------------------------
@pytest.mark.slow
async def test_long_session_with_a_dropped_connection_every_three_minutes(aws_env, cert):
    # 20 min of speech, unpaced (the recognizer waits for finals when the audio it sent runs
    # max_resend_s ahead of them); the fake drops the TCP connection after 170-190 s of audio
    # in each of the first 6 streams (re-sent audio included).
    total_s = 1200.0
    plan = speech_plan(total_s, seed=3)
    rng = np.random.default_rng(3)
    faults = {i: Fault("drop", at_audio_s=float(rng.uniform(170.0, 190.0))) for i in range(6)}
    with FakeTranscribeServer(cert, vocabulary=VOCAB, faults=faults) as fake:
        rec = recognizer(fake)
        pipe, df, stats = await run_pipeline(rec, tone_clip(plan, total_s=total_s))
    drops = sum(s.fault == "drop" for s in fake.streams)
    assert drops == 6 and len(fake.streams) == 7
    assert stats["reconnects"] == 6 and stats["dropped_resend_s"] == 0
    # The recognizer reconnects by itself and re-sends the audio since the last final: words
    # around each drop are committed once, no error rows, no pipeline-level restart.
    assert pipe.error is None and pipe.stats.recognizer_restarts == 0
    assert (df.status == "ok").all(), df[df.status != "ok"].error.tolist()
    committed, given = words(list(df.transcript)), said(plan)
    assert committed == given, first_difference(committed, given)
    heard = words(fake_finals(fake))
    mid = mid_utterance_drops(fake)
    print(
        f"\ndrops: audio {total_s:.0f} s, drops {drops} ({mid} mid-utterance), "
        f"words given {len(given)}, "
        f"recognised by the fake {len(heard)} (re-sent audio "
        f"{sum(s.audio_s for s in fake.streams) - total_s:.1f} s), committed {len(committed)}, duplicates "
        f"{len(committed) - len(given)}, error rows {(df.status != 'ok').sum()}"
    )


@pytest.mark.parametrize("policy", ["final", "stable", "local-agreement"])
async def test_drops_in_mid_utterance_commit_each_word_once_with_every_policy(
    aws_env, cert, policy
):
    # A drop every ~20 s of audio, half of them inside an utterance: the policies that commit
    # from partials see the utterance recognised again from its start on the new stream.
    total_s = 150.0
    plan = speech_plan(total_s, seed=5)
    rng = np.random.default_rng(5)
    faults = {i: Fault("drop", at_audio_s=float(rng.uniform(15.0, 25.0))) for i in range(6)}
    with FakeTranscribeServer(cert, vocabulary=VOCAB, faults=faults) as fake:
        rec = recognizer(fake)
        pipe, df, stats = await run_pipeline(rec, tone_clip(plan, total_s=total_s), policy=policy)
    assert sum(s.fault == "drop" for s in fake.streams) == 6 and stats["reconnects"] == 6
    assert mid_utterance_drops(fake) >= 2 and pipe.stats.recognizer_restarts == 0
    assert (df.status == "ok").all(), df[df.status != "ok"].error.tolist()
    committed, given = words(list(df.transcript)), said(plan)
    assert committed == given, first_difference(committed, given)
    print(
        f"\ndrops[{policy}]: audio {total_s:.0f} s, drops 6 ({mid_utterance_drops(fake)} "
        f"mid-utterance), words given {len(given)}, committed {len(committed)}"
    )


async def test_drops_during_a_long_break_count_per_window_of_audio(aws_env, cert):
    # A break (no speech, so no final result resets the count) with a drop every 11 s of audio:
    # 5 drops, at most 3 in any 30 s of audio (max_reconnects=3 per reconnect_window_s=30, the
    # service defaults 3 per 300 s compressed 10x). Sent at 5x real time they fall within
    # ~12 wall-clock seconds: counted in wall-clock time they would end the session; counted
    # in input audio, as the pipeline counts its restarts, they do not.
    plan = [(300.0, 0.5, 1.5), (560.0, 2.0, 3.0), (740.0, 60.0, 61.0), (980.0, 61.5, 62.5)]
    clip = tone_clip(plan, total_s=64.0)
    faults = {i: Fault("drop", at_audio_s=11.0) for i in range(5)}
    with FakeTranscribeServer(cert, vocabulary=VOCAB, faults=faults) as fake:
        rec = recognizer(fake, max_reconnects=3, reconnect_window_s=30.0, max_speed=5.0)
        pipe, df, stats = await run_pipeline(rec, clip)
    assert stats["reconnects"] == 5 and sum(s.fault == "drop" for s in fake.streams) == 5
    assert pipe.error is None and (df.status == "ok").all()
    assert list(df.transcript) == [TEXT_OF[f] for f, _, _ in plan]


async def test_a_drop_after_a_long_silence_resends_only_the_end_of_it(aws_env, cert, caplog):
    # 90 s of silence (a break, a muted microphone) with no final result in it: the re-send
    # buffer keeps only the last 0.5 s of it, so the drop in the silence re-sends little, no
    # audio is given up and no warning says so.
    plan = [(300.0, 0.5, 1.5), (560.0, 2.0, 3.0), (740.0, 95.0, 96.0), (980.0, 96.5, 97.5)]
    clip = tone_clip(plan, total_s=99.0)
    with FakeTranscribeServer(
        cert, vocabulary=VOCAB, faults={0: Fault("drop", at_audio_s=80.0)}
    ) as fake:
        rec = recognizer(fake)
        stream = rec.stream(MemorySource(clip, RATE, chunk_ms=100), language="en")
        results = [t async for t in stream]
        await rec.aclose()
    assert fake.streams[0].fault == "drop" and len(fake.streams) == 2
    resent_s = fake.streams[0].audio_s + fake.streams[1].audio_s - clip.size / RATE
    assert resent_s < 1.0, resent_s
    assert stream.stats["dropped_resend_s"] == 0
    assert "without a final result" not in caplog.text
    assert [t.text for t in results if t.is_final] == [TEXT_OF[f] for f, _, _ in plan]


# silence and muting --------------------------------------------------------------------------
# The service's 15 s no-audio rule and the 5 s keep-alive, compressed 10x.
TIMEOUT_S, KEEPALIVE_S, SCALE = 1.5, 0.5, 10.0


async def stalling_chunks(
    clip: np.ndarray, *, stall_at_s: float, stall_s: float, pace: float
) -> AsyncIterator[AudioChunk]:
    """``clip`` in 100 ms chunks at ``pace`` x real time, with no chunk at all for ``stall_s``
    (wall s) once ``stall_at_s`` of audio has been delivered (a stalled or muted source)."""
    step = RATE // 10
    for i in range(0, clip.size, step):
        if stall_at_s is not None and i / RATE >= stall_at_s:
            await asyncio.sleep(stall_s)
            stall_at_s = None
        yield AudioChunk(clip[i : i + step].tobytes(), RATE, i / RATE)
        await asyncio.sleep(0.1 / pace)


@pytest.mark.parametrize("keepalive", [True, False])
async def test_a_source_that_stalls_20_s_never_trips_the_15_s_timeout(aws_env, cert, keepalive):
    plan = [(300.0, 0.3, 1.1), (560.0, 1.6, 2.6), (740.0, 3.2, 4.0), (980.0, 4.5, 5.5)]
    clip = tone_clip(plan, total_s=6.0)
    stall_s = 20.0 / SCALE  # 20 s without any audio from the source
    with FakeTranscribeServer(cert, vocabulary=VOCAB, silence_timeout_s=TIMEOUT_S) as fake:
        rec = recognizer(fake, keepalive_s=KEEPALIVE_S if keepalive else None)
        chunks = stalling_chunks(clip, stall_at_s=3.0, stall_s=stall_s, pace=SCALE)
        results = [t async for t in rec.stream(chunks, language="en")]
        await rec.aclose()
    final_texts = [t.text for t in results if t.is_final]
    if not keepalive:  # the control: the fake does enforce the timeout
        assert fake.streams[0].timed_out
        return
    assert len(fake.streams) == 1 and not fake.streams[0].timed_out
    assert final_texts == [TEXT_OF[f] for f, _, _ in plan]
    keepalive_s = fake.streams[0].audio_s - clip.size / RATE
    assert keepalive_s > 0  # silence was streamed during the stall
    print(f"\nstall: {stall_s * SCALE:.0f} s (x{SCALE:g}), keep-alive audio {keepalive_s:.1f} s")


async def test_a_stalled_source_does_not_hold_the_stream_past_its_wall_clock_limit(aws_env, cert):
    # A source that stops delivering for long stretches sends keep-alive only (0.1 s of audio
    # per keepalive_s), so a stream's audio lags its age: renewal also counts wall-clock time,
    # and the stream is renewed during the stall before the fake's limit (3 s) ends it.
    plan = [(300.0, 0.2, 0.8), (560.0, 1.3, 1.9)]
    clip = tone_clip(plan, total_s=2.2)
    with FakeTranscribeServer(
        cert, vocabulary=VOCAB, silence_timeout_s=TIMEOUT_S, max_stream_s=3.0
    ) as fake:
        rec = recognizer(fake, keepalive_s=KEEPALIVE_S, max_stream_s=2.0, renew_grace_s=0.5)
        chunks = stalling_chunks(clip, stall_at_s=1.0, stall_s=4.0, pace=1.0)
        results = [t async for t in rec.stream(chunks, language="en")]
        await rec.aclose()
    assert len(fake.streams) >= 2 and not any(s.over_limit or s.timed_out for s in fake.streams)
    assert fake.streams[0].ended_by_client
    assert [t.text for t in results if t.is_final] == [TEXT_OF[f] for f, _, _ in plan]


class _Trigger:
    """A source that calls ``at(position_s)`` once its audio passes ``position_s``."""

    def __init__(self, inner: MemorySource, position_s: float, at: Callable[[], None]) -> None:
        self.inner, self.position_s, self.at = inner, position_s, at
        self.sample_rate = inner.sample_rate

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[AudioChunk]:
        async for chunk in self.inner:
            if self.at is not None and chunk.start_s >= self.position_s:
                self.at()
                self.at = None  # type: ignore[assignment]
            yield chunk

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_20_s_of_echo_guard_muting_never_trips_the_15_s_timeout(aws_env, cert):
    # The microphone hears speech, then the loudspeaker for 20 s (the echo), then speech.
    # The guard mutes the echo by replacing samples with zeros: audio events keep flowing,
    # so even without keep-alive the fake's no-audio timeout never fires.
    plan = [(300.0, 0.5, 1.5), (560.0, 2.0, 3.0), (ECHO.freq_hz, 5.5, 23.0), (740.0, 29.0, 30.0)]
    clip = tone_clip(plan, total_s=31.0)
    sink = PacedSink(sample_rate=RATE, speed=SCALE)
    played: list[asyncio.Task[None]] = []

    async def play(seconds: float) -> None:
        loudspeaker = np.full(round(seconds * RATE), 1000, np.int16)
        for i in range(0, loudspeaker.size, RATE // 10):
            await guard.sink.write(AudioChunk(loudspeaker[i : i + RATE // 10].tobytes(), RATE, 0.0))
        await guard.sink.drain()

    def start_playing() -> None:
        played.append(asyncio.create_task(play(20.0)))

    source = MemorySource(clip, RATE, chunk_ms=100, realtime=True, speed=SCALE)
    guard = EchoGuard(_Trigger(source, 4.0, start_playing), sink, tail_s=0.1)
    with FakeTranscribeServer(cert, vocabulary=[*VOCAB, ECHO], silence_timeout_s=TIMEOUT_S) as fake:
        rec = recognizer(fake, keepalive_s=None)
        results: list[Transcript] = [t async for t in rec.stream(guard.source, language="en")]
        await rec.aclose()
        await asyncio.gather(*played)
    muted = guard.muted_s
    assert muted >= 19.0, guard.muted_spans
    assert len(fake.streams) == 1 and not fake.streams[0].timed_out
    final_texts = [t.text for t in results if t.is_final]
    assert final_texts == [TEXT_OF[300.0], TEXT_OF[560.0], TEXT_OF[740.0]]
    print(f"\nmuting: {muted:.1f} s muted (x{SCALE:g}), streams {len(fake.streams)}, no timeout")


@pytest.mark.parametrize(
    "options",
    [
        {"max_stream_s": 14400.0},  # + the default 60 s of grace passes 4 h
        {"max_stream_s": 14000.0, "renew_grace_s": 401.0},
        {"max_stream_s": 0.0},
        {"reconnect_window_s": 0.0},
    ],
)
def test_renewal_and_reconnect_settings_that_cannot_work_are_refused(options):
    with pytest.raises(ConfigError):
        TranscribeSettings(**options)
    TranscribeSettings(max_stream_s=14340.0, reconnect_window_s=30.0)  # the edge is allowed


# the pure parts --------------------------------------------------------------------------------
def _frame(start_s: float, level: float, duration_s: float = 0.1) -> Frame:
    n = round(duration_s * RATE)
    pcm = (np.full(n, level * 32767) * np.sign(np.sin(np.arange(n)))).astype("<i2").tobytes()
    return Frame(pcm, start_s, duration_s)


def test_pause_tracker_follows_the_noise_floor():
    pause = PauseTracker()
    for i in range(50):  # 5 s of noise at 0.02: quiet against its own floor
        pause.add(_frame(i * 0.1, 0.02).pcm, 0.1)
    assert pause.paused and pause.floor == pytest.approx(0.02, rel=0.05)
    assert not pause.add(_frame(5.0, 0.3).pcm, 0.1) and not pause.paused  # speech
    assert pause.add(None, 0.1)  # keep-alive is quiet
    assert not pause.renew_due(10.0, 20.0, 3.0)  # not yet due
    pause.add(_frame(5.2, 0.02).pcm, 0.1)
    pause.add(_frame(5.3, 0.02).pcm, 0.1)
    assert pause.paused and pause.renew_due(20.5, 20.0, 3.0)
    pause.add(_frame(5.4, 0.3).pcm, 0.1)
    assert not pause.renew_due(22.9, 20.0, 3.0) and pause.renew_due(23.0, 20.0, 3.0)


async def test_resend_buffer_forgets_leading_silence_and_makes_room_on_finals():
    buf = ResendBuffer(2.0, lead_s=0.5)
    for i in range(30):  # 3 s of silence: only the last 0.5 s (and the frame before) kept
        buf.add(_frame(i * 0.1, 0.0), quiet=True)
    assert buf.duration_s == pytest.approx(0.6) and buf.dropped_s == 0
    for i in range(30, 50):  # 2 s of speech: full, the oldest silence given up
        buf.add(_frame(i * 0.1, 0.3), quiet=False)
    assert buf.full and buf.dropped_s == pytest.approx(0.6)
    assert not await buf.wait_for_room(0.01)  # no final: the wait times out...
    assert not await buf.wait_for_room(10.0)  # ...and the next one returns at once
    waiter = asyncio.create_task(buf.wait_for_room(10.0))
    buf.confirm(4.0)  # a final up to 4.0 s
    assert await waiter is True and not buf.full
    assert [f.start_s for f in buf] == pytest.approx(
        [4.0, 4.1, 4.2, 4.3, 4.4, 4.5, 4.6, 4.7, 4.8, 4.9]
    )
