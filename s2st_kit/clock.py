"""The one monotonic session clock.

Every ``t_*`` timestamp in a segment log is seconds on a :class:`SessionClock`:
``time.monotonic()`` minus the instant the session started, so 0.0 is the session
start and values never go backwards (wall-clock changes do not affect it).

A clock with ``scale=k`` runs ``k`` times faster than the wall: the time-scaled simulations
(a simulated stack whose latencies are divided by ``k``, a source and a paced sink at
``speed=k``) then log the times of the talk they simulate.
"""

from __future__ import annotations

import time

__all__ = ["SessionClock"]


class SessionClock:
    """Seconds since the session started, from ``time.monotonic``.

    ``start()`` (re)sets the origin; until then the origin is the construction time.
    scale: session seconds per wall second (default 1.0; > 1 for time-scaled simulations).
    """

    __slots__ = ("_origin", "scale")

    def __init__(self, *, scale: float = 1.0) -> None:
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.scale = scale
        self._origin = time.monotonic()

    def start(self) -> None:
        """Make *now* the session origin (t = 0.0 s)."""
        self._origin = time.monotonic()

    @property
    def origin(self) -> float:
        """The ``time.monotonic()`` value (s) that maps to t = 0."""
        return self._origin

    def now(self) -> float:
        """Seconds (float) since the session origin."""
        return (time.monotonic() - self._origin) * self.scale

    def at(self, monotonic_s: float) -> float:
        """Convert a ``time.monotonic()`` reading (e.g. taken in a device thread) to session time (s)."""
        return (monotonic_s - self._origin) * self.scale
