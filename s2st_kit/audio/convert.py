"""Sample-format conversion: down-mix, resample (soxr), and re-chunk PCM streams.

Everything inside the pipeline is mono signed 16-bit PCM (:class:`~s2st_kit.records.AudioChunk`).
"""

from __future__ import annotations

import numpy as np
import soxr

from ..records import AudioChunk

__all__ = ["Rechunker", "StreamResampler", "float_to_pcm16", "resample", "to_mono"]


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array; 1-D input is returned as is."""
    a = np.asarray(samples)
    if a.ndim == 1:
        return a
    if a.ndim != 2:
        raise ValueError(f"expected (frames, channels) audio, got shape {a.shape}")
    if a.shape[1] == 1:
        return a[:, 0]
    mono: np.ndarray = a.astype(np.float32).mean(axis=1)  # numpy types mean() as Any
    return mono


def float_to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] → int16 (clipped)."""
    a = np.asarray(samples, dtype=np.float32)
    return np.clip(np.round(a * 32767.0), -32768, 32767).astype(np.int16)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample a whole mono float32 signal (soxr, high quality)."""
    a = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate or a.size == 0:
        return a
    out: np.ndarray = soxr.resample(a, from_rate, to_rate, quality="HQ")  # soxr is untyped
    return out


class StreamResampler:
    """Chunk-by-chunk resampling of mono PCM16 to ``to_rate`` (Hz), keeping positions.

    Output chunks carry ``start_s`` = input samples consumed so far, so positions stay in
    the input stream's time base. Call :meth:`flush` at the end to get the filter's tail.
    The input rate is taken from the first chunk; a rate change mid-stream restarts it.
    """

    def __init__(self, to_rate: int) -> None:
        self.to_rate = to_rate
        self._from_rate: int | None = None
        self._stream: soxr.ResampleStream | None = None
        self._out_pos = 0  # output samples produced

    def _start(self, from_rate: int) -> None:
        self._from_rate = from_rate
        self._stream = (
            None
            if from_rate == self.to_rate
            else soxr.ResampleStream(from_rate, self.to_rate, 1, dtype="int16", quality="HQ")
        )

    def process(self, chunk: AudioChunk) -> AudioChunk:
        """Resample one chunk (the result may be a few samples shorter/longer: filter delay)."""
        if self._from_rate != chunk.sample_rate:
            if self._stream is not None and self._from_rate is not None:
                self._out_pos = round(chunk.start_s * self.to_rate)
            self._start(chunk.sample_rate)
        if self._stream is None:
            out = chunk.pcm
        else:
            out = self._stream.resample_chunk(chunk.samples(), last=False).tobytes()
        start = self._out_pos / self.to_rate
        self._out_pos += len(out) // 2
        return AudioChunk(out, self.to_rate, start)

    def flush(self) -> AudioChunk:
        """The remaining samples held by the filter (possibly empty)."""
        out = b""
        if self._stream is not None:
            out = self._stream.resample_chunk(np.zeros(0, np.int16), last=True).tobytes()
        start = self._out_pos / self.to_rate
        self._out_pos += len(out) // 2
        return AudioChunk(out, self.to_rate, start)


class Rechunker:
    """Re-cut a PCM16 stream into uniform chunks of ``chunk_ms`` milliseconds.

    ``push`` returns the complete chunks available; ``flush`` the (shorter) remainder.
    ``start_s`` of each output chunk is its position in the stream (s).
    """

    def __init__(self, sample_rate: int, chunk_ms: int) -> None:
        self.sample_rate = sample_rate
        self.chunk_bytes = 2 * max(1, round(sample_rate * chunk_ms / 1000))
        self._buf = bytearray()
        self._pos = 0  # samples emitted
        self._origin: float | None = None

    def push(self, chunk: AudioChunk) -> list[AudioChunk]:
        """Add a chunk (at ``sample_rate``) and return the full chunks now available."""
        if chunk.sample_rate != self.sample_rate:
            raise ValueError(f"Rechunker expects {self.sample_rate} Hz, got {chunk.sample_rate}")
        if self._origin is None:
            self._origin = chunk.start_s
        self._buf += chunk.pcm
        out = []
        n = self.chunk_bytes
        while len(self._buf) >= n:
            out.append(self._emit(bytes(self._buf[:n])))
            del self._buf[:n]
        return out

    def flush(self) -> list[AudioChunk]:
        """Whatever is left (one shorter chunk), or nothing."""
        if not self._buf:
            return []
        rest = self._emit(bytes(self._buf))
        self._buf.clear()
        return [rest]

    def _emit(self, pcm: bytes) -> AudioChunk:
        start = (self._origin or 0.0) + self._pos / self.sample_rate
        self._pos += len(pcm) // 2
        return AudioChunk(pcm, self.sample_rate, start)
