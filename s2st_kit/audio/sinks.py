"""Audio out: a WAV file, and a sink that plays in real time without a sound card."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Protocol, cast

import soundfile as sf

from ..engines.protocols import AudioSink
from ..errors import AudioError
from ..records import AudioChunk

__all__ = ["PacedSink", "WavSink"]


class _OpenRateSink(Protocol):
    """A sink whose rate may still be open: ``None`` until it is told or sees its first chunk
    (:class:`WavSink`, :class:`~s2st_kit.audio.MemorySink`, the browser speaker's sink)."""

    sample_rate: int | None

    async def write(self, chunk: AudioChunk) -> None: ...

    async def drain(self) -> None: ...

    async def aclose(self) -> None: ...


class WavSink:
    """Write translated speech to a mono 16-bit WAV file as it arrives.

    path: output file (parent folders are created).
    sample_rate: file rate (Hz); ``None`` adopts the first chunk's rate. The pipeline
        converts everything it writes to this rate.
    The file is valid after :meth:`aclose`; segments follow each other without gaps.
    """

    def __init__(self, path: str | os.PathLike[str], *, sample_rate: int | None = None) -> None:
        self.path = Path(path)
        self.sample_rate: int | None = sample_rate
        self._file: sf.SoundFile | None = None
        self.frames_written = 0
        self._closed = False

    def _open(self, rate: int) -> sf.SoundFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return sf.SoundFile(str(self.path), "w", samplerate=rate, channels=1, subtype="PCM_16")
        except Exception as exc:
            raise AudioError(f"cannot write {self.path}: {exc}") from exc

    async def write(self, chunk: AudioChunk) -> None:
        """Append ``chunk`` (must be at ``sample_rate``)."""
        if self._closed:
            raise AudioError(f"WavSink({self.path}) is closed")
        if self.sample_rate is None:
            self.sample_rate = chunk.sample_rate
        if chunk.sample_rate != self.sample_rate:
            raise AudioError(f"WavSink expects {self.sample_rate} Hz, got {chunk.sample_rate} Hz")
        if self._file is None:
            self._file = self._open(self.sample_rate)
        self._file.write(chunk.samples())
        self.frames_written += chunk.n_samples

    async def drain(self) -> None:
        """Flush buffered frames to the file."""
        if self._file is not None:
            self._file.flush()

    async def aclose(self) -> None:
        """Finish the file (writes a valid, possibly empty, WAV). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._file is None:
            self._file = self._open(self.sample_rate or 16000)
        self._file.close()

    @property
    def duration_s(self) -> float:
        """Seconds written so far."""
        return self.frames_written / self.sample_rate if self.sample_rate else 0.0


class PacedSink:
    """Play audio in real time without a device: ``write`` and ``drain`` take as long as
    playback would, so ``t_play_start`` / ``t_play_end`` are realistic in tests and headless runs.

    inner: optional sink that also receives every chunk (e.g. a :class:`WavSink`); an inner
        sink whose rate is still open (``None``) is given this sink's rate.
    sample_rate: Hz; defaults to ``inner.sample_rate``, else the first chunk's rate. An
        inner sink with another fixed rate is refused (AudioError).
    speed: playback speed factor (2.0 plays twice as fast — for quick tests).
    buffer_s: how far (s) writes may run ahead of the playback position before ``write``
        waits, like a device buffer (default 0.2 s).
    """

    def __init__(
        self,
        inner: AudioSink | _OpenRateSink | None = None,
        *,
        sample_rate: int | None = None,
        speed: float = 1.0,
        buffer_s: float = 0.2,
    ) -> None:
        self.inner = inner
        inner_rate = inner.sample_rate if inner is not None else None
        if sample_rate and inner_rate and sample_rate != inner_rate:
            raise AudioError(f"PacedSink at {sample_rate} Hz cannot feed a {inner_rate} Hz sink")
        self.sample_rate: int | None = sample_rate or inner_rate
        if inner is not None and inner_rate is None and self.sample_rate is not None:
            # A rate of None is an open rate (the AudioSink contract): the sink adopts ours.
            cast(_OpenRateSink, inner).sample_rate = self.sample_rate
        self.speed = speed
        self.buffer_s = buffer_s
        self._busy_until = 0.0  # loop time when queued audio finishes playing
        self.played_s = 0.0

    async def write(self, chunk: AudioChunk) -> None:
        """Queue ``chunk`` for playback; waits while more than ``buffer_s`` is queued."""
        if self.sample_rate is None:
            self.sample_rate = chunk.sample_rate
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._busy_until = max(self._busy_until, now) + chunk.duration_s / self.speed
        self.played_s += chunk.duration_s
        if self.inner is not None:
            await self.inner.write(chunk)
        ahead = self._busy_until - loop.time() - self.buffer_s
        if ahead > 0:
            await asyncio.sleep(ahead)

    async def drain(self) -> None:
        """Return when everything written has been played."""
        loop = asyncio.get_running_loop()
        rest = self._busy_until - loop.time()
        if rest > 0:
            await asyncio.sleep(rest)
        if self.inner is not None:
            await self.inner.drain()

    async def aclose(self) -> None:
        """Close the inner sink (does not wait for playback: call drain first)."""
        if self.inner is not None:
            await self.inner.aclose()
