"""Reusable workloads: a long dense talk, and running it time-scaled through the simulated stack.

Lag control matters on long continuous speech whose translation is longer than the source.
:func:`dense_talk` writes such a talk as a script for the simulated recognizer: sentences
separated by short pauses (0.3–0.7 s), each sentence timed so that its translation
(``"[es] " + text``, which the simulated translator returns, spoken by the simulated
synthesizer at ``chars_per_s``) lasts ``ratio`` × the talk's time it takes (the sentence and
the pause after it). With ``ratio`` > 1 and no control, the listener falls further behind with
every sentence.

:func:`run_talk` plays such a talk through a :class:`~s2st_kit.Pipeline` in real time,
uniformly sped up ``k`` times (the *time scale*): the source and the paced sink run at
``speed=k``, every latency of the model is divided by ``k`` (:func:`scaled_model`) and the
session clock runs ``k`` times faster than the wall (``SessionClock(scale=k)``), so the log
holds the times of the talk as if it had run in real time. The benchmark suite
(``benchmarks/drift.py``), the notebook ``07_long_speech`` and the lag-control session
tests use these.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .audio import MemorySink, MemorySource, PacedSink
from .clock import SessionClock
from .config import PipelineConfig
from .engines import Engines
from .engines.simulated import (
    PRESETS,
    LatencyModel,
    LogNormal,
    SimulatedRecognizer,
    SimulatedSynthesizer,
    SimulatedTranslator,
)
from .pipeline import Pipeline

__all__ = ["DenseTalk", "dense_talk", "run_talk", "scaled_model", "talk_audio", "talk_engines"]

#: The simulated synthesizer's natural speaking rate used by the talks (characters / s).
CHARS_PER_S = 14.0
_WORDS = "the of and to in we will that this talk about our work data model people time".split()


@dataclass(frozen=True, slots=True)
class DenseTalk:
    """A talk for the simulated recognizer.

    script: ``(text, start_s, end_s)`` per sentence, in order (s from the talk's start).
    duration_s: the whole talk's length (s), one second of silence after the last sentence.
    ratio: translated speech / the talk's time, per sentence (e.g. 1.2).
    """

    script: tuple[tuple[str, float, float], ...]
    duration_s: float
    ratio: float

    @property
    def spans(self) -> list[tuple[float, float]]:
        """Where speech is: ``(start_s, end_s)`` per sentence."""
        return [(a, b) for _, a, b in self.script]


def dense_talk(
    minutes: float,
    *,
    ratio: float = 1.2,
    seed: int = 0,
    pause_s: tuple[float, float] = (0.3, 0.7),
    chars_per_s: float = CHARS_PER_S,
) -> DenseTalk:
    """Sentences of 5–11 words with ``pause_s`` pauses (uniform, s) for about ``minutes``;
    each one's translation (``"[es] " + text`` at ``chars_per_s``) lasts ``ratio`` × the
    sentence and the pause after it. Deterministic for a seed."""
    rng = random.Random(seed)
    script: list[tuple[str, float, float]] = []
    t = 0.5
    while t < minutes * 60 - 6:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(5, 11))]
        text = " ".join(words).capitalize() + "."
        pause = rng.uniform(*pause_s)
        duration = len("[es] " + text) / chars_per_s / ratio - pause
        script.append((text, t, t + duration))
        t += duration + pause
    return DenseTalk(tuple(script), t + 1.0, ratio)


def talk_audio(
    duration_s: float, spans: Sequence[tuple[float, float]], sample_rate: int = 16000
) -> np.ndarray:
    """Int16 speech-like tone bursts where ``spans`` (s) are, silence elsewhere.

    Writes each span's slice only, so half an hour of audio takes a fraction of a second.
    """
    out = np.zeros(round(duration_s * sample_rate), np.int16)
    for a, b in spans:
        i, j = round(a * sample_rate), min(out.size, round(b * sample_rate))
        t = np.arange(i, j) / sample_rate
        x = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
        out[i:j] = np.round(x * 32767).astype(np.int16)
    return out


def scaled_model(model: LatencyModel, k: float) -> LatencyModel:
    """``model`` with every latency divided by ``k`` (medians, p95s, per-character time and
    the synthesis real-time factor): the same stack ``k`` times faster."""
    if k == 1:
        return model

    def s(d: LogNormal) -> LogNormal:
        return LogNormal(d.median / k, None if d.p95 is None else d.p95 / k)

    return replace(
        model,
        asr_final_lag=s(model.asr_final_lag),
        asr_partial_lag=s(model.asr_partial_lag),
        mt=s(model.mt),
        mt_per_char=model.mt_per_char / k,
        tts_first_audio=s(model.tts_first_audio),
        tts_rtf=model.tts_rtf / k,
    )


def talk_engines(
    talk: DenseTalk, *, k: float, preset: str = "cloud-like", seed: int = 0
) -> Engines:
    """The simulated stack for ``talk``, its ``preset`` latencies divided by ``k``."""
    model = scaled_model(PRESETS[preset], k)
    return Engines(
        SimulatedRecognizer(talk.script, preset=model, seed=seed),
        SimulatedTranslator(preset=model, seed=seed),
        SimulatedSynthesizer(preset=model, seed=seed, chars_per_s=CHARS_PER_S),
    )


async def run_talk(
    talk: DenseTalk,
    config: PipelineConfig,
    *,
    k: float,
    preset: str = "cloud-like",
    seed: int = 0,
    sink: MemorySink | None = None,
) -> pd.DataFrame:
    """``talk`` through the simulated ``preset`` stack in real time, time-scaled ``k``×.

    config: the session's settings (e.g. ``PipelineConfig(max_lag_s=3.0)``).
    sink: also receives the translated speech (e.g. a :class:`MemorySink` to listen to);
        by default it is only paced and discarded.
    Returns the segment log as a DataFrame, in the talk's seconds (``t_*`` columns).
    """
    engines = talk_engines(talk, k=k, preset=preset, seed=seed)
    source = MemorySource(talk_audio(talk.duration_s, talk.spans), 16000, realtime=True, speed=k)
    pipe = Pipeline(
        engines,
        config,
        source=source,
        sink=PacedSink(sink, speed=k),
        clock=SessionClock(scale=k),
    )
    try:
        log = await pipe.run()
    finally:
        await engines.aclose()
    return log.to_pandas()
