"""Scores of an evaluation: one row per utterance, and the corpus summary.

Per utterance (:func:`score_utterance`): the hypothesis transcript and translation (the
session's ok segments joined in speech order), ``wer`` (fraction, after
:func:`~s2st_kit.quality.normalize_text`), sentence ``bleu`` / ``chrf`` (0–100), what the
ASR-BLEU recognizer heard in the synthesised speech (``asr_transcript``), SimulEval's
latency scores in **seconds** (:func:`~s2st_kit.metrics.session_metrics`: ``StartOffset``,
``EndOffset``, ``ATD`` of the output speech, ``AL`` / ``LAAL`` of the translation's words;
the same with ``_CA`` computation-aware), the median ear-to-ear latency (s), the AWS cost
estimate (USD, :func:`~s2st_kit.cost.estimate_cost`; 0 for offline and simulated engines),
and ``latency_valid``: False when the session was not paced in real time, where session
seconds are not stream seconds and the latency columns mean nothing.

Corpus level (:func:`summarize`): BLEU and chrF over the utterances (sacrebleu corpus
scores, with their signatures), WER pooled over the utterances, ASR-BLEU where a recognizer
of the target language re-recognised the output (offline: pocketsphinx, English only), and
each latency score averaged over the utterances that have one — SimulEval reports the mean
of its per-instance scores the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .corpus import CorpusUtterance
from .runner import EvalSettings

__all__ = ["LATENCY_COLUMNS", "EvalSummary", "error_row", "score_utterance", "summarize"]

#: SimulEval latency scores kept per utterance (s): non-computation-aware, then ``_CA``.
LATENCY_COLUMNS: tuple[str, ...] = (
    "StartOffset", "EndOffset", "ATD", "AL", "LAAL",
    "StartOffset_CA", "EndOffset_CA", "ATD_CA", "AL_CA", "LAAL_CA",
)  # fmt: skip


def _joined(df: pd.DataFrame, column: str) -> str:
    if df.empty or column not in df.columns:
        return ""
    rows = df[df["status"].astype("string").eq("ok").fillna(False).astype(bool)]
    if "segment_id" in rows.columns:
        rows = rows.sort_values("segment_id", kind="stable")
    return " ".join(str(v).strip() for v in rows[column] if isinstance(v, str) and v.strip())


def _base_row(utt: CorpusUtterance, settings: EvalSettings) -> dict[str, Any]:
    return {
        "utterance_id": utt.id,
        "audio": str(utt.audio),
        "source_text": utt.source_text,
        "target_text": utt.target_text,
        "engines": settings.engines,
        "policy": settings.policy,
        "chunk_ms": settings.chunk_ms,
        "pace": settings.pace,
        "latency_valid": settings.pace == "realtime",
        "finished_at": time.time(),
    }


def error_row(utt: CorpusUtterance, settings: EvalSettings, exc: BaseException) -> dict[str, Any]:
    """The row of an utterance whose session failed (re-running the evaluation retries it)."""
    return {**_base_row(utt, settings), "error": f"{type(exc).__name__}: {exc}"}


def _sentence_scores(ref: str | None, hyp: str, target_lang: str) -> dict[str, float]:
    from sacrebleu.metrics.bleu import BLEU
    from sacrebleu.metrics.chrf import CHRF

    from ..quality import bleu_tokenizer

    if not ref:
        return {"bleu": math.nan, "chrf": math.nan}
    bleu = BLEU(tokenize=bleu_tokenizer(target_lang), effective_order=True)
    return {
        "bleu": float(bleu.sentence_score(hyp, [ref]).score),
        "chrf": float(CHRF().sentence_score(hyp, [ref]).score),
    }


def score_utterance(
    df: pd.DataFrame,
    utt: CorpusUtterance,
    settings: EvalSettings,
    *,
    duration_s: float,
    heard: str | None,
) -> dict[str, Any]:
    """The utterance's row (see the module docstring); duration_s: its audio length (s)."""
    from ..cost import estimate_cost
    from ..metrics import session_metrics
    from ..quality import wer

    row = _base_row(utt, settings)
    hyp_t, hyp_m = _joined(df, "transcript"), _joined(df, "translation")
    row.update(transcript=hyp_t, translation=hyp_m, asr_transcript=heard, error=None)
    row["duration_s"] = duration_s
    row["segments"] = len(df)
    row["wer"] = wer([utt.source_text], [hyp_t]) if utt.source_text else math.nan
    row.update(_sentence_scores(utt.target_text, hyp_m, settings.target_lang))
    latency = session_metrics(df, source_duration_s=duration_s, reference=utt.target_text or None)
    row.update({name: float(latency[name]) for name in LATENCY_COLUMNS})
    e2e = pd.to_numeric(df.get("ear_to_ear_s", pd.Series(dtype=float)), errors="coerce")
    row["ear_to_ear_median_s"] = float(e2e.median()) if e2e.notna().any() else math.nan
    row["cost_usd"] = estimate_cost(df, audio_seconds=duration_s).total_usd if len(df) else 0.0
    return row


@dataclass(frozen=True, slots=True)
class EvalSummary:
    """Corpus-level figures of an evaluation.

    utterances / failed: rows scored / rows with an error. bleu / chrf (0–100) with their
    sacrebleu signatures; wer (fraction); asr_bleu (0–100, NaN without a recognizer for the
    target language) and asr_bleu_note; latency: each LATENCY_COLUMNS score averaged over
    the utterances (s); latency_valid: every session was paced in real time; cost_usd: sum
    of the per-utterance estimates; audio_s: source audio evaluated (s).
    """

    utterances: int
    failed: int
    bleu: float
    bleu_signature: str
    chrf: float
    chrf_signature: str
    wer: float
    asr_bleu: float
    asr_bleu_note: str
    latency: dict[str, float]
    latency_valid: bool
    cost_usd: float
    audio_s: float

    def table(self) -> pd.DataFrame:
        """One row per figure: ``value`` and ``unit``."""
        rows: list[tuple[str, float, str]] = [
            ("utterances", self.utterances, "count"),
            ("failed", self.failed, "count"),
            ("BLEU", self.bleu, "0-100"),
            ("chrF", self.chrf, "0-100"),
            ("WER", self.wer, "fraction"),
            ("ASR-BLEU", self.asr_bleu, "0-100"),
        ]
        rows += [(name, value, "s") for name, value in self.latency.items()]
        rows += [("cost", self.cost_usd, "USD"), ("audio", self.audio_s, "s")]
        frame = pd.DataFrame(rows, columns=["metric", "value", "unit"])
        return frame.set_index("metric")

    def text(self) -> str:
        """The summary for a terminal: the table, the signatures and what is not valid."""
        lines = [self.table().to_string(float_format=lambda v: f"{v:.3f}")]
        lines.append(f"BLEU signature: {self.bleu_signature}")
        lines.append(f"chrF signature: {self.chrf_signature}")
        lines.append(f"ASR-BLEU: {self.asr_bleu_note}")
        if not self.latency_valid:
            lines.append(
                "latency: NOT MEANINGFUL — the sessions were not paced in real time "
                "(--pace none), so session seconds are not stream seconds; quality only"
            )
        else:
            lines.append(
                "latency: SimulEval scores (s), each the mean over utterances; _CA = "
                "computation-aware (real output times)"
            )
        return "\n".join(lines)


def _corpus_text_scores(ok: pd.DataFrame, target_lang: str) -> tuple[float, str, float, str]:
    from sacrebleu.metrics.bleu import BLEU
    from sacrebleu.metrics.chrf import CHRF

    from ..quality import bleu_tokenizer

    pairs = ok[ok["target_text"].notna() & ok["target_text"].astype(str).str.len().gt(0)]
    bleu, chrf = BLEU(tokenize=bleu_tokenizer(target_lang)), CHRF()
    if pairs.empty:
        return math.nan, "no reference translations", math.nan, "no reference translations"
    hyps = [str(h or "") for h in pairs["translation"]]
    refs = [[str(r) for r in pairs["target_text"]]]
    b = float(bleu.corpus_score(hyps, refs).score)
    c = float(chrf.corpus_score(hyps, refs).score)
    return b, str(bleu.get_signature()), c, str(chrf.get_signature())


def _asr_bleu(ok: pd.DataFrame, settings: EvalSettings) -> tuple[float, str]:
    from ..quality import bleu, normalize_text

    if "asr_transcript" not in ok.columns or ok["asr_transcript"].isna().all():
        if settings.target_lang != "en":
            why = f"no offline recognizer for {settings.target_lang!r} (pocketsphinx: English only)"
        else:
            why = "not computed (pocketsphinx not installed, or asr_bleu off)"
        return math.nan, why
    rows = ok[ok["asr_transcript"].notna() & ok["target_text"].notna()]
    if rows.empty:
        return math.nan, "no utterance has both re-recognised speech and a reference"
    hyps = [normalize_text(str(t)) for t in rows["asr_transcript"]]
    refs = [normalize_text(str(t)) for t in rows["target_text"]]
    return bleu(refs, hyps, target_lang="en"), (
        f"pocketsphinx on the synthesised speech, {len(rows)} utterances, normalised text"
    )


def _wer(ok: pd.DataFrame) -> float:
    from ..quality import wer

    rows = ok[ok["source_text"].notna()]
    if rows.empty:
        return math.nan
    return wer([str(t) for t in rows["source_text"]], [str(t or "") for t in rows["transcript"]])


def summarize(rows: pd.DataFrame, settings: EvalSettings) -> EvalSummary:
    """Corpus figures from the per-utterance rows (see the module docstring)."""
    failed = (
        rows["error"].notna() if "error" in rows.columns else pd.Series(False, index=rows.index)
    )
    ok = rows[~failed]
    bleu, bleu_sig, chrf, chrf_sig = _corpus_text_scores(ok, settings.target_lang)
    asr, asr_note = _asr_bleu(ok, settings)
    latency = {
        name: float(pd.to_numeric(ok[name], errors="coerce").mean()) if name in ok else math.nan
        for name in LATENCY_COLUMNS
    }
    valid = bool(len(ok)) and bool(ok["latency_valid"].astype(bool).all())
    return EvalSummary(
        utterances=len(ok), failed=int(failed.sum()), bleu=bleu, bleu_signature=bleu_sig,
        chrf=chrf, chrf_signature=chrf_sig, wer=_wer(ok), asr_bleu=asr, asr_bleu_note=asr_note,
        latency=latency, latency_valid=valid,
        cost_usd=float(pd.to_numeric(ok.get("cost_usd", pd.Series(dtype=float))).sum()),
        audio_s=float(pd.to_numeric(ok.get("duration_s", pd.Series(dtype=float))).sum()),
    )  # fmt: skip


def plot_eval(rows: pd.DataFrame, *, latency: str = "AL", quality: str = "bleu") -> Any:
    """Latency vs quality, one point per utterance, and the per-utterance latency spread.

    latency: a LATENCY_COLUMNS name (s); quality: ``bleu``, ``chrf`` or ``wer``. Returns a
    matplotlib Figure; unpaced runs are titled as such (their latency is not meaningful).
    """
    from ..plots import _figure  # a pyplot-free Figure that shows itself in notebooks

    ok = rows[rows["error"].isna()] if "error" in rows.columns else rows
    fig = _figure(10.0, 4.0)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.scatter(pd.to_numeric(ok[latency], errors="coerce"), ok[quality], alpha=0.7)
    ax1.set_xlabel(f"{latency} (s)")
    ax1.set_ylabel(quality)
    ax1.set_title("latency vs quality, per utterance")
    columns: Sequence[str] = [c for c in ("StartOffset", "AL", "LAAL", "EndOffset") if c in ok]
    data = [pd.to_numeric(ok[c], errors="coerce").dropna().to_numpy() for c in columns]
    ax2.boxplot(data, tick_labels=list(columns))
    ax2.set_ylabel("s")
    ax2.set_title("SimulEval latency over utterances")
    if len(ok) and not ok["latency_valid"].astype(bool).all():
        fig.suptitle("unpaced run: latency NOT meaningful (quality only)")
    return fig
