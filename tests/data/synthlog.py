"""A realistic synthetic segment log for the analysis tests (no pipeline needed).

The test modules load this file by path (``_synthlog()`` in tests/test_metrics.py and
friends) so that it works whether or not ``tests`` is a package.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from s2st_kit.records import SEGMENT_COLUMNS

_WORDS_EN = "the cat sat on a warm mat while the dog slept near an open door in spring".split()
_WORDS_ES = "el gato se sentó en una alfombra cálida mientras el perro dormía cerca".split()


def make_log(
    n: int = 12,
    *,
    seed: int = 0,
    session_id: str = "synthetic",
    stream_start_t: float = 0.25,
    chunk_ms: int = 100,
    policy: str = "final",
    voice: str | None = "Lucia",
    asr_engine: str = "simulated",
    mt_engine: str = "simulated",
    tts_engine: str = "simulated",
    errors: tuple[int, ...] = (4,),
    dropped: tuple[int, ...] = (),
    asr_scale: float = 1.0,
) -> pd.DataFrame:
    """``n`` segments of a real-time session with every column of SEGMENT_COLUMNS.

    Speech utterances of 1.2-3.5 s separated by 0.3-0.9 s pauses; stream position 0 was
    delivered at session time ``stream_start_t``. Rows in ``errors`` failed in translation
    (no MT end, no TTS, no playback); rows in ``dropped`` were dropped before MT.
    Playback is serial in speech order (a segment waits for the previous one).
    """
    rng = np.random.default_rng(seed)
    rows = []
    position = 0.4
    previous_play_end = 0.0
    for i in range(n):
        speech = float(rng.uniform(1.2, 3.5))
        audio_start = position
        audio_end = audio_start + speech
        position = audio_end + float(rng.uniform(0.3, 0.9))
        n_words = max(2, round(speech * 2.5))
        transcript = " ".join(rng.choice(_WORDS_EN, n_words))
        translation = " ".join(rng.choice(_WORDS_ES, n_words))
        t_speech_end = stream_start_t + audio_end
        t_first_partial = stream_start_t + audio_start + float(rng.uniform(0.2, 0.5))
        t_asr_final = t_speech_end + asr_scale * float(rng.lognormal(np.log(0.45), 0.3))
        t_mt_start = t_asr_final + float(rng.uniform(0.001, 0.006))
        t_mt_end = t_mt_start + float(rng.lognormal(np.log(0.18), 0.35))
        t_tts_start = t_mt_end + float(rng.uniform(0.0, 0.03))
        t_tts_first_audio = t_tts_start + float(rng.lognormal(np.log(0.22), 0.3))
        t_tts_end = t_tts_first_audio + float(rng.uniform(0.05, 0.4))
        tts_audio_s = len(translation) / 14.0
        t_play_start = max(t_tts_first_audio + 0.01, previous_play_end)
        t_play_end = t_play_start + tts_audio_s
        row = {
            "session_id": session_id,
            "segment_id": i,
            "source_lang": "en",
            "target_lang": "es",
            "detected_lang": None,
            "asr_engine": asr_engine,
            "mt_engine": mt_engine,
            "tts_engine": tts_engine,
            "voice": voice,
            "chunk_ms": chunk_ms,
            "policy": policy,
            "audio_start_s": audio_start,
            "audio_end_s": audio_end,
            "transcript": transcript,
            "translation": translation,
            "n_partials": int(rng.integers(2, 9)),
            "asr_confidence": float(rng.uniform(0.7, 0.99)),
            "t_speech_end": t_speech_end,
            "t_first_partial": t_first_partial,
            "t_asr_final": t_asr_final,
            "t_mt_start": t_mt_start,
            "t_mt_end": t_mt_end,
            "t_tts_start": t_tts_start,
            "t_tts_first_audio": t_tts_first_audio,
            "t_tts_end": t_tts_end,
            "t_play_start": t_play_start,
            "t_play_end": t_play_end,
            "tts_audio_s": tts_audio_s,
            "chars_translated": len(transcript),
            "chars_synthesized": len(translation),
            "status": "ok",
            "error": None,
        }
        # Nothing after translation started exists for a failed or dropped segment.
        no_output = dict.fromkeys(
            (
                "t_mt_end",
                "t_tts_start",
                "t_tts_first_audio",
                "t_tts_end",
                "t_play_start",
                "t_play_end",
            )
        )
        no_output.update(translation="", tts_audio_s=0.0, chars_synthesized=0)
        if i in errors:
            row.update(
                no_output,
                status="error",
                error="EngineTimeoutError: translation took longer than 5 s",
            )
        elif i in dropped:
            row.update(
                no_output,
                t_mt_start=None,
                chars_translated=0,
                status="dropped",
                error="segment queue full (overflow=drop-oldest)",
            )
        else:
            previous_play_end = t_play_end
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SEGMENT_COLUMNS))
