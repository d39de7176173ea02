"""The segment log: one row per committed segment, crash-safe while the session runs.

Rows are appended to a JSONL file (one JSON object per line, flushed after each row) as
segments finish, so a killed kernel or process loses nothing already logged.
:meth:`SegmentLog.to_pandas` returns the DataFrame every analysis reads, with the derived
latency columns (see :func:`s2st_kit.metrics.add_derived`); :meth:`SegmentLog.save` writes
Parquet and :meth:`SegmentLog.load` reads Parquet or JSONL (tolerating a torn last line).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import S2STError
from .records import SEGMENT_COLUMNS, Segment

__all__ = ["SegmentLog"]

logger = logging.getLogger(__name__)

_STR_COLUMNS = {
    "session_id", "source_lang", "target_lang", "detected_lang", "asr_engine", "mt_engine",
    "tts_engine", "voice", "policy", "transcript", "translation", "status", "error",
}  # fmt: skip
_INT_COLUMNS = {"segment_id", "chunk_ms", "n_partials", "chars_translated", "chars_synthesized"}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class SegmentLog:
    """Append-only segment log.

    path: JSONL file written while running (``None`` keeps rows in memory only).
    fsync: also ``os.fsync`` after each row (survives an OS crash, not just a process
        crash; costs a disk round-trip per segment).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, fsync: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.fsync = fsync
        self._rows: list[dict[str, Any]] = []
        self._fh = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")

    # -- writing -------------------------------------------------------------------------
    def append(self, segment: Segment | dict[str, Any]) -> None:
        """Add one finished row and write it through to the JSONL file."""
        row = segment.to_dict() if isinstance(segment, Segment) else dict(segment)
        row = {k: _clean(row.get(k)) for k in SEGMENT_COLUMNS}
        self._rows.append(row)
        if self._fh is not None:
            self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Close the JSONL file (rows stay readable). Idempotent."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    # -- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The raw rows (dicts with exactly the log's columns), in the order logged."""
        return list(self._rows)

    def raw_frame(self) -> pd.DataFrame:
        """The rows as a DataFrame with exactly :data:`~s2st_kit.records.SEGMENT_COLUMNS`."""
        df = pd.DataFrame(self._rows, columns=list(SEGMENT_COLUMNS))
        for col in SEGMENT_COLUMNS:
            if col in _STR_COLUMNS:
                df[col] = df[col].astype("object")
            elif col in _INT_COLUMNS:
                df[col] = (
                    pd.to_numeric(df[col]).astype("int64") if len(df) else df[col].astype("int64")
                )
            else:
                df[col] = pd.to_numeric(df[col]).astype("float64")
        return df

    def to_pandas(self) -> pd.DataFrame:
        """The log with derived latency columns (asr_lag_s … queue_s, ear_to_ear_s)."""
        from .metrics import add_derived

        return add_derived(self.raw_frame())

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the raw rows to Parquet (derived columns are recomputed on load)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        self.raw_frame().to_parquet(p, index=False)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SegmentLog:
        """Read a log saved as Parquet (``.parquet``) or written as JSONL (anything else).

        A torn last JSONL line (the process died mid-write) is skipped with a warning.
        """
        p = Path(path)
        if not p.exists():
            raise S2STError(f"{p}: no such log file")
        log = cls()
        if p.suffix == ".parquet":
            df = pd.read_parquet(p)
            missing = [c for c in SEGMENT_COLUMNS if c not in df.columns]
            if missing:
                raise S2STError(f"{p}: not a segment log (missing columns {missing[:5]})")
            for row in df[list(SEGMENT_COLUMNS)].to_dict("records"):
                log._rows.append({k: (None if _isnull(v) else v) for k, v in row.items()})
            return log
        with open(p, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
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
            log._rows.append({k: row.get(k) for k in SEGMENT_COLUMNS})
        return log


def _isnull(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
