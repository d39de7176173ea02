"""The pipeline end to end with simulated engines: order, timing, errors, lifecycle."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest
from conftest import SCRIPT, make_engines, pending_tasks, speechlike
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s2st_kit import (
    MemorySink,
    MemorySource,
    PacedSink,
    Pipeline,
    PipelineConfig,
    PipelineState,
    PipelineStateError,
    QueueOverflowError,
    SegmentLog,
    UnsupportedLanguageError,
    UnsupportedVoiceError,
)
from s2st_kit.engines.simulated import Faults, LatencyModel, LogNormal
from s2st_kit.errors import ConfigError, EngineError
from s2st_kit.records import SEGMENT_COLUMNS, Translation

DECOMP = ["asr_lag_s", "dispatch_s", "mt_s", "handoff_s", "tts_ttfb_s", "queue_s"]
TIMESTAMPS = [c for c in SEGMENT_COLUMNS if c.startswith("t_")]


def source(duration_s=10.0, *, rate=16000, realtime=False, speed=1.0, spans=None):
    spans = spans if spans is not None else [(a, b) for _, a, b in SCRIPT]
    return MemorySource(speechlike(duration_s, rate, spans), rate, realtime=realtime, speed=speed)


def check_log(df, n_rows):
    assert list(df["segment_id"]) == list(range(n_rows))
    ok = df[df.status == "ok"]
    total = ok[DECOMP].sum(axis=1)
    assert np.allclose(total, ok["ear_to_ear_s"], atol=1e-6, rtol=0)
    starts, ends = ok["t_play_start"].to_numpy(), ok["t_play_end"].to_numpy()
    assert (ends >= starts).all()
    assert (starts[1:] >= ends[:-1]).all(), "playback spans overlap"
    assert (np.diff(ok["audio_start_s"].to_numpy()) > 0).all(), "rows not in speech order"


async def test_run_instant_one_row_per_utterance(no_leaks):
    sink = MemorySink()
    log = await Pipeline(make_engines(), PipelineConfig(), source=source(), sink=sink).run()
    df = log.to_pandas()
    assert len(df) == len(SCRIPT)
    assert (df.status == "ok").all()
    assert list(df.transcript) == [s[0] for s in SCRIPT]
    assert list(df.translation) == [f"[es] {s[0]}" for s in SCRIPT]
    assert df[TIMESTAMPS].notna().all().all(), "every timestamp filled"
    check_log(df, len(SCRIPT))
    # speech positions come from the script
    assert np.allclose(df.audio_start_s, [s[1] for s in SCRIPT], atol=0.01)
    assert np.allclose(df.audio_end_s, [s[2] for s in SCRIPT], atol=0.01)
    # audio: the sink got all synthesized speech, non-silent
    assert sink.duration_s == pytest.approx(df.tts_audio_s.sum(), rel=1e-3)
    assert np.sqrt(np.mean((sink.audio() / 32768.0) ** 2)) > 0.01
    assert df.session_id.nunique() == 1 and set(df.policy) == {"final"}
    assert set(df.asr_engine) == {"simulated-asr"} and set(df.voice) == {"sim-es-1"}


async def test_realtime_cloud_like_latency_is_plausible():
    sink = PacedSink(MemorySink(), speed=8)
    pipe = Pipeline(
        make_engines(preset="cloud-like"),
        PipelineConfig(),
        source=source(realtime=True, speed=4),
        sink=sink,
    )
    df = (await pipe.run()).to_pandas()
    check_log(df, 3)
    # cloud-like final lag is drawn around 1.14 s; speech end is taken at delivery (4x speed)
    assert df.asr_lag_s.between(0.7, 2.5).all()
    assert df.mt_s.between(0.05, 0.5).all()
    assert df.tts_ttfb_s.between(0.1, 0.9).all()


async def test_events_in_order_for_each_segment():
    pipe = Pipeline(make_engines(), PipelineConfig(), source=source(), sink=MemorySink())
    seen = []
    pipe.subscribe(lambda ev: seen.append(ev))
    await pipe.run()
    kinds = [e.kind for e in seen]
    assert kinds[0] == "state" and seen[0].state == "running"
    assert kinds[-1] == "state" and seen[-1].state == "stopped"
    assert kinds.count("final") == 3 and kinds.count("segment") == 3 and "partial" in kinds
    for sid in range(3):
        order = [
            e.kind for e in seen
            if getattr(e, "segment_id", None) == sid
            and e.kind in ("committed", "translation", "audio_started", "audio_finished", "segment")
        ]  # fmt: skip
        assert order == ["committed", "translation", "audio_started", "audio_finished", "segment"]
    ts = [e.t for e in seen]
    assert ts == sorted(ts)


async def test_events_async_iterator_and_bad_subscriber():
    pipe = Pipeline(make_engines(), PipelineConfig(), source=source(), sink=MemorySink())

    def broken(ev):
        raise RuntimeError("UI bug")

    pipe.subscribe(broken)
    collected = []

    async def consume():
        async for ev in pipe.events():
            collected.append(ev.kind)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    log = await pipe.run()
    await asyncio.wait_for(consumer, 2)
    assert len(log) == 3 and collected.count("segment") == 3


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    lat=st.tuples(*[st.floats(0.0, 0.03) for _ in range(5)]),
    spread=st.floats(1.0, 3.0),
    seed=st.integers(0, 1000),
    inflight=st.integers(1, 4),
    policy=st.sampled_from(["final", "stable", "local-agreement"]),
    n_utts=st.integers(1, 6),
)
def test_property_order_no_overlap_exact_decomposition(lat, spread, seed, inflight, policy, n_utts):
    """Random stage latencies: speech order, no playback overlap, exact decomposition,
    and every utterance's words end up in rows exactly once."""
    script = [
        (f"Sentence number {i}, with some words. And more.", 0.3 + 1.2 * i, 1.2 + 1.2 * i)
        for i in range(n_utts)
    ]
    model = LatencyModel(
        asr_final_lag=LogNormal(lat[0], lat[0] * spread),
        asr_partial_lag=LogNormal(lat[1], lat[1] * spread),
        mt=LogNormal(lat[2], lat[2] * spread),
        tts_first_audio=LogNormal(lat[3], lat[3] * spread),
        tts_rtf=lat[4],
    )
    engines = make_engines(script, preset=model, seed=seed, stable_after_s=0.2)
    duration = 1.5 + 1.2 * n_utts
    src = MemorySource(np.zeros(int(16000 * duration), np.int16), 16000, realtime=True, speed=8)
    config = PipelineConfig(policy=policy, max_inflight=inflight, min_commit_words=2)

    async def go():
        return await Pipeline(
            engines, config, source=src, sink=PacedSink(MemorySink(), speed=40)
        ).run()

    df = asyncio.run(go()).to_pandas()
    check_log(df, len(df))
    assert (df.status == "ok").all()
    # each utterance: rows concatenate to its text exactly once; with "final", one row each
    by_utt = {}
    for row in df.itertuples():
        utt = next(
            i for i, (_, a, b) in enumerate(script) if a - 1e-6 <= row.audio_start_s <= b + 1e-6
        )
        by_utt.setdefault(utt, []).append(row.transcript)
    assert sorted(by_utt) == list(range(n_utts))
    for i, pieces in by_utt.items():
        assert " ".join(pieces) == script[i][0]
        if policy == "final":
            assert len(pieces) == 1


class FailingTranslator:
    """Wraps a translator; fails (not retryable) on texts containing ``needle``."""

    name = "failing-mt"

    def __init__(self, inner, needle):
        self.inner, self.needle = inner, needle

    def pairs(self):
        return self.inner.pairs()

    async def translate(self, text, *, source, target) -> Translation:
        if self.needle in text:
            raise EngineError("the service rejected this text", engine=self.name)
        return await self.inner.translate(text, source=source, target=target)

    async def aclose(self):
        pass


async def test_failing_segment_is_logged_and_session_goes_on(tmp_path):
    engines = make_engines()
    engines.translator = FailingTranslator(engines.translator, "streaming")
    errors = []
    pipe = Pipeline(
        engines, PipelineConfig(), source=source(), sink=MemorySink(), log_path=tmp_path / "s.jsonl"
    )
    pipe.subscribe(lambda ev: errors.append(ev) if ev.kind == "error" else None)
    df = (await pipe.run()).to_pandas()
    assert list(df.status) == ["ok", "error", "ok"]
    assert df.error[1] == "mt: the service rejected this text"
    assert df.t_tts_start.isna()[1] and df.translation[1] == ""
    assert errors and errors[0].segment_id == 1 and not errors[0].fatal
    assert pipe.state is PipelineState.STOPPED
    # the JSONL on disk equals the log
    assert SegmentLog.load(tmp_path / "s.jsonl").rows == pipe.log.rows


async def test_throttling_is_retried():
    faults = Faults(throttle_rate=0.3)
    pipe = Pipeline(
        make_engines(faults=faults, seed=3),
        PipelineConfig(stage_retries=6),
        source=source(),
        sink=MemorySink(),
    )
    df = (await pipe.run()).to_pandas()
    assert (df.status == "ok").all()
    assert pipe.stats.retries > 0


async def test_dropped_recognizer_stream_is_restarted():
    faults = Faults(drop_stream_at_s=(5.0,))  # in the middle of the second utterance
    engines = make_engines(faults=faults)
    pipe = Pipeline(engines, PipelineConfig(), source=source(), sink=MemorySink())
    df = (await pipe.run()).to_pandas()
    assert pipe.stats.recognizer_restarts == 1
    assert engines.recognizer.streams_started == 2
    assert list(df.status) == ["ok", "error", "ok"]
    assert "recognizer stream failed" in df.error[1]
    assert df.transcript[2] == SCRIPT[2][0]
    assert df.audio_start_s[2] == pytest.approx(SCRIPT[2][1], abs=0.11)


async def test_synthesizer_crash_mid_stream_is_a_segment_error():
    faults = Faults(crash_synthesis_calls=frozenset({1}))
    df = (
        await Pipeline(
            make_engines(faults=faults), PipelineConfig(), source=source(), sink=MemorySink()
        ).run()
    ).to_pandas()
    assert list(df.status) == ["ok", "error", "ok"]
    assert df.error[1].startswith("tts: simulated synthesizer crashed")


@pytest.mark.parametrize("drain", [True, False])
async def test_stop_mid_run_leaves_nothing_behind(drain, tmp_path, no_leaks):
    model = LatencyModel(
        asr_final_lag=LogNormal(0.3),
        mt=LogNormal(0.05),
        tts_first_audio=LogNormal(0.05),
        tts_rtf=0.1,
    )
    engines = make_engines(preset=model)
    pipe = Pipeline(
        engines, PipelineConfig(), source=source(realtime=True, speed=2),
        sink=PacedSink(MemorySink(), speed=2), log_path=tmp_path / "log.jsonl",
    )  # fmt: skip
    second_utterance = asyncio.Event()
    pipe.subscribe(
        lambda ev: second_utterance.set() if ev.kind == "partial" and ev.utterance_id == 1 else None
    )
    task = pipe.start()
    with pytest.raises(PipelineStateError):
        pipe.start()
    await asyncio.wait_for(second_utterance.wait(), 10)  # stop while it is being spoken
    log = await pipe.stop(drain=drain)
    assert task.done() and pipe.state is PipelineState.STOPPED
    assert pending_tasks() == []
    df = log.to_pandas()
    assert list(df.segment_id) == list(range(len(df)))
    if drain:
        # everything heard was finished: the second utterance as far as it was spoken
        assert list(df.status) == ["ok", "ok"]
        assert SCRIPT[1][0].startswith(df.transcript[1]) and df.transcript[1]
    else:
        assert len(df) <= 2 and set(df.status) <= {"ok", "dropped"}
        assert (df.status == "dropped").any()
        assert df[df.status == "dropped"].error.eq("stopped before playback").all()
    assert SegmentLog.load(tmp_path / "log.jsonl").rows == log.rows


async def test_unsupported_choices_fail_before_any_audio():
    class Spy(MemorySource):
        consumed = False

        def __aiter__(self):
            Spy.consumed = True
            return super().__aiter__()

    src = Spy(np.zeros(16000, np.int16), 16000)
    with pytest.raises(UnsupportedLanguageError, match="cannot translate 'en' → 'xx'"):
        await Pipeline(make_engines(), PipelineConfig(target_lang="xx"), source=src).run()
    with pytest.raises(UnsupportedLanguageError, match="does not recognise 'tlh'"):
        await Pipeline(make_engines(), PipelineConfig(source_lang="tlh"), source=src).run()
    with pytest.raises(UnsupportedVoiceError, match="try one of: sim-es-1, sim-es-2"):
        await Pipeline(make_engines(), PipelineConfig(voice="Lucia"), source=src).run()
    assert not Spy.consumed


def test_config_is_frozen_and_validated():
    cfg = PipelineConfig()
    with pytest.raises(AttributeError):
        cfg.chunk_ms = 50  # type: ignore[misc]
    assert cfg.replace(chunk_ms=50).chunk_ms == 50
    for bad in ({"chunk_ms": 5}, {"policy": "eager"}, {"overflow": "spill"}, {"max_inflight": 0}):
        with pytest.raises(ConfigError):
            PipelineConfig(**bad)


async def test_stereo_44k_input_is_converted():
    stereo = np.stack([speechlike(10, 44100, [(0.4, 3.0)])] * 2, axis=1)
    seen = []

    class Probe:
        name, sample_rate = "probe", 16000

        def __init__(self, inner):
            self.inner = inner

        def languages(self):
            return self.inner.languages()

        def stream(self, chunks, *, language):
            async def tap():
                async for c in chunks:
                    seen.append(c)
                    yield c

            return self.inner.stream(tap(), language=language)

        async def aclose(self):
            pass

    engines = make_engines()
    engines.recognizer = Probe(engines.recognizer)
    src = MemorySource(stereo, 44100)
    df = (
        await Pipeline(engines, PipelineConfig(chunk_ms=50), source=src, sink=MemorySink()).run()
    ).to_pandas()
    assert len(df) == 3
    assert {c.sample_rate for c in seen} == {16000}
    assert {c.n_samples for c in seen[:-1]} == {800}  # uniform 50 ms chunks
    assert sum(c.n_samples for c in seen) == pytest.approx(160000, abs=2)
    # positions are contiguous
    assert all(abs(b.start_s - a.end_s) < 1e-9 for a, b in itertools.pairwise(seen))


async def test_sink_rate_conversion():
    sink = MemorySink(sample_rate=8000)
    df = (
        await Pipeline(make_engines(), PipelineConfig(), source=source(), sink=sink).run()
    ).to_pandas()
    assert {c.sample_rate for c in sink.chunks} == {8000}
    assert sink.duration_s == pytest.approx(df.tts_audio_s.sum(), abs=0.01)


class SlowTranslator:
    name = "slow-mt"

    def __init__(self, delay):
        self.delay = delay

    def pairs(self):
        return frozenset({("en", "es")})

    async def translate(self, text, *, source, target):
        await asyncio.sleep(self.delay)
        return Translation(text.upper(), text, source, target, self.name)

    async def aclose(self):
        pass


def many_utterances(n):
    return [(f"utterance {i} is here.", 0.1 + 0.3 * i, 0.3 + 0.3 * i) for i in range(n)]


async def test_overflow_drop_oldest_logs_dropped_segments():
    engines = make_engines(many_utterances(12))
    engines.translator = SlowTranslator(0.05)
    cfg = PipelineConfig(segment_queue_size=1, max_inflight=1, overflow="drop-oldest")
    pipe = Pipeline(engines, cfg, source=source(4, spans=[]), sink=MemorySink())
    df = (await pipe.run()).to_pandas()
    assert len(df) == 12 and list(df.segment_id) == list(range(12))
    assert (df.status == "dropped").sum() == pipe.stats.dropped_segments > 0
    assert df[df.status == "dropped"].error.str.contains("overflow=drop-oldest").all()
    assert df.status.iloc[-1] == "ok"  # the newest survives


async def test_overflow_error_stops_with_clear_error_and_keeps_log(tmp_path):
    engines = make_engines(many_utterances(12))
    engines.translator = SlowTranslator(0.05)
    cfg = PipelineConfig(segment_queue_size=1, max_inflight=1, overflow="error")
    pipe = Pipeline(
        engines, cfg, source=source(4, spans=[]), sink=MemorySink(), log_path=tmp_path / "l.jsonl"
    )
    with pytest.raises(QueueOverflowError, match="segment queue is full"):
        await pipe.run()
    assert pipe.state is PipelineState.FAILED
    assert pending_tasks() == []
    assert SegmentLog.load(tmp_path / "l.jsonl").rows == pipe.log.rows


async def test_overflow_block_applies_back_pressure():
    engines = make_engines(many_utterances(12))
    engines.translator = SlowTranslator(0.01)
    cfg = PipelineConfig(segment_queue_size=1, audio_queue_size=1, max_inflight=1, overflow="block")
    df = (
        await Pipeline(engines, cfg, source=source(4, spans=[]), sink=MemorySink()).run()
    ).to_pandas()
    assert len(df) == 12 and (df.status == "ok").all()


async def test_overlapping_translation_keeps_playback_order():
    """A slow translation of segment 0 must not let segment 1 play first."""

    class Uneven(SlowTranslator):
        async def translate(self, text, *, source, target):
            await asyncio.sleep(0.3 if "0" in text else 0.0)
            return Translation(text, text, source, target, self.name)

    engines = make_engines(many_utterances(3))
    engines.translator = Uneven(0)
    df = (
        await Pipeline(
            engines, PipelineConfig(max_inflight=3), source=source(2, spans=[]), sink=MemorySink()
        ).run()
    ).to_pandas()
    check_log(df, 3)
    # segment 1 was translated while 0 was still translating (overlap), yet played after it
    assert df.t_mt_end[1] < df.t_mt_end[0]
    assert df.t_play_start[1] >= df.t_play_end[0]


async def test_record_input_saves_the_converted_audio(tmp_path):
    import soundfile as sf

    src = MemorySource(speechlike(10, 22050, [(0.4, 3.0)]), 22050)
    pipe = Pipeline(
        make_engines(),
        PipelineConfig(),
        source=src,
        sink=MemorySink(),
        record_input=tmp_path / "in.wav",
    )
    await pipe.run()
    info = sf.info(tmp_path / "in.wav")
    assert info.samplerate == 16000 and info.frames == pytest.approx(160000, abs=2)


async def test_refused_session_tells_subscribers():
    pipe = Pipeline(make_engines(), PipelineConfig(target_lang="xx"), source=source())
    seen = []
    pipe.subscribe(seen.append)
    with pytest.raises(UnsupportedLanguageError):
        await pipe.run()
    assert [e.kind for e in seen] == ["state", "error"]
    assert seen[0].state == "failed" and seen[1].fatal and "'xx'" in seen[1].message
    assert pipe.state is PipelineState.FAILED


async def test_commit_events_carry_the_utterance():
    pipe = Pipeline(
        make_engines(),
        PipelineConfig(policy="local-agreement", min_commit_words=1),
        source=source(),
        sink=MemorySink(),
    )
    commits = []
    pipe.subscribe(lambda ev: commits.append(ev) if ev.kind == "committed" else None)
    await pipe.run()
    assert {c.utterance_id for c in commits} == {0, 1, 2}
    for uid in range(3):
        assert " ".join(c.text for c in commits if c.utterance_id == uid) == SCRIPT[uid][0]


@pytest.mark.parametrize("realtime", [True, False])
async def test_speech_end_is_when_it_was_spoken(realtime):
    """With a paced source, waiting for a chunk to fill counts as latency (larger chunks cost)."""
    script = [("One two three.", 0.2, 1.05), ("Four five six.", 1.6, 2.45)]
    src = MemorySource(
        np.zeros(16000 * 3, np.int16), 16000, chunk_ms=400, realtime=realtime, speed=4
    )
    cfg = PipelineConfig(chunk_ms=400)
    df = (
        await Pipeline(make_engines(script), cfg, source=src, sink=MemorySink()).run()
    ).to_pandas()
    # utterances end 0.15 s and 0.35 s of audio before their 400 ms chunk ends (1.2 s, 2.8 s)
    fill = np.array([1.2 - 1.05, 2.8 - 2.45]) / 4
    if realtime:
        assert np.allclose(df.asr_lag_s, fill, atol=0.02)
    else:
        assert (df.asr_lag_s < 0.02).all()


# -- foundations: regression tests ------------------------------------------------------------
LONG_SCRIPT = [
    (f"Sentence number {i} of a long talk.", 10.0 * i + 1.0, 10.0 * i + 6.0) for i in range(30)
]


async def test_long_session_survives_a_dropped_stream_every_fifty_seconds():
    """Six drops in five minutes of audio: the old cap (3 per session) failed the session."""
    drops = (21.0, 71.0, 121.0, 171.0, 221.0, 271.0)  # inside utterances 2, 7, 12, …
    engines = make_engines(LONG_SCRIPT, faults=Faults(drop_stream_at_s=drops))
    src = source(300.0, spans=[(a, b) for _, a, b in LONG_SCRIPT])
    pipe = Pipeline(engines, PipelineConfig(), source=src, sink=MemorySink())
    df = (await pipe.run()).to_pandas()
    assert pipe.stats.recognizer_restarts == len(drops)
    assert pipe.state is PipelineState.STOPPED
    assert engines.recognizer.streams_started == len(drops) + 1
    assert set(df.transcript[df.status == "ok"]) >= {t for t, a, _ in LONG_SCRIPT if a > 272}
    assert df.transcript.iloc[-1] == LONG_SCRIPT[-1][0]


async def test_a_stream_that_keeps_failing_still_ends_the_session():
    engines = make_engines(faults=Faults(drop_stream_at_s=(1.0, 2.0, 3.5, 5.0)))
    pipe = Pipeline(engines, PipelineConfig(), source=source(), sink=MemorySink())
    with pytest.raises(EngineError, match="stream"):
        await pipe.run()
    assert pipe.stats.recognizer_restarts == 3  # the budget: 3 restarts per 120 s of audio
    assert pipe.state is PipelineState.FAILED


class _CaptureDied(MemorySource):
    """A paced source whose capture thread dies when the session is being torn down."""

    def __aiter__(self):
        return self._iter()

    async def _iter(self):
        try:
            async for chunk in super().__aiter__():
                yield chunk
        except asyncio.CancelledError:
            from s2st_kit.errors import DeviceError

            raise DeviceError("capture device vanished") from None


async def test_every_error_of_a_failed_session_is_kept_and_logged(caplog):
    """Two tasks fail together: the old code kept the first and dropped the second unlogged."""

    class Buggy(type(make_engines().recognizer)):
        def stream(self, chunks, *, language):
            async def gen():
                async for chunk in chunks:
                    if chunk.end_s > 1.0:
                        raise RuntimeError("recognizer bug")
                yield  # pragma: no cover

            return gen()

    engines = make_engines()
    engines.recognizer = Buggy(SCRIPT, preset="instant")
    spans = [(a, b) for _, a, b in SCRIPT]
    src = _CaptureDied(speechlike(10.0, 16000, spans), 16000, realtime=True, speed=8)
    pipe = Pipeline(engines, PipelineConfig(), source=src, sink=MemorySink())
    with caplog.at_level("ERROR", logger="s2st_kit.pipeline"), pytest.raises(Exception) as info:
        await pipe.run()
    assert "recognizer bug" in str(info.value)
    assert [type(e).__name__ for e in pipe.errors] == ["RuntimeError", "DeviceError"]
    assert any("capture device vanished" in note for note in pipe.error.__notes__)
    assert any("capture device vanished" in r.getMessage() for r in caplog.records)


async def test_a_recognizer_that_gives_up_still_plays_what_was_heard():
    """Segments committed before a fatal recognizer error are translated and played first."""
    engines = make_engines(faults=Faults(drop_stream_at_s=(8.5,)))
    pipe = Pipeline(
        engines, PipelineConfig(recognizer_restarts=0), source=source(), sink=MemorySink()
    )
    with pytest.raises(EngineError, match="dropped"):
        await pipe.run()
    df = pipe.log.to_pandas()
    assert list(df.status[:2]) == ["ok", "ok"]  # heard before the failure: played
    assert list(df.transcript[:2]) == [s[0] for s in SCRIPT[:2]]
    assert pipe.state is PipelineState.FAILED


async def test_coroutine_subscriber_errors_are_logged(caplog):
    seen = []

    async def broken(ev):
        seen.append(ev)
        raise ValueError("subscriber bug")

    pipe = Pipeline(make_engines(), PipelineConfig(), source=source(), sink=MemorySink())
    pipe.subscribe(broken)
    with caplog.at_level("ERROR", logger="s2st_kit.pipeline"):
        await pipe.run()
        for _ in range(3):
            await asyncio.sleep(0)  # the last events' tasks finish
    failures = [r for r in caplog.records if "subscriber" in r.getMessage()]
    assert seen and len(failures) == len(seen)
    assert failures[0].exc_info[0] is ValueError
    assert pipe.bus.failures == len(seen)


async def test_engine_retries_inside_stage_retries_do_not_multiply():
    """A translator with its own retry (5 attempts) inside 2 stage retries: 3 calls, not 15."""
    from s2st_kit.errors import ThrottledError
    from s2st_kit.retry import RetryPolicy, retry_call

    class RetryingTranslator:
        name = "throttled-mt"

        def __init__(self):
            self.calls = 0

        def pairs(self):
            return frozenset({("en", "es")})

        async def _once(self):
            self.calls += 1
            raise ThrottledError("rate exceeded", retry_after_s=0.0)

        async def translate(self, text, *, source, target):
            return await retry_call(self._once, policy=RetryPolicy(max_attempts=5, base_s=0.001))

        async def aclose(self):
            pass

    engines = make_engines(SCRIPT[:1])
    engines.translator = mt = RetryingTranslator()
    pipe = Pipeline(engines, PipelineConfig(stage_retries=2), source=source(4.0), sink=MemorySink())
    df = (await pipe.run()).to_pandas()
    assert list(df.status) == ["error"]
    assert mt.calls == 3
    assert pipe.stats.retries == 2


async def test_a_synchronous_load_runs_off_the_loop_before_the_clock_starts():
    import threading

    loaded = []

    class LoadingSynth(type(make_engines().synthesizer)):
        def load(self):  # a plain function: the old pipeline skipped it silently
            loaded.append(threading.current_thread() is threading.main_thread())

    engines = make_engines()
    engines.synthesizer = LoadingSynth(preset="instant")
    await Pipeline(engines, PipelineConfig(), source=source(), sink=MemorySink()).run()
    assert loaded == [False]  # ran once, in a worker thread


async def test_a_refused_session_closes_its_source_and_sink():
    """Validation fails before the clock starts: the source and sink are closed all the same."""

    class Observed(MemorySink):
        closed = 0

        async def aclose(self):
            Observed.closed += 1
            await super().aclose()

    class ObservedSource(MemorySource):
        closed = 0

        async def aclose(self):
            ObservedSource.closed += 1
            await super().aclose()

    src = ObservedSource(speechlike(1.0), 16000)
    pipe = Pipeline(make_engines(), PipelineConfig(target_lang="xx"), source=src, sink=Observed())
    with pytest.raises(UnsupportedLanguageError):
        await pipe.run()
    assert ObservedSource.closed == 1 and Observed.closed == 1
    assert pipe.state is PipelineState.FAILED


async def test_a_stream_the_engine_gave_up_on_is_not_restarted_again():
    """The engine already reconnected as often as it may (spent): no second layer of restarts."""
    from s2st_kit.errors import StreamClosedError
    from s2st_kit.retry import mark_spent

    class GivesUp(type(make_engines().recognizer)):
        def stream(self, chunks, *, language):
            async def gen():
                async for _ in chunks:
                    raise mark_spent(StreamClosedError("reconnects used up", engine="x"))
                    yield  # pragma: no cover

            return gen()

    engines = make_engines()
    engines.recognizer = GivesUp(SCRIPT, preset="instant")
    pipe = Pipeline(engines, PipelineConfig(), source=source(), sink=MemorySink())
    with pytest.raises(StreamClosedError, match="reconnects used up"):
        await pipe.run()
    assert pipe.stats.recognizer_restarts == 0
