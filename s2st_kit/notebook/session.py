"""The panel's sessions without widgets: start, stop and status of one session at a time.

:class:`SessionRunner` opens what a session needs (input, output, engines), runs the
:class:`~s2st_kit.pipeline.Pipeline`, closes everything it opened when a start fails, and
reports a :class:`StatusLine` whose figures are the session's own (with the live lag
behind the speaker, :class:`LiveLag`, from the session's events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..audio import FileSource, MemorySink, PacedSink
from ..config import PipelineConfig
from ..engines.protocols import AudioSink, AudioSource
from ..events import (
    AudioStarted,
    ErrorEvent,
    Event,
    SegmentLogged,
    StateChanged,
    TranslationReady,
)
from ..log import SegmentLog
from ..pipeline import Pipeline
from ..report import save_session_config, session_config_path

if TYPE_CHECKING:
    from ..audio.echo import EchoGuard

from .hints import input_file, input_file_problem
from .model import SESSION_STATES, PanelModel, Selection, SessionState, language_label
from .targets import check_targets, session_listeners

__all__ = ["LiveCounts", "LiveLag", "SessionRunner", "StatusLine"]

logger = logging.getLogger(__name__)


Subscriber = Callable[[Event], object]


@dataclass(frozen=True, slots=True)
class StatusLine:
    """What the status line shows; the figures are the session's own (its pipeline and log).

    state: ``"finished"`` when the session ended by itself (end of input), ``"stopped"``
        when the user stopped it, ``"failed"`` when it could not start or broke.
    translated: segments translated so far (counted as each translation appears);
        played: segments played to the end (logged ``ok``).
    elapsed_s: session time (s), frozen when the session ends; ``None`` before it runs.
    lag_s / speed: how far behind the speaker (s) and how fast (× natural) the segment
        playing now started, while the session runs (``None`` otherwise); max_lag_s: lag
        control's target (s) of the session, ``None`` when off; skipped: segments lag
        control left out (of the primary listener, the one on the chosen output).
    listeners: with several targets, ``(listener, translated, played)`` per listener, the
        primary first (``translated`` / ``played`` are then the sums); ``()`` with one.
    """

    state: SessionState
    elapsed_s: float | None = None
    translated: int = 0
    played: int = 0
    errors: int = 0
    last_error: str | None = None
    note: str | None = None
    lag_s: float | None = None
    speed: float | None = None
    max_lag_s: float | None = None
    skipped: int = 0
    listeners: tuple[tuple[str, int, int], ...] = ()


@dataclass(slots=True)
class LiveLag:
    """A session's live lag figures, from its events: the lag (s) and speed (× natural) of
    the last segment that started playing (:class:`~s2st_kit.events.AudioStarted`) and the
    segments lag control skipped (:class:`~s2st_kit.events.SegmentLogged` rows).

    listener: only this listener's events count (the primary one, heard on the chosen
    output; ``None``: every event)."""

    lag_s: float | None = None
    speed: float | None = None
    skipped: int = 0
    listener: str | None = None

    def handle(self, event: Event) -> bool:
        """Apply ``event``; True if a figure changed."""
        if isinstance(event, AudioStarted) and self._mine(event.listener):
            self.lag_s, self.speed = event.lag_s, event.speed
            return True
        if (
            isinstance(event, SegmentLogged)
            and event.row.get("status") == "skipped"
            and self._mine(event.row.get("listener"))
        ):
            self.skipped += 1
            return True
        return False

    def _mine(self, listener: str | None) -> bool:
        return self.listener is None or listener in (None, self.listener)


@dataclass(slots=True)
class LiveCounts:
    """A session's segment counts, from its events, per listener and in all:
    ``translated`` (one per :class:`~s2st_kit.events.TranslationReady`, as the translation
    appears) and ``played`` (rows logged with status ``ok``: played to the end).
    ``by_listener``: ``{listener: [translated, played]}`` in the order first seen."""

    translated: int = 0
    played: int = 0
    by_listener: dict[str, list[int]] = field(default_factory=dict)

    def handle(self, event: Event) -> bool:
        """Apply ``event``; True if a count changed."""
        if isinstance(event, TranslationReady):
            self.translated += 1
            self._of(event.listener)[0] += 1
            return True
        if isinstance(event, SegmentLogged) and event.row.get("status") == "ok":
            self.played += 1
            self._of(event.row.get("listener"))[1] += 1
            return True
        return False

    def _of(self, listener: str | None) -> list[int]:
        return self.by_listener.setdefault(str(listener or ""), [0, 0])

    def per_listener(self, names: Sequence[str]) -> tuple[tuple[str, int, int], ...]:
        """``(listener, translated, played)`` for each of ``names`` (``()`` for one)."""
        if len(names) < 2:
            return ()
        counts = {n: self.by_listener.get(n, [0, 0]) for n in names}
        return tuple((n, c[0], c[1]) for n, c in counts.items())


class SessionRunner:
    """Runs the panel's sessions, one at a time, on the running event loop (no widgets).

    model: the :class:`PanelModel` whose selection a session uses.
    log_dir: folder for each session's JSONL log (``session-<id>.jsonl``, its configuration
        beside it as ``session-<id>.config.json``); ``None`` keeps logs in memory.
        on_status: called whenever the status line may have changed.
    on_end: awaited with the pipeline once a session has ended, before :meth:`wait`
        returns (the panel shows the results); an error there is logged and shown.
    status_interval_s: how often ``on_status`` is called while a session runs (s, 0.5).

    Attributes: ``echo_guard`` (default True: with a live input and a loudspeaker, mute the
    input while the translation plays; the session's guard is ``guard``, its muted spans
    are saved beside the log), ``browser_microphone`` / ``browser_speaker`` (the widgets
    for browser input and output, set by the panel), ``pipeline`` (the last session's).

    Lifecycle, as httpx's clients: :meth:`start` opens the input, then the output, then
    starts the pipeline. When anything fails before the session runs — here, or in the
    pipeline's validation and warm-up — everything start opened is closed again (and a
    browser microphone it switched on is switched off). :meth:`stop` never swallows an
    error: it is logged and shown, and the session is cancelled so Stop cannot hang.
    """

    def __init__(
        self,
        model: PanelModel,
        *,
        log_dir: str | Path | None = None,
        on_status: Callable[[], None] | None = None,
        on_end: Callable[[Pipeline], Awaitable[None]] | None = None,
        status_interval_s: float = 0.5,
    ) -> None:
        self.model = model
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.on_status = on_status or (lambda: None)
        self.on_end = on_end
        self.status_interval_s = status_interval_s
        self.echo_guard = True
        self.browser_microphone: Any = None
        self.browser_speaker: Any = None
        self.pipeline: Pipeline | None = None
        self.sink: MemorySink | None = None
        self.extra_sinks: dict[str, MemorySink] = {}  # per extra target: what it played
        self.guard: EchoGuard | None = None
        self.state: SessionState = "idle"
        self.note: str | None = None
        self.last_error: str | None = None
        self._ended_at: float | None = None
        self._counting = False  # the status line counts the pipeline's figures
        self._stop_requested = False  # Stop pressed: the session ends "stopped", not "finished"
        self._mic_started = False  # the session switched the browser microphone on
        self.live, self.counts = LiveLag(), LiveCounts()  # the running session's figures
        self._refused_from: tuple[SessionState, str | None, bool] | None = (
            None  # see forget_refusal
        )
        self._log_path: Path | None = None
        self._undo: contextlib.AsyncExitStack | None = None  # what start opened, until running
        self._task: asyncio.Task[SegmentLog] | None = None
        self._watch: asyncio.Task[SegmentLog | None] | None = None

    @property
    def running(self) -> bool:
        """True while a session is running (or starting / stopping)."""
        return self._watch is not None and not self._watch.done()

    # -- start ------------------------------------------------------------------------------
    async def start(
        self, subscribers: Sequence[Subscriber] = (), *, on_open: Callable[[], None] | None = None
    ) -> Pipeline | None:
        """Start a session with the model's selection; ``subscribers`` get its events;
        ``on_open`` is called once its input and output are open, before it starts (a
        refused start never calls it: the panel keeps the last session's views).

        Returns its Pipeline, or ``None`` with the reason in ``last_error`` (and nothing
        left open) when it could not start.
        """
        if self.running:
            self.note = "a session is already running; press Stop first"
            self.on_status()
            return None
        before = (self.state, self.last_error, self._counting)
        self.state, self.note, self.last_error = "starting", None, None
        self._counting, self._stop_requested, self._mic_started = False, False, False
        self.on_status()
        opened = contextlib.AsyncExitStack()
        try:
            pipe = await self._open(opened)
        except Exception as exc:
            await self._close_opened(opened)
            self._refused_from = before
            self.fail(exc)
            return None
        if on_open is not None:
            on_open()
        primary = self.model.selection.target_lang  # its listener is on the chosen output
        self._ended_at, self.live, self.counts, self._refused_from = (
            None,
            LiveLag(listener=primary),
            LiveCounts(),
            None,
        )
        self.pipeline, self._undo, self._counting = pipe, opened, True
        unsubscribe = [pipe.subscribe(s) for s in (*subscribers, self._on_event)]
        self._task = pipe.start()
        loop = asyncio.get_running_loop()
        self._watch = loop.create_task(self._watch_session(pipe, self._task, unsubscribe))
        return pipe

    async def _open(self, opened: contextlib.AsyncExitStack) -> Pipeline:
        """Engines, every target checked, input, output, the pipeline; whatever is opened
        goes onto ``opened``. With several targets, one fan-out pipeline (:mod:`.targets`)."""
        sel = self.model.selection
        if sel.input_kind == "file" and (problem := input_file_problem(sel.input_path)):
            raise FileNotFoundError(problem)  # before anything reads the file
        engines = await self.model.build_engines()
        config = self.model.config(session_id=uuid.uuid4().hex[:12])
        # Every pair and voice before anything opens (no microphone switched on in vain).
        await asyncio.to_thread(check_targets, engines, config, sel, label=language_label)
        source, self._mic_started = await _open_source(self.model, self.browser_microphone)
        opened.push_async_callback(source.aclose)
        if self._mic_started:
            opened.callback(self.browser_microphone.stop)
        sink, self.sink = await _open_sink(self.model, self.browser_speaker)
        opened.push_async_callback(sink.aclose)
        self._log_path = await _prepare_log(self.log_dir, config)
        self.guard = _echo_guard(sel, source, sink) if self.echo_guard else None
        if self.guard is not None:
            source, sink = self.guard.source, self.guard.sink
        listeners, self.extra_sinks = session_listeners(sel, sink)
        clock = self.guard.clock if self.guard is not None else None
        return Pipeline(
            engines, config, source=source, sink=None if listeners else sink,
            listeners=listeners, log_path=self._log_path, clock=clock,
        )  # fmt: skip

    async def _close_opened(self, opened: contextlib.AsyncExitStack) -> None:
        """Close what a failed start opened; a failure to close is logged and shown too."""
        try:
            await opened.aclose()
        except Exception as exc:
            logger.exception("closing the input or output of a failed start failed")
            self.fail(exc, keep_state=True, doing="closing the input or output")

    # -- the running session ----------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            if event.state == "running":
                self._undo = None  # the pipeline owns (and closes) the input and output now
            if event.state == "stopped" and not self._stop_requested:
                self.state = "finished"  # the input ended: not the user's Stop
            elif event.state in SESSION_STATES:
                self.state = event.state
            self.on_status()
        elif isinstance(event, ErrorEvent):
            stage = f"{event.stage}: "
            self.last_error = (
                event.message if event.message.startswith(stage) else stage + event.message
            )
            self.on_status()
        elif self.live.handle(event) | self.counts.handle(event):
            self.on_status()

    async def _watch_session(
        self,
        pipe: Pipeline,
        task: asyncio.Task[SegmentLog],
        unsubscribe: Sequence[Callable[[], None]],
    ) -> SegmentLog | None:
        ticker = asyncio.get_running_loop().create_task(self._tick())
        try:
            await task
        except asyncio.CancelledError:
            self.state = "stopped"
        except Exception as exc:
            self.fail(exc)
        finally:
            ticker.cancel()
            for u in unsubscribe:
                u()
            await self._after_session()
        if self.on_end is not None:
            try:
                await self.on_end(pipe)
            except Exception as exc:  # a view must not lose the session's log
                logger.exception("showing the results failed")
                self.fail(exc, keep_state=True)
        self.on_status()
        return pipe.log

    async def _after_session(self) -> None:
        """Close what a session that never ran left open, switch off the browser microphone
        the session switched on; save the echo guard's spans."""
        undo, self._undo = self._undo, None
        if undo is not None:
            await self._close_opened(undo)
        elif self._mic_started and self.browser_microphone is not None:
            self.browser_microphone.stop()
        if self.guard is not None and self._log_path is not None:
            guard, spans = self.guard, self.guard.spans_path(self._log_path)
            try:
                await asyncio.to_thread(guard.save_json, spans)
            except OSError as exc:
                logger.exception("saving the muted spans failed")
                self.fail(exc, keep_state=True, doing="saving the muted spans")

    async def _tick(self) -> None:
        while True:
            self.on_status()
            await asyncio.sleep(self.status_interval_s)

    # -- stop -------------------------------------------------------------------------------
    async def stop(self, *, drain: bool = True) -> SegmentLog | None:
        """Stop the running session (``drain``: finish what was already heard) and wait
        until it has ended; returns its log.

        An error while stopping is logged and shown in ``last_error``; the session is then
        cancelled (segments not yet played are logged as dropped) so this never hangs.
        """
        pipe, task, watch = self.pipeline, self._task, self._watch
        if pipe is None or task is None or watch is None:
            return None
        if not watch.done():
            self._stop_requested = True
            try:
                await pipe.stop(drain=drain)
            except Exception as exc:
                logger.exception("stopping the session failed")
                self.fail(exc, keep_state=True, doing="stopping the session failed")
                task.cancel()
        return await watch

    async def wait(self) -> SegmentLog | None:
        """Wait for the running session to end (and ``on_end`` to finish)."""
        if self._watch is None:
            return None
        return await self._watch

    # -- status -----------------------------------------------------------------------------
    def forget_refusal(self) -> None:
        """After a refused start and a changed setting: show the last session's status again."""
        if self._refused_from is not None and self.state == "failed":
            self.state, self.last_error, self._counting = self._refused_from
            self._refused_from = None
            self.on_status()

    def fail(
        self, exc: BaseException, *, keep_state: bool = False, doing: str | None = None
    ) -> None:
        """Show ``exc`` as the last error (``doing``: what was being done); the state
        becomes ``failed`` unless ``keep_state``."""
        message = str(exc) or type(exc).__name__
        self.last_error = f"{doing}: {message}" if doing else message
        if not keep_state:
            self.state = "failed"
        self.on_status()

    def status_line(self) -> StatusLine:
        """The status line; its figures are the session's own (never the shared engines')."""
        pipe = self.pipeline if self._counting else None
        if pipe is None:
            return StatusLine(self.state, last_error=self.last_error, note=self.note)
        elapsed: float | None = None
        live = self.state in ("running", "stopping")
        if live:
            elapsed = pipe.clock.now()
        elif self.state in ("stopped", "finished", "failed"):
            if self._ended_at is None:
                self._ended_at = pipe.clock.now()
            elapsed = self._ended_at
        return StatusLine(
            self.state,
            elapsed_s=elapsed,
            translated=self.counts.translated,
            played=self.counts.played,
            errors=pipe.stats.errors,
            last_error=self.last_error,
            note=self.note,
            lag_s=self.live.lag_s if live else None,
            speed=self.live.speed if live else None,
            max_lag_s=pipe.config.max_lag_s,
            skipped=self.live.skipped,
            listeners=self.counts.per_listener([b.name for b in pipe.branches]),
        )


async def _open_source(model: PanelModel, browser_microphone: Any) -> tuple[AudioSource, bool]:
    """The session's input, and whether opening it switched the browser microphone on
    (the session's Start switches it on, its end switches it off)."""
    sel = model.selection
    if sel.input_kind == "file":
        path = input_file(sel.input_path)
        if path is None:  # checked by SessionRunner._open
            raise FileNotFoundError(input_file_problem(sel.input_path))
        source = FileSource(
            path, chunk_ms=sel.chunk_ms, realtime=sel.pace > 0, speed=sel.pace or 1.0
        )
        return source, False
    if sel.input_kind == "microphone":
        mic_source: AudioSource = await asyncio.to_thread(
            model.inputs.open_microphone, sel.mic_device, chunk_ms=sel.chunk_ms
        )
        return mic_source, False
    if browser_microphone is None:
        raise RuntimeError("the browser microphone is not available")
    switched_on = browser_microphone.state != "running"
    if switched_on:
        browser_microphone.start()
    try:
        browser_source: AudioSource = browser_microphone.source()
    except BaseException:
        if switched_on:
            browser_microphone.stop()
        raise
    return browser_source, switched_on


async def _open_sink(
    model: PanelModel, browser_speaker: Any
) -> tuple[AudioSink, MemorySink | None]:
    """The session's output and, for the paced output, the memory it plays into."""
    sel = model.selection
    if sel.output_kind == "speaker":
        return await asyncio.to_thread(model.inputs.open_speaker), None
    if sel.output_kind == "browser":
        if browser_speaker is None:
            raise RuntimeError("the browser speaker is not available")
        return browser_speaker.sink(), None
    memory = MemorySink()
    pace = sel.pace if sel.input_kind == "file" else 1.0
    # The output keeps the input's pace: 2× input plays 2× fast, "as fast as possible" not paced.
    return (PacedSink(memory, speed=pace) if pace > 0 else memory), memory


async def _prepare_log(log_dir: Path | None, config: PipelineConfig) -> Path | None:
    """The session's JSONL log path in ``log_dir`` (``None``: in memory), its configuration
    saved beside it (``s2st report`` reads the lag target there)."""
    if log_dir is None:
        return None
    await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
    path = log_dir / f"session-{config.session_id}.jsonl"
    await asyncio.to_thread(save_session_config, config, session_config_path(path))
    return path


def _echo_guard(sel: Selection, source: AudioSource, sink: AudioSink) -> EchoGuard | None:
    """An EchoGuard when a live input meets a loudspeaker output, else ``None``."""
    if sel.input_kind in ("microphone", "browser") and sel.output_kind in ("speaker", "browser"):
        from ..audio.echo import EchoGuard

        return EchoGuard(source, sink)
    return None
