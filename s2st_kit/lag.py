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

Speed: the slowest that brings the *next* segment back to a set point just under the target
(:data:`SET_POINT` × ``max_lag_s``), capped at ``max_speedup``. While this segment (``D``
seconds of translated speech) plays at speed ``s``, the speaker says the next one; if it is
as long as this one was in the source (``d`` seconds), the next segment's lag is about
``lag + D/s − d``. Holding that at the set point gives ``s = D / (d − E)`` with the excess
``E = lag − set point`` (``s = 1`` when that is below 1, the cap when it is above the cap or
``d ≤ E``). Without a source duration ``d = D``: the speed that wins back ``E`` within this
segment, ``D / (D − E)``. So a translation longer than its source is sped up *before* the
lag grows — the steady state of a talk whose translation runs 1.2× is a speed of 1.2× — and
speed stays natural whenever the lag is well under the target.

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

__all__ = ["CATCH_UPS", "LIVE_MAX_LAG_S", "CatchUp", "LagController", "LagDecision", "LagState"]

#: How the controller catches up: faster speech only, or faster speech and, when that
#: cannot hold the target, skipping segments that have not started playing.
CatchUp = Literal["speed", "speed+skip"]
CATCH_UPS: tuple[str, ...] = get_args(CatchUp)

#: The target for live use (s) that the CLI and the control panel start from: about a human
#: interpreter's ear-voice span, and above the stages' own latency (≈ 1.7 s for the cloud
#: stack, ≈ 0.8 s offline), which faster speech cannot win back.
LIVE_MAX_LAG_S = 3.0

#: Speeding up starts at this fraction of ``max_lag_s``: a lag predicted before synthesis
#: misses the recognizer's and synthesizer's jitter (cloud-like: ±0.4 s at p95), so aiming
#: at 75 % of the target keeps the 95th percentile under it.
SET_POINT = 0.75


@dataclass(frozen=True, slots=True)
class LagState:
    """What the controller sees for one segment (all in seconds).

    lag_s: how far behind the speaker the segment starts (or will start) playing: its play
        start minus the moment its last word was spoken (``t_speech_end``).
    duration_s: the segment's translated speech at natural speed (an estimate from its text
        before synthesis).
    waiting_s: natural-speed speech of the segments already committed behind it.
    source_s: how long the segment was in the source speech (its audio span); ``None``
        when unknown (taken as ``duration_s``).
    """

    lag_s: float
    duration_s: float
    waiting_s: float = 0.0
    source_s: float | None = None


@dataclass(frozen=True, slots=True)
class LagDecision:
    """Play the segment at ``speed`` (1.0 = natural), or leave it out (``skip``)."""

    speed: float = 1.0
    skip: bool = False


@dataclass(frozen=True, slots=True)
class LagController:
    """Chooses each segment's playback speed and, if allowed, which segments to skip.

    max_lag_s: the target: how far behind the speaker the listener may be (s, > 0).
    max_speedup: the fastest playback (× natural speed, 1.0–3.0; default 1.5: eSpeak NG and
        Polly stay intelligible there, and the streamed Rubber Band time-stretch at 1.3×
        costs pocketsphinx +1.1 WER points on the LibriVox clips — ``make bench``, drift).
    catch_up: ``"speed"`` (never skip) or ``"speed+skip"``.
    """

    max_lag_s: float
    max_speedup: float = 1.5
    catch_up: CatchUp = "speed+skip"

    def __post_init__(self) -> None:
        check_lag_settings(self.max_lag_s, self.max_speedup, self.catch_up)

    @property
    def set_point_s(self) -> float:
        """Where speeding up starts (s): ``SET_POINT × max_lag_s``, so that the stages'
        jitter above it still lands under the target."""
        return SET_POINT * self.max_lag_s

    def speed(self, state: LagState) -> float:
        """The speed that brings the next segment's lag back to the set point (capped)."""
        if state.duration_s <= 0:
            return 1.0
        span = state.duration_s if state.source_s is None else state.source_s
        room = span - (state.lag_s - self.set_point_s)  # playing time that keeps the set point
        if room <= state.duration_s / self.max_speedup:
            return self.max_speedup
        return max(1.0, state.duration_s / room)

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
