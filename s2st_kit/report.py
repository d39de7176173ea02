"""Session reports: the summary tables and every plot of one log, written to a folder.

Used by ``s2st report LOG --out DIR`` and callable from Python::

    from s2st_kit.report import write_report
    report = write_report("out/demo/segments.parquet", "out/report", clip="data/en_home.wav")
    print(report.text)

Lag control's target and speed cap are not log columns: ``s2st run`` saves the session's
configuration beside the log (:func:`session_config_path`, ``<log>.config.json``) and the
report reads them there, unless they are given (``max_lag_s=`` / ``--max-lag``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .config import PipelineConfig
from .log import SegmentLog
from .metrics import LagSummary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Report",
    "load_session_config",
    "save_session_config",
    "segment_counts",
    "session_config_path",
    "write_report",
]


@dataclass(slots=True)
class Report:
    """What :func:`write_report` produced: the text summary and the files it wrote."""

    text: str
    files: list[Path] = field(default_factory=list)
    stage_summary: pd.DataFrame | None = None
    session_metrics: dict[str, float] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)
    lag: LagSummary | None = None


def session_config_path(log_path: str | os.PathLike[str]) -> Path:
    """Where a session's configuration is saved beside its log: ``out/s.parquet`` →
    ``out/s.config.json`` (the same file for the ``.jsonl`` twin)."""
    return Path(log_path).with_suffix(".config.json")


def save_session_config(config: PipelineConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``config``'s fields as JSON to ``path`` (blocking: call it in a thread)."""
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k != "engine_options"}
    out = Path(path)
    out.write_text(json.dumps(fields, indent=2, default=str) + "\n")
    return out


def load_session_config(log_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The configuration saved beside a log (:func:`session_config_path`); ``{}`` when there
    is none or it cannot be read (a report still works without it)."""
    path = session_config_path(log_path)
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _references(clip: Any, target: str) -> dict[str, str]:
    refs: dict[str, str] = {}
    if clip is None:
        return refs
    if clip.transcript:
        refs["transcript"] = clip.transcript
    if target in clip.translations:
        refs["translation"] = clip.translations[target]
    return refs


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def write_report(
    log: str | os.PathLike[str] | pd.DataFrame,
    out_dir: str | os.PathLike[str],
    *,
    clip: str | os.PathLike[str] | None = None,
    source_duration_s: float | None = None,
    max_lag_s: float | None = None,
    max_speedup: float | None = None,
) -> Report:
    """Write ``summary.txt``, ``stages.csv``, ``metrics.json``, the PNG plots and the caption
    files (:func:`~s2st_kit.captions.write_session_captions`; per-word lag too when a words
    table is beside the log) to ``out_dir``.

    log: a log file (Parquet or JSONL) or a segment-log DataFrame.
    clip: the input recording, to find its reference transcript/translation in the data
        manifest (quality scores are skipped with a note when it has none).
    source_duration_s: input length (s) for SimulEval scores; default: the recorded input
        saved beside the log (``<log>.input.wav``) if present, else the last segment's end.
    max_lag_s / max_speedup: lag control's target (s) and speed cap (×) for the lag plot
        and summary; default: the configuration saved beside the log, if any.
    """
    from .metrics import lag_summary, stage_summary

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df, log_path = _load(log)
    saved = load_session_config(log_path) if log_path is not None else {}
    max_lag_s = _number(max_lag_s if max_lag_s is not None else saved.get("max_lag_s"))
    max_speedup = _number(max_speedup if max_speedup is not None else saved.get("max_speedup"))
    lines = _header_lines(df)
    if source_duration_s is None and log_path is not None:
        source_duration_s = _recorded_duration(log_path)
    report = Report(text="")
    summary = stage_summary(df)
    report.stage_summary = summary
    summary.to_csv(out / "stages.csv")
    lines += [
        "",
        "latency by stage (seconds):",
        summary.to_string(float_format=lambda v: f"{v:.3f}"),
    ]
    report.lag = lag_summary(df)
    lines += _lag_lines(report.lag, max_lag_s, max_speedup, saved)
    report.session_metrics, metric_lines = _simuleval(df, source_duration_s)
    report.quality, quality_lines = _quality(df, clip)
    lines += metric_lines + quality_lines + _cost_lines(df)
    lag = {**dataclasses.asdict(report.lag), "max_lag_s": max_lag_s, "max_speedup": max_speedup}
    (out / "metrics.json").write_text(
        json.dumps(
            {"session": report.session_metrics, "quality": report.quality, "lag": lag},
            indent=2, default=str, allow_nan=True,
        )
    )  # fmt: skip
    report.files += _write_plots(df, out, max_lag_s=max_lag_s, max_speedup=max_speedup)
    report.files += _write_captions(df, log_path, out)
    report.text = "\n".join(lines)
    (out / "summary.txt").write_text(report.text + "\n")
    report.files += [out / "summary.txt", out / "stages.csv", out / "metrics.json"]
    return report


def _load(log: str | os.PathLike[str] | pd.DataFrame) -> tuple[pd.DataFrame, Path | None]:
    """The log as a DataFrame, and its path when it was read from a file."""
    if isinstance(log, pd.DataFrame):
        return log, None
    log_path = Path(log)
    return SegmentLog.load(log_path).to_pandas(), log_path


def _number(value: Any) -> float | None:
    """A float from a saved setting (``None`` for a missing or non-numeric one)."""
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def segment_counts(df: pd.DataFrame) -> str:
    """``"40 (36 ok, 2 skipped, 2 error/dropped)"``; no skipped part when none was."""
    n = len(df)
    status = df["status"].astype("string") if n and "status" in df.columns else None
    ok = int(status.eq("ok").sum()) if status is not None else 0
    skipped = int(status.eq("skipped").sum()) if status is not None else 0
    part = f", {skipped} skipped" if skipped else ""
    return f"{n} ({ok} ok{part}, {n - ok - skipped} error/dropped)"


def _header_lines(df: pd.DataFrame) -> list[str]:
    """Segment counts and the session's languages, engines, policy and chunk size."""
    n = len(df)
    lines = [f"segments: {segment_counts(df)}"]
    if n:
        first = df.iloc[0]
        lines.append(
            f"session {first['session_id']}: {first['source_lang']}→{first['target_lang']}, "
            f"asr={first['asr_engine']} mt={first['mt_engine']} tts={first['tts_engine']}, "
            f"policy={first['policy']}, chunk={first['chunk_ms']} ms"
        )
    return lines


def _lag_lines(
    lag: LagSummary,
    max_lag_s: float | None,
    max_speedup: float | None,
    saved: dict[str, Any],
) -> list[str]:
    """Lag control's settings (as far as known) and the session's lag, speed and skips."""
    if max_lag_s is not None:
        cap = f", speed up to {max_speedup:g}×" if max_speedup is not None else ""
        catch_up = saved.get("catch_up")
        how = f" ({catch_up})" if catch_up else ""
        setting = f"lag control: target {max_lag_s:g} s{cap}{how}"
    elif lag.controlled or lag.skipped:
        setting = "lag control: on (target not recorded: pass --max-lag to draw it)"
    else:
        setting = "lag control: off"
    return ["", setting, lag.describe(max_lag_s)]


def _recorded_duration(log_path: Path) -> float | None:
    """Length (s) of the input audio saved beside the log, if it was saved."""
    from .experiments import input_audio_path

    recorded = input_audio_path(log_path)
    if not recorded.exists():
        return None
    from .audio import probe

    return probe(recorded).duration_s


def _simuleval(
    df: pd.DataFrame, source_duration_s: float | None
) -> tuple[dict[str, float], list[str]]:
    """SimulEval scores of the ok rows (``{}`` without any) and the report's lines for them."""
    from .metrics import session_metrics

    ok = int((df["status"] == "ok").sum()) if len(df) else 0
    metrics = session_metrics(df, source_duration_s=source_duration_s) if ok else {}
    if not metrics:
        return metrics, []
    keys = ["StartOffset", "EndOffset", "ATD", "RTF", "DiscontinuitySum", "AL", "LAAL"]
    shown = ", ".join(f"{k} {_fmt(metrics.get(k))}" for k in keys)
    return metrics, ["", "SimulEval metrics (s): " + shown]


def _quality(
    df: pd.DataFrame, clip: str | os.PathLike[str] | None
) -> tuple[dict[str, Any], list[str]]:
    """Reference-based scores when ``clip`` has references (``{}`` otherwise), and the
    report's lines: the scores, or why there are none."""
    from .quality import score_session

    if clip is None or not len(df):
        return {}, ["", "quality: pass --clip (a clip listed in data/manifest.json) for WER/BLEU"]
    from .datasets import find_clip

    refs = _references(find_clip(clip), str(df.iloc[0]["target_lang"]))
    if not refs:
        why = f"quality: no reference transcript/translation for {clip} in data/manifest.json"
        return {}, ["", why]
    quality = score_session(df, refs)
    scores = ", ".join(
        f"{k} {_fmt(quality[k])}" for k in ("wer", "cer", "bleu", "chrf") if k in quality
    )
    return quality, ["", "quality: " + scores]


def _cost_lines(df: pd.DataFrame) -> list[str]:
    from .cost import estimate_cost

    return [
        "",
        "cost estimate (USD, list prices; non-AWS engines cost 0):",
        estimate_cost(df).table().to_string(),
    ]


def _write_captions(df: pd.DataFrame, log_path: Path | None, out: Path) -> list[Path]:
    """Caption files (source, and translated per listener: WebVTT + SRT) and, with a words
    table beside the log, the per-word lag (``word_lag.png`` / ``.csv`` / ``.json``)."""
    from .captions import load_words, write_session_captions
    from .word_lag import write_word_lag

    words = load_words(log_path) if log_path is not None else None
    if words is not None:  # only this log's sessions (a JSONL may hold an older run's too)
        words = words[words["session_id"].isin(set(df["session_id"]))]
    files = write_session_captions(df, words, out)
    return files + (write_word_lag(words, out) if words is not None else [])


def _write_plots(
    df: pd.DataFrame, out: Path, *, max_lag_s: float | None, max_speedup: float | None
) -> list[Path]:
    """The five PNG figures of the session, in ``out`` (``lag.png`` with the lag target
    and speed cap when known)."""
    from . import plots

    figures: list[tuple[str, Callable[[pd.DataFrame], Figure]]] = [
        ("timeline.png", plots.plot_timeline),
        ("latency_by_stage.png", plots.plot_stage_latency),
        ("decomposition.png", plots.plot_decomposition),
        ("ear_to_ear_cdf.png", plots.plot_ear_to_ear_cdf),
        ("lag.png", partial(plots.plot_lag, max_lag_s=max_lag_s, max_speedup=max_speedup)),
    ]
    files = []
    for name, fn in figures:
        fig = fn(df)
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        files.append(out / name)
    return files
