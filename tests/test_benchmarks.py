"""Smoke test of the benchmark suite: every benchmark runs on tiny inputs (``--quick``).

No timing is asserted here — the numbers live in ``make bench``. This only checks that the
suite runs, prints its table, writes its JSON, and that its helpers behave.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` run without `python -m`
    sys.path.insert(0, str(ROOT))

from benchmarks import BENCHMARKS  # noqa: E402
from benchmarks.__main__ import main, table  # noqa: E402
from benchmarks.classic import run_classic  # noqa: E402
from benchmarks.common import (  # noqa: E402
    BenchResult,
    DiscardSink,
    ToneSource,
    percentile,
    simulated_engines,
    talk_script,
)
from s2st_kit import MemorySink, MemorySource, PacedSink, PipelineConfig  # noqa: E402


def test_quick_suite_runs_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split() == ["benchmark", "metric", "value", "target", "result"]
    doc = json.loads(out.read_text())
    assert doc["quick"] is True and doc["git_commit"] and doc["machine"]["cores"]
    assert set(doc["benchmarks"]) == set(BENCHMARKS)
    for name, entry in doc["benchmarks"].items():
        assert not (entry["skipped"] or "").startswith("FAILED"), (name, entry["skipped"])
    figures = {(f["benchmark"], f["metric"]) for f in doc["figures"]}
    assert ("overhead", "per-segment cost p99") in figures
    assert ("latency", "final / classic, median") in figures
    assert ("memory", "RSS growth over the session") in figures
    for metric in (
        "uncontrolled: ear-to-ear p95, last quarter / first quarter",
        "controlled: ear-to-ear p95, last quarter / first quarter",
        "controlled: ear-to-ear p95",
        "controlled: skipped share",
        "stretch 1.3x: WER increase (LibriVox, pocketsphinx)",
        "offline controlled: ear-to-ear p95, last minute / first minute",
    ):
        assert ("drift", metric) in figures, metric
    for f in doc["figures"]:
        assert f["result"] in (None, "PASS", "MISS")
        assert f["result"] is None or f["target"]


def test_only_rejects_unknown_names():
    with pytest.raises(SystemExit):
        main(["--quick", "--only", "nonsense"])


async def test_classic_design_logs_one_row_per_final_in_order():
    script = [("Hello there, friend.", 0.2, 1.2), ("See you soon.", 1.8, 2.6)]
    engines = simulated_engines(script, preset="instant")
    samples = np.zeros(16000 * 3, np.int16)
    log = await run_classic(
        engines,
        PipelineConfig(),
        source=MemorySource(samples, 16000, realtime=True, speed=8),
        sink=PacedSink(MemorySink(), speed=8),
    )
    df = log.to_pandas()
    assert list(df.transcript) == [s[0] for s in script]
    assert list(df.translation) == [f"[es] {s[0]}" for s in script]
    assert (df.status == "ok").all() and set(df.policy) == {"classic"}
    # sequential: each segment is played before the next one is even translated
    assert (df.t_mt_start.to_numpy()[1:] >= df.t_play_end.to_numpy()[:-1]).all()
    assert (df.ear_to_ear_s > 0).all()


async def test_tone_source_streams_spans_without_holding_the_stream():
    positions = []
    src = ToneSource(1.0, [(0.2, 0.5)], on_position=positions.append)
    chunks = [c async for c in src]
    assert len(chunks) == 10 and positions[-1] == pytest.approx(1.0)
    loud = [round(c.start_s, 1) for c in chunks if c.rms() > 0.1]
    assert loud == [0.2, 0.3, 0.4]
    sink = DiscardSink()
    for c in chunks:
        await sink.write(c)
    assert sink.audio_s == pytest.approx(1.0) and sink.chunks == 10


def test_drift_figures_compare_the_first_and_last_window():
    from benchmarks.drift import drift_figures

    n = 8
    df = pd.DataFrame(
        {
            "status": ["ok"] * 7 + ["skipped"],
            "audio_end_s": [10.0 * (i + 1) for i in range(n)],
            "ear_to_ear_s": [1.0, 2.0, 1.5, 1.5, 1.5, 3.0, 4.0, np.nan],
            "speed": [1.0, 1.2, 1.5, 1.5, 1.5, 1.5, 1.5, 1.0],
            "speech_s": [2.0] * n,
            "tts_audio_s": [2.0] * n,
            **{c: [0.1] * n for c in ("asr_lag_s", "mt_s", "tts_ttfb_s", "queue_s")},
        }
    )
    d = drift_figures(df, duration_s=80.0, window_s=20.0)
    assert d["first_window_p95_s"] == pytest.approx(np.percentile([1.0, 2.0], 95))
    last = np.percentile([3.0, 4.0], 95)  # rows ending at 60 and 70 s; the skipped one at 80
    assert d["last_window_p95_s"] == pytest.approx(last)
    assert d["last_over_first"] == pytest.approx(last / np.percentile([1.0, 2.0], 95))
    assert d["skipped"] == 1 and d["skipped_share"] == pytest.approx(1 / 8)
    assert d["played"] == 7 and d["over_target"]["n"] == 1  # 4.0 s > max_lag_s 3.0
    assert d["speed_at_cap_share"] == pytest.approx(5 / 7)


def test_helpers():
    assert percentile([1.0, 2.0, 3.0, float("nan")], 50) == 2.0
    assert np.isnan(percentile([], 50))
    script = talk_script(5, seed=1)
    assert script == talk_script(5, seed=1)
    assert all(a < b for _, a, b in script)
    assert all(b1 < a2 for (_, _, b1), (_, a2, _) in itertools.pairwise(script))
    res = BenchResult("x")
    res.add("m", 1.5, "s", target="< 2 s", ok=True, note="n")
    res.add("k", None, "ms")
    text = table([res, BenchResult("y", skipped="absent")])
    assert "PASS" in text and "n/a" in text and "absent" in text
