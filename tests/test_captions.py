"""Captions: cues from the words table, WebVTT/SRT written through webvtt-py / srt and parsed back."""

from __future__ import annotations

import io
import itertools
import re

import pandas as pd
import pytest
import srt
import webvtt
from webvtt.models import Timestamp

from s2st_kit.captions import build_cues, load_session, to_srt, to_vtt, write_captions
from s2st_kit.errors import ConfigError
from s2st_kit.log import SegmentLog
from s2st_kit.records import Segment
from s2st_kit.words import InputClock, WordLog, segment_rows, words_path

OFFSET = 0.35  # the session clock runs this far behind the input stream (s)


def _session(listeners=("es",)) -> tuple[SegmentLog, WordLog]:
    """Two played segments and one skipped, per listener; session time = input + OFFSET."""
    log, words = SegmentLog(), WordLog()
    spec = [
        (0, "hello there my friend", 0.5, 2.0, "hola allí mi amigo", 3.0, 4.6, "ok"),
        (1, "how are you today", 3.0, 4.2, "cómo estás hoy", 5.0, 6.1, "ok"),
        (2, "fine thanks", 5.0, 5.9, "bien gracias", None, None, "skipped"),
    ]
    for listener in listeners:
        for sid, src, a0, a1, tgt, p0, p1, status in spec:
            seg = Segment("s1", sid, "en", listener, listener=listener, transcript=src,
                          translation=tgt, audio_start_s=a0, audio_end_s=a1,
                          t_speech_end=a1 + OFFSET, t_play_start=p0, t_play_end=p1, status=status)  # fmt: skip
            log.append(seg)
            toks = src.split()
            step = (a1 - a0) / len(toks)
            words.extend(segment_rows(seg, "source", [
                (w, a0 + OFFSET + i * step, a0 + OFFSET + (i + 0.8) * step) for i, w in enumerate(toks)]))  # fmt: skip
            if p0 is not None:
                toks = tgt.split()
                step = (p1 - p0) / len(toks)
                words.extend(segment_rows(seg, "target", [
                    (w, p0 + i * step, p0 + (i + 1) * step) for i, w in enumerate(toks)]))  # fmt: skip
    return log, words


def test_input_clock_fits_the_segments() -> None:
    log, _ = _session()
    clock = InputClock.from_segments(log.raw_frame())
    assert clock.rate == pytest.approx(1.0) and clock.offset_s == pytest.approx(OFFSET)
    assert clock.to_input(clock.to_session(12.5)) == pytest.approx(12.5)


def test_paced_faster_source_gets_its_rate() -> None:
    log = SegmentLog()
    for i in range(5):  # the input played at 2x: 2 s of stream per session second
        log.append(Segment("s", i, "en", "es", audio_end_s=2.0 * i + 1, t_speech_end=i + 0.5 + 0.1))
    clock = InputClock.from_segments(log.raw_frame())
    assert clock.rate == pytest.approx(2.0) and clock.to_input(0.6) == pytest.approx(1.0)


def test_source_cues_line_up_with_the_input_stream() -> None:
    log, words = _session()
    cues = build_cues(log, words, side="source")
    assert [c.text for c in cues] == ["hello there my friend", "how are you today", "fine thanks"]
    assert cues[0].start_s == pytest.approx(0.5) and cues[1].start_s == pytest.approx(3.0)


def test_vtt_parses_back_and_matches_the_words_table_within_1ms() -> None:
    log, words = _session()
    clock = InputClock.from_segments(log.raw_frame())
    table = words.to_pandas()
    target = table[table.side == "target"].sort_values(["segment_id", "word_index"])
    text = to_vtt(log, words, side="target", listener="es", word_timestamps=True)
    parsed = webvtt.from_buffer(io.StringIO(text))
    assert len(parsed) == 2  # the skipped segment has no target cue
    for caption, (_, group) in zip(parsed, target.groupby("segment_id"), strict=True):
        assert caption.text.split() == list(group.word)  # tags stripped by the library
        starts = [clock.to_input(t) for t in group.start_s]
        assert abs(caption.start_time.in_milliseconds() / 1000 - starts[0]) <= 0.001
        end = clock.to_input(group.end_s.max())
        assert abs(caption.end_time.in_milliseconds() / 1000 - end) <= 0.001
        tags = re.findall(r"<([0-9:.]+)>", caption.raw_text)
        assert len(tags) == len(starts) - 1
        for tag, want in zip(tags, starts[1:], strict=True):
            assert abs(Timestamp.from_string(tag).in_milliseconds() / 1000 - want) <= 0.001


def test_srt_parses_back_and_matches_within_1ms() -> None:
    log, words = _session()
    cues = build_cues(log, words, side="source")
    subs = list(srt.parse(to_srt(log, words, side="source")))
    assert len(subs) == len(cues) == 3
    for sub, cue in zip(subs, cues, strict=True):
        assert abs(sub.start.total_seconds() - cue.start_s) <= 0.001
        assert abs(sub.end.total_seconds() - cue.end_s) <= 0.001
        assert sub.content.split() == cue.text.split()


def test_long_segments_are_split_and_wrapped() -> None:
    log, words = SegmentLog(), WordLog()
    seg = Segment("s", 0, "en", "es", audio_start_s=0.0, audio_end_s=20.0, t_speech_end=20.0)
    log.append(seg)
    toks = [f"word{i:02d}" for i in range(40)]
    words.extend(
        segment_rows(seg, "source", [(w, i * 0.5, i * 0.5 + 0.4) for i, w in enumerate(toks)])
    )
    cues = build_cues(log, words, side="source", max_chars=42)
    assert len(cues) > 5 and all(len(c.text) <= 42 for c in cues)
    assert " ".join(c.text for c in cues).split() == toks
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(cues))
    parsed = webvtt.from_string(to_vtt(log, words, side="source", line_chars=20))
    assert all(len(line) <= 20 for c in parsed for line in c.text.split("\n"))
    assert all(len(c.text.split("\n")) <= 2 for c in parsed)  # two lines at most
    assert all(c.end_s - c.start_s <= 7.0 for c in cues)  # and 7 s at most


def test_listeners_must_be_named_for_the_target_side() -> None:
    log, words = _session(listeners=("es", "fr"))
    with pytest.raises(ConfigError, match="several listeners"):
        build_cues(log, words, side="target")
    with pytest.raises(ConfigError, match="listeners: es, fr"):
        build_cues(log, words, side="target", listener="de")
    assert len(build_cues(log, words, side="target", listener="fr")) == 2
    assert len(build_cues(log, words, side="source")) == 3  # one copy of what was said


def test_a_log_without_words_gets_estimated_cues() -> None:
    log, _ = _session()
    cues = build_cues(log, None, side="target")
    assert [c.segment_id for c in cues] == [0, 1]
    clock = InputClock.from_segments(log.raw_frame())
    assert cues[0].start_s == pytest.approx(clock.to_input(3.0))
    assert cues[0].end_s <= clock.to_input(4.6) + 1e-9


def test_files_round_trip_through_load_session(tmp_path) -> None:
    log, words = _session()
    log.save(tmp_path / "s.parquet")
    words.save(words_path(tmp_path / "s.parquet"))
    segments, table = load_session(tmp_path / "s.parquet")
    assert table is not None and len(table) == len(words)
    out = write_captions(tmp_path / "t.srt", segments, table, side="target")
    assert len(list(srt.parse(out.read_text()))) == 2
    with pytest.raises(ConfigError, match="vtt or srt"):
        write_captions(tmp_path / "t.txt", segments, table)


# -- live captions: the feed's logic (the browser side is tests/test_browser_captions.py) ----
async def test_caption_feed_places_segments_on_the_speaker_sample_count() -> None:
    pytest.importorskip("anywidget")
    import numpy as np

    from s2st_kit.events import (
        AudioFinished,
        AudioStarted,
        SegmentCommitted,
        TranslationReady,
        WordsTimed,
    )
    from s2st_kit.notebook.browser_audio import BrowserSpeaker
    from s2st_kit.notebook.captions_widget import LiveCaptions
    from s2st_kit.records import AudioChunk, Translation

    speaker = BrowserSpeaker()
    sink = speaker.sink(max_ahead_s=100.0)
    await sink.write(AudioChunk.from_array(np.zeros(16000, np.int16), 16000))  # an earlier second
    captions = LiveCaptions(speaker=speaker)
    feed = captions.feed
    feed.handle(SegmentCommitted(0.0, 0, "hello world", 0))
    feed.handle(TranslationReady(0.1, 0, Translation("hola mundo", "hello world", "en", "es")))
    feed.handle(WordsTimed(0.2, 0, (("hola", 0.0, 0.4), ("mundo", 0.5, 0.9))))
    assert feed.current(16000, 16000) == (None, None)  # not started yet
    feed.handle(AudioStarted(0.3, 0))
    assert feed.segments[0].start_sample == 16000 and captions.rate == 16000
    assert feed.current(15999, 16000) == (None, None)
    assert feed.current(16000, 16000) == (None, None)  # its first sample has not played yet
    assert feed.current(16000 + 0.95 * 16000, 16000) == (0, None)  # after the last word's end
    assert feed.current(16000 + 0.45 * 16000, 16000) == (0, 0)
    assert feed.current(16000 + 1, 16000) == (0, 0)
    assert feed.current(16000 + 0.5 * 16000, 16000) == (0, 1)
    feed.handle(AudioFinished(1.3, 0, 1.0 + 1e-12))  # a sum of chunk durations: a hair above
    assert feed.current(16000 + 16000, 16000) == (0, None)  # ended when every sample has played
    state = captions.segments
    assert state[0]["source"] == "hello world" and state[0]["target"] == "hola mundo"
    assert state[0]["words"] == [["hola", 0.0, 0.4], ["mundo", 0.5, 0.9]]
    for sid in range(1, 6):
        feed.handle(SegmentCommitted(float(sid), sid, f"s{sid}", sid))
    assert sorted(feed.segments) == [2, 3, 4, 5]  # keeps the last four


def test_session_captions_for_report_and_demo(tmp_path) -> None:
    from s2st_kit.captions import write_session_captions

    log, words = _session(listeners=("es", "fr"))
    files = write_session_captions(log, words, tmp_path)
    names = sorted(p.name for p in files)
    assert names == ["source_en.srt", "source_en.vtt", "translated_es.srt", "translated_es.vtt",
                     "translated_fr.srt", "translated_fr.vtt"]  # fmt: skip
    es = webvtt.read(str(tmp_path / "translated_es.vtt"))
    assert [c.text for c in es] == ["hola allí mi amigo", "cómo estás hoy"]
    assert "<00:00:" in es[0].raw_text  # word timestamps in the translated WebVTT


# -- end to end: s2st run, then s2st captions ------------------------------------------------
def test_cli_captions_on_a_simulated_session(tmp_path, capsys) -> None:
    from s2st_kit.cli import main

    log = tmp_path / "talk.parquet"
    rc = main(["run", "data/en_home.wav", "--engines", "simulated", "--to", "es", "--speed", "4",
               "--max-lag", "off", "--out", str(tmp_path / "talk.wav"), "--log", str(log)])  # fmt: skip
    assert rc == 0 and words_path(log).exists()
    segments, table = load_session(log)
    assert table is not None and set(table.side) == {"source", "target"}
    clock = InputClock.from_segments(segments)
    assert clock.rate == pytest.approx(4.0, rel=0.05)  # the file was played at 4x
    out = tmp_path / "es.vtt"
    assert main(["captions", str(log), "--side", "target", "--listener", "es", "--format", "vtt",
                 "--word-timestamps", "--out", str(out)]) == 0  # fmt: skip
    assert "target cues" in capsys.readouterr().out
    parsed = webvtt.read(str(out))
    target = table[table.side == "target"].sort_values(["segment_id", "word_index"])
    played = segments[segments.status == "ok"]
    assert len(parsed) >= len(played) > 0
    assert " ".join(c.text.replace("\n", " ") for c in parsed).split() == list(target.word)
    firsts = target.groupby("segment_id").start_s.min().map(clock.to_input)
    cue_starts = {c.identifier: c.start_time.in_milliseconds() / 1000 for c in parsed}
    for sid, want in firsts.items():
        assert abs(cue_starts[f"segment-{sid}.0"] - want) <= 0.001
    # source captions sit where the words were said in the recording (the script's spans)
    src = tmp_path / "en.srt"
    assert main(["captions", str(log), "--side", "source", "--out", str(src)]) == 0
    subs = list(srt.parse(src.read_text()))
    for sub, row in zip(subs, segments.itertuples(), strict=True):
        assert abs(sub.start.total_seconds() - row.audio_start_s) <= 0.001
        assert abs(sub.end.total_seconds() - row.audio_end_s) <= 0.001
    assert (
        main(["captions", str(log), "--listener", "de"]) == 2
    )  # refused, with the listeners named
    assert "listeners: es" in capsys.readouterr().err
    # s2st report writes the captions and the per-word lag too
    assert main(["report", str(log), "--out", str(tmp_path / "report")]) == 0
    report = tmp_path / "report"
    assert webvtt.read(str(report / "translated_es.vtt")).content == out.read_text()
    assert len(webvtt.read(str(report / "source_en.vtt"))) == len(subs)
    assert (report / "word_lag.png").stat().st_size > 0
    lag = pd.read_csv(report / "word_lag.csv")
    assert len(lag) == len(target) and (lag.lag_s > 0).all()


def test_caption_feed_shows_one_listener_of_a_fanout() -> None:
    pytest.importorskip("anywidget")
    from s2st_kit.events import SegmentCommitted, TranslationReady, WordsTimed
    from s2st_kit.notebook.captions_widget import CaptionFeed
    from s2st_kit.records import Translation

    feed = CaptionFeed(listener="fr")
    feed.handle(SegmentCommitted(0.0, 0, "hello", 0))  # the source side: every listener's
    feed.handle(TranslationReady(0.1, 0, Translation("hola", "hello", "en", "es"), "es"))
    feed.handle(TranslationReady(0.1, 0, Translation("bonjour", "hello", "en", "fr"), "fr"))
    feed.handle(WordsTimed(0.2, 0, (("hola", 0.0, 0.3),), listener="es"))
    assert feed.segments[0].source == "hello" and feed.segments[0].target == "bonjour"
    assert feed.segments[0].words == []


def test_words_of_another_session_in_the_table_are_ignored() -> None:
    log, words = _session()
    old = Segment("older-run", 0, "en", "es", listener="es")
    words.extend(segment_rows(old, "target", [("viejo", 0.1, 0.2)]))
    assert "viejo" not in " ".join(c.text for c in build_cues(log, words, side="target"))


async def test_control_panel_shows_live_captions_beside_the_feed_with_the_browser_speaker() -> None:
    pytest.importorskip("ipywidgets")
    pytest.importorskip("anywidget")
    from s2st_kit.notebook import ControlPanel, EngineCatalog
    from s2st_kit.notebook.captions_widget import LiveCaptions

    engines = EngineCatalog(credential_checks={}, options={"simulated": {"preset": "instant"}})
    panel = ControlPanel(engines=engines, input_path="data/en_home.wav", asr="simulated",
                         mt="simulated", tts="simulated", output_kind="browser")  # fmt: skip
    assert isinstance(panel.captions, LiveCaptions)
    assert panel.captions.speaker_uid == panel.runner.browser_speaker.uid
    assert panel.captions_box.children == (panel.captions,)
    panel._clear_views()  # a session opens: the captions follow the first target
    assert panel.captions.feed.listener == panel.model.selection.target_lang
    await panel.aclose()


def test_unpaced_session_captions_stay_on_the_recording(tmp_path) -> None:
    """--no-realtime: the whole input arrives within moments, so no line maps the session
    clock onto the recording (the fit gave cues hours into a 6 s clip). Each translation
    is placed where its speech ended, its words keeping their spacing."""
    from s2st_kit.cli import main

    out = tmp_path / "fan"
    assert main(["run", "data/en_home.wav", "--engines", "simulated", "--to", "es,ca",
                 "--out-dir", str(out), "--no-realtime"]) == 0  # fmt: skip
    segments, table = load_session(out / "segments.parquet")
    assert table is not None
    assert not InputClock.from_segments(segments).paced
    cues = build_cues(segments, table, side="target", listener="ca")
    ca = segments[(segments.listener == "ca") & (segments.status == "ok")]
    assert {c.segment_id for c in cues} == set(ca.segment_id)
    for row in ca.itertuples():
        mine = [c for c in cues if c.segment_id == row.segment_id]
        assert abs(mine[0].start_s - row.audio_end_s) <= 0.001
        assert mine[-1].end_s - mine[0].start_s <= row.tts_audio_s + 0.001


def test_source_captions_of_a_conversation_name_the_party(tmp_path, capsys) -> None:
    from s2st_kit.cli import main

    out = tmp_path / "call"
    assert main(["converse", "data/en_help.wav", "data/es_casa.wav", "--a", "en", "--b", "es",
                 "--engines", "simulated", "--out-dir", str(out), "--no-realtime"]) == 0  # fmt: skip
    segments, table = load_session(out / "segments.parquet")
    with pytest.raises(ConfigError, match="two-party"):
        build_cues(segments, table, side="source")
    for party in ("a", "b"):
        cues = build_cues(segments, table, side="source", party=party)
        said = segments[segments.party == party].sort_values("segment_id")
        assert (
            " ".join(c.text.replace("\n", " ") for c in cues).split()
            == " ".join(said.transcript).split()
        )
    assert main(["captions", str(out / "segments.parquet"), "--side", "source"]) == 2
    assert "--party" in capsys.readouterr().err
