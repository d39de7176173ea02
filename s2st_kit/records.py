"""The records that flow through a pipeline, and the row of the segment log.

All times are seconds. ``start_s`` / ``end_s`` on audio and transcripts are positions in
the *input stream* (0 = first sample); ``t_*`` fields on :class:`Segment` are session-clock
times (see :mod:`s2st_kit.clock`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = [
    "SEGMENT_COLUMNS",
    "AudioChunk",
    "Segment",
    "SegmentStatus",
    "Transcript",
    "Translation",
    "Voice",
    "Word",
    "WordMark",
]


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A piece of mono PCM audio: signed 16-bit little-endian samples.

    pcm: the raw bytes (length is a multiple of 2).
    sample_rate: Hz.
    start_s: position of the first sample in its stream (s).
    """

    pcm: bytes
    sample_rate: int
    start_s: float = 0.0

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return len(self.pcm) // 2

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.n_samples / self.sample_rate

    @property
    def end_s(self) -> float:
        """Stream position just after the last sample (s)."""
        return self.start_s + self.duration_s

    def samples(self) -> np.ndarray:
        """The samples as a read-only ``int16`` array (no copy)."""
        return np.frombuffer(self.pcm, dtype="<i2")

    def rms(self) -> float:
        """Root-mean-square level, 0..1 of full scale."""
        s = self.samples()
        if s.size == 0:
            return 0.0
        return float(np.sqrt(np.mean((s.astype(np.float64) / 32768.0) ** 2)))

    @classmethod
    def from_array(cls, samples: np.ndarray, sample_rate: int, start_s: float = 0.0) -> AudioChunk:
        """Build from an int16 array, or a float array in [-1, 1] (clipped)."""
        a = np.asarray(samples)
        if a.dtype != np.int16:
            a = np.clip(np.round(a.astype(np.float64) * 32767.0), -32768, 32767).astype(np.int16)
        return cls(a.astype("<i2", copy=False).tobytes(), sample_rate, start_s)


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with its position in the input stream (s).

    stable: the recognizer promises not to change this word any more.
    """

    text: str
    start_s: float
    end_s: float
    stable: bool = False
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class WordMark:
    """One word of synthesized speech, as the synthesizer timed it.

    text: the word. start_s / end_s: its position in the audio the same synthesis call
    yields (s from that call's first sample, at the speed the engine spoke it; ``end_s``
    None when the engine gives only starts — the next word's start or the audio's end then
    closes it). char_start / char_end: the word's span in the text that was synthesized
    (``None`` when unknown). Times are never session-clock times: the pipeline maps them
    onto the playback timeline (and divides by any time-stretch it applied itself).
    """

    text: str
    start_s: float
    end_s: float | None = None
    char_start: int | None = None
    char_end: int | None = None


@dataclass(frozen=True, slots=True)
class Transcript:
    """A recognizer hypothesis for one utterance.

    text: the whole hypothesis so far.
    is_final: the recognizer will not revise this utterance again.
    stable_text: the prefix of ``text`` the recognizer will not change (all of ``text`` when
        final; ``""`` when the engine has no stability information).
    start_s / end_s: the utterance's span in the input stream (s).
    language: language the recognizer used or detected (e.g. ``"en"``), if known.
    confidence: 0..1, if the engine gives one.
    utterance_id: increases by one per utterance, in speech order.
    words: per-word timing and stability, when the engine provides them.
    speaker: speaker label, when the engine provides one.
    """

    text: str
    is_final: bool
    start_s: float
    end_s: float
    utterance_id: int
    stable_text: str = ""
    language: str | None = None
    confidence: float | None = None
    words: tuple[Word, ...] = ()
    speaker: str | None = None


@dataclass(frozen=True, slots=True)
class Translation:
    """The result of one translation call.

    detected_source: the source language the engine detected (``source="auto"``), else None.
    """

    text: str
    source_text: str
    source: str
    target: str
    engine: str = ""
    detected_source: str | None = None


@dataclass(frozen=True, slots=True)
class Voice:
    """A synthesizer voice.

    id: what to pass as ``voice``; language: ISO 639-1 code it speaks (e.g. ``"es"``);
    locale: full tag when known (``"es-ES"``); engines: synthesis engines it supports
    (Polly: ``standard``, ``neural``, ...); gender may be ``None``.
    """

    id: str
    name: str
    language: str
    locale: str | None = None
    gender: str | None = None
    engines: tuple[str, ...] = ()


#: A logged segment's outcome: played (``ok``), failed in a stage (``error``), never played
#: (``dropped``: a full queue, a stop, an empty translation) or left out by lag control to
#: catch up with the speaker (``skipped``: its transcript and translation are kept).
SegmentStatus = Literal["ok", "error", "dropped", "skipped"]


@dataclass(slots=True)
class Segment:
    """One row of the segment log: a committed piece of speech and everything done with it.

    ``segment_id`` is the order of the speech. Every ``t_*`` is seconds on the session
    clock, taken by the pipeline around engine calls (never by engines). ``None`` means the
    stage did not happen (e.g. a failed translation has no ``t_tts_*``).

    ``tts_audio_s`` is the speech handed to playback (s, after any speed-up); ``speed`` is
    the playback speed lag control chose (1.0 = natural; the synthesizer's own rate or a
    time-stretch) and ``lag_at_play_s`` how far behind the speaker the segment was when the
    controller last looked (s, just before it played or was skipped; None without control).

    ``listener`` names the branch a row belongs to when one speech stream is translated for
    several listeners (by default the target language, e.g. ``"es"``); ``party`` names the
    speaker's side in a two-party conversation (``"a"`` / ``"b"``; None otherwise).
    """

    session_id: str
    segment_id: int
    source_lang: str
    target_lang: str
    detected_lang: str | None = None
    asr_engine: str = ""
    mt_engine: str = ""
    tts_engine: str = ""
    voice: str | None = None
    chunk_ms: int = 0
    policy: str = ""
    audio_start_s: float | None = None
    audio_end_s: float | None = None
    transcript: str = ""
    translation: str = ""
    n_partials: int = 0
    asr_confidence: float | None = None
    t_speech_end: float | None = None
    t_first_partial: float | None = None
    t_asr_final: float | None = None
    t_mt_start: float | None = None
    t_mt_end: float | None = None
    t_tts_start: float | None = None
    t_tts_first_audio: float | None = None
    t_tts_end: float | None = None
    t_play_start: float | None = None
    t_play_end: float | None = None
    tts_audio_s: float = 0.0
    speed: float = 1.0
    lag_at_play_s: float | None = None
    chars_translated: int = 0
    chars_synthesized: int = 0
    status: SegmentStatus = "ok"
    error: str | None = None
    listener: str | None = None
    party: str | None = None
    utterance_id: int | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The row as a plain dict with exactly :data:`SEGMENT_COLUMNS` as keys."""
        return {name: getattr(self, name) for name in SEGMENT_COLUMNS}


#: The columns of the segment log, in order, exactly as DESIGN.md defines them.
#: (``Segment.utterance_id`` is pipeline bookkeeping and is not logged.)
SEGMENT_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Segment) if f.name != "utterance_id"
)
