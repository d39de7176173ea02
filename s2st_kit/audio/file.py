"""Audio files in: :class:`FileSource` and the checks that refuse bad files up front."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import AudioFormatError
from ..records import AudioChunk
from .convert import float_to_pcm16, resample, to_mono

__all__ = ["AudioInfo", "FileSource", "probe", "read_audio", "split_stereo"]


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What :func:`probe` found: native rate (Hz), channels, frames, duration (s), format."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    duration_s: float
    format: str


def _check_wav_truncation(path: Path, size: int) -> None:
    """Refuse a RIFF/WAVE file whose data chunk claims more bytes than the file holds."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            hdr = f.read(8)
            if len(hdr) < 8:
                break
            cid, clen = hdr[:4], struct.unpack("<I", hdr[4:])[0]
            if cid == b"data":
                available = size - pos - 8
                # 0 and 0xFFFFFFFF are used by streaming writers for "unknown length".
                if clen not in (0, 0xFFFFFFFF) and clen > available:
                    raise AudioFormatError(
                        f"{path}: truncated WAV — the header announces {clen} bytes of audio but "
                        f"only {available} are present. Re-export or re-download the file."
                    )
                return
            pos += 8 + clen + (clen & 1)
        raise AudioFormatError(f"{path}: WAV file has no 'data' chunk (no audio). Re-export it.")


def probe(path: str | os.PathLike[str]) -> AudioInfo:
    """Check that ``path`` is readable, non-empty, complete audio; raise AudioFormatError if not."""
    p = Path(path)
    if not p.exists():
        raise AudioFormatError(f"{p}: no such file")
    if p.is_dir():
        raise AudioFormatError(f"{p}: is a directory, expected an audio file")
    size = p.stat().st_size
    if size == 0:
        raise AudioFormatError(f"{p}: the file is empty (0 bytes); record or export it again")
    _check_wav_truncation(p, size)
    try:
        info = sf.info(str(p))
    except Exception as exc:  # soundfile raises RuntimeError/LibsndfileError/TypeError
        raise AudioFormatError(
            f"{p}: not a readable audio file ({exc}). Supported: WAV, FLAC, OGG, MP3 and the other "
            "formats libsndfile reads; convert with e.g. 'sox in.ext -r 16000 -c 1 out.wav'."
        ) from exc
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioFormatError(f"{p}: contains no audio frames")
    return AudioInfo(
        path=p,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        duration_s=info.frames / info.samplerate,
        format=f"{info.format}/{info.subtype}",
    )


def _check_channel(info: AudioInfo, channel: int | None) -> None:
    if channel is not None and not 0 <= channel < info.channels:
        raise AudioFormatError(
            f"{info.path}: has {info.channels} channel(s), no channel {channel} "
            f"(channels count from 0: 0 = left, 1 = right)"
        )


def read_audio(
    path: str | os.PathLike[str], *, sample_rate: int | None = None, channel: int | None = None
) -> tuple[np.ndarray, int]:
    """Whole file as mono float32 in [-1, 1], resampled to ``sample_rate`` if given.

    channel: take this channel only (0 = left, 1 = right); ``None`` mixes all to mono.
    Returns ``(samples, rate)``. Blocking: call it in a thread from async code.
    """
    info = probe(path)
    _check_channel(info, channel)
    data, rate = sf.read(str(info.path), dtype="float32", always_2d=True)
    picked = data if channel is None else data[:, channel : channel + 1]
    mono = to_mono(picked).astype(np.float32)
    if sample_rate is not None and sample_rate != rate:
        mono, rate = resample(mono, rate, sample_rate), sample_rate
    return mono, int(rate)


class FileSource:
    """Stream an audio file as mono PCM16 chunks, optionally paced like a live microphone.

    path: any file libsndfile reads (WAV, FLAC, OGG, MP3, ...). Checked at construction:
        a missing, empty, truncated or non-audio file raises AudioFormatError right away.
    sample_rate: output rate (Hz); ``None`` keeps the file's rate (the pipeline converts).
    chunk_ms: chunk duration (ms), default 100.
    realtime: ``True`` paces chunks at the speed of speech (each chunk is released when a
        microphone would have captured it), ``False`` delivers as fast as consumed.
    speed: pacing factor when ``realtime`` (2.0 = twice real time).
    channel: stream only this channel of a multi-channel file (0 = left, 1 = right: one
        party each in a stereo call recording, see :func:`split_stereo`); ``None`` (default)
        mixes every channel to mono.
    ``realtime`` and ``speed`` make it a :class:`~s2st_kit.engines.protocols.PacedSource`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sample_rate: int | None = None,
        chunk_ms: int = 100,
        realtime: bool = True,
        speed: float = 1.0,
        channel: int | None = None,
    ) -> None:
        self.info = probe(path)
        _check_channel(self.info, channel)
        self.channel = channel
        self.path = self.info.path
        self.sample_rate = sample_rate or self.info.sample_rate
        self.chunk_ms = chunk_ms
        self.realtime: bool = realtime  # PacedSource
        self.speed: float = speed
        self._closed = False

    @property
    def duration_s(self) -> float:
        """Duration of the file (s)."""
        return self.info.duration_s

    def __repr__(self) -> str:
        return (
            f"FileSource({str(self.path)!r}, {self.info.sample_rate} Hz x{self.info.channels} → "
            f"{self.sample_rate} Hz mono{'' if self.channel is None else f' (channel {self.channel})'}, "
            f"{self.duration_s:.2f} s, realtime={self.realtime})"
        )

    async def aclose(self) -> None:
        """Stop delivering chunks (the iterator ends at its next step)."""
        self._closed = True

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[AudioChunk]:
        samples, rate = await asyncio.to_thread(
            read_audio, self.path, sample_rate=self.sample_rate, channel=self.channel
        )
        pcm = float_to_pcm16(samples)
        step = max(1, round(rate * self.chunk_ms / 1000))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for start in range(0, len(pcm), step):
            if self._closed:
                return
            chunk = AudioChunk(pcm[start : start + step].tobytes(), rate, start / rate)
            if self.realtime:
                delay = t0 + chunk.end_s / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self._closed:
                    return
            yield chunk


def split_stereo(
    path: str | os.PathLike[str],
    *,
    sample_rate: int | None = None,
    chunk_ms: int = 100,
    realtime: bool = True,
    speed: float = 1.0,
) -> tuple[FileSource, FileSource]:
    """A two-party call recording as two sources: ``(left, right)`` = (party A, party B).

    Arguments as :class:`FileSource`. Raises AudioFormatError unless the file has exactly two
    channels (with a hint for a mono recording: give each party's file instead).
    """
    info = probe(path)
    if info.channels != 2:
        raise AudioFormatError(
            f"{info.path}: a stereo call recording has 2 channels (left = party A, right = "
            f"party B); this one has {info.channels}. For one file per party, pass both files."
        )

    def side(channel: int) -> FileSource:
        return FileSource(
            path, sample_rate=sample_rate, chunk_ms=chunk_ms, realtime=realtime, speed=speed,
            channel=channel,
        )  # fmt: skip

    return side(0), side(1)
