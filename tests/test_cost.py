"""Cost estimates from a segment log."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from s2st_kit import cost
from s2st_kit.cost import PRICES, PRICES_AS_OF, estimate_cost
from s2st_kit.errors import ConfigError


def test_public_api_and_dated_table():
    assert set(cost.__all__) == {
        "PRICES",
        "PRICES_AS_OF",
        "CostEstimate",
        "PollyEngine",
        "estimate_cost",
    }
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", PRICES_AS_OF)
    for engine in ("standard", "neural", "long-form", "generative"):
        assert PRICES[f"polly_{engine}_per_million_chars"] > 0


def _log(asr="aws-transcribe", mt="aws-translate", tts="aws-polly") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "asr_engine": [asr] * 3,
            "mt_engine": [mt] * 3,
            "tts_engine": [tts] * 3,
            "audio_end_s": [10.0, 40.0, 118.0],
            "chars_translated": [400_000, 350_000, 250_000],  # 1e6 in all
            "chars_synthesized": [200_000, 300_000, 0],  # 5e5 in all
            "status": ["ok", "ok", "error"],
        }
    )


def test_all_aws_session_hand_worked():
    est = estimate_cost(_log(), audio_seconds=120.0)
    # Transcribe: 120 s = 2 min x $0.024
    assert est.transcribe_usd == pytest.approx(2 * 0.024)
    # Translate: 1,000,000 chars x $15 / 1e6
    assert est.translate_usd == pytest.approx(15.0)
    # Polly neural: 500,000 chars x $16 / 1e6
    assert est.polly_usd == pytest.approx(8.0)
    assert est.total_usd == pytest.approx(0.048 + 15 + 8)
    # per hour of speech: x 30 (120 s -> 3600 s)
    assert est.total_per_hour_usd == pytest.approx(30 * est.total_usd)
    assert est.transcribe_per_hour_usd == pytest.approx(60 * 0.024)
    assert est.estimate and est.prices_as_of == PRICES_AS_OF
    table = est.table()
    assert list(table.index) == ["transcribe", "translate", "polly", "total"]
    assert table.loc["polly", "session_usd"] == pytest.approx(8.0)


def test_polly_engine_rates_and_validation():
    std = estimate_cost(_log(), polly_engine="standard", audio_seconds=60)
    gen = estimate_cost(_log(), polly_engine="generative", audio_seconds=60)
    assert std.polly_usd == pytest.approx(0.5 * 4.0)
    assert gen.polly_usd == pytest.approx(0.5 * 30.0)
    with pytest.raises(ConfigError):
        estimate_cost(_log(), polly_engine="turbo")  # type: ignore[arg-type]


def test_transcribe_minimum_and_default_audio_seconds():
    short = estimate_cost(_log(mt="apertium", tts="espeak"), audio_seconds=3.0)
    assert short.transcribe_usd == pytest.approx(15 / 60 * 0.024)  # 15 s minimum
    default = estimate_cost(_log(mt="apertium", tts="espeak"))
    assert default.audio_seconds == 118.0  # max(audio_end_s)
    assert default.translate_usd == 0 and default.polly_usd == 0


def test_offline_and_simulated_sessions_cost_nothing():
    for names in (("pocketsphinx", "apertium", "espeak"), ("simulated",) * 3):
        est = estimate_cost(_log(*names), audio_seconds=600)
        assert est.total_usd == 0.0
        assert est.chars_translated == 0 and est.chars_synthesized == 0
    # Mixed: only the AWS stage is billed.
    mixed = estimate_cost(_log(asr="pocketsphinx", mt="aws-translate", tts="espeak"))
    assert mixed.transcribe_usd == 0 and mixed.translate_usd == pytest.approx(15.0)


def test_empty_log():
    est = estimate_cost(pd.DataFrame())
    assert est.total_usd == 0 and est.audio_seconds == 0
    assert math.isnan(est.total_per_hour_usd)
    assert est.to_dict()["polly_engine"] == "neural"
