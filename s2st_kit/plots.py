"""Matplotlib figures from segment-log DataFrames.

Every function returns a :class:`matplotlib.figure.Figure` built with the object-oriented
API only (no pyplot, no global state), so it works headless and in threads; save it with
``fig.savefig("x.png")``. In a notebook the returned figure displays itself as a PNG even
when pyplot was never imported. Sizes default to notebook width (10 in wide); every axis
says its unit. Colours are shared: a stage has the same colour in every figure.

Functions: :func:`plot_stage_latency`, :func:`plot_timeline`, :func:`plot_ear_to_ear_cdf`,
:func:`plot_decomposition`, :func:`plot_lag`, :func:`plot_sweep`, :func:`plot_compare`;
for fan-out and conversations :func:`plot_latency_by` and :func:`plot_branch_timeline`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .lag import SET_POINT
from .metrics import STAGE_COLUMNS, TIME_COLUMNS, add_derived, lag_summary

__all__ = [
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
]

#: Display names of the decomposition stages (and the total).
STAGE_LABELS: dict[str, str] = {
    "asr_lag_s": "ASR lag",
    "dispatch_s": "dispatch",
    "mt_s": "MT",
    "handoff_s": "handoff",
    "tts_ttfb_s": "TTS first audio",
    "queue_s": "playback queue",
    "ear_to_ear_s": "ear-to-ear",
}

#: One colour per stage, used by every figure.
STAGE_COLORS: dict[str, str] = {
    "asr_lag_s": "#1f77b4",
    "dispatch_s": "#aec7e8",
    "mt_s": "#2ca02c",
    "handoff_s": "#98df8a",
    "tts_ttfb_s": "#ff7f0e",
    "queue_s": "#c5b0d5",
    "ear_to_ear_s": "#444444",
}

_SPAN_COLORS = {
    "speech": "#9e9e9e",
    "recognition": STAGE_COLORS["asr_lag_s"],
    "translation": STAGE_COLORS["mt_s"],
    "synthesis": STAGE_COLORS["tts_ttfb_s"],
    "playback": "#9467bd",
}
_ERROR_COLOR = "#d62728"

_AXIS_LABELS = {
    "chunk_ms": "chunk size (ms)",
    "ear_to_ear_s": "ear-to-ear latency (s)",
    "wer": "WER (fraction)",
    "cer": "CER (fraction)",
    "bleu": "BLEU (0–100)",
    "chrf": "chrF (0–100)",
    "asr_bleu": "ASR-BLEU (0–100)",
    "speaking_rate_cps": "speaking rate (chars/s)",
    "n_partials": "partial results (count)",
    "asr_confidence": "ASR confidence (0–1)",
    "RTF": "real-time factor (×)",
    **{k: f"{v} (s)" for k, v in STAGE_LABELS.items() if k != "ear_to_ear_s"},
}


class _Figure(Figure):
    """A Figure that renders itself as PNG in IPython without pyplot's inline backend."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def _figure(width: float = 10.0, height: float = 4.0) -> Figure:
    return _Figure(figsize=(width, height), layout="constrained")


def _axis_label(column: str) -> str:
    if column in _AXIS_LABELS:
        return _AXIS_LABELS[column]
    if column.endswith("_ms"):
        return f"{column[:-3].replace('_', ' ')} (ms)"
    if column.endswith("_s"):
        return f"{column[:-2].replace('_', ' ')} (s)"
    return column.replace("_", " ")


def _derived(df: pd.DataFrame) -> pd.DataFrame:
    return add_derived(df)


def _values(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        return np.array([], dtype=float)
    v: npt.NDArray[np.float64] = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)
    return v[~np.isnan(v)]


def _raw(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)


def _no_data(ax: Any, what: str = "no ok segments to plot") -> None:
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, color="0.4")


# --------------------------------------------------------------------------- stage latency


def plot_stage_latency(df: pd.DataFrame, *, width: float = 10.0, height: float = 4.0) -> Figure:
    """Distribution of each stage's latency: a box per stage with every segment as a dot.

    x: the six decomposition stages and ear-to-ear (see :mod:`s2st_kit.metrics`), each
    labelled with its number of segments; y: latency in seconds. Only ``ok`` rows count.
    """
    d = _derived(df)
    fig = _figure(width, height)
    ax = fig.add_subplot()
    columns = [*STAGE_COLUMNS, "ear_to_ear_s"]
    data = [_values(d, c) for c in columns]
    positions = [i for i, v in enumerate(data, 1) if len(v)]
    if positions:
        boxes = ax.boxplot(
            [data[p - 1] for p in positions],
            positions=positions,
            widths=0.55,
            showfliers=False,
            patch_artist=True,
            medianprops={"color": "black", "linewidth": 1.5},
        )
        for patch, p in zip(boxes["boxes"], positions, strict=True):
            patch.set_facecolor(STAGE_COLORS[columns[p - 1]])
            patch.set_alpha(0.6)
        rng = np.random.default_rng(0)
        for p in positions:
            v = data[p - 1]
            x = p + rng.uniform(-0.18, 0.18, size=len(v))
            ax.scatter(
                x,
                v,
                s=12,
                color="#333333",
                alpha=0.65,
                zorder=3,
                edgecolors="none",
            )
    else:
        _no_data(ax)
    ax.set_xticks(  # two-word names on two lines: the labels never run into each other
        range(1, len(columns) + 1),
        [f"{_wrapped(STAGE_LABELS[c])}\nn={len(v)}" for c, v in zip(columns, data, strict=True)],
        fontsize=9,
    )
    ax.set_xlim(0.4, len(columns) + 0.6)
    ax.axvline(len(columns) - 0.5, color="0.8", linewidth=1)
    ax.set_ylabel("latency (s)")
    ax.set_xlabel("pipeline stage (start → end event; stages sum to ear-to-ear)")
    ax.set_title("Per-stage latency")
    ax.grid(axis="y", alpha=0.3)
    return fig


def _wrapped(label: str) -> str:
    """``"TTS first audio"`` → ``"TTS\\nfirst audio"``: a long stage name on two lines."""
    return label.replace(" ", "\n", 1) if len(label) > 8 else label


# --------------------------------------------------------------------------- timeline

#: Timeline spans shorter than this fraction of the time axis are drawn this wide, so that
#: millisecond stages (translation and synthesis of the offline stack) stay visible.
MIN_SPAN_FRACTION = 0.01
#: Legend text size of the multi-series figures (pt).
LEGEND_SIZE = 10
#: The timeline's title: what the two bars of a row are.
TIMELINE_TITLE = (
    "Segment timeline: one row per segment\n"
    "below: speech in → translation played · above: recognition → translation → synthesis"
)


def plot_timeline(
    df: pd.DataFrame,
    *,
    width: float = 10.0,
    height: float | None = None,
    show_errors: bool = True,
) -> Figure:
    """Every segment's life on one session-time axis (s): the signature picture.

    One row per segment (speech order, first at the top). The lower lane holds audio: the
    source speech, placed at ``t_speech_end − (audio_end_s − audio_start_s) .. t_speech_end``,
    and its translated playback ``t_play_start .. t_play_end``. The upper lane holds the
    work: recognition ``t_speech_end .. t_asr_final``, then translation ``t_mt_start ..
    t_mt_end`` (upper half) and synthesis ``t_tts_start .. t_tts_end`` (lower half) with a
    tick at first audio. Spans shorter than :data:`MIN_SPAN_FRACTION` of the time axis
    (1 %) are drawn that wide from their start, so a stage of a few milliseconds stays
    visible; the legend says so. Rows whose status is not ``ok`` get a red ✕ after their
    last event and a red label.
    height: inches; default grows with the number of segments (4 to 14 in). For long
    sessions plot a slice, e.g. ``plot_timeline(df[df.segment_id.between(40, 60)])``, or
    zoom with ``fig.axes[0].set_xlim(t0, t1)``.
    """
    rows = df
    if "segment_id" in rows.columns:
        rows = rows.sort_values("segment_id", kind="stable")
    n = len(rows)
    if height is None:
        height = float(min(14.0, max(4.0, 1.4 + 0.26 * n)))
    fig = _figure(width, height)
    ax = fig.add_subplot()
    if n == 0:
        _no_data(ax, "empty log")
        ax.set_xlabel("session time (s)")
        return fig
    y = np.arange(n, dtype=float)
    t = {c: _raw(rows, c) for c in TIME_COLUMNS}
    speech_start = t["t_speech_end"] - (t["audio_end_s"] - t["audio_start_s"])
    row_pt = 72.0 * 0.8 * height / n  # approximate height of one row in points
    times = np.concatenate([speech_start, *(v for k, v in t.items() if k.startswith("t_"))])
    finite = times[np.isfinite(times)]
    extent = float(finite.max() - finite.min()) if len(finite) else 0.0
    handles = _timeline_spans(ax, y, t, speech_start, row_pt, min_width=MIN_SPAN_FRACTION * extent)
    status = _statuses(rows)
    bad = status != "ok"
    if show_errors and bad.any():
        handles.append(_timeline_errors(ax, y, t, speech_start, bad, row_pt))
    _timeline_rows(ax, rows, status, bad)
    ax.set_xlabel("session time (s)" + ("; stages shorter than 1 % of it drawn 1 % wide"
                                        if extent else ""))  # fmt: skip
    ax.set_title(TIMELINE_TITLE, fontsize=9.5)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4),
               fontsize=LEGEND_SIZE, frameon=False)  # fmt: skip
    return fig


def _timeline_spans(
    ax: Any,
    y: np.ndarray,
    t: dict[str, np.ndarray],
    speech_start: np.ndarray,
    row_pt: float,
    *,
    min_width: float = 0.0,
) -> list[Any]:
    """The lanes' bars (speech and playback below, the three stages above; translation and
    synthesis each in half of the work lane, at least ``min_width`` seconds wide) and the
    first-audio ticks; returns their legend handles."""
    spans = [  # name, start, end, lane offset, bar height
        ("speech", speech_start, t["t_speech_end"], +0.2, 0.36),
        ("recognition", t["t_speech_end"], t["t_asr_final"], -0.2, 0.36),
        ("translation", t["t_mt_start"], t["t_mt_end"], -0.29, 0.18),
        ("synthesis", t["t_tts_start"], t["t_tts_end"], -0.11, 0.18),
        ("playback", t["t_play_start"], t["t_play_end"], +0.2, 0.36),
    ]
    handles = []
    for name, start, end, offset, height in spans:
        ok = ~(np.isnan(start) | np.isnan(end))
        short = name in ("translation", "synthesis")
        width = np.maximum(end[ok] - start[ok], min_width if short else 0.0)
        bars = ax.barh(
            y[ok] + offset,
            width,
            left=start[ok],
            height=height,
            color=_SPAN_COLORS[name],
            label=name,
            gid=f"span-{name}",
            edgecolor="white",
            linewidth=0.0 if short else 0.3,
        )
        handles.append(bars)
    first = t["t_tts_first_audio"]
    ok = ~np.isnan(first)
    first_audio = ax.scatter(
        first[ok],
        y[ok] - 0.2,
        marker="|",
        s=float(np.clip(0.5 * row_pt, 3.0, 10.0)) ** 2,
        color="black",
        linewidths=1.5,
        zorder=4,
        label="first audio",
        gid="first-audio",
    )
    handles.append(first_audio)
    return handles


def _statuses(rows: pd.DataFrame) -> np.ndarray:
    """Each row's status as text (``"ok"`` for every row when the column is missing)."""
    if "status" not in rows.columns:
        return np.array(["ok"] * len(rows))
    return rows["status"].astype("string").fillna("?").to_numpy()


def _timeline_errors(
    ax: Any,
    y: np.ndarray,
    t: dict[str, np.ndarray],
    speech_start: np.ndarray,
    bad: np.ndarray,
    row_pt: float,
) -> Any:
    """A red ✕ after the last event of each failed row (at its speech start if it has none)."""
    events = np.vstack([v for k, v in t.items() if k.startswith("t_")])
    last = np.where(np.isnan(events), -np.inf, events).max(axis=0)
    last[np.isinf(last)] = np.nan
    xs = np.where(np.isnan(last), speech_start, last)
    return ax.scatter(
        xs[bad],
        y[bad],
        marker="X",
        s=float(np.clip(0.6 * row_pt, 5.0, 9.0)) ** 2,
        color=_ERROR_COLOR,
        zorder=5,
        label="error / dropped",
        gid="errors",
    )


def _timeline_rows(ax: Any, rows: pd.DataFrame, status: np.ndarray, bad: np.ndarray) -> None:
    """The y axis: one labelled row per segment (red when it failed), first at the top."""
    n = len(rows)
    y = np.arange(n, dtype=float)
    ids = rows["segment_id"].to_numpy() if "segment_id" in rows.columns else np.arange(n)
    labels = [f"#{i}" + ("" if s == "ok" else f" {s}") for i, s in zip(ids, status, strict=True)]
    if n <= 40:
        ax.set_yticks(y, labels, fontsize=8 if n > 20 else 9)
        for tick, is_bad in zip(ax.get_yticklabels(), bad, strict=True):
            if is_bad:
                tick.set_color(_ERROR_COLOR)
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=20))
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_ylabel("segment (speech order)")


# --------------------------------------------------------------------------- CDF


def _as_sessions(data: pd.DataFrame | Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    if isinstance(data, pd.DataFrame):
        if "session_id" in data.columns and data["session_id"].nunique() > 1:
            return {str(k): g for k, g in data.groupby("session_id", sort=False)}
        label = (
            str(data["session_id"].iloc[0])
            if "session_id" in data.columns and len(data)
            else "session"
        )
        return {label: data}
    return {str(k): v for k, v in data.items()}


def _cdf(ax: Any, values: np.ndarray, label: str, color: Any = None) -> None:
    v = np.sort(values)
    frac = np.arange(1, len(v) + 1) / len(v)
    (line,) = ax.step(
        np.r_[v[0], v],
        np.r_[0.0, frac],
        where="post",
        color=color,
        label=f"{label} (median {np.median(v):.2f} s, n={len(v)})",
    )
    ax.axvline(np.median(v), color=line.get_color(), linestyle=":", linewidth=1)


def _cdf_panel(
    ax: Any, curves: list[tuple[np.ndarray, str, Any]], *, xlabel: str, title: str, legend_size: int
) -> None:
    """Ear-to-ear CDF curves ``(values, label, color)`` on ``ax``, with axes and legend."""
    drawn = 0
    for values, label, color in curves:
        if len(values):
            _cdf(ax, values, label, color)
            drawn += 1
    if drawn:
        ax.legend(loc="lower right", fontsize=legend_size)
    else:
        _no_data(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of segments")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)


def plot_ear_to_ear_cdf(
    data: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    width: float = 10.0,
    height: float = 4.0,
) -> Figure:
    """Cumulative distribution of ear-to-ear latency (``t_play_start − t_speech_end``, s).

    data: one log (one curve per ``session_id``) or ``{label: log}``. A dotted line marks
    each median. y: fraction of ok segments played within x seconds.
    """
    fig = _figure(width, height)
    ax = fig.add_subplot()
    curves = [
        (_values(_derived(frame), "ear_to_ear_s"), label, None)
        for label, frame in _as_sessions(data).items()
    ]
    _cdf_panel(
        ax, curves, xlabel="ear-to-ear latency (s): speech end → playback start",
        title="Ear-to-ear latency CDF", legend_size=9,
    )  # fmt: skip
    return fig


# --------------------------------------------------------------------------- decomposition


def plot_decomposition(df: pd.DataFrame, *, width: float = 10.0, height: float = 4.0) -> Figure:
    """Stacked bars per segment: the six stages adding up to its ear-to-ear latency (s).

    x: segment id in speech order (beyond 40 segments the ticks are positions); rows without
    an ear-to-ear latency (not ``ok``, or never played) show a red ✕ and a red tick label.
    """
    d = _derived(df)
    if "segment_id" in d.columns:
        d = d.sort_values("segment_id", kind="stable")
    fig = _figure(width, height)
    ax = fig.add_subplot()
    ids = d["segment_id"].to_numpy() if "segment_id" in d.columns else np.arange(len(d))
    e2e = _raw(d, "ear_to_ear_s")
    ok = ~np.isnan(e2e)
    x = np.arange(len(d), dtype=float)
    handles = _stacked_stages(ax, d, x, ok)
    if (~ok).any():
        errors = ax.scatter(
            x[~ok],
            np.zeros(int((~ok).sum())),
            marker="X",
            s=60,
            color=_ERROR_COLOR,
            zorder=5,
            clip_on=False,
            label="error / not played",
            gid="errors",
        )
        handles.append(errors)
    if not ok.any():
        _no_data(ax)
    if len(d) <= 40:
        ax.set_xticks(x, [str(i) for i in ids], fontsize=8 if len(d) > 20 else 9)
        for tick, played in zip(ax.get_xticklabels(), ok, strict=True):
            if not played:
                tick.set_color(_ERROR_COLOR)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=20))
    ax.set_xlim(-0.6, len(d) - 0.4)
    ax.set_xlabel("segment id (speech order)")
    ax.set_ylabel("latency (s)")
    ax.set_title("Ear-to-ear latency decomposition per segment")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0),
              fontsize=LEGEND_SIZE - 1, frameon=False)  # fmt: skip
    return fig


def _stacked_stages(ax: Any, d: pd.DataFrame, x: np.ndarray, ok: np.ndarray) -> list[Any]:
    """The six stages stacked per played segment; legend handles, top of the stack first."""
    bottom = np.zeros(int(ok.sum()))
    handles: list[Any] = []
    for column in STAGE_COLUMNS:
        v = np.nan_to_num(_raw(d, column)[ok])
        bars = ax.bar(
            x[ok],
            v,
            bottom=bottom,
            width=0.8,
            color=STAGE_COLORS[column],
            label=STAGE_LABELS[column],
            gid=f"stage-{column}",
        )
        handles.insert(0, bars)  # legend top to bottom = stack top to bottom
        bottom = bottom + v
    return handles


# --------------------------------------------------------------------------- lag


def plot_lag(
    df: pd.DataFrame,
    *,
    max_lag_s: float | None = None,
    max_speedup: float | None = None,
    width: float = 10.0,
    height: float = 5.0,
) -> Figure:
    """How far behind the speaker the listener was over the session, and the speed chosen.

    Top: each played segment's lag (ear-to-ear, ``t_play_start − t_speech_end``, s) at the
    session time its speech ended (``t_speech_end``, s); segments lag control skipped as
    red ✕ at the lag they had when left out (``lag_at_play_s``); the target ``max_lag_s``
    (dashed) and the set point where speeding up starts (dotted, 75 % of the target) when
    the target is given. Bottom: each played segment's playback speed (× natural; 1.0 =
    natural), with ``max_speedup`` (dotted) when given. Rows that failed or were dropped
    are not drawn (the timeline shows them). One legend for both panels, under them, so
    the panels keep the figure's width (the live chart in the panel is 7 in wide).
    """
    d = _derived(df)
    fig = _figure(width, height)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.6, 1.0])
    t_end, lag = _raw(d, "t_speech_end"), _raw(d, "ear_to_ear_s")
    played = ~(np.isnan(t_end) | np.isnan(lag))
    skipped = (_statuses(d) == "skipped") & ~np.isnan(t_end)
    order = np.argsort(t_end[played], kind="stable")
    x, y = t_end[played][order], lag[played][order]
    speed = np.nan_to_num(_raw(d, "speed")[played][order], nan=1.0)
    if played.any() or skipped.any():
        _lag_panel(top, x, y, (t_end[skipped], _raw(d, "lag_at_play_s")[skipped]), max_lag_s)
        _speed_panel(bottom, x, speed, max_speedup)
    else:
        _no_data(top, "no played or skipped segment to plot")
    top.set_title(f"Lag behind the speaker and speed ({_lag_title(d, max_lag_s)})")
    top.set_ylabel("lag behind\nthe speaker (s)")
    bottom.set_ylabel("speed (×)")
    bottom.set_xlabel("session time when the speaker finished the segment (s)")
    handles = []
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        handles += ax.get_legend_handles_labels()[0]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=3,
                   fontsize=LEGEND_SIZE - 1, frameon=False)  # fmt: skip
    return fig


def _lag_title(d: pd.DataFrame, max_lag_s: float | None) -> str:
    """``"target 3 s, 2 of 40 skipped"``, or ``"no lag control"`` for an uncontrolled log."""
    summary = lag_summary(d)
    skipped = f"{summary.skipped} of {summary.segments} skipped"
    if max_lag_s is not None:
        return f"target {max_lag_s:g} s, {skipped}"
    return skipped if summary.controlled or summary.skipped else "no lag control"


def _lag_panel(
    ax: Any,
    x: np.ndarray,
    y: np.ndarray,
    skipped: tuple[np.ndarray, np.ndarray],
    max_lag_s: float | None,
) -> None:
    """Played segments' lag, skipped segments, the target and set point; legend outside."""
    ax.plot(x, y, marker="o", markersize=3.5, linewidth=1.0, color="#333333",
            label="played segment (ear-to-ear)", gid="lag-played")  # fmt: skip
    skip_x, skip_lag = skipped
    if len(skip_x):
        at = np.where(np.isnan(skip_lag), np.nanmax(np.r_[y, 0.0]), skip_lag)
        ax.scatter(skip_x, at, marker="X", s=55, color=_ERROR_COLOR, zorder=5,
                   label=f"skipped ({len(skip_x)}): lag when left out", gid="lag-skipped")  # fmt: skip
    if max_lag_s is not None:
        ax.axhline(max_lag_s, color="#1565c0", linestyle="--", linewidth=1.3,
                   label=f"target {max_lag_s:g} s", gid="lag-target")  # fmt: skip
        ax.axhline(SET_POINT * max_lag_s, color="#1565c0", linestyle=":", linewidth=1.0,
                   label=f"speed-up starts ({SET_POINT:.0%})", gid="lag-set-point")  # fmt: skip
    ax.set_ylim(bottom=0.0)


def _speed_panel(ax: Any, x: np.ndarray, speed: np.ndarray, max_speedup: float | None) -> None:
    """Each played segment's playback speed (a dot per segment, shaded down to 1.0)."""
    if len(x):
        ax.fill_between(x, 1.0, speed, color="#ff7f0e", alpha=0.25, linewidth=0)
        ax.plot(x, speed, marker="o", markersize=3.5, linewidth=1.0, color="#e06c00",
                label="playback speed (played segment)", gid="speed")  # fmt: skip
    top = max(float(speed.max()) if len(speed) else 1.0, max_speedup or 1.0, 1.1)
    if max_speedup is not None:
        ax.axhline(max_speedup, color="#ff7f0e", linestyle=":", linewidth=1.0,
                   label=f"max speed-up {max_speedup:g}×", gid="speed-cap")  # fmt: skip
    ax.set_ylim(0.95, top + 0.05 * (top - 0.95) + 0.02)


# --------------------------------------------------------------------------- sweep


def plot_sweep(
    df: pd.DataFrame,
    *,
    x: str = "chunk_ms",
    y: str = "ear_to_ear_s",
    hue: str | None = "policy",
    agg: str = "median",
    width: float = 10.0,
    height: float = 4.0,
) -> Figure:
    """A metric against a configuration knob, one line per ``hue`` value.

    df: per-segment rows of a sweep (config columns such as ``chunk_ms``, ``policy``,
    ``voice``), or any table with ``x``, ``y`` (and ``hue``) columns, e.g. per-config
    quality scores. y: a log column, a derived latency column (computed when missing) or a
    quality column. Each point is ``agg`` (``"median"`` or ``"mean"``) of ``y`` over the
    rows with that ``x``; for medians the bar spans the 25th–75th percentiles.
    """
    if agg not in ("median", "mean"):
        raise ValueError(f"agg must be 'median' or 'mean', got {agg!r}")
    d = df
    if y not in d.columns:
        d = _derived(d)
    for column in (x, y) + ((hue,) if hue else ()):
        if column not in d.columns:
            raise KeyError(f"column {column!r} not in the frame; have {list(d.columns)}")
    d = d.assign(**{y: pd.to_numeric(d[y], errors="coerce")}).dropna(subset=[y])
    fig = _figure(width, height)
    ax = fig.add_subplot()
    groups = d.groupby(hue, sort=True) if hue else [(None, d)]
    for label, g in groups:
        stats = g.groupby(x, sort=True)[y]
        centre = stats.median() if agg == "median" else stats.mean()
        xs = centre.index.to_numpy()
        line_label = f"{hue}={label!s}" if hue else agg
        if agg == "median":
            low = centre - stats.quantile(0.25)
            high = stats.quantile(0.75) - centre
            ax.errorbar(
                xs,
                centre.to_numpy(),
                yerr=[low.to_numpy(), high.to_numpy()],
                marker="o",
                capsize=3,
                label=line_label,
            )
        else:
            ax.plot(xs, centre.to_numpy(), marker="o", label=line_label)
    if len(d) == 0:
        _no_data(ax, f"no values of {y}")
    elif hue or agg == "median":
        ax.legend(fontsize=9)
    ax.set_xlabel(_axis_label(x))
    ax.set_ylabel(f"{agg} {_axis_label(y)}")
    spread = " (bars: 25th–75th percentile)" if agg == "median" else ""
    ax.set_title(f"{_axis_label(y)} vs {_axis_label(x)}{spread}")
    ax.grid(alpha=0.3)
    return fig


# --------------------------------------------------------------------------- compare


def plot_compare(
    df_a: pd.DataFrame,
    df_b: pd.DataFrame,
    *,
    labels: Sequence[str] = ("A", "B"),
    width: float = 10.0,
    height: float = 4.0,
) -> Figure:
    """Two sessions side by side: per-stage median latency (left) and ear-to-ear CDF (right).

    labels: names of the two sessions in the legends. All latencies in seconds.
    """
    if len(labels) != 2:
        raise ValueError("labels must name the two sessions, e.g. ('100 ms', '200 ms')")
    fig = _figure(width, height)
    left, right = fig.subplots(1, 2, width_ratios=[1.4, 1.0])
    columns = [*STAGE_COLUMNS, "ear_to_ear_s"]
    frames = [_derived(df_a), _derived(df_b)]
    colors = ["#1f77b4", "#ff7f0e"]
    xs = np.arange(len(columns), dtype=float)
    for k, (frame, label, color) in enumerate(zip(frames, labels, colors, strict=True)):
        medians = [
            float(np.median(v)) if len(v := _values(frame, c)) else math.nan for c in columns
        ]
        left.bar(
            xs + (k - 0.5) * 0.4,
            np.nan_to_num(medians),
            width=0.4,
            color=color,
            label=str(label),
            gid=f"median-{k}",
        )
    left.set_xticks(xs, [STAGE_LABELS[c].replace(" ", "\n", 1) for c in columns], fontsize=8)
    left.set_ylabel("median latency (s)")
    left.set_xlabel("pipeline stage")
    left.set_title("Per-stage medians")
    left.legend(fontsize=9)
    left.grid(axis="y", alpha=0.3)
    curves = [
        (_values(frame, "ear_to_ear_s"), str(label), color)
        for frame, label, color in zip(frames, labels, colors, strict=True)
    ]
    _cdf_panel(
        right, curves, xlabel="ear-to-ear latency (s)", title="Ear-to-ear CDF", legend_size=8
    )
    return fig


# --------------------------------------------------------------------------- fan-out / conversation


def _groups(df: pd.DataFrame, by: str) -> list[tuple[str, pd.DataFrame]]:
    """``df`` split by column ``by`` in order of appearance (one group ``"all"`` without it)."""
    if by not in df.columns:
        return [("all", df)]
    keys = df[by].fillna("all").astype(str)
    return [(key, df[keys == key]) for key in dict.fromkeys(keys)]


def plot_latency_by(
    df: pd.DataFrame, *, by: str = "listener", width: float = 10.0, height: float = 4.0
) -> Figure:
    """Latency per branch of a fan-out (``by="listener"``) or per direction of a
    conversation (``by="party"``): ear-to-ear latency (s) of each group's played segments as
    a box with its points (left), and each group's median stage latencies (s) stacked in the
    decomposition's colours (right; medians do not add up to the median total exactly)."""
    d = _derived(df)
    groups = _groups(d, by)
    fig = _figure(width, height)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    values = [_values(g, "ear_to_ear_s") for _, g in groups]
    names = [name for name, _ in groups]
    if not any(len(v) for v in values):
        _no_data(left)
        _no_data(right)
        return fig
    left.boxplot([v if len(v) else [np.nan] for v in values], orientation="horizontal", widths=0.5)
    for i, v in enumerate(values, start=1):
        jitter = np.linspace(-0.12, 0.12, len(v)) if len(v) > 1 else np.zeros(len(v))
        left.scatter(v, i + jitter, s=14, color=STAGE_COLORS["ear_to_ear_s"], alpha=0.6, zorder=3)
        if len(v):
            left.annotate(f"{np.median(v):.2f} s", (np.median(v), i + 0.3), ha="center", fontsize=9)
    left.set_yticks(range(1, len(names) + 1), names)
    left.invert_yaxis()
    left.set_xlabel("ear-to-ear latency (s)")
    left.set_ylabel(by)
    left.set_title(f"Ear-to-ear latency by {by}")
    base = np.zeros(len(groups))
    for stage in STAGE_COLUMNS:
        med = np.array([np.median(v) if len(v := _values(g, stage)) else 0.0 for _, g in groups])
        right.barh(names, med, left=base, color=STAGE_COLORS[stage], label=STAGE_LABELS[stage])
        base += med
    right.invert_yaxis()
    right.set_xlabel("median stage latency (s)")
    right.set_title("Stages (medians)")
    right.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    return fig


def plot_branch_timeline(
    df: pd.DataFrame, *, by: str = "listener", width: float = 10.0, height: float | None = None
) -> Figure:
    """The branches side by side on one session-time axis (s): a lane of source speech per
    speaker (``t_speech_start .. t_speech_end``; one lane per ``party`` in a conversation),
    then one lane per ``by`` group (listener, by default) with each segment's playback
    ``t_play_start .. t_play_end`` labelled with its ``segment_id``. Rows not played
    (error, dropped, skipped) are a red ✕ at their last known time on their lane."""
    d = _derived(df)
    speakers = _groups(d, "party")
    branches = _groups(d, by)
    lanes = len(speakers) + len(branches)
    fig = _figure(width, height or float(min(10.0, 1.2 + 0.7 * lanes)))
    ax = fig.add_subplot()
    if len(d) == 0:
        _no_data(ax, "empty log")
        return fig
    labels: list[str] = []
    for name, g in speakers:
        first = g.drop_duplicates("segment_id")
        start, end = _raw(first, "t_speech_start"), _raw(first, "t_speech_end")
        y = len(labels)
        ax.broken_barh(
            [(a, b - a) for a, b in zip(start, end, strict=True) if np.isfinite(a + b)],
            (y - 0.35, 0.7), color=_SPAN_COLORS["speech"],
        )  # fmt: skip
        labels.append("speech" if name == "all" else f"{name} speaks")
    for i, (name, g) in enumerate(branches):
        y = len(labels)
        color = f"C{i % 10}"
        start, end = _raw(g, "t_play_start"), _raw(g, "t_play_end")
        ok = np.isfinite(start + end)
        ax.broken_barh(
            [(a, b - a) for a, b in zip(start[ok], end[ok], strict=True)], (y - 0.35, 0.7),
            color=color, alpha=0.85,
        )  # fmt: skip
        for a, sid in zip(start[ok], g["segment_id"].to_numpy()[ok], strict=True):
            ax.text(a, y, f" {sid}", va="center", fontsize=7, color="white")
        bad = g[(g["status"] != "ok") | ~ok]
        last = bad[[c for c in TIME_COLUMNS if c.startswith("t_") and c in bad]].max(axis=1)
        ax.scatter(last, np.full(len(last), y), marker="x", color=_ERROR_COLOR, zorder=3)
        labels.append(f"{by} {name} hears")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("session time (s)")
    ax.set_title(f"Speech and playback per {by}")
    ax.grid(axis="x", alpha=0.3)
    return fig
