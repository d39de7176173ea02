"""The session's event bus: subscribers, the async event iterator, and failures they raise."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..events import Event, StateChanged

__all__ = ["EventBus", "Subscriber"]

logger = logging.getLogger("s2st_kit.pipeline")

Subscriber = Callable[[Event], Any]
_END = object()


class EventBus:
    """Delivers each event to every subscriber, in order, on the event loop.

    A plain callback runs at once and must be quick; a coroutine function is scheduled as a
    task. Either way an exception it raises is logged (``s2st_kit.pipeline`` logger, with
    the subscriber and the event named) and counted in :attr:`failures`, never raised into
    the session and never left unretrieved.
    """

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._tasks: set[asyncio.Future[Any]] = set()
        self.failures = 0

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Hand ``event`` to every subscriber (coroutines become tasks)."""
        for cb in list(self._subscribers):
            try:
                result = cb(event)
            except Exception:
                self._failed(cb, event)
                continue
            if asyncio.iscoroutine(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(functools.partial(self._task_done, cb=cb, event=event))

    def _task_done(self, task: asyncio.Future[Any], *, cb: Subscriber, event: Event) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # retrieved here, so asyncio never reports it as lost
        if exc is not None:
            self._failed(cb, event, exc)

    def _failed(self, cb: Subscriber, event: Event, exc: BaseException | None = None) -> None:
        self.failures += 1
        logger.error(
            "subscriber %r failed on %s",
            cb,
            type(event).__name__,
            exc_info=exc if exc is not None else True,
        )

    async def events(self, maxsize: int = 1024) -> AsyncIterator[Event]:
        """Async iterator over events until the session ends (oldest dropped if it lags)."""
        q: asyncio.Queue[Event | object] = asyncio.Queue(maxsize)

        def put(item: Event | object) -> None:
            if q.full():
                q.get_nowait()
            q.put_nowait(item)

        def on_event(ev: Event) -> None:
            put(ev)
            if isinstance(ev, StateChanged) and ev.state in ("stopped", "failed"):
                put(_END)

        unsubscribe = self.subscribe(on_event)
        try:
            while True:
                ev = await q.get()
                if not isinstance(ev, Event):  # the end marker
                    return
                yield ev
        finally:
            unsubscribe()
