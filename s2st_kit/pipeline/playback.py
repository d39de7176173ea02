"""The playback scheduler: segments play one at a time, in speech order, then are logged.

Every committed segment gets a :class:`Slot` (its audio queue) here. Translation workers
fill slots in any order; :meth:`PlaybackScheduler.run` plays slot 0, then 1, …, never two
at once, and logs each row when its playback ends (or it failed / was dropped). The lag
controller (keeping the listener a bounded time behind the speaker) decides here too.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from ..audio.convert import StreamResampler
from ..clock import SessionClock
from ..engines.protocols import AudioSink
from ..events import AudioFinished, AudioStarted, Event, SegmentLogged
from ..lag import LagController, LagState
from ..records import AudioChunk, Segment, SegmentStatus
from ..words import WordLog
from .backlog import Backlog
from .slot import END, Slot

__all__ = ["END", "PlaybackScheduler", "Slot"]


class PlaybackScheduler:
    """Plays committed segments in order and hands each finished row to ``log_row``.

    sink: where audio goes (``None``: timing is recorded, audio discarded).
    clock: the session clock (timestamps ``t_play_start`` / ``t_play_end``).
    emit: the session's event bus.
    log_row: called once per segment, in segment order, when it is finished.
    controller: the lag controller (``None``: every segment plays at natural speed).

    ``words``: the session's words table (set by the session; ``None``: none kept) — each
    played segment's target words go there, placed where its chunks actually played.
    """

    def __init__(
        self,
        sink: AudioSink | None,
        clock: SessionClock,
        emit: Callable[[Event], None],
        log_row: Callable[[Segment], None],
        controller: LagController | None = None,
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.emit = emit
        self.log_row = log_row
        self.controller = controller
        self.slots: dict[int, Slot] = {}
        self.backlog = Backlog(self.slots)
        self.next_id = 0  # the id the next committed segment gets
        self._added = asyncio.Event()
        self._commits_done = False
        self._playing: Slot | None = None
        self._recent_spans: deque[float] = deque(maxlen=8)  # source spans of recent segments (s)
        self.words: WordLog | None = None

    # -- lag control -----------------------------------------------------------------------
    def plan_speed(self, slot: Slot) -> float:
        """(Before synthesis.) The segment's speed, from the lag it will have when it plays."""
        seg = slot.segment
        if self.controller is None or seg.t_speech_end is None:
            return 1.0
        sid = seg.segment_id
        start = self.backlog.play_start(sid, self.clock.now(), self._playing)
        source_s = None
        if seg.audio_start_s is not None and seg.audio_end_s is not None:
            self._recent_spans.append(seg.audio_end_s - seg.audio_start_s)
            source_s = min(self._recent_spans)  # the next utterance may be this short
        state = LagState(
            start - seg.t_speech_end,
            self.backlog.natural_s(slot),
            self.backlog.waiting_s(sid),
            source_s,
        )
        slot.speed = seg.speed = self.controller.speed(state)
        return slot.speed

    def behind(self, slot: Slot) -> bool:
        """(Before translation.) Will the segment start playing later than the set point?"""
        seg = slot.segment
        if self.controller is None or seg.t_speech_end is None:
            return False
        start = self.backlog.play_start(seg.segment_id, self.clock.now(), self._playing)
        return start - seg.t_speech_end > self.controller.set_point_s

    def synthesized(self, slot: Slot) -> None:
        """(After synthesis.) All of the segment's audio is queued."""
        slot.synthesized = True
        self.backlog.learn(slot)

    def _skip(self, slot: Slot) -> bool:
        """(Just before the first audio plays.) Leave the segment out to catch up?"""
        seg = slot.segment
        if self.controller is None or seg.t_speech_end is None:
            return False
        sid = seg.segment_id
        seg.lag_at_play_s = self.clock.now() - seg.t_speech_end
        state = LagState(
            seg.lag_at_play_s, self.backlog.natural_s(slot), self.backlog.waiting_s(sid)
        )
        if not self.controller.skip(state):
            return False
        message = (
            f"skipped to catch up: {seg.lag_at_play_s:.1f} s behind the speaker "
            f"(max_lag_s {self.controller.max_lag_s:g})"
        )
        self.give_up(slot, "skipped", message)
        return True

    # -- fed by the recognizer stage and the workers -------------------------------------
    def add(self, segment: Segment) -> Slot:
        """Register a committed segment (its id must be the next one); returns its slot."""
        slot = Slot(segment)
        self.slots[segment.segment_id] = slot
        self._added.set()
        return slot

    def commits_done(self) -> None:
        """No more segments will be added: playback ends after the last one."""
        self._commits_done = True
        self._added.set()

    def give_up(self, slot: Slot, status: SegmentStatus, message: str) -> None:
        """Mark a segment failed/dropped and wake playback (its queued audio is discarded)."""
        seg = slot.segment
        if seg.status == "ok":
            seg.status, seg.error = status, message
        while not slot.audio.empty():
            slot.audio.get_nowait()
        slot.audio.put_nowait(END)

    def finish(
        self, slot: Slot, status: SegmentStatus | None = None, message: str | None = None
    ) -> None:
        """Log the segment's row (once), with ``status`` if it is still ``ok``."""
        if slot.finished:
            return
        slot.finished = True
        seg = slot.segment
        if status is not None and seg.status == "ok":
            seg.status, seg.error = status, message
        self.slots.pop(seg.segment_id, None)
        self.log_row(seg)
        if self.words is not None:
            self.words.extend(slot.words.played_rows(seg))
        self.emit(SegmentLogged(self.clock.now(), seg.segment_id, seg.to_dict()))

    def drop_unfinished(self, message: str) -> None:
        """Log every segment not yet finished as ``dropped``."""
        for sid in sorted(self.slots):
            self.finish(self.slots[sid], "dropped", message)

    # -- the playback task ---------------------------------------------------------------
    async def run(self) -> None:
        """Play segment 0, 1, 2, … until the commits are done and all are played."""
        sid = 0
        while (slot := await self._wait_for(sid)) is not None:
            try:
                await self._play(slot)
            except asyncio.CancelledError:
                self.finish(slot, "dropped", "stopped before playback")
                raise
            except Exception as exc:
                self.finish(slot, "error", f"playback: {exc}")
            else:
                self.finish(slot)
            sid += 1

    async def _wait_for(self, sid: int) -> Slot | None:
        while sid not in self.slots:
            if self._commits_done and sid >= self.next_id:
                return None
            self._added.clear()
            if sid in self.slots:
                break
            await self._added.wait()
        return self.slots[sid]

    async def _play(self, slot: Slot) -> None:
        """Write one segment's audio to the sink as it arrives; time its start and end."""
        seg = slot.segment
        converter: StreamResampler | None = None
        played = 0.0
        item = await slot.audio.get()
        if isinstance(item, AudioChunk) and self._skip(slot):
            return
        self._playing = slot
        while isinstance(item, AudioChunk):
            if self.sink is not None:
                rate = self.sink.sample_rate or item.sample_rate
                if converter is None and item.sample_rate != rate:
                    converter = StreamResampler(rate)
                out = converter.process(item) if converter is not None else item
            self._started(seg)
            slot.words.timeline.played(item.duration_s, self.clock.now())
            if self.sink is not None and out.n_samples:
                await self.sink.write(out)
            played += item.duration_s
            item = await slot.audio.get()
        if converter is not None and self.sink is not None:
            tail = converter.flush()
            if tail.n_samples:
                await self.sink.write(tail)
        if seg.t_play_start is not None:
            if self.sink is not None:
                await self.sink.drain()
            seg.t_play_end = self.clock.now()
            self.emit(AudioFinished(seg.t_play_end, seg.segment_id, played, seg.listener))
        if seg.status == "ok" and seg.t_play_start is None:
            seg.status, seg.error = "error", "tts: the synthesizer produced no audio"

    def _started(self, seg: Segment) -> None:
        if seg.t_play_start is None:
            seg.t_play_start = self.clock.now()
            lag = None if seg.t_speech_end is None else seg.t_play_start - seg.t_speech_end
            self.emit(AudioStarted(seg.t_play_start, seg.segment_id, lag, seg.speed, seg.listener))
