"""The backlog the lag controller looks at: speech still to play, in natural seconds."""

from __future__ import annotations

from .slot import Slot

__all__ = ["Backlog"]


class Backlog:
    """Estimates, for the segments between commit and the end of their playback, how long
    their speech is at natural speed and when each will start playing.

    slots: the scheduler's slots (segment id → slot), read, never changed.
    chars_per_s: the first guess of the synthesizer's speaking rate (characters of text
        per second of speech, default 14); replaced by what finished segments measure.
    """

    def __init__(self, slots: dict[int, Slot], *, chars_per_s: float = 14.0) -> None:
        self.slots = slots
        self.chars_per_s = chars_per_s
        self._measured_chars = 0
        self._measured_s = 0.0

    def natural_s(self, slot: Slot) -> float:
        """The segment's speech at natural speed (s): measured once synthesized, else the
        larger of what has arrived and an estimate from its text."""
        seg = slot.segment
        arrived = seg.tts_audio_s * slot.speed
        if slot.synthesized:
            return arrived
        text = seg.translation or seg.transcript
        return max(arrived, len(text) / self.chars_per_s)

    def learn(self, slot: Slot) -> None:
        """A segment finished synthesis: refine the speaking rate from it."""
        seg = slot.segment
        if seg.tts_audio_s > 0 and seg.translation:
            self._measured_chars += len(seg.translation)
            self._measured_s += seg.tts_audio_s * slot.speed
            self.chars_per_s = self._measured_chars / self._measured_s

    def play_start(self, sid: int, now: float, playing: Slot | None) -> float:
        """When segment ``sid`` will start playing (session time, s) if nothing else changes:
        after the segment playing now and every earlier segment waiting, at their speeds."""
        t = now
        if playing is not None and playing.segment.t_play_start is not None:
            ends = playing.segment.t_play_start + self.natural_s(playing) / playing.speed
            t = max(t, ends)
        for j, slot in self.slots.items():
            if j < sid and slot is not playing and not slot.finished:
                t += self.natural_s(slot) / slot.speed
        return t

    def waiting_s(self, sid: int) -> float:
        """Natural-speed speech (s) of the segments committed after ``sid``."""
        return sum(self.natural_s(s) for j, s in self.slots.items() if j > sid and not s.finished)
