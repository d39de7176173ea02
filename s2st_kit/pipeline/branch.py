"""Fan-out: one recognizer stream and one commit policy feed one branch per listener.

::

    recognizer ──▶ policy ──▶ commit ─┬─▶ [queue es] ──▶ workers (mt es, tts es) ──▶ playback ──▶ sink es
                                      ├─▶ [queue fr] ──▶ workers (mt fr, tts fr) ──▶ playback ──▶ sink fr
                                      └─▶ …

A :class:`Listener` says what one branch does (target language, sink, optional voice,
translator and synthesizer); a :class:`Branch` is that listener's running half of the
session: its own segment queue, :class:`~.translation.TranslationStage` workers and
:class:`~.playback.PlaybackScheduler` (so its own lag controller, its own speech order,
its own non-overlapping playback). Every committed segment goes to every branch as its own
row (same ``segment_id`` and ``transcript``, ``listener`` set to the branch's name).

**A slow branch never holds back the recogniser or the other branches.** With one branch the
segment queue keeps the session's ``overflow`` policy (``"block"`` is back-pressure on the
recognizer, as it always was). With several, a full branch queue drops *that branch's*
oldest waiting segment (its row says ``dropped`` with the listener named) instead of
blocking: blocking would stall the recognizer, and through it every other listener, on the
slowest one. The queue is sized ``segment_queue_size`` (32 segments by default — minutes of
speech), so only a branch that has fallen far behind loses anything, and lag control
(``max_lag_s``), which runs per branch, normally skips well before that. ``overflow="error"``
still raises for any branch (the caller asked for it).

A branch whose translator or synthesizer fails marks its own rows ``error``; the other
branches' rows of the same segments are unaffected.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from ..clock import SessionClock
from ..config import Overflow, PipelineConfig
from ..engines import Engines
from ..engines.protocols import (
    AudioSink,
    SupportsConfigure,
    SupportsLoad,
    SupportsLoadPairs,
    Synthesizer,
    Translator,
)
from ..errors import ConfigError
from ..events import Event
from ..records import Segment, SegmentStatus
from ..words import SpokenWord, source_rows
from .ingest import put_bounded
from .playback import PlaybackScheduler
from .prepare import _load, validate
from .slot import END, Slot
from .translation import TranslationStage

__all__ = ["Branch", "Branches", "Listener"]


@dataclass(frozen=True, slots=True, eq=False)
class Listener:
    """One listener of a session: the language they hear and where it plays.

    target: ISO 639-1 code of the language they hear (``"fr"``).
    sink: AudioSink for their speech (``None``: timing logged, audio discarded); the session
        closes it at the end.
    voice: synthesizer voice id (``None``: the session config's ``voice`` when ``target`` is
        the config's ``target_lang``, else the synthesizer's default voice for ``target``).
    translator / synthesizer: engines for this branch only (``None``: the session's).
    name: the ``listener`` column of its rows (default: ``target``); unique in a session.
    """

    target: str
    _: KW_ONLY
    sink: AudioSink | None = None
    voice: str | None = None
    translator: Translator | None = None
    synthesizer: Synthesizer | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """The name its rows carry in the ``listener`` column."""
        return self.name or self.target


Count = Callable[[SegmentStatus, bool], None]  # (status, dropped by a full queue)


class Branch:
    """One listener's translation, synthesis and playback (see the module docstring).

    config: the session's config; the branch's own is derived (``target_lang``, ``voice``).
    log_row: receives each finished row (the session's log).
    count(status, queue_drop): tells the session about a row given up (for its stats).
    overflow: what a full branch queue does (see the module docstring).
    queue_name: how errors and dropped rows name its queue.
    """

    def __init__(
        self,
        listener: Listener,
        engines: Engines,
        config: PipelineConfig,
        clock: SessionClock,
        emit: Callable[[Event], None],
        log_row: Callable[[Segment], None],
        *,
        count: Count,
        overflow: Overflow,
        queue_name: str = "segment",
    ) -> None:
        self.listener = listener
        self.name = listener.label
        self.engines = Engines(
            engines.recognizer,
            listener.translator or engines.translator,
            listener.synthesizer or engines.synthesizer,
        )
        voice = listener.voice
        if voice is None and listener.target == config.target_lang:
            voice = config.voice
        self.config = config.replace(target_lang=listener.target, voice=voice)
        self.clock, self.emit = clock, emit
        self.sink = listener.sink
        self.voice = ""
        self.playback = PlaybackScheduler(
            self.sink, clock, emit, log_row, self.config.lag_controller()
        )
        self.queue: asyncio.Queue[Any] = asyncio.Queue(config.segment_queue_size)
        self.overflow = overflow
        self.queue_name = queue_name
        self._count = count

    def validate(self) -> str:
        """Check the branch's pair and voice (may do I/O: call from a thread); its voice id."""
        self.voice = validate(self.engines, self.config)
        return self.voice

    def tasks(
        self, tg: asyncio.TaskGroup, on_retry: Callable[..., None]
    ) -> list[asyncio.Task[Any]]:
        """Start its playback task and ``max_inflight`` workers in ``tg``."""
        workers = TranslationStage(
            self.engines, self.config, self.clock, self.emit,
            voice=self.voice, scheduler=self.playback,
            give_up=self.give_up, on_retry=on_retry,
        )  # fmt: skip
        name = f"s2st-{self.name}"
        started = [tg.create_task(self.playback.run(), name=f"{name}-playback")]
        started += [
            tg.create_task(workers.worker(self.queue), name=f"{name}-worker-{i}")
            for i in range(self.config.max_inflight)
        ]
        return started

    def _own(self, seg: Segment) -> Slot:
        """The branch's copy of a committed segment, registered with its playback."""
        mine = dataclasses.replace(
            seg,
            target_lang=self.config.target_lang,
            mt_engine=self.engines.translator.name,
            tts_engine=self.engines.synthesizer.name,
            voice=self.voice,
            listener=self.name,
        )
        slot = self.playback.add(mine)
        self.playback.next_id = seg.segment_id + 1
        return slot

    async def commit(self, seg: Segment, spoken: Sequence[SpokenWord] = ()) -> None:
        """Queue the branch's copy of ``seg`` for translation (overflow: see module docs);
        ``spoken``: its source words, for the words table."""
        slot = self._own(seg)
        if self.playback.words is not None:
            self.playback.words.extend(source_rows(slot.segment, spoken))
        what = self.queue_name
        dropped = await put_bounded(self.queue, slot, overflow=self.overflow, what=what)
        if isinstance(dropped, Slot):
            self.give_up(dropped, "dropped", f"{what} queue full (overflow=drop-oldest)")
            self._count("dropped", True)

    def lost(self, seg: Segment, message: str) -> None:
        """An utterance the recognizer lost: an error row in this branch too."""
        self.give_up(self._own(seg), "error", message)

    def give_up(self, slot: Slot, status: SegmentStatus, message: str) -> None:
        """Mark one of its segments failed / dropped / skipped (and count it)."""
        self.playback.give_up(slot, status, message)
        self._count(status, False)

    async def end(self) -> None:
        """No more commits: stop its workers after what is queued."""
        for _ in range(self.config.max_inflight):
            await self.queue.put(END)


class Branches:
    """The session's branches, one per listener, as one fan-out (see the module docstring)."""

    def __init__(
        self,
        listeners: Sequence[Listener],
        engines: Engines,
        config: PipelineConfig,
        clock: SessionClock,
        emit: Callable[[Event], None],
        log_row: Callable[[Segment], None],
        *,
        count: Count,
    ) -> None:
        if not listeners:
            raise ConfigError("a session needs at least one listener (Listener('es', ...))")
        names = [lst.label for lst in listeners]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"listener names must be unique, got {names}; give two listeners of one "
                "language a name each: Listener('es', name='es-2', ...)"
            )
        overflow = config.overflow
        if len(listeners) > 1 and overflow == "block":
            overflow = "drop-oldest"  # never stall the recognizer on one slow branch
        self.config = config
        self.engines = engines
        fanout = len(listeners) > 1
        self.all: list[Branch] = []
        for lst in listeners:
            name = f"{lst.label!r} listener's segment" if fanout else "segment"
            branch = Branch(
                lst, engines, config, clock, emit, log_row,
                count=count, overflow=overflow, queue_name=name,
            )  # fmt: skip
            self.all.append(branch)

    def __iter__(self) -> Any:
        return iter(self.all)

    def __len__(self) -> int:
        return len(self.all)

    def validate(self) -> list[str]:
        """Validate every branch before the session starts (blocking: from a thread)."""
        return [b.validate() for b in self.all]

    async def warm_up(self) -> None:
        """Let each distinct engine adopt the config and load once, before the clock starts
        (a translator loads every pair its branches need); see :func:`.prepare.warm_up`."""
        rec = self.engines.recognizer
        translators = {id(b.engines.translator): b.engines.translator for b in self.all}
        synthesizers = {id(b.engines.synthesizer): b.engines.synthesizer for b in self.all}
        distinct = {id(rec): rec, **translators, **synthesizers}
        for engine in distinct.values():
            if isinstance(engine, SupportsConfigure):
                engine.configure(self.config)
        if isinstance(rec, SupportsLoad):
            await _load(rec.load)
        for key, mt in translators.items():
            if isinstance(mt, SupportsLoadPairs):
                pairs = [
                    (b.config.source_lang, b.config.target_lang)
                    for b in self.all
                    if id(b.engines.translator) == key
                ]
                await _load(mt.load, pairs)
        for tts in synthesizers.values():
            if isinstance(tts, SupportsLoad):
                await _load(tts.load)

    async def commit(self, seg: Segment, spoken: Sequence[SpokenWord] = ()) -> None:
        """Hand a committed segment (and its source words) to every branch."""
        for b in self.all:
            await b.commit(seg, spoken)

    def lost(self, seg: Segment, message: str) -> None:
        """An utterance the recognizer lost: an error row in every branch."""
        for b in self.all:
            b.lost(seg, message)

    async def end(self) -> None:
        """No more commits: every branch finishes what it has."""
        for b in self.all:
            await b.end()

    def commits_done(self) -> None:
        """Playback of every branch ends after its last segment."""
        for b in self.all:
            b.playback.commits_done()

    def drop_unfinished(self, message: str) -> None:
        """Log every unfinished segment of every branch as ``dropped``."""
        for b in self.all:
            b.playback.drop_unfinished(message)
