"""When to renew a Transcribe stream: at a pause in the audio *sent*, after ``max_stream_s``.

A stream ends at 4 h; :class:`~.stream.TranscribeStream` renews it before, and a renewal at a
pause loses and duplicates nothing: the old stream is ended (the service finalises what it
heard), its last results are awaited, and the next stream starts with the audio after the
last final. Cut in the middle of a word instead, each stream hears half of it.

The pause is judged on the audio itself, not on the results: results lag behind the audio
sent (by far when a file is sent faster than real time), so "no utterance open" as the
results tell it can describe audio long gone. Quiet is relative to the stream's noise floor,
so a pause is found in a noisy room too: a frame is quiet when its RMS is below
``max(silence_rms, floor_ratio x floor)``, the floor being the quietest recent frame level
(it follows a lower level at once and a higher one with a time constant of ``floor_rise_s``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .timeline import rms

__all__ = ["PauseTracker"]


@dataclass(slots=True)
class PauseTracker:
    """The trailing pause of one stream's audio, and whether renewal is due.

    pause_s: quiet audio (s) that makes a pause (default 0.3).
    silence_rms: level below which audio is always quiet (full scale 1.0; default 0.01,
        -40 dBFS).
    floor_ratio / floor_rise_s: quiet also means below ``floor_ratio`` (default 2) times the
        noise floor, which rises towards louder audio with this time constant (s, default 30).
    """

    pause_s: float = 0.3
    silence_rms: float = 0.01
    floor_ratio: float = 2.0
    floor_rise_s: float = 30.0
    quiet_s: float = 0.0  # trailing quiet audio sent (s)
    floor: float | None = None  # noise floor (RMS, full scale 1.0)

    def add(self, pcm: bytes | None, duration_s: float) -> bool:
        """Account for ``duration_s`` (s) of audio sent (None: keep-alive silence); True when
        it is quiet."""
        if pcm is None:
            self.quiet_s += duration_s
            return True
        level = rms(pcm)
        if self.floor is None or level <= self.floor:
            self.floor = level
        else:
            self.floor += (level - self.floor) * min(1.0, duration_s / self.floor_rise_s)
        threshold = max(self.silence_rms, self.floor_ratio * self.floor)
        quiet = level < threshold
        self.quiet_s = self.quiet_s + duration_s if quiet else 0.0
        return quiet

    @property
    def paused(self) -> bool:
        """True when the audio sent last is a pause (at least ``pause_s`` of quiet)."""
        return self.quiet_s >= self.pause_s

    def renew_due(self, stream_pos_s: float, max_stream_s: float, grace_s: float) -> bool:
        """Past ``max_stream_s`` (s of stream audio): renew at a pause, or ``grace_s`` (s)
        later at the latest (then a word may be cut)."""
        if stream_pos_s < max_stream_s:
            return False
        return self.paused or stream_pos_s >= max_stream_s + grace_s
