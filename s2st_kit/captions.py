"""Captions: WebVTT and SRT from a session's words table (or its segment log alone).

Cue times are positions in the **input stream** (s from the input recording's first sample),
so a caption file lines up with the recording the session heard: source captions show what
was said when it was said; target captions show the translation when the listener heard it
(its playback, mapped through :class:`~s2st_kit.words.InputClock`); source words carry
their position in the input stream as the recognizer timed it, which needs no mapping.
Segments that were skipped, dropped or failed have no target captions.

Cues are written through the libraries, never by string formatting: ``webvtt-py``
(:class:`webvtt.WebVTT` of :class:`webvtt.Caption`, times from its ``Timestamp``) and ``srt``
(:class:`srt.Subtitle`, :func:`srt.compose`). ``word_timestamps=True`` puts a WebVTT
timestamp tag before each word after the first (``Hola <00:00:01.200>mundo``: players that
support it highlight word by word, karaoke style). webvtt-py has no object for these inline
tags — its captions keep cue text with tags in ``raw_text`` and strip them in ``text`` — so
each tag is the library's own ``Timestamp`` rendering inside ``<…>``; SRT has no such tags.

A cue holds one segment's words, split into cues that fit two lines of at most
``line_chars`` characters (42, the common broadcast limit; at most ``max_chars`` in all) and
last at most ``max_duration_s`` (7 s). Without a words table (a log from before word timing) the
words are spread over each segment's span in proportion to characters
(:func:`~s2st_kit.words.estimate_marks`): source over ``audio_start_s``–``audio_end_s``,
target over ``t_play_start``–``t_play_end``.
"""

from __future__ import annotations

import datetime
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import srt
import webvtt
from webvtt.models import Timestamp

from .errors import ConfigError, S2STError
from .log import SegmentLog
from .words import InputClock, Side, WordLog, estimate_marks, words_path

__all__ = [
    "CaptionFormat",
    "Cue",
    "build_cues",
    "load_session",
    "load_words",
    "to_srt",
    "to_vtt",
    "write_captions",
    "write_heard_wav",
    "write_session_captions",
]

CaptionFormat = Literal["vtt", "srt"]

_Segments = SegmentLog | pd.DataFrame
_Words = WordLog | pd.DataFrame | None


@dataclass(frozen=True, slots=True)
class Cue:
    """One caption: ``start_s`` / ``end_s`` in the input stream (s), its text, the segment it
    comes from (and which of its cues: ``part`` 0, 1, …) and its words as (word, start, end)
    in the input stream (s)."""

    start_s: float
    end_s: float
    text: str
    segment_id: int
    words: tuple[tuple[str, float, float], ...]
    part: int = 0


def load_session(log: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A saved session's segment log and its words table (``None`` when it has none).

    log: the segment log (``.parquet`` or ``.jsonl``); the words table is looked up beside
    it (:func:`~s2st_kit.words.words_path`: Parquet, else the JSONL twin).
    """
    return SegmentLog.load(Path(log)).raw_frame(), load_words(log)


def load_words(log: str | os.PathLike[str]) -> pd.DataFrame | None:
    """The words table beside segment log ``log`` (Parquet, else JSONL), or None."""
    for suffix in (".parquet", ".jsonl"):
        candidate = words_path(log, suffix=suffix)
        if candidate.exists():
            return WordLog.load(candidate).to_pandas()
    return None


def build_cues(
    segments: _Segments,
    words: _Words = None,
    *,
    side: Side = "target",
    listener: str | None = None,
    party: str | None = None,
    max_chars: int = 84,
    line_chars: int = 42,
    max_duration_s: float = 7.0,
) -> list[Cue]:
    """The cues of one side of a session (times in the input stream, s; see module docs).

    listener / party: keep only that branch's rows. With several listeners in the log, the
    target side needs one named (ConfigError otherwise); source captions take the first
    listener's copy of each segment.
    """
    if side not in ("source", "target"):
        raise ConfigError(f"side must be 'source' or 'target', got {side!r}")
    if max_chars < 10:
        raise ConfigError(f"max_chars must be at least 10, got {max_chars}")
    seg = segments.raw_frame() if isinstance(segments, SegmentLog) else segments
    clock = InputClock.from_segments(seg)
    table = words.to_pandas() if isinstance(words, WordLog) else words
    if table is None:
        table = _estimated_words(seg, side)
    sessions = set(seg["session_id"].dropna())  # a JSONL appended to by an older run too
    table = table[table["side"] == side]
    if sessions and "session_id" in table.columns:
        table = table[table["session_id"].isin(sessions)]
    rows = _select(table, side, listener, party)
    anchors = _anchors(seg, rows)
    cues: list[Cue] = []
    for sid, group in rows.sort_values(["segment_id", "word_index"]).groupby("segment_id"):
        times = _input_times(group, clock, anchors.get(int(str(sid))))
        cues += _split(int(str(sid)), times, _Fit(max_chars, line_chars, max_duration_s))
    return cues


def _anchors(seg: pd.DataFrame, rows: pd.DataFrame) -> dict[int, tuple[float, float]]:
    """segment_id → (t_play_start, audio_end_s) of the branch ``rows`` belong to."""
    for col in ("party", "listener"):
        values = set(rows[col].dropna()) if col in rows.columns else set()
        if len(values) == 1 and col in seg.columns:
            seg = seg[seg[col] == values.pop()]
    seg = seg.dropna(subset=["t_play_start", "audio_end_s"])
    return {
        int(sid): (float(t), float(a))
        for sid, t, a in zip(seg["segment_id"], seg["t_play_start"], seg["audio_end_s"],
                             strict=True)
    }  # fmt: skip


def _input_times(
    group: pd.DataFrame, clock: InputClock, anchor: tuple[float, float] | None
) -> list[tuple[str, float, float]]:
    """(word, start, end) in the input stream (s): a source word's recorded position when
    the table has it, else its session-clock time through ``clock`` (for a session not fed
    in real time, from its segment's ``anchor``: see :class:`~s2st_kit.words.InputClock`)."""
    if "input_start_s" in group.columns and group["input_start_s"].notna().all():
        a, b = group["input_start_s"], group["input_end_s"]
    elif not clock.paced and anchor is not None:
        t_play, end = anchor

        def at(t: float) -> float:
            return clock.segment_to_input(t, t_play_start=t_play, audio_end_s=end)

        a, b = group["start_s"].map(at), group["end_s"].map(at)
    else:
        a, b = group["start_s"].map(clock.to_input), group["end_s"].map(clock.to_input)
    return [
        (str(w), max(float(s), 0.0), max(float(e), 0.0))
        for w, s, e in zip(group["word"], a, b, strict=True)
    ]


def _select(
    rows: pd.DataFrame, side: Side, listener: str | None, party: str | None
) -> pd.DataFrame:
    if party is not None:
        rows = rows[rows["party"] == party]
    elif "party" in rows.columns and rows["party"].dropna().nunique() > 1 and side == "source":
        # the parties' segment ids overlap, and each spoke into their own input
        raise ConfigError(
            "this log is a two-party conversation: name whose speech to caption "
            "(party='a' or 'b'; s2st captions --party a)"
        )
    listeners = sorted({str(v) for v in rows["listener"].dropna().unique()})
    if listener is not None and listeners:  # (a table without listeners has one branch)
        if listener not in listeners:
            known = ", ".join(listeners) or "none recorded"
            raise ConfigError(f"no {side} words for listener {listener!r} (listeners: {known})")
        return rows[rows["listener"] == listener]
    if len(listeners) > 1:
        if side == "target":
            raise ConfigError(
                f"this session has several listeners ({', '.join(listeners)}): name one"
            )
        return rows[rows["listener"] == listeners[0]]
    return rows


def _estimated_words(seg: pd.DataFrame, side: Side) -> pd.DataFrame:
    """A words table spread over each segment's span (for a log without one): source words
    over ``audio_start_s``–``audio_end_s`` (input stream), target words over the playback."""
    records = []
    for row in seg.to_dict("records"):
        if side == "source":
            text, a, b = row["transcript"], row["audio_start_s"], row["audio_end_s"]
        else:
            ok = row["status"] == "ok" and row["t_play_start"] is not None
            text, a, b = row["translation"], row["t_play_start"], row["t_play_end"]
            a, b = (a, b) if ok else (None, None)
        if a is None or b is None or pd.isna(a) or pd.isna(b) or not text:
            continue
        for i, m in enumerate(estimate_marks(str(text), float(b) - float(a))):
            end = m.end_s if m.end_s is not None else m.start_s
            t0, t1 = float(a) + m.start_s, float(a) + end
            records.append(
                {"segment_id": row["segment_id"], "listener": row.get("listener"),
                 "party": row.get("party"), "side": side, "word_index": i, "word": m.text,
                 "start_s": t0, "end_s": t1,
                 "input_start_s": t0 if side == "source" else None,
                 "input_end_s": t1 if side == "source" else None}
            )  # fmt: skip
    columns = ["segment_id", "listener", "party", "side", "word_index", "word", "start_s",
               "end_s", "input_start_s", "input_end_s"]  # fmt: skip
    return pd.DataFrame(records, columns=columns)


@dataclass(frozen=True, slots=True)
class _Fit:
    """What one cue may hold: characters in all, per line (two lines), seconds."""

    max_chars: int
    line_chars: int
    max_duration_s: float

    def __call__(self, words: Sequence[tuple[str, float, float]]) -> bool:
        text = " ".join(w for w, _, _ in words)
        lines = textwrap.wrap(text, self.line_chars, break_long_words=False)
        duration = words[-1][2] - words[0][1]
        return len(text) <= self.max_chars and len(lines) <= 2 and duration <= self.max_duration_s


def _split(segment_id: int, words: Sequence[tuple[str, float, float]], fits: _Fit) -> list[Cue]:
    """One segment's words as cues that each ``fits`` (a longer single word gets its own)."""
    cues: list[Cue] = []
    current: list[tuple[str, float, float]] = []
    for word in words:
        if current and not fits([*current, word]):
            cues.append(_cue(segment_id, current, len(cues)))
            current = []
        current.append(word)
    if current:
        cues.append(_cue(segment_id, current, len(cues)))
    return cues


def _cue(segment_id: int, words: list[tuple[str, float, float]], part: int) -> Cue:
    start = words[0][1]
    end = max(start, max(e for _, _, e in words))
    return Cue(start, end, " ".join(w for w, _, _ in words), segment_id, tuple(words), part)


# -- writing -------------------------------------------------------------------------------
def _lines(words: Sequence[str], line_chars: int) -> list[list[int]]:
    """Indices of ``words`` per caption line (greedy wrap at ``line_chars``)."""
    wrapped = textwrap.wrap(" ".join(words), line_chars, break_long_words=False)
    out, i = [], 0
    for line in wrapped:
        n = len(line.split())
        out.append(list(range(i, i + n)))
        i += n
    return out


def _vtt_text(cue: Cue, *, word_timestamps: bool, line_chars: int) -> str:
    words = [w for w, _, _ in cue.words]
    lines = []
    for idx in _lines(words, line_chars):
        parts = []
        for i in idx:
            _, start, _ = cue.words[i]
            if word_timestamps and i > 0:
                at = min(max(start, cue.start_s), cue.end_s)
                parts.append(f"<{Timestamp.from_seconds(at)}>{words[i]}")
            else:
                parts.append(words[i])
        lines.append(" ".join(parts))
    return "\n".join(lines)


def to_vtt(
    segments: _Segments,
    words: _Words = None,
    *,
    side: Side = "target",
    listener: str | None = None,
    party: str | None = None,
    word_timestamps: bool = False,
    max_chars: int = 84,
    line_chars: int = 42,
) -> str:
    """The session's captions of ``side`` as a WebVTT document (see module docs)."""
    cues = build_cues(segments, words, side=side, listener=listener, party=party,
                      max_chars=max_chars, line_chars=line_chars)  # fmt: skip
    doc = webvtt.WebVTT(
        captions=[
            webvtt.Caption(
                start=str(Timestamp.from_seconds(c.start_s)),
                end=str(Timestamp.from_seconds(c.end_s)),
                text=_vtt_text(c, word_timestamps=word_timestamps, line_chars=line_chars),
                identifier=f"segment-{c.segment_id}.{c.part}",
            )
            for c in cues
        ]
    )
    return doc.content


def to_srt(
    segments: _Segments,
    words: _Words = None,
    *,
    side: Side = "target",
    listener: str | None = None,
    party: str | None = None,
    max_chars: int = 84,
    line_chars: int = 42,
) -> str:
    """The session's captions of ``side`` as an SRT document (see module docs)."""
    cues = build_cues(segments, words, side=side, listener=listener, party=party,
                      max_chars=max_chars, line_chars=line_chars)  # fmt: skip
    subs = [
        srt.Subtitle(
            index=k + 1,
            start=_timedelta(c.start_s),
            end=_timedelta(c.end_s),
            content="\n".join(
                " ".join(c.words[i][0] for i in idx)
                for idx in _lines([w for w, _, _ in c.words], line_chars)
            ),
        )
        for k, c in enumerate(cues)
    ]
    return str(srt.compose(subs, reindex=False))


def _timedelta(seconds: float) -> datetime.timedelta:
    return datetime.timedelta(milliseconds=round(seconds * 1000))


def write_captions(
    path: str | os.PathLike[str],
    segments: _Segments,
    words: _Words = None,
    *,
    side: Side = "target",
    listener: str | None = None,
    party: str | None = None,
    fmt: CaptionFormat | str | None = None,
    word_timestamps: bool = False,
) -> Path:
    """Write :func:`to_vtt` or :func:`to_srt` to ``path`` (format from ``fmt`` or the suffix)."""
    p = Path(path)
    chosen = fmt or p.suffix.lstrip(".").lower()
    if chosen == "vtt":
        text = to_vtt(segments, words, side=side, listener=listener, party=party,
                      word_timestamps=word_timestamps)  # fmt: skip
    elif chosen == "srt":
        text = to_srt(segments, words, side=side, listener=listener, party=party)
    else:
        raise ConfigError(f"caption format must be vtt or srt, got {chosen!r} ({p})")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise S2STError(f"cannot write {p}: {exc}") from exc
    return p


def write_session_captions(
    segments: _Segments, words: _Words, out_dir: str | os.PathLike[str]
) -> list[Path]:
    """Every caption file of a session in ``out_dir`` (for ``s2st report`` and the demo):
    ``source_<lang>.vtt`` / ``.srt`` once, and ``translated_<listener>.vtt`` (with word
    timestamps) / ``.srt`` per listener (the target language when no listener is recorded).
    Blocking (writes files)."""
    seg = segments.raw_frame() if isinstance(segments, SegmentLog) else segments
    if seg.empty:
        return []
    out = Path(out_dir)
    source_lang = (
        str(seg["source_lang"].dropna().iloc[0]) if seg["source_lang"].notna().any() else "src"
    )
    files = [write_captions(out / f"source_{source_lang}.{fmt}", seg, words, side="source")
             for fmt in ("vtt", "srt")]  # fmt: skip
    listeners: list[str | None] = [None]
    listeners = [*sorted({str(v) for v in seg["listener"].dropna().unique()})] or listeners
    for listener in listeners:
        name = listener or str(seg["target_lang"].dropna().iloc[0])
        files.append(write_captions(out / f"translated_{name}.vtt", seg, words, side="target",
                                    listener=listener, word_timestamps=True))  # fmt: skip
        files.append(write_captions(out / f"translated_{name}.srt", seg, words, side="target",
                                    listener=listener))  # fmt: skip
    return files


def write_heard_wav(
    segments: _Segments,
    *,
    recording: str | os.PathLike[str],
    translated: str | os.PathLike[str],
    path: str | os.PathLike[str],
    listener: str | None = None,
) -> Path:
    """A stereo WAV on the input recording's timeline, to play beside the caption files:
    left the recording, right the translated speech where the listener heard it.

    translated: the session's translated speech as the sink wrote it (a
    :class:`~s2st_kit.audio.WavSink` file: played segments back to back, each
    ``tts_audio_s`` long); each is placed at its ``t_play_start`` mapped to the input stream
    (:class:`~s2st_kit.words.InputClock`), so the source captions line up with the left
    channel and the target captions with the right. Blocking (reads and writes files).
    """
    import numpy as np
    import soundfile as sf

    from .audio.file import read_audio

    seg = segments.raw_frame() if isinstance(segments, SegmentLog) else segments
    clock = InputClock.from_segments(seg)
    left, rate = read_audio(recording)
    speech, _ = read_audio(translated, sample_rate=rate)
    rows = seg[(seg["status"] == "ok") & seg["t_play_start"].notna()]
    if listener is not None:
        rows = rows[rows["listener"] == listener]
    right = np.zeros_like(left)
    pos = 0
    for t_play, audio_s, end in zip(
        rows["t_play_start"], rows["tts_audio_s"], rows["audio_end_s"], strict=True
    ):
        piece = speech[pos : pos + round(float(audio_s) * rate)]
        pos += len(piece)
        t = float(t_play)
        end_s = t if pd.isna(end) else float(end)
        at = max(0, round(clock.segment_to_input(t, t_play_start=t, audio_end_s=end_s) * rate))
        if at + len(piece) > len(right):
            right = np.concatenate([right, np.zeros(at + len(piece) - len(right), np.float32)])
        right[at : at + len(piece)] += piece
    left = np.concatenate([left, np.zeros(len(right) - len(left), np.float32)])
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, np.clip(np.stack([left, right], axis=1), -1, 1), rate, subtype="PCM_16")
    return out
