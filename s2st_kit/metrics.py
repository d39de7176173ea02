"""Latency metrics from a segment log: the contiguous decomposition and SimulEval's scores.

Two families live here, and a summary of the lag.

**Per-segment stage latencies** (:func:`add_derived`, :func:`stage_summary`). Every column is
in seconds and is the difference of two session-clock events of the same row (DESIGN.md)::

    column          start event          end event            meaning
    asr_lag_s       t_speech_end         t_asr_final          recogniser finalises after the audio arrived
    dispatch_s      t_asr_final          t_mt_start           commit policy + segment queue
    mt_s            t_mt_start           t_mt_end             the translation call
    handoff_s       t_mt_end             t_tts_start          waiting for a synthesis slot
    tts_ttfb_s      t_tts_start          t_tts_first_audio    synthesis time to first audio
    queue_s         t_tts_first_audio    t_play_start         waiting behind earlier playback
    ear_to_ear_s    t_speech_end         t_play_start         the sum of the six above

The six stages telescope, so they add up to ``ear_to_ear_s`` exactly (up to float rounding,
far below 1 µs). Extras: ``speech_s`` (audio_end_s − audio_start_s, the source speech),
``t_speech_start`` (t_speech_end − speech_s: the speech start on the session clock, assuming
a real-time source), ``tts_s`` (t_tts_end − t_tts_start), ``play_s`` (t_play_end −
t_play_start) and ``speaking_rate_cps`` (chars_synthesized / tts_audio_s, characters per
second of synthesised speech). Rows whose ``status`` is not ``"ok"``, or that lack one of
the two events, get NaN.

**Lag** (:func:`lag_summary`): how far behind the speaker the listener was (the played
segments' ear-to-ear latency: median, p95, max) and what lag control did (segments skipped,
playback speed), for session summaries.

**SimulEval scores** (:func:`session_metrics` and the formula functions). They are computed
with the formulas of SimulEval's ``simuleval/evaluator/scorers/latency_scorer.py`` and the
speech-output bookkeeping of ``simuleval/evaluator/instance.py`` (``SpeechOutputInstance``);
SimulEval reports milliseconds, this module reports **seconds**. A session is mapped onto
one SimulEval *instance* as follows:

* *source*: the input audio stream; its length ``|X|`` is ``source_duration_s``.
* *stream time* of a session-clock instant ``t`` is ``t − t0``, where ``t0`` is the session
  time at which stream position 0 was delivered. ``t0`` is estimated as the median of
  ``t_speech_end − audio_end_s`` over the rows (exact for a real-time source, e.g. a
  microphone or a file source paced at real time), or given as ``stream_start_t``. For a
  source paced faster than real time (``speed != 1``) or not paced at all, session time is
  not stream time and the SimulEval scores of that run are not meaningful; the stage
  latencies still are.
* *non-computation-aware delays* (SimulEval's ``delays``: source consumed when an output was
  written): a segment is written when it is committed, at ``t_asr_final``; its delay is the
  stream position reached then, ``min(t_asr_final − t0, |X|)``. Every target word of the
  segment's translation gets that delay (SimulEval's ``TextOutputInstance``); for speech
  output the segment is one output chunk of duration ``tts_audio_s``, laid out on the source
  timeline by SimulEval's rule ``start_i = max(end_{i-1}, delay_i)``.
* *computation-aware delays* (SimulEval's ``elapsed``, suffix ``_CA`` as in SimulEval's
  score table): for a live session these are simply the real times in stream coordinates at
  which the output existed: ``t_mt_end − t0`` for each target word, and for speech the actual
  playback ``[t_play_start − t0, t_play_end − t0]``. SimulEval approximates the same thing
  offline as "source consumed + compute time so far"; a live log measured it.

Speech-output scores (output chunk *i* placed at ``[start_i, start_i + duration_i]``):

* ``StartOffset`` = delay of the first output chunk (s).
* ``EndOffset`` = end of the last output chunk − ``|X|`` (s; negative if speech ended first).
* ``RTF`` = end of the last output chunk / ``|X|`` (dimensionless).
* ``DiscontinuitySum`` / ``DiscontinuityAve`` / ``DiscontinuityNum``: the silences inserted
  between output chunks because the next one was not ready (s, s, count).
* ``ATD``: Average Token Delay with SimulEval's virtual token length of 300 ms for source
  and target speech.

Text-stream scores on the translation (words by default, ``latency_unit="char"`` for
unsegmented scripts): ``AL``, ``LAAL``, ``AP``, ``DAL`` and ``ATD_text`` (target text tokens
have length 0, as SimulEval does for text output). With a reference translation and
``use_ref_len=True`` (SimulEval's default) ``|Y|`` is the reference length
(``len(reference.split(" "))`` words, or ``len(reference.strip())`` characters), otherwise
the number of emitted tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import mean
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "DECOMPOSITION",
    "DERIVED_COLUMNS",
    "STAGE_COLUMNS",
    "LagSummary",
    "SimulInstance",
    "add_derived",
    "average_lagging",
    "average_proportion",
    "average_token_delay",
    "differentiable_average_lagging",
    "estimate_stream_start",
    "lag_summary",
    "length_adaptive_average_lagging",
    "session_instance",
    "session_metrics",
    "speech_output_layout",
    "stage_summary",
    "summary_by",
]

#: (derived column, start event, end event) of the contiguous decomposition, in order.
DECOMPOSITION: tuple[tuple[str, str, str], ...] = (
    ("asr_lag_s", "t_speech_end", "t_asr_final"),
    ("dispatch_s", "t_asr_final", "t_mt_start"),
    ("mt_s", "t_mt_start", "t_mt_end"),
    ("handoff_s", "t_mt_end", "t_tts_start"),
    ("tts_ttfb_s", "t_tts_start", "t_tts_first_audio"),
    ("queue_s", "t_tts_first_audio", "t_play_start"),
)

#: The six stage columns, in pipeline order (they sum to ``ear_to_ear_s``).
STAGE_COLUMNS: tuple[str, ...] = tuple(name for name, _, _ in DECOMPOSITION)

#: Every column :func:`add_derived` adds or overwrites.
DERIVED_COLUMNS: tuple[str, ...] = (
    *STAGE_COLUMNS,
    "ear_to_ear_s",
    "speech_s",
    "t_speech_start",
    "tts_s",
    "play_s",
    "speaking_rate_cps",
)

#: Numeric raw columns the derived ones are computed from (timestamps s, spans s, counts).
TIME_COLUMNS = (
    "t_speech_end",
    "t_first_partial",
    "t_asr_final",
    "t_mt_start",
    "t_mt_end",
    "t_tts_start",
    "t_tts_first_audio",
    "t_tts_end",
    "t_play_start",
    "t_play_end",
    "audio_start_s",
    "audio_end_s",
    "tts_audio_s",
    "chars_translated",
    "chars_synthesized",
)

# SimulEval's virtual token length for speech (ATDScorer: "300ms per word"), in seconds.
_SPEECH_TOKEN_S = 0.3


# --------------------------------------------------------------------------- derived columns


def _numeric(df: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as float64 (None / junk → NaN); all-NaN when the column is absent."""
    if name not in df.columns:
        return pd.Series(np.nan, index=df.index, dtype="float64")
    return pd.to_numeric(df[name], errors="coerce").astype("float64")


def _ok_mask(df: pd.DataFrame) -> pd.Series:
    """True for rows whose status is ``"ok"`` (a missing status column counts as ok)."""
    if "status" not in df.columns:
        return pd.Series(True, index=df.index)
    return df["status"].astype("string").fillna("").eq("ok").astype(bool)


def add_derived(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of a segment-log frame with the derived latency columns (seconds).

    This is the single definition of the derived columns; ``SegmentLog.to_pandas()`` calls
    it. See the module docstring for each column's start and end event. Existing derived
    columns are recomputed. Missing raw columns, ``None`` timestamps and rows whose
    ``status`` is not ``"ok"`` give NaN; nothing raises. ``speaking_rate_cps`` is NaN when
    ``tts_audio_s`` is not positive.
    """
    out = df.copy()
    ok = _ok_mask(out)
    t = {name: _numeric(out, name) for name in TIME_COLUMNS}
    derived: dict[str, pd.Series] = {}
    for name, start, end in DECOMPOSITION:
        derived[name] = t[end] - t[start]
    derived["ear_to_ear_s"] = t["t_play_start"] - t["t_speech_end"]
    derived["speech_s"] = t["audio_end_s"] - t["audio_start_s"]
    derived["t_speech_start"] = t["t_speech_end"] - derived["speech_s"]
    derived["tts_s"] = t["t_tts_end"] - t["t_tts_start"]
    derived["play_s"] = t["t_play_end"] - t["t_play_start"]
    audio = t["tts_audio_s"].where(t["tts_audio_s"] > 0)
    derived["speaking_rate_cps"] = t["chars_synthesized"] / audio
    for name in DERIVED_COLUMNS:
        out[name] = derived[name].where(ok).astype("float64")
    return out


def _with_derived(df: pd.DataFrame) -> pd.DataFrame:
    if all(name in df.columns for name in DERIVED_COLUMNS):
        return df
    return add_derived(df)


def stage_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per-stage latency statistics, one row per stage plus ``ear_to_ear_s``.

    Rows, in order: ``asr_lag_s``, ``dispatch_s``, ``mt_s``, ``handoff_s``, ``tts_ttfb_s``,
    ``queue_s``, ``ear_to_ear_s`` (see the module docstring for their events). Columns:
    ``median``, ``p90``, ``p99``, ``mean`` (seconds; percentiles by linear interpolation) and
    ``count`` (rows with a value: ``status == "ok"`` and both events present). An empty
    input gives NaN statistics and count 0. Derived columns are computed if absent.
    """
    d = _with_derived(df)
    rows = {}
    for name in (*STAGE_COLUMNS, "ear_to_ear_s"):
        v = pd.to_numeric(d[name], errors="coerce").dropna()
        rows[name] = {
            "median": float(v.median()) if len(v) else math.nan,
            "p90": float(v.quantile(0.90)) if len(v) else math.nan,
            "p99": float(v.quantile(0.99)) if len(v) else math.nan,
            "mean": float(v.mean()) if len(v) else math.nan,
            "count": len(v),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "stage"
    return out.astype({"count": "int64"})


#: The stages :func:`summary_by` gives a median of, besides ear-to-ear.
_BY_STAGES = ("asr_lag_s", "mt_s", "tts_ttfb_s", "queue_s")


def summary_by(df: pd.DataFrame, by: str = "listener") -> pd.DataFrame:
    """Latency per branch of a fan-out (``by="listener"``) or per direction of a conversation
    (``by="party"``): one row per value of column ``by``, in order of appearance.

    Columns: ``segments`` (rows), ``ok`` (rows played), ``skipped``, ``errors``;
    ``ear_to_ear_median`` / ``ear_to_ear_p90`` / ``ear_to_ear_mean`` (s, played rows) and the
    median of ``asr_lag_s``, ``mt_s``, ``tts_ttfb_s`` and ``queue_s`` (s). A log without the
    column (a single-listener log from before fan-out) is one group named ``"all"``.
    """
    d = _with_derived(df)
    keys = d[by].fillna("all") if by in d.columns else pd.Series("all", index=d.index)
    rows: dict[str, dict[str, float]] = {}
    for key in dict.fromkeys(keys.astype(str)):
        g = d[keys.astype(str) == key]
        e2e = pd.to_numeric(g["ear_to_ear_s"], errors="coerce").dropna()
        row: dict[str, float] = {
            "segments": len(g),
            "ok": int((g["status"] == "ok").sum()),
            "skipped": int((g["status"] == "skipped").sum()),
            "errors": int((g["status"] == "error").sum()),
            "ear_to_ear_median": float(e2e.median()) if len(e2e) else math.nan,
            "ear_to_ear_p90": float(e2e.quantile(0.9)) if len(e2e) else math.nan,
            "ear_to_ear_mean": float(e2e.mean()) if len(e2e) else math.nan,
        }
        for stage in _BY_STAGES:
            v = pd.to_numeric(g[stage], errors="coerce").dropna()
            row[f"{stage[:-2]}_median"] = float(v.median()) if len(v) else math.nan
        rows[key] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = by
    counts = {c: "int64" for c in ("segments", "ok", "skipped", "errors")}
    return out.astype(counts) if len(out) else out


@dataclass(frozen=True, slots=True)
class LagSummary:
    """How far behind the speaker a session's listener was, and what lag control did.

    segments: rows in the log. played: ``ok`` rows that started playing. skipped: rows
    lag control left out (status ``skipped``). controlled: lag control was on (some row
    has ``lag_at_play_s``).
    lag_median_s / lag_p95_s / lag_max_s: the lag of the played segments (s): ear-to-ear,
    ``t_play_start − t_speech_end`` (the same event pair as ``ear_to_ear_s``); NaN without
    any. speed_median / speed_max: their playback speed (× natural; 1.0 without control).
    """

    segments: int
    played: int
    skipped: int
    controlled: bool
    lag_median_s: float
    lag_p95_s: float
    lag_max_s: float
    speed_median: float
    speed_max: float

    @property
    def skipped_share(self) -> float:
        """Skipped rows as a fraction of all rows (0.0 for an empty log)."""
        return self.skipped / self.segments if self.segments else 0.0

    def describe(self, max_lag_s: float | None = None) -> str:
        """Two lines for summaries (the lag; skips and speed); ``max_lag_s``: the target
        (s) when known."""
        target = f" (target {max_lag_s:g} s)" if max_lag_s is not None else ""
        return (
            f"lag behind the speaker (played segments): median {_s(self.lag_median_s)}, "
            f"p95 {_s(self.lag_p95_s)}, max {_s(self.lag_max_s)}{target}\n"
            f"skipped {self.skipped} of {self.segments} segments "
            f"({100 * self.skipped_share:.1f} %); playback speed median "
            f"{self.speed_median:.2f}×, max {self.speed_max:.2f}×"
        )


def _s(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f} s"


def lag_summary(df: pd.DataFrame) -> LagSummary:
    """The session's lag and lag-control figures (:class:`LagSummary`).

    Works on logs written before lag control (no ``speed`` / ``lag_at_play_s`` columns:
    speed 1.0, not controlled) and on empty logs (NaN figures, zero counts).
    """
    d = _with_derived(df)
    lags = _numeric(d, "ear_to_ear_s").dropna()
    speeds = _numeric(d, "speed").reindex(lags.index).fillna(1.0)
    skipped = d["status"].astype("string").eq("skipped").sum() if "status" in d.columns else 0
    return LagSummary(
        segments=len(d),
        played=len(lags),
        skipped=int(skipped),
        controlled=bool(_numeric(d, "lag_at_play_s").notna().any()),
        lag_median_s=float(lags.median()) if len(lags) else math.nan,
        lag_p95_s=float(lags.quantile(0.95)) if len(lags) else math.nan,
        lag_max_s=float(lags.max()) if len(lags) else math.nan,
        speed_median=float(speeds.median()) if len(speeds) else 1.0,
        speed_max=float(speeds.max()) if len(speeds) else 1.0,
    )


# --------------------------------------------------------------------------- SimulEval formulas


def average_lagging(delays: Sequence[float], source_length: float, target_length: float) -> float:
    """Average Lagging (AL, Ma et al. 2019) exactly as SimulEval's ``ALScorer``.

    ``AL = 1/τ Σ_{i=1..τ} (D_i − (i−1)·|X|/|Y|)`` with ``τ`` the first index whose delay
    reaches ``|X|`` (or the last index). If the first delay already exceeds ``|X|`` the
    score is that delay. Units: those of ``delays`` / ``source_length``.

    delays: per target token, source consumed when it was written.
    source_length: ``|X|``. target_length: ``|Y|`` (reference length when one is used).
    """
    return _lagging(delays, source_length, target_length / source_length)


def length_adaptive_average_lagging(
    delays: Sequence[float], source_length: float, target_length: float
) -> float:
    """Length-Adaptive Average Lagging (LAAL, Papi et al. 2022) as SimulEval's ``LAALScorer``.

    AL with ``|Y| = max(len(delays), target_length)``, so over-generation is not rewarded.
    """
    return _lagging(delays, source_length, max(len(delays), target_length) / source_length)


def _lagging(delays: Sequence[float], source_length: float, rate: float) -> float:
    if not delays:
        return math.nan
    if delays[0] > source_length:
        return float(delays[0])
    total = 0.0
    tau = 0
    for index, delay in enumerate(delays):
        total += delay - index / rate
        tau = index + 1
        if delay >= source_length:
            break
    return total / tau


def average_proportion(
    delays: Sequence[float], source_length: float, target_length: float
) -> float:
    """Average Proportion (AP, Cho & Esipova 2016) as SimulEval: ``Σ D_i / (|X|·|Y|)``."""
    if not delays:
        return math.nan
    return float(sum(delays)) / (source_length * target_length)


def differentiable_average_lagging(delays: Sequence[float], source_length: float) -> float:
    """Differentiable Average Lagging (DAL, Arivazhagan et al. 2019) as SimulEval.

    ``D'_1 = D_1``, ``D'_i = max(D_i, D'_{i−1} + |X|/|Y|)``, ``DAL = mean(D'_i − (i−1)|X|/|Y|)``
    with ``|Y| = len(delays)`` (SimulEval ignores the reference length here).
    """
    if not delays:
        return math.nan
    step = source_length / len(delays)
    total = 0.0
    previous = 0.0
    for index, delay in enumerate(delays):
        current = delay if index == 0 else max(delay, previous + step)
        total += current - index * step
        previous = current
    return total / len(delays)


def _split_tokens(length: float, token: float) -> list[float]:
    """SimulEval's ``divmod`` split of a span into whole tokens and a remainder token."""
    whole, rest = divmod(length, token)
    return [token] * int(whole) + ([rest] if rest != 0 else [])


def average_token_delay(
    delays: Sequence[float],
    *,
    durations: Sequence[float] | None = None,
    elapsed: Sequence[float] | None = None,
    source_token_s: float = _SPEECH_TOKEN_S,
    target_token_s: float = _SPEECH_TOKEN_S,
) -> float:
    """Average Token Delay (ATD, Kano et al. 2023) for speech input, as SimulEval's ATDScorer.

    delays: per output unit, source consumed (s) when it was written — per target word
        for text output, per output audio chunk for speech output.
    durations: per output audio chunk, its duration (s); ``None`` means text output, whose
        tokens have length 0 (``target_token_s`` is then ignored).
    elapsed: computation-aware times (s), same length as ``delays``; SimulEval adds the
        increments of ``elapsed − delays`` to each target token's time. ``None`` = 0.
    source_token_s / target_token_s: virtual token length, SimulEval's 300 ms.

    The source is cut into chunks at the distinct delays; each chunk, and each output
    chunk, is split into whole tokens of the virtual length plus a remainder. Target token
    *t* of chunk *c* is paired with source token ``t − max(0, Y_<c − X_<c)`` (capped at the
    source tokens read by chunk *c*), where ``X_<c`` / ``Y_<c`` count the tokens of earlier
    chunks. ATD is the mean of (target token end time − paired source token end time); a
    target token ends at ``max(delay, previous token end) + its length + compute time``.
    Computed in milliseconds rounded to 1 ns (as SimulEval, which works in ms) and returned
    in seconds.
    """
    if not delays:
        return math.nan
    d = _ms(delays)
    compute = _compute_increments(d, elapsed)
    distinct = list(dict.fromkeys(d))  # first-seen order
    target = _target_tokens(d, compute, durations, target_token_s * 1000.0)
    src_chunk_sizes, src_token_end = _source_tokens(distinct, source_token_s * 1000.0)
    tgt_token_end = [0.0]
    for delay, length, extra in zip(target.delay, target.length, target.compute, strict=True):
        tgt_token_end.append(max(delay, tgt_token_end[-1]) + length + extra)
    gaps = []
    for t in range(1, len(target.chunk)):
        chunk = target.chunk[t]
        acc_src = sum(src_chunk_sizes[:chunk])
        acc_tgt = sum(target.chunk_sizes[:chunk])
        paired = t - max(0, acc_tgt - acc_src)
        paired = min(paired, sum(src_chunk_sizes[: chunk + 1]))
        gaps.append(tgt_token_end[t] - src_token_end[paired])
    if not gaps:
        return math.nan
    return float(mean(gaps)) / 1000.0


def _ms(values: Sequence[float]) -> list[float]:
    """Seconds → milliseconds rounded to 1 ns (SimulEval works in ms)."""
    return [round(float(v) * 1000.0, 6) for v in values]


def _compute_increments(d: list[float], elapsed: Sequence[float] | None) -> list[float]:
    """Per output unit, the compute time (ms) added since the previous one: the increments
    of ``elapsed − delays`` (all 0 without ``elapsed``)."""
    if elapsed is None:
        return [0.0] * len(d)
    e = _ms(elapsed)
    if len(e) != len(d):
        raise ValueError("elapsed must have one value per delay")
    cumulative = [x - y for x, y in zip(e, d, strict=True)]
    return [c - p for c, p in zip(cumulative, [0.0, *cumulative[:-1]], strict=True)]


@dataclass(slots=True)
class _TargetTokens:
    """ATD's target tokens (ms), listed with a leading sentinel as SimulEval does.

    chunk_sizes: tokens per output chunk (``[0, ...]``). chunk: each token's 1-based output
    chunk (``[0, ...]``). delay / length / compute: each token's delay, virtual length and
    compute time (ms), without the sentinel.
    """

    chunk_sizes: list[int] = field(default_factory=lambda: [0])
    chunk: list[int] = field(default_factory=lambda: [0])
    delay: list[float] = field(default_factory=list)
    length: list[float] = field(default_factory=list)
    compute: list[float] = field(default_factory=list)


def _target_tokens(
    d: list[float],
    compute: list[float],
    durations: Sequence[float] | None,
    token_ms: float,
) -> _TargetTokens:
    """Output chunks (runs of equal delays) cut into target tokens: text words of length 0,
    or speech split into ``token_ms`` tokens plus a remainder."""
    groups: list[list[int]] = []
    for i, delay in enumerate(d):
        if i > 0 and delay == d[i - 1]:
            groups[-1].append(i)
        else:
            groups.append([i])
    out = _TargetTokens()
    if durations is None:
        for c, group in enumerate(groups, 1):
            out.chunk_sizes.append(len(group))
            out.chunk += [c] * len(group)
            out.delay += [d[i] for i in group]
            out.length += [0.0] * len(group)
            out.compute += [compute[i] for i in group]
        return out
    dur = _ms(durations)
    if len(dur) != len(d):
        raise ValueError("durations must have one value per delay")
    distinct = list(dict.fromkeys(d))
    for c, group in enumerate(groups, 1):
        lens = _split_tokens(sum(dur[i] for i in group), token_ms)
        chunk_compute = sum(compute[i] for i in group)
        out.chunk_sizes.append(len(lens))
        out.chunk += [c] * len(lens)
        out.length += lens
        out.delay += [distinct[c - 1]] * len(lens)
        out.compute += [chunk_compute / len(lens)] * len(lens) if lens else []
    return out


def _source_tokens(distinct: list[float], token_ms: float) -> tuple[list[int], list[float]]:
    """The source cut into chunks at the distinct delays (ms), each split into ``token_ms``
    tokens plus a remainder: tokens per chunk and each token's end, both with a leading 0."""
    chunk_sizes = [0]
    token_end = [0.0]
    previous = 0.0
    for delay in distinct:
        lens = _split_tokens(delay - previous, token_ms)
        previous = delay
        chunk_sizes.append(len(lens))
        for length in lens:
            token_end.append(token_end[-1] + length)
    return chunk_sizes, token_end


@dataclass(frozen=True, slots=True)
class SpeechLayout:
    """Output speech laid out on the source timeline (SimulEval ``SpeechOutputInstance``).

    intervals: ``(start_s, duration_s)`` per output chunk, ``start_i = max(end_{i−1}, delay_i)``.
    silences: the gaps (s) inserted before chunks that were not ready when the previous ended.
    """

    intervals: tuple[tuple[float, float], ...]
    silences: tuple[float, ...]

    @property
    def end_s(self) -> float:
        """End of the last chunk (s); NaN without output."""
        if not self.intervals:
            return math.nan
        start, duration = self.intervals[-1]
        return start + duration


def speech_output_layout(delays: Sequence[float], durations: Sequence[float]) -> SpeechLayout:
    """Place output chunks as SimulEval does: each starts at ``max(previous end, its delay)``.

    delays, durations: per output chunk, seconds. The first chunk starts at its delay.
    """
    intervals: list[tuple[float, float]] = []
    silences: list[float] = []
    if delays:
        previous_end = float(delays[0])
        for delay, duration in zip(delays, durations, strict=True):
            start = max(previous_end, float(delay))
            if start > previous_end:
                silences.append(start - previous_end)
            intervals.append((start, float(duration)))
            previous_end = start + float(duration)
    return SpeechLayout(tuple(intervals), tuple(silences))


# --------------------------------------------------------------------------- session → instance


@dataclass(frozen=True, slots=True)
class SimulInstance:
    """A session seen as one SimulEval instance (all times in seconds of stream time).

    source_length_s: ``|X|``.
    tokens: target tokens of the translation, in order (words or characters).
    text_delays / text_elapsed: per token, non-computation-aware and computation-aware delay.
    speech_delays / speech_elapsed / speech_durations: per output speech segment.
    played_durations: per output speech segment, actual playback duration (s).
    reference: the reference translation, if any. latency_unit: ``"word"`` or ``"char"``.
    stream_start_t: ``t0``, the session time of stream position 0.
    """

    source_length_s: float
    stream_start_t: float
    tokens: tuple[str, ...] = ()
    text_delays: tuple[float, ...] = ()
    text_elapsed: tuple[float, ...] = ()
    speech_delays: tuple[float, ...] = ()
    speech_durations: tuple[float, ...] = ()
    speech_elapsed: tuple[float, ...] = ()
    played_durations: tuple[float, ...] = ()
    reference: str | None = None
    latency_unit: Literal["word", "char"] = "word"
    notes: tuple[str, ...] = field(default=())

    def reference_length(self) -> int | None:
        """``|Y*|`` as SimulEval counts it: ``split(" ")`` words or stripped characters."""
        if self.reference is None:
            return None
        if self.latency_unit == "word":
            return len(self.reference.split(" "))
        return len(self.reference.strip())


def estimate_stream_start(df: pd.DataFrame) -> float:
    """``t0``: the session time (s) at which input-stream position 0 was delivered.

    Median of ``t_speech_end − audio_end_s`` over rows that have both (any status); exact
    for a real-time source. NaN when no row has both.
    """
    v = (_numeric(df, "t_speech_end") - _numeric(df, "audio_end_s")).dropna()
    return float(v.median()) if len(v) else math.nan


def _tokens(text: str, unit: str) -> list[str]:
    if unit == "word":
        return text.strip().split()
    return list(text.replace(" ", ""))


def session_instance(
    df: pd.DataFrame,
    *,
    source_duration_s: float | None = None,
    stream_start_t: float | None = None,
    reference: str | None = None,
    latency_unit: Literal["word", "char"] = "word",
) -> SimulInstance:
    """Map a one-session log onto a SimulEval instance (see the module docstring).

    Only ``status == "ok"`` rows take part, in ``segment_id`` order. source_duration_s:
    length of the input stream (s); ``None`` takes ``max(audio_end_s)``, which
    underestimates it by any trailing silence. stream_start_t: ``t0`` (s on the session
    clock); ``None`` estimates it with :func:`estimate_stream_start`.
    """
    if latency_unit not in ("word", "char"):
        raise ValueError(f"latency_unit must be 'word' or 'char', got {latency_unit!r}")
    notes: list[str] = []
    if source_duration_s is None:
        source_duration_s = float(_numeric(df, "audio_end_s").max())
        notes.append("source_duration_s taken as max(audio_end_s)")
    if not source_duration_s > 0:
        raise ValueError(f"source_duration_s must be > 0 s, got {source_duration_s}")
    t0 = estimate_stream_start(df) if stream_start_t is None else float(stream_start_t)
    if math.isnan(t0):
        t0 = 0.0
        notes.append("no row has t_speech_end and audio_end_s; t0 taken as 0")
    ok = df[_ok_mask(df)]
    if "segment_id" in ok.columns:
        ok = ok.sort_values("segment_id", kind="stable")
    outputs = _Outputs(t0=t0, source_length_s=source_duration_s, unit=latency_unit)
    for row in ok.itertuples(index=False):
        outputs.add(row)
    return SimulInstance(
        source_length_s=float(source_duration_s),
        stream_start_t=t0,
        tokens=tuple(outputs.tokens),
        text_delays=tuple(outputs.text_delays),
        text_elapsed=tuple(outputs.text_elapsed),
        speech_delays=tuple(outputs.speech_delays),
        speech_durations=tuple(outputs.speech_durations),
        speech_elapsed=tuple(outputs.speech_elapsed),
        played_durations=tuple(outputs.played),
        reference=reference,
        latency_unit=latency_unit,
        notes=tuple(notes),
    )


@dataclass(slots=True)
class _Outputs:
    """A session's outputs in stream time (s from ``t0``), collected row by row."""

    t0: float
    source_length_s: float
    unit: Literal["word", "char"]
    tokens: list[str] = field(default_factory=list)
    text_delays: list[float] = field(default_factory=list)
    text_elapsed: list[float] = field(default_factory=list)
    speech_delays: list[float] = field(default_factory=list)
    speech_durations: list[float] = field(default_factory=list)
    speech_elapsed: list[float] = field(default_factory=list)
    played: list[float] = field(default_factory=list)

    def add(self, row: Any) -> None:
        """One ok row: its target tokens (written at ``t_asr_final``, existing from
        ``t_mt_end``) and its speech (``tts_audio_s`` long, played from ``t_play_start``)."""
        t_final = _float(getattr(row, "t_asr_final", None))
        if math.isnan(t_final):
            return
        delay = min(max(t_final - self.t0, 0.0), self.source_length_s)
        words = _tokens(str(getattr(row, "translation", "") or ""), self.unit)
        t_mt_end = _float(getattr(row, "t_mt_end", None))
        if words and not math.isnan(t_mt_end):
            self.tokens += words
            self.text_delays += [delay] * len(words)
            self.text_elapsed += [t_mt_end - self.t0] * len(words)
        audio_s = _float(getattr(row, "tts_audio_s", None))
        t_play_start = _float(getattr(row, "t_play_start", None))
        t_play_end = _float(getattr(row, "t_play_end", None))
        if math.isnan(t_play_start) or math.isnan(t_play_end):
            return
        play = t_play_end - t_play_start
        if not audio_s > 0:
            audio_s = play
        if audio_s > 0:
            self.speech_delays.append(delay)
            self.speech_durations.append(audio_s)
            self.speech_elapsed.append(t_play_start - self.t0)
            self.played.append(play)


def _float(value: Any) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return math.nan
    return f


def _speech_scores(
    delays: Sequence[float], durations: Sequence[float], src: float
) -> dict[str, float]:
    layout = speech_output_layout(delays, durations)
    if not layout.intervals:
        nan = math.nan
        return {
            "StartOffset": nan,
            "EndOffset": nan,
            "RTF": nan,
            "ATD": nan,
            "DiscontinuitySum": nan,
            "DiscontinuityAve": nan,
            "DiscontinuityNum": 0,
        }
    silences = layout.silences
    return {
        "StartOffset": float(delays[0]),
        "EndOffset": layout.end_s - src,
        "RTF": layout.end_s / src,
        "ATD": average_token_delay(delays, durations=durations),
        "DiscontinuitySum": float(sum(silences)),
        "DiscontinuityAve": float(sum(silences) / len(silences)) if silences else 0.0,
        "DiscontinuityNum": len(silences),
    }


def _text_scores(
    delays: Sequence[float], src: float, tgt_len: float, *, ca: bool
) -> dict[str, float]:
    if not delays:
        return {"AL": math.nan, "LAAL": math.nan, "AP": math.nan, "DAL": math.nan}
    scores = {
        "AL": average_lagging(delays, src, tgt_len),
        "LAAL": length_adaptive_average_lagging(delays, src, tgt_len),
    }
    if not ca:
        scores["AP"] = average_proportion(delays, src, tgt_len)
        scores["DAL"] = differentiable_average_lagging(delays, src)
    return scores


def session_metrics(
    df: pd.DataFrame,
    *,
    source_duration_s: float | None,
    reference: str | None = None,
    stream_start_t: float | None = None,
    latency_unit: Literal["word", "char"] = "word",
    use_ref_len: bool = True,
) -> dict[str, float]:
    """SimulEval speech-to-speech latency scores of one session (seconds unless stated).

    df: the segment log of ONE session (rows of other sessions would be mixed in).
    source_duration_s: length of the input stream ``|X|`` (s); ``None`` = max(audio_end_s).
    reference: the session's reference translation, for ``|Y|`` when ``use_ref_len``.
    stream_start_t: ``t0`` (session-clock s of stream position 0), estimated when None.
    latency_unit: ``"word"`` (default) or ``"char"`` target tokens for the text scores.

    Keys (see the module docstring for the mapping and the formulas):
    speech output, non-computation-aware — ``StartOffset``, ``EndOffset``, ``RTF``, ``ATD``,
    ``DiscontinuitySum``, ``DiscontinuityAve``, ``DiscontinuityNum``; the same keys with
    suffix ``_CA`` for the actual playback; text stream — ``AL``, ``LAAL``, ``AP``, ``DAL``,
    ``ATD_text``, ``AL_CA``, ``LAAL_CA``; and ``source_length_s``, ``stream_start_t``,
    ``n_output_segments``, ``n_target_tokens``. Scores are NaN when there is no output.
    """
    ins = session_instance(
        df,
        source_duration_s=source_duration_s,
        stream_start_t=stream_start_t,
        reference=reference,
        latency_unit=latency_unit,
    )
    src = ins.source_length_s
    out: dict[str, float] = {}
    out.update(_speech_scores(ins.speech_delays, ins.speech_durations, src))
    actual = _speech_scores(ins.speech_elapsed, ins.played_durations, src)
    out.update({f"{k}_CA": v for k, v in actual.items()})
    ref_len = ins.reference_length()
    tgt_len = ref_len if (use_ref_len and ref_len is not None) else len(ins.text_delays)
    out.update(_text_scores(ins.text_delays, src, tgt_len, ca=False))
    out.update(
        {f"{k}_CA": v for k, v in _text_scores(ins.text_elapsed, src, tgt_len, ca=True).items()}
    )
    out["ATD_text"] = average_token_delay(ins.text_delays) if ins.text_delays else math.nan
    out["source_length_s"] = src
    out["stream_start_t"] = ins.stream_start_t
    out["n_output_segments"] = len(ins.speech_delays)
    out["n_target_tokens"] = len(ins.tokens)
    return out
