"""Streaming time-stretch of speech: faster (or slower), same pitch — Rubber Band via pedalboard.

Used by lag control for synthesizers without a rate of their own
(:class:`~s2st_kit.engines.protocols.SupportsRate`): their PCM is played ``speed`` times faster.

Why blocks, and how they are joined. pedalboard (0.9.26) exposes Rubber Band's time
stretching only as a one-shot function, :func:`pedalboard.time_stretch`, which builds a fresh
offline ``RubberBandStretcher`` per call; its one streaming Rubber Band object, ``PitchShift``,
keeps the length and primes itself with a second of silence (too late for a first block). So
the stream is stretched in blocks of ``block_s`` and the pieces are joined here:

* **context** — each block is stretched with enough of the input before it prepended
  (``EDGE_S`` more than the join and its crossfade can reach back) and only the inside of
  the result is used: a fresh stretcher's start and end are where its edge effects are;
* **joins inside, at a quiet point** — a block's output is emitted only up to its join,
  which lies at least ``MARGIN_S`` before the block's end, at the quietest crossfade-long
  stretch of input within ``SEARCH_S`` before that (speech has a pause or a closure every
  syllable or two); the next block, whose context covers that audio, goes on from there.
  So every join lies inside both stretches, and where little is lost if the two differ;
* **aligned crossfade** — two independent stretches of the same audio are not in phase
  (measured on a tone and on LibriVox speech: their difference is as loud as the signal or
  louder), so a plain crossfade can cancel (a 440 Hz tone dropped to 30 % mid-fade). The
  new block's output is shifted by at most ``ALIGN_S`` to the lag where it best matches the
  end of the previous one (normalised cross-correlation), then the two are crossfaded
  linearly over ``CROSSFADE_S``;
* **exact length** — each block's share is cut so that the output so far is
  ``round(input so far / speed)`` samples: durations are exact and the alignment shifts
  never accumulate.

Measured on the five LibriVox clips at 1.3× (``benchmarks/stretch.py``, pocketsphinx, WER
averaged over four positions of the block grid; natural speed 23.9 %): joins at a fixed
place +8.1 WER points (+7.4 unaligned), quiet aligned joins +1.1 (+3.2 with 15 ms more
context; +6.3 unaligned), the whole clip stretched in one piece +5.7. One word of the 71 is
1.4 points: the ranking is what these figures show, not the decimals.

The first output comes with the first full block (``block_s`` of input), all of it up to
its join; :meth:`StreamStretcher.flush` gives the rest. Rubber Band's finer engine costs
about 5 ms per call plus ≈ 8 ms per second of audio (2 cores, 16 kHz): ≈ 25 ms per second
of audio with 0.5 s blocks, ≈ 14 ms with 1 s blocks, ≈ 7 ms with ``high_quality=False``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from concurrent.futures import Executor

import numpy as np
import pedalboard

from ..records import AudioChunk
from .convert import float_to_pcm16

__all__ = ["MAX_SPEED", "MIN_SPEED", "StreamStretcher", "stretch_stream"]

#: Range of ``speed`` accepted (× natural speed).
MIN_SPEED = 0.25
MAX_SPEED = 4.0
#: Input before the earliest point a block's output is used, stretched and discarded (s).
EDGE_S = 0.1
#: Input at the end of each block never emitted with it: the next block emits it (s).
MARGIN_S = 0.05
#: How far before the margin a join may move to the quietest point (input s).
SEARCH_S = 0.15
#: Length of the crossfade at each join (output s).
CROSSFADE_S = 0.02
#: Largest shift of a block's output to bring it in phase with the previous one (output s).
ALIGN_S = 0.006
#: Fade-out where a stream's last stretch runs out before its exact length (output s).
FADE_S = 0.005
#: Shortest block (s): a join, its search range and crossfade must fit inside one.
MIN_BLOCK_S = 0.3

_Float = np.ndarray  # float32 mono samples in [-1, 1]


class StreamStretcher:
    """Chunk-by-chunk time-stretch of mono PCM16 by ``speed`` (× natural), pitch unchanged.

    speed: 1.5 plays 1.5× faster (durations ÷ 1.5); ``MIN_SPEED``–``MAX_SPEED``. At 1.0 the
        chunks pass through untouched.
    block_s: input stretched at a time (s, default 0.5, at least ``MIN_BLOCK_S``): the first
        output comes after one block of input; shorter blocks cost more CPU.
    high_quality: Rubber Band's finer engine (R3, default) or its faster one (R2).

    Output keeps the input's sample rate; ``start_s`` continues from the first input chunk's
    ``start_s`` in output time (each chunk starts where the previous one ended). The rate is
    taken from the first chunk; a different rate later raises ``ValueError``. Not
    thread-safe: one stream, one caller at a time (:func:`stretch_stream` runs it on a
    worker thread). Call :meth:`flush` at the end.
    """

    def __init__(self, speed: float, *, block_s: float = 0.5, high_quality: bool = True) -> None:
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise ValueError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {speed}")
        if block_s < MIN_BLOCK_S:
            raise ValueError(f"block_s must be at least {MIN_BLOCK_S} s, got {block_s}")
        self.speed = speed
        self.block_s = block_s
        self.high_quality = high_quality
        self._rate: int | None = None
        self._origin = 0.0
        self._buf: _Float = np.zeros(0, np.float32)  # input from sample _buf_start on
        self._buf_start = 0
        self._n_in = 0  # input samples received
        self._blocks = 0  # blocks stretched
        self._tail: _Float = np.zeros(0, np.float32)  # output held for the next crossfade
        self._n_out = 0  # output samples emitted
        self._flushed = False

    @property
    def sample_rate(self) -> int | None:
        """The stream's sample rate (Hz), once the first chunk has arrived."""
        return self._rate

    def process(self, chunk: AudioChunk) -> list[AudioChunk]:
        """Add a chunk; return the stretched audio of every block it completed (maybe none)."""
        if self._flushed:
            raise RuntimeError("StreamStretcher was flushed; make a new one per stream")
        self._accept(chunk)
        if self.speed == 1.0:
            return [chunk] if chunk.pcm else []
        samples = chunk.samples().astype(np.float32) / 32767.0
        self._buf = np.concatenate([self._buf, samples])
        self._n_in += samples.size
        out = []
        while self._n_in >= (self._blocks + 1) * self._block:
            out += self._emit(self._stretch_block(final=False))
        return out

    def flush(self) -> list[AudioChunk]:
        """The rest of the stream: the last (partial) block and the held-back margin."""
        if self._flushed or self._rate is None or self.speed == 1.0:
            self._flushed = True
            return []
        self._flushed = True
        return self._emit(self._stretch_block(final=True))

    # ------------------------------------------------------------------ internals

    @property
    def _block(self) -> int:
        return round(self.block_s * (self._rate or 0))

    @property
    def _context(self) -> int:
        """Input stretched before a block: back to its earliest join, the crossfade and the
        alignment range before it, and ``EDGE_S`` for the stretcher to settle (samples)."""
        reach = MARGIN_S + SEARCH_S + (CROSSFADE_S + ALIGN_S) * self.speed + EDGE_S
        return self._samples(reach)

    def _samples(self, seconds: float) -> int:
        return round(seconds * (self._rate or 0))

    def _accept(self, chunk: AudioChunk) -> None:
        if self._rate is None:
            self._rate = chunk.sample_rate
            self._origin = chunk.start_s
        elif chunk.sample_rate != self._rate:
            raise ValueError(
                f"StreamStretcher got {chunk.sample_rate} Hz after {self._rate} Hz; "
                "use one stretcher per stream"
            )

    def _emit(self, samples: _Float) -> list[AudioChunk]:
        if samples.size == 0:
            return []
        assert self._rate is not None
        start = self._origin + self._n_out / self._rate
        self._n_out += samples.size
        return [AudioChunk.from_array(float_to_pcm16(samples), self._rate, start)]

    def _stretch_block(self, *, final: bool) -> _Float:
        """Stretch the next block (with its context) and return the output it completes.

        Output sample ``j`` of the stretch stands for input ``first + j·speed``; the part
        emitted runs from the previous join (minus the crossfade, which overlaps the held
        tail) to this block's join (or to the end of the stream when ``final``).
        """
        end = self._n_in if final else (self._blocks + 1) * self._block
        first = max(0, self._blocks * self._block - self._context)
        window = self._buf[first - self._buf_start : end - self._buf_start]
        stretched = self._time_stretch(window)
        crossfade = self._tail.size
        offset = round(self._n_out - first / self.speed)  # where the held tail starts
        if crossfade:
            offset += _best_lag(stretched, offset, self._tail, self._samples(ALIGN_S))
        if final:
            n_emit, n_hold = round(end / self.speed) - self._n_out, 0
        else:
            join = round(self._quiet_join(end) / self.speed)
            n_hold = self._samples(CROSSFADE_S)
            n_emit = join - n_hold - self._n_out
        piece = _fit(stretched[max(0, offset) :], n_emit + n_hold, self._samples(FADE_S))
        crossfade = min(crossfade, piece.size)
        if crossfade:
            ramp = np.linspace(0.0, 1.0, crossfade + 2, dtype=np.float32)[1:-1]
            piece[:crossfade] = self._tail[:crossfade] * (1 - ramp) + piece[:crossfade] * ramp
        self._tail = piece[n_emit:].copy()
        self._blocks += 1
        keep_from = max(0, self._blocks * self._block - self._context)
        self._buf = self._buf[keep_from - self._buf_start :]
        self._buf_start = keep_from
        return piece[:n_emit]

    def _quiet_join(self, end: int) -> int:
        """Where (input sample) this block hands over to the next: the end of the quietest
        crossfade-long stretch of input within ``SEARCH_S`` before the held-back margin."""
        latest = end - self._samples(MARGIN_S)
        earliest = latest - self._samples(SEARCH_S)
        width = max(1, round(self._samples(CROSSFADE_S) * self.speed))
        if earliest >= latest:
            return latest
        seg = self._buf[earliest - width - self._buf_start : latest - self._buf_start]
        energy = np.convolve(seg.astype(np.float64) ** 2, np.ones(width), mode="valid")
        return earliest + int(np.argmin(energy))

    def _time_stretch(self, window: _Float) -> _Float:
        if window.size == 0:
            return window
        out = pedalboard.time_stretch(
            window.reshape(1, -1),
            float(self._rate or 0),
            self.speed,
            high_quality=self.high_quality,
        )
        return np.asarray(out[0], dtype=np.float32)


def _fit(samples: _Float, n: int, fade: int) -> _Float:
    """The first ``n`` samples (a copy); if there are fewer, the last ``fade`` of them fade
    out linearly and zeros follow (no step where the stretched audio runs out)."""
    out = np.zeros(max(0, n), np.float32)
    k = min(out.size, samples.size)
    out[:k] = samples[:k]
    if k < out.size and k > 0:
        m = min(fade, k)
        out[k - m : k] *= np.linspace(1.0, 0.0, m + 1, dtype=np.float32)[1:]
    return out


def _best_lag(stretched: _Float, offset: int, tail: _Float, max_lag: int) -> int:
    """The shift (samples, ±``max_lag``) of ``stretched[offset:]`` that best matches ``tail``.

    Normalised cross-correlation; 0 when the tail is silent or there is no room to search.
    """
    lo = max(0, offset - max_lag)
    hi = min(stretched.size, offset + max_lag + tail.size)
    region = stretched[lo:hi].astype(np.float64)
    if region.size < tail.size or not np.any(tail):
        return 0
    ref = tail.astype(np.float64)
    corr = np.correlate(region, ref, mode="valid")
    energy = np.convolve(region**2, np.ones(tail.size), mode="valid")
    score = corr / np.sqrt(np.maximum(energy, 1e-12))
    return lo + int(np.argmax(score)) - offset


async def stretch_stream(
    chunks: AsyncIterable[AudioChunk],
    speed: float,
    *,
    block_s: float = 0.5,
    high_quality: bool = True,
    executor: Executor | None = None,
) -> AsyncIterator[AudioChunk]:
    """Time-stretch an audio stream by ``speed`` without blocking the event loop.

    The stretching runs on ``executor`` (default: the loop's default executor); the loop only
    hands chunks over. Output comes block by block (``block_s`` of input, default 0.5 s), the
    rest when ``chunks`` ends. At ``speed == 1.0`` the chunks pass through untouched.
    """
    if speed == 1.0:
        async for chunk in chunks:
            yield chunk
        return
    stretcher = StreamStretcher(speed, block_s=block_s, high_quality=high_quality)
    loop = asyncio.get_running_loop()
    async for chunk in chunks:
        for out in await loop.run_in_executor(executor, stretcher.process, chunk):
            yield out
    for out in await loop.run_in_executor(executor, stretcher.flush):
        yield out
