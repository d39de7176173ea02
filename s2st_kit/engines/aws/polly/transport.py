"""SynthesizeSpeech calls off the loop: audio streamed chunk by chunk, speech marks read
whole (a second request, concurrent with the audio's), and the two merged.

Every blocking call runs on the synthesizer's own worker threads (an executor from
:func:`s2st_kit.bridge.executor`, never the loop's shared default executor); audio reaches
the async caller through a bounded :class:`s2st_kit.bridge.ThreadChannel` as it arrives,
so the first audio is yielded while Polly is still synthesising.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from ....bridge import ThreadChannel
from ....errors import S2STError
from ....records import AudioChunk
from ..errors import RetryPolicy, call_with_retry, map_boto_error
from ..session import ClientFactory
from .marks import SpeechMark, marks_request, parse_marks
from .ssml import RequestText

__all__ = ["PollyTransport"]

logger = logging.getLogger(__name__)

_PERMISSION = "polly:SynthesizeSpeech"


@dataclass(frozen=True, slots=True)
class PollyTransport:
    """How one synthesizer talks to Polly.

    name: engine name for messages. read_bytes: bytes per audio read (even).
    max_pending_chunks: audio chunks read ahead of the consumer before the reader waits.
    """

    clients: ClientFactory
    retry: RetryPolicy
    executor: concurrent.futures.ThreadPoolExecutor
    name: str
    read_bytes: int
    max_pending_chunks: int

    async def _call(self, request: dict[str, Any], operation: str) -> Any:
        return await call_with_retry(
            lambda: self.clients.get().synthesize_speech(**request),
            policy=self.retry,
            engine=self.name,
            operation=operation,
            permission=_PERMISSION,
            extra_permissions="Lexicons must exist in the same region.",
            executor=self.executor,
        )

    async def fetch(self, request: dict[str, Any]) -> bytes:
        """One request whose whole body is wanted (speech marks, JSON lines); the call
        and the read run in a worker thread."""
        response = await self._call(request, "SynthesizeSpeech (speech marks)")
        body = response["AudioStream"]
        loop = asyncio.get_running_loop()
        try:
            data: bytes = await loop.run_in_executor(self.executor, body.read)
        except Exception as exc:
            raise map_boto_error(
                exc,
                engine=self.name,
                operation="SynthesizeSpeech (reading speech marks)",
                permission=_PERMISSION,
            ) from exc
        finally:
            with contextlib.suppress(Exception):  # already read, or failed: just drop it
                body.close()
        return data

    async def marks(
        self, request: dict[str, Any], sent: RequestText, piece: str, offset: int, at_s: float
    ) -> list[SpeechMark]:
        """The speech marks for audio ``request`` (which says ``sent``, i.e. ``piece``):
        char offsets from ``offset``, times from ``at_s`` (s); [] with a warning when they
        could not be had (the audio goes on without them)."""
        try:
            raw = await self.fetch(marks_request(request))
            return parse_marks(raw, sent, piece, char_offset=offset, time_offset_s=at_s)
        except S2STError as exc:
            logger.warning("%s: no speech marks for %d characters: %s", self.name, len(piece), exc)
            return []

    async def audio_and_marks(
        self,
        request: dict[str, Any],
        marks: asyncio.Future[list[SpeechMark]] | None,
        start_s: float,
        sample_rate: int,
    ) -> AsyncGenerator[AudioChunk | SpeechMark, None]:
        """The audio of ``request`` as chunks from ``start_s`` (s, at ``sample_rate`` Hz),
        and ``marks`` as soon as they are in (checked before each chunk; awaited after the
        last). Stopped early, the marks request is cancelled."""
        position_s = start_s
        try:
            async with contextlib.aclosing(self.stream(request)) as audio:
                async for pcm in audio:
                    if marks is not None and marks.done():
                        for mark in marks.result():
                            yield mark
                        marks = None
                    chunk = AudioChunk(pcm, sample_rate, position_s)
                    position_s = chunk.end_s
                    yield chunk
            if marks is not None:
                for mark in await marks:
                    yield mark
                marks = None
        finally:
            if marks is not None:
                marks.cancel()

    async def stream(self, request: dict[str, Any]) -> AsyncGenerator[bytes, None]:
        """One SynthesizeSpeech request; its audio as it arrives (even byte counts)."""
        response = await self._call(request, "SynthesizeSpeech")
        body = response["AudioStream"]
        channel: ThreadChannel[bytes | Exception | None] = ThreadChannel(self.max_pending_chunks)
        reader = asyncio.get_running_loop().run_in_executor(
            self.executor, _read_body, body, channel, self.read_bytes
        )
        try:
            while (item := await channel.get()) is not None:
                if isinstance(item, Exception):
                    raise map_boto_error(
                        item,
                        engine=self.name,
                        operation="SynthesizeSpeech (reading audio)",
                        permission=_PERMISSION,
                    ) from item
                yield item
        finally:
            channel.close()  # the reader's next put returns False: it stops
            if not reader.done():
                # Stopped early: closing the body ends a blocked read; do not wait long.
                with contextlib.suppress(Exception):
                    body.close()
                with contextlib.suppress(Exception, asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(reader), 1.0)


def _read_body(
    body: Any, channel: ThreadChannel[bytes | Exception | None], read_bytes: int
) -> None:
    """(Worker thread.) Read ``body`` in ``read_bytes`` pieces (even byte counts) into
    ``channel``; then None, or the exception that ended the read."""
    carry = b""
    try:
        while not channel.closed:
            data = body.read(read_bytes)
            if not data:
                channel.put(None)
                return
            data = carry + data
            cut = len(data) - len(data) % 2
            carry = data[cut:]
            if cut and not channel.put(data[:cut]):
                return
    except Exception as exc:
        channel.put(exc)
    finally:
        with contextlib.suppress(Exception):  # the body may be half-read: just drop it
            body.close()
