"""The words table, the playback timeline, per-word lag — and word timing in real sessions."""

from __future__ import annotations

import json

import pytest

from s2st_kit.records import Segment, WordMark
from s2st_kit.word_lag import word_lag, word_lag_summary
from s2st_kit.words import (
    WORD_COLUMNS,
    PlayTimeline,
    WordLog,
    estimate_marks,
    mark_spans,
    segment_rows,
    words_path,
)


def _seg(sid: int = 0, listener: str | None = "es") -> Segment:
    return Segment("sess", sid, "en", "es", listener=listener, party=None)


# -- the table ------------------------------------------------------------------------------
def test_word_log_jsonl_parquet_round_trip(tmp_path) -> None:
    path = words_path(tmp_path / "s.jsonl", suffix=".jsonl")
    assert (
        path.name == "s.words.jsonl"
        and words_path(tmp_path / "s.parquet").name == "s.words.parquet"
    )
    log = WordLog(path)
    log.extend(segment_rows(_seg(), "source", [("hello", 1.0, 1.4), ("world", 1.5, 2.0)]))
    log.extend(segment_rows(_seg(), "target", [("hola", 3.0, 3.3)], estimated=True))
    log.flush()
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and list(json.loads(lines[0])) == list(WORD_COLUMNS)
    log.close()
    df = WordLog.load(path).to_pandas()
    assert list(df.columns) == list(WORD_COLUMNS)
    assert df.word.tolist() == ["hello", "world", "hola"] and df.estimated.tolist() == [
        False,
        False,
        True,
    ]
    back = WordLog.load(WordLog.load(path).save(tmp_path / "w.parquet")).to_pandas()
    assert back.equals(df)


def test_word_log_skips_a_torn_last_line(tmp_path) -> None:
    path = tmp_path / "w.jsonl"
    log = WordLog(path)
    log.extend(segment_rows(_seg(), "source", [("a", 0.0, 0.1)]))
    log.close()
    with open(path, "a") as fh:
        fh.write('{"session_id": "sess", "segm')
    assert len(WordLog.load(path)) == 1


def test_segment_rows_are_monotonic() -> None:
    rows = segment_rows(_seg(), "target", [("a", 1.0, 1.2), ("b", 0.9, 0.8), ("c", 1.5, 1.9)])
    starts = [r.start_s for r in rows]
    assert starts == sorted(starts) and all(r.end_s >= r.start_s for r in rows)
    assert [r.word_index for r in rows] == [0, 1, 2] and rows[0].listener == "es"


# -- synthesized word times on the playback timeline ---------------------------------------
def test_estimate_marks_share_by_characters() -> None:
    marks = estimate_marks("ab cdef", 1.6)
    assert [m.text for m in marks] == ["ab", "cdef"]
    assert marks[0].start_s == 0.0 and marks[1].start_s == pytest.approx(0.6)
    assert marks[1].end_s == pytest.approx(1.4)  # the trailing space share is silence
    assert (marks[1].char_start, marks[1].char_end) == (3, 7)


def test_play_timeline_follows_late_chunks() -> None:
    tl = PlayTimeline()
    tl.played(0.5, 10.0)  # plays 10.0-10.5
    tl.played(0.5, 10.1)  # written early: queued behind the first, plays 10.5-11.0
    tl.played(0.5, 11.3)  # synthesis fell behind: the sink ran dry, plays 11.3-11.8
    assert tl.at(0.25) == pytest.approx(10.25)
    assert tl.at(0.75) == pytest.approx(10.75)
    assert tl.at(1.2) == pytest.approx(11.5)
    words = tl.words([("a", 0.0, 0.4), ("b", 0.9, 1.4)], t_play_end=11.8)
    assert words == [
        ("a", 10.0, pytest.approx(10.4)),
        ("b", pytest.approx(10.9), pytest.approx(11.7)),
    ]


def test_play_timeline_compresses_into_a_fast_sink_span() -> None:
    tl = PlayTimeline()
    for k in range(4):
        tl.played(1.0, 5.0 + 0.001 * k)  # a file sink: written at once, "played" in 10 ms
    spans = mark_spans([WordMark("x", 0.0), WordMark("y", 2.0)], tl.audio_s)
    words = tl.words(spans, t_play_end=5.01)
    assert words[0][1] == 5.0 and words[1][1] == pytest.approx(5.005)
    assert all(5.0 <= s <= e <= 5.01 for _, s, e in words)


# -- per-word lag ------------------------------------------------------------------------------
def test_word_lag_matches_by_relative_position() -> None:
    log = WordLog()
    seg = _seg()
    log.extend(
        segment_rows(seg, "source", [(w, i, i + 0.5) for i, w in enumerate("a b c d".split())])
    )
    log.extend(segment_rows(seg, "target", [("x", 5.0, 5.5), ("y", 6.0, 6.5)]))
    lag = word_lag(log)
    assert lag.source_index.tolist() == [1, 3]  # 2 target words over 4 source words
    assert lag.lag_s.tolist() == pytest.approx([5.0 - 1.5, 6.0 - 3.5])
    summary = word_lag_summary(lag)
    assert summary.words == 2 and summary.segments == 1
    assert summary.first_word_median_s == pytest.approx(
        3.5
    ) and summary.last_word_median_s == pytest.approx(2.5)


def test_word_lag_summary_of_nothing_is_nan() -> None:
    summary = word_lag_summary(word_lag(WordLog()))
    assert summary.words == 0 and summary.median_s != summary.median_s


def test_plot_word_lag_draws_both_panels() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from s2st_kit.word_lag import plot_word_lag

    log = WordLog()
    for sid in range(3):
        seg = _seg(sid)
        log.extend(
            segment_rows(
                seg, "source", [("a", sid * 5, sid * 5 + 1), ("b", sid * 5 + 1, sid * 5 + 2)]
            )
        )
        log.extend(
            segment_rows(seg, "target", [("x", sid * 5 + 3, sid * 5 + 4)], estimated=sid == 2)
        )
    fig = plot_word_lag(word_lag(log))
    assert len(fig.axes) == 2 and len(fig.axes[0].collections) == 2


# -- word timing in real sessions -----------------------------------------------------------
import numpy as np  # noqa: E402
from conftest import SCRIPT, make_engines, speechlike  # noqa: E402

from s2st_kit import MemorySink, MemorySource, PacedSink, Pipeline, PipelineConfig  # noqa: E402
from s2st_kit.clock import SessionClock  # noqa: E402
from s2st_kit.engines import Engines  # noqa: E402
from s2st_kit.events import WordsTimed  # noqa: E402
from tests.fakes.plain import PlainSynthesizer  # noqa: E402


def _source(*, realtime: bool, speed: float = 1.0) -> MemorySource:
    spans = [(a, b) for _, a, b in SCRIPT]
    return MemorySource(speechlike(10.0, 16000, spans), 16000, realtime=realtime, speed=speed)


def check_words(words, segments) -> None:
    """Every played segment: source words = transcript, target words = translation; times
    monotonic; target words inside the segment's playback span; none for unplayed rows."""
    for row in segments.itertuples():
        mine = words[(words.segment_id == row.segment_id) & (words.listener == row.listener)]
        src = mine[mine.side == "source"].sort_values("word_index")
        tgt = mine[mine.side == "target"].sort_values("word_index")
        assert list(src.word) == row.transcript.split()
        for part in (src, tgt):
            starts, ends = part.start_s.to_numpy(), part.end_s.to_numpy()
            assert (np.diff(starts) >= 0).all() and (ends >= starts).all()
            assert (starts[1:] >= ends[:-1] - 1e-9).all(), "words overlap"
        if row.status != "ok":
            assert tgt.empty
            continue
        assert list(tgt.word) == row.translation.split()
        assert tgt.start_s.min() >= row.t_play_start and tgt.end_s.max() <= row.t_play_end + 1e-9
        assert src.end_s.max() <= row.t_speech_end + 1e-6


async def test_paced_session_words_table(tmp_path) -> None:
    timed: list[WordsTimed] = []
    pipe = Pipeline(
        make_engines(preset="cloud-like"), PipelineConfig(),
        source=_source(realtime=True, speed=4), sink=PacedSink(MemorySink(), speed=4),
        log_path=tmp_path / "s.jsonl", clock=SessionClock(scale=4),  # session s = talk s
    )  # fmt: skip
    pipe.subscribe(lambda ev: timed.append(ev) if isinstance(ev, WordsTimed) else None)
    log = await pipe.run()
    segments, words = log.raw_frame(), pipe.words.to_pandas()
    assert (segments.status == "ok").all() and len(segments) == len(SCRIPT)
    check_words(words, segments)
    assert not words.estimated.any()  # the simulated synthesizer times its words
    assert set(words.listener) == {"es"}
    # the JSONL beside the log holds the same rows
    assert WordLog.load(tmp_path / "s.words.jsonl").to_pandas().equals(words)
    # live: WordsTimed carries the same words relative to the segment's start
    first = words[(words.segment_id == 0) & (words.side == "target")]
    t0 = segments.t_play_start[0]
    offsets = [start for _, start, _ in timed[0].words]
    assert np.allclose(first.start_s - t0, offsets, atol=0.02)


async def test_synthesizer_without_word_timing_gets_the_flagged_estimate() -> None:
    base = make_engines()
    engines = Engines(base.recognizer, base.translator, PlainSynthesizer(base.synthesizer))
    pipe = Pipeline(engines, PipelineConfig(), source=_source(realtime=False), sink=MemorySink())
    log = await pipe.run()
    words = pipe.words.to_pandas()
    check_words(words, log.raw_frame())
    target = words[words.side == "target"]
    assert len(target) and target.estimated.all()
    assert not words[words.side == "source"].estimated.any()


async def test_time_stretched_marks_are_divided_by_the_stretch() -> None:
    """Lag control asks for a speed the engine cannot reach: its natural speech is stretched
    (Rubber Band) and the marks are divided by the same factor."""
    pytest.importorskip("pedalboard")
    from s2st_kit.engines.simulated import SimulatedSynthesizer
    from s2st_kit.pipeline.playback import PlaybackScheduler
    from s2st_kit.pipeline.slot import Slot
    from s2st_kit.pipeline.translation import TranslationStage

    tts = SimulatedSynthesizer()
    tts.max_speed = 1.2  # type: ignore[misc]  # faster than this: the pipeline stretches
    base = make_engines()
    engines = Engines(base.recognizer, base.translator, tts)
    clock = SessionClock()
    sched = PlaybackScheduler(None, clock, lambda ev: None, lambda seg: None)
    stage = TranslationStage(engines, PipelineConfig(), clock, lambda ev: None, voice="sim-es-1",
                             scheduler=sched, give_up=lambda *a: None, on_retry=lambda *a: None)  # fmt: skip
    text = "una frase bastante larga para estirar el audio"
    slot = Slot(Segment("s", 0, "en", "es", translation=text))
    slot.speed = 1.5
    audio_s = sum([c.duration_s async for c in stage._speech(slot)])
    natural_s = tts.n_samples(text) / tts.sample_rate
    assert slot.words.stretch == 1.5 and audio_s == pytest.approx(natural_s / 1.5, abs=0.05)
    spans = slot.words.spans(text, audio_s)
    natural = estimate_marks(text, natural_s)
    assert [w for w, _, _ in spans] == text.split()
    assert [s for _, s, _ in spans] == pytest.approx([m.start_s / 1.5 for m in natural])
    # the engine's own rate: no division
    slot2 = Slot(Segment("s", 1, "en", "es", translation=text))
    slot2.speed = 1.1
    fast_s = sum([c.duration_s async for c in stage._speech(slot2)])
    assert slot2.words.stretch == 1.0
    assert slot2.words.spans(text, fast_s)[-1][1] == pytest.approx(
        estimate_marks(text, fast_s)[-1].start_s
    )


def test_unplayed_segments_get_no_target_words() -> None:
    from s2st_kit.words import SegmentWords

    sw = SegmentWords()
    sw.timeline.played(1.0, 5.0)
    seg = Segment("s", 0, "en", "es", translation="hola mundo", t_play_start=5.0, t_play_end=6.0)
    assert [r.word for r in sw.played_rows(seg)] == ["hola", "mundo"]
    for status in ("skipped", "dropped", "error"):
        seg.status = status
        assert sw.played_rows(seg) == []


async def test_fanout_words_per_listener() -> None:
    from s2st_kit.pipeline import Listener

    pipe = Pipeline(make_engines(), PipelineConfig(), source=_source(realtime=False),
                    listeners=[Listener("es", sink=MemorySink()), Listener("fr", sink=MemorySink())])  # fmt: skip
    log = await pipe.run()
    words = pipe.words.to_pandas()
    assert set(words.listener) == {"es", "fr"}
    check_words(words, log.raw_frame())


async def test_aws_stack_words_from_transcribe_items_and_polly_speech_marks(
    monkeypatch, tmp_path
) -> None:
    """Transcribe result items → source words; Polly speech marks → target words (real SDKs
    against the loopback fakes)."""
    pytest.importorskip("boto3")
    pytest.importorskip("amazon_transcribe")
    from s2st_kit.engines.aws.polly import AwsPollySynthesizer
    from s2st_kit.engines.aws.transcribe import AwsTranscribeRecognizer
    from s2st_kit.engines.aws.translate import AwsTranslator
    from tests.fakes import fake_aws_env
    from tests.fakes.certs import make_self_signed_cert
    from tests.fakes.polly_server import FakePollyServer
    from tests.fakes.transcribe_server import FakeTranscribeServer, Utterance, tone_clip
    from tests.fakes.translate_server import FakeTranslateServer

    fake_aws_env(monkeypatch, tmp_path)
    cert = make_self_signed_cert(tmp_path / "tls")
    vocab = [
        Utterance(300.0, "good morning everyone.", "en-US"),
        Utterance(500.0, "hello world.", "en-US"),
    ]
    clip = tone_clip([(300.0, 0.3, 1.3), (500.0, 1.8, 2.6)])
    with (
        FakeTranscribeServer(cert, vocabulary=vocab) as ts,
        FakeTranslateServer() as tr,
        FakePollyServer(ttfb_s=0.02, pace=20.0) as po,
    ):
        engines = Engines(
            AwsTranscribeRecognizer(endpoint_url=ts.endpoint_url, ca_bundle=ts.cert.cert_path,
                                    connect_timeout_s=3, final_timeout_s=5, reconnect_backoff_s=0.01),
            AwsTranslator(endpoint_url=tr.endpoint_url, backoff_base_s=0.001, backoff_cap_s=0.01),
            AwsPollySynthesizer(endpoint_url=po.endpoint_url, backoff_base_s=0.001),
        )  # fmt: skip
        try:
            pipe = Pipeline(engines, PipelineConfig(), source=MemorySource(clip, 16000, chunk_ms=100),
                            sink=MemorySink())  # fmt: skip
            log = await pipe.run()
        finally:
            await engines.aclose()
    segments, words = log.raw_frame(), pipe.words.to_pandas()
    assert (segments.status == "ok").all() and len(segments) == 2
    check_words(words, segments)
    assert len(words[words.side == "target"]) and not words.estimated.any()  # speech marks


@pytest.mark.offline
async def test_offline_stack_words_from_pocketsphinx_and_espeak_events() -> None:
    """pocketsphinx word segments → source words; eSpeak NG word events → target words, on a
    real LibriVox sentence played in real time to a paced sink."""
    pytest.importorskip("pocketsphinx")
    pytest.importorskip("espeakng_loader")
    from s2st_kit.audio import FileSource
    from s2st_kit.datasets import librivox_clips
    from s2st_kit.engines.offline.apertium import ApertiumTranslator

    clips = librivox_clips()
    if not clips:
        pytest.skip("Debian's pocketsphinx-testdata is not installed")
    try:
        engines = Engines.create("offline")
        ApertiumTranslator().check_pair("en", "es")
    except Exception as exc:  # an offline part missing: said, not failed
        pytest.skip(f"offline stack unavailable: {exc}")
    try:
        pipe = Pipeline(engines, PipelineConfig(source_lang="en", target_lang="es"),
                        source=FileSource(clips[1].path, realtime=False), sink=PacedSink(MemorySink()))  # fmt: skip
        log = await pipe.run()
    finally:
        await engines.aclose()
    segments, words = log.raw_frame(), pipe.words.to_pandas()
    assert (segments.status == "ok").any()
    check_words(words, segments)
    src, tgt = words[words.side == "source"], words[words.side == "target"]
    assert len(src) >= 4 and len(tgt) >= 4 and not words.estimated.any()
    # real word times (the input was read faster than real time: they keep its spacing)
    assert (src.input_end_s - src.input_start_s > 0).all()
    first = segments.iloc[0]
    assert src.input_start_s.min() == pytest.approx(first.audio_start_s, abs=1e-6)
    span = src.end_s.max() - src.start_s.min()
    assert span == pytest.approx(src.input_end_s.max() - src.input_start_s.min(), rel=1e-6)


async def test_sessions_can_share_one_words_table(tmp_path) -> None:
    """A conversation's two directions write one table (like their shared segment log)."""
    from s2st_kit import SegmentLog

    log, words = SegmentLog(tmp_path / "c.jsonl"), WordLog.beside(tmp_path / "c.jsonl")
    for party in ("a", "b"):
        pipe = Pipeline(make_engines(), PipelineConfig(), source=_source(realtime=False),
                        sink=MemorySink(), log=log, words=words, party=party)  # fmt: skip
        await pipe.run()
        assert pipe.words is words
    words.extend(segment_rows(_seg(), "source", [("after", 0.0, 0.1)]))  # the file is still open
    words.close()
    log.close()
    table = WordLog.load(tmp_path / "c.words.jsonl").to_pandas()
    assert "after" in set(table.word)
    table = table[table.word != "after"]
    assert set(table.party) == {"a", "b"} and table.session_id.nunique() == 2


async def test_a_marked_stream_without_marks_gets_the_flagged_estimate() -> None:
    """Polly's generative engine (no speech marks) or a failed marks request: the synthesizer
    has word timing but this call brought no mark — the words are estimated, not lost."""

    class MarklessSynth(PlainSynthesizer):
        def synthesize_marked(self, text, *, voice, language, speed=1.0):
            return self.inner.synthesize(text, voice=voice, language=language)

    base = make_engines()
    engines = Engines(
        base.recognizer, base.translator, MarklessSynth(base.synthesizer, name="markless")
    )
    pipe = Pipeline(engines, PipelineConfig(), source=_source(realtime=False), sink=MemorySink())
    log = await pipe.run()
    words = pipe.words.to_pandas()
    check_words(words, log.raw_frame())
    target = words[words.side == "target"]
    assert len(target) == sum(len(t.split()) for t in log.raw_frame().translation)
    assert target.estimated.all()
