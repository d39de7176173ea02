"""Live views of a running pipeline, fed by its events (``pipe.subscribe(view.handle)``).

* :class:`TranscriptFeed`: partial transcripts (grey, replaced in place), finals, and the
  translation of each committed segment under the words it came from.
* :class:`LatencyChart`: the segment timeline, per-stage latencies or the lag behind the
  speaker from :mod:`s2st_kit.plots`, redrawn when rows arrive but at most every
  ``interval_s`` (default 0.5 s); the PNG is rendered in a worker thread so the kernel
  stays responsive.
* :class:`ResultsView`: at session end, the segment table, the per-stage summary
  (:func:`s2st_kit.metrics.stage_summary`), the lag summary
  (:func:`s2st_kit.metrics.lag_summary`) and a player for the translated speech.
* :func:`status_html`: the one-line status (state, elapsed time, segments, the live lag
  and speed, segments skipped, last error).

Each view keeps its state in plain Python (:class:`FeedModel`, the chart's rows) and pushes
values into ``ipywidgets.HTML`` / ``Image`` / ``Audio`` widgets; nothing here prints or
blocks the event loop. Event handlers are synchronous and quick, as subscribers must be.
"""

from __future__ import annotations

import asyncio
import html
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ..events import (
    ErrorEvent,
    Event,
    FinalTranscript,
    PartialTranscript,
    SegmentCommitted,
    SegmentLogged,
    StateChanged,
    TranslationReady,
)
from .model import SessionState

__all__ = [
    "FeedLine",
    "FeedModel",
    "LatencyChart",
    "ResultsView",
    "Throttle",
    "TranscriptFeed",
    "render_chart_png",
    "results_html",
    "status_html",
]

_STATE_COLORS: dict[SessionState, str] = {
    "idle": "#777",
    "starting": "#b8860b",
    "running": "#2e7d32",
    "stopping": "#b8860b",
    "stopped": "#1565c0",
    "finished": "#1565c0",
    "failed": "#c62828",
}


class Throttle:
    """Call ``fn()`` at most once per ``interval_s`` seconds; calls in between coalesce
    into one trailing call. Without a running event loop the call happens at once.

    interval_s: minimum time between two calls (s).
    """

    def __init__(self, fn: Callable[[], Any], interval_s: float) -> None:
        self.fn = fn
        self.interval_s = interval_s
        self._last = -float("inf")
        self._handle: asyncio.TimerHandle | None = None
        self.calls = 0

    def __call__(self) -> None:
        if self._handle is not None:
            return  # a trailing call is already scheduled
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._fire()
            return
        delay = self._last + self.interval_s - time.monotonic()
        if delay <= 0:
            self._fire()
        else:
            self._handle = loop.call_later(delay, self._fire)

    def flush(self) -> None:
        """Run a pending call now."""
        if self._handle is not None:
            self._handle.cancel()
            self._fire()

    def cancel(self) -> None:
        """Forget a pending call."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._last = time.monotonic()
        self.calls += 1
        self.fn()


# --------------------------------------------------------------------------- transcript feed


@dataclass(slots=True)
class FeedLine:
    """One utterance: its latest text and the translations of segments committed from it.

    translations: ``{segment_id: text}``; errors: ``{segment_id: message}``; skipped:
    ``{segment_id: why}`` for segments lag control left out (translated, never played).
    t: session time (s) of the latest transcript.
    """

    utterance_id: int
    text: str = ""
    final: bool = False
    t: float = 0.0
    segments: list[int] = field(default_factory=list)
    translations: dict[int, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)


class FeedModel:
    """What the transcript feed shows, updated from pipeline events.

    max_lines: utterances kept on screen (older ones scroll away; the log keeps everything).
    """

    def __init__(self, max_lines: int = 8) -> None:
        self.max_lines = max_lines
        self.lines: dict[int, FeedLine] = {}
        self._current: int | None = None  # utterance the last transcript belonged to
        self._segment_line: dict[int, int] = {}
        self.finals = 0
        self.translations = 0

    def reset(self) -> None:
        """Forget everything (a new session)."""
        self.lines.clear()
        self._segment_line.clear()
        self._current = None
        self.finals = self.translations = 0

    def handle(self, event: Event) -> bool:
        """Apply ``event``; True if what is shown changed."""
        if isinstance(event, PartialTranscript | FinalTranscript):
            line = self.lines.get(event.utterance_id)
            if line is None:
                line = self.lines[event.utterance_id] = FeedLine(event.utterance_id)
                while len(self.lines) > self.max_lines:
                    old = min(self.lines)
                    for sid in self.lines.pop(old).segments:
                        self._segment_line.pop(sid, None)
            line.text = event.transcript.text
            line.final = isinstance(event, FinalTranscript)
            line.t = event.t
            self.finals += line.final
            self._current = event.utterance_id
            return True
        if isinstance(event, SegmentCommitted):
            # Commits happen right after the transcript that caused them: same utterance.
            if self._current is not None and self._current in self.lines:
                self.lines[self._current].segments.append(event.segment_id)
                self._segment_line[event.segment_id] = self._current
            return False
        if isinstance(event, TranslationReady):
            line = self._line_of(event.segment_id)
            if line is not None:
                line.translations[event.segment_id] = event.translation.text
                self.translations += 1
                return True
            return False
        if isinstance(event, ErrorEvent) and event.segment_id is not None:
            line = self._line_of(event.segment_id)
            if line is not None:
                line.errors[event.segment_id] = event.message
                return True
        if isinstance(event, SegmentLogged) and event.row.get("status") not in (None, "ok"):
            return self._not_played(event.segment_id, event.row)
        return False

    def _not_played(self, segment_id: int, row: dict[str, Any]) -> bool:
        """A logged row that did not play: skipped by lag control, or an error / drop."""
        line = self._line_of(segment_id)
        status, error = row.get("status"), row.get("error") or ""
        if line is None or segment_id in line.errors:
            return False
        if status == "skipped":
            line.skipped[segment_id] = error or "skipped to catch up with the speaker"
        else:
            line.errors[segment_id] = f"{status}: {error}"
        return True

    def _line_of(self, segment_id: int) -> FeedLine | None:
        uid = self._segment_line.get(segment_id)
        return self.lines.get(uid) if uid is not None else None

    def to_html(self) -> str:
        """The feed as HTML: oldest utterance first; partials grey and italic."""
        if not self.lines:
            return (
                "<div class='s2st-feed' style='color:#888;font-style:italic;padding:6px'>"
                "transcripts and translations appear here while the session runs</div>"
            )
        rows = []
        for uid in sorted(self.lines):
            line = self.lines[uid]
            style = "color:#222" if line.final else "color:#999;font-style:italic"
            kind = "final" if line.final else "partial"
            rows.append(
                f"<div class='s2st-line s2st-{kind}' style='margin:3px 0'>"
                f"<span style='color:#aaa;font-size:11px;font-family:monospace'>"
                f"{line.t:6.1f}s</span> "
                f"<span class='s2st-transcript' style='{style}'>{html.escape(line.text)}</span>"
            )
            for sid in line.segments:
                if sid in line.translations:
                    rows.append(
                        "<div class='s2st-translation' style='color:#1565c0;margin-left:52px'>"
                        f"→ {html.escape(line.translations[sid])}</div>"
                    )
                if sid in line.skipped:
                    rows.append(
                        "<div class='s2st-seg-skipped' style='color:#888;margin-left:52px'>"
                        f"⏭ {html.escape(line.skipped[sid])}</div>"
                    )
                if sid in line.errors:
                    rows.append(
                        "<div class='s2st-seg-error' style='color:#c62828;margin-left:52px'>"
                        f"✕ {html.escape(line.errors[sid])}</div>"
                    )
            rows.append("</div>")
        return "<div class='s2st-feed' style='line-height:1.35'>" + "".join(rows) + "</div>"


class TranscriptFeed:
    """An ``ipywidgets.HTML`` showing a :class:`FeedModel`, re-rendered at most every
    ``interval_s`` (default 0.1 s). ``handle`` is the pipeline subscriber."""

    def __init__(self, *, max_lines: int = 8, interval_s: float = 0.1) -> None:
        self.model = FeedModel(max_lines)
        self.widget = widgets.HTML(
            self.model.to_html(),
            layout=widgets.Layout(
                min_height="180px", max_height="360px", overflow="auto",
                border="1px solid #ddd", padding="4px 8px", width="auto",
            ),
        )  # fmt: skip
        self._render = Throttle(self._draw, interval_s)

    def reset(self) -> None:
        """Clear for a new session."""
        self._render.cancel()
        self.model.reset()
        self._draw()

    def handle(self, event: Event) -> None:
        """Pipeline subscriber."""
        if self.model.handle(event):
            self._render()
        if isinstance(event, StateChanged) and event.state in ("stopped", "failed"):
            self._render.flush()

    def flush(self) -> None:
        """Show the latest state now."""
        self._render.flush()
        self._draw()

    def _draw(self) -> None:
        self.widget.value = self.model.to_html()


# --------------------------------------------------------------------------- latency chart

CHART_KINDS: tuple[str, ...] = ("timeline", "stages", "lag")


def render_chart_png(
    rows: Sequence[dict[str, Any]],
    kind: str = "timeline",
    *,
    last: int = 12,
    width: float = 7.0,
    height: float = 3.6,
    dpi: int = 96,
    max_lag_s: float | None = None,
    max_speedup: float | None = None,
) -> bytes:
    """PNG bytes of the live chart for the rows logged so far (safe to call in a thread).

    kind: ``"timeline"`` (:func:`~s2st_kit.plots.plot_timeline` of the last ``last``
    segments), ``"stages"`` (:func:`~s2st_kit.plots.plot_stage_latency`) or ``"lag"``
    (:func:`~s2st_kit.plots.plot_lag` of the whole session, with lag control's target
    ``max_lag_s`` (s) and speed cap ``max_speedup`` (×) when given).
    width / height: inches; dpi: dots per inch.
    """
    from .. import plots
    from ..metrics import add_derived

    df = add_derived(pd.DataFrame(list(rows))) if rows else pd.DataFrame()
    if kind == "timeline":
        if len(df) > last and "segment_id" in df.columns:
            df = df.sort_values("segment_id").tail(last)
        fig = plots.plot_timeline(df, width=width, height=height)
    elif kind == "stages":
        fig = plots.plot_stage_latency(df, width=width, height=height)
    elif kind == "lag":
        fig = plots.plot_lag(
            df, max_lag_s=max_lag_s, max_speedup=max_speedup, width=width, height=height
        )
    else:
        raise ValueError(f"chart kind must be one of {', '.join(CHART_KINDS)}, got {kind!r}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class LatencyChart:
    """A live latency chart in an ``ipywidgets.Image``.

    kind: ``"timeline"``, ``"stages"`` or ``"lag"`` (a toggle above the image switches).
    interval_s: minimum time between two redraws (s), default 0.5 (≤ 2 per second).
    Redraws happen when a row is logged; the PNG is rendered with
    :func:`render_chart_png` in a worker thread, one at a time. ``max_lag_s`` /
    ``max_speedup``: the session's lag control settings the lag chart draws (set per
    session by the panel; ``None``: not drawn).
    """

    def __init__(self, *, kind: str = "timeline", interval_s: float = 0.5) -> None:
        if kind not in CHART_KINDS:
            raise ValueError(f"chart kind must be one of {', '.join(CHART_KINDS)}, got {kind!r}")
        self.rows: list[dict[str, Any]] = []
        self.max_lag_s: float | None = None
        self.max_speedup: float | None = None
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="100%"))
        self.kind = widgets.ToggleButtons(
            options=[("timeline", "timeline"), ("per stage", "stages"), ("lag", "lag")],
            value=kind,
            style={"button_width": "90px"},
        )
        self.kind.observe(lambda _: self.request(), names="value")
        self.placeholder = widgets.HTML(
            "<div style='color:#888;font-style:italic;padding:6px'>"
            "the latency chart draws itself as segments are played</div>"
        )
        self.widget = widgets.VBox([self.kind, self.placeholder, self.image])
        self.image.layout.display = "none"
        self._throttle = Throttle(self._kick, interval_s)
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.renders = 0

    def reset(self) -> None:
        """Clear for a new session."""
        self._throttle.cancel()
        self.rows = []
        self.image.layout.display = "none"
        self.placeholder.layout.display = None

    def handle(self, event: Event) -> None:
        """Pipeline subscriber: a logged row triggers a (throttled) redraw."""
        if isinstance(event, SegmentLogged):
            self.rows.append(event.row)
            self.request()

    def request(self) -> None:
        """Ask for a redraw (throttled)."""
        if self.rows:
            self._throttle()

    async def draw(self) -> None:
        """Redraw now and wait for it (used at session end)."""
        self._throttle.cancel()
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        if self.rows:
            await self._render()

    def _kick(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (plain scripts / tests): draw synchronously
            self._show(self._png(self.rows))
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = loop.create_task(self._render())

    async def _render(self) -> None:
        png = await asyncio.to_thread(self._png, list(self.rows))
        self._show(png)
        if self._again:
            self._again = False
            self._throttle()

    def _png(self, rows: list[dict[str, Any]]) -> bytes:
        return render_chart_png(
            rows, self.kind.value, max_lag_s=self.max_lag_s, max_speedup=self.max_speedup
        )

    def _show(self, png: bytes) -> None:
        self.image.value = png
        self.renders += 1
        self.image.layout.display = None
        self.placeholder.layout.display = "none"


# --------------------------------------------------------------------------- results

#: Columns of the compact segment table shown at session end.
TABLE_COLUMNS: tuple[str, ...] = (
    "segment_id", "audio_start_s", "audio_end_s", "transcript", "translation",
    "asr_lag_s", "mt_s", "tts_ttfb_s", "ear_to_ear_s", "speed", "status",
)  # fmt: skip


def results_html(
    df: pd.DataFrame,
    summary: pd.DataFrame | None = None,
    *,
    max_rows: int = 50,
    max_lag_s: float | None = None,
) -> str:
    """HTML of the segment table (compact columns, up to ``max_rows``), the stage summary
    and, when lag control was on (``max_lag_s``: its target, s) or shows in the log, the
    lag behind the speaker, the playback speed and the segments skipped."""
    from ..metrics import lag_summary

    if df.empty:
        return "<p style='color:#888'><i>no segment was logged in this session</i></p>"
    cols = [c for c in TABLE_COLUMNS if c in df.columns]
    shown = df[cols].head(max_rows)
    table = shown.to_html(
        index=False, float_format=lambda x: f"{x:.2f}", na_rep="", classes="s2st-segments",
        border=0, escape=True,
    )  # fmt: skip
    more = (
        f"<p style='color:#888'>… {len(df) - max_rows} more rows in panel.dataframe()</p>"
        if len(df) > max_rows
        else ""
    )
    parts = [
        _TABLE_CSS,
        f"<h4 style='margin:6px 0'>Segments ({len(df)})</h4>",
        table,
        more,
    ]
    lag = lag_summary(df)
    if max_lag_s is not None or lag.controlled or lag.skipped:
        lines = "<br>".join(html.escape(t) for t in lag.describe(max_lag_s).splitlines())
        parts += ["<h4 style='margin:10px 0 6px'>Lag control</h4>",
                  f"<p class='s2st-lag-summary' style='margin:0'>{lines}</p>"]  # fmt: skip
    if summary is not None:
        parts += [
            "<h4 style='margin:10px 0 6px'>Latency by stage (s)</h4>",
            summary.to_html(
                float_format=lambda x: f"{x:.3f}", na_rep="–", classes="s2st-summary", border=0
            ),
        ]
    return "".join(parts)


_TABLE_CSS = """<style>
.s2st-segments, .s2st-summary {border-collapse:collapse;font-size:12px}
.s2st-segments th, .s2st-summary th {background:#f3f3f3;padding:3px 6px;text-align:left}
.s2st-segments td, .s2st-summary td {padding:2px 6px;border-top:1px solid #eee;vertical-align:top}
</style>"""


class ResultsView:
    """Session results: segment table and stage summary (HTML) and the translated speech."""

    def __init__(self) -> None:
        self.table = widgets.HTML(layout=widgets.Layout(width="100%", overflow="auto"))
        self.audio = widgets.Audio(format="wav", autoplay=False, loop=False)
        self.audio_box = widgets.VBox(
            [widgets.HTML("<b>Translated speech</b>"), self.audio],
            layout=widgets.Layout(display="none"),
        )
        self.widget = widgets.VBox([self.table, self.audio_box])

    def reset(self) -> None:
        """Clear for a new session."""
        self.table.value = ""
        self.audio_box.layout.display = "none"

    def show(
        self, df: pd.DataFrame, *, wav: bytes | None = None, max_lag_s: float | None = None
    ) -> None:
        """Show the session's segment frame (with derived columns) and its audio;
        ``max_lag_s``: the session's lag control target (s), ``None`` when off."""
        from ..metrics import stage_summary

        summary = stage_summary(df) if not df.empty else None
        self.table.value = results_html(df, summary, max_lag_s=max_lag_s)
        if wav:
            self.audio.value = wav
            self.audio_box.layout.display = None


def _lag_bits(
    lag_s: float | None, speed: float | None, max_lag_s: float | None, skipped: int
) -> list[str]:
    """``lag 2.4 s (max 3 s)``, ``speed 1.30×``, ``2 skipped``: what is known of them."""
    bits = []
    if lag_s is not None:
        over = max_lag_s is not None and lag_s > max_lag_s
        style = "color:#c62828" if over else "color:#333"
        target = f" (max {max_lag_s:g} s)" if max_lag_s is not None else ""
        bits.append(f"<span class='s2st-lag' style='{style}'>lag {lag_s:.1f} s{target}</span>")
    if speed is not None and (max_lag_s is not None or speed != 1.0):
        bits.append(f"<span class='s2st-speed'>speed {speed:.2f}×</span>")
    if skipped:
        bits.append(f"<span class='s2st-skipped' style='color:#888'>{skipped} skipped</span>")
    return bits


def status_html(
    state: SessionState,
    *,
    elapsed_s: float | None = None,
    translated: int = 0,
    played: int = 0,
    errors: int = 0,
    last_error: str | None = None,
    note: str | None = None,
    lag_s: float | None = None,
    speed: float | None = None,
    max_lag_s: float | None = None,
    skipped: int = 0,
) -> str:
    """The status line: state (``finished`` reads "finished · end of input"), and once a
    session has run (``elapsed_s`` given) its session time (s), segments translated (counted as each translation appears) and played
    (to the end), the lag behind the speaker (s, with lag control's target) and playback
    speed (×) of the segment playing, segments skipped, last error (wrapped under it)."""
    color = _STATE_COLORS.get(state, "#555")
    label = "finished · end of input" if state == "finished" else state
    bits = [f"<b class='s2st-state' style='color:{color}'>● {html.escape(label)}</b>"]
    if elapsed_s is not None:  # a session ran (or runs): its time and counts
        bits.append(f"{elapsed_s:.1f} s")
        bits.append(
            f"<span class='s2st-segments-count' title='segments translated so far · played "
            f"to the end'>{translated} translated · {played} played</span>"
        )
    bits += _lag_bits(lag_s, speed, max_lag_s, skipped)
    if errors:
        bits.append(f"<span style='color:#c62828'>{errors} error{'s' * (errors != 1)}</span>")
    if note:
        bits.append(f"<span style='color:#555'>{html.escape(note)}</span>")
    text = " · ".join(bits)
    if last_error:
        text += (
            "<div class='s2st-last-error' style='color:#c62828;white-space:normal;"
            f"overflow-wrap:anywhere'>last error: {html.escape(last_error)}</div>"
        )
    return f"<div class='s2st-status' style='white-space:normal;line-height:1.35'>{text}</div>"
