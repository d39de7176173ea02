"""Speech-time bookkeeping: when was the audio at a stream position actually spoken?"""

from __future__ import annotations

from bisect import bisect_left

from ..engines.protocols import PacedSource

__all__ = ["SpeechTimes"]


class SpeechTimes:
    """Maps a position in the input stream (s of audio) to the session time it was spoken.

    The source reader calls :meth:`delivered` for every source chunk (its end position and
    the session time it arrived); the recognizer stage asks :meth:`spoken_at` for the end of
    each committed segment and :meth:`forget_before` once an utterance is final, which keeps
    memory flat on sessions of hours.

    realtime: the source delivers at the pace of speech (microphone, paced file). Then a
        sample was captured before the chunk holding it was delivered: delivery time minus
        the audio after it in that chunk (÷ ``speed``), so waiting for a chunk to fill counts
        as latency and a larger ``chunk_ms`` shows up in ``ear_to_ear_s``. An unpaced source
        (``realtime=False``) uses the chunk's delivery time.
    speed: the source's pacing factor (1.0 = real time).
    """

    def __init__(self, *, realtime: bool = True, speed: float = 1.0) -> None:
        self.realtime = realtime
        self.speed = speed or 1.0
        self._ends: list[float] = []  # stream position (s) at each chunk's end
        self._times: list[float] = []  # session time (s) it was delivered

    @classmethod
    def for_source(cls, source: object, *, clock_scale: float = 1.0) -> SpeechTimes:
        """Speech times for ``source``: its pacing if it is a
        :class:`~s2st_kit.engines.protocols.PacedSource`, else live at speed 1.0.

        clock_scale: session seconds per wall second (a time-scaled simulation's clock).
        """
        if isinstance(source, PacedSource):
            return cls(realtime=bool(source.realtime), speed=float(source.speed) / clock_scale)
        return cls(realtime=True, speed=1.0 / clock_scale)

    def delivered(self, end_s: float, t: float) -> None:
        """The chunk ending at stream position ``end_s`` (s) arrived at session time ``t`` (s)."""
        self._ends.append(end_s)
        self._times.append(t)

    def spoken_at(self, audio_end_s: float) -> float | None:
        """Session time (s) at which the audio at stream position ``audio_end_s`` was spoken."""
        if not self._ends:
            return None
        i = min(bisect_left(self._ends, audio_end_s - 1e-9), len(self._times) - 1)
        t = self._times[i]
        if self.realtime:
            t -= max(0.0, self._ends[i] - audio_end_s) / self.speed
        return t

    def forget_before(self, before_s: float) -> None:
        """Drop delivery times of audio before ``before_s`` (in batches of 512)."""
        k = bisect_left(self._ends, before_s)
        if k > 512:
            del self._ends[:k]
            del self._times[:k]
