"""Fault soak: a few hundred segments through simulated engines that keep failing.

Injected (:class:`~s2st_kit.engines.simulated.Faults`, seeded): throttling on 30 % of
translate / synthesize calls, timeouts on 5 % of translate calls, one dropped recognizer
stream in the middle of an utterance, one synthesizer crash mid-stream. Instant latencies
and an unpaced source keep it to a few seconds; nothing here asserts a duration.

What must hold: the session completes; with the ``final`` policy every script utterance
ends as exactly one row, mapped by its audio span — translated, or an error with its
reason (the utterance in flight when the stream dropped is one); rows are in speech order
and playback spans never overlap; the JSONL written while running equals the final log.

With ``max_inflight=1`` engine calls happen in segment order, so which call fails is fixed
by the seed (exact counts are asserted); with ``max_inflight=4`` the interleaving of retries
depends on timing, so only the invariants are asserted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import make_engines, pending_tasks

from s2st_kit import MemorySink, MemorySource, Pipeline, PipelineConfig, PipelineState, SegmentLog
from s2st_kit.engines.simulated import Faults

N_UTTERANCES = 300
PERIOD_S = 0.8  # one utterance every 0.8 s of audio
SPEECH_S = 0.5
DROP_UTTERANCE = 137  # the recognizer stream dies 0.45 s into this utterance (after 2 partials)
CRASH_CALL = 211  # this synthesize call dies after its first chunk


def soak_script() -> list[tuple[str, float, float]]:
    return [
        (
            f"Utterance {i} is short.",
            round(0.3 + PERIOD_S * i, 3),
            round(0.3 + PERIOD_S * i + SPEECH_S, 3),
        )
        for i in range(N_UTTERANCES)
    ]


def utterance_of(row, script) -> int:
    """The script utterance whose span contains the row's audio span (-1 if none)."""
    for i, (_, a, b) in enumerate(script):
        if a - 0.11 <= row.audio_start_s and row.audio_end_s <= b + 0.11:
            return i
    return -1


@pytest.mark.parametrize("inflight", [1, 4])
async def test_fault_soak(inflight, tmp_path, no_leaks):
    script = soak_script()
    drop_at = script[DROP_UTTERANCE][1] + 0.45
    faults = Faults(
        throttle_rate=0.3,
        timeout_rate=0.05,
        drop_stream_at_s=(drop_at,),
        crash_synthesis_calls=frozenset({CRASH_CALL}),
    )
    engines = make_engines(script, faults=faults, seed=11)
    duration = script[-1][2] + 0.5
    source = MemorySource(np.zeros(round(duration * 16000), np.int16), 16000)
    config = PipelineConfig(policy="final", max_inflight=inflight, stage_retries=2)
    log_path = tmp_path / "soak.jsonl"
    pipe = Pipeline(engines, config, source=source, sink=MemorySink(), log_path=log_path)

    log = await pipe.run()

    # the session completed
    assert pipe.state is PipelineState.STOPPED and pipe.error is None
    assert pending_tasks() == []
    assert pipe.stats.recognizer_restarts == 1 and engines.recognizer.streams_started == 2
    assert pipe.stats.retries > 0
    df = log.to_pandas()

    # every utterance ends as exactly one row, translated or with its error
    assert len(df) == N_UTTERANCES
    owners = [utterance_of(row, script) for row in df.itertuples()]
    assert owners == list(range(N_UTTERANCES)), "rows do not map 1:1 onto utterances"
    assert set(df.status) <= {"ok", "error"}
    ok, err = df[df.status == "ok"], df[df.status == "error"]
    for row in ok.itertuples():
        text = script[row.segment_id][0]
        assert row.transcript == text and row.translation == f"[es] {text}"
        assert row.tts_audio_s > 0 and row.t_play_end >= row.t_play_start
    assert err.error.map(lambda e: isinstance(e, str) and e != "").all()

    # the utterance in flight when the stream dropped is an error row, and only it
    dropped = err[err.error.str.contains("recognizer stream failed")]
    assert list(dropped.segment_id) == [DROP_UTTERANCE]
    assert script[DROP_UTTERANCE][0].startswith(dropped.transcript.iloc[0])
    # the synthesizer crash is one error row (if call CRASH_CALL was throttled instead, none)
    crashed = err[err.error.str.startswith("tts: simulated synthesizer crashed")]
    assert len(crashed) <= 1
    # other errors are retryable faults that outlived the retries
    rest = err.drop(dropped.index.union(crashed.index))
    assert rest.error.str.contains("throttled|timed out").all(), rest.error.tolist()
    if inflight == 1:  # calls in segment order: the seed fixes which ones fail
        assert len(crashed) == 1
        assert len(rest) > 0, "no call outlived its retries: raise the fault rates"
        assert pipe.stats.errors == len(err)

    # order: segment ids follow the speech; playback never overlaps
    assert list(df.segment_id) == list(range(N_UTTERANCES))
    assert (np.diff(df.audio_start_s.to_numpy()) > 0).all()
    played = df.dropna(subset=["t_play_start", "t_play_end"]).sort_values("segment_id")
    starts, ends = played.t_play_start.to_numpy(), played.t_play_end.to_numpy()
    assert (starts[1:] >= ends[:-1]).all(), "playback spans overlap"
    assert (np.diff(starts) >= 0).all(), "playback out of speech order"

    # the JSONL written while running is the log
    on_disk = SegmentLog.load(log_path)
    assert on_disk.rows == log.rows
    pd.testing.assert_frame_equal(on_disk.to_pandas(), df)
