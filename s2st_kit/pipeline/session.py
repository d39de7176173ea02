"""The session: lifecycle, the source reader and the translation workers, wired together.

The parts it wires (each in its own module of this package):

* :class:`~.bus.EventBus` — subscribers and :meth:`Pipeline.events`;
* :class:`~.speech.SpeechTimes` — when the audio at a stream position was spoken;
* :class:`~.recognition.RecognitionStage` — recognizer stream, restarts, commit policy,
  utterance tracking (:class:`~.utterances.UtteranceTracker`);
* :class:`~.branch.Branches` — one :class:`~.branch.Branch` per :class:`~.branch.Listener`
  (fan-out), each with its own segment queue, :class:`~.translation.TranslationStage`
  workers (translate, synthesize, retry) and :class:`~.playback.PlaybackScheduler`
  (ordered, non-overlapping playback, lag control, logging).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..audio.sinks import WavSink
from ..clock import SessionClock
from ..config import PipelineConfig
from ..engines import Engines
from ..engines.protocols import AudioSink, AudioSource
from ..errors import ConfigError, PipelineError, PipelineStateError, S2STError
from ..events import ErrorEvent, Event, SegmentCommitted, StateChanged
from ..log import SegmentLog
from ..policy import Commit
from ..records import AudioChunk, SegmentStatus
from ..words import WordLog
from .branch import Branches, Listener
from .bus import EventBus, Subscriber
from .ingest import put_bounded, read_source
from .recognition import RecognitionStage
from .segments import SegmentMaker
from .speech import SpeechTimes
from .utterances import Utterance

__all__ = ["Pipeline", "PipelineState", "PipelineStats"]

logger = logging.getLogger("s2st_kit.pipeline")


class PipelineState(enum.Enum):
    """Lifecycle: IDLE → RUNNING → (STOPPING) → STOPPED | FAILED. A pipeline runs once."""

    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(slots=True)
class PipelineStats:
    """Counters for the session summary."""

    audio_chunks: int = 0
    audio_s: float = 0.0
    dropped_audio_chunks: int = 0
    dropped_segments: int = 0
    recognizer_restarts: int = 0
    retries: int = 0
    partials: int = 0
    finals: int = 0
    errors: int = 0


class Pipeline:
    """One speech-to-speech translation session.

    engines: recognizer, translator and synthesizer (:class:`~s2st_kit.engines.Engines`).
        The pipeline does not close them (they may be reused); ``async with`` the engines.
    config: :class:`~s2st_kit.config.PipelineConfig`.
    source: an :class:`~s2st_kit.engines.protocols.AudioSource`; closed when the run ends.
    sink: an AudioSink for the translated speech (``None``: audio is discarded); closed at the end.
    listeners: fan-out — one :class:`~.branch.Listener` per target language (or listener),
        each with its own sink, all fed by one recognizer stream; a row per (segment,
        listener). ``None``: one listener, ``Listener(config.target_lang, sink=sink)``.
        Give ``sink`` or ``listeners``, not both.
    log_path: JSONL file the rows are appended to while running (``None``: memory only);
        the words table (``pipe.words``, :mod:`s2st_kit.words`) goes beside it.
    log: an existing :class:`~s2st_kit.log.SegmentLog` to append to instead (shared by the
        sessions of a conversation); the pipeline does not close it. Not with ``log_path``.
        ``words``: likewise a :class:`~s2st_kit.words.WordLog` to share (default: its own).
    party: the ``party`` column of every row (a two-party conversation's speaker side).
    record_input: WAV file to save the input audio to (at the recognizer's rate), so the
        session can be replayed with another configuration.
    clock: session clock (a fresh one by default).
    start_clock: reset the clock to 0 when the session starts (default); ``False`` when the
        clock is shared with sessions already running (a conversation starts it once).

    Segment ids count commits (the speech order), so the rows of one segment for several
    listeners share ``segment_id`` and ``transcript``; ``pipe.voices`` maps each listener
    to its voice once validated.

    After a failed run, ``error`` is the error raised and ``errors`` every error the
    session's tasks raised (the others are also logged and noted on ``error``).
    """

    def __init__(
        self,
        engines: Engines,
        config: PipelineConfig | None = None,
        *,
        source: AudioSource,
        sink: AudioSink | None = None,
        listeners: Sequence[Listener] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        log: SegmentLog | None = None,
        words: WordLog | None = None,
        party: str | None = None,
        record_input: str | os.PathLike[str] | None = None,
        clock: SessionClock | None = None,
        start_clock: bool = True,
    ) -> None:
        self.engines = engines
        self.config = config or PipelineConfig()
        self.session_id = self.config.session_id or uuid.uuid4().hex[:12]
        self.source = source
        self.sink = sink
        self.clock = clock or SessionClock()
        if log is not None and log_path is not None:
            raise ConfigError("give log_path or log (a SegmentLog to share), not both")
        self._owns_log = log is None
        self.log = log if log is not None else SegmentLog(log_path)
        self._owns_words = words is None
        self.words = words if words is not None else WordLog.beside(log_path)
        self.party = party
        self._start_clock = start_clock
        self.record_input = Path(record_input) if record_input is not None else None
        self.stats = PipelineStats()
        self.state = PipelineState.IDLE
        self.voice: str | None = None  # the first listener's
        self.voices: dict[str, str] = {}
        self.error: BaseException | None = None
        self.errors: list[BaseException] = []
        self.bus = EventBus()
        self._task: asyncio.Task[SegmentLog] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._drain = True
        self.speech = SpeechTimes.for_source(source, clock_scale=self.clock.scale)
        if listeners is not None and sink is not None:
            raise ConfigError(
                "give sink (one listener) or listeners (each with its sink), not both"
            )
        if listeners is None:
            listeners = [Listener(self.config.target_lang, sink=sink)]
        self.branches = Branches(
            listeners, engines, self.config, self.clock, self.bus.emit, self.log.append,
            count=self._count,
        )  # fmt: skip
        for branch in self.branches:
            branch.playback.words = self.words
        self.segments = SegmentMaker(
            self.session_id, self.config, asr_engine=engines.recognizer.name,
            speech=self.speech, party=party,
        )  # fmt: skip

    # -- events ----------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes.

        Callbacks run on the event loop and must be quick; a coroutine function is scheduled
        as a task. Exceptions either kind raises are logged and ignored.
        """
        return self.bus.subscribe(callback)

    def events(self, maxsize: int = 1024) -> AsyncIterator[Event]:
        """Async iterator over events until the session ends (oldest dropped if it lags)."""
        return self.bus.events(maxsize)

    def _set_state(self, state: PipelineState) -> None:
        self.state = state
        self.bus.emit(StateChanged(self.clock.now(), state.value))

    def _fatal(self, exc: BaseException) -> None:
        self.bus.emit(
            ErrorEvent(self.clock.now(), "session", str(exc) or type(exc).__name__, fatal=True)
        )

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> asyncio.Task[SegmentLog]:
        """Run in the background on the running loop (for widgets); returns the task."""
        if self._task is not None or self.state is not PipelineState.IDLE:
            raise PipelineStateError("this pipeline has already been started; create a new one")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="s2st-pipeline")
        return self._task

    async def run(self) -> SegmentLog:
        """Run the session to the end of the source (or ``stop()``) and return the log."""
        return await self.start()

    async def wait(self) -> SegmentLog:
        """Wait for a started session to finish."""
        if self._task is None:
            raise PipelineStateError("the pipeline was not started")
        return await self._task

    async def stop(self, *, drain: bool = True) -> SegmentLog:
        """Stop the session and wait until it has ended.

        drain=True: stop reading the source, then finish recognising, translating and
        playing everything already heard. drain=False: cancel now; segments not yet played
        are logged with ``status="dropped"``. Either way no task or thread is left behind.
        A session that failed does not raise here: its error is in ``error`` (``run()`` and
        ``wait()`` raise it).
        """
        if self._task is None:
            raise PipelineStateError("the pipeline was not started")
        if not self._task.done():
            self._drain = drain
            if self.state is PipelineState.RUNNING:
                self._set_state(PipelineState.STOPPING)
            await self.source.aclose()
            if not drain:
                for t in self._tasks:
                    t.cancel()
        try:
            await asyncio.shield(self._task)
        except S2STError:
            pass  # kept in self.error; the state is FAILED and a fatal ErrorEvent was emitted
        return self.log

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None and not self._task.done():
            await self.stop(drain=False)

    # -- the session -----------------------------------------------------------------------
    async def _run(self) -> SegmentLog:
        try:
            # Capability queries may do I/O (e.g. a cloud voice catalogue): off the loop.
            voices = await asyncio.to_thread(self.branches.validate)
            self.voices = {b.name: v for b, v in zip(self.branches, voices, strict=True)}
            self.voice = voices[0]
            await self.branches.warm_up()
        except BaseException as exc:  # refused: close what we were given, as a run's end would
            await self._close(None, "session refused")
            self.error = exc
            self._set_state(PipelineState.FAILED)
            self._fatal(exc)
            raise
        if self._start_clock:
            self.clock.start()
        self._set_state(PipelineState.RUNNING)
        rate = self.engines.recognizer.sample_rate
        recorder = WavSink(self.record_input, sample_rate=rate) if self.record_input else None
        try:
            await self._run_tasks(rate, recorder)
        except asyncio.CancelledError:
            self.error = None
            await self._close(recorder, "session cancelled")
            self._set_state(PipelineState.STOPPED)
            raise
        await self._close(recorder, "not played" if self._drain else "stopped before playback")
        if self.error is None:
            self._set_state(PipelineState.STOPPED)
            return self.log
        self._set_state(PipelineState.FAILED)
        self._fatal(self.error)
        if isinstance(self.error, S2STError):
            raise self.error
        raise PipelineError(
            f"session failed: {self.error or type(self.error).__name__}"
        ) from self.error

    async def _run_tasks(self, rate: int, recorder: WavSink | None) -> None:
        """Run the stages in one TaskGroup; keep every error they raise (not just the first)."""
        audio_q: asyncio.Queue[Any] = asyncio.Queue(self.config.audio_queue_size)
        stage = RecognitionStage(
            self.engines.recognizer, self.config, self.clock, self.bus.emit,
            on_commit=self._commit,
            on_lost=self._lost_segment,
            on_final=lambda u: self.speech.forget_before(u.base_s + (u.last.start_s if u.last else 0) - 5.0),
        )  # fmt: skip
        try:
            async with asyncio.TaskGroup() as tg:
                self._tasks = [
                    tg.create_task(self._read_source(audio_q, rate, recorder), name="s2st-source"),
                    tg.create_task(self._recognize(stage, audio_q), name="s2st-recognizer"),
                ]
                for branch in self.branches:
                    self._tasks += branch.tasks(tg, self._count_retry)
        except BaseExceptionGroup as eg:
            self.errors = [e for e in (self.error,) if e is not None] + _leaves(eg)
            self.error = self.errors[0]
            for other in self.errors[1:]:
                logger.error("the session also failed with: %r", other, exc_info=other)
                self.error.add_note(f"also failed: {type(other).__name__}: {other}")
        else:
            self.errors = [self.error] if self.error is not None else []
        finally:
            self.stats.partials, self.stats.finals = stage.partials, stage.finals
            self.stats.recognizer_restarts = stage.restarts

    async def _close(self, recorder: WavSink | None, unplayed: str) -> None:
        """Log what never played, close the source, sinks and recorder, then the log file
        (a shared log is its owner's to close)."""
        self.branches.drop_unfinished(unplayed)
        closables = [("source", self.source)]
        closables += [(f"{b.name!r} sink", b.sink) for b in self.branches]
        for what, closable in (*closables, ("recorder", recorder)):
            if closable is None:
                continue
            try:
                await closable.aclose()
            except Exception as exc:  # keep the log even if a device fails to close
                logger.warning("closing the %s failed: %s", what, exc)
        if self._owns_log:
            await asyncio.to_thread(self.log.close)
        if self._owns_words:
            await asyncio.to_thread(self.words.close)

    # -- stage 1: audio in -------------------------------------------------------------------
    async def _put_audio(self, q: asyncio.Queue[Any], chunk: AudioChunk) -> None:
        dropped = await put_bounded(q, chunk, overflow=self.config.overflow, what="audio")
        if dropped is not None:
            self.stats.dropped_audio_chunks += 1

    async def _read_source(
        self, audio_q: asyncio.Queue[Any], rate: int, recorder: WavSink | None
    ) -> None:
        async def push(c: AudioChunk) -> None:
            self.stats.audio_chunks += 1
            self.stats.audio_s += c.duration_s
            if recorder is not None:
                await recorder.write(c)
            await self._put_audio(audio_q, c)

        cfg = self.config
        await read_source(
            self.source, rate, cfg.chunk_ms, self.speech, self.clock.now, push, audio_q
        )

    # -- stage 2: recognition and commit ---------------------------------------------------
    async def _recognize(self, stage: RecognitionStage, audio_q: asyncio.Queue[Any]) -> None:
        """Recognise; if the recognizer gives up, its error ends the session once what was
        already committed has played."""
        try:
            if (failed := await stage.run_until_end(audio_q, self.source.aclose)) is not None:
                self.error = failed
            await self.branches.end()
        finally:
            self.branches.commits_done()

    async def _commit(self, commit: Commit, utt: Utterance) -> None:
        now = self.clock.now()
        seg = self.segments.committed(commit, utt, now)
        self.bus.emit(SegmentCommitted(now, seg.segment_id, seg.transcript, commit.utterance_id))
        await self.branches.commit(seg, self.segments.source_words(commit, utt, seg))

    def _lost_segment(self, utt: Utterance, message: str) -> None:
        """An utterance lost with a failed recognizer stream: an error row with what was heard."""
        self.branches.lost(self.segments.lost(utt), message)

    def _count(self, status: SegmentStatus, queue_drop: bool) -> None:
        """A row given up (per listener): counted in the stats."""
        if status == "error":
            self.stats.errors += 1
        if queue_drop:
            self.stats.dropped_segments += 1

    def _count_retry(self, exc: BaseException, attempt: int, wait: float) -> None:
        self.stats.retries += 1


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """Every exception in a (nested) exception group, in order."""
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out
