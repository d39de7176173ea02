"""Per-word lag: how far each translated word trails the speaker's word it stands for.

For every played word of a translation, ``lag_s`` = its start on the session clock (when the
listener began to hear it) − the end of the matching source word (when the speaker finished
saying it), both from the words table (:mod:`s2st_kit.words`).

Matching is by position, not meaning: within one segment, target word ``j`` of ``m`` stands
for source word ``i = floor((j + 0.5) · n / m)`` of ``n`` — the word at the same relative
position. Word order differs between languages, so one word's lag is approximate; the
distribution over a session (and its trend along a segment) is what it is for: a segment's
first word shows the pipeline's start-up delay, its last word how much the translation's
length and playback queue added. Segment-level lags (``ear_to_ear_s``…) stay in
:mod:`s2st_kit.metrics`.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .words import WordLog

__all__ = ["WordLagSummary", "plot_word_lag", "word_lag", "word_lag_summary", "write_word_lag"]

_COLUMNS = [
    "session_id", "segment_id", "listener", "target_index", "target_word", "source_index",
    "source_word", "relative_position", "source_end_s", "target_start_s", "lag_s", "estimated",
]  # fmt: skip


def _frame(words: WordLog | pd.DataFrame) -> pd.DataFrame:
    return words.to_pandas() if isinstance(words, WordLog) else words


def word_lag(words: WordLog | pd.DataFrame) -> pd.DataFrame:
    """One row per played target word with its matching source word and ``lag_s`` (s).

    Columns: session_id, segment_id, listener, target_index / target_word, source_index /
    source_word, relative_position (0..1 along the segment's translation), source_end_s /
    target_start_s (session clock, s), lag_s, estimated (the target time is an estimate).
    Segments without source words or without played target words are left out.
    """
    df = _frame(words)
    out: list[dict[str, Any]] = []
    source = df[df["side"] == "source"]
    target = df[df["side"] == "target"]
    by_listener = source["listener"].notna().any()
    src_keys = ["session_id", "segment_id", *(["listener"] if by_listener else [])]
    src_groups = {
        key: g.sort_values("word_index") for key, g in source.groupby(src_keys, dropna=False)
    }
    keys = ["session_id", "segment_id", "listener"]
    for (session, sid, listener), tgt in target.groupby(keys, dropna=False):
        key = (session, sid, listener) if by_listener else (session, sid)
        src = src_groups.get(key)
        if src is None or src.empty:
            continue
        tgt = tgt.sort_values("word_index")
        n, m = len(src), len(tgt)
        src_words, src_ends = list(src["word"]), list(src["end_s"])
        for j, (word, start, est) in enumerate(
            zip(tgt["word"], tgt["start_s"], tgt["estimated"], strict=True)
        ):
            i = min(n - 1, math.floor((j + 0.5) * n / m))
            out.append(
                {"session_id": session, "segment_id": sid, "listener": listener,
                 "target_index": j, "target_word": word, "source_index": i,
                 "source_word": src_words[i], "relative_position": (j + 0.5) / m,
                 "source_end_s": src_ends[i], "target_start_s": start,
                 "lag_s": start - src_ends[i], "estimated": bool(est)}
            )  # fmt: skip
    return pd.DataFrame(out, columns=_COLUMNS)


@dataclass(frozen=True, slots=True)
class WordLagSummary:
    """Per-word lag over a session (s): counts, median, p90, p95, max; and by position in
    the segment — the first word's median lag and the last word's."""

    words: int
    segments: int
    median_s: float
    p90_s: float
    p95_s: float
    max_s: float
    first_word_median_s: float
    last_word_median_s: float
    estimated_share: float


def word_lag_summary(lag: pd.DataFrame) -> WordLagSummary:
    """Summary of a :func:`word_lag` frame (NaN figures when it is empty)."""
    if lag.empty:
        nan = float("nan")
        return WordLagSummary(0, 0, nan, nan, nan, nan, nan, nan, nan)
    values = lag["lag_s"].to_numpy(dtype=float)
    per_seg = lag.groupby(["session_id", "segment_id", "listener"], dropna=False)
    first = per_seg["lag_s"].first()
    last = per_seg["lag_s"].last()
    return WordLagSummary(
        words=len(lag),
        segments=int(per_seg.ngroups),
        median_s=float(np.median(values)),
        p90_s=float(np.percentile(values, 90)),
        p95_s=float(np.percentile(values, 95)),
        max_s=float(values.max()),
        first_word_median_s=float(first.median()),
        last_word_median_s=float(last.median()),
        estimated_share=float(lag["estimated"].mean()),
    )


def plot_word_lag(lag: pd.DataFrame, *, title: str = "Per-word lag") -> Any:
    """Two panels: lag of each word against when its source word ended (s, session clock;
    estimated times hollow), and lag against the word's relative position in its segment.
    Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_p) = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    for est, marker in ((False, "o"), (True, "o")):
        part = lag[lag["estimated"] == est]
        if part.empty:
            continue
        label = "estimated timing" if est else "engine word timing"
        ax_t.scatter(part["source_end_s"], part["lag_s"], s=12, marker=marker,
                     facecolors="none" if est else "C0", edgecolors="C0", label=label)  # fmt: skip
        ax_p.scatter(part["relative_position"], part["lag_s"], s=12, marker=marker,
                     facecolors="none" if est else "C1", edgecolors="C1")  # fmt: skip
    if not lag.empty:
        med = float(lag["lag_s"].median())
        for ax in (ax_t, ax_p):
            ax.axhline(med, color="0.4", ls="--", lw=1, label=f"median {med:.2f} s")
    ax_t.set_xlabel("source word end (s, session clock)")
    ax_t.set_ylabel("target word start − source word end (s)")
    ax_p.set_xlabel("position in the segment's translation (0 = first word)")
    ax_p.set_ylabel("lag (s)")
    ax_t.legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    return fig


def write_word_lag(words: WordLog | pd.DataFrame, out_dir: str | os.PathLike[str]) -> list[Path]:
    """``word_lag.csv`` (one row per played target word) and ``word_lag.png`` in ``out_dir``
    (nothing when no played word has a matching source word). Blocking (writes files)."""
    lag = word_lag(words)
    if lag.empty:
        return []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lag.to_csv(out / "word_lag.csv", index=False)
    summary = word_lag_summary(lag)
    title = (
        f"Per-word lag: median {summary.median_s:.2f} s, p95 {summary.p95_s:.2f} s "
        f"({summary.words} words, {summary.segments} segments)"
    )
    fig = plot_word_lag(lag, title=title)
    fig.savefig(out / "word_lag.png", dpi=110, bbox_inches="tight")
    (out / "word_lag.json").write_text(pd.Series(asdict(summary)).to_json(indent=2) + "\n")
    return [out / "word_lag.csv", out / "word_lag.png", out / "word_lag.json"]
