"""The results folder of an evaluation: a resumable Parquet dataset.

::

    OUT/eval.json                     the EvalSettings (a re-run must use the same)
    OUT/utterances/<key>.parquet      one score row per finished utterance
    OUT/segments/<key>.parquet        that utterance's session log (segment rows)

Each finished utterance is written as its own pair of files, atomically (temporary file,
then rename), the segments first: a killed run loses at most the utterances in flight,
and a re-run skips every utterance whose row exists without an ``error`` (failed ones are
tried again). ``pandas.read_parquet(OUT / "utterances")`` reads the whole table.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from .runner import EvalSettings, UtteranceResult

__all__ = ["ResultsStore"]


def _key(utterance_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in utterance_id)[:40]
    return f"{safe}-{hashlib.sha1(utterance_id.encode()).hexdigest()[:8]}"


def _write(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


class ResultsStore:
    """A results folder (see the module docstring). Blocking file I/O: call from a thread."""

    def __init__(self, out: str | os.PathLike[str], settings: EvalSettings) -> None:
        self.out = Path(out)
        self.settings = settings

    def open(self) -> set[str]:
        """Create the folder (or check it holds results of the same settings); the ids of
        the utterances already finished."""
        meta = self.out / "eval.json"
        if meta.exists():
            saved = json.loads(meta.read_text(encoding="utf-8"))
            mine = json.loads(self.settings.to_json())
            if saved != mine:
                diff = {k: (saved.get(k), v) for k, v in mine.items() if saved.get(k) != v}
                raise ConfigError(
                    f"{self.out} holds results of other settings {diff} (saved, now); "
                    "use another --out folder, or delete it to start again"
                )
        for sub in ("utterances", "segments"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        meta.write_text(self.settings.to_json() + "\n", encoding="utf-8")
        rows = self.rows()
        if rows.empty:
            return set()
        done = rows[rows["error"].isna()] if "error" in rows.columns else rows
        return set(done["utterance_id"].astype(str))

    def save(self, result: UtteranceResult) -> None:
        """Write one finished utterance (segments first, then its row)."""
        key = _key(result.utterance_id)
        if not result.segments.empty:
            _write(result.segments, self.out / "segments" / f"{key}.parquet")
        _write(pd.DataFrame([result.row]), self.out / "utterances" / f"{key}.parquet")

    def _read(self, sub: str) -> pd.DataFrame:
        files = sorted((self.out / sub).glob("*.parquet"))
        if not files:
            return pd.DataFrame()
        frames = [pd.read_parquet(f) for f in files]
        return pd.concat([f for f in frames if not f.empty] or frames, ignore_index=True)

    def rows(self) -> pd.DataFrame:
        """Every utterance row saved (in utterance-id order)."""
        rows = self._read("utterances")
        return rows.sort_values("utterance_id", ignore_index=True) if len(rows) else rows

    def segments(self) -> pd.DataFrame:
        """Every segment row saved (with ``utterance_id``)."""
        return self._read("segments")
