"""The one thread → asyncio hand-off: device callbacks and blocking SDKs reach the loop here.

Audio devices (PortAudio's callback thread), eSpeak NG's synthesis thread, Polly's
response-body reader and the browser widget's comm thread all produce data outside the
event loop. They hand it over through this module only:

* :func:`call_soon` runs a function on the loop, from any thread (directly when already on
  the loop); it returns False instead of raising when the loop is closed (nobody listens).
* :class:`ThreadChannel` is a bounded one-way channel from one producer thread to one
  asyncio consumer: the producer blocks while ``maxsize`` items wait (back-pressure with
  no unbounded queue), and learns from ``put`` returning False that the consumer went away.
* :func:`executor` gives an engine its own named worker threads, so long blocking reads
  (a Polly audio stream) never occupy the loop's shared default executor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ThreadChannel", "call_soon", "executor"]

T = TypeVar("T")


def call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., object], *args: object) -> bool:
    """Call ``fn(*args)`` on ``loop`` from any thread; False if the loop is closed.

    On the loop's own thread (with the loop running) the call happens now; from another
    thread it is scheduled with ``loop.call_soon_threadsafe``.
    """
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        fn(*args)
        return True
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the loop is closed
        return False
    return True


class ThreadChannel(Generic[T]):
    """A bounded channel: one producer thread ``put``\\ s, one coroutine ``get``\\ s.

    maxsize: items that may wait for the consumer (default 8); the producer's ``put``
        blocks beyond that, polling every ``poll_s`` (s, default 0.05) for cancellation.
    loop: the consumer's loop (default: the running loop at construction).

    ``close()`` (consumer side, e.g. the consumer was cancelled) makes every later or
    waiting ``put`` return False, so the producer thread stops promptly.
    """

    def __init__(
        self,
        maxsize: int = 8,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        poll_s: float = 0.05,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.loop = loop or asyncio.get_running_loop()
        self._queue: asyncio.Queue[T] = asyncio.Queue()
        self._credits = threading.Semaphore(maxsize)
        self._closed = threading.Event()
        self._poll_s = poll_s

    @property
    def closed(self) -> bool:
        """True once the consumer closed the channel (or the loop went away)."""
        return self._closed.is_set()

    def put(self, item: T) -> bool:
        """(Producer thread.) Hand ``item`` over, waiting for room; False: stop producing."""
        while not self._credits.acquire(timeout=self._poll_s):
            if self._closed.is_set():
                return False
        if self._closed.is_set():
            return False
        if not call_soon(self.loop, self._queue.put_nowait, item):
            self._closed.set()
            return False
        return True

    async def get(self) -> T:
        """(Consumer, on the loop.) The next item, in the order put."""
        item = await self._queue.get()
        self._credits.release()
        return item

    def close(self) -> None:
        """(Consumer.) Stop the producer: its waiting and later ``put`` calls return False."""
        self._closed.set()


def executor(name: str, max_workers: int = 1) -> concurrent.futures.ThreadPoolExecutor:
    """Worker threads of one engine, named ``s2st-<name>`` (shut it down in ``aclose``)."""
    return concurrent.futures.ThreadPoolExecutor(
        max_workers=max_workers, thread_name_prefix=f"s2st-{name}"
    )
