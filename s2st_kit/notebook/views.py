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
from .model import SessionState, language_label

__all__ = [
    "FeedKey",
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


#: A translation's place in the feed: (segment id, listener); the listener is ``None`` for
#: an error event that does not name one.
FeedKey = tuple[int, str | None]


@dataclass(slots=True)
class FeedLine:
    """One utterance: its latest text and the translations of segments committed from it.

    translations: ``{(segment_id, listener): text}``; errors: ``{(segment_id, listener):
    message}``; skipped: ``{(segment_id, listener): why}`` for segments lag control left
    out (translated, never played). With one target every key has the same listener.
    t: session time (s) of the latest transcript.
    """

    utterance_id: int
    text: str = ""
    final: bool = False
    t: float = 0.0
    segments: list[int] = field(default_factory=list)
    translations: dict[FeedKey, str] = field(default_factory=dict)
    errors: dict[FeedKey, str] = field(default_factory=dict)
    skipped: dict[FeedKey, str] = field(default_factory=dict)


class FeedModel:
    """What the transcript feed shows, updated from pipeline events.

    max_lines: utterances kept on screen (older ones scroll away; the log keeps everything).
    With several listeners (a fan-out: one translation per target language) each
    translation is shown under its transcript with its listener's name (``listeners``:
    the names seen, in order).
    """

    def __init__(self, max_lines: int = 8) -> None:
        self.max_lines = max_lines
        self.lines: dict[int, FeedLine] = {}
        self._current: int | None = None  # utterance the last transcript belonged to
        self._segment_line: dict[int, int] = {}
        self.listeners: list[str] = []
        self.finals = 0
        self.translations = 0

    def reset(self) -> None:
        """Forget everything (a new session)."""
        self.lines.clear()
        self._segment_line.clear()
        self.listeners.clear()
        self._current = None
        self.finals = self.translations = 0

    def handle(self, event: Event) -> bool:
        """Apply ``event``; True if what is shown changed."""
        if isinstance(event, PartialTranscript | FinalTranscript):
            self._transcript(event)
            return True
        if isinstance(event, SegmentCommitted):
            # Commits happen right after the transcript that caused them: same utterance.
            if self._current is not None and self._current in self.lines:
                self.lines[self._current].segments.append(event.segment_id)
                self._segment_line[event.segment_id] = self._current
            return False
        if isinstance(event, TranslationReady):
            line = self._line_of(event.segment_id)
            if line is None:
                return False
            self._saw(event.listener)
            line.translations[(event.segment_id, event.listener)] = event.translation.text
            self.translations += 1
            return True
        if isinstance(event, ErrorEvent) and event.segment_id is not None:
            line = self._line_of(event.segment_id)
            if line is not None:
                line.errors[(event.segment_id, None)] = event.message
                return True
        if isinstance(event, SegmentLogged) and event.row.get("status") not in (None, "ok"):
            return self._not_played(event.segment_id, event.row)
        return False

    def set_listeners(self, names: Sequence[str]) -> None:
        """The session's listeners in the order to show them (the primary one first)."""
        self.listeners = list(dict.fromkeys(names))

    def _transcript(self, event: PartialTranscript | FinalTranscript) -> None:
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

    def _saw(self, listener: str | None) -> None:
        if listener is not None and listener not in self.listeners:
            self.listeners.append(listener)

    def _not_played(self, segment_id: int, row: dict[str, Any]) -> bool:
        """A logged row that did not play: skipped by lag control, or an error / drop. The
        row names its listener: an error event's message moves under it."""
        line = self._line_of(segment_id)
        listener = row.get("listener")
        key = (segment_id, listener)
        status, error = row.get("status"), row.get("error") or ""
        if line is None or key in line.errors:
            return False
        self._saw(listener)
        if status == "skipped":
            line.skipped[key] = error or "skipped to catch up with the speaker"
        else:
            said = line.errors.pop((segment_id, None), None)
            line.errors[key] = said or f"{status}: {error}"
        return True

    def _line_of(self, segment_id: int) -> FeedLine | None:
        uid = self._segment_line.get(segment_id)
        return self.lines.get(uid) if uid is not None else None

    def _keys(self, line: FeedLine, segment_id: int) -> list[FeedKey]:
        """The keys of ``segment_id``'s entries, listener by listener in the order seen."""
        keys = {k for d in (line.translations, line.skipped, line.errors) for k in d}
        order = {name: i for i, name in enumerate(self.listeners)}
        mine = [k for k in keys if k[0] == segment_id]
        return sorted(mine, key=lambda k: -1 if k[1] is None else order.get(k[1], len(order)))

    def to_html(self) -> str:
        """The feed as HTML: oldest utterance first; partials grey and italic; with several
        listeners each translation says whose it is."""
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
                for key in self._keys(line, sid):
                    rows += self._entries(line, key)
            rows.append("</div>")
        return "<div class='s2st-feed' style='line-height:1.35'>" + "".join(rows) + "</div>"

    def _entries(self, line: FeedLine, key: FeedKey) -> list[str]:
        """A segment's translation, skip and error for one listener, as HTML rows."""
        who = ""
        if len(self.listeners) > 1 and key[1] is not None:
            who = (
                "<span class='s2st-listener' style='color:#555;font-size:11px;"
                f"font-family:monospace;margin-right:4px'>{html.escape(key[1])}</span>"
            )
        rows = []
        for entries, css, color, mark in (
            (line.translations, "s2st-translation", "#1565c0", "→"),
            (line.skipped, "s2st-seg-skipped", "#888", "⏭"),
            (line.errors, "s2st-seg-error", "#c62828", "✕"),
        ):
            if key in entries:
                rows.append(
                    f"<div class='{css}' style='color:{color};margin-left:52px'>"
                    f"{who}{mark} {html.escape(entries[key])}</div>"
                )
        return rows


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

    def set_listeners(self, names: Sequence[str]) -> None:
        """The session's listeners, the primary one first (see :meth:`FeedModel.set_listeners`)."""
        self.model.set_listeners(names)

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

CHART_KINDS: tuple[str, ...] = ("timeline", "stages", "lag", "listeners")
#: The chart toggle's options; "by listener" is added for a session with several listeners.
_KIND_OPTIONS = [("timeline", "timeline"), ("per stage", "stages"), ("lag", "lag")]
_BY_LISTENER = ("by listener", "listeners")


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
    primary: str | None = None,
) -> bytes:
    """PNG bytes of the live chart for the rows logged so far (safe to call in a thread).

    kind: ``"timeline"`` (:func:`~s2st_kit.plots.plot_timeline` of the last ``last``
    segments), ``"stages"`` (:func:`~s2st_kit.plots.plot_stage_latency`), ``"lag"``
    (:func:`~s2st_kit.plots.plot_lag` of the whole session, with lag control's target
    ``max_lag_s`` (s) and speed cap ``max_speedup`` (×) when given) or ``"listeners"``
    (:func:`~s2st_kit.plots.plot_latency_by` listener). When the rows are several
    listeners' (a fan-out), the timeline is :func:`~s2st_kit.plots.plot_branch_timeline`
    (a lane per listener) and the lag chart shows listener ``primary`` (default: the first).
    width / height: inches; dpi: dots per inch.
    """
    from .. import plots
    from ..metrics import add_derived

    df = add_derived(pd.DataFrame(list(rows))) if rows else pd.DataFrame()
    names = list(dict.fromkeys(df["listener"].dropna())) if "listener" in df.columns else []
    if kind == "timeline":
        if "segment_id" in df.columns and df["segment_id"].nunique() > last:
            df = df.sort_values("segment_id", kind="stable")
            df = df[df["segment_id"].isin(sorted(set(df["segment_id"]))[-last:])]
        if len(names) > 1:
            fig = plots.plot_branch_timeline(df, width=width, height=height)
        else:
            fig = plots.plot_timeline(df, width=width, height=height)
    elif kind == "stages":
        fig = plots.plot_stage_latency(df, width=width, height=height)
    elif kind == "lag":
        if len(names) > 1:
            df = df[df["listener"] == (primary if primary in names else names[0])]
        fig = plots.plot_lag(
            df, max_lag_s=max_lag_s, max_speedup=max_speedup, width=width, height=height
        )
    elif kind == "listeners":
        fig = plots.plot_latency_by(df, by="listener", width=width, height=height)
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
    session by the panel; ``None``: not drawn). :meth:`set_listeners` names the session's
    listeners: with several, the toggle offers "by listener" and the lag chart follows the
    first (primary) one.
    """

    def __init__(self, *, kind: str = "timeline", interval_s: float = 0.5) -> None:
        if kind not in CHART_KINDS:
            raise ValueError(f"chart kind must be one of {', '.join(CHART_KINDS)}, got {kind!r}")
        self.rows: list[dict[str, Any]] = []
        self.max_lag_s: float | None = None
        self.max_speedup: float | None = None
        self.primary: str | None = None
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="100%"))
        self.kind = widgets.ToggleButtons(
            options=[*_KIND_OPTIONS, *([_BY_LISTENER] if kind == "listeners" else [])],
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

    def set_listeners(self, names: Sequence[str]) -> None:
        """The session's listeners, the primary one first: "by listener" is offered (and
        the lag chart shows the primary one) only when there are several."""
        self.primary = names[0] if names else None
        options = [*_KIND_OPTIONS, *([_BY_LISTENER] if len(names) > 1 else [])]
        if list(self.kind.options) != options:
            if self.kind.value not in [v for _, v in options]:
                self.kind.value = "timeline"
            self.kind.options = options

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
            rows, self.kind.value, max_lag_s=self.max_lag_s, max_speedup=self.max_speedup,
            primary=self.primary,
        )  # fmt: skip

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
    primary: str | None = None,
) -> str:
    """HTML of the segment table (compact columns, up to ``max_rows``), the stage summary
    and, when lag control was on (``max_lag_s``: its target, s) or shows in the log, the
    lag behind the speaker, the playback speed and the segments skipped.

    With several listeners (a fan-out) the table has a ``listener`` column, a latency
    summary per listener (:func:`~s2st_kit.metrics.summary_by`) follows it, and the lag
    summary is listener ``primary``'s (default: the first), the one heard on the output."""
    from ..metrics import lag_summary

    if df.empty:
        return "<p style='color:#888'><i>no segment was logged in this session</i></p>"
    names = list(dict.fromkeys(df["listener"].dropna())) if "listener" in df.columns else []
    fanout = len(names) > 1
    cols = [c for c in TABLE_COLUMNS if c in df.columns]
    if fanout:
        cols.insert(1, "listener")
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
    if fanout:
        parts += _by_listener_html(df)
    heard = primary if primary in names else (names[0] if names else None)
    lag = lag_summary(df[df["listener"] == heard] if fanout else df)
    if max_lag_s is not None or lag.controlled or lag.skipped:
        lines = "<br>".join(html.escape(t) for t in lag.describe(max_lag_s).splitlines())
        whose = f" ({html.escape(str(heard))}, on the output)" if fanout else ""
        parts += [f"<h4 style='margin:10px 0 6px'>Lag control{whose}</h4>",
                  f"<p class='s2st-lag-summary' style='margin:0'>{lines}</p>"]  # fmt: skip
    if summary is not None:
        parts += [
            "<h4 style='margin:10px 0 6px'>Latency by stage (s)</h4>",
            summary.to_html(
                float_format=lambda x: f"{x:.3f}", na_rep="–", classes="s2st-summary", border=0
            ),
        ]
    return "".join(parts)


def _by_listener_html(df: pd.DataFrame) -> list[str]:
    """The per-listener latency summary of a fan-out session, as HTML parts."""
    from ..metrics import summary_by

    table = summary_by(df, "listener").to_html(
        float_format=lambda x: f"{x:.3f}", na_rep="–", classes="s2st-summary s2st-by-listener",
        border=0,
    )  # fmt: skip
    return ["<h4 style='margin:10px 0 6px'>Latency by listener (s)</h4>", table]


_TABLE_CSS = """<style>
.s2st-segments, .s2st-summary {border-collapse:collapse;font-size:12px}
.s2st-segments th, .s2st-summary th {background:#f3f3f3;padding:3px 6px;text-align:left}
.s2st-segments td, .s2st-summary td {padding:2px 6px;border-top:1px solid #eee;vertical-align:top}
</style>"""


class ResultsView:
    """Session results: segment table and summaries (HTML) and the translated speech — one
    player per listener when the session had several targets (``players``: the extra
    listeners' players by name; ``audio``: the primary listener's)."""

    def __init__(self) -> None:
        self.table = widgets.HTML(layout=widgets.Layout(width="100%", overflow="auto"))
        self.audio = widgets.Audio(format="wav", autoplay=False, loop=False)
        self.audio_title = widgets.HTML("<b>Translated speech</b>")
        self.audio_box = widgets.VBox(
            [self.audio_title, self.audio], layout=widgets.Layout(display="none")
        )
        self.players: dict[str, widgets.Audio] = {}
        self.more_audio = widgets.VBox()
        self.widget = widgets.VBox([self.table, self.audio_box, self.more_audio])

    def reset(self) -> None:
        """Clear for a new session."""
        self.table.value = ""
        self.audio_box.layout.display = "none"
        self.audio_title.value = "<b>Translated speech</b>"
        self.players = {}
        self.more_audio.children = []

    def show(
        self,
        df: pd.DataFrame,
        *,
        wav: bytes | None = None,
        max_lag_s: float | None = None,
        listeners: Sequence[tuple[str, bytes | None]] = (),
    ) -> None:
        """Show the session's segment frame (with derived columns) and its audio;
        ``max_lag_s``: the session's lag control target (s), ``None`` when off.
        listeners: with several targets, ``(listener, wav)`` for each, the primary first
        (its ``wav`` is the one given as ``wav``); each gets a titled player."""
        from ..metrics import stage_summary

        summary = stage_summary(df) if not df.empty else None
        primary = listeners[0][0] if listeners else None
        self.table.value = results_html(df, summary, max_lag_s=max_lag_s, primary=primary)
        if primary is not None:
            self.audio_title.value = _player_title(primary, "on the chosen output")
        if wav:
            self.audio.value = wav
            self.audio_box.layout.display = None
        boxes = []
        for name, extra in listeners[1:]:
            if not extra:
                continue
            player = self.players[name] = widgets.Audio(value=extra, format="wav", autoplay=False)
            title = widgets.HTML(_player_title(name, "played into memory"))
            boxes.append(widgets.VBox([title, player]))
        self.more_audio.children = boxes


def _player_title(listener: str, where: str) -> str:
    """``Translated speech — French (fr)`` and where it played."""
    label = html.escape(language_label(listener))
    return f"<b>Translated speech — {label}</b> <span style='color:#888'>({where})</span>"


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
    listeners: Sequence[tuple[str, int, int]] = (),
) -> str:
    """The status line: state (``finished`` reads "finished · end of input"), and once a
    session has run (``elapsed_s`` given) its session time (s), segments translated
    (counted as each translation appears) and played (to the end) — per listener when
    ``listeners`` gives ``(listener, translated, played)`` for several — the lag behind the
    speaker (s, with lag control's target) and playback speed (×) of the segment playing,
    segments skipped, last error (wrapped under it)."""
    color = _STATE_COLORS.get(state, "#555")
    label = "finished · end of input" if state == "finished" else state
    bits = [f"<b class='s2st-state' style='color:{color}'>● {html.escape(label)}</b>"]
    if elapsed_s is not None:  # a session ran (or runs): its time and counts
        bits.append(f"{elapsed_s:.1f} s")
        counts = [(name + ": ", t, p) for name, t, p in listeners] or [("", translated, played)]
        bits += [
            f"<span class='s2st-segments-count' title='segments translated so far · played "
            f"to the end'>{html.escape(name)}{t} translated · {p} played</span>"
            for name, t, p in counts
        ]
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
