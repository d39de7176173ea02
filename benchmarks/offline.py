"""4. The offline stack (pocketsphinx → Apertium → eSpeak NG, en → es) on the LibriVox clips.

* **Real-time factor** — each of the five clips of ``pocketsphinx-testdata`` through the
  pipeline as fast as possible (source not paced, a sink that discards): processing time
  (wall time of ``Pipeline.run``, engines already loaded) / audio duration, over all clips.
* **WER streamed** of the recognised transcripts against the LibriVox references
  (:func:`s2st_kit.quality.wer`: lower-cased, punctuation removed; corpus-level over the
  five clips), from the same runs; target: no worse than
* **WER whole-utterance, same decoder** — pocketsphinx decoding each clip file as one
  utterance (``process_raw(full_utt=True)``: batch cepstral mean over the whole clip) with
  the recognizer's own decoder options, scored the same way.
* **End of speech → first audio** — the five clips joined with 0.9 s pauses (as ``make
  demo`` does), paced in real time into a real-time :class:`~s2st_kit.audio.PacedSink`:
  per segment ``t_tts_first_audio − t_speech_end`` (median, p95, s) and the ear-to-ear
  latency ``t_play_start − t_speech_end`` for reference.

Skipped, with the reason printed, when the clips or an engine are not installed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from s2st_kit import FileSource, MemorySource, PacedSink, Pipeline, PipelineConfig
from s2st_kit.audio import read_audio
from s2st_kit.datasets import librivox_clips
from s2st_kit.engines import Engines
from s2st_kit.errors import S2STError

from .common import BenchResult, DiscardSink, percentile

NAME = "offline"
PAUSE_S = 0.9
TARGET_RTF = 0.25


def offline_engines() -> Engines | str:
    """pocketsphinx + Apertium + eSpeak NG, or the reason they cannot be built."""
    try:
        engines = Engines.create("offline")
    except (S2STError, ImportError, OSError) as exc:
        return f"offline engines unavailable: {exc}"
    if ("en", "es") not in engines.translator.pairs():
        return "Apertium en→es is not installed (apt-get install apertium-eng-spa)"
    return engines


def joined_librivox(n_clips: int | None = None) -> tuple[np.ndarray, str] | str:
    """The first ``n_clips`` LibriVox clips joined with pauses (16 kHz float32) and their
    joined reference transcript, or the reason they are unavailable."""
    clips = librivox_clips()[:n_clips]
    if not clips:
        return "LibriVox clips absent (apt-get install pocketsphinx-testdata)"
    silence = np.zeros(int(PAUSE_S * 16000), np.float32)
    parts: list[np.ndarray] = [silence]
    for clip in clips:
        samples, _ = read_audio(clip.path, sample_rate=16000)
        parts += [samples, silence]
    return np.concatenate(parts), " ".join(c.transcript for c in clips)


async def _load(engines: Engines) -> None:
    """Run the engines' optional warm-up hooks (model loading, process start)."""
    for engine, args in (
        (engines.recognizer, ()),
        (engines.translator, ([("en", "es")],)),
        (engines.synthesizer, ()),
    ):
        load = getattr(engine, "load", None)
        if load is not None:
            await load(*args)


async def measure_rtf(engines: Engines, *, n_clips: int | None = None) -> dict[str, Any]:
    """Per clip, unpaced: processing time (s), audio (s), transcript; RTF and WER overall."""
    from s2st_kit.quality import wer

    clips = librivox_clips()[:n_clips]
    per_clip = []
    for clip in clips:
        source = FileSource(clip.path, realtime=False)
        pipe = Pipeline(engines, PipelineConfig(), source=source, sink=DiscardSink())
        t = time.perf_counter()
        log = await pipe.run()
        wall = time.perf_counter() - t
        df = log.to_pandas()
        per_clip.append(
            {
                "clip": clip.id,
                "audio_s": pipe.stats.audio_s,
                "processing_s": wall,
                "rtf": wall / pipe.stats.audio_s,
                "segments": len(df),
                "errors": int((df.status != "ok").sum()),
                "reference": clip.transcript,
                "hypothesis": " ".join(df.transcript),
                "translation": " ".join(df.translation),
            }
        )
    audio = sum(c["audio_s"] for c in per_clip)
    processing = sum(c["processing_s"] for c in per_clip)
    return {
        "clips": per_clip,
        "audio_s": audio,
        "processing_s": processing,
        "rtf": processing / audio,
        "wer": wer([c["reference"] for c in per_clip], [c["hypothesis"] for c in per_clip]),
    }


def whole_utterance(recognizer: Any, *, n_clips: int | None = None) -> dict[str, Any]:
    """Each clip decoded by pocketsphinx as one whole utterance with ``recognizer``'s
    decoder options: per-clip hypotheses, WER and decoding time / audio (RTF, ASR only)."""
    import pocketsphinx
    import soundfile

    from s2st_kit.engines.offline.text import normalize_words
    from s2st_kit.quality import wer

    clips = librivox_clips()[:n_clips]
    decoder = pocketsphinx.Decoder(**recognizer.decoder_config)
    per_clip, audio_s, decode_s = [], 0.0, 0.0
    for clip in clips:
        pcm, rate = soundfile.read(str(clip.path), dtype="int16")
        assert rate == 16000, f"{clip.path}: {rate} Hz"
        t = time.perf_counter()
        decoder.start_utt()
        decoder.process_raw(pcm.tobytes(), False, True)
        decoder.end_utt()
        decode_s += time.perf_counter() - t
        audio_s += len(pcm) / rate
        words = [seg.word for seg in decoder.seg()]
        per_clip.append({"clip": clip.id, "hypothesis": " ".join(normalize_words(words))})
    refs = [c.transcript for c in clips]
    return {
        "clips": per_clip,
        "decoder_config": {k: str(v) for k, v in recognizer.decoder_config.items()},
        "rtf": decode_s / audio_s,
        "wer": wer(refs, [c["hypothesis"] for c in per_clip]),
    }


async def measure_paced(engines: Engines, *, n_clips: int | None = None) -> dict[str, Any]:
    """Joined clips paced in real time: end of speech → first audio and ear-to-ear (s)."""
    joined = joined_librivox(n_clips)
    assert not isinstance(joined, str)
    samples, reference = joined
    source = MemorySource(samples, 16000, realtime=True)
    pipe = Pipeline(engines, PipelineConfig(), source=source, sink=PacedSink())
    df = (await pipe.run()).to_pandas()
    ok = df[df.status == "ok"]
    eos = (ok.t_tts_first_audio - ok.t_speech_end).to_numpy()
    return {
        "audio_s": len(samples) / 16000,
        "segments": len(df),
        "ok": len(ok),
        "eos_to_first_audio_median_s": percentile(eos, 50),
        "eos_to_first_audio_p95_s": percentile(eos, 95),
        "ear_to_ear_median_s": percentile(ok.ear_to_ear_s, 50),
        "ear_to_ear_p95_s": percentile(ok.ear_to_ear_s, 95),
        "stage_medians_s": {
            c: float(ok[c].median())
            for c in ("asr_lag_s", "dispatch_s", "mt_s", "handoff_s", "tts_ttfb_s", "queue_s")
        },
        "reference": reference,
        "hypothesis": " ".join(df.transcript),
    }


async def run(*, quick: bool = False) -> BenchResult:
    """RTF + WER (five clips, unpaced), then the paced joined session (~30 s)."""
    res = BenchResult(NAME)
    n = 1 if quick else None
    if not librivox_clips():
        res.skipped = "LibriVox clips absent (apt-get install pocketsphinx-testdata)"
        return res
    engines = offline_engines()
    if isinstance(engines, str):
        res.skipped = engines
        return res
    try:
        await _load(engines)
        # warm-up: the first sentence through each engine (Apertium loads transducers lazily)
        await measure_rtf(engines, n_clips=1)
        fast = await measure_rtf(engines, n_clips=n)
        whole = await asyncio.to_thread(whole_utterance, engines.recognizer, n_clips=n)
        paced = await measure_paced(engines, n_clips=n) if not quick else None
    finally:
        await engines.aclose()
    res.details = {"rtf_runs": fast, "whole_utterance": whole, "paced": paced}
    res.add(
        "real-time factor (unpaced)",
        fast["rtf"],
        "x",
        target=f"<= {TARGET_RTF}",
        ok=fast["rtf"] <= TARGET_RTF,
        note=f"{fast['processing_s']:.2f} s for {fast['audio_s']:.1f} s of audio, "
        f"{len(fast['clips'])} clips, engines loaded",
    )
    res.add(
        "WER streamed",
        fast["wer"] * 100,
        "%",
        target="<= whole-utterance",
        ok=fast["wer"] <= whole["wer"],
        note=f"{len(fast['clips'])} LibriVox clips through the pipeline; lower-cased, "
        "punctuation removed",
    )
    res.add(
        "WER whole-utterance, same decoder",
        whole["wer"] * 100,
        "%",
        note=f"pocketsphinx, each clip one utterance (batch CMN); decoding RTF {whole['rtf']:.3f}",
    )
    if paced is not None:
        res.add(
            "end of speech → first audio, median",
            paced["eos_to_first_audio_median_s"],
            "s",
            note=f"p95 {paced['eos_to_first_audio_p95_s']:.2f} s; {paced['ok']} segments; "
            f"{paced['audio_s']:.0f} s joined clips paced in real time; ear-to-ear median "
            f"{paced['ear_to_ear_median_s']:.2f} s (asr_lag "
            f"{paced['stage_medians_s']['asr_lag_s']:.2f} s)",
        )
        res.add("end of speech → first audio, p95", paced["eos_to_first_audio_p95_s"], "s")
    return res
