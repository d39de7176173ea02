"""Word timing: the words table beside the segment log, and the clocks its times live on.

One row per word (:data:`WORD_COLUMNS`): which segment and branch it belongs to
(``session_id``, ``segment_id``, ``listener``, ``party``), which ``side`` (``source``: what the
speaker said, from the recognizer; ``target``: the translation as the listener heard it),
its index within the segment's side, the ``word``, ``start_s`` / ``end_s`` on the **session
clock** (s, like every ``t_*`` of the segment log), and ``estimated`` (the synthesizer gave no
word timing: the times are spread over the segment's audio in proportion to characters).

* Source words are recorded when a segment is committed: the committed words of the
  utterance's transcript (recognizer word times, or the commit policy's even spread when the
  engine has none) with their input-stream positions (``input_start_s`` / ``input_end_s``)
  and, on the session clock, when each was spoken: the segment's ``t_speech_end`` minus the
  audio after the word (÷ the source's pace; :class:`~s2st_kit.pipeline.speech.SpeechTimes`).
* Target words are recorded when the segment has played: each :class:`~s2st_kit.records.WordMark`
  of the synthesis, divided by any time-stretch the pipeline applied (not by the engine's own
  rate: its marks already time the faster speech), placed on the playback timeline
  (:class:`PlayTimeline`: where each played chunk actually started). Segments that never
  played (skipped, dropped, failed) get no target words.

:class:`WordLog` is written like the segment log (crash-safe JSONL by the same writer thread,
Parquet on :meth:`WordLog.save`); a session's table sits beside its log
(:func:`words_path`: ``out/s.parquet`` → ``out/s.words.parquet`` and ``out/s.words.jsonl``).

:class:`InputClock` maps session-clock times to the input stream (s from the recording's first
sample), so captions line up with the input recording; see its docstring for the reasoning.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import S2STError
from .log import JsonlTable
from .records import AudioChunk, Segment, WordMark

__all__ = [
    "WORD_COLUMNS",
    "InputClock",
    "PlayTimeline",
    "SegmentWords",
    "Side",
    "SpokenWord",
    "WordLog",
    "WordRow",
    "estimate_marks",
    "mark_spans",
    "segment_rows",
    "source_rows",
    "words_path",
]

logger = logging.getLogger(__name__)

#: ``source``: the speaker's words (input stream); ``target``: the translation as played.
Side = Literal["source", "target"]

_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class WordRow:
    """One row of the words table: ``start_s`` / ``end_s`` on the session clock (s);
    ``input_start_s`` / ``input_end_s``: a source word's position in the input stream (s, as
    the recognizer timed it; None for target words, which were never in the input)."""

    session_id: str
    segment_id: int
    listener: str | None
    party: str | None
    side: Side
    word_index: int
    word: str
    start_s: float
    end_s: float
    estimated: bool = False
    input_start_s: float | None = None
    input_end_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The row as a plain dict with exactly :data:`WORD_COLUMNS` as keys.

        Flat fields read directly: ``dataclasses.asdict`` deep-copies every value and cost
        ~80 µs a row on the event loop (``make bench`` overhead tripled with the words table).
        """
        return {name: getattr(self, name) for name in WORD_COLUMNS}


#: The words table's columns, in order.
WORD_COLUMNS: tuple[str, ...] = tuple(WordRow.__dataclass_fields__)

_INT_COLUMNS = ("segment_id", "word_index")
_FLOAT_COLUMNS = ("start_s", "end_s", "input_start_s", "input_end_s")
#: Columns added after the first tables were written, with the value older tables mean.
_ADDED_COLUMNS = ("input_start_s", "input_end_s")


def words_path(log_path: str | os.PathLike[str], *, suffix: str = ".parquet") -> Path:
    """Where a segment log's words table lives: ``out/s.parquet`` → ``out/s.words.parquet``
    (``suffix=".jsonl"``: the JSONL twin, ``out/s.words.jsonl``; also from ``out/s.jsonl``)."""
    return Path(log_path).with_suffix(".words" + suffix)


class WordLog(JsonlTable):
    """Append-only words table: JSONL written by a writer thread while running, like
    :class:`~s2st_kit.log.SegmentLog` (the same :class:`~s2st_kit.log.JsonlTable`: a killed
    process loses nothing already appended; ``path`` ``None`` keeps it in memory only).
    """

    @classmethod
    def beside(cls, log_path: str | os.PathLike[str] | None, *, fsync: bool = False) -> WordLog:
        """The words table of the segment log written to ``log_path`` (JSONL beside it:
        :func:`words_path`); in memory only when ``log_path`` is None."""
        return cls(words_path(log_path, suffix=".jsonl") if log_path else None, fsync=fsync)

    def extend(self, rows: Iterable[WordRow]) -> None:
        """Append rows; never waits on the disk (safe on the event loop)."""
        self._add([row.to_dict() for row in rows])

    def to_pandas(self) -> pd.DataFrame:
        """The table as a DataFrame with exactly :data:`WORD_COLUMNS` (times in s)."""
        df = pd.DataFrame(self._rows, columns=list(WORD_COLUMNS))
        for col in _INT_COLUMNS:
            df[col] = df[col].astype("int64")
        for col in _FLOAT_COLUMNS:
            df[col] = df[col].astype("float64")
        df["estimated"] = df["estimated"].astype("bool")
        for col in ("session_id", "listener", "party", "side", "word"):
            df[col] = df[col].astype("object")
        return df

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the table to Parquet (blocking)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        self.to_pandas().to_parquet(p, index=False)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WordLog:
        """Read a table saved as Parquet or written as JSONL (a torn last line is skipped)."""
        p = Path(path)
        if not p.exists():
            raise S2STError(f"{p}: no such words table")
        log = cls()
        if p.suffix == ".parquet":
            df = pd.read_parquet(p)
            for col in _ADDED_COLUMNS:
                if col not in df.columns:
                    df[col] = None
            missing = [c for c in WORD_COLUMNS if c not in df.columns]
            if missing:
                raise S2STError(f"{p}: not a words table (missing columns {missing})")
            for row in df[list(WORD_COLUMNS)].to_dict("records"):
                log._rows.append({str(k): (None if _isnull(v) else v) for k, v in row.items()})
            return log
        lines = p.read_text(encoding="utf-8").split("\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                if i >= len(lines) - 2:
                    logger.warning("%s: skipped a torn last line (%d bytes)", p, len(line))
                    continue
                raise S2STError(f"{p}:{i + 1}: not a JSON line") from None
            log._rows.append({k: row.get(k) for k in WORD_COLUMNS})
        return log


def _isnull(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


@dataclass(frozen=True, slots=True)
class SpokenWord:
    """A source word: ``start_s`` / ``end_s`` on the session clock, ``input_start_s`` /
    ``input_end_s`` in the input stream (s)."""

    text: str
    start_s: float
    end_s: float
    input_start_s: float
    input_end_s: float


def source_rows(seg: Segment, spoken: Sequence[SpokenWord]) -> list[WordRow]:
    """The source rows of a committed segment (see :func:`segment_rows`)."""
    rows = segment_rows(seg, "source", [(w.text, w.start_s, w.end_s) for w in spoken])
    return [
        replace(row, input_start_s=w.input_start_s, input_end_s=w.input_end_s)
        for row, w in zip(rows, spoken, strict=True)
    ]


def segment_rows(
    seg: Segment,
    side: Side,
    spans: Sequence[tuple[str, float, float]],
    *,
    estimated: bool = False,
    listener: str | None = None,
) -> list[WordRow]:
    """Rows for one segment's words: ``spans`` are (word, start, end) on the session clock
    (s), in order; starts are made non-decreasing and each end at least its start.
    listener: the rows' listener (default: the segment's)."""
    name = listener if listener is not None else seg.listener
    rows, floor = [], -math.inf
    for i, (word, start, end) in enumerate(spans):
        start = max(start, floor)
        floor = start
        rows.append(
            WordRow(
                seg.session_id, seg.segment_id, name, seg.party, side, i, word,
                float(start), float(max(end, start)), estimated,
            )
        )  # fmt: skip
    return rows


# -- synthesized word times ----------------------------------------------------------------
def estimate_marks(text: str, duration_s: float) -> list[WordMark]:
    """Word marks spread over ``duration_s`` (s) in proportion to characters.

    Each whitespace-separated token gets a share of the duration proportional to its length
    plus one (the space after it): the estimate for a synthesizer without word timing, and
    the simulated synthesizer's own timing. Character spans index ``text``.
    """
    tokens = list(_TOKEN.finditer(text))
    total = sum(len(m.group()) + 1 for m in tokens) or 1
    out, acc = [], 0
    for m in tokens:
        start = duration_s * acc / total
        acc += len(m.group()) + 1
        end = duration_s * (acc - 1) / total  # the space after the word is silence
        out.append(WordMark(m.group(), start, max(start, end), m.start(), m.end()))
    return out


def mark_spans(marks: Sequence[WordMark], audio_s: float) -> list[tuple[str, float, float]]:
    """(word, start, end) per mark (s in the marked audio), sorted, non-overlapping, within
    ``[0, audio_s]``: an open end (``None``) closes at the next word's start or ``audio_s``;
    an end past the next start is cut there."""
    ordered = sorted(marks, key=lambda m: m.start_s)
    out: list[tuple[str, float, float]] = []
    for i, m in enumerate(ordered):
        nxt = ordered[i + 1].start_s if i + 1 < len(ordered) else audio_s
        start = min(max(m.start_s, 0.0), audio_s)
        end = nxt if m.end_s is None else min(m.end_s, nxt)
        out.append((m.text, start, min(max(end, start), audio_s)))
    return out


class PlayTimeline:
    """Where a segment's played audio sat on the session clock.

    The scheduler calls :meth:`played` for each chunk it hands the sink (its duration in s
    and the session time it was written). A chunk starts when it was written or when the
    one before it ends, whichever is later: a real-time sink plays without gaps unless it
    ran dry, and a chunk written late (synthesis slower than playback) starts late.
    """

    def __init__(self) -> None:
        self._pos: list[float] = [0.0]  # audio position (s) at each chunk start
        self._start: list[float] = []  # session time (s) each chunk started playing
        self._end: float | None = None

    def played(self, duration_s: float, written_at: float) -> None:
        """A chunk of ``duration_s`` (s) was handed to the sink at session time ``written_at``."""
        start = written_at if self._end is None else max(self._end, written_at)
        self._start.append(start)
        self._end = start + duration_s
        self._pos.append(self._pos[-1] + duration_s)

    @property
    def audio_s(self) -> float:
        """Audio played (s)."""
        return self._pos[-1]

    def at(self, position_s: float) -> float:
        """Session time (s) at which audio position ``position_s`` (s) played."""
        if not self._start:
            raise S2STError("nothing was played")
        i = int(np.searchsorted(self._pos, position_s, side="right")) - 1
        i = min(max(i, 0), len(self._start) - 1)
        return self._start[i] + (position_s - self._pos[i])

    def words(
        self, spans: Sequence[tuple[str, float, float]], *, t_play_end: float | None = None
    ) -> list[tuple[str, float, float]]:
        """``spans`` (word, start, end in s of played audio) on the session clock.

        t_play_end: when playback ended (s); when the timeline runs past it (a sink that
        does not play in real time, e.g. an unpaced WAV file), times are compressed into
        ``[first start, t_play_end]`` so every word lies inside the playback span.
        """
        if not self._start:
            return []
        t0 = self._start[0]
        mapped = [(w, self.at(s), self.at(e)) for w, s, e in spans]
        last = self.at(self.audio_s)
        if t_play_end is not None and last > t_play_end and last > t0:
            k = max(t_play_end - t0, 0.0) / (last - t0)
            mapped = [(w, t0 + (s - t0) * k, t0 + (e - t0) * k) for w, s, e in mapped]
        if t_play_end is not None:
            mapped = [(w, min(s, t_play_end), min(e, t_play_end)) for w, s, e in mapped]
        return mapped


# -- session clock → input stream ----------------------------------------------------------
#: The fastest pacing (input s per session s) taken for a session fed in real time; the
#: benchmarks pace at up to 25×; an unpaced file arrives hundreds of times faster.
MAX_PACE = 50.0


@dataclass(frozen=True, slots=True)
class InputClock:
    """Session clock → input stream: ``input_s = (t - offset_s) * rate``.

    Captions must line up with the input recording, whose time is the input-stream position
    (s from its first sample); the log's times are session-clock times. Source words need no
    map (each row keeps the word's input-stream position, ``input_start_s``); target words
    were never in the input, so their playback times are mapped. Each segment pairs
    the two: ``t_speech_end`` (session time its last word was spoken) with ``audio_end_s``
    (that word's end in the stream). Two ways were possible:

    * one anchor per segment (each segment mapped through its own pair): exact for that
      segment's source words, but the anchors jitter by the source's delivery timing (a few
      ms), so back-to-back target cues of two segments could overlap or swap;
    * one affine map for the session (chosen): the pairs of a session fed in real time lie on
      one line, ``stream = (t - offset) * rate`` (rate 1.0 at real time; the source's pacing
      speed otherwise). Fitted by least squares over all segments (``rate`` = 1.0 with fewer
      than two segments or less than 2 s of input between them; ``offset`` then the median of
      the pairs' residuals). Playback order and gaps survive the map, so target cues never
      overlap, and a source word's session time maps back within the delivery jitter (ms)
      of its recorded position.

    A session not fed in real time (``--no-realtime``) has no fixed relation between its
    clock and the recording: its whole input arrives within moments, so the fitted rate is
    absurd (hundreds of input seconds per session second: cues hours into a 6 s clip). A
    rate above :data:`MAX_PACE` marks the clock ``paced=False``: then
    :meth:`segment_to_input` places each segment's translation where its speech ended in
    the recording (``audio_end_s``), as if it had played at once — the order and length of
    each translation, not when a live listener would have heard it.
    """

    offset_s: float = 0.0
    rate: float = 1.0
    paced: bool = True

    @classmethod
    def from_segments(cls, segments: pd.DataFrame) -> InputClock:
        """Fit the map to a segment log's ``t_speech_end`` / ``audio_end_s`` pairs."""
        cols = {"t_speech_end", "audio_end_s"}
        if len(segments) == 0 or not cols <= set(segments.columns):
            return cls()
        pairs = segments[["t_speech_end", "audio_end_s"]].astype("float64").dropna()
        pairs = pairs.drop_duplicates()
        if pairs.empty:
            return cls()
        t = pairs["t_speech_end"].to_numpy()
        a = pairs["audio_end_s"].to_numpy()
        rate = 1.0
        if len(a) >= 2 and np.ptp(a) >= 2.0:
            slope = float(np.polyfit(t, a, 1)[0]) if np.ptp(t) > 0 else math.inf
            if slope > MAX_PACE:  # the input came faster than any pacing: not fed live
                return cls(0.0, 1.0, paced=False)
            rate = slope if slope > 0 else 1.0
        offset = float(np.median(t - a / rate))
        return cls(offset, rate)

    def to_input(self, t: float) -> float:
        """Input-stream position (s) of session time ``t`` (s); may be < 0 before the input."""
        return (t - self.offset_s) * self.rate

    def segment_to_input(self, t: float, *, t_play_start: float, audio_end_s: float) -> float:
        """Input-stream position (s) of session time ``t`` in the playback of a segment that
        started playing at ``t_play_start`` and whose speech ended at ``audio_end_s`` in the
        input: :meth:`to_input` for a paced session; otherwise ``audio_end_s`` plus the time
        since the segment started playing (see the class docs)."""
        if self.paced:
            return self.to_input(t)
        return audio_end_s + (t - t_play_start)

    def to_session(self, input_s: float) -> float:
        """Session time (s) of input-stream position ``input_s`` (s)."""
        return input_s / self.rate + self.offset_s


def _tokens(text: str, marks: Sequence[WordMark]) -> list[WordMark]:
    """Marks renamed to the whitespace token of ``text`` their character span falls in, so
    captions keep the punctuation engines leave out (``"world,"`` for a mark ``"world"``)."""
    spans = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    out = []
    for mark in marks:
        word = mark.text
        if mark.char_start is not None:
            for a, b in spans:
                if a <= mark.char_start < b:
                    word = text[a:b]
                    break
        out.append(WordMark(word, mark.start_s, mark.end_s, mark.char_start, mark.char_end))
    return out


class SegmentWords:
    """One segment's synthesized words on their way from the synthesizer to the words table.

    The translation stage passes the synthesizer's marked stream through :meth:`collect`
    (``marks`` stays ``None`` for a synthesizer without word timing, and a marked stream that
    brought no mark at all — Polly's generative engine, a failed speech-marks request — counts
    the same: then :meth:`spans` estimates and the rows say ``estimated``); ``stretch`` is the time-stretch the pipeline applies afterwards (marks are
    divided by it; the engine's own rate needs no division). The scheduler records each
    played chunk in ``timeline``; :meth:`played_rows` places the words on it.
    """

    def __init__(self) -> None:
        self.marks: list[WordMark] | None = None
        self.stretch = 1.0
        self.timeline = PlayTimeline()

    async def collect(
        self, stream: AsyncIterator[AudioChunk | WordMark]
    ) -> AsyncIterator[AudioChunk]:
        """The audio of a marked stream; its marks are kept (a retried synthesis starts over)."""
        self.marks = []
        try:
            async for item in stream:
                if isinstance(item, WordMark):
                    self.marks.append(item)
                else:
                    yield item
        finally:
            if isinstance(stream, AsyncGenerator):  # stop the engine's work now
                await stream.aclose()

    @property
    def estimated(self) -> bool:
        """True when the synthesizer gave no word timing (times are the estimate)."""
        return not self.marks

    def spans(self, text: str, audio_s: float) -> list[tuple[str, float, float]]:
        """(word, start, end) in s of the played audio (``audio_s`` long): the marks divided
        by ``stretch``, or the estimate over ``audio_s`` in proportion to characters."""
        if not self.marks:
            return mark_spans(estimate_marks(text, audio_s), audio_s)
        k = 1.0 / self.stretch
        scaled = [
            WordMark(m.text, m.start_s * k, None if m.end_s is None else m.end_s * k,
                     m.char_start, m.char_end)
            for m in _tokens(text, self.marks)
        ]  # fmt: skip
        return mark_spans(scaled, audio_s)

    def played_rows(self, seg: Segment) -> list[WordRow]:
        """The segment's target rows on the session clock, once it has played (none for a
        segment that did not play: skipped, dropped, failed)."""
        if seg.status != "ok" or seg.t_play_start is None or not seg.translation:
            return []
        spans = self.spans(seg.translation, self.timeline.audio_s)
        timed = self.timeline.words(spans, t_play_end=seg.t_play_end)
        return segment_rows(seg, "target", timed, estimated=self.estimated)
