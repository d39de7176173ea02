"""The lag controller: keep the listener a bounded time behind the speaker.

On continuous speech the translation is often longer than the source (Spanish ≈ 1.2×
English), and playback never overlaps, so without control every extra second queues behind
the last and the lag grows without bound. Like a human interpreter — and like WebRTC's NetEq,
which keeps a jitter buffer at its target by time-scaling speech — the controller makes
speech faster when the listener falls behind, and as a last resort leaves segments out.

It is pure and synchronous, like the commit policies: a :class:`LagState` in, a
:class:`LagDecision` out; no clock, no I/O. The playback scheduler asks it twice per segment:

* **before synthesis** (with the lag *predicted* for the moment the segment will start
  playing: the audio still queued ahead of it is known), for the speed — so a synthesizer
  with its own rate (:class:`~s2st_kit.engines.protocols.SupportsRate`) can speak faster
  itself, and any other gets its audio time-stretched;
* **before playback** (with the actual lag), for the skip decision only — a segment that has
  started playing is never cut, and segments never change order.

Speed: enough to win back the excess over the target within this segment, capped at
``max_speedup``. Playing ``D`` seconds of speech at speed ``s`` saves ``D·(1 − 1/s)``, so
the speed for an excess ``E = lag − max_lag`` is ``D / (D − E)``, or the cap when that is
not enough.

Skip (``catch_up="speed+skip"`` only): when even the cap cannot hold the target — the excess
is more than the whole backlog (this segment and the ones waiting behind it) can win back at
``max_speedup`` — the oldest segment that has not started playing is left out (status
``skipped``; its translation stays in the log). With nothing waiting behind it, a segment is
never skipped: then the lag is the stages' latency, which leaving speech out cannot shorten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from .errors import ConfigError

__all__ = ["CATCH_UPS", "CatchUp", "LagController", "LagDecision", "LagState"]

#: How the controller catches up: faster speech only, or faster speech and, when that
#: cannot hold the target, skipping segments that have not started playing.
CatchUp = Literal["speed", "speed+skip"]
CATCH_UPS: tuple[str, ...] = get_args(CatchUp)


@dataclass(frozen=True, slots=True)
class LagState:
    """What the controller sees for one segment (all in seconds).

    lag_s: how far behind the speaker the segment starts (or will start) playing: its play
        start minus the moment its last word was spoken (``t_speech_end``).
    duration_s: the segment's translated speech at natural speed (an estimate from its text
        before synthesis).
    waiting_s: natural-speed speech of the segments already committed behind it.
    """

    lag_s: float
    duration_s: float
    waiting_s: float = 0.0


@dataclass(frozen=True, slots=True)
class LagDecision:
    """Play the segment at ``speed`` (1.0 = natural), or leave it out (``skip``)."""

    speed: float = 1.0
    skip: bool = False


@dataclass(frozen=True, slots=True)
class LagController:
    """Chooses each segment's playback speed and, if allowed, which segments to skip.

    max_lag_s: the target: how far behind the speaker the listener may be (s, > 0).
    max_speedup: the fastest playback (× natural speed, 1.0–3.0; default 1.5, where eSpeak
        and Polly stay intelligible and time-stretching costs pocketsphinx ≈ 5 WER points
        at 1.3×).
    catch_up: ``"speed"`` (never skip) or ``"speed+skip"``.
    """

    max_lag_s: float
    max_speedup: float = 1.5
    catch_up: CatchUp = "speed+skip"

    def __post_init__(self) -> None:
        check_lag_settings(self.max_lag_s, self.max_speedup, self.catch_up)

    def speed(self, state: LagState) -> float:
        """The speed that wins back the excess over the target within this segment (capped)."""
        excess = state.lag_s - self.max_lag_s
        if excess <= 0 or state.duration_s <= 0:
            return 1.0
        if excess >= state.duration_s * (1 - 1 / self.max_speedup):
            return self.max_speedup
        return min(self.max_speedup, state.duration_s / (state.duration_s - excess))

    def skip(self, state: LagState) -> bool:
        """True when skipping is allowed and the whole backlog at the cap cannot win back
        the excess."""
        if self.catch_up != "speed+skip" or state.waiting_s <= 0:
            return False  # nothing queued behind it: the lag is latency, not backlog
        excess = state.lag_s - self.max_lag_s
        recoverable = (state.duration_s + state.waiting_s) * (1 - 1 / self.max_speedup)
        return excess > 0 and excess > recoverable

    def decide(self, state: LagState) -> LagDecision:
        """Speed and skip together (what the scheduler asks before a segment plays)."""
        if self.skip(state):
            return LagDecision(1.0, skip=True)
        return LagDecision(self.speed(state))


def check_lag_settings(max_lag_s: float | None, max_speedup: float, catch_up: str) -> None:
    """Refuse impossible lag-control settings with a message that says what is allowed."""
    if max_lag_s is not None and not max_lag_s > 0:
        raise ConfigError(f"max_lag_s must be > 0 s (or None for no control), got {max_lag_s}")
    if not 1.0 <= max_speedup <= 3.0:
        raise ConfigError(f"max_speedup must be between 1.0 and 3.0, got {max_speedup}")
    if catch_up not in CATCH_UPS:
        raise ConfigError(f"unknown catch_up {catch_up!r}; choose one of {', '.join(CATCH_UPS)}")
