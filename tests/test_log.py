"""The segment log: schema, derived columns, Parquet round trip, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_engines

from s2st_kit import MemorySink, MemorySource, Pipeline, PipelineConfig, SegmentLog
from s2st_kit.errors import S2STError
from s2st_kit.records import SEGMENT_COLUMNS

DESIGN_COLUMNS = """session_id segment_id source_lang target_lang detected_lang asr_engine mt_engine
tts_engine voice chunk_ms policy audio_start_s audio_end_s transcript translation n_partials
asr_confidence t_speech_end t_first_partial t_asr_final t_mt_start t_mt_end t_tts_start
t_tts_first_audio t_tts_end t_play_start t_play_end tts_audio_s speed lag_at_play_s chars_translated
chars_synthesized status error listener party""".split()


def test_columns_exactly_as_designed():
    assert list(SEGMENT_COLUMNS) == DESIGN_COLUMNS


async def session(tmp_path) -> SegmentLog:
    src = MemorySource(np.zeros(16000 * 10, np.int16), 16000)
    pipe = Pipeline(
        make_engines(),
        PipelineConfig(),
        source=src,
        sink=MemorySink(),
        log_path=tmp_path / "s.jsonl",
    )
    return await pipe.run()


async def test_jsonl_parquet_and_frame_agree(tmp_path):
    log = await session(tmp_path)
    df = log.to_pandas()
    assert list(df.columns[: len(SEGMENT_COLUMNS)]) == DESIGN_COLUMNS
    for col in (
        "asr_lag_s",
        "dispatch_s",
        "mt_s",
        "handoff_s",
        "tts_ttfb_s",
        "queue_s",
        "ear_to_ear_s",
    ):
        assert col in df.columns
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == log.rows
    log.save(tmp_path / "s.parquet")
    back = SegmentLog.load(tmp_path / "s.parquet").to_pandas()
    pd.testing.assert_frame_equal(back, df)
    back_jsonl = SegmentLog.load(tmp_path / "s.jsonl").to_pandas()
    pd.testing.assert_frame_equal(back_jsonl, df)


def test_empty_log_frame_has_schema():
    df = SegmentLog().to_pandas()
    assert len(df) == 0 and set(DESIGN_COLUMNS) <= set(df.columns)


def test_torn_last_line_is_skipped(tmp_path):
    p = tmp_path / "x.jsonl"
    good = {c: None for c in SEGMENT_COLUMNS} | {"segment_id": 0, "status": "ok", "session_id": "s"}
    p.write_text(json.dumps(good) + "\n" + json.dumps(good)[:40])
    assert len(SegmentLog.load(p)) == 1


def test_corrupt_middle_line_is_an_error(tmp_path):
    p = tmp_path / "x.jsonl"
    good = json.dumps({"segment_id": 0})
    p.write_text(good + "\nnot json\n" + good + "\n" + good + "\n")
    with pytest.raises(S2STError, match=r"x.jsonl:2"):
        SegmentLog.load(p)


def test_parquet_of_something_else_refused(tmp_path):
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "o.parquet")
    with pytest.raises(S2STError, match="not a segment log"):
        SegmentLog.load(tmp_path / "o.parquet")


CRASH_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from conftest import make_engines
    from s2st_kit import MemorySink, MemorySource, PacedSink, Pipeline, PipelineConfig

    script = [(f"Sentence {{i}} of a long talk.", 0.2 + 0.5 * i, 0.6 + 0.5 * i) for i in range(200)]

    async def main():
        src = MemorySource(np.zeros(16000 * 101, np.int16), 16000, realtime=True, speed=4)
        pipe = Pipeline(make_engines(script), PipelineConfig(), source=src,
                        sink=PacedSink(MemorySink(), speed=20), log_path={log!r})
        await pipe.run()

    asyncio.run(main())
    """
)


def test_killed_process_leaves_a_loadable_log(tmp_path):
    """SIGKILL mid-session: every segment logged before the kill loads back."""
    log = tmp_path / "crash.jsonl"
    code = CRASH_SCRIPT.format(tests=str(Path(__file__).parent), log=str(log))
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if log.exists() and log.read_text().count("\n") >= 5:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    written = log.read_text().count("\n")
    loaded = SegmentLog.load(log)
    assert len(loaded) >= 5 and len(loaded) == written
    df = loaded.to_pandas()
    assert list(df.segment_id) == list(range(len(df)))
    assert (df.status == "ok").all() and df.transcript[0] == "Sentence 0 of a long talk."


def test_rows_are_written_by_the_log_thread_not_the_caller(tmp_path, monkeypatch):
    """append() must never wait on the disk (it runs on the event loop): write + fsync elsewhere."""
    import threading

    import s2st_kit.log as log_module

    synced_on = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        log_module.os,
        "fsync",
        lambda fd: (synced_on.append(threading.current_thread().name), real_fsync(fd))[1],
    )
    path = tmp_path / "rows.jsonl"
    log = SegmentLog(path, fsync=True)
    for i in range(3):
        log.append({"segment_id": i, "status": "ok"})
    log.flush()
    assert path.read_text().count("\n") == 3  # flushed through, in order
    assert synced_on and all(name.startswith("s2st-log") for name in synced_on)
    log.close()
    log.close()  # idempotent
    assert [r["segment_id"] for r in SegmentLog.load(path)] == [0, 1, 2]


def test_a_log_dropped_without_close_ends_its_thread(tmp_path):
    import gc
    import threading

    log = SegmentLog(tmp_path / "dropped.jsonl")
    log.append({"segment_id": 0})
    del log
    gc.collect()
    for _ in range(100):
        if not [t for t in threading.enumerate() if t.name == "s2st-log-dropped"]:
            break
        time.sleep(0.01)
    assert not [t for t in threading.enumerate() if t.name == "s2st-log-dropped"]
    assert (tmp_path / "dropped.jsonl").read_text().count("\n") == 1
