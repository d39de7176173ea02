"""Figures render headless, carry the expected artists and units, and are saved for a look.

PNGs go to tests/artifacts/ (gitignored) so a human can check them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from matplotlib.figure import Figure

from s2st_kit import plots
from s2st_kit.metrics import STAGE_COLUMNS
from s2st_kit.records import SEGMENT_COLUMNS

matplotlib.use("Agg")

ARTIFACTS = Path(__file__).parent / "artifacts"


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


def _save(fig: Figure, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    fig.savefig(path, dpi=100)
    assert path.stat().st_size > 5000
    return path


def _has_unit(label: str) -> bool:
    return any(u in label for u in ("(s)", "(ms)", "fraction", "(0–100)", "(count)", "(×)"))


def _by_gid(ax, gid):
    """Bar containers by their bars' gid, or scatter collections by gid."""
    bars = [c for c in ax.containers if c.patches and c.patches[0].get_gid() == gid]
    return bars or [c for c in ax.collections if c.get_gid() == gid]


@pytest.fixture
def log() -> pd.DataFrame:
    return _synthlog().make_log(14, errors=(4,), dropped=(9,))


def test_public_api():
    assert set(plots.__all__) == {
        "STAGE_COLORS",
        "STAGE_LABELS",
        "plot_branch_timeline",
        "plot_compare",
        "plot_decomposition",
        "plot_ear_to_ear_cdf",
        "plot_lag",
        "plot_latency_by",
        "plot_stage_latency",
        "plot_sweep",
        "plot_timeline",
    }


def test_stage_latency(log):
    fig = plots.plot_stage_latency(log)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_ylabel() == "latency (s)"
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert len(ticks) == len(STAGE_COLUMNS) + 1
    assert all("n=12" in t for t in ticks)  # 14 rows, one error, one dropped
    assert len(ax.patches) == 7  # one box per stage + ear-to-ear
    dots = [c for c in ax.collections if len(c.get_offsets()) == 12]
    assert len(dots) == 7
    _save(fig, "stage_latency")


def test_timeline(log):
    fig = plots.plot_timeline(log)
    (ax,) = fig.axes
    assert ax.get_xlabel().startswith("session time (s)")
    n, ok = len(log), int((log.status == "ok").sum())
    (speech,) = _by_gid(ax, "span-speech")
    (playback,) = _by_gid(ax, "span-playback")
    (recognition,) = _by_gid(ax, "span-recognition")
    (translation,) = _by_gid(ax, "span-translation")
    assert len(speech) == n  # every segment had speech
    assert len(recognition) == n  # ... and a final transcript
    assert len(translation) == ok  # the error row has no MT end, the dropped row no MT
    assert len(playback) == ok
    (errors,) = _by_gid(ax, "errors")
    assert len(errors.get_offsets()) == 2
    (first_audio,) = _by_gid(ax, "first-audio")
    assert len(first_audio.get_offsets()) == ok
    red = [t for t in ax.get_yticklabels() if t.get_color() == "#d62728"]
    assert {t.get_text() for t in red} == {"#4 error", "#9 dropped"}
    # speech span of the first row ends at t_speech_end and lasts the audio's duration
    row = log.iloc[0]
    bar = speech.patches[0]
    assert bar.get_x() + bar.get_width() == pytest.approx(row.t_speech_end)
    assert bar.get_width() == pytest.approx(row.audio_end_s - row.audio_start_s)
    (legend,) = fig.legends
    texts = legend.get_texts()
    assert [t.get_text() for t in texts][:5] == [
        "speech", "recognition", "translation", "synthesis", "playback",
    ]  # fmt: skip
    assert all(t.get_fontsize() >= 10 for t in texts)  # issue 14: the legend was 8 pt
    _save(fig, "timeline")


def _offline_like_log() -> pd.DataFrame:
    """A log whose translation and synthesis take milliseconds, as on the offline stack."""
    df = _synthlog().make_log(6)
    df["t_mt_end"] = df.t_mt_start + 0.002
    df["t_tts_start"] = df.t_mt_end + 0.0005
    df["t_tts_first_audio"] = df.t_tts_start + 0.002
    df["t_tts_end"] = df.t_tts_start + 0.006
    return df


def test_timeline_shows_millisecond_stages_and_says_what_the_bars_are():
    """Regression (issue 14, item 7): translation and synthesis of the offline stack were
    in the legend but invisible on the timeline; the title was cryptic."""
    for width in (10.0, 7.0):  # a notebook figure and the panel's live chart
        fig = plots.plot_timeline(_offline_like_log(), width=width, height=3.6)
        (ax,) = fig.axes
        x0, x1 = ax.get_xlim()
        (translation,) = _by_gid(ax, "span-translation")
        (synthesis,) = _by_gid(ax, "span-synthesis")
        for bar in [*translation.patches, *synthesis.patches]:
            assert bar.get_width() >= 0.01 * (x1 - x0) * 0.9  # at least ~1 % of the axis
        # each in its own half of the work lane: neither hides the other
        for mt, tts in zip(translation.patches, synthesis.patches, strict=True):
            assert mt.get_y() + mt.get_height() <= tts.get_y() + 1e-9
        assert "1 %" in ax.get_xlabel()
        title = ax.get_title()
        assert "one row per segment" in title and "below: speech in → translation played" in title
        _save(fig, f"timeline_offline_like_{width:g}in")


def _overlaps(boxes) -> list[tuple[int, int]]:
    return [(i, j) for i, a in enumerate(boxes) for j, b in enumerate(boxes)
            if i < j and a.overlaps(b)]  # fmt: skip


@pytest.mark.parametrize("width", [7.0, 10.0])
def test_stage_latency_labels_do_not_overlap(log, width):
    """Regression (issue 14, item 7): "TTS first audio" ran into "playback queue" in the
    panel's 7-inch live chart."""
    fig = plots.plot_stage_latency(log, width=width, height=3.6)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    (ax,) = fig.axes
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
    assert len(boxes) == len(STAGE_COLUMNS) + 1
    assert _overlaps(boxes) == []
    assert all(fig.bbox.contains(b.x0, b.y0) and fig.bbox.contains(b.x1, b.y1) for b in boxes)


def test_timeline_long_session_stays_readable():
    fig = plots.plot_timeline(_synthlog().make_log(80, errors=(10, 50)))
    assert 4 <= fig.get_figheight() <= 14
    _save(fig, "timeline_80")


def test_ear_to_ear_cdf(log):
    fig = plots.plot_ear_to_ear_cdf(log)
    (ax,) = fig.axes
    assert _has_unit(ax.get_xlabel()) and ax.get_ylabel() == "fraction of segments"
    assert len(ax.get_legend().get_texts()) == 1
    fast = _synthlog().make_log(14, seed=1, asr_scale=0.5, session_id="fast")
    fig = plots.plot_ear_to_ear_cdf({"baseline": log, "fast ASR": fast})
    (ax,) = fig.axes
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0].startswith("baseline (median") and "n=12" in texts[0]
    assert texts[1].startswith("fast ASR")
    # one multi-session frame gives one curve per session_id
    both = pd.concat([log, fast])
    assert len(plots.plot_ear_to_ear_cdf(both).axes[0].get_legend().get_texts()) == 2
    _save(fig, "ear_to_ear_cdf")


def test_decomposition(log):
    fig = plots.plot_decomposition(log)
    (ax,) = fig.axes
    assert ax.get_ylabel() == "latency (s)"
    assert "segment" in ax.get_xlabel()
    for column in STAGE_COLUMNS:
        (bars,) = _by_gid(ax, f"stage-{column}")
        assert len(bars) == 12
    # stacked heights add up to ear-to-ear
    tops = [max(p.get_y() + p.get_height() for p in c.patches) for c in ax.containers]
    assert max(tops) > 0
    (errors,) = _by_gid(ax, "errors")
    assert len(errors.get_offsets()) == 2
    _save(fig, "decomposition")


def _sweep_frame() -> pd.DataFrame:
    synth = _synthlog()
    frames = []
    for chunk_ms, scale in ((50, 0.6), (100, 0.8), (200, 1.2), (400, 1.8)):
        for policy, bonus in (("final", 1.0), ("stable", 0.6)):
            frames.append(
                synth.make_log(
                    10,
                    seed=chunk_ms,
                    chunk_ms=chunk_ms,
                    policy=policy,
                    asr_scale=scale * bonus,
                    session_id=f"{chunk_ms}-{policy}",
                )
            )
    return pd.concat(frames, ignore_index=True)


def test_sweep():
    fig = plots.plot_sweep(_sweep_frame(), x="chunk_ms", y="ear_to_ear_s", hue="policy")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "chunk size (ms)"
    assert ax.get_ylabel() == "median ear-to-ear latency (s)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["policy=final", "policy=stable"]
    assert len(ax.containers) == 2  # one errorbar line per policy
    assert len(ax.lines) >= 2 and len(ax.lines[0].get_xdata()) == 4
    _save(fig, "sweep")
    fig = plots.plot_sweep(_sweep_frame(), y="asr_lag_s", hue=None, agg="mean")
    assert fig.axes[0].get_ylabel() == "mean ASR lag (s)"
    quality = pd.DataFrame({"chunk_ms": [50, 100, 200], "bleu": [30.0, 31.5, 29.0]})
    fig = plots.plot_sweep(quality, y="bleu", hue=None)
    assert fig.axes[0].get_ylabel() == "median BLEU (0–100)"
    with pytest.raises(KeyError):
        plots.plot_sweep(quality, y="bleu", hue="voice")
    with pytest.raises(ValueError):
        plots.plot_sweep(quality, y="bleu", agg="max")


def test_compare(log):
    slow = _synthlog().make_log(14, seed=3, asr_scale=1.8, session_id="slow")
    fig = plots.plot_compare(log, slow, labels=("100 ms", "400 ms"))
    left, right = fig.axes
    assert left.get_ylabel() == "median latency (s)"
    assert right.get_xlabel() == "ear-to-ear latency (s)"
    assert [len(c) for c in left.containers] == [7, 7]
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["100 ms", "400 ms"]
    with pytest.raises(ValueError):
        plots.plot_compare(log, slow, labels=("a",))
    _save(fig, "compare")


def _lag_log() -> pd.DataFrame:
    """A lag-controlled session: speeds from 1.0 to 1.5; rows 6 and 11 skipped (no
    playback, the translation kept, their lag when left out above the 3 s target)."""
    df = _synthlog().make_log(16, errors=(), seed=4)
    df["speed"] = [1.0, 1.0, 1.1, 1.3, 1.5, 1.5, 1.5, 1.4, 1.2, 1.5, 1.5, 1.5, 1.3, 1.0, 1.0, 1.1]
    df["lag_at_play_s"] = df.t_play_start - df.t_speech_end
    for i in (6, 11):
        df.loc[i, ["t_play_start", "t_play_end"]] = None
        df.loc[i, ["status", "lag_at_play_s"]] = ["skipped", 3.6 + i / 10]
        df.loc[i, "error"] = "skipped to catch up: 4.2 s behind the speaker (max_lag_s 3)"
    return df


def test_lag(log):
    df = _lag_log()
    fig = plots.plot_lag(df, max_lag_s=3.0, max_speedup=1.5)
    top, bottom = fig.axes
    assert top.get_ylabel() == "lag behind\nthe speaker (s)" and bottom.get_ylabel() == "speed (×)"
    assert "session time" in bottom.get_xlabel() and "(s)" in bottom.get_xlabel()
    assert "target 3 s, 2 of 16 skipped" in top.get_title()
    (played,) = [line for line in top.lines if line.get_gid() == "lag-played"]
    ok = df[df.status == "ok"]
    assert list(played.get_xdata()) == pytest.approx(list(ok.t_speech_end))
    assert list(played.get_ydata()) == pytest.approx(list(ok.t_play_start - ok.t_speech_end))
    (skipped,) = _by_gid(top, "lag-skipped")
    expected = [df.t_speech_end[6], 4.2, df.t_speech_end[11], 4.7]
    assert skipped.get_offsets().ravel().tolist() == pytest.approx(expected)
    (target,) = [line for line in top.lines if line.get_gid() == "lag-target"]
    assert list(target.get_ydata()) == [3.0, 3.0]
    (speed,) = [line for line in bottom.lines if line.get_gid() == "speed"]
    assert list(speed.get_ydata()) == list(ok.speed)  # the played segments' speeds
    (cap,) = [line for line in bottom.lines if line.get_gid() == "speed-cap"]
    assert list(cap.get_ydata()) == [1.5, 1.5]
    (legend,) = fig.legends  # one legend for both panels, under them
    texts = [t.get_text() for t in legend.get_texts()]
    assert "skipped (2): lag when left out" in texts and "target 3 s" in texts
    assert "max speed-up 1.5×" in texts and "playback speed (played segment)" in texts
    _save(fig, "lag")


def test_lag_without_control_or_target(log):
    """A log from before lag control (no speed / lag_at_play_s), and one whose target is
    not known: no target line, speed 1.0, the title says so."""
    old = log.drop(columns=["speed", "lag_at_play_s"])
    fig = plots.plot_lag(old)
    top, bottom = fig.axes
    assert "no lag control" in top.get_title()
    assert not [line for line in top.lines if line.get_gid() == "lag-target"]
    (speed,) = [line for line in bottom.lines if line.get_gid() == "speed"]
    assert set(speed.get_ydata()) == {1.0}
    assert "2 of 16 skipped" in plots.plot_lag(_lag_log()).axes[0].get_title()


def test_every_axis_has_units(log):
    figures = [
        plots.plot_stage_latency(log),
        plots.plot_timeline(log),
        plots.plot_ear_to_ear_cdf(log),
        plots.plot_decomposition(log),
        plots.plot_sweep(_sweep_frame()),
        plots.plot_compare(log, log),
        plots.plot_lag(log, max_lag_s=3.0),
    ]
    for fig in figures:
        for ax in fig.axes:
            assert _has_unit(ax.get_xlabel()) or _has_unit(ax.get_ylabel()), ax.get_title()
            assert ax.get_ylabel(), ax.get_title()


def test_empty_and_all_failed_logs_do_not_crash():
    empty = pd.DataFrame(columns=list(SEGMENT_COLUMNS))
    failed = _synthlog().make_log(3)
    failed["status"] = "error"
    for frame in (empty, failed):
        plots.plot_stage_latency(frame)
        plots.plot_timeline(frame)
        plots.plot_ear_to_ear_cdf(frame)
        plots.plot_decomposition(frame)
        plots.plot_compare(frame, frame)
        plots.plot_lag(frame, max_lag_s=3.0, max_speedup=1.5)
    _save(plots.plot_timeline(failed), "timeline_failed")


def test_figures_display_in_ipython_without_pyplot(log):
    png = plots.plot_ear_to_ear_cdf(log)._repr_png_()
    assert png.startswith(b"\x89PNG")
