"""The recognizer stage: audio → hypotheses → commit policy → committed segments.

Runs one recognizer stream at a time. A stream that fails with a retryable error is
reopened on the following audio within the session's :class:`~s2st_kit.retry.RestartBudget`
(restarts per window of *input audio*, so the budget means the same for a live session and
an unpaced replay); the utterances it was in the middle of are logged as error rows. An
error the engine marked spent (:func:`~s2st_kit.retry.mark_spent`: it already reconnected
as often as it may, like the Transcribe engine) is not restarted again: retries never
multiply across layers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

from ..clock import SessionClock
from ..config import PipelineConfig
from ..engines.protocols import Recognizer
from ..errors import EngineError
from ..events import ErrorEvent, Event, FinalTranscript, PartialTranscript
from ..policy import Commit, CommitPolicy, make_policy
from ..records import AudioChunk, Transcript
from ..retry import retries_spent
from .playback import END
from .utterances import Utterance, UtteranceTracker

__all__ = ["RecognitionStage", "aclose_iterator"]

logger = logging.getLogger("s2st_kit.pipeline")

OnCommit = Callable[[Commit, Utterance], Awaitable[None]]
OnLost = Callable[[Utterance, str], None]


class RecognitionStage:
    """Feeds the audio queue to the recognizer and the hypotheses to the commit policy.

    on_commit(commit, utterance): a committed piece of text (awaited: back-pressure).
    on_lost(utterance, message): an utterance lost with a failed stream (an error row).
    on_final(utterance): an utterance got its final result (prune bookkeeping).
    """

    def __init__(
        self,
        recognizer: Recognizer,
        config: PipelineConfig,
        clock: SessionClock,
        emit: Callable[[Event], None],
        *,
        on_commit: OnCommit,
        on_lost: OnLost,
        on_final: Callable[[Utterance], None],
    ) -> None:
        self.recognizer = recognizer
        self.config = config
        self.clock = clock
        self.emit = emit
        self.on_commit, self.on_lost, self.on_final = on_commit, on_lost, on_final
        self.utterances = UtteranceTracker()
        self.budget = config.restart_budget()
        self.restarts = 0
        self.partials = 0
        self.finals = 0
        self._position_s = 0.0  # end of the latest chunk handed to the recognizer (s)
        self._ended = False

    def _policy(self) -> CommitPolicy:
        return make_policy(self.config.policy, min_commit_words=self.config.min_commit_words)

    async def run_until_end(
        self, audio_q: asyncio.Queue[Any], stop_input: Callable[[], Awaitable[None]]
    ) -> EngineError | None:
        """:meth:`run`; if the recognizer gives up, return its error instead of raising it.

        Then the input is stopped (``stop_input``), the audio queue drained to its end
        marker, and the utterances in progress logged as lost: the segments already
        committed are still translated and played before the session fails.
        """
        try:
            await self.run(audio_q)
            return None
        except EngineError as exc:
            msg = f"recognizer failed: {exc}; finishing what was heard"
            self.emit(ErrorEvent(self.clock.now(), "asr", msg))
            await stop_input()
            while not self._ended and await audio_q.get() is not END:
                pass  # let the source reader finish (unless the stream already took END)
            for utt in self.utterances.abandon():
                self.on_lost(utt, f"recognizer failed: {exc}")
            return exc

    async def run(self, audio_q: asyncio.Queue[Any]) -> None:
        """Recognise until the audio queue's end marker; then flush the policy."""
        policy = self._policy()
        while True:
            base: list[float] = []
            self.utterances.new_stream()
            stream = self.recognizer.stream(
                self._audio(audio_q, base), language=self.config.source_lang
            )
            try:
                async for tr in stream:
                    await self._on_transcript(tr, base[0] if base else 0.0, policy)
                break
            except EngineError as exc:
                self._restart_or_raise(exc)
                policy = self._policy()
            finally:
                await aclose_iterator(stream)
        for commit in policy.finish():
            await self.on_commit(commit, self.utterances.get(commit.utterance_id))

    async def _audio(
        self, audio_q: asyncio.Queue[Any], base: list[float]
    ) -> AsyncIterator[AudioChunk]:
        while True:
            item = await audio_q.get()
            if item is END:
                self._ended = True
                return
            if not base:
                base.append(item.start_s)
            self._position_s = item.end_s
            yield item

    def _restart_or_raise(self, exc: EngineError) -> None:
        """Within budget: log the lost utterances and go on; else re-raise ``exc``."""
        if (
            not exc.retryable
            or retries_spent(exc)  # the engine already reconnected all it may: no second layer
            or self._ended
            or not self.budget.allow(self._position_s)
        ):
            raise exc
        self.restarts += 1
        logger.warning("recognizer stream failed (%s); restarting", exc)
        self.emit(ErrorEvent(self.clock.now(), "asr", f"stream restarted: {exc}"))
        for utt in self.utterances.abandon():
            self.on_lost(utt, f"recognizer stream failed: {exc}")

    async def _on_transcript(self, tr: Transcript, base: float, policy: CommitPolicy) -> None:
        now = self.clock.now()
        utt = self.utterances.on_transcript(tr, base, now)
        if tr.is_final:
            self.finals += 1
            self.emit(FinalTranscript(now, tr, utt.uid))
        else:
            self.partials += 1
            self.emit(PartialTranscript(now, tr, utt.uid))
        local = Transcript(
            text=tr.text, is_final=tr.is_final, start_s=tr.start_s, end_s=tr.end_s,
            utterance_id=utt.uid, stable_text=tr.stable_text, language=tr.language,
            confidence=tr.confidence, words=tr.words, speaker=tr.speaker,
        )  # fmt: skip
        for commit in policy.update(local):
            await self.on_commit(commit, utt)
        if tr.is_final:
            self.utterances.close(utt.uid)
            self.on_final(utt)


async def aclose_iterator(it: AsyncIterator[Any]) -> None:
    """Close an engine's stream (an async generator) and ignore what closing it raises."""
    if isinstance(it, AsyncGenerator):
        with contextlib.suppress(Exception):
            await it.aclose()
