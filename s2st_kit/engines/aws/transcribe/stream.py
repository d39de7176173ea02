"""One recognition session: :class:`TranscribeStream`, what ``AwsTranscribeRecognizer.stream()``
returns.

A session owns everything that belongs to it — utterance numbering, the detected locale of
each utterance, the re-send buffer and the counters (:class:`StreamStats`) — so one
recognizer can serve many sessions, one after another or at once.

Inside, a session is a chain of requests: ``_run`` (frames producer + request loop) →
``_session`` (reconnects through :class:`~s2st_kit.retry.RestartBudget`, renewals) →
``_attempt`` (one request: a sender and a receiver task) → ``_send`` / ``_receive``.

Faults. A dropped connection, a mid-stream LimitExceeded / ServiceUnavailable /
InternalFailure / no-audio timeout, or a start that does not answer in time reconnects and
re-sends the buffered audio since the last final result, so no speech is lost; after
``max_reconnects`` reconnects within ``reconnect_window_s`` of input audio (counted afresh
after a stream that delivered a final result) the session fails with the error the last
failure names.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

from ....errors import EngineError, EngineTimeoutError, StreamClosedError
from ....records import AudioChunk, Transcript, Word
from ....retry import RestartBudget, RetryPolicy, mark_spent
from .backend import RawItem, RawResult, StreamingBackend, StreamingHandle, TransientStreamError
from .renewal import PauseTracker
from .settings import TranscribeSettings, iso_of
from .timeline import Failed, Frame, ResendBuffer, Timeline, produce_frames

__all__ = ["StreamStats", "TranscribeStream"]

logger = logging.getLogger(__name__)

#: Locales remembered per session (the oldest utterances are forgotten first).
_MAX_CODES = 1024

Outcome = Literal["done", "renew"]


@dataclass
class StreamStats:
    """Counters of one session: requests opened, reconnects, audio too old to re-send (s)."""

    streams: int = 0
    reconnects: int = 0
    dropped_resend_s: float = 0.0


@dataclass(frozen=True, slots=True)
class _End:
    """The last item of the output queue: None (the input ended) or the session's error."""

    exc: BaseException | None = None


@dataclass
class _Attempt:
    """State of one request."""

    timeline: Timeline = field(default_factory=Timeline)
    ids: dict[str, int] = field(default_factory=dict)  # service result id -> utterance id
    pause: PauseTracker = field(default_factory=PauseTracker)  # for renewing at a pause
    finals: int = 0
    started: float = field(default_factory=time.monotonic)


class TranscribeStream(AsyncIterator[Transcript]):
    """The transcripts of one session, and that session's own state.

    Iterate it (``async for t in stream``); stop early with ``await stream.aclose()`` (or
    ``async with``). ``stats`` and ``language_code_of()`` are this session's only.
    Created by :meth:`AwsTranscribeRecognizer.stream`; ``settings`` are resolved for the
    session's language.
    """

    def __init__(
        self,
        chunks: AsyncIterable[AudioChunk],
        *,
        settings: TranscribeSettings,
        backend: StreamingBackend,
        name: str = "aws-transcribe",
        on_done: Callable[[TranscribeStream], None] | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self._chunks = chunks
        self._backend = backend
        self._on_done = on_done
        self._stats = StreamStats()
        self._codes: OrderedDict[int, str] = OrderedDict()
        self._out: asyncio.Queue[Transcript | _End] = asyncio.Queue(maxsize=256)
        self._runner: asyncio.Task[None] | None = None
        self._ended = False
        self._stopped = False  # stop() was called: never start
        self._resend = ResendBuffer(settings.max_resend_s)
        self._input_done = False
        self._next_utterance = 0
        self._open_utterance: int | None = None

    def __repr__(self) -> str:
        return f"TranscribeStream({self.name}, stats={self.stats})"

    # what a caller sees -----------------------------------------------------------------
    @property
    def stats(self) -> dict[str, float]:
        """This session's counters: ``streams``, ``reconnects``, ``dropped_resend_s`` (s)."""
        self._stats.dropped_resend_s = self._resend.dropped_s
        return dataclasses.asdict(self._stats)

    def language_code_of(self, utterance_id: int) -> str | None:
        """The full locale (``"en-US"``) of an utterance of this session (Transcript.language
        is the ISO code); None when unknown."""
        return self._codes.get(utterance_id)

    def __aiter__(self) -> TranscribeStream:
        return self

    async def __anext__(self) -> Transcript:
        if self._ended:
            raise StopAsyncIteration
        if self._runner is None:
            if self._stopped:
                self._ended = True
                raise self._closed_error()
            self._runner = asyncio.create_task(self._run(), name=f"{self.name} session")
        item = await self._out.get()
        if isinstance(item, Transcript):
            return item
        self._ended = True
        if item.exc is not None:
            raise item.exc
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop the session (drops its request and connection). Idempotent."""
        self._ended = True
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        if self._on_done is not None:
            self._on_done(self)

    async def __aenter__(self) -> TranscribeStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def stop(self) -> None:
        """Stop from outside (the recognizer is closing): a waiting consumer gets an
        EngineError saying the stream was closed."""
        self._stopped = True
        runner = self._runner
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    # the session ------------------------------------------------------------------------
    def _closed_error(self) -> EngineError:
        return EngineError(f"{self.name}: the stream was closed", engine=self.name)

    def _finish(self, end: _End) -> None:
        """Put the last item, dropping the oldest transcripts when the consumer is behind."""
        while self._out.full():
            self._out.get_nowait()
        self._out.put_nowait(end)

    async def _run(self) -> None:
        frames: asyncio.Queue[Frame | Failed | None] = asyncio.Queue(maxsize=64)
        producer = asyncio.create_task(
            produce_frames(
                self._chunks,
                frames,
                sample_rate=self.settings.media_sample_rate_hz,
                chunk_ms=self.settings.chunk_ms,
            )
        )
        try:
            await self._session(frames)
            self._finish(_End())
        except asyncio.CancelledError:
            self._finish(_End(self._closed_error()))
            raise
        except Exception as exc:
            self._finish(_End(exc))
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await producer
            self._resend.clear()  # the session is over: keep the counters, not the audio
            if self._on_done is not None:
                self._on_done(self)

    def _new_budget(self) -> RestartBudget:
        policy = RetryPolicy(base_s=self.settings.reconnect_backoff_s)
        return RestartBudget(self.settings.max_reconnects, self.settings.reconnect_window_s, policy)

    async def _session(self, frames: asyncio.Queue[Frame | Failed | None]) -> None:
        """Requests until the input ends: renew when due, reconnect after a failure."""
        budget = self._new_budget()
        while True:
            attempt = _Attempt()
            try:
                if await self._attempt(attempt, frames) == "done":
                    return
                continue  # renewed: a planned new request
            except TransientStreamError as exc:
                if attempt.finals:  # that request made progress: count afresh
                    budget = self._new_budget()
                self._stats.reconnects += 1
                if not budget.allow(self._resend.position_s):  # input audio (s), not wall
                    # Spent: the pipeline does not restart a stream whose reconnects ran out.
                    raise mark_spent(
                        exc.final
                        or StreamClosedError(
                            f"{self.name}: the stream failed {budget.recent + 1} times in "
                            f"{self.settings.reconnect_window_s:.0f} s of audio ({exc}); giving up",
                            engine=self.name,
                        )
                    ) from exc
                wait = budget.delay()
                logger.warning(
                    "%s: %s; reconnecting in %.2f s and re-sending %.2f s of audio",
                    self.name,
                    exc,
                    wait,
                    self._resend.duration_s,
                )
            await asyncio.sleep(wait)

    async def _attempt(
        self, attempt: _Attempt, frames: asyncio.Queue[Frame | Failed | None]
    ) -> Outcome:
        """One request: send until the input ends or renewal is due, then await the results."""
        handle = await self._backend.open(self.settings)
        self._stats.streams += 1
        receiver = asyncio.create_task(self._receive(handle, attempt))
        sender = asyncio.create_task(self._send(handle, attempt, frames))
        try:
            done, _ = await asyncio.wait({receiver, sender}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done and not sender.done():
                receiver.result()  # raises the stream's error
                raise TransientStreamError("Transcribe closed the stream unexpectedly")
            outcome = sender.result()
            try:
                async with asyncio.timeout(self.settings.final_timeout_s):
                    await receiver
            except TimeoutError as exc:
                timeout_s = self.settings.final_timeout_s
                raise TransientStreamError(
                    f"no end of results within {timeout_s} s of the end of audio",
                    final=EngineTimeoutError(
                        f"{self.name}: the service did not finish within {timeout_s} s after "
                        "the audio ended",
                        engine=self.name,
                    ),
                ) from exc
            return outcome
        finally:
            for task in (sender, receiver):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await handle.aclose()

    def _renew_due(self, attempt: _Attempt) -> bool:
        """Past ``max_stream_s`` of audio or of wall-clock time (a source that stalls adds
        keep-alive audio only): renew at a pause, or ``renew_grace_s`` later at the latest."""
        pos = max(attempt.timeline.stream_pos, time.monotonic() - attempt.started)
        return attempt.pause.renew_due(pos, self.settings.max_stream_s, self.settings.renew_grace_s)

    async def _send(
        self,
        handle: StreamingHandle,
        attempt: _Attempt,
        frames: asyncio.Queue[Frame | Failed | None],
    ) -> Outcome:
        for frame in self._resend:
            await self._send_frame(handle, attempt, frame)
        keepalive_s = self.settings.keepalive_s
        while not self._input_done:
            if self._renew_due(attempt):
                logger.info(
                    "%s: renewing the stream after %.1f s", self.name, attempt.timeline.stream_pos
                )
                await handle.end()
                return "renew"
            if self._resend.full:  # sending ahead of the results: give the finals a moment
                await self._resend.wait_for_room(keepalive_s or 5.0)
            try:
                async with asyncio.timeout(keepalive_s):
                    item = await frames.get()
            except TimeoutError:
                logger.debug("%s: no audio for %.1f s; sending keep-alive", self.name, keepalive_s)
                await self._send_frame(handle, attempt, None)
                continue
            if item is None:
                self._input_done = True
            elif isinstance(item, Failed):
                raise item.exc
            else:
                await self._send_frame(handle, attempt, item, keep=True)
        await handle.end()
        return "done"

    async def _send_frame(
        self, handle: StreamingHandle, attempt: _Attempt, frame: Frame | None, keep: bool = False
    ) -> None:
        """Send ``frame`` at most ``max_speed`` x real time (None: keep-alive; ``keep``: keep it)."""
        settings = self.settings
        pcm = frame.pcm if frame is not None else bytes(2 * settings.frame_samples)
        duration_s = settings.frame_samples / settings.media_sample_rate_hz
        quiet = attempt.pause.add(frame.pcm if frame is not None else None, duration_s)
        if keep and frame is not None:
            self._resend.add(frame, quiet=quiet)
        if settings.max_speed is not None:
            due = attempt.started + attempt.timeline.stream_pos / settings.max_speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        attempt.timeline.add(frame, duration_s)
        await handle.send(pcm)

    async def _receive(self, handle: StreamingHandle, attempt: _Attempt) -> None:
        async for raw in handle.results():
            transcript = self._to_transcript(raw, attempt)
            if transcript is None:
                continue
            await self._out.put(transcript)
            if transcript.is_final:
                attempt.finals += 1
                self._resend.confirm(transcript.end_s)

    def _to_transcript(self, raw: RawResult, attempt: _Attempt) -> Transcript | None:
        """Number the result's utterance (a result cut by a reconnect continues its
        utterance), remember its locale, and map its times to the input."""
        text = raw.transcript.strip()
        uid = attempt.ids.get(raw.result_id)
        if uid is None:
            if not text:
                return None
            if self._open_utterance is not None:
                uid = self._open_utterance  # continues an utterance cut by a reconnect
            else:
                uid, self._next_utterance = self._next_utterance, self._next_utterance + 1
            attempt.ids[raw.result_id] = uid
        final = not raw.is_partial
        self._open_utterance = None if final else uid
        code = raw.language_code or self.settings.language_code
        if code:
            self._codes[uid] = code
            self._codes.move_to_end(uid)
            while len(self._codes) > _MAX_CODES:
                self._codes.popitem(last=False)
        return transcript_of(raw, uid, code, attempt.timeline)


def transcript_of(raw: RawResult, uid: int, code: str | None, timeline: Timeline) -> Transcript:
    """The :class:`~s2st_kit.records.Transcript` of ``raw`` with input times."""
    text = raw.transcript.strip()
    final = not raw.is_partial
    to_input = timeline.to_input
    words = tuple(
        Word(
            text=item.content,
            start_s=to_input(item.start_s),
            end_s=to_input(item.end_s),
            stable=final or bool(item.stable),
            confidence=item.confidence,
        )
        for item in raw.items
        if item.kind == "pronunciation"
    )
    if final:
        stable_text = text
    elif any(item.stable is not None for item in raw.items):
        stable_text = _stable_prefix(text, raw.items)
    else:
        stable_text = ""
    start_s = to_input(raw.start_s)
    confidences = [w.confidence for w in words if w.confidence is not None]
    return Transcript(
        text=text,
        is_final=final,
        start_s=start_s,
        end_s=max(to_input(raw.end_s), start_s),
        utterance_id=uid,
        stable_text=stable_text,
        language=iso_of(code) if code else None,
        confidence=sum(confidences) / len(confidences) if confidences else None,
        words=words,
        speaker=next((i.speaker for i in raw.items if i.speaker is not None), None),
    )


def _stable_prefix(text: str, items: Sequence[RawItem]) -> str:
    """The prefix of ``text`` covering the leading run of stable items."""
    end = 0
    pos = 0
    for item in items:
        if not item.stable:
            break
        found = text.find(item.content, pos) if item.content else -1
        if found < 0:
            break
        pos = found + len(item.content)
        end = pos
    return text[:end]
