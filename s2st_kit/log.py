"""The segment log: one row per committed segment, crash-safe while the session runs.

Rows are appended to a JSONL file (one JSON object per line, flushed after each row) as
segments finish, so a killed kernel or process loses nothing already logged. The file is
written by one writer thread per log: :meth:`SegmentLog.append` only hands the line over,
so the event loop never waits on a disk (a row reaches the file within milliseconds).
:meth:`SegmentLog.to_pandas` returns the DataFrame every analysis reads, with the derived
latency columns (see :func:`s2st_kit.metrics.add_derived`); :meth:`SegmentLog.save` writes
Parquet and :meth:`SegmentLog.load` reads Parquet or JSONL (tolerating a torn last line).
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd

from .errors import S2STError
from .records import SEGMENT_COLUMNS, Segment

__all__ = ["SegmentLog"]

logger = logging.getLogger(__name__)

_STR_COLUMNS = {
    "session_id", "source_lang", "target_lang", "detected_lang", "asr_engine", "mt_engine",
    "tts_engine", "voice", "policy", "transcript", "translation", "status", "error",
    "listener", "party",
}  # fmt: skip
_INT_COLUMNS = {"segment_id", "chunk_ms", "n_partials", "chars_translated", "chars_synthesized"}
#: Columns added after the first edition, with the value a log written before them means.
_ADDED_COLUMNS: dict[str, Any] = {
    "speed": 1.0,
    "lag_at_play_s": None,
    "listener": None,
    "party": None,
}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _Writer:
    """The thread that writes a log's lines: write, flush (and fsync) off the caller's thread.

    Lines are written in the order handed over; each batch of waiting lines is flushed
    together. A write error (disk full, file gone) is logged once and kept in ``error``;
    the rows stay in memory.
    """

    def __init__(self, fh: IO[str], *, fsync: bool, name: str) -> None:
        self._fh = fh
        self._fsync = fsync
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name=f"s2st-log-{name}", daemon=True)
        self._thread.start()

    def put(self, line: str | None) -> None:
        """Hand a line over (``None``: close once everything before it is written)."""
        self._lines.put(line)

    def flush(self) -> None:
        """Wait until every line handed over so far is on disk (blocking: not on the loop)."""
        self._lines.join()

    def close(self) -> None:
        """Write what is waiting, stop the thread and close the file (blocking)."""
        self._lines.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch = [self._lines.get()]
            while not self._lines.empty():
                batch.append(self._lines.get_nowait())
            lines = [line for line in batch if line is not None]
            try:
                self._write(lines)
            finally:
                for _ in batch:
                    self._lines.task_done()
            if len(lines) < len(batch):  # the close marker
                self._fh.close()
                return

    def _write(self, lines: list[str]) -> None:
        if not lines or self.error is not None:
            return
        try:
            self._fh.write("".join(lines))
            self._fh.flush()
            if self._fsync:
                os.fsync(self._fh.fileno())
        except OSError as exc:
            self.error = exc
            logger.error("writing %s failed (rows stay in memory): %s", self._fh.name, exc)


class JsonlTable:
    """An append-only table of rows kept in memory and written through to a JSONL file by a
    writer thread (a killed process loses nothing already appended). The segment log and
    the words table (:class:`s2st_kit.words.WordLog`) are the two kinds.

    path: JSONL file written while running (``None`` keeps rows in memory only).
    fsync: also ``os.fsync`` after each batch of rows (survives an OS crash, not just a
        process crash; costs a disk round-trip, paid by the writer thread).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, fsync: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.fsync = fsync
        self._rows: list[dict[str, Any]] = []
        self._writer: _Writer | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a", encoding="utf-8")
            self._writer = _Writer(fh, fsync=fsync, name=self.path.stem)
            # A table dropped without close() still ends its thread (and closes the file).
            weakref.finalize(self, self._writer.put, None)

    def _add(self, rows: list[dict[str, Any]]) -> None:
        """Keep ``rows`` and hand their lines to the writer; never waits on the disk."""
        self._rows.extend(rows)
        if self._writer is not None and rows:
            self._writer.put("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def flush(self) -> None:
        """Wait until every appended row is in the file (blocking; from a thread in async code)."""
        if self._writer is not None:
            self._writer.flush()

    @property
    def write_error(self) -> OSError | None:
        """The error that stopped writing the file, if any (the rows are still in memory)."""
        return self._writer.error if self._writer is not None else None

    def close(self) -> None:
        """Write what is waiting and close the JSONL file (rows stay readable). Idempotent.

        Blocks until the file is written: in async code ``await asyncio.to_thread(log.close)``.
        """
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows)


class SegmentLog(JsonlTable):
    """Append-only segment log (see :class:`JsonlTable` for ``path`` and ``fsync``)."""

    # -- writing -------------------------------------------------------------------------
    def append(self, segment: Segment | dict[str, Any]) -> None:
        """Add one finished row; the writer thread writes it through to the JSONL file.

        Never waits on the disk, so it is safe to call on the event loop.
        """
        row = segment.to_dict() if isinstance(segment, Segment) else dict(segment)
        self._add([{k: _clean(row.get(k)) for k in SEGMENT_COLUMNS}])

    # -- reading -------------------------------------------------------------------------
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
            for name, value in _ADDED_COLUMNS.items():
                if name not in df.columns:
                    df[name] = value
            missing = [c for c in SEGMENT_COLUMNS if c not in df.columns]
            if missing:
                raise S2STError(f"{p}: not a segment log (missing columns {missing[:5]})")
            for row in df[list(SEGMENT_COLUMNS)].to_dict("records"):
                log._rows.append({str(k): (None if _isnull(v) else v) for k, v in row.items()})
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
            log._rows.append({k: row.get(k, _ADDED_COLUMNS.get(k)) for k in SEGMENT_COLUMNS})
        return log


def _isnull(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
