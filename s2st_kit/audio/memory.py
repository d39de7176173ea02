"""In-memory audio: :class:`MemorySource` (numpy array in) and :class:`MemorySink` (audio out)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from ..records import AudioChunk
from .convert import float_to_pcm16, to_mono

__all__ = ["MemorySink", "MemorySource"]


class MemorySource:
    """Stream samples held in memory.

    samples: int16, or float in [-1, 1]; (frames,) or (frames, channels) — down-mixed.
    sample_rate: Hz. chunk_ms / realtime / speed: as :class:`~s2st_kit.audio.FileSource`
    (a :class:`~s2st_kit.engines.protocols.PacedSource`).
    """

    def __init__(
        self,
        samples: np.ndarray,
        sample_rate: int,
        *,
        chunk_ms: int = 100,
        realtime: bool = False,
        speed: float = 1.0,
    ) -> None:
        a = to_mono(np.asarray(samples))
        self._pcm = a.astype(np.int16) if a.dtype == np.int16 else float_to_pcm16(a)
        self.sample_rate = sample_rate
        self.chunk_ms = chunk_ms
        self.realtime: bool = realtime  # PacedSource
        self.speed: float = speed
        self._closed = False

    @property
    def duration_s(self) -> float:
        """Duration (s)."""
        return len(self._pcm) / self.sample_rate

    async def aclose(self) -> None:
        """Stop delivering chunks."""
        self._closed = True

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[AudioChunk]:
        step = max(1, round(self.sample_rate * self.chunk_ms / 1000))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for start in range(0, len(self._pcm), step):
            if self._closed:
                return
            chunk = AudioChunk(
                self._pcm[start : start + step].tobytes(),
                self.sample_rate,
                start / self.sample_rate,
            )
            if self.realtime:
                delay = t0 + chunk.end_s / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            yield chunk


class MemorySink:
    """Collect everything written; ``audio()`` returns it as one int16 array.

    sample_rate: Hz the pipeline converts to; ``None`` adopts the first chunk's rate.
    """

    def __init__(self, sample_rate: int | None = None) -> None:
        self.sample_rate: int | None = sample_rate
        self.chunks: list[AudioChunk] = []
        self.closed = False

    async def write(self, chunk: AudioChunk) -> None:
        """Store ``chunk``."""
        if self.sample_rate is None:
            self.sample_rate = chunk.sample_rate
        self.chunks.append(chunk)

    async def drain(self) -> None:
        """Nothing is pending in memory."""

    async def aclose(self) -> None:
        """Mark closed (the audio stays available)."""
        self.closed = True

    def audio(self) -> np.ndarray:
        """All audio written, int16."""
        if not self.chunks:
            return np.zeros(0, np.int16)
        return np.concatenate([c.samples() for c in self.chunks])

    @property
    def duration_s(self) -> float:
        """Seconds of audio written."""
        return sum(c.duration_s for c in self.chunks)
