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
