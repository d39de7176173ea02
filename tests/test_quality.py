"""WER / CER / BLEU / chrF and ASR-BLEU."""

from __future__ import annotations

import math
from collections.abc import AsyncIterable, AsyncIterator

import numpy as np
import pandas as pd
import pytest
import soundfile

from s2st_kit import quality
from s2st_kit.engines.protocols import Recognizer
from s2st_kit.errors import ConfigError
from s2st_kit.quality import (
    ReferencesMissingError,
    asr_bleu,
    bleu,
    bleu_tokenizer,
    cer,
    chrf,
    normalize_text,
    score_session,
    segment_scores,
    wer,
)
from s2st_kit.records import AudioChunk, Transcript


def test_public_api():
    assert set(quality.__all__) == {
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
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("  Don't   stop\tnow.  ", "dont stop now"),
        ("It’s 15 km—no, 15.5 km.", "its 15 km no 15.5 km"),
        ("1,000 people at 10:30, 2.", "1,000 people at 10:30 2"),
        ("¿Qué tal? «Bien»", "qué tal bien"),
        ("$5 or 5%", "$5 or 5%"),
        ("", ""),
    ],
)
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


def test_wer_and_cer_hand_worked():
    # "the cat sat" vs "the cat sat down": 1 insertion / 3 words
    assert wer(["The cat sat."], ["the cat sat down"]) == pytest.approx(1 / 3)
    # pooled over the corpus: (1 sub + 0) / (3 + 2) words
    assert wer(["a b c", "d e"], ["a x c", "d e"]) == pytest.approx(1 / 5)
    # "abcd" vs "abed": one substitution in 4 characters
    assert cer(["abcd"], ["ABED"]) == pytest.approx(1 / 4)
    assert wer(["", "..."], ["", ""]) == 0.0
    assert wer([""], ["noise"]) == math.inf
    with pytest.raises(ValueError):
        wer(["a"], ["a", "b"])
    with pytest.raises(TypeError):
        wer("a b", "a b")


def test_bleu_chrf_and_tokenizers():
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    assert chrf(["el gato"], ["el gato"]) == pytest.approx(100.0)
    low = bleu(["the cat sat on the mat"], ["a dog stood under a table"])
    assert 0 <= low < 10
    assert bleu_tokenizer("es") == "13a"
    assert bleu_tokenizer("zh") == "zh"
    assert bleu_tokenizer("ja") == "char"
    assert bleu_tokenizer(None) == "13a"
    # Without the char tokenizer unsegmented Japanese is one "word" and scores 0.
    ref, hyp = ["今日は良い天気です"], ["今日は良い天気だ"]
    assert bleu(ref, hyp, target_lang="ja") > 40
    assert bleu(ref, hyp, tokenize="13a") == 0.0


def _log() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment_id": [1, 0, 2],
            "status": ["ok", "ok", "error"],
            "target_lang": ["es"] * 3,
            "transcript": ["on the mat", "The cat sat", "lost"],
            "translation": ["en la alfombra", "El gato se sentó", ""],
        }
    )


def test_score_session_whole_session_references():
    scores = score_session(
        _log(),
        {"transcript": "The cat sat on the mat.", "translation": "El gato se sentó en la alfombra"},
    )
    assert scores["level"] == "session"
    # segments are joined in speech order (segment_id 0 then 1); error rows are left out
    assert scores["wer"] == 0.0 and scores["cer"] == 0.0
    assert scores["bleu"] == pytest.approx(100.0)
    assert scores["chrf"] == pytest.approx(100.0)
    assert scores["n_segments"] == 2
    assert scores["bleu_tokenize"] == "13a"


def test_score_session_per_segment_references():
    refs = {
        "transcript": {0: "the cat sat", 1: "on a mat"},
        "translation": {0: "El gato se sentó", 2: "perdido"},
    }
    scores = score_session(_log(), refs)
    assert scores["level"] == "segment"
    assert scores["wer"] == pytest.approx(1 / 6)  # one substitution in 6 reference words
    assert scores["bleu"] == pytest.approx(100.0)  # only segment 0 is ok and has one
    assert scores["n_segments"] == 1
    table = segment_scores(_log(), refs)
    assert list(table.index) == [0, 1]
    assert table.loc[1, "wer"] == pytest.approx(1 / 3)
    assert math.isnan(table.loc[1, "bleu"])
    assert table.loc[0, "chrf"] == pytest.approx(100.0)


def test_score_session_only_one_kind_of_reference():
    scores = score_session(_log(), {"translation": "El gato se sentó en la alfombra"})
    assert math.isnan(scores["wer"]) and scores["bleu"] == pytest.approx(100.0)


@pytest.mark.parametrize("refs", [None, {}, {"transcript": None, "translation": ""}])
def test_missing_references_say_where_they_come_from(refs):
    with pytest.raises(ReferencesMissingError) as info:
        score_session(_log(), refs)
    assert isinstance(info.value, ConfigError)
    assert "data/manifest.json" in str(info.value)


class FakeRecognizer:
    """Hears the duration of the audio: maps whole seconds to a canned transcript."""

    name = "fake"
    sample_rate = 16000

    def __init__(self, by_seconds: dict[int, str]) -> None:
        self.by_seconds = by_seconds
        self.rates: set[int] = set()

    def languages(self) -> frozenset[str]:
        return frozenset({"es"})

    async def stream(
        self, chunks: AsyncIterable[AudioChunk], *, language: str
    ) -> AsyncIterator[Transcript]:
        n = 0
        async for chunk in chunks:
            self.rates.add(chunk.sample_rate)
            n += chunk.n_samples
        seconds = round(n / self.sample_rate)
        text = self.by_seconds.get(seconds, "")
        yield Transcript(text=text[:3], is_final=False, start_s=0, end_s=1, utterance_id=0)
        yield Transcript(text=text, is_final=True, start_s=0, end_s=seconds, utterance_id=0)

    async def aclose(self) -> None:
        pass


async def test_asr_bleu_with_fake_recognizer(tmp_path):
    recognizer = FakeRecognizer({1: "El gato se sentó", 2: "en la alfombra roja"})
    assert isinstance(recognizer, Recognizer)
    wav = tmp_path / "two_seconds.wav"
    soundfile.write(wav, np.zeros((44100, 2), dtype=np.float32), 22050)  # stereo, 22.05 kHz
    one_second = AudioChunk.from_array(np.zeros(24000, dtype=np.int16), 24000)
    result = await asr_bleu(
        [one_second, wav],
        ["el gato se sentó.", "En la alfombra roja"],
        recognizer=recognizer,
        language="es",
    )
    assert recognizer.rates == {16000}  # everything resampled to the recognizer's rate
    assert result.transcripts == ("El gato se sentó", "en la alfombra roja")
    assert result.bleu == pytest.approx(100.0)  # normalised: case and punctuation ignored
    assert result.chrf == pytest.approx(100.0)
    assert result.tokenize == "13a"


async def test_asr_bleu_needs_references_and_matching_lengths():
    recognizer = FakeRecognizer({})
    with pytest.raises(ReferencesMissingError):
        await asr_bleu([np.zeros(10)], None, recognizer=recognizer, language="es")
    with pytest.raises(ValueError):
        await asr_bleu([np.zeros(10)], ["a", "b"], recognizer=recognizer, language="es")
    with pytest.raises(ValueError, match="sample_rate"):
        await asr_bleu([np.zeros(10)], ["a"], recognizer=recognizer, language="es")
    result = await asr_bleu(
        [(np.zeros(16000, dtype=np.float32), 16000)],
        ["nada"],
        recognizer=recognizer,
        language="es",
    )
    assert result.transcripts == ("",) and result.bleu == 0.0
