"""The audio side of a Transcribe session: uniform frames, the stream→input timeline, re-sending.

* :func:`produce_frames` resamples the input to the request's rate and cuts it into
  uniform ``chunk_ms`` events, with :mod:`s2st_kit.audio.convert` (StreamResampler,
  Rechunker); every :class:`Frame` knows its position in the *input* (s).
* :class:`Timeline` maps one request's stream time to input time: keep-alive silence
  advances the stream but not the input, and a reconnected stream starts with re-sent audio.
* :class:`ResendBuffer` keeps the frames sent since the last final result (bounded by
  ``max_s``; silence long before the next sound is not kept), to be sent again after a
  reconnect so no speech is lost.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ....audio.convert import Rechunker, StreamResampler
from ....errors import AudioFormatError
from ....records import AudioChunk

__all__ = ["Failed", "Frame", "ResendBuffer", "Timeline", "produce_frames", "rms"]

logger = logging.getLogger(__name__)


def rms(pcm: bytes) -> float:
    """Root mean square of PCM16 audio, full scale = 1.0."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    return float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0


@dataclass(frozen=True, slots=True)
class Frame:
    """One audio event: ``pcm`` at the request's rate, ``start_s`` / ``duration_s`` in the
    input's time base (s)."""

    pcm: bytes
    start_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class Failed:
    """An error handed from a producer task to its consumer through a queue."""

    exc: BaseException


async def produce_frames(
    chunks: AsyncIterable[AudioChunk],
    out: asyncio.Queue[Frame | Failed | None],
    *,
    sample_rate: int,
    chunk_ms: int,
) -> None:
    """Put uniform frames of ``chunk_ms`` (ms) at ``sample_rate`` (Hz) on ``out``, then None.

    The last frame is padded with silence; a failure of the input is put as :class:`Failed`.
    """
    resampler = StreamResampler(sample_rate)
    rechunker = Rechunker(sample_rate, chunk_ms)
    frame_bytes = rechunker.chunk_bytes
    frame_s = frame_bytes / 2 / sample_rate
    origin: float | None = None
    in_rate: int | None = None
    try:
        async for chunk in chunks:
            if len(chunk.pcm) % 2:
                raise AudioFormatError("PCM chunks must hold whole 16-bit samples")
            if in_rate is None:
                in_rate, origin = chunk.sample_rate, chunk.start_s
            elif chunk.sample_rate != in_rate:
                raise AudioFormatError(
                    f"sample rate changed mid-stream ({in_rate} -> {chunk.sample_rate} Hz)"
                )
            for piece in rechunker.push(resampler.process(chunk)):
                await out.put(Frame(piece.pcm, (origin or 0.0) + piece.start_s, frame_s))
        for piece in rechunker.push(resampler.flush()) + rechunker.flush():
            pcm = piece.pcm.ljust(frame_bytes, b"\0")
            await out.put(Frame(pcm, (origin or 0.0) + piece.start_s, frame_s))
        await out.put(None)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        await out.put(Failed(exc))


@dataclass
class Timeline:
    """Stream time -> input time for one request (real audio only; keep-alive is not input)."""

    stream_starts: list[float] = field(default_factory=list)
    input_starts: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    stream_pos: float = 0.0  # audio sent in this request (s), keep-alive included

    def add(self, frame: Frame | None, duration_s: float) -> None:
        """Record ``duration_s`` of stream time: ``frame``'s audio, or keep-alive (None)."""
        if frame is not None:
            if (
                self.durations
                and abs(self.stream_starts[-1] + self.durations[-1] - self.stream_pos) < 1e-9
                and abs(self.input_starts[-1] + self.durations[-1] - frame.start_s) < 1e-6
            ):
                self.durations[-1] += duration_s
            else:
                self.stream_starts.append(self.stream_pos)
                self.input_starts.append(frame.start_s)
                self.durations.append(duration_s)
        self.stream_pos += duration_s

    def to_input(self, t: float) -> float:
        """The input position (s) of stream time ``t`` (s); keep-alive maps to its edges."""
        i = bisect.bisect_right(self.stream_starts, t) - 1
        if i < 0:
            return self.input_starts[0] if self.input_starts else 0.0
        offset = min(max(t - self.stream_starts[i], 0.0), self.durations[i])
        return self.input_starts[i] + offset


class ResendBuffer:
    """Frames sent since the last final result, re-sent after a reconnect.

    max_s: most audio kept (s); older frames are dropped (and counted in ``dropped_s``),
    so after a very long utterance without a final only its last ``max_s`` are re-sent.
    lead_s: quiet audio kept before the first sound (s, default 0.5): silence before it is
    forgotten, so a long pause or a muted microphone does not fill the buffer (the service
    has nothing to say about it, and a reconnect need not send it again).

    :meth:`wait_for_room` lets a sender that runs ahead of the results (a file sent faster
    than the service answers) wait for finals instead of dropping unconfirmed audio.
    """

    def __init__(self, max_s: float, *, lead_s: float = 0.5) -> None:
        self.max_s = max_s
        self.lead_s = lead_s
        self.dropped_s = 0.0
        self.position_s = 0.0  # input position (s) of the end of the newest frame
        self._frames: deque[tuple[Frame, bool]] = deque()  # (frame, quiet)
        self._duration_s = 0.0
        self._room = asyncio.Event()
        self._room.set()
        self._waited = False  # a wait for room timed out; do not wait again until there is room

    def __iter__(self) -> Iterator[Frame]:
        return iter([frame for frame, _ in self._frames])

    @property
    def duration_s(self) -> float:
        """Audio held (s)."""
        return self._duration_s

    @property
    def full(self) -> bool:
        """True when one more frame would push out unconfirmed audio."""
        return self._duration_s >= self.max_s - 1e-6

    def add(self, frame: Frame, *, quiet: bool = False) -> None:
        """Keep ``frame`` (``quiet``: no speech in it); forget silence before ``lead_s`` of
        quiet; drop the oldest frames beyond ``max_s`` (warns on the first drop)."""
        self._frames.append((frame, quiet))
        self._duration_s += frame.duration_s
        self.position_s = max(self.position_s, frame.end_s)
        self._trim_quiet()
        while self._frames and self._duration_s > self.max_s + 1e-6:
            dropped, _ = self._frames.popleft()
            self._duration_s -= dropped.duration_s
            if not self.dropped_s:
                logger.warning(
                    "aws-transcribe: more than %.0f s of audio without a final result; audio "
                    "older than that will not be re-sent after a reconnect",
                    self.max_s,
                )
            self.dropped_s += dropped.duration_s
        self._update_room()

    def _trim_quiet(self) -> None:
        """Drop leading quiet frames while more than ``lead_s`` of quiet follows them."""
        while len(self._frames) > 1 and self._frames[0][1]:
            run = 0.0
            for frame, quiet in itertools.islice(self._frames, 1, None):
                if not quiet or run > self.lead_s:
                    break
                run += frame.duration_s
            if run <= self.lead_s:
                return
            self._duration_s -= self._frames.popleft()[0].duration_s

    def clear(self) -> None:
        """Forget every frame (the session ended); ``dropped_s`` stays."""
        self._frames.clear()
        self._duration_s = 0.0
        self._update_room()

    def confirm(self, end_s: float) -> None:
        """A final result covers the input up to ``end_s`` (s): forget the frames before it."""
        while self._frames and self._frames[0][0].start_s < end_s - 1e-3:
            self._duration_s -= self._frames.popleft()[0].duration_s
        self._update_room()

    def _update_room(self) -> None:
        if self.full:
            self._room.clear()
        else:
            self._room.set()
            self._waited = False

    async def wait_for_room(self, timeout_s: float) -> bool:
        """Wait until a final makes room (True), at most ``timeout_s`` (s; False). Once a
        wait timed out, return False at once until there is room again: a live stream whose
        service gives no finals (music, noise) goes on, dropping its oldest audio."""
        if self._room.is_set():
            return True
        if self._waited:
            return False
        try:
            async with asyncio.timeout(timeout_s):
                await self._room.wait()
        except TimeoutError:
            self._waited = True
            return False
        return True
