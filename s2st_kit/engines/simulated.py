"""Simulated engines: deterministic latency models with real audio in and out.

They make runs reproducible and "what if" studies cheap: how would ear-to-ear latency change
with a faster recognizer, or a synthesizer with a lower time to first audio?

* :class:`SimulatedRecognizer` follows a *script* (utterance texts with their spans in the
  input audio, in seconds). It consumes the audio it is given, emits a partial every
  ``partial_interval_s`` of audio while an utterance is spoken (with the word in progress
  cut short, and words older than ``stable_after_s`` marked stable), and the final after a
  finalization lag drawn from the preset. Without a script, :func:`script_from_audio` finds
  speech by energy and fills it with placeholder words.
* :class:`SimulatedTranslator` waits a modelled latency and returns a reference translation
  when it knows one, else the text tagged with the target language.
* :class:`SimulatedSynthesizer` streams a voiced, speech-like waveform of plausible duration
  (``chars_per_s``) after a modelled time to first audio, at a modelled real-time factor.
* :func:`engines_for_clip` (:func:`aengines_for_clip` from async code) is the one place that
  decides what the three follow for an input: a manifest clip's utterances and reference
  translations, or speech found in any audio file (with a clip's reference transcript spread
  over it when there is one). The CLI, the experiments and the control panel use it.

Presets (:data:`PRESETS`): ``instant`` (no latency at all) and ``cloud-like`` (published
figures: Transcribe final-result lag median 1.14 s / p95 1.53 s; Translate 0.1–0.2 s; Polly
first audio ≈ 0.3 s). Every random draw comes from a generator seeded with ``seed`` and the
item (utterance index or text), so results do not depend on task scheduling.

:class:`Faults` injects throttling, timeouts, a dropped recognizer stream and synthesizer
crashes for robustness tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import os
import random
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets import Clip, find_clip
from ..errors import (
    ConfigError,
    EngineTimeoutError,
    EngineUnavailableError,
    StreamClosedError,
    ThrottledError,
    UnsupportedLanguageError,
    UnsupportedVoiceError,
)
from ..records import AudioChunk, Transcript, Translation, Voice, Word, WordMark
from ..words import estimate_marks
from . import Engines

__all__ = [
    "PRESETS",
    "ClipEngines",
    "Faults",
    "LatencyModel",
    "LogNormal",
    "ScriptUtterance",
    "SimulatedRecognizer",
    "SimulatedSynthesizer",
    "SimulatedTranslator",
    "aengines_for_clip",
    "create_recognizer",
    "create_synthesizer",
    "create_translator",
    "engines_for_clip",
    "script_from_audio",
]

LANGUAGES = ("en", "es", "fr", "de", "it", "pt", "ca", "gl", "eo", "nl", "ja", "zh")
_Z95 = 1.6448536269514722  # standard normal 95th percentile


@dataclass(frozen=True, slots=True)
class LogNormal:
    """A latency distribution (s) given by its median and 95th percentile.

    ``median == 0`` means always zero; ``p95 == median`` means always ``median``.
    """

    median: float
    p95: float | None = None

    def sample(self, rng: random.Random) -> float:
        """One draw (s)."""
        if self.median <= 0:
            return 0.0
        p95 = self.p95 if self.p95 is not None else self.median
        sigma = math.log(p95 / self.median) / _Z95 if p95 > self.median else 0.0
        return self.median * math.exp(sigma * rng.gauss(0.0, 1.0)) if sigma else self.median


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Latencies of the simulated stack, all in seconds.

    asr_final_lag: end of an utterance's audio → its final result.
    asr_partial_lag: audio position → the partial describing it.
    mt: one translation call (plus ``mt_per_char`` s per character).
    tts_first_audio: synthesis request → first audio chunk.
    tts_rtf: synthesis real-time factor (seconds of compute per second of audio after the
        first chunk; 0 = all audio at once).
    """

    asr_final_lag: LogNormal = LogNormal(0.0)
    asr_partial_lag: LogNormal = LogNormal(0.0)
    mt: LogNormal = LogNormal(0.0)
    mt_per_char: float = 0.0
    tts_first_audio: LogNormal = LogNormal(0.0)
    tts_rtf: float = 0.0


PRESETS: dict[str, LatencyModel] = {
    "instant": LatencyModel(),
    "cloud-like": LatencyModel(
        asr_final_lag=LogNormal(1.14, 1.53),
        asr_partial_lag=LogNormal(0.25, 0.40),
        mt=LogNormal(0.14, 0.20),
        mt_per_char=0.0001,
        tts_first_audio=LogNormal(0.30, 0.45),
        tts_rtf=0.05,
    ),
}


def _model(preset: str | LatencyModel) -> LatencyModel:
    if isinstance(preset, LatencyModel):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ConfigError(
            f"unknown simulated preset {preset!r}; choose one of {', '.join(PRESETS)}"
        ) from None


def _rng(seed: int, *key: object) -> random.Random:
    digest = hashlib.sha256(repr((seed, *key)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True, slots=True)
class Faults:
    """Failures to inject (all deterministic given the seed).

    throttle_rate: fraction of translate / synthesize calls that raise ThrottledError.
    timeout_rate: fraction that raise EngineTimeoutError after their latency.
    drop_stream_at_s: audio positions (s) at which the recognizer stream dies once each
        (StreamClosedError); the pipeline restarts it.
    crash_synthesis_calls: 0-based synthesize call numbers that die mid-stream.
    """

    throttle_rate: float = 0.0
    timeout_rate: float = 0.0
    drop_stream_at_s: tuple[float, ...] = ()
    crash_synthesis_calls: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class ScriptUtterance:
    """One utterance of a recognizer script: its text and span in the input (s)."""

    text: str
    start_s: float
    end_s: float


def _as_script(script: Iterable[Any]) -> tuple[ScriptUtterance, ...]:
    out = []
    for item in script:
        if isinstance(item, ScriptUtterance):
            out.append(item)
        elif isinstance(item, tuple | list):
            out.append(ScriptUtterance(str(item[0]), float(item[1]), float(item[2])))
        else:
            out.append(ScriptUtterance(item.text, float(item.start_s), float(item.end_s)))
    out.sort(key=lambda u: u.start_s)
    for a, b in itertools.pairwise(out):
        if b.start_s < a.end_s:
            raise ConfigError(f"script utterances overlap: {a.text!r} and {b.text!r}")
    return tuple(out)


_PLACEHOLDER = (
    "the quick brown fox jumps over the lazy dog while seven bright birds sing softly "
    "near an old stone bridge and the river runs past green fields toward the quiet town"
).split()


def script_from_audio(
    samples: np.ndarray,
    sample_rate: int,
    *,
    frame_ms: int = 30,
    threshold_db: float = -35.0,
    min_speech_s: float = 0.25,
    min_silence_s: float = 0.45,
    words_per_s: float = 2.5,
) -> list[ScriptUtterance]:
    """Energy-based speech detection → a script with placeholder words.

    Frames (``frame_ms``) louder than ``threshold_db`` relative to the loudest frame count
    as speech; pauses shorter than ``min_silence_s`` are bridged and bursts shorter than
    ``min_speech_s`` dropped. Each region gets ``words_per_s`` placeholder words, ending
    with a period.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.dtype.kind == "i" or np.abs(x).max(initial=0) > 1.5:
        x = x / 32768.0
    n = max(1, round(sample_rate * frame_ms / 1000))
    frames = len(x) // n
    if frames == 0:
        return []
    energy = np.sqrt(np.mean(x[: frames * n].reshape(frames, n) ** 2, axis=1)) + 1e-10
    db = 20 * np.log10(energy / energy.max())
    speech = db > threshold_db
    regions: list[list[float]] = []
    hop = frame_ms / 1000
    for i, s in enumerate(speech):
        if not s:
            continue
        t = i * hop
        if regions and t - regions[-1][1] <= min_silence_s:
            regions[-1][1] = t + hop
        else:
            regions.append([t, t + hop])
    out, k = [], 0
    for start, end in regions:
        if end - start < min_speech_s:
            continue
        count = max(1, round((end - start) * words_per_s))
        words = [_PLACEHOLDER[(k + j) % len(_PLACEHOLDER)] for j in range(count)]
        k += count
        text = " ".join(words).capitalize() + "."
        out.append(ScriptUtterance(text, round(start, 3), round(end, 3)))
    return out


def _timed_words(u: ScriptUtterance) -> list[tuple[str, float, float]]:
    tokens = u.text.split()
    weights = [len(t) + 1 for t in tokens]
    total = sum(weights) or 1
    span = u.end_s - u.start_s
    out, acc = [], 0
    for tok, w in zip(tokens, weights, strict=True):
        start = u.start_s + span * acc / total
        acc += w
        out.append((tok, start, u.start_s + span * acc / total))
    return out


class SimulatedRecognizer:
    """A streaming recognizer that follows a script (see module docstring).

    script: utterances (``ScriptUtterance``, ``(text, start_s, end_s)`` tuples, or objects
        with those attributes, e.g. :class:`s2st_kit.datasets.Utterance`). Positions are
        seconds from the first sample of each ``stream()`` call's audio plus ``offset``.
    preset: ``"instant"``, ``"cloud-like"`` or a :class:`LatencyModel`.
    partial_interval_s: audio time between partials (default 0.2 s).
    stable_after_s: a word is marked stable this long (audio s) after it ends (0.4 s).
    language: the language it "recognises" (reported on each transcript).
    """

    name = "simulated-asr"
    sample_rate = 16000

    def __init__(
        self,
        script: Iterable[Any] = (),
        *,
        preset: str | LatencyModel = "instant",
        seed: int = 0,
        partial_interval_s: float = 0.2,
        stable_after_s: float = 0.4,
        sample_rate: int = 16000,
        faults: Faults | None = None,
    ) -> None:
        self.script = _as_script(script)
        self.model = _model(preset)
        self.seed = seed
        self.partial_interval_s = partial_interval_s
        self.stable_after_s = stable_after_s
        self.sample_rate = sample_rate
        self.faults = faults or Faults()
        self._dropped: set[float] = set()
        self.streams_started = 0

    def languages(self) -> frozenset[str]:
        """Any language (the script decides what is "heard")."""
        return frozenset(LANGUAGES)

    async def aclose(self) -> None:
        """Nothing to release."""

    def stream(
        self, chunks: AsyncIterable[AudioChunk], *, language: str = "en"
    ) -> AsyncIterator[Transcript]:
        """Consume ``chunks`` and yield scripted partials and finals (see class docs)."""
        return self._stream(chunks, language)

    def _hypothesis(self, idx: int, position: float, *, final: bool, lang: str) -> Transcript:
        u = self.script[idx]
        words = []
        for tok, ws, we in _timed_words(u):
            if final and ws < position:
                words.append(Word(tok, ws, we, stable=True))
            elif final:
                break
            elif we <= position:
                words.append(Word(tok, ws, we, stable=we <= position - self.stable_after_s))
            elif ws < position:  # the word being spoken: heard in part
                cut = max(1, int(len(tok) * (position - ws) / (we - ws)))
                words.append(Word(tok[:cut], ws, position, stable=False))
                break
            else:
                break
        stable = []
        for w in words:
            if not w.stable:
                break
            stable.append(w.text)
        return Transcript(
            text=" ".join(w.text for w in words),
            is_final=final,
            start_s=u.start_s,
            end_s=min(position, u.end_s),
            utterance_id=idx,
            stable_text=" ".join(stable),
            language=lang,
            confidence=0.9 if final else None,
            words=tuple(words),
        )

    async def _stream(
        self, chunks: AsyncIterable[AudioChunk], lang: str
    ) -> AsyncIterator[Transcript]:
        self.streams_started += 1
        run = _ScriptRun(self, lang)
        feeder = asyncio.create_task(run.feed(chunks))
        try:
            while not run.finished:
                for transcript in run.take(await run.ready.get()):
                    yield transcript
        finally:
            await run.stop(feeder)


# Items of a script run's ready queue: (kind, payload).
_PARTIAL, _FINAL, _INPUT_ENDED, _INPUT_FAILED = 0, 1, 2, 3


class _ScriptRun:
    """One ``stream()`` call of a :class:`SimulatedRecognizer`: the audio side schedules
    scripted hypotheses (:meth:`feed`, :meth:`advance`); the consumer side takes them from
    ``ready`` in the order a recognizer yields them (:meth:`take`).

    Script times are input positions; transcripts report them relative to this stream's
    first sample (``base``), as every recognizer does.
    """

    def __init__(self, rec: SimulatedRecognizer, lang: str) -> None:
        self.rec = rec
        self.lang = lang
        self.loop = asyncio.get_running_loop()
        self.ready: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        self.timers: list[asyncio.TimerHandle] = []
        self.base: float | None = None  # input position (s) of this stream's first sample
        self.next_partial: dict[int, float] = {}
        self.finalized: list[int] = []  # script indices in the order they were finalized
        self.done: set[int] = set()  # the indices in `finalized`, for O(1) membership
        self.first_open = 0  # every script index below this is finalized or before the stream
        # Consumer side.
        self.emitted = 0  # finals yielded so far (they are yielded in utterance order)
        self.held: dict[int, Transcript] = {}
        self.closed: set[int] = set()
        self.input_done = False

    # -- audio side --------------------------------------------------------------------------
    def schedule(self, delay: float, kind: int, t: Transcript) -> None:
        if delay <= 0:
            self.ready.put_nowait((kind, t))
        else:
            self.timers.append(self.loop.call_later(delay, self.ready.put_nowait, (kind, t)))

    def shifted(self, t: Transcript) -> Transcript:
        b = self.base
        if not b:
            return t
        words = tuple(replace(w, start_s=w.start_s - b, end_s=w.end_s - b) for w in t.words)
        return replace(t, start_s=t.start_s - b, end_s=t.end_s - b, words=words)

    def advance(self, pos: float, *, ended: bool = False) -> None:
        """Schedule the partials and finals due at input position ``pos`` (s).

        The script is sorted by start and has no overlaps: scan only from the first
        utterance still open and stop at the first one not spoken yet, so each chunk costs
        O(open utterances), not O(script) (long sessions stay linear).
        """
        script, base = self.rec.script, self.base or 0.0
        while self.first_open < len(script) and (
            self.first_open in self.done or script[self.first_open].start_s < base
        ):
            self.first_open += 1
        for idx in range(self.first_open, len(script)):
            u = script[idx]
            if u.start_s >= pos:
                break  # not spoken yet, nor is anything after it
            if idx in self.done or u.start_s < base:
                continue  # finalized, or begun before this stream started
            if pos < u.end_s and not ended:
                self._partial(idx, u, pos)
            else:
                self._final(idx, pos)

    def _partial(self, idx: int, u: ScriptUtterance, pos: float) -> None:
        rec = self.rec
        nxt = self.next_partial.get(idx, u.start_s + rec.partial_interval_s)
        if pos >= nxt:
            self.next_partial[idx] = pos + rec.partial_interval_s
            rng = _rng(rec.seed, "p", idx, round(pos, 3))
            hyp = self.shifted(rec._hypothesis(idx, pos, final=False, lang=self.lang))
            self.schedule(rec.model.asr_partial_lag.sample(rng), _PARTIAL, hyp)

    def _final(self, idx: int, pos: float) -> None:
        rec = self.rec
        self.finalized.append(idx)
        self.done.add(idx)
        lag = rec.model.asr_final_lag.sample(_rng(rec.seed, "f", idx))
        hyp = self.shifted(rec._hypothesis(idx, pos, final=True, lang=self.lang))
        self.schedule(lag, _FINAL, hyp)

    async def feed(self, chunks: AsyncIterable[AudioChunk]) -> None:
        """Consume the audio, advancing the script; report its end (or failure) in ``ready``."""
        position = 0.0
        try:
            async for chunk in chunks:
                if self.base is None:
                    self.base = chunk.start_s
                position = chunk.end_s  # input position (s): the script's time base
                self._maybe_drop(position)
                self.advance(position)
            if self.base is not None:
                self.advance(position, ended=True)
            self.ready.put_nowait((_INPUT_ENDED, None))
        except Exception as exc:
            self.ready.put_nowait((_INPUT_FAILED, exc))

    def _maybe_drop(self, position: float) -> None:
        rec = self.rec
        for drop_at in rec.faults.drop_stream_at_s:
            if drop_at not in rec._dropped and position >= drop_at:
                rec._dropped.add(drop_at)
                raise StreamClosedError(
                    f"simulated recognizer stream dropped at {drop_at:.2f} s", engine=rec.name
                )

    # -- consumer side -------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """The input ended and every final has been yielded."""
        return self.input_done and self.emitted == len(self.finalized)

    def take(self, item: tuple[int, Any]) -> list[Transcript]:
        """The transcripts to yield for one ``ready`` item (finals in utterance order)."""
        kind, payload = item
        if kind == _INPUT_ENDED:
            self.input_done = True
        elif kind == _INPUT_FAILED:
            raise payload
        elif kind == _FINAL:
            self.held[payload.utterance_id] = payload
            out = []
            while self.finalized[self.emitted :] and self.finalized[self.emitted] in self.held:
                uid = self.finalized[self.emitted]
                self.closed.add(uid)
                self.emitted += 1
                out.append(self.held.pop(uid))
            return out
        elif payload.utterance_id not in self.closed and payload.utterance_id not in self.held:
            return [payload]
        return []

    async def stop(self, feeder: asyncio.Task[None]) -> None:
        """Cancel pending hypotheses and the feeder."""
        for h in self.timers:
            h.cancel()
        if not feeder.done():
            feeder.cancel()
            try:
                await feeder
            except asyncio.CancelledError:
                pass


class SimulatedTranslator:
    """Translation with modelled latency.

    references: optional ``{target_lang: {source_text: translation}}`` used verbatim when a
        committed text matches exactly; otherwise the result is ``"[<target>] <text>"``.
    """

    name = "simulated-mt"

    def __init__(
        self,
        *,
        preset: str | LatencyModel = "instant",
        seed: int = 0,
        references: Mapping[str, Mapping[str, str]] | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.model = _model(preset)
        self.seed = seed
        self.references = {k: dict(v) for k, v in (references or {}).items()}
        self.faults = faults or Faults()
        self.calls = 0

    def pairs(self) -> frozenset[tuple[str, str]]:
        """Every pair of distinct simulated languages (and ``auto`` as source)."""
        langs = (*LANGUAGES, "auto")
        return frozenset((a, b) for a in langs for b in LANGUAGES if a != b)

    async def aclose(self) -> None:
        """Nothing to release."""

    async def translate(self, text: str, *, source: str, target: str) -> Translation:
        """Wait the modelled latency, then return the translation (or an injected fault)."""
        if (source, target) not in self.pairs():
            raise UnsupportedLanguageError(f"simulated translator has no pair {source}->{target}")
        call = self.calls
        self.calls += 1
        rng = _rng(self.seed, "mt", text, call)
        delay = self.model.mt.sample(rng) + self.model.mt_per_char * len(text)
        fault = rng.random()
        if fault < self.faults.throttle_rate:
            await asyncio.sleep(delay / 4)
            raise ThrottledError(
                "simulated translator throttled", engine=self.name, retry_after_s=0.01
            )
        await asyncio.sleep(delay)
        if fault < self.faults.throttle_rate + self.faults.timeout_rate:
            raise EngineTimeoutError("simulated translator timed out", engine=self.name)
        out = self.references.get(target, {}).get(text.strip())
        return Translation(
            text=out if out is not None else f"[{target}] {text}",
            source_text=text,
            source=source,
            target=target,
            engine=self.name,
            detected_source="en" if source == "auto" else None,
        )


class SimulatedSynthesizer:
    """Speech-like audio of plausible duration, streamed with modelled latency.

    chars_per_s: speaking rate used for the duration (default 14 characters/s).
    chunk_s: duration of each streamed chunk (default 0.1 s).

    Has its own rate (:class:`~s2st_kit.engines.protocols.SupportsRate`, every voice):
    :meth:`synthesize_at` speaks ``speed`` times faster — the natural duration divided by
    ``speed``, syllables faster, pitch unchanged — with the same latency model (time to
    first audio, and ``tts_rtf`` per second of audio produced).

    Has word timing (:class:`~s2st_kit.engines.protocols.SupportsWordTiming`):
    :meth:`synthesize_marked` times each word in proportion to its characters over the
    rendered audio (:func:`s2st_kit.words.estimate_marks`), each mark just before the chunk
    its word starts in.
    """

    #: The fastest speed :meth:`synthesize_at` renders (× natural; no engine limit here).
    max_speed = math.inf

    name = "simulated-tts"

    def __init__(
        self,
        *,
        preset: str | LatencyModel = "instant",
        seed: int = 0,
        sample_rate: int = 16000,
        chars_per_s: float = 14.0,
        chunk_s: float = 0.1,
        faults: Faults | None = None,
    ) -> None:
        self.model = _model(preset)
        self.seed = seed
        self.sample_rate = sample_rate
        self.chars_per_s = chars_per_s
        self.chunk_s = chunk_s
        self.faults = faults or Faults()
        self.calls = 0
        self._voices = [
            Voice(f"sim-{lang}-{i}", f"Simulated {lang} {i}", lang, None, g, ("simulated",))
            for lang in LANGUAGES
            for i, g in ((1, "female"), (2, "male"))
        ]

    def voices(self, language: str | None = None) -> list[Voice]:
        """Two voices per simulated language."""
        return [v for v in self._voices if language is None or v.language == language]

    def default_voice(self, language: str) -> str:
        """``sim-<language>-1``."""
        vs = self.voices(language)
        if not vs:
            raise UnsupportedLanguageError(f"simulated synthesizer has no voice for {language!r}")
        return vs[0].id

    async def aclose(self) -> None:
        """Nothing to release."""

    def synthesize(self, text: str, *, voice: str, language: str) -> AsyncIterator[AudioChunk]:
        """Stream the waveform for ``text`` (see class docs)."""
        self._check_voice(voice, language)
        return self._synth(text, voice, 1.0)

    def rate_supported(self, voice: str) -> bool:
        """True: every simulated voice speaks at any speed."""
        return True

    def synthesize_at(
        self, text: str, *, voice: str, language: str, speed: float
    ) -> AsyncIterator[AudioChunk]:
        """Stream the waveform for ``text`` spoken ``speed`` times faster (> 0; 1.0 is
        :meth:`synthesize`): duration natural / ``speed``, same latency model."""
        self._check_voice(voice, language)
        if not (speed > 0 and math.isfinite(speed)):
            raise ConfigError(f"speed must be a positive number (× natural), got {speed}")
        return self._synth(text, voice, speed)

    def synthesize_marked(
        self, text: str, *, voice: str, language: str, speed: float = 1.0
    ) -> AsyncIterator[AudioChunk | WordMark]:
        """:meth:`synthesize_at` (``speed``, default natural) with a
        :class:`~s2st_kit.records.WordMark` per word among the chunks (see class docs)."""
        self._check_voice(voice, language)
        if not (speed > 0 and math.isfinite(speed)):
            raise ConfigError(f"speed must be a positive number (× natural), got {speed}")
        return self._marked(text, voice, speed)

    async def _marked(
        self, text: str, voice: str, speed: float
    ) -> AsyncIterator[AudioChunk | WordMark]:
        marks = estimate_marks(text, self.n_samples(text, speed) / self.sample_rate)
        marks.reverse()
        async for chunk in self._synth(text, voice, speed):
            while marks and marks[-1].start_s < chunk.end_s:
                yield marks.pop()
            yield chunk
        while marks:
            yield marks.pop()

    def _check_voice(self, voice: str, language: str) -> None:
        if voice not in {v.id for v in self._voices}:
            raise UnsupportedVoiceError(
                f"unknown simulated voice {voice!r}; e.g. {self.default_voice(language)!r}"
            )

    def n_samples(self, text: str, speed: float = 1.0) -> int:
        """Length of the waveform for ``text`` at ``speed`` (samples; see :meth:`render_at`)."""
        duration = max(0.3, len(text) / self.chars_per_s) / speed
        return max(2, round(duration * self.sample_rate))

    def render(self, text: str, voice: str) -> np.ndarray:
        """The whole waveform for ``text`` as int16 at natural speed (no latency)."""
        return self.render_at(text, voice, 1.0)

    def render_at(self, text: str, voice: str, speed: float) -> np.ndarray:
        """The whole waveform for ``text`` spoken ``speed`` times faster, as int16.

        Natural duration ``max(0.3, len(text) / chars_per_s)`` s, divided by ``speed``
        (rounded to whole samples); the syllable rate (≈ 4/s natural) scales with it, the
        pitch does not — like a synthesizer's own rate, unlike resampling.
        """
        n = self.n_samples(text, speed)
        t = np.arange(n) / self.sample_rate
        f0 = 120.0 if voice.endswith("2") else 200.0
        rng = np.random.default_rng(
            int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
        )
        wobble = 1 + 0.05 * np.sin(2 * np.pi * 0.7 * speed * t)
        phase = 2 * np.pi * f0 * np.cumsum(wobble) / self.sample_rate
        signal = sum(np.sin(k * phase) / k for k in range(1, 6))
        syllables = 0.5 * (1 - np.cos(2 * np.pi * 4.0 * speed * t))  # ~4 per natural second
        fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
        x: np.ndarray = 0.25 * signal * syllables * fade + 0.003 * rng.standard_normal(n)
        return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)

    async def _synth(self, text: str, voice: str, speed: float) -> AsyncIterator[AudioChunk]:
        call = self.calls
        self.calls += 1
        rng = _rng(self.seed, "tts", text, call)
        fault = rng.random()
        first = self.model.tts_first_audio.sample(rng)
        if fault < self.faults.throttle_rate:
            await asyncio.sleep(first / 4)
            raise ThrottledError(
                "simulated synthesizer throttled", engine=self.name, retry_after_s=0.01
            )
        # render() at natural speed: subclasses (a pre-rendering cache) override it
        natural = speed == 1.0
        pcm = self.render(text, voice) if natural else self.render_at(text, voice, speed)
        step = max(1, round(self.chunk_s * self.sample_rate))
        await asyncio.sleep(first)
        for i, start in enumerate(range(0, len(pcm), step)):
            if i and self.model.tts_rtf:
                await asyncio.sleep(self.chunk_s * self.model.tts_rtf)
            if call in self.faults.crash_synthesis_calls and i == 1:
                raise EngineUnavailableError("simulated synthesizer crashed", engine=self.name)
            yield AudioChunk(
                pcm[start : start + step].tobytes(), self.sample_rate, start / self.sample_rate
            )
            if not self.model.tts_rtf:
                await asyncio.sleep(0)


def _common(options: dict[str, Any]) -> dict[str, Any]:
    return {k: options[k] for k in ("preset", "seed", "faults") if k in options}


def create_recognizer(**options: Any) -> SimulatedRecognizer:
    """Registry factory: ``script``, ``preset``, ``seed``, ``partial_interval_s``, ..."""
    keep = {k: v for k, v in options.items() if k in {
        "script", "preset", "seed", "partial_interval_s", "stable_after_s", "sample_rate", "faults"}}  # fmt: skip
    return SimulatedRecognizer(**keep)


def create_translator(**options: Any) -> SimulatedTranslator:
    """Registry factory: ``preset``, ``seed``, ``references``, ``faults``."""
    return SimulatedTranslator(**_common(options), references=options.get("references"))


def create_synthesizer(**options: Any) -> SimulatedSynthesizer:
    """Registry factory: ``preset``, ``seed``, ``sample_rate``, ``chars_per_s``, ``faults``."""
    extra = {k: options[k] for k in ("sample_rate", "chars_per_s", "chunk_s") if k in options}
    return SimulatedSynthesizer(**_common(options), **extra)


def with_preset(model: LatencyModel, **changes: Any) -> LatencyModel:
    """A copy of ``model`` with some latencies changed (for what-if studies)."""
    return replace(model, **changes)


# --------------------------------------------------------------------------- engines for a clip


@dataclass(frozen=True, slots=True)
class ClipEngines:
    """What the simulated engines for one input follow, and where their script came from.

    script: the recognizer's utterances (spans in s from the input's first sample).
    references: the translator's ``{target_lang: {utterance text: translation}}``, or None.
    script_source: one line for people, e.g. ``"manifest entry 'en_home'"``; ``None`` when
        there was no input audio (the recognizer then hears nothing).
    preset / seed: the latency model and seed of all three engines.

    :meth:`options` gives the simulated bundle's factory options (for
    ``Engines.create(..., options={"simulated": ...})``, which mixes bundles per stage);
    :meth:`build` gives the three engines.
    """

    script: tuple[ScriptUtterance, ...]
    references: Mapping[str, Mapping[str, str]] | None
    script_source: str | None
    preset: str | LatencyModel = "cloud-like"
    seed: int = 0

    def options(self) -> dict[str, Any]:
        """Keyword options for :func:`create_recognizer` / ``_translator`` / ``_synthesizer``."""
        return {
            "preset": self.preset,
            "seed": self.seed,
            "script": self.script,
            "references": self.references,
        }

    def build(self) -> Engines:
        """A fresh simulated recognizer, translator and synthesizer (one seed for all)."""
        return Engines(
            SimulatedRecognizer(self.script, preset=self.preset, seed=self.seed),
            SimulatedTranslator(preset=self.preset, seed=self.seed, references=self.references),
            SimulatedSynthesizer(preset=self.preset, seed=self.seed),
        )


def engines_for_clip(
    clip: Clip | str | os.PathLike[str] | None,
    *,
    script: Iterable[Any] | None = None,
    references: Mapping[str, Mapping[str, str]] | None = None,
    preset: str | LatencyModel = "cloud-like",
    seed: int = 0,
) -> ClipEngines:
    """The simulated engines for an input: the one place that decides what they follow.

    clip: a :class:`~s2st_kit.datasets.Clip`, an audio file (looked up with
        :func:`~s2st_kit.datasets.find_clip` in the data manifest and the LibriVox list), or
        ``None`` when there is no input file (a microphone: an empty script).
    script: the recognizer's script as given (``ScriptUtterance``, ``(text, start_s, end_s)``
        or objects with those attributes): then ``script`` and ``references`` are used as
        they are and nothing is looked up or read.
    references: the translator's references; by default the clip's per-utterance
        translations.
    preset / seed: latency model (default ``"cloud-like"``) and seed of all three engines.

    Without a given script, the recognizer's script is, first match first:

    1. the clip's utterances with their spans (``"manifest entry '<id>'"``);
    2. speech found by energy in the audio (:func:`script_from_audio`), carrying the clip's
       reference transcript spread over the regions by duration (``"'<id>' reference
       transcript over detected speech"``, e.g. a LibriVox clip);
    3. the same regions with placeholder words (``"energy-based speech detection
       (placeholder words)"``).

    Cases 2 and 3 read the whole audio file in the calling thread: from async code use
    :func:`aengines_for_clip`.
    """
    if script is not None:
        return ClipEngines(
            _as_script(script), references, "script given by the caller", preset, seed
        )
    if clip is None:
        return ClipEngines((), references, None, preset, seed)
    found: Clip | None
    if isinstance(clip, Clip):
        found, path = clip, clip.path
    else:
        path = Path(clip)
        found = find_clip(path)
    if found is not None and found.utterances:
        refs = references if references is not None else _utterance_references(found)
        utterances = _as_script(found.utterances)
        return ClipEngines(utterances, refs, f"manifest entry {found.id!r}", preset, seed)
    detected, source = _detected_script(path, found)
    return ClipEngines(tuple(detected), references, source, preset, seed)


async def aengines_for_clip(
    clip: Clip | str | os.PathLike[str] | None,
    *,
    script: Iterable[Any] | None = None,
    references: Mapping[str, Mapping[str, str]] | None = None,
    preset: str | LatencyModel = "cloud-like",
    seed: int = 0,
) -> ClipEngines:
    """:func:`engines_for_clip` for async code: the look-up and the audio read run in a
    worker thread (``asyncio.to_thread``), so the event loop never blocks."""
    return await asyncio.to_thread(
        engines_for_clip, clip, script=script, references=references, preset=preset, seed=seed
    )


def _utterance_references(clip: Clip) -> dict[str, dict[str, str]] | None:
    """``{target_lang: {utterance text: translation}}`` from a clip's utterances, or None."""
    refs: dict[str, dict[str, str]] = {}
    for u in clip.utterances:
        for lang, text in u.translations.items():
            refs.setdefault(lang, {})[u.text] = text
    return refs or None


def _detected_script(path: Path, clip: Clip | None) -> tuple[list[ScriptUtterance], str]:
    """Speech regions found by energy in ``path``, with ``clip``'s transcript when it has one."""
    from ..audio.file import read_audio

    samples, rate = read_audio(path, sample_rate=16000)
    regions = script_from_audio(samples, rate)
    if clip is not None and clip.transcript:
        spread = _spread_words(clip.transcript, regions)
        return spread, f"{clip.id!r} reference transcript over detected speech"
    return regions, "energy-based speech detection (placeholder words)"


def _spread_words(text: str, regions: Sequence[ScriptUtterance]) -> list[ScriptUtterance]:
    """Distribute a reference transcript's words over speech regions by their duration."""
    words = text.split()
    total = sum(r.end_s - r.start_s for r in regions) or 1.0
    out, i = [], 0
    for k, r in enumerate(regions):
        n = (
            len(words) - i
            if k == len(regions) - 1
            else round(len(words) * (r.end_s - r.start_s) / total)
        )
        piece = words[i : i + max(1, n)]
        i += len(piece)
        if piece:
            out.append(ScriptUtterance(" ".join(piece), r.start_s, r.end_s))
    return out
