"""Two-party conversations: A speaks language a, B speaks language b, each hears the other.

::

    A's microphone ──▶ recognizer (a) ──▶ translate a→b ──▶ synthesize b ──▶ B's loudspeaker
    B's microphone ──▶ recognizer (b) ──▶ translate b→a ──▶ synthesize a ──▶ A's loudspeaker

A :class:`Conversation` is two :class:`~s2st_kit.pipeline.Pipeline` sessions — one per
direction, each with its own recognizer stream in its speaker's language (with AWS: one
Transcribe stream per party) — on one :class:`~s2st_kit.clock.SessionClock`, writing one
:class:`~s2st_kit.log.SegmentLog`. Rows carry ``party`` (who spoke: ``"a"`` / ``"b"``) and
``listener`` (who hears it: the other party); ``segment_id`` counts each party's segments
separately, so ``(party, segment_id)`` identifies a segment.

**Echo guard.** With open loudspeakers each party's microphone hears the translation of the
other party playing in the same room, which would be recognised and sent back. So each
party's microphone and loudspeaker are wrapped in an :class:`~s2st_kit.audio.echo.EchoGuard`:
the microphone is muted while (and ``echo_tail_s`` after) its own loudspeaker plays. By
default a guard is used for live sources only (a microphone); files and in-memory audio
have no acoustic path, and muting them would cut a party's words that overlap the other's
translation (``Party(echo_guard=True/False)`` decides explicitly).

Inputs: any two :class:`~s2st_kit.engines.protocols.AudioSource` (two files, two local or
browser microphones) or one stereo call recording split by channel
(:func:`~s2st_kit.audio.file.split_stereo`: left = A, right = B)::

    a_src, b_src = split_stereo("call.wav", realtime=True)
    talk = Conversation(engines, a=Party("en", source=a_src, sink=WavSink("a_hears.wav")),
                        b=Party("es", source=b_src, sink=WavSink("b_hears.wav"),
                                recognizer=spanish_recognizer),
                        log_path="call.jsonl")
    log = await talk.run()
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import KW_ONLY, dataclass
from typing import Any, Literal

from .audio.echo import EchoGuard
from .clock import SessionClock
from .config import PipelineConfig
from .engines import Engines
from .engines.protocols import AudioSink, AudioSource, PacedSource, Recognizer
from .errors import ConfigError, PipelineStateError
from .log import SegmentLog
from .pipeline import Listener, Pipeline
from .words import WordLog

__all__ = ["Conversation", "Party"]

PartyName = Literal["a", "b"]


@dataclass(frozen=True, slots=True, eq=False)
class Party:
    """One side of a conversation.

    language: ISO 639-1 code the party speaks and hears (``"en"``).
    source: their microphone (or recording); closed when the conversation ends.
    sink: their loudspeaker (or a WAV file): what they hear, the other party translated into
        ``language`` (``None``: discarded). Closed at the end.
    recognizer: the recognizer for their speech (``None``: the conversation's engines');
        e.g. a simulated one for a language the offline recognizer lacks.
    voice: the voice their words are spoken in to the other party (``None``: the
        synthesizer's default for the other party's language).
    echo_guard: mute ``source`` while ``sink`` plays (``None``: on for live sources — not a
        :class:`~s2st_kit.engines.protocols.PacedSource` file or memory source — off otherwise).
    """

    language: str
    _: KW_ONLY
    source: AudioSource
    sink: AudioSink | None = None
    recognizer: Recognizer | None = None
    voice: str | None = None
    echo_guard: bool | None = None

    def guarded(self) -> bool:
        """Whether this party gets an echo guard (see ``echo_guard``)."""
        if self.sink is None:
            return False
        if self.echo_guard is not None:
            return self.echo_guard
        return not isinstance(self.source, PacedSource)


class Conversation:
    """A two-party, two-language conversation (see the module docstring).

    engines: translator and synthesizer shared by both directions, and the recognizer of a
        party that does not bring its own. Not closed here.
    config: shared settings (chunk size, policy, lag control, queues); languages and voice
        come from the parties.
    a / b: the parties.
    log_path: JSONL file both directions' rows are appended to (``None``: memory only).
    echo_tail_s: how long (s) a guarded microphone stays muted after its loudspeaker drained.
    clock: the shared session clock (a fresh one by default).
    """

    def __init__(
        self,
        engines: Engines,
        config: PipelineConfig | None = None,
        *,
        a: Party,
        b: Party,
        log_path: str | os.PathLike[str] | None = None,
        echo_tail_s: float = 0.15,
        clock: SessionClock | None = None,
    ) -> None:
        if a.language == b.language:
            raise ConfigError(
                f"both parties speak {a.language!r}: a conversation needs two languages "
                "(for one language there is nothing to translate)"
            )
        config = config or PipelineConfig()
        self.session_id = config.session_id or uuid.uuid4().hex[:12]
        self.clock = clock or SessionClock()
        self.log = SegmentLog(log_path)
        self.words = WordLog.beside(log_path)  # both directions' words, beside the log
        self.parties: dict[PartyName, Party] = {"a": a, "b": b}
        self.guards: dict[PartyName, EchoGuard] = {}
        mics: dict[PartyName, AudioSource] = {"a": a.source, "b": b.source}
        speakers: dict[PartyName, AudioSink | None] = {"a": a.sink, "b": b.sink}
        for name, party in self.parties.items():
            if party.guarded() and party.sink is not None:
                guard = EchoGuard(party.source, party.sink, tail_s=echo_tail_s, clock=self.clock)
                self.guards[name] = guard
                mics[name], speakers[name] = guard.source, guard.sink
        self.pipelines: dict[PartyName, Pipeline] = {}
        directions: tuple[tuple[PartyName, PartyName], ...] = (("a", "b"), ("b", "a"))
        for name, other in directions:
            self.pipelines[name] = self._direction(
                engines, config, name, other, mics[name], speakers[other]
            )
        self._task: asyncio.Task[SegmentLog] | None = None

    def _direction(
        self,
        engines: Engines,
        config: PipelineConfig,
        speaker: PartyName,
        hearer: PartyName,
        mic: AudioSource,
        loudspeaker: AudioSink | None,
    ) -> Pipeline:
        """The pipeline that carries ``speaker``'s words to ``hearer``."""
        said, heard = self.parties[speaker], self.parties[hearer]
        own = Engines(
            said.recognizer or engines.recognizer, engines.translator, engines.synthesizer
        )
        cfg = config.replace(
            source_lang=said.language, target_lang=heard.language, voice=said.voice,
            session_id=self.session_id,
        )  # fmt: skip
        listener = Listener(heard.language, sink=loudspeaker, voice=said.voice, name=hearer)
        return Pipeline(
            own, cfg, source=mic, listeners=[listener], log=self.log, words=self.words,
            party=speaker, clock=self.clock, start_clock=False,
        )  # fmt: skip

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> asyncio.Task[SegmentLog]:
        """Run in the background on the running loop (for widgets); returns the task."""
        if self._task is not None:
            raise PipelineStateError("this conversation has already been started")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="s2st-conversation")
        return self._task

    async def run(self) -> SegmentLog:
        """Validate both directions, then run both until their sources end; the shared log."""
        return await self.start()

    async def stop(self, *, drain: bool = True) -> SegmentLog:
        """Stop both directions (``drain`` as :meth:`Pipeline.stop`) and wait for the end."""
        if self._task is None:
            raise PipelineStateError("the conversation was not started")
        for pipe in self.pipelines.values():
            if pipe._task is not None:
                await pipe.stop(drain=drain)
            else:  # still being validated: its source ends at once when it starts
                await pipe.source.aclose()
        await asyncio.shield(self._task)
        return self.log

    async def _run(self) -> SegmentLog:
        try:
            # Both directions' pairs and voices, before either starts (may do I/O).
            await asyncio.to_thread(self._validate)
        except BaseException:
            await self._close_inputs()
            await asyncio.to_thread(self._close_logs)
            raise
        self.clock.start()
        try:
            async with asyncio.TaskGroup() as tg:
                for name, pipe in self.pipelines.items():
                    tg.create_task(pipe.run(), name=f"s2st-conversation-{name}")
        except BaseExceptionGroup as eg:
            raise eg.exceptions[0] from None
        finally:
            await asyncio.to_thread(self._close_logs)
        return self.log

    def _close_logs(self) -> None:
        self.log.close()
        self.words.close()

    def _validate(self) -> None:
        for pipe in self.pipelines.values():
            pipe.branches.validate()

    async def _close_inputs(self) -> None:
        """A refused conversation closes what it was given, as a finished one does."""
        for party in self.parties.values():
            for closable in (party.source, party.sink):
                if closable is not None:
                    await closable.aclose()

    # -- results ---------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Each direction's :class:`~s2st_kit.pipeline.PipelineStats`, by speaking party."""
        return {name: pipe.stats for name, pipe in self.pipelines.items()}
