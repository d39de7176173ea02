"""Cloud cost estimates for a session log (AWS list prices; offline and simulated engines are free).

All prices live in :data:`PRICES`, one dated table. They are **estimates**: US East (N.
Virginia) on-demand list prices from the public AWS pricing pages (aws.amazon.com/transcribe/
pricing, /translate/pricing, /polly/pricing) as the authors knew them on :data:`PRICES_AS_OF`,
first volume tier, no free tier, no taxes. Check the pages before budgeting.

Billing rules applied:

* Transcribe streaming is billed per second of audio *sent*, with a 15 s minimum per stream.
  The input audio includes silence, so pass ``audio_seconds`` (the stream length) when you
  know it; otherwise the end of the last logged segment, ``max(audio_end_s)``, is used —
  a lower bound.
* Translate is billed per character sent (``chars_translated``; failed calls count: the
  pipeline only records characters it sent).
* Polly is billed per character synthesised (``chars_synthesized``) at the engine's rate.

A row costs money only where its engine is an AWS one: ``asr_engine`` / ``mt_engine`` /
``tts_engine`` starting with ``aws`` or naming the service (``transcribe``, ``translate``,
``polly``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

from .errors import ConfigError

__all__ = ["PRICES", "PRICES_AS_OF", "CostEstimate", "PollyEngine", "estimate_cost"]

PollyEngine = Literal["standard", "neural", "long-form", "generative"]

#: Date of the price table (ISO 8601).
PRICES_AS_OF = "2025-01-01"

#: USD list prices, us-east-1, first tier — estimates, see the module docstring.
PRICES: dict[str, float] = {
    # Amazon Transcribe, standard streaming (tier 1: first 250,000 min / month)
    "transcribe_streaming_per_minute": 0.024,
    "transcribe_minimum_seconds_per_stream": 15.0,
    # Amazon Translate, standard real-time translation
    "translate_per_million_chars": 15.0,
    # Amazon Polly, per engine
    "polly_standard_per_million_chars": 4.0,
    "polly_neural_per_million_chars": 16.0,
    "polly_long-form_per_million_chars": 100.0,
    "polly_generative_per_million_chars": 30.0,
}

_POLLY_ENGINES = ("standard", "neural", "long-form", "generative")


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Estimated cost of a session, in US dollars.

    transcribe_usd / translate_usd / polly_usd / total_usd: for the session.
    *_per_hour_usd: the same scaled to one hour of input speech (``audio_seconds``).
    audio_seconds: input stream length billed by Transcribe (before the 15 s minimum);
    chars_translated / chars_synthesized: characters billed by Translate / Polly (0 where
    the engine is not AWS). polly_engine: the Polly rate used. prices_as_of: date of
    :data:`PRICES`. estimate: always True — list prices, not a bill.
    """

    transcribe_usd: float
    translate_usd: float
    polly_usd: float
    total_usd: float
    transcribe_per_hour_usd: float
    translate_per_hour_usd: float
    polly_per_hour_usd: float
    total_per_hour_usd: float
    audio_seconds: float
    chars_translated: int
    chars_synthesized: int
    polly_engine: PollyEngine
    prices_as_of: str = PRICES_AS_OF
    estimate: bool = True

    def to_dict(self) -> dict[str, float | int | str | bool]:
        """All fields as a plain dict."""
        return asdict(self)

    def table(self) -> pd.DataFrame:
        """Per-service table: rows transcribe / translate / polly / total, columns
        ``session_usd`` and ``per_hour_usd``."""
        return pd.DataFrame(
            {
                "session_usd": [
                    self.transcribe_usd,
                    self.translate_usd,
                    self.polly_usd,
                    self.total_usd,
                ],
                "per_hour_usd": [
                    self.transcribe_per_hour_usd,
                    self.translate_per_hour_usd,
                    self.polly_per_hour_usd,
                    self.total_per_hour_usd,
                ],
            },
            index=pd.Index(["transcribe", "translate", "polly", "total"], name="service"),
        )


def _is_aws(series: pd.Series, service: str) -> pd.Series:
    names = series.astype("string").fillna("").str.lower()
    return names.str.startswith("aws") | names.str.contains(service, regex=False)


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df.columns:
        return pd.Series(0.0, index=df.index)
    return pd.to_numeric(df[name], errors="coerce").fillna(0.0)


def estimate_cost(
    df: pd.DataFrame,
    *,
    polly_engine: PollyEngine = "neural",
    audio_seconds: float | None = None,
) -> CostEstimate:
    """Estimate what one session cost on AWS (see the module docstring for the rules).

    df: the session's segment log. polly_engine: which Polly rate applies (default
    ``"neural"``). audio_seconds: seconds of audio streamed to Transcribe; default
    ``max(audio_end_s)`` of the log (a lower bound). Per-hour figures divide by
    ``audio_seconds`` (NaN when it is 0).
    """
    if polly_engine not in _POLLY_ENGINES:
        raise ConfigError(
            f"unknown Polly engine {polly_engine!r}; choose one of {', '.join(_POLLY_ENGINES)}"
        )
    if audio_seconds is None:
        ends = _column(df, "audio_end_s")
        audio_seconds = float(ends.max()) if len(ends) else 0.0
    if audio_seconds < 0:
        raise ValueError(f"audio_seconds must be >= 0, got {audio_seconds}")

    def engine(name: str) -> pd.Series:
        if name in df.columns:
            return df[name]
        return pd.Series("", index=df.index)

    uses_transcribe = bool(_is_aws(engine("asr_engine"), "transcribe").any())
    translate_rows = _is_aws(engine("mt_engine"), "translate")
    polly_rows = _is_aws(engine("tts_engine"), "polly")

    transcribe = 0.0
    if uses_transcribe and audio_seconds > 0:
        billed = max(audio_seconds, PRICES["transcribe_minimum_seconds_per_stream"])
        transcribe = billed / 60.0 * PRICES["transcribe_streaming_per_minute"]
    chars_translated = int(_column(df, "chars_translated")[translate_rows].sum())
    chars_synthesized = int(_column(df, "chars_synthesized")[polly_rows].sum())
    translate = chars_translated / 1e6 * PRICES["translate_per_million_chars"]
    polly = chars_synthesized / 1e6 * PRICES[f"polly_{polly_engine}_per_million_chars"]
    total = transcribe + translate + polly
    hours = audio_seconds / 3600.0

    def per_hour(usd: float) -> float:
        return usd / hours if hours > 0 else math.nan

    return CostEstimate(
        transcribe_usd=transcribe,
        translate_usd=translate,
        polly_usd=polly,
        total_usd=total,
        transcribe_per_hour_usd=per_hour(transcribe),
        translate_per_hour_usd=per_hour(translate),
        polly_per_hour_usd=per_hour(polly),
        total_per_hour_usd=per_hour(total),
        audio_seconds=float(audio_seconds),
        chars_translated=chars_translated,
        chars_synthesized=chars_synthesized,
        polly_engine=polly_engine,
    )
