"""New rows: a committed (or lost) utterance becomes a :class:`~s2st_kit.records.Segment`."""

from __future__ import annotations

from ..config import PipelineConfig
from ..policy import Commit
from ..records import Segment
from ..words import SpokenWord
from .speech import SpeechTimes
from .utterances import Utterance

__all__ = ["SegmentMaker"]


class SegmentMaker:
    """Numbers the session's segments in speech order and fills in what the recognizer side
    knows; each branch then sets its own target, engines, voice and listener.

    asr_engine: the recognizer's name. party: the ``party`` column (a conversation's side).
    speech: maps stream positions to when they were spoken (``t_speech_end``).
    """

    def __init__(
        self,
        session_id: str,
        config: PipelineConfig,
        *,
        asr_engine: str,
        speech: SpeechTimes,
        party: str | None,
    ) -> None:
        self.session_id, self.config = session_id, config
        self.asr_engine, self.speech, self.party = asr_engine, speech, party
        self.next_id = 0

    def _new(self, utt: Utterance) -> Segment:
        cfg = self.config
        seg = Segment(
            session_id=self.session_id,
            segment_id=self.next_id,
            source_lang=cfg.source_lang,
            target_lang=cfg.target_lang,
            asr_engine=self.asr_engine,
            chunk_ms=cfg.chunk_ms,
            policy=cfg.policy,
            utterance_id=utt.uid,
            n_partials=utt.n_partials,
            t_first_partial=utt.t_first_partial,
            party=self.party,
        )
        self.next_id += 1
        return seg

    def committed(self, commit: Commit, utt: Utterance, now: float) -> Segment:
        """The row of a committed piece of ``utt``, committed at session time ``now`` (s)."""
        seg = self._new(utt)
        seg.audio_start_s = utt.base_s + commit.audio_start_s
        seg.audio_end_s = utt.base_s + commit.audio_end_s
        seg.transcript = commit.text
        seg.detected_lang = commit.language
        seg.asr_confidence = commit.confidence
        seg.t_speech_end = self.speech.spoken_at(seg.audio_end_s)
        seg.t_asr_final = now
        return seg

    def source_words(self, commit: Commit, utt: Utterance, seg: Segment) -> list[SpokenWord]:
        """The committed words with their input-stream times and, on the session clock,
        when each was spoken: the segment's ``t_speech_end`` minus the audio after the word
        (÷ the source's pace) — :meth:`SpeechTimes.spoken_at` for a live source, and words
        keep their spacing when the input was not delivered in real time."""
        end_t, end_in = seg.t_speech_end, seg.audio_end_s
        if end_t is None or end_in is None:
            return []
        pace = self.speech.speed
        out = []
        for w in commit.words:
            a, b = utt.base_s + w.start_s, utt.base_s + w.end_s
            out.append(
                SpokenWord(w.text, end_t - (end_in - a) / pace, end_t - (end_in - b) / pace, a, b)
            )
        return out

    def lost(self, utt: Utterance) -> Segment:
        """The row of an utterance lost with a failed recognizer stream (what was heard)."""
        seg = self._new(utt)
        if utt.last is not None:
            seg.transcript = utt.last.text
            seg.audio_start_s = utt.base_s + utt.last.start_s
            seg.audio_end_s = utt.base_s + utt.last.end_s
            seg.t_speech_end = self.speech.spoken_at(seg.audio_end_s)
        return seg
