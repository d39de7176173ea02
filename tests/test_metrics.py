"""Latency decomposition and SimulEval-style metrics.

The SimulEval cross-checks use (a) SimulEval's own documented example, whose delays can be
derived exactly from its agent, and (b) small cases worked out by hand below.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2st_kit import metrics
from s2st_kit.metrics import (
    DERIVED_COLUMNS,
    STAGE_COLUMNS,
    add_derived,
    average_lagging,
    average_proportion,
    average_token_delay,
    differentiable_average_lagging,
    length_adaptive_average_lagging,
    session_metrics,
    speech_output_layout,
    stage_summary,
)
from s2st_kit.records import SEGMENT_COLUMNS, Segment


def _synthlog():
    name = "s2st_tests_synthlog"
    if name not in sys.modules:
        path = Path(__file__).parent / "data" / "synthlog.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_public_api():
    assert set(metrics.__all__) == {
        "DECOMPOSITION",
        "DERIVED_COLUMNS",
        "STAGE_COLUMNS",
        "LagSummary",
        "SimulInstance",
        "add_derived",
        "average_lagging",
        "average_proportion",
        "average_token_delay",
        "differentiable_average_lagging",
        "estimate_stream_start",
        "lag_summary",
        "length_adaptive_average_lagging",
        "session_instance",
        "session_metrics",
        "speech_output_layout",
        "stage_summary",
        "summary_by",
    }


# --------------------------------------------------------------------------- add_derived


def test_synthetic_log_has_the_schema():
    df = _synthlog().make_log(10)
    assert tuple(df.columns) == SEGMENT_COLUMNS


def test_decomposition_sums_to_ear_to_ear():
    df = add_derived(_synthlog().make_log(20, errors=(3,), dropped=(7,)))
    ok = df[df.status == "ok"]
    total = ok[list(STAGE_COLUMNS)].sum(axis=1)
    assert np.all(np.abs(total - ok.ear_to_ear_s) < 1e-6)
    assert (ok.ear_to_ear_s > 0).all()
    bad = df[df.status != "ok"]
    assert len(bad) == 2
    assert bad[list(DERIVED_COLUMNS)].isna().all().all()


def test_derived_values_for_one_row():
    seg = Segment(
        session_id="s",
        segment_id=0,
        source_lang="en",
        target_lang="es",
        audio_start_s=1.0,
        audio_end_s=3.0,
        t_speech_end=3.5,
        t_asr_final=4.0,
        t_mt_start=4.01,
        t_mt_end=4.21,
        t_tts_start=4.25,
        t_tts_first_audio=4.55,
        t_tts_end=4.9,
        t_play_start=5.0,
        t_play_end=6.5,
        tts_audio_s=1.5,
        chars_synthesized=21,
    )
    row = add_derived(pd.DataFrame([seg.to_dict()])).iloc[0]
    expected = {
        "asr_lag_s": 0.5,
        "dispatch_s": 0.01,
        "mt_s": 0.2,
        "handoff_s": 0.04,
        "tts_ttfb_s": 0.3,
        "queue_s": 0.45,
        "ear_to_ear_s": 1.5,
        "speech_s": 2.0,
        "t_speech_start": 1.5,
        "tts_s": 0.65,
        "play_s": 1.5,
        "speaking_rate_cps": 14.0,
    }
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, abs=1e-9), name


def test_add_derived_never_crashes_on_partial_frames():
    # Missing columns, None timestamps, object dtype, empty frame.
    df = pd.DataFrame(
        {
            "status": ["ok", "ok", None],
            "t_speech_end": [1.0, None, 2.0],
            "t_play_start": [2.5, 3.0, "junk"],
        }
    )
    out = add_derived(df)
    assert out.loc[0, "ear_to_ear_s"] == pytest.approx(1.5)
    assert math.isnan(out.loc[1, "ear_to_ear_s"])
    assert math.isnan(out.loc[2, "ear_to_ear_s"])  # status None is not ok
    assert out["mt_s"].isna().all()
    empty = add_derived(pd.DataFrame(columns=list(SEGMENT_COLUMNS)))
    assert set(DERIVED_COLUMNS) <= set(empty.columns) and len(empty) == 0
    assert "status" not in add_derived(pd.DataFrame({"t_speech_end": [1.0]})).columns


def test_add_derived_is_idempotent_and_copies():
    raw = _synthlog().make_log(5)
    once = add_derived(raw)
    twice = add_derived(once)
    pd.testing.assert_frame_equal(once, twice)
    assert "ear_to_ear_s" not in raw.columns


@settings(max_examples=200, deadline=None)
@given(
    start=st.floats(0, 1e5),
    steps=st.lists(st.floats(0, 30), min_size=6, max_size=6),
)
def test_decomposition_is_exact_within_a_microsecond(start, steps):
    times = np.cumsum([start, *steps])
    names = [
        "t_speech_end",
        "t_asr_final",
        "t_mt_start",
        "t_mt_end",
        "t_tts_start",
        "t_tts_first_audio",
        "t_play_start",
    ]
    row = add_derived(pd.DataFrame([dict(zip(names, times, strict=True), status="ok")])).iloc[0]
    assert abs(sum(row[c] for c in STAGE_COLUMNS) - row["ear_to_ear_s"]) < 1e-6


# --------------------------------------------------------------------------- stage_summary


def test_stage_summary_shape_and_values():
    df = pd.DataFrame(
        {
            "status": ["ok"] * 4 + ["error"],
            "t_speech_end": [0.0, 10.0, 20.0, 30.0, 40.0],
            "t_asr_final": [0.1, 10.2, 20.3, 30.4, 40.5],
        }
    )
    summary = stage_summary(df)
    assert list(summary.index) == [*STAGE_COLUMNS, "ear_to_ear_s"]
    assert list(summary.columns) == ["median", "p90", "p99", "mean", "count"]
    lag = summary.loc["asr_lag_s"]
    assert lag["count"] == 4  # the error row does not count
    assert lag["median"] == pytest.approx(0.25)
    assert lag["mean"] == pytest.approx(0.25)
    # linear interpolation: position 0.9 * 3 = 2.7 between 0.3 and 0.4
    assert lag["p90"] == pytest.approx(0.37)
    assert lag["p99"] == pytest.approx(0.397)
    assert summary.loc["mt_s", "count"] == 0 and math.isnan(summary.loc["mt_s", "median"])


def test_stage_summary_of_synthetic_log():
    summary = stage_summary(_synthlog().make_log(30, errors=(1, 2)))
    assert (summary["count"] == 28).all()
    med = summary["median"]
    assert 0.3 < med["asr_lag_s"] < 0.7
    assert (summary["p99"] >= summary["p90"]).all()
    assert (summary["p90"] >= summary["median"]).all()


# --------------------------------------------------------------------------- SimulEval formulas


def _simuleval_counter_example():
    """SimulEval's examples/speech_to_text (README): the English counter agent.

    Source test.wav: 151040 samples at 22050 Hz = 6849.887 ms. With --source-segment-size
    1000 the agent reads 1000 ms per step and, from 1 s on, writes "{round(s)} second"
    once per step: delays 1000, 1000, 2000, 2000, ..., 6000, 6000 ms, and after the final
    (partial) read 6849.887 ms twice. Reference: "1 second 2 second ... 7 second" = 14 words.
    SimulEval's documented result: AL 822.018, LAAL 822.018, AP 0.581, DAL 1061.271,
    ATD 2028.555 (ms).
    """
    source_ms = 151040 / 22050 * 1000
    delays = [float(k * 1000) for k in range(1, 7) for _ in range(2)] + [source_ms] * 2
    return delays, source_ms, 14


def test_simuleval_documented_speech_to_text_example():
    delays, src, ref_len = _simuleval_counter_example()
    assert round(average_lagging(delays, src, ref_len), 3) == 822.018
    assert round(length_adaptive_average_lagging(delays, src, ref_len), 3) == 822.018
    assert round(average_proportion(delays, src, ref_len), 3) == 0.581
    assert round(differentiable_average_lagging(delays, src), 3) == 1061.271
    # ATD takes seconds and returns seconds; text output tokens have length 0.
    atd_ms = 1000 * average_token_delay([d / 1000 for d in delays])
    assert round(atd_ms, 3) == 2028.555


def test_al_and_laal_hand_worked():
    # delays (s) of 5 target words; |X| = 2 s; reference 4 words.
    delays = [1.0, 1.0, 2.0, 2.0, 2.0]
    # AL: |X|/|Y| = 2/4 = 0.5 s per word; tau = 3 (first delay >= |X| is the 3rd)
    #   (1 - 0) + (1 - 0.5) + (2 - 1.0) = 2.5 ; / 3 = 0.8333
    assert average_lagging(delays, 2.0, 4) == pytest.approx(2.5 / 3)
    # LAAL: |Y| = max(5, 4) = 5 -> 0.4 s per word: 1 + 0.6 + 1.2 = 2.8 ; / 3
    assert length_adaptive_average_lagging(delays, 2.0, 4) == pytest.approx(2.8 / 3)
    # A first delay beyond the source is returned as is (SimulEval's early exit).
    assert average_lagging([3.0, 3.0], 2.0, 2) == 3.0
    assert math.isnan(average_lagging([], 2.0, 2))


def test_speech_output_layout_and_atd_hand_worked():
    # Two output chunks: written after 1.0 s and 2.0 s of source, lasting 0.5 s and 0.7 s.
    delays, durations = [1.0, 2.0], [0.5, 0.7]
    layout = speech_output_layout(delays, durations)
    # chunk 1 plays 1.0-1.5; chunk 2 cannot start before its delay 2.0 -> 0.5 s silence
    assert layout.intervals == ((1.0, 0.5), (2.0, 0.7))
    assert layout.silences == (0.5,)
    assert layout.end_s == pytest.approx(2.7)
    # ATD in ms, 300 ms virtual tokens:
    #   source chunks 0-1000 and 1000-2000 -> tokens ending 300 600 900 1000 | 1300 1600 1900 2000
    #   target chunk 1 (500 ms) -> 300 + 200, chunk 2 (700 ms) -> 300 + 300 + 100
    #   target token ends: 1300, 1500 | 2300, 2600, 2700
    #   pairing: chunk 2 has Y_<2 = 2, X_<2 = 4 -> target t pairs with source t (t = 1..5)
    #   delays: 1300-300, 1500-600, 2300-900, 2600-1000, 2700-1300 = 1000 900 1400 1600 1400
    #   mean = 6300 / 5 = 1260 ms
    assert average_token_delay(delays, durations=durations) == pytest.approx(1.26)


def test_atd_computation_aware_hand_worked():
    # Text output, delays 1, 1, 2 s; elapsed 1.5, 1.5, 2.7 s -> compute so far 0.5, 0.5, 0.7
    # -> increments 0.5, 0, 0.2 s. Target token ends (ms): max(1000, 0) + 500 = 1500,
    # max(1000, 1500) + 0 = 1500, max(2000, 1500) + 200 = 2200. Source tokens end
    # 300, 600, 900, ...; pairs (1,1) (2,2) (3,3): 1200 + 900 + 1300 = 3400 / 3 ms.
    atd = average_token_delay([1.0, 1.0, 2.0], elapsed=[1.5, 1.5, 2.7])
    assert atd == pytest.approx(3.4 / 3)


# --------------------------------------------------------------------------- session mapping


def _two_segment_log() -> pd.DataFrame:
    """Stream position 0 arrived at session time 0.5 s; the input is 2.0 s long."""
    common = {"session_id": "s", "source_lang": "en", "target_lang": "es", "status": "ok"}
    rows = [
        Segment(
            segment_id=0,
            audio_start_s=0.2,
            audio_end_s=0.9,
            translation="uno dos",
            t_speech_end=1.4,
            t_asr_final=1.5,  # stream 1.0
            t_mt_start=1.5,
            t_mt_end=1.7,  # stream 1.2
            t_tts_start=1.7,
            t_tts_first_audio=1.85,
            t_tts_end=1.95,
            t_play_start=1.9,  # stream 1.4
            t_play_end=2.4,
            tts_audio_s=0.5,
            **common,
        ),
        Segment(
            segment_id=1,
            audio_start_s=1.2,
            audio_end_s=1.8,
            translation="tres cuatro cinco",
            t_speech_end=2.3,
            t_asr_final=2.6,  # stream 2.1, capped at |X| = 2.0
            t_mt_start=2.6,
            t_mt_end=2.9,  # stream 2.4
            t_tts_start=2.9,
            t_tts_first_audio=2.95,
            t_tts_end=3.1,
            t_play_start=3.0,  # stream 2.5
            t_play_end=3.7,
            tts_audio_s=0.7,
            **common,
        ),
        Segment(
            segment_id=2,
            status="error",
            error="boom",
            t_speech_end=3.0,
            audio_end_s=2.5,
            session_id="s",
            source_lang="en",
            target_lang="es",
        ),
    ]
    return pd.DataFrame([r.to_dict() for r in rows])


def test_session_metrics_hand_worked():
    m = session_metrics(_two_segment_log(), source_duration_s=2.0, reference="one two three four")
    assert m["stream_start_t"] == pytest.approx(0.5)
    # Non-computation-aware speech: delays [1.0, 2.0], durations [0.5, 0.7] (see above).
    assert m["StartOffset"] == pytest.approx(1.0)
    assert m["EndOffset"] == pytest.approx(0.7)  # 2.7 - 2.0
    assert m["RTF"] == pytest.approx(1.35)  # 2.7 / 2.0
    assert m["DiscontinuitySum"] == pytest.approx(0.5)
    assert m["DiscontinuityAve"] == pytest.approx(0.5)
    assert m["DiscontinuityNum"] == 1
    assert m["ATD"] == pytest.approx(1.26)
    # Actual playback in stream time: [1.4, 1.9] and [2.5, 3.2].
    assert m["StartOffset_CA"] == pytest.approx(1.4)
    assert m["EndOffset_CA"] == pytest.approx(1.2)
    assert m["RTF_CA"] == pytest.approx(1.6)
    assert m["DiscontinuitySum_CA"] == pytest.approx(0.6)
    assert m["DiscontinuityNum_CA"] == 1
    # ATD_CA, ms: source chunks 0-1400 (300x4 + 200) and 1400-2500 (300x3 + 200): tokens end
    # 300 600 900 1200 1400 | 1700 2000 2300 2500. Targets end 1700 1900 | 2800 3100 3200;
    # chunk 2: Y_<2 = 2 < X_<2 = 5 -> pairs (t, t). Gaps 1400 1300 1900 1900 1800 -> 1660.
    assert m["ATD_CA"] == pytest.approx(1.66)
    # Text: word delays [1, 1, 2, 2, 2], |X| = 2, reference 4 words -> as hand-worked above.
    assert m["AL"] == pytest.approx(2.5 / 3)
    assert m["LAAL"] == pytest.approx(2.8 / 3)
    # CA text: elapsed [1.2, 1.2, 2.4, 2.4, 2.4]; AL: 1.2 + 0.7 + 1.4 = 3.3 / 3 = 1.1;
    # LAAL (0.4 s per word): 1.2 + 0.8 + 1.6 = 3.6 / 3 = 1.2.
    assert m["AL_CA"] == pytest.approx(1.1)
    assert m["LAAL_CA"] == pytest.approx(1.2)
    assert m["n_output_segments"] == 2 and m["n_target_tokens"] == 5


def test_session_metrics_without_reference_uses_hypothesis_length():
    m = session_metrics(_two_segment_log(), source_duration_s=2.0)
    # |Y| = 5 emitted words -> AL equals LAAL (0.4 s per word).
    assert m["AL"] == pytest.approx(2.8 / 3) == m["LAAL"]
    m = session_metrics(
        _two_segment_log(), source_duration_s=2.0, reference="a b c d", use_ref_len=False
    )
    assert m["AL"] == pytest.approx(2.8 / 3)


def test_session_metrics_char_unit_and_explicit_t0():
    m = session_metrics(
        _two_segment_log(), source_duration_s=2.0, latency_unit="char", stream_start_t=0.0
    )
    assert m["n_target_tokens"] == len("unodos") + len("trescuatrocinco")
    # t0 = 0 -> the first segment's delay is min(1.5, 2.0)
    assert m["StartOffset"] == pytest.approx(1.5)
    with pytest.raises(ValueError):
        session_metrics(_two_segment_log(), source_duration_s=2.0, latency_unit="bpe")


def test_session_metrics_without_output_is_nan_not_an_error():
    df = _two_segment_log()
    df["status"] = "error"
    m = session_metrics(df, source_duration_s=2.0)
    assert math.isnan(m["StartOffset"]) and math.isnan(m["AL"]) and math.isnan(m["ATD_CA"])
    assert m["n_output_segments"] == 0
    with pytest.raises(ValueError):
        session_metrics(df, source_duration_s=0.0)


def test_session_metrics_on_synthetic_log_are_plausible():
    df = _synthlog().make_log(15, stream_start_t=0.25)
    src = float(df.audio_end_s.max()) + 0.5
    m = session_metrics(df, source_duration_s=src)
    assert m["stream_start_t"] == pytest.approx(0.25)
    assert 0 < m["StartOffset"] < m["StartOffset_CA"]  # playback comes after the commit
    assert m["RTF_CA"] >= m["RTF"] > 0
    assert m["AL"] > 0 and m["LAAL"] >= m["AL"] - 1e-12
    assert m["DiscontinuityNum_CA"] >= 0
    # Default source length is max(audio_end_s).
    m2 = session_metrics(df, source_duration_s=None)
    assert m2["source_length_s"] == pytest.approx(src - 0.5)
