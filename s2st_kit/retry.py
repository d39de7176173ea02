"""One retry policy for every layer: attempts, full-jitter backoff, Retry-After, a time budget.

Every retry in s2st_kit goes through :func:`retry_call` (a call that may be throttled or time
out) or :class:`RestartBudget` (a long-lived stream that may drop and be reopened):

* pipeline stage retries (translation, synthesis),
* AWS Translate / Polly throttling retries inside the engines,
* Transcribe stream reconnects and the pipeline's recognizer restarts.

**Retries never multiply across layers.** The outermost :func:`retry_call` opens a
*retry scope* (a :mod:`contextvars` variable, so it follows the call into tasks and
``asyncio.to_thread`` workers); a nested :func:`retry_call` inside it draws its attempts
and its time from the same scope instead of starting its own. One throttled segment
therefore costs at most ``policy.max_attempts`` calls in total (default 3) and at most
``policy.budget_s`` seconds of waiting (default 10 s), however many layers retry. (A scope
belongs to the task that opened it: tasks started inside a call inherit the context
variable but open scopes of their own.)

Backoff is "full jitter": the wait after failed attempt *n* (0-based) is
``uniform(0, min(cap_s, base_s * 2**n))``; an error's ``retry_after_s`` hint (a server's
Retry-After) raises that wait to at least the hint, within the remaining budget.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import ConfigError, EngineError, ThrottledError

__all__ = ["RestartBudget", "RetryPolicy", "mark_spent", "retries_spent", "retry_call"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long a failing call is tried.

    max_attempts: calls in total, the first included (default 3; 1 = never retry).
    base_s: backoff scale (s, default 0.1); attempt n waits up to ``base_s * 2**n``.
    cap_s: longest single wait (s, default 5).
    budget_s: longest total wait for one call across all its retries and layers (s,
        default 10); a retry whose wait would pass it is not made.
    rng: random source of the jitter (seed it for reproducible tests).
    """

    max_attempts: int = 3
    base_s: float = 0.1
    cap_s: float = 5.0
    budget_s: float = 10.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_s < 0 or self.cap_s < 0 or self.budget_s < 0:
            raise ConfigError("retry times (base_s, cap_s, budget_s) must be >= 0 s")

    def ceiling(self, attempt: int) -> float:
        """Upper bound (s) of the wait after failed attempt ``attempt`` (0-based)."""
        return min(self.cap_s, self.base_s * 2.0**attempt)

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """The wait (s) after failed attempt ``attempt``: full jitter, at least ``retry_after_s``."""
        wait = self.rng.uniform(0.0, self.ceiling(attempt))
        if retry_after_s is not None and retry_after_s > wait:
            wait = min(float(retry_after_s), self.cap_s)
        return wait


@dataclass(slots=True)
class _Scope:
    """The shared budget of one outermost call: failures so far, the deadline, the owner."""

    policy: RetryPolicy
    deadline: float
    owner: asyncio.Task[object] | None
    on_retry: Callable[[BaseException, int, float], None] | None = None
    failures: int = 0


_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("s2st_retry", default=None)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, EngineError) and exc.retryable


async def retry_call(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    what: str = "call",
    retryable: Callable[[BaseException], bool] = _retryable,
    on_retry: Callable[[BaseException, int, float], None] | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Await ``call()``; retry errors that ``retryable`` accepts, within one shared budget.

    policy: attempts, backoff and time budget. Inside an enclosing :func:`retry_call` the
        enclosing scope's policy and remaining budget apply instead (retries never
        multiply); ``policy`` is used only by the outermost call.
    what: names the call in log messages (``"translation of segment 4"``).
    retryable: which exceptions are worth another attempt (default: an
        :class:`~s2st_kit.errors.EngineError` with ``retryable=True``).
    on_retry: called as ``on_retry(exc, attempt, wait_s)`` before each wait (counters); the
        outermost call's ``on_retry`` also hears the retries made by nested layers.

    The last error is re-raised unchanged when the attempts or the budget run out.
    """
    outer = _scope.get()
    task = asyncio.current_task()
    if outer is not None and outer.owner is not task:
        outer = None  # inherited by a task the call started: that task's calls are its own
    scope = outer or _Scope(policy, clock() + policy.budget_s, task, on_retry)
    token = _scope.set(scope) if outer is None else None
    try:
        while True:
            try:
                return await call()
            except Exception as exc:
                if retries_spent(exc):
                    raise  # an inner layer spent the shared budget on it
                scope.failures += 1
                hint = exc.retry_after_s if isinstance(exc, ThrottledError) else None
                wait = scope.policy.delay(scope.failures - 1, hint)
                if (
                    not retryable(exc)
                    or scope.failures >= scope.policy.max_attempts
                    or clock() + wait > scope.deadline
                ):
                    mark_spent(exc)
                    raise
                logger.info(
                    "%s: %s; attempt %d/%d failed, retrying in %.3f s",
                    what,
                    exc,
                    scope.failures,
                    scope.policy.max_attempts,
                    wait,
                )
                _notify(on_retry, scope.on_retry, exc, scope.failures, wait)
                await sleep(wait)
    finally:
        if token is not None:
            _scope.reset(token)


def mark_spent(exc: BaseException) -> BaseException:
    """Mark ``exc`` as the error a layer gave up on after its retries; returns it.

    An outer layer that sees a spent error re-raises it without retrying: a Transcribe
    stream that used up its reconnects is not restarted again by the pipeline, and a call
    whose shared budget ran out is not retried by an enclosing :func:`retry_call`.
    """
    vars(exc)["_s2st_retries_spent"] = True
    return exc


def retries_spent(exc: BaseException) -> bool:
    """True when a layer already gave up on ``exc`` after its retries (see :func:`mark_spent`)."""
    return bool(vars(exc).get("_s2st_retries_spent", False))


def _notify(
    local: Callable[[BaseException, int, float], None] | None,
    outer: Callable[[BaseException, int, float], None] | None,
    exc: BaseException,
    attempt: int,
    wait: float,
) -> None:
    """Tell this layer's ``on_retry`` and the outermost one's (once if they are the same)."""
    if local is not None:
        local(exc, attempt, wait)
    if outer is not None and outer is not local:
        outer(exc, attempt, wait)


@dataclass(slots=True)
class RestartBudget:
    """How often a long-lived stream may be reopened: at most ``max_restarts`` per ``window_s``.

    A session of hours with a dropped connection every few minutes goes on; a stream that
    fails again and again in a short time (a bad credential, a dead service) gives up.
    The budget is a sliding window, so old failures stop counting after ``window_s``.

    max_restarts: restarts allowed inside any window (default 5).
    window_s: window length (s, default 300).
    policy: backoff before each restart (its ``delay``; attempts and budget unused).
    """

    max_restarts: int = 5
    window_s: float = 300.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    _times: deque[float] = field(default_factory=deque, repr=False)

    def __post_init__(self) -> None:
        if self.max_restarts < 0 or self.window_s <= 0:
            raise ConfigError("max_restarts must be >= 0 and window_s > 0")

    def allow(self, now: float) -> bool:
        """Record a failure at ``now`` (s); True if a restart is still within budget."""
        while self._times and now - self._times[0] >= self.window_s:
            self._times.popleft()
        if len(self._times) >= self.max_restarts:
            return False
        self._times.append(now)
        return True

    @property
    def recent(self) -> int:
        """Restarts inside the current window (as of the last :meth:`allow`)."""
        return len(self._times)

    def delay(self, retry_after_s: float | None = None) -> float:
        """The wait (s) before the next restart: grows with the restarts in the window."""
        return self.policy.delay(max(0, len(self._times) - 1), retry_after_s)
