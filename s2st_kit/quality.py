"""Translation-quality scores: WER / CER of transcripts, BLEU / chrF of translations, ASR-BLEU.

**Normalisation** (:func:`normalize_text`, applied to hypothesis *and* reference before WER
and CER, and before ASR-BLEU): Unicode NFKC, lower-case, apostrophes inside words removed
(``don't`` → ``dont``), every other punctuation character (Unicode category ``P*``) replaced
by a space, whitespace collapsed to single spaces and stripped. Numbers are left alone:
punctuation between two digits stays (``15.5``, ``1,000``, ``10:30``), as do ``%``, symbols
(``$``, ``€``) and letters with diacritics. ``"15"`` and ``"fifteen"`` count as different
words, so compare systems that write numbers the same way.

**BLEU / chrF** (sacrebleu, scores 0–100) are computed on the text as produced — case and
punctuation count, as in sacrebleu's standard signature. The BLEU tokenizer is chosen from
the target language when not given: ``"zh"`` for Chinese, ``"char"`` for Japanese, Korean,
Thai, Lao, Khmer and Burmese, ``"13a"`` (sacrebleu's default, WMT's mteval-v13a) for everything
else; none of them needs a download (``flores200`` and ``ja-mecab`` would). Segment-level
BLEU uses ``effective_order=True`` (sacrebleu's recommendation for single sentences). chrF is
sacrebleu's chrF2 (character 6-grams, β = 2, no word n-grams).

**Where references come from**: ``data/manifest.json`` lists the sample clips with their
reference transcript and translation; for your own audio pass them yourself, e.g.
``score_session(df, {"transcript": "...", "translation": "..."})``. A reference may be a
string for the whole session (the hypothesis is then the session's segments joined in
speech order: document-level scores) or a ``{segment_id: text}`` dict (segment-level scores
over the segments present in both, plus corpus scores over those segments).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ConfigError
from .records import AudioChunk

__all__ = [
    "AsrBleuResult",
    "ReferencesMissingError",
    "asr_bleu",
    "bleu",
    "bleu_tokenizer",
    "cer",
    "chrf",
    "normalize_text",
    "recognize",
    "score_session",
    "segment_scores",
    "wer",
]

_REFERENCE_HELP = (
    "References come from data/manifest.json (the sample clips' reference transcripts and "
    "translations) or from you: pass e.g. {'transcript': '...', 'translation': '...'} "
    "(whole session) or {'translation': {segment_id: '...'}} (per segment)."
)

_CHAR_TOKENIZED = frozenset({"ja", "ko", "th", "lo", "km", "my"})
_APOSTROPHES = "'\u2019\u02bc"
_INNER_APOSTROPHE = re.compile(rf"(?<=\w)[{_APOSTROPHES}](?=\w)")
_NUMBER_PUNCTUATION = re.compile(r"(?<=\d)[.,:](?=\d)")
_KEPT_PUNCTUATION = frozenset("%")
_SPACES = re.compile(r"\s+")


class ReferencesMissingError(ConfigError):
    """A score needs reference text that was not supplied (the message says where to get it)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"no reference {what} to score against. {_REFERENCE_HELP}")


# --------------------------------------------------------------------------- text scores


def normalize_text(text: str) -> str:
    """Normalise for WER / CER: NFKC, lower-case, no punctuation, single spaces.

    Apostrophes inside words are dropped (``"Don't"`` → ``"dont"``), other punctuation
    becomes a space; numbers (``15.5``, ``1,000``, ``5%``) and symbols are kept as written.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _INNER_APOSTROPHE.sub("", text)
    keep = {m.start() for m in _NUMBER_PUNCTUATION.finditer(text)}
    text = "".join(
        " "
        if unicodedata.category(ch).startswith("P")
        and ch not in _KEPT_PUNCTUATION
        and i not in keep
        else ch
        for i, ch in enumerate(text)
    )
    return _SPACES.sub(" ", text).strip()


def _pairs(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[list[str], list[str]]:
    if isinstance(references, str) or isinstance(hypotheses, str):
        raise TypeError("pass lists of strings (one per segment), not a single string")
    if len(references) != len(hypotheses):
        raise ValueError(
            f"{len(references)} references but {len(hypotheses)} hypotheses; they must pair up"
        )
    if not references:
        raise ReferencesMissingError("text")
    return list(references), list(hypotheses)


def _error_rate(references: Sequence[str], hypotheses: Sequence[str], *, chars: bool) -> float:
    import jiwer

    refs, hyps = _pairs(references, hypotheses)
    refs = [normalize_text(r) for r in refs]
    hyps = [normalize_text(h) for h in hyps]
    keep = [i for i, r in enumerate(refs) if r]
    if not keep:
        # Nothing to recognise: every hypothesis word is an insertion.
        return 0.0 if not any(hyps) else math.inf
    refs = [refs[i] for i in keep]
    hyps = [hyps[i] for i in keep]
    return float(jiwer.cer(refs, hyps) if chars else jiwer.wer(refs, hyps))


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus word error rate (0 = perfect; can exceed 1) after :func:`normalize_text`.

    (substitutions + deletions + insertions) / reference words, pooled over all pairs
    (jiwer). Pairs whose reference is empty after normalisation are skipped; if all are
    empty the result is 0.0 for empty hypotheses and ``inf`` otherwise.
    """
    return _error_rate(references, hypotheses, chars=False)


def cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus character error rate after :func:`normalize_text` (spaces count as characters)."""
    return _error_rate(references, hypotheses, chars=True)


def bleu_tokenizer(target_lang: str | None) -> str:
    """The sacrebleu tokenizer used for ``target_lang`` (ISO 639-1): zh, char or 13a."""
    lang = (target_lang or "").split("-")[0].lower()
    if lang == "zh":
        return "zh"
    if lang in _CHAR_TOKENIZED:
        return "char"
    return "13a"


def bleu(
    references: Sequence[str],
    hypotheses: Sequence[str],
    *,
    target_lang: str | None = None,
    tokenize: str | None = None,
) -> float:
    """Corpus BLEU (0–100, sacrebleu) of ``hypotheses`` against one reference each.

    tokenize: sacrebleu tokenizer; default :func:`bleu_tokenizer` of ``target_lang``.
    """
    from sacrebleu.metrics.bleu import BLEU

    refs, hyps = _pairs(references, hypotheses)
    metric = BLEU(tokenize=tokenize or bleu_tokenizer(target_lang))
    return float(metric.corpus_score(hyps, [refs]).score)


def chrf(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus chrF2 (0–100, sacrebleu defaults: char 6-grams, β = 2)."""
    from sacrebleu.metrics.chrf import CHRF

    refs, hyps = _pairs(references, hypotheses)
    return float(CHRF().corpus_score(hyps, [refs]).score)


def _sentence_bleu(reference: str, hypothesis: str, tokenize: str) -> float:
    from sacrebleu.metrics.bleu import BLEU

    metric = BLEU(tokenize=tokenize, effective_order=True)
    return float(metric.sentence_score(hypothesis, [reference]).score)


def _sentence_chrf(reference: str, hypothesis: str) -> float:
    from sacrebleu.metrics.chrf import CHRF

    return float(CHRF().sentence_score(hypothesis, [reference]).score)


# --------------------------------------------------------------------------- sessions


def _ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    rows = df
    if "status" in df.columns:
        rows = df[df["status"].astype("string").fillna("").eq("ok").astype(bool)]
    if "segment_id" in rows.columns:
        rows = rows.sort_values("segment_id", kind="stable")
    return rows


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _joined(rows: pd.DataFrame, column: str) -> str:
    if column not in rows.columns:
        return ""
    return " ".join(t for t in (_text(v).strip() for v in rows[column]) if t)


def segment_scores(
    df: pd.DataFrame,
    references: Mapping[str, Mapping[int, str]],
    *,
    target_lang: str | None = None,
    tokenize: str | None = None,
) -> pd.DataFrame:
    """Per-segment scores against ``{"transcript": {id: text}, "translation": {id: text}}``.

    One row per ``status == "ok"`` segment that has a reference, indexed by segment_id,
    with columns ``wer``, ``cer`` (fractions), ``bleu`` (sentence BLEU, effective order) and
    ``chrf`` (0–100); a score is NaN when its reference is missing.
    """
    rows = _ok_rows(df)
    target_lang = target_lang or _session_target(df)
    tok = tokenize or bleu_tokenizer(target_lang)
    transcripts = references.get("transcript") or {}
    translations = references.get("translation") or {}
    if not isinstance(transcripts, Mapping) or not isinstance(translations, Mapping):
        raise TypeError("segment_scores needs {segment_id: text} dicts as references")
    records = []
    for segment_id, row in zip(rows["segment_id"], rows.itertuples(index=False), strict=True):
        sid = int(segment_id)
        rec: dict[str, Any] = {"segment_id": sid}
        ref_t = transcripts.get(sid)
        ref_m = translations.get(sid)
        hyp_t = _text(getattr(row, "transcript", ""))
        hyp_m = _text(getattr(row, "translation", ""))
        rec["wer"] = wer([ref_t], [hyp_t]) if ref_t is not None else math.nan
        rec["cer"] = cer([ref_t], [hyp_t]) if ref_t is not None else math.nan
        rec["bleu"] = _sentence_bleu(ref_m, hyp_m, tok) if ref_m is not None else math.nan
        rec["chrf"] = _sentence_chrf(ref_m, hyp_m) if ref_m is not None else math.nan
        if ref_t is not None or ref_m is not None:
            records.append(rec)
    out = pd.DataFrame.from_records(records, columns=["segment_id", "wer", "cer", "bleu", "chrf"])
    return out.set_index("segment_id")


def _session_target(df: pd.DataFrame) -> str | None:
    if "target_lang" in df.columns and len(df):
        values = df["target_lang"].dropna()
        if len(values):
            return str(values.iloc[0])
    return None


def score_session(
    df: pd.DataFrame,
    references: Mapping[str, Any] | None,
    *,
    target_lang: str | None = None,
    tokenize: str | None = None,
) -> dict[str, Any]:
    """Quality scores of one session's log.

    references: ``{"transcript": ..., "translation": ...}``; each value is a string (the
        whole session's reference, scored against the ok segments joined in speech order)
        or a ``{segment_id: text}`` dict (scored segment by segment). Either key may be
        absent; ``None`` or an empty dict raises :class:`ReferencesMissingError`.
    target_lang: chooses the BLEU tokenizer (default: the log's ``target_lang``).

    Returns ``wer``, ``cer`` (fractions, NaN without a reference transcript), ``bleu``,
    ``chrf`` (0–100, NaN without a reference translation), ``n_segments`` (ok segments
    scored), ``level`` (``"session"`` or ``"segment"``), ``bleu_tokenize`` and
    ``normalization`` (a description of what WER / CER normalise).
    """
    if not references or not any(
        references.get(k) not in (None, "", {}) for k in ("transcript", "translation")
    ):
        raise ReferencesMissingError("transcript or translation")
    target_lang = target_lang or _session_target(df)
    tok = tokenize or bleu_tokenizer(target_lang)
    rows = _ok_rows(df)
    ref_t = references.get("transcript")
    ref_m = references.get("translation")
    out: dict[str, Any] = {
        "wer": math.nan,
        "cer": math.nan,
        "bleu": math.nan,
        "chrf": math.nan,
        "n_segments": len(rows),
        "bleu_tokenize": tok,
        "normalization": "NFKC, lower-case, punctuation removed, spaces collapsed (WER/CER)",
    }
    per_segment = isinstance(ref_t, Mapping) or isinstance(ref_m, Mapping)
    out["level"] = "segment" if per_segment else "session"
    if per_segment:
        out.update(_segment_level(rows, ref_t, ref_m, tok))
    else:
        out.update(_session_level(rows, ref_t, ref_m, tok))
    return out


def _segment_level(rows: pd.DataFrame, ref_t: Any, ref_m: Any, tok: str) -> dict[str, Any]:
    """Scores of the ok segments that have a ``{segment_id: text}`` reference, as a corpus."""
    out: dict[str, Any] = {}
    ids = [int(s) for s in rows["segment_id"]] if "segment_id" in rows.columns else []
    by_id = rows.set_index("segment_id") if ids else rows
    if isinstance(ref_t, Mapping) and ref_t:
        common = [i for i in ids if i in ref_t]
        hyps = [_text(by_id.at[i, "transcript"]) for i in common]
        if common:
            out["wer"] = wer([ref_t[i] for i in common], hyps)
            out["cer"] = cer([ref_t[i] for i in common], hyps)
    if isinstance(ref_m, Mapping) and ref_m:
        common = [i for i in ids if i in ref_m]
        hyps = [_text(by_id.at[i, "translation"]) for i in common]
        if common:
            out["bleu"] = bleu([ref_m[i] for i in common], hyps, tokenize=tok)
            out["chrf"] = chrf([ref_m[i] for i in common], hyps)
        out["n_segments"] = len(common)
    return out


def _session_level(rows: pd.DataFrame, ref_t: Any, ref_m: Any, tok: str) -> dict[str, Any]:
    """Scores of the ok segments joined in speech order against whole-session references."""
    out: dict[str, Any] = {}
    if isinstance(ref_t, str) and ref_t:
        hyp = _joined(rows, "transcript")
        out["wer"] = wer([ref_t], [hyp])
        out["cer"] = cer([ref_t], [hyp])
    if isinstance(ref_m, str) and ref_m:
        hyp = _joined(rows, "translation")
        out["bleu"] = bleu([ref_m], [hyp], tokenize=tok)
        out["chrf"] = chrf([ref_m], [hyp])
    return out


# --------------------------------------------------------------------------- ASR-BLEU


@dataclass(frozen=True, slots=True)
class AsrBleuResult:
    """ASR-BLEU of synthesised speech.

    bleu / chrf: corpus scores (0–100) of the normalised re-recognised text against the
    normalised references. transcripts: what the recognizer heard, one per audio input.
    tokenize: the sacrebleu tokenizer used.
    """

    bleu: float
    chrf: float
    transcripts: tuple[str, ...]
    tokenize: str


AudioInput = str | Path | AudioChunk | Sequence[AudioChunk] | tuple[np.ndarray, int] | np.ndarray


def _load_audio(item: Any, sample_rate: int | None) -> tuple[np.ndarray, int]:
    """Float mono samples and their rate (Hz) from a path, AudioChunk(s) or array."""
    if isinstance(item, str | Path):
        import soundfile

        data, rate = soundfile.read(str(item), dtype="float32", always_2d=True)
        return data.mean(axis=1), int(rate)
    if isinstance(item, AudioChunk):
        return item.samples().astype(np.float32) / 32768.0, item.sample_rate
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], np.ndarray):
        return _as_float_mono(item[0]), int(item[1])
    if isinstance(item, np.ndarray):
        if sample_rate is None:
            raise ValueError("pass sample_rate= (Hz) with bare sample arrays")
        return _as_float_mono(item), sample_rate
    if isinstance(item, Sequence) and item and all(isinstance(c, AudioChunk) for c in item):
        rates = {c.sample_rate for c in item}
        if len(rates) != 1:
            raise ValueError(f"audio chunks mix sample rates {sorted(rates)}")
        pcm = b"".join(c.pcm for c in item)
        return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, rates.pop()
    raise TypeError(f"cannot read audio from {type(item).__name__}")


def _as_float_mono(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        a = a.mean(axis=1)
    if a.dtype == np.int16:
        return a.astype(np.float32) / 32768.0
    return a.astype(np.float32)


async def _chunks(samples: np.ndarray, rate: int, chunk_ms: int) -> AsyncIterator[AudioChunk]:
    step = max(1, rate * chunk_ms // 1000)
    for start in range(0, len(samples), step):
        yield AudioChunk.from_array(samples[start : start + step], rate, start / rate)


async def recognize(
    audio: Any,
    *,
    recognizer: Any,
    language: str,
    sample_rate: int | None = None,
    chunk_ms: int = 100,
) -> str:
    """Transcribe one piece of audio with a :class:`~s2st_kit.engines.protocols.Recognizer`.

    audio: a file path, an AudioChunk or list of them, ``(samples, rate)``, or a sample
    array with ``sample_rate`` (Hz). It is resampled to ``recognizer.sample_rate`` and
    streamed in ``chunk_ms`` chunks (default 100 ms). Returns the final transcripts joined.
    """
    samples, rate = _load_audio(audio, sample_rate)
    want = int(getattr(recognizer, "sample_rate", rate) or rate)
    if want != rate and len(samples):
        import soxr

        samples = soxr.resample(samples, rate, want)
        rate = want
    finals: list[str] = []
    async for transcript in recognizer.stream(_chunks(samples, rate, chunk_ms), language=language):
        if transcript.is_final and transcript.text.strip():
            finals.append(transcript.text.strip())
    return " ".join(finals)


async def asr_bleu(
    audio: Iterable[Any],
    references: Sequence[str] | None,
    *,
    recognizer: Any,
    language: str,
    sample_rate: int | None = None,
    tokenize: str | None = None,
) -> AsrBleuResult:
    """ASR-BLEU: re-recognise synthesised speech and score it against reference translations.

    audio: one item per reference (see :func:`recognize` for accepted forms).
    references: reference translations, one per audio item.
    recognizer: any object with the Recognizer protocol for ``language`` (the *target*
        language, ISO 639-1); it is used, not closed.
    Both the recognised text and the references go through :func:`normalize_text` first,
    because recognizers do not produce case or punctuation (SimulEval does the same with
    ``--transcript-lowercase --transcript-non-punctuation``). Awaitable from a notebook.
    """
    if not references:
        raise ReferencesMissingError("translations for ASR-BLEU")
    items = list(audio)
    if len(items) != len(references):
        raise ValueError(f"{len(items)} audio inputs but {len(references)} references")
    transcripts = []
    for item in items:
        transcripts.append(
            await recognize(item, recognizer=recognizer, language=language, sample_rate=sample_rate)
        )
    tok = tokenize or bleu_tokenizer(language)
    hyps = [normalize_text(t) for t in transcripts]
    refs = [normalize_text(r) for r in references]
    return AsrBleuResult(
        bleu=bleu(refs, hyps, tokenize=tok),
        chrf=chrf(refs, hyps),
        transcripts=tuple(transcripts),
        tokenize=tok,
    )
