"""Session reports: the summary tables and every plot of one log, written to a folder.

Used by ``s2st report LOG --out DIR`` and callable from Python::

    from s2st_kit.report import write_report
    report = write_report("out/demo/segments.parquet", "out/report", clip="data/en_home.wav")
    print(report.text)
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .log import SegmentLog

__all__ = ["Report", "write_report"]


@dataclass(slots=True)
class Report:
    """What :func:`write_report` produced: the text summary and the files it wrote."""

    text: str
    files: list[Path] = field(default_factory=list)
    stage_summary: pd.DataFrame | None = None
    session_metrics: dict[str, float] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)


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
) -> Report:
    """Write ``summary.txt``, ``stages.csv``, ``metrics.json`` and the PNG plots to ``out_dir``.

    log: a log file (Parquet or JSONL) or a segment-log DataFrame.
    clip: the input recording, to find its reference transcript/translation in the data
        manifest (quality scores are skipped with a note when it has none).
    source_duration_s: input length (s) for SimulEval scores; default: the recorded input
        saved beside the log (``<log>.input.wav``) if present, else the last segment's end.
    """
    from . import plots
    from .cost import estimate_cost
    from .metrics import session_metrics, stage_summary
    from .quality import score_session

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(log, pd.DataFrame):
        df, log_path = log, None
    else:
        log_path = Path(log)
        df = SegmentLog.load(log_path).to_pandas()
    lines = []
    n = len(df)
    ok = int((df["status"] == "ok").sum()) if n else 0
    lines.append(f"segments: {n} ({ok} ok, {n - ok} error/dropped)")
    if n:
        first = df.iloc[0]
        lines.append(
            f"session {first['session_id']}: {first['source_lang']}→{first['target_lang']}, "
            f"asr={first['asr_engine']} mt={first['mt_engine']} tts={first['tts_engine']}, "
            f"policy={first['policy']}, chunk={first['chunk_ms']} ms"
        )
    if source_duration_s is None and log_path is not None:
        from .experiments import input_audio_path

        recorded = input_audio_path(log_path)
        if recorded.exists():
            from .audio import probe

            source_duration_s = probe(recorded).duration_s
    report = Report(text="")
    summary = stage_summary(df)
    report.stage_summary = summary
    summary.to_csv(out / "stages.csv")
    lines += [
        "",
        "latency by stage (seconds):",
        summary.to_string(float_format=lambda v: f"{v:.3f}"),
    ]
    metrics = session_metrics(df, source_duration_s=source_duration_s) if ok else {}
    report.session_metrics = metrics
    if metrics:
        keys = ["StartOffset", "EndOffset", "ATD", "RTF", "DiscontinuitySum", "AL", "LAAL"]
        lines += [
            "",
            "SimulEval metrics (s): " + ", ".join(f"{k} {_fmt(metrics.get(k))}" for k in keys),
        ]
    quality: dict[str, Any] = {}
    if clip is not None and n:
        from .datasets import find_clip

        refs = _references(find_clip(clip), str(df.iloc[0]["target_lang"]))
        if refs:
            quality = score_session(df, refs)
            lines += [
                "",
                "quality: "
                + ", ".join(
                    f"{k} {_fmt(quality[k])}"
                    for k in ("wer", "cer", "bleu", "chrf")
                    if k in quality
                ),
            ]
        else:
            lines += [
                "",
                f"quality: no reference transcript/translation for {clip} in data/manifest.json",
            ]
    else:
        lines += ["", "quality: pass --clip (a clip listed in data/manifest.json) for WER/BLEU"]
    report.quality = quality
    cost = estimate_cost(df)
    lines += [
        "",
        "cost estimate (USD, list prices; non-AWS engines cost 0):",
        cost.table().to_string(),
    ]
    (out / "metrics.json").write_text(
        json.dumps({"session": metrics, "quality": quality}, indent=2, default=str, allow_nan=True)
    )
    for name, fn in (
        ("timeline.png", plots.plot_timeline),
        ("latency_by_stage.png", plots.plot_stage_latency),
        ("decomposition.png", plots.plot_decomposition),
        ("ear_to_ear_cdf.png", plots.plot_ear_to_ear_cdf),
    ):
        fig = fn(df)
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        report.files.append(out / name)
    report.text = "\n".join(lines)
    (out / "summary.txt").write_text(report.text + "\n")
    report.files += [out / "summary.txt", out / "stages.csv", out / "metrics.json"]
    return report
