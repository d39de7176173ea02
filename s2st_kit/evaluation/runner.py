"""One corpus utterance as one session, and the engines the sessions share.

:func:`run_utterance` reads the utterance's span of audio, runs it through a
:class:`~s2st_kit.pipeline.Pipeline` (paced like a microphone with ``pace="realtime"``, or as
fast as consumed with ``pace="none"``), and scores the session (:mod:`.scores`).

:class:`EnginePool` holds the engines: ``size`` sets of the named bundle built **once** (per
process, or per Dask worker) and lent to one session at a time — pocketsphinx decodes one
stream at a time per recognizer, so K concurrent sessions need K sets. Engines are reused
across sessions (the engine protocols require that). The simulated engines are the
exception: they follow each utterance's own script (its reference transcript over the
speech found in its audio) and return its reference translation, so they are made per
utterance; they hold no model, so that costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..config import PipelineConfig, PolicyName
from ..engines import Engines
from ..errors import ConfigError, S2STError
from .corpus import CorpusUtterance

__all__ = ["EnginePool", "EvalSettings", "Pace", "UtteranceResult", "run_utterance"]

Pace = Literal["realtime", "none"]


@dataclass(frozen=True, slots=True)
class EvalSettings:
    """What an evaluation runs: the same for every utterance (and saved beside the results).

    engines: bundle name (``simulated``, ``offline``, ``aws``). source_lang / target_lang:
    ISO 639-1. policy / chunk_ms (ms): as :class:`~s2st_kit.config.PipelineConfig`.
    pace: ``"realtime"`` (default; latency scores need it) or ``"none"`` (quality only:
    latency columns are then flagged ``latency_valid=False``). preset / seed: the simulated
    engines' latency preset and seed. asr_bleu: re-recognise the synthesised speech for
    ASR-BLEU when a recognizer for ``target_lang`` is installed (offline: English only).
    """

    engines: str = "simulated"
    source_lang: str = "en"
    target_lang: str = "es"
    policy: PolicyName = "final"
    chunk_ms: int = 100
    pace: Pace = "realtime"
    preset: str = "cloud-like"
    seed: int = 0
    asr_bleu: bool = True

    def __post_init__(self) -> None:
        if self.pace not in ("realtime", "none"):
            raise ConfigError(f"pace must be 'realtime' or 'none', got {self.pace!r}")
        self.config()  # PipelineConfig checks chunk_ms, policy, languages

    def config(self, session_id: str | None = None) -> PipelineConfig:
        """The pipeline configuration of one session."""
        return PipelineConfig(
            source_lang=self.source_lang, target_lang=self.target_lang,
            chunk_ms=self.chunk_ms, policy=self.policy, session_id=session_id,
        )  # fmt: skip

    def to_json(self) -> str:
        """The settings as sorted JSON (the results folder's ``eval.json``)."""
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True, slots=True)
class UtteranceResult:
    """One utterance's session: its segment log (with ``utterance_id``) and its score row."""

    utterance_id: str
    segments: pd.DataFrame = field(compare=False)
    row: dict[str, Any] = field(compare=False)


def _recognizer_for(lang: str) -> Any | None:
    """A recognizer for ASR-BLEU in ``lang``: pocketsphinx for English, else None."""
    if lang != "en":
        return None
    try:
        from ..engines.offline.pocketsphinx import PocketSphinxRecognizer
    except ImportError:
        return None
    try:
        return PocketSphinxRecognizer()
    except S2STError:
        return None


class EnginePool:
    """``size`` engine sets built once and lent to one session at a time (see the module
    docstring), plus the recognizer that re-recognises output speech for ASR-BLEU."""

    def __init__(self, settings: EvalSettings, size: int) -> None:
        if size < 1:
            raise ConfigError(f"concurrency must be >= 1, got {size}")
        self.settings = settings
        self.size = size
        self._free: asyncio.Queue[Engines] = asyncio.Queue()
        self._built: list[Engines] = []
        self.scorer: Any | None = None
        self._scorer_lock = asyncio.Lock()
        self.opened = False

    async def open(self) -> EnginePool:
        """Build the engines (in worker threads: model loading blocks)."""
        if self.settings.engines != "simulated":
            for _ in range(self.size):
                eng = await asyncio.to_thread(Engines.create, self.settings.engines)
                self._built.append(eng)
                self._free.put_nowait(eng)
        if self.settings.asr_bleu:
            self.scorer = await asyncio.to_thread(_recognizer_for, self.settings.target_lang)
        self.opened = True
        return self

    async def aclose(self) -> None:
        """Close every engine built."""
        for eng in self._built:
            await eng.aclose()
        self._built.clear()
        if self.scorer is not None:
            await self.scorer.aclose()
            self.scorer = None

    @contextlib.asynccontextmanager
    async def engines_for(
        self, utt: CorpusUtterance, samples: np.ndarray, rate: int
    ) -> AsyncIterator[Engines]:
        """Engines for one session: a pooled set (returned afterwards) or, for the simulated
        bundle, a fresh set following ``utt``."""
        if self.settings.engines == "simulated":
            eng = await asyncio.to_thread(_simulated_for, self.settings, utt, samples, rate)
            try:
                yield eng
            finally:
                await eng.aclose()
            return
        eng = await self._free.get()
        try:
            yield eng
        finally:
            self._free.put_nowait(eng)

    async def recognize(self, audio: np.ndarray, rate: int) -> str | None:
        """What the ASR-BLEU recognizer hears in ``audio`` (None without one)."""
        if self.scorer is None or not len(audio):
            return None
        from ..quality import recognize

        async with self._scorer_lock:
            return await recognize(
                audio, recognizer=self.scorer, language=self.settings.target_lang,
                sample_rate=rate,
            )  # fmt: skip


def _simulated_for(
    settings: EvalSettings, utt: CorpusUtterance, samples: np.ndarray, rate: int
) -> Engines:
    """Simulated engines for one utterance: its transcript over the speech found in it,
    its reference translation returned verbatim."""
    from ..engines.simulated import engines_for_clip, script_from_audio

    regions = script_from_audio(samples, rate)
    text = (utt.source_text or "").strip()
    script: list[tuple[str, float, float]] = []
    if regions:
        start, end = regions[0].start_s, regions[-1].end_s
        script = [(text or regions[0].text, start, end)]
    references = None
    if text and utt.target_text:
        references = {settings.target_lang: {text: utt.target_text}}
    found = engines_for_clip(
        None, script=script, references=references, preset=settings.preset, seed=settings.seed
    )
    return found.build()


def read_span(utt: CorpusUtterance) -> tuple[np.ndarray, int]:
    """The utterance's audio (mono float32) and rate (Hz). Blocking: call from a thread."""
    from ..audio.file import read_audio

    samples, rate = read_audio(utt.audio)
    first = round(utt.offset_s * rate)
    last = len(samples) if utt.duration_s is None else first + round(utt.duration_s * rate)
    span = samples[first:last]
    if not len(span):
        raise ConfigError(
            f"utterance {utt.id!r}: offset {utt.offset_s} s / duration {utt.duration_s} s "
            f"selects no audio of {utt.audio} ({len(samples) / rate:.2f} s long)"
        )
    return span, rate


def session_id_for(utt_id: str) -> str:
    """A stable session id for an utterance (the same in every run and executor)."""
    return "eval-" + hashlib.sha1(utt_id.encode()).hexdigest()[:12]


async def run_utterance(
    pool: EnginePool, utt: CorpusUtterance, *, settings: EvalSettings | None = None
) -> UtteranceResult:
    """Run one utterance as a session and score it; a failing session gives a row with its
    ``error`` (the evaluation goes on)."""
    from .scores import error_row, score_utterance

    settings = settings or pool.settings
    try:
        samples, rate = await asyncio.to_thread(read_span, utt)
        df, heard = await _session(pool, settings, utt, samples, rate)
    except S2STError as exc:
        return UtteranceResult(utt.id, pd.DataFrame(), error_row(utt, settings, exc))
    row = await asyncio.to_thread(
        score_utterance, df, utt, settings, duration_s=len(samples) / rate, heard=heard
    )
    return UtteranceResult(utt.id, df.assign(utterance_id=utt.id), row)


async def _session(
    pool: EnginePool, settings: EvalSettings, utt: CorpusUtterance, samples: np.ndarray,
    rate: int,
) -> tuple[pd.DataFrame, str | None]:  # fmt: skip
    """The session's segment log, and what the ASR-BLEU recognizer heard in its output."""
    from ..audio import MemorySink, MemorySource, PacedSink
    from ..pipeline import Pipeline

    realtime = settings.pace == "realtime"
    source = MemorySource(samples, rate, chunk_ms=settings.chunk_ms, realtime=realtime)
    memory = MemorySink()
    sink: Any = PacedSink(memory) if realtime else memory
    config = settings.config(session_id_for(utt.id))
    async with pool.engines_for(utt, samples, rate) as eng:
        log = await Pipeline(eng, config, source=source, sink=sink).run()
    log.close()
    df = log.to_pandas()
    heard = await pool.recognize(memory.audio(), memory.sample_rate or rate)
    return df, heard


def nan_if_none(value: Any) -> float:
    """``value`` as float; None → NaN."""
    return math.nan if value is None else float(value)
