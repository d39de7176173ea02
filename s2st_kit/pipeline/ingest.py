"""Audio in: the source reader, and the bounded put every session queue goes through."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..audio.convert import Rechunker, StreamResampler
from ..config import Overflow
from ..engines.protocols import AudioSource
from ..errors import QueueOverflowError
from ..records import AudioChunk
from .playback import END
from .speech import SpeechTimes

__all__ = ["put_bounded", "read_source"]

T = TypeVar("T")


async def put_bounded(q: asyncio.Queue[T], item: T, *, overflow: Overflow, what: str) -> T | None:
    """Put ``item`` with the overflow policy; returns the item dropped to make room, if any.

    ``"block"`` waits for room; ``"drop-oldest"`` drops the oldest waiting item;
    ``"error"`` raises :class:`~s2st_kit.errors.QueueOverflowError` naming the queue.
    """
    if overflow == "block" or not q.full():
        await q.put(item)
        return None
    if overflow == "error":
        raise QueueOverflowError(
            f"the {what} queue is full ({q.maxsize} items): the next stage cannot keep up. "
            "Use a larger queue, overflow='block' or 'drop-oldest', or faster engines."
        )
    dropped = q.get_nowait()
    q.put_nowait(item)
    return dropped


async def read_source(
    source: AudioSource,
    rate: int,
    chunk_ms: int,
    speech: SpeechTimes,
    now: Callable[[], float],
    push: Callable[[AudioChunk], Awaitable[None]],
    audio_q: asyncio.Queue[Any],
) -> None:
    """Resample the source to ``rate`` (Hz), re-chunk to ``chunk_ms`` and ``push`` each chunk.

    Records each source chunk's delivery time in ``speech``; ends with the end marker on
    ``audio_q`` (never dropped).
    """
    resampler = StreamResampler(rate)
    chunker = Rechunker(rate, chunk_ms)
    async for chunk in source:
        if chunk.n_samples:
            converted = resampler.process(chunk)
            speech.delivered(converted.end_s, now())
            for c in chunker.push(converted):
                await push(c)
    for c in chunker.push(resampler.flush()) + chunker.flush():
        await push(c)
    await audio_q.put(END)
