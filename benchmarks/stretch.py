"""What time-stretching costs recognition: pocketsphinx WER on the LibriVox clips at 1.3×.

Lag control plays speech faster by time-stretching it (:mod:`s2st_kit.audio.stretch`, Rubber
Band through pedalboard) when the synthesizer has no rate of its own. This measures how much
less intelligible that makes speech, with a recognizer as the listener:

* **WER increase** — each of the five clips of ``pocketsphinx-testdata`` recognised by
  pocketsphinx (:class:`~s2st_kit.engines.offline.pocketsphinx.PocketSphinxRecognizer`,
  default options, 100 ms chunks) at natural speed and after :class:`StreamStretcher` at
  1.3× (fed 100 ms chunks, as a synthesizer would); corpus WER (:func:`s2st_kit.quality.wer`)
  of each; the figure is the difference in percentage points (target ≤ 5). The stretched
  WER is the mean over four positions of the 0.5 s block grid against the speech (silence
  put before each clip and cut again), so where the joins happen to fall is averaged out.
  Each condition gets a fresh recognizer (pocketsphinx adapts across utterances). The
  corpus is small: 71 words, one word is 1.4 points.
* For reference, the same clips stretched in one piece (``pedalboard.time_stretch`` of the
  whole clip): what the streaming joins cost on top of Rubber Band itself.
* **Stretch cost** — wall time of the streaming stretch (this thread, Rubber Band's finer
  engine) per second of input audio (ms/s).

:func:`stretch_wer` returns the figure as a dict with :meth:`BenchResult.add`'s fields
(``metric``, ``value``, ``unit``, ``target``, ``ok``, ``note``) plus ``details``; ``value`` is
None and ``skipped`` says why when the clips or pocketsphinx are missing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pedalboard

from s2st_kit.audio import read_audio
from s2st_kit.audio.convert import float_to_pcm16
from s2st_kit.audio.stretch import StreamStretcher
from s2st_kit.datasets import librivox_clips
from s2st_kit.records import AudioChunk

__all__ = ["METRIC", "SPEED", "measure_stretch_wer", "stretch_wer"]

METRIC = "stretch 1.3x: WER increase (LibriVox, pocketsphinx)"
SPEED = 1.3
TARGET_POINTS = 5.0
RATE = 16000
CHUNK_S = 0.1
#: Silence before each clip (s): four positions of the 0.5 s block grid against the speech.
GRID_OFFSETS_S = (0.0, 0.125, 0.25, 0.375)


def _chunks(pcm: np.ndarray, start_s: float = 0.0) -> list[AudioChunk]:
    n = round(CHUNK_S * RATE)
    return [
        AudioChunk.from_array(pcm[i : i + n], RATE, start_s + i / RATE)
        for i in range(0, len(pcm), n)
    ]


def stream_stretch(pcm: np.ndarray, speed: float, lead_s: float = 0.0) -> tuple[np.ndarray, float]:
    """``pcm`` (int16) through :class:`StreamStretcher` in 100 ms chunks: (output, wall s).

    lead_s: silence put before the clip and cut from the output again (s), which moves the
    block grid (and so the joins) against the speech.
    """
    lead = np.zeros(round(lead_s * RATE), np.int16)
    t = time.perf_counter()
    stretcher = StreamStretcher(speed)
    chunks = _chunks(np.concatenate([lead, pcm]))
    out = [o for c in chunks for o in stretcher.process(c)] + stretcher.flush()
    wall = time.perf_counter() - t
    return np.concatenate([o.samples() for o in out])[round(lead.size / speed) :], wall


def whole_stretch(pcm: np.ndarray, speed: float) -> np.ndarray:
    """``pcm`` (int16) stretched in one ``pedalboard.time_stretch`` call (the reference)."""
    x = (pcm.astype(np.float32) / 32767.0).reshape(1, -1)
    return float_to_pcm16(pedalboard.time_stretch(x, float(RATE), speed)[0])


async def _transcribe_all(pcms: list[np.ndarray]) -> list[str]:
    """Final transcripts of each clip, in order, by one fresh recognizer.

    Fresh per condition: pocketsphinx carries its cepstral-mean estimate from one utterance
    to the next, so a condition decoded after another one would start better adapted.
    """
    from s2st_kit.engines.offline.pocketsphinx import PocketSphinxRecognizer

    async def source(pcm: np.ndarray) -> AsyncIterator[AudioChunk]:
        for chunk in _chunks(pcm):
            yield chunk

    async with PocketSphinxRecognizer() as recognizer:
        await recognizer.load()
        return [
            " ".join([t.text async for t in recognizer.stream(source(pcm)) if t.is_final])
            for pcm in pcms
        ]


async def measure_stretch_wer(quick: bool = False) -> dict[str, Any]:
    """The measurement itself, for callers already on an event loop (see :func:`stretch_wer`)."""
    clips = librivox_clips()[: 1 if quick else None]
    if not clips:
        return _skipped("LibriVox clips absent (apt-get install pocketsphinx-testdata)")
    try:
        import pocketsphinx  # noqa: F401
    except ImportError as exc:
        return _skipped(f"pocketsphinx unavailable: {exc}")
    from s2st_kit.quality import wer

    natural = [
        float_to_pcm16((await asyncio.to_thread(read_audio, c.path, sample_rate=RATE))[0])
        for c in clips
    ]
    conditions: dict[str, list[np.ndarray]] = {"natural": natural}
    walls = []
    for lead_s in GRID_OFFSETS_S[:1] if quick else GRID_OFFSETS_S:
        runs = [await asyncio.to_thread(stream_stretch, p, SPEED, lead_s) for p in natural]
        conditions[f"streamed+{lead_s:g}s"] = [pcm for pcm, _ in runs]
        walls += [wall for _, wall in runs]
    conditions["whole"] = [await asyncio.to_thread(whole_stretch, p, SPEED) for p in natural]
    refs = [c.transcript for c in clips]
    hyps = {name: await _transcribe_all(pcms) for name, pcms in conditions.items()}
    wers = {name: wer(refs, h) for name, h in hyps.items()}
    streamed = [v for k, v in wers.items() if k.startswith("streamed")]
    audio_s = sum(len(p) for p in natural) / RATE
    details: dict[str, Any] = {
        "speed": SPEED,
        "clips": len(clips),
        "audio_s": audio_s,
        "reference_words": sum(len(r.split()) for r in refs),
        "wer_natural": wers["natural"],
        "wer_stretched": float(np.mean(streamed)),
        "wer_stretched_by_grid_offset": {k: v for k, v in wers.items() if k.startswith("str")},
        "wer_whole_stretched": wers["whole"],
        "stretch_ms_per_audio_s": 1000 * sum(walls) / (audio_s * len(streamed)),
        "per_clip": [
            {"clip": clip.id, "reference": clip.transcript, **{k: h[i] for k, h in hyps.items()}}
            for i, clip in enumerate(clips)
        ],
    }
    return _figure(details)


def _figure(details: dict[str, Any]) -> dict[str, Any]:
    points = 100 * (details["wer_stretched"] - details["wer_natural"])
    return {
        "metric": METRIC,
        "value": points,
        "unit": "points",
        "target": f"<= {TARGET_POINTS:g}",
        "ok": points <= TARGET_POINTS,
        "note": (
            f"WER {100 * details['wer_natural']:.1f} % natural → "
            f"{100 * details['wer_stretched']:.1f} % at {SPEED}x streamed "
            f"({100 * details['wer_whole_stretched']:.1f} % stretched in one piece); "
            f"{details['clips']} clips, {details['audio_s']:.0f} s, "
            f"{details['reference_words']} words; stretch "
            f"{details['stretch_ms_per_audio_s']:.0f} ms per s of audio"
        ),
        "details": details,
    }


def _skipped(reason: str) -> dict[str, Any]:
    return {
        "metric": METRIC,
        "value": None,
        "unit": "points",
        "target": f"<= {TARGET_POINTS:g}",
        "ok": None,
        "note": reason,
        "skipped": reason,
        "details": {},
    }


def stretch_wer(quick: bool = False) -> dict[str, Any]:
    """WER increase of pocketsphinx at 1.3× (streamed stretch) over natural speed, in points.

    quick: the first clip only (a smoke test), else all five. Runs its own event loop: from
    async code, ``await measure_stretch_wer(quick)`` instead.
    """
    return asyncio.run(measure_stretch_wer(quick))
