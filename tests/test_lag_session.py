"""Lag control in whole sessions: a long dense talk stays within the target; the property test."""

from __future__ import annotations

import random

import numpy as np
import pytest
from conftest import speechlike
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s2st_kit import MemorySink, MemorySource, PacedSink, Pipeline, PipelineConfig, SessionClock
from s2st_kit.engines import Engines
from s2st_kit.engines.simulated import (
    PRESETS,
    LatencyModel,
    LogNormal,
    SimulatedRecognizer,
    SimulatedSynthesizer,
    SimulatedTranslator,
)

CPS = 14.0  # the simulated synthesizer's natural speaking rate (characters / s)
WORDS = "the of and to in we will that this talk about our work data model people time".split()


def dense_talk(minutes: float, *, ratio: float = 1.2, seed: int = 0):
    """A script of sentences with 0.3–0.7 s pauses whose translation ("[es] " + text, spoken
    at CPS) lasts ``ratio`` × the talk's time (the sentence and the pause after it)."""
    rng, script, t = random.Random(seed), [], 0.5
    while t < minutes * 60 - 6:
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 11))]
        text = " ".join(words).capitalize() + "."
        pause = rng.uniform(0.3, 0.7)
        duration = len("[es] " + text) / CPS / ratio - pause
        script.append((text, t, t + duration))
        t += duration + pause
    return script, t + 1.0


def scaled(model: LatencyModel, k: float) -> LatencyModel:
    def s(x: LogNormal) -> LogNormal:
        return LogNormal(x.median / k, None if x.p95 is None else x.p95 / k)

    return LatencyModel(s(model.asr_final_lag), s(model.asr_partial_lag), s(model.mt),
                        model.mt_per_char / k, s(model.tts_first_audio), model.tts_rtf / k)  # fmt: skip


async def run_talk(script, duration_s, *, k: float, max_lag_s: float | None, seed: int = 0):
    """The talk paced in real time, time-scaled ``k`` times (the session clock runs k× too)."""
    model = scaled(PRESETS["cloud-like"], k)
    engines = Engines(
        SimulatedRecognizer(script, preset=model, seed=seed),
        SimulatedTranslator(preset=model, seed=seed),
        SimulatedSynthesizer(preset=model, seed=seed, chars_per_s=CPS),
    )
    spans = [(a, b) for _, a, b in script]
    src = MemorySource(speechlike(duration_s, 16000, spans), 16000, realtime=True, speed=k)
    config = PipelineConfig(max_lag_s=max_lag_s, max_speedup=1.5, catch_up="speed+skip")
    pipe = Pipeline(engines, config, source=src, sink=PacedSink(MemorySink(), speed=k),
                    clock=SessionClock(scale=k))  # fmt: skip
    return (await pipe.run()).to_pandas()


@pytest.mark.slow
async def test_control_keeps_a_ten_minute_dense_talk_within_the_target():
    script, duration = dense_talk(10)
    df = await run_talk(script, duration, k=40, max_lag_s=3.0)
    assert len(df) == len(script)  # every sentence is one row
    played = df[df.status == "ok"]
    quarter = len(df) // 4
    last = df.iloc[-quarter:]
    last_ok = last[last.status == "ok"]
    p95_last = float(np.percentile(last_ok.ear_to_ear_s, 95))
    assert p95_last <= 3.0 * 1.25, p95_last  # held near the target, not climbing
    assert (df.status == "skipped").mean() <= 0.05
    assert (played.speed > 1.0).any() and played.speed.max() <= 1.5 + 1e-9
    assert set(df.status) <= {"ok", "skipped"}
    skipped = df[df.status == "skipped"]
    assert skipped.translation.str.len().gt(0).all()  # the translation stays in the log
    assert (skipped.lag_at_play_s > 3.0).all()


async def test_without_control_the_same_talk_drifts():
    script, duration = dense_talk(3)
    df = await run_talk(script, duration, k=40, max_lag_s=None)
    first, last = df.ear_to_ear_s.iloc[:10].median(), df.ear_to_ear_s.iloc[-10:].median()
    assert last > 2 * first  # the lag grows without bound: what control is for
    assert (df.speed == 1.0).all() and df.lag_at_play_s.isna().all()


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ratio=st.floats(0.8, 1.8),
    max_lag=st.floats(0.8, 4.0),
    speedup=st.floats(1.0, 2.0),
    seed=st.integers(0, 1000),
)
async def test_property_order_no_overlap_no_cut_one_row_each(ratio, max_lag, speedup, seed):
    script, duration = dense_talk(0.75, ratio=ratio, seed=seed)
    k = 40
    model = scaled(PRESETS["cloud-like"], k)
    engines = Engines(
        SimulatedRecognizer(script, preset=model, seed=seed),
        SimulatedTranslator(preset=model, seed=seed),
        SimulatedSynthesizer(preset=model, seed=seed, chars_per_s=CPS),
    )
    spans = [(a, b) for _, a, b in script]
    src = MemorySource(speechlike(duration, 16000, spans), 16000, realtime=True, speed=k)
    sink = MemorySink()
    config = PipelineConfig(max_lag_s=max_lag, max_speedup=speedup, catch_up="speed+skip")
    pipe = Pipeline(engines, config, source=src, sink=PacedSink(sink, speed=k),
                    clock=SessionClock(scale=k))  # fmt: skip
    df = (await pipe.run()).to_pandas()
    assert list(df.segment_id) == list(range(len(script)))  # every utterance one row, in order
    assert set(df.status) <= {"ok", "skipped", "error"}
    ok = df[df.status == "ok"]
    starts, ends = ok.t_play_start.to_numpy(), ok.t_play_end.to_numpy()
    assert (starts[1:] >= ends[:-1] - 1e-9).all(), "playback overlaps"
    assert (ok.speed >= 1.0).all() and (ok.speed <= speedup + 1e-9).all()
    # no segment is cut: each played segment's audio is its whole synthesized speech
    natural = (ok.translation.str.len() / CPS).clip(lower=0.3)
    assert np.allclose(ok.tts_audio_s * ok.speed, natural, rtol=0.02, atol=0.05)
    skipped = df[df.status == "skipped"]
    assert skipped.t_play_start.isna().all()
