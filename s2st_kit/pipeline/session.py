"""The streaming pipeline: source → recognizer → commit policy → translator → synthesizer → sink.

::

    source ──▶ [audio queue] ──▶ recognizer ──▶ policy ──▶ [segment queue] ──▶ N workers
                                                                  translate → synthesize
                                                                          │ (per-segment audio queue)
    sink ◀── playback (one segment at a time, in speech order) ◀──────────┘

* Everything runs on the caller's event loop (``await pipe.run()``, or ``pipe.start()`` /
  ``await pipe.stop()`` from notebook widgets); one :class:`asyncio.TaskGroup` owns every task.
* Translation and synthesis of different segments overlap (``max_inflight`` workers);
  playback stays in speech order and never overlaps.
* All queues are bounded; ``PipelineConfig.overflow`` decides what a full queue does.
* A failing translation or synthesis marks that segment's row ``status="error"`` with a
  readable ``error``; the session goes on. Retryable engine errors (throttling, timeouts) are
  retried ``stage_retries`` times with backoff first. A dropped recognizer stream is
  restarted on the following audio; the utterance it was in is logged as an error row.
* Timestamps are taken here, around engine calls, on the session clock. Rows are logged
  when playback of the segment ends (or it fails / is dropped), in segment order.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import logging
import os
import uuid
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audio.convert import Rechunker, StreamResampler
from .clock import SessionClock
from .config import PipelineConfig
from .engines import Engines
from .engines.protocols import AudioSink, AudioSource
from .errors import (
    EngineError,
    PipelineError,
    PipelineStateError,
    QueueOverflowError,
    S2STError,
    UnsupportedLanguageError,
    UnsupportedVoiceError,
)
from .events import (
    AudioFinished,
    AudioStarted,
    ErrorEvent,
    Event,
    FinalTranscript,
    PartialTranscript,
    SegmentCommitted,
    SegmentLogged,
    StateChanged,
    TranslationReady,
)
from .log import SegmentLog
from .policy import Commit, make_policy
from .records import AudioChunk, Segment, Transcript

__all__ = ["Pipeline", "PipelineState", "PipelineStats", "validate"]

logger = logging.getLogger(__name__)

_END = object()  # end-of-stream marker in queues


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


@dataclass(slots=True)
class _Slot:
    """A segment between commit and logging, with its audio on the way to the sink."""

    segment: Segment
    audio: asyncio.Queue[AudioChunk | object]
    finished: bool = False


def validate(engines: Engines, config: PipelineConfig) -> str:
    """Check languages and voice against what the engines support; return the voice id.

    Raises UnsupportedLanguageError / UnsupportedVoiceError with the valid choices, before
    any audio is touched.
    """
    rec, mt, tts = engines.recognizer, engines.translator, engines.synthesizer
    src, tgt = config.source_lang, config.target_lang
    langs = rec.languages()
    if src not in langs:
        raise UnsupportedLanguageError(
            f"recognizer {rec.name!r} does not recognise {src!r}; it supports: "
            f"{', '.join(sorted(langs))}"
        )
    pairs = mt.pairs()
    check_pair = getattr(mt, "check_pair", None)
    if check_pair is not None:
        check_pair(src, tgt)  # engine-specific message (e.g. which package to install)
    if (src, tgt) not in pairs:
        targets = sorted({b for a, b in pairs if a == src})
        raise UnsupportedLanguageError(
            f"translator {mt.name!r} cannot translate {src!r} → {tgt!r}; from {src!r} it offers: "
            f"{', '.join(targets) or 'nothing'}"
        )
    if config.voice is None:
        return tts.default_voice(tgt)
    voices = tts.voices(tgt)
    if config.voice not in {v.id for v in voices}:
        names = ", ".join(v.id for v in voices[:8]) or "none"
        raise UnsupportedVoiceError(
            f"synthesizer {tts.name!r} has no voice {config.voice!r} for {tgt!r}; try one of: {names}"
        )
    return config.voice


Subscriber = Callable[[Event], Any]


class Pipeline:
    """One speech-to-speech translation session.

    engines: recognizer, translator and synthesizer (:class:`~s2st_kit.engines.Engines`).
        The pipeline does not close them (they may be reused); ``async with`` the engines.
    config: :class:`~s2st_kit.config.PipelineConfig`.
    source: an :class:`~s2st_kit.engines.protocols.AudioSource`; closed when the run ends.
    sink: an AudioSink for the translated speech (``None``: audio is discarded); closed at the end.
    log_path: JSONL file the rows are appended to while running (``None``: memory only).
    record_input: WAV file to save the input audio to (at the recognizer's rate), so the
        session can be replayed with another configuration.
    clock: session clock (a fresh one by default).
    """

    def __init__(
        self,
        engines: Engines,
        config: PipelineConfig | None = None,
        *,
        source: AudioSource,
        sink: AudioSink | None = None,
        log_path: str | os.PathLike[str] | None = None,
        record_input: str | os.PathLike[str] | None = None,
        clock: SessionClock | None = None,
    ) -> None:
        self.engines = engines
        self.config = config or PipelineConfig()
        self.session_id = self.config.session_id or uuid.uuid4().hex[:12]
        self.source = source
        self.sink = sink
        self.clock = clock or SessionClock()
        self.log = SegmentLog(log_path)
        self.record_input = Path(record_input) if record_input is not None else None
        self.stats = PipelineStats()
        self.state = PipelineState.IDLE
        self.voice: str | None = None
        self.error: BaseException | None = None
        self._subscribers: list[Subscriber] = []
        self._callback_tasks: set[asyncio.Future[Any]] = set()
        self._task: asyncio.Task[SegmentLog] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._drain = True
        self._slots: dict[int, _Slot] = {}
        self._next_segment = 0
        self._commits_done = asyncio.Event()
        self._slot_added = asyncio.Event()
        # Audio delivery times: stream position (s) at each chunk's end → session time (s).
        self._speech_ends: list[float] = []
        self._speech_ts: list[float] = []

    # -- subscribers ---------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes.

        Callbacks run on the event loop and must be quick; exceptions they raise are
        logged and ignored. A coroutine function is scheduled as a task.
        """
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    async def events(self, maxsize: int = 1024) -> AsyncIterator[Event]:
        """Async iterator over events until the session ends (oldest dropped if it lags)."""
        q: asyncio.Queue[Event | object] = asyncio.Queue(maxsize)

        def put(ev: Event) -> None:
            if q.full():
                q.get_nowait()
            q.put_nowait(ev)
            if isinstance(ev, StateChanged) and ev.state in ("stopped", "failed"):
                if q.full():
                    q.get_nowait()
                q.put_nowait(_END)

        unsubscribe = self.subscribe(put)
        try:
            while True:
                ev = await q.get()
                if ev is _END:
                    return
                yield ev  # type: ignore[misc]
        finally:
            unsubscribe()

    def _emit(self, event: Event) -> None:
        for cb in list(self._subscribers):
            try:
                result = cb(event)
                if asyncio.iscoroutine(result):
                    task = asyncio.ensure_future(result)
                    self._callback_tasks.add(task)
                    task.add_done_callback(self._callback_tasks.discard)
            except Exception:
                logger.exception("subscriber %r failed on %s", cb, type(event).__name__)

    def _set_state(self, state: PipelineState) -> None:
        self.state = state
        self._emit(StateChanged(self.clock.now(), state.value))

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
        with contextlib.suppress(S2STError):
            await asyncio.shield(self._task)
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
            self.voice = await asyncio.to_thread(validate, self.engines, self.config)
            await self._warm_up()
        except BaseException as exc:
            self.log.close()
            self.error = exc
            self._set_state(PipelineState.FAILED)
            self._emit(
                ErrorEvent(self.clock.now(), "session", str(exc) or type(exc).__name__, fatal=True)
            )
            raise
        self.clock.start()
        self._set_state(PipelineState.RUNNING)
        rate = self.engines.recognizer.sample_rate
        audio_q: asyncio.Queue[Any] = asyncio.Queue(self.config.audio_queue_size)
        seg_q: asyncio.Queue[Any] = asyncio.Queue(self.config.segment_queue_size)
        recorder = None
        if self.record_input is not None:
            from .audio.sinks import WavSink

            recorder = WavSink(self.record_input, sample_rate=rate)
        try:
            async with asyncio.TaskGroup() as tg:
                self._tasks = [
                    tg.create_task(self._read_source(audio_q, rate, recorder), name="s2st-source"),
                    tg.create_task(self._recognize(audio_q, seg_q), name="s2st-recognizer"),
                    tg.create_task(self._playback(), name="s2st-playback"),
                ]
                self._tasks += [
                    tg.create_task(self._worker(seg_q), name=f"s2st-worker-{i}")
                    for i in range(self.config.max_inflight)
                ]
        except BaseExceptionGroup as eg:
            self.error = eg.exceptions[0]
            while isinstance(self.error, BaseExceptionGroup):
                self.error = self.error.exceptions[0]
        except asyncio.CancelledError:
            self.error = None
            self._drop_unfinished("session cancelled")
            await self._close(recorder)
            self._set_state(PipelineState.STOPPED)
            raise
        self._drop_unfinished("stopped before playback" if not self._drain else "not played")
        await self._close(recorder)
        if self.error is not None:
            self._set_state(PipelineState.FAILED)
            msg = str(self.error) or type(self.error).__name__
            self._emit(ErrorEvent(self.clock.now(), "session", msg, fatal=True))
            if isinstance(self.error, S2STError):
                raise self.error
            raise PipelineError(f"session failed: {msg}") from self.error
        self._set_state(PipelineState.STOPPED)
        return self.log

    async def _warm_up(self) -> None:
        """Let engines adopt the config and load models before the clock starts (optional hooks).

        ``engine.configure(config)`` is called when an engine has it (e.g. the AWS recognizer
        takes ``chunk_ms`` and ``stability`` from the session's config).

        ``recognizer.load()``, ``translator.load([(source, target)])`` and
        ``synthesizer.load()`` are awaited when an engine has them, so the first segment's
        latency measures translation, not model loading.
        """
        cfg = self.config
        for engine in (self.engines.recognizer, self.engines.translator, self.engines.synthesizer):
            configure = getattr(engine, "configure", None)
            if callable(configure):
                configure(cfg)  # e.g. a cloud recognizer adopting chunk_ms and stability
        hooks = (
            (self.engines.recognizer, ()),
            (self.engines.translator, ([(cfg.source_lang, cfg.target_lang)],)),
            (self.engines.synthesizer, ()),
        )
        for engine, args in hooks:
            load = getattr(engine, "load", None)
            if load is not None and inspect.iscoroutinefunction(load):
                await load(*args)

    async def _close(self, recorder: Any) -> None:
        with contextlib.suppress(Exception):
            await self.source.aclose()
        if self.sink is not None:
            try:
                await self.sink.aclose()
            except Exception as exc:  # keep the log even if the sink fails to close
                logger.warning("closing the sink failed: %s", exc)
        if recorder is not None:
            with contextlib.suppress(Exception):
                await recorder.aclose()
        self.log.close()

    # -- stage 1: audio in -------------------------------------------------------------------
    async def _put(self, q: asyncio.Queue[Any], item: Any, what: str) -> bool:
        """Put with the overflow policy; returns False when the item was dropped."""
        mode = self.config.overflow
        if mode == "block" or not q.full():
            await q.put(item)
            return True
        if mode == "error":
            raise QueueOverflowError(
                f"the {what} queue is full ({q.maxsize} items): the next stage cannot keep up. "
                "Use a larger queue, overflow='block' or 'drop-oldest', or faster engines."
            )
        dropped = q.get_nowait()
        q.put_nowait(item)
        if what == "audio":
            self.stats.dropped_audio_chunks += 1
        elif isinstance(dropped, _Slot):
            self._give_up(dropped, "dropped", f"{what} queue full (overflow=drop-oldest)")
            self.stats.dropped_segments += 1
        return True

    async def _read_source(self, audio_q: asyncio.Queue[Any], rate: int, recorder: Any) -> None:
        resampler = StreamResampler(rate)
        chunker = Rechunker(rate, self.config.chunk_ms)

        async def push(chunks: list[AudioChunk]) -> None:
            for c in chunks:
                self.stats.audio_chunks += 1
                self.stats.audio_s += c.duration_s
                if recorder is not None:
                    await recorder.write(c)
                await self._put(audio_q, c, "audio")

        async for chunk in self.source:
            if chunk.n_samples:
                converted = resampler.process(chunk)
                # Delivery time of every source chunk, by its end position in the stream (s).
                self._speech_ends.append(converted.end_s)
                self._speech_ts.append(self.clock.now())
                await push(chunker.push(converted))
        await push(chunker.push(resampler.flush()) + chunker.flush())
        await audio_q.put(_END)  # always waits: the end marker is never dropped

    def _speech_end_time(self, audio_end_s: float) -> float | None:
        """Session time (s) at which the audio at stream position ``audio_end_s`` was spoken.

        A live or paced source (microphone, ``realtime=True`` file) captured that sample
        before the chunk holding it was delivered: delivery time minus the audio after it in
        that chunk (÷ the pacing speed). So ``ear_to_ear_s`` includes waiting for a chunk to
        fill, and larger ``chunk_ms`` shows up as latency. For an unpaced source
        (``realtime=False``) it is the chunk's delivery time.
        """
        if not self._speech_ends:
            return None
        i = min(bisect_left(self._speech_ends, audio_end_s - 1e-9), len(self._speech_ts) - 1)
        t = self._speech_ts[i]
        if getattr(self.source, "realtime", True):
            after = max(0.0, self._speech_ends[i] - audio_end_s)
            t -= after / float(getattr(self.source, "speed", 1.0) or 1.0)
        return t

    def _prune_speech_times(self, before_s: float) -> None:
        """Forget delivery times of audio before ``before_s`` (keeps memory flat on long runs)."""
        k = bisect_left(self._speech_ends, before_s)
        if k > 512:
            del self._speech_ends[:k]
            del self._speech_ts[:k]

    # -- stage 2: recognition and commit ---------------------------------------------------
    async def _recognize(self, audio_q: asyncio.Queue[Any], seg_q: asyncio.Queue[Any]) -> None:
        rec = self.engines.recognizer
        policy = make_policy(self.config.policy, min_commit_words=self.config.min_commit_words)
        utt_seen: dict[int, dict[str, Any]] = {}  # pipeline utterance id → bookkeeping
        ended = False
        next_utt = 0
        restarts = 0

        async def audio(base_box: list[float]) -> AsyncIterator[AudioChunk]:
            nonlocal ended
            while True:
                item = await audio_q.get()
                if item is _END:
                    ended = True
                    return
                if not base_box:
                    base_box.append(item.start_s)
                yield item

        try:
            while True:
                base_box: list[float] = []
                id_map: dict[int, int] = {}
                stream = rec.stream(audio(base_box), language=self.config.source_lang)
                try:
                    async for tr in stream:
                        base = base_box[0] if base_box else 0.0
                        if tr.utterance_id not in id_map:
                            id_map[tr.utterance_id] = next_utt
                            next_utt += 1
                        uid = id_map[tr.utterance_id]
                        await self._on_transcript(tr, uid, base, policy, utt_seen, seg_q)
                    break
                except EngineError as exc:
                    if not exc.retryable or restarts >= 3 or ended:
                        raise
                    restarts += 1
                    self.stats.recognizer_restarts += 1
                    logger.warning("recognizer stream failed (%s); restarting", exc)
                    self._emit(ErrorEvent(self.clock.now(), "asr", f"stream restarted: {exc}"))
                    # The utterances it was in the middle of are lost: log them as errors.
                    for uid, info in sorted(utt_seen.items()):
                        if not info.get("closed"):
                            await self._error_segment(
                                uid, info, f"recognizer stream failed: {exc}", seg_q
                            )
                    utt_seen.clear()
                    policy = make_policy(
                        self.config.policy, min_commit_words=self.config.min_commit_words
                    )
                finally:
                    await _aclose(stream)
            for commit in policy.finish():
                await self._commit(commit, utt_seen.get(commit.utterance_id, {}), 0.0, seg_q)
            for _ in range(self.config.max_inflight):
                await seg_q.put(_END)
        finally:
            self._commits_done.set()
            self._slot_added.set()

    async def _on_transcript(
        self,
        tr: Transcript,
        uid: int,
        base: float,
        policy: Any,
        utt_seen: dict[int, dict[str, Any]],
        seg_q: asyncio.Queue[Any],
    ) -> None:
        now = self.clock.now()
        info = utt_seen.setdefault(uid, {"t_first_partial": None, "n_partials": 0, "closed": False})
        info["last"] = tr
        info["base"] = base
        local = Transcript(
            text=tr.text, is_final=tr.is_final, start_s=tr.start_s, end_s=tr.end_s,
            utterance_id=uid, stable_text=tr.stable_text, language=tr.language,
            confidence=tr.confidence, words=tr.words, speaker=tr.speaker,
        )  # fmt: skip
        if tr.is_final:
            self.stats.finals += 1
            self._emit(FinalTranscript(now, tr, uid))
        else:
            self.stats.partials += 1
            info["n_partials"] += 1
            if info["t_first_partial"] is None:
                info["t_first_partial"] = now
            self._emit(PartialTranscript(now, tr, uid))
        for commit in policy.update(local):
            await self._commit(commit, info, base, seg_q)
        if tr.is_final:
            info["closed"] = True
            utt_seen.pop(uid, None)
            self._prune_speech_times(base + tr.start_s - 5.0)

    def _new_segment(self, uid: int) -> Segment:
        engines, cfg = self.engines, self.config
        seg = Segment(
            session_id=self.session_id,
            segment_id=self._next_segment,
            source_lang=cfg.source_lang,
            target_lang=cfg.target_lang,
            asr_engine=engines.recognizer.name,
            mt_engine=engines.translator.name,
            tts_engine=engines.synthesizer.name,
            voice=self.voice,
            chunk_ms=cfg.chunk_ms,
            policy=cfg.policy,
            utterance_id=uid,
        )
        self._next_segment += 1
        return seg

    async def _enqueue(self, seg: Segment, seg_q: asyncio.Queue[Any]) -> None:
        slot = _Slot(seg, asyncio.Queue(256))
        self._slots[seg.segment_id] = slot
        self._slot_added.set()
        await self._put(seg_q, slot, "segment")

    async def _commit(
        self, commit: Commit, info: dict[str, Any], base: float, seg_q: asyncio.Queue[Any]
    ) -> None:
        now = self.clock.now()
        base = info.get("base", base)
        seg = self._new_segment(commit.utterance_id)
        seg.audio_start_s = base + commit.audio_start_s
        seg.audio_end_s = base + commit.audio_end_s
        seg.transcript = commit.text
        seg.detected_lang = commit.language
        seg.asr_confidence = commit.confidence
        seg.n_partials = info.get("n_partials", 0)
        seg.t_first_partial = info.get("t_first_partial")
        seg.t_speech_end = self._speech_end_time(seg.audio_end_s)
        seg.t_asr_final = now
        self._emit(SegmentCommitted(now, seg.segment_id, seg.transcript, commit.utterance_id))
        await self._enqueue(seg, seg_q)

    async def _error_segment(
        self, uid: int, info: dict[str, Any], message: str, seg_q: asyncio.Queue[Any]
    ) -> None:
        tr: Transcript | None = info.get("last")
        seg = self._new_segment(uid)
        base = info.get("base", 0.0)
        if tr is not None:
            seg.transcript = tr.text
            seg.audio_start_s = base + tr.start_s
            seg.audio_end_s = base + tr.end_s
            seg.t_speech_end = self._speech_end_time(seg.audio_end_s)
        seg.n_partials = info.get("n_partials", 0)
        seg.t_first_partial = info.get("t_first_partial")
        seg.status, seg.error = "error", message
        self._slots[seg.segment_id] = slot = _Slot(seg, asyncio.Queue(1))
        self._give_up(slot, "error", message)
        self._slot_added.set()

    # -- stage 3: translate and synthesize -------------------------------------------------
    async def _retrying(self, stage: str, seg: Segment, call: Callable[[], Any]) -> Any:
        """Await ``call()``, retrying retryable engine errors with exponential backoff."""
        attempt = 0
        while True:
            try:
                return await call()
            except EngineError as exc:
                if not exc.retryable or attempt >= self.config.stage_retries:
                    raise
                attempt += 1
                self.stats.retries += 1
                wait = getattr(exc, "retry_after_s", None) or 0.05 * 2**attempt
                logger.info(
                    "%s of segment %d: %s; retry %d in %.2f s",
                    stage,
                    seg.segment_id,
                    exc,
                    attempt,
                    wait,
                )
                await asyncio.sleep(wait)

    async def _worker(self, seg_q: asyncio.Queue[Any]) -> None:
        while True:
            slot = await seg_q.get()
            if slot is _END:
                return
            if slot.finished:
                continue
            await self._process(slot)

    async def _process(self, slot: _Slot) -> None:
        seg, cfg = slot.segment, self.config
        mt = self.engines.translator
        stage = "mt"
        try:
            seg.t_mt_start = self.clock.now()
            translation = await self._retrying(
                "translation", seg,
                lambda: mt.translate(seg.transcript, source=cfg.source_lang, target=cfg.target_lang),
            )  # fmt: skip
            seg.t_mt_end = self.clock.now()
            seg.translation = translation.text
            seg.chars_translated = len(seg.transcript)
            if translation.detected_source:
                seg.detected_lang = translation.detected_source
            self._emit(TranslationReady(seg.t_mt_end, seg.segment_id, translation))
            if not seg.translation.strip():
                self._give_up(slot, "dropped", "empty translation")
                return
            stage = "tts"
            seg.t_tts_start = self.clock.now()
            seg.chars_synthesized = len(seg.translation)
            await self._synthesize(slot)
            seg.t_tts_end = self.clock.now()
        except asyncio.CancelledError:
            self._give_up(slot, "dropped", "stopped before playback")
            raise
        except Exception as exc:
            message = (
                f"{stage}: {exc}"
                if isinstance(exc, S2STError)
                else f"{stage}: {type(exc).__name__}: {exc}"
            )
            if not isinstance(exc, S2STError):
                logger.exception("segment %d failed in %s", seg.segment_id, stage)
            self._emit(ErrorEvent(self.clock.now(), stage, message, seg.segment_id))
            self._give_up(slot, "error", message)
            return
        await slot.audio.put(_END)

    async def _synthesize(self, slot: _Slot) -> None:
        seg = slot.segment
        tts = self.engines.synthesizer
        started = False
        attempt = 0
        while True:
            try:
                stream = tts.synthesize(
                    seg.translation, voice=self.voice, language=self.config.target_lang
                )
                try:
                    async for chunk in stream:
                        if not started:
                            started = True
                            seg.t_tts_first_audio = self.clock.now()
                        seg.tts_audio_s += chunk.duration_s
                        await slot.audio.put(chunk)
                finally:
                    await _aclose(stream)
                return
            except EngineError as exc:
                # Retry only while nothing has been handed to playback.
                if started or not exc.retryable or attempt >= self.config.stage_retries:
                    raise
                attempt += 1
                self.stats.retries += 1
                await asyncio.sleep(getattr(exc, "retry_after_s", None) or 0.05 * 2**attempt)

    def _give_up(self, slot: _Slot, status: str, message: str) -> None:
        seg = slot.segment
        if seg.status == "ok":
            seg.status, seg.error = status, message
        if status == "error":
            self.stats.errors += 1
        # Wake playback: drop queued audio and mark the end.
        while not slot.audio.empty():
            slot.audio.get_nowait()
        slot.audio.put_nowait(_END)

    # -- stage 4: playback and logging -----------------------------------------------------
    async def _playback(self) -> None:
        sid = 0
        while True:
            while sid not in self._slots:
                if self._commits_done.is_set() and sid >= self._next_segment:
                    return
                self._slot_added.clear()
                if sid in self._slots:
                    break
                await self._slot_added.wait()
            slot = self._slots[sid]
            seg = slot.segment
            converter: StreamResampler | None = None
            try:
                played = 0.0
                while True:
                    item = await slot.audio.get()
                    if not isinstance(item, AudioChunk):  # end of this segment's audio
                        if converter is not None and self.sink is not None:
                            tail = converter.flush()
                            if tail.n_samples:
                                await self.sink.write(tail)
                        break
                    if self.sink is None:
                        if seg.t_play_start is None:
                            seg.t_play_start = self.clock.now()
                            self._emit(AudioStarted(seg.t_play_start, sid))
                        played += item.duration_s
                        continue
                    rate = self.sink.sample_rate or item.sample_rate
                    if converter is None and item.sample_rate != rate:
                        converter = StreamResampler(rate)
                    out = converter.process(item) if converter is not None else item
                    if seg.t_play_start is None:
                        seg.t_play_start = self.clock.now()
                        self._emit(AudioStarted(seg.t_play_start, sid))
                    if out.n_samples:
                        await self.sink.write(out)
                    played += item.duration_s
                if seg.t_play_start is not None:
                    if self.sink is not None:
                        await self.sink.drain()
                    seg.t_play_end = self.clock.now()
                    self._emit(AudioFinished(seg.t_play_end, sid, played))
                if seg.status == "ok" and seg.t_play_start is None:
                    seg.status, seg.error = "error", "tts: the synthesizer produced no audio"
            except asyncio.CancelledError:
                self._finish(slot, "dropped", "stopped before playback")
                raise
            except Exception as exc:
                self._finish(slot, "error", f"playback: {exc}")
                sid += 1
                continue
            self._finish(slot)
            sid += 1

    def _finish(self, slot: _Slot, status: str | None = None, message: str | None = None) -> None:
        if slot.finished:
            return
        slot.finished = True
        seg = slot.segment
        if status is not None and seg.status == "ok":
            seg.status, seg.error = status, message
        self._slots.pop(seg.segment_id, None)
        self.log.append(seg)
        self._emit(SegmentLogged(self.clock.now(), seg.segment_id, seg.to_dict()))

    def _drop_unfinished(self, message: str) -> None:
        for sid in sorted(self._slots):
            self._finish(self._slots[sid], "dropped", message)


async def _aclose(it: Any) -> None:
    close = getattr(it, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()
