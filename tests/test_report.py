"""write_report: the lag lines and lag.png, with the target from the saved config or given."""

from __future__ import annotations

import json

import pytest
from test_plots import _lag_log, _synthlog

from s2st_kit.config import PipelineConfig
from s2st_kit.log import SegmentLog
from s2st_kit.report import (
    load_session_config,
    save_session_config,
    segment_counts,
    session_config_path,
    write_report,
)


def save_log(df, path):
    log = SegmentLog()
    for row in df.to_dict("records"):
        log.append(row)
    log.save(path)
    return path


def test_session_config_beside_the_log(tmp_path):
    log = tmp_path / "s.parquet"
    assert session_config_path(log) == session_config_path(tmp_path / "s.jsonl")
    assert session_config_path(log).name == "s.config.json"
    assert load_session_config(log) == {}  # none saved: a report still works
    config = PipelineConfig(max_lag_s=2.5, max_speedup=1.25, catch_up="speed", session_id="x")
    save_session_config(config, session_config_path(log))
    saved = load_session_config(log)
    assert (saved["max_lag_s"], saved["max_speedup"], saved["catch_up"]) == (2.5, 1.25, "speed")
    assert "engine_options" not in saved and saved["session_id"] == "x"
    session_config_path(log).write_text("{not json")
    assert load_session_config(log) == {}


def test_report_takes_the_lag_target_from_the_saved_config(tmp_path):
    log = save_log(_lag_log(), tmp_path / "s.parquet")
    config = PipelineConfig(max_lag_s=3.0, max_speedup=1.5)
    save_session_config(config, session_config_path(log))
    report = write_report(log, tmp_path / "rep")
    assert "segments: 16 (14 ok, 2 skipped, 0 error/dropped)" in report.text
    assert "lag control: target 3 s, speed up to 1.5× (speed+skip)" in report.text
    assert "(target 3 s)" in report.text and "skipped 2 of 16 segments (12.5 %)" in report.text
    assert report.lag is not None and report.lag.skipped == 2 and report.lag.controlled
    png = tmp_path / "rep" / "lag.png"
    assert png in report.files and png.read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert metrics["lag"]["max_lag_s"] == 3.0 and metrics["lag"]["skipped"] == 2
    assert metrics["lag"]["lag_p95_s"] == pytest.approx(report.lag.lag_p95_s)
    # given explicitly, the target wins over the saved one
    assert "lag control: target 2 s" in write_report(log, tmp_path / "r2", max_lag_s=2.0).text


def test_report_of_a_log_without_a_known_target_or_without_control(tmp_path):
    text = write_report(_lag_log(), tmp_path / "a").text  # a DataFrame: no config beside it
    assert "lag control: on (target not recorded: pass --max-lag to draw it)" in text
    text = write_report(_synthlog().make_log(6, errors=()), tmp_path / "b").text
    assert "lag control: off" in text and "skipped 0 of 6 segments" in text


def test_segment_counts():
    df = _lag_log()
    assert segment_counts(df) == "16 (14 ok, 2 skipped, 0 error/dropped)"
    df.loc[0, "status"] = "error"
    assert segment_counts(df) == "16 (13 ok, 2 skipped, 1 error/dropped)"
    assert segment_counts(df.iloc[:0]) == "0 (0 ok, 0 error/dropped)"
