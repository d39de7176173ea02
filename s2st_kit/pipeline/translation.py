"""The translation workers: each takes a committed segment, translates it and streams its speech.

``max_inflight`` workers run at once, so translation and synthesis of different segments
overlap; their audio goes into each segment's slot, which the playback scheduler plays in
order. Retryable engine errors are retried through :func:`s2st_kit.retry.retry_call` (one
budget per call, shared with the engine's own retries); synthesis is retried only while
none of its audio has reached playback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..clock import SessionClock
from ..config import PipelineConfig
from ..engines import Engines
from ..engines.protocols import SupportsBrevity, SupportsRate, SupportsWordTiming
from ..errors import EngineError, S2STError
from ..events import ErrorEvent, Event, TranslationReady, WordsTimed
from ..records import AudioChunk, SegmentStatus
from ..retry import retry_call
from .playback import PlaybackScheduler
from .recognition import aclose_iterator
from .slot import END, Slot

__all__ = ["TranslationStage"]

logger = logging.getLogger("s2st_kit.pipeline")


class TranslationStage:
    """Translate → synthesize for each segment taken from the segment queue.

    scheduler: plans each segment's speed before synthesis (lag control) and hears when
        its synthesis is done.
    give_up(slot, status, message): marks a segment failed or dropped (and counts it).
    on_retry(exc, attempt, wait_s): counts a retry.
    voice: the synthesizer voice chosen by validation.
    """

    def __init__(
        self,
        engines: Engines,
        config: PipelineConfig,
        clock: SessionClock,
        emit: Callable[[Event], None],
        *,
        voice: str,
        scheduler: PlaybackScheduler,
        give_up: Callable[[Slot, SegmentStatus, str], None],
        on_retry: Callable[[BaseException, int, float], None],
    ) -> None:
        self.engines, self.config, self.clock, self.emit = engines, config, clock, emit
        self.voice = voice
        self.scheduler = scheduler
        self.give_up = give_up
        self.on_retry = on_retry

    async def worker(self, seg_q: asyncio.Queue[Any]) -> None:
        """One worker: process segments until the queue's end marker."""
        while (slot := await seg_q.get()) is not END:
            if not slot.finished:
                await self.process(slot)

    async def process(self, slot: Slot) -> None:
        """Translate and synthesize one segment; a failure becomes its row's error."""
        seg = slot.segment
        stage = "mt"
        try:
            await self._translate(slot)
            if not seg.translation.strip():
                self.give_up(slot, "dropped", "empty translation")
                return
            stage = "tts"
            self.scheduler.plan_speed(slot)
            seg.t_tts_start = self.clock.now()
            seg.chars_synthesized = len(seg.translation)
            await self._synthesize(slot)
            seg.t_tts_end = self.clock.now()
            self.scheduler.synthesized(slot)
            self._words_timed(slot)
        except asyncio.CancelledError:
            self.give_up(slot, "dropped", "stopped before playback")
            raise
        except Exception as exc:
            if isinstance(exc, S2STError):
                message = f"{stage}: {exc}"
            else:
                message = f"{stage}: {type(exc).__name__}: {exc}"
                logger.exception("segment %d failed in %s", seg.segment_id, stage)
            self.emit(ErrorEvent(self.clock.now(), stage, message, seg.segment_id))
            self.give_up(slot, "error", message)
            return
        await slot.audio.put(END)

    async def _translate(self, slot: Slot) -> None:
        cfg, mt, seg = self.config, self.engines.translator, slot.segment
        src, tgt = cfg.source_lang, cfg.target_lang
        brief = (
            cfg.brevity_when_behind
            and isinstance(mt, SupportsBrevity)
            and mt.brevity_supported(src, tgt)
            and self.scheduler.behind(slot)
        )
        call = mt.translate_brief if brief and isinstance(mt, SupportsBrevity) else mt.translate
        seg.t_mt_start = self.clock.now()
        translation = await retry_call(
            lambda: call(seg.transcript, source=src, target=tgt),
            policy=cfg.retry_policy(),
            what=f"translation of segment {seg.segment_id}",
            on_retry=self.on_retry,
        )
        seg.t_mt_end = self.clock.now()
        seg.translation = translation.text
        seg.chars_translated = len(seg.transcript)
        if translation.detected_source:
            seg.detected_lang = translation.detected_source
        self.emit(TranslationReady(seg.t_mt_end, seg.segment_id, translation, seg.listener))

    async def _synthesize(self, slot: Slot) -> None:
        """Stream synthesis into the slot; retried only while nothing reached playback."""
        seg = slot.segment

        async def attempt() -> None:
            stream = self._speech(slot)
            try:
                async for chunk in stream:
                    if seg.status != "ok":
                        break  # skipped or dropped meanwhile: stop synthesising
                    if seg.t_tts_first_audio is None:
                        seg.t_tts_first_audio = self.clock.now()
                    seg.tts_audio_s += chunk.duration_s
                    await slot.audio.put(chunk)
            finally:
                await aclose_iterator(stream)

        def retryable(exc: BaseException) -> bool:
            started = seg.t_tts_first_audio is not None
            return isinstance(exc, EngineError) and exc.retryable and not started

        await retry_call(
            attempt,
            policy=self.config.retry_policy(),
            what=f"synthesis of segment {seg.segment_id}",
            retryable=retryable,
            on_retry=self.on_retry,
        )

    def _speech(self, slot: Slot) -> AsyncIterator[AudioChunk]:
        """The segment's speech at its planned speed: the synthesizer's own rate where it
        has one for this voice, else its natural speech time-stretched (Rubber Band).
        A synthesizer with word timing speaks through ``synthesize_marked``: its marks are
        kept on the slot (divided by the stretch, if any, when they are placed)."""
        seg, tts = slot.segment, self.engines.synthesizer
        language, speed = self.config.target_lang, slot.speed
        own_rate = speed == 1.0 or (
            isinstance(tts, SupportsRate)
            and speed <= tts.max_speed
            and tts.rate_supported(self.voice)
        )
        engine_speed = speed if own_rate else 1.0
        text, voice = seg.translation, self.voice
        if isinstance(tts, SupportsWordTiming):
            marked = tts.synthesize_marked(text, voice=voice, language=language, speed=engine_speed)
            stream = slot.words.collect(marked)
        elif engine_speed != 1.0 and isinstance(tts, SupportsRate):
            stream = tts.synthesize_at(text, voice=voice, language=language, speed=speed)
        else:
            stream = tts.synthesize(text, voice=voice, language=language)
        if own_rate:
            return stream
        from ..audio.stretch import stretch_stream  # pedalboard loads only when needed

        slot.words.stretch = speed
        return stretch_stream(stream, speed)

    def _words_timed(self, slot: Slot) -> None:
        """Tell subscribers (live captions) when each word of the segment's speech starts."""
        seg = slot.segment
        if seg.status == "ok":
            words = tuple(slot.words.spans(seg.translation, seg.tts_audio_s))
            self.emit(WordsTimed(self.clock.now(), seg.segment_id, words,
                                 slot.words.estimated, seg.listener))  # fmt: skip
