"""Live captions: the source line and the translation being spoken, the current word highlighted.

:class:`CaptionFeed` (plain Python, tested without a browser) follows a pipeline's events and
keeps, for the last few segments: the source text, the translation, each word's time in the
segment's played audio (s; from :class:`~s2st_kit.events.WordsTimed`) and where the segment's
audio starts in the browser speaker's sample count. :class:`LiveCaptions` (anywidget, thin)
syncs that list to the browser, where ``captions_widget.js`` reads the **browser speaker's
own playback clock** every animation frame — samples scheduled minus what is still ahead of
``AudioContext.currentTime`` — and highlights the word whose start has been played. So the
highlight follows what the listener hears, not when Python sent it; with a sink other than
:class:`~s2st_kit.notebook.browser_audio.BrowserSpeaker` there is no browser clock and the
widget shows the lines without a word highlight.

::

    speaker = BrowserSpeaker()
    captions = LiveCaptions(speaker=speaker)
    pipe = Pipeline(engines, config, source=..., sink=speaker.sink())
    captions.attach(pipe)
    display(speaker, captions)
    pipe.start()

In an app that subscribes to the pipeline itself (the control panel), hand the session's
events to ``captions.feed.handle`` and call ``captions.feed.reset()`` when a session starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

from ..events import (
    AudioFinished,
    AudioStarted,
    Event,
    SegmentCommitted,
    TranslationReady,
    WordsTimed,
)
from .browser_audio import BrowserSpeaker

__all__ = ["CaptionFeed", "CaptionSegment", "LiveCaptions", "live_captions"]

#: A segment has ended this close to its ``audio_s`` (s): that is a sum of chunk durations, a
#: rounding error above the samples played / rate.
_END_SLACK_S = 0.001

#: Events that belong to one branch of a fan-out (they name their ``listener``).
_BRANCH_EVENTS = (TranslationReady, WordsTimed, AudioStarted, AudioFinished)

_ASSETS = Path(__file__).parent


@dataclass(slots=True)
class CaptionSegment:
    """One segment as the captions show it.

    start_sample: the speaker's sample count (all its sinks) where the segment's audio
        begins (None until it starts playing, or without a browser speaker).
    words: (word, start, end) in s from the segment's first played sample.
    audio_s: played audio (s), once playback finished (None while playing).
    """

    segment_id: int
    source: str = ""
    target: str = ""
    words: list[tuple[str, float, float]] = field(default_factory=list)
    estimated: bool = False
    start_sample: int | None = None
    audio_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for the widget."""
        return {
            "segment_id": self.segment_id, "source": self.source, "target": self.target,
            "words": [list(w) for w in self.words], "estimated": self.estimated,
            "start_sample": self.start_sample, "audio_s": self.audio_s,
        }  # fmt: skip


class CaptionFeed:
    """Caption state from pipeline events (see module docs).

    speaker: the browser speaker the session plays through (its sample count places each
        segment on the browser's playback clock); None: no word highlight.
    listener: with several listeners, the one whose translation to show (events of other
        branches are ignored); None shows every segment.
    keep: how many recent segments to keep (default 4).
    on_change: called after each change (the widget pushes the state to the browser).
    """

    def __init__(
        self,
        *,
        speaker: BrowserSpeaker | None = None,
        listener: str | None = None,
        keep: int = 4,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.speaker = speaker
        self.listener = listener
        self.keep = keep
        self.on_change = on_change
        self.segments: dict[int, CaptionSegment] = {}

    def reset(self) -> None:
        """Forget every segment (a new session)."""
        self.segments.clear()
        self._changed()

    def _segment(self, sid: int) -> CaptionSegment:
        seg = self.segments.get(sid)
        if seg is None:
            seg = self.segments[sid] = CaptionSegment(sid)
            for old in sorted(self.segments)[: -self.keep]:
                del self.segments[old]
        return seg

    def _mine(self, event: Event) -> bool:
        """An event of the listener shown (the source side's events belong to every one)."""
        if self.listener is None or not isinstance(event, _BRANCH_EVENTS):
            return True
        return event.listener is None or event.listener == self.listener

    def handle(self, event: Event) -> None:
        """Pipeline subscriber: update the state from one event."""
        if not self._mine(event):
            return
        if isinstance(event, SegmentCommitted):
            self._segment(event.segment_id).source = event.text
        elif isinstance(event, TranslationReady):
            self._segment(event.segment_id).target = event.translation.text
        elif isinstance(event, WordsTimed):
            seg = self._segment(event.segment_id)
            seg.words = [(w, start, end) for w, start, end in event.words]
            seg.estimated = event.estimated
        elif isinstance(event, AudioStarted):
            # Called synchronously just before the segment's first chunk is sent: the
            # speaker's count now is where this segment's audio begins.
            if self.speaker is not None:
                self._segment(event.segment_id).start_sample = self.speaker.sent_samples
        elif isinstance(event, AudioFinished):
            self._segment(event.segment_id).audio_s = event.audio_s
        else:
            return
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def playing(self) -> bool:
        """Has any kept segment started playing through the browser speaker?"""
        return any(seg.start_sample is not None for seg in self.segments.values())

    def state(self) -> list[dict[str, Any]]:
        """The kept segments, oldest first, as JSON-able dicts."""
        return [self.segments[sid].as_dict() for sid in sorted(self.segments)]

    def current(self, played_samples: float, rate: int) -> tuple[int | None, int | None]:
        """(segment id, word index) playing when the speaker has played ``played_samples``
        (at ``rate`` Hz) — the rule ``captions_widget.js`` applies every frame: the latest
        segment that has started (its first sample played); in it the last word whose start
        has been played (None before its first word and once its audio — or its last word —
        ended)."""
        playing = None
        for sid in sorted(self.segments):
            seg = self.segments[sid]
            if seg.start_sample is not None and seg.start_sample < played_samples:
                playing = seg
        if playing is None or playing.start_sample is None:
            return None, None
        pos = (played_samples - playing.start_sample) / rate
        end = playing.audio_s if playing.audio_s is not None else None
        if end is None and playing.words:
            end = playing.words[-1][2]  # the last word ends with the audio (before it is logged)
        if end is not None and pos >= end - _END_SLACK_S:
            return playing.segment_id, None
        index = None
        for i, (_, start, _) in enumerate(playing.words):
            if start <= pos:
                index = i
        return playing.segment_id, index


class LiveCaptions(anywidget.AnyWidget):
    """Live caption widget (see module docs): thin traits over a :class:`CaptionFeed`.

    Traits: ``speaker_uid`` (the browser speaker whose clock drives the highlight), ``rate``
    (Hz of the samples the sink sends), ``segments`` (the feed's state), ``max_lines``.
    """

    _esm = _ASSETS / "captions_widget.js"
    _css = _ASSETS / "captions_widget.css"

    speaker_uid = t.Unicode("").tag(sync=True)
    rate = t.Int(0).tag(sync=True)
    segments: Any = t.List().tag(sync=True)

    def __init__(
        self, *, speaker: BrowserSpeaker | None = None, listener: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._retry: asyncio.TimerHandle | None = None
        self.feed = CaptionFeed(speaker=speaker, listener=listener, on_change=self._push)
        if speaker is not None:
            self.speaker_uid = speaker.uid

    def attach(self, pipeline: Any) -> Callable[[], None]:
        """Follow ``pipeline``'s events (a new session: the old lines are cleared).
        Returns the unsubscribe function."""
        self.feed.reset()
        return pipeline.subscribe(self.feed.handle)  # type: ignore[no-any-return]

    def _push(self, delay_s: float = 0.0) -> None:
        speaker = self.feed.speaker
        rate = speaker.sample_rate if speaker is not None else None
        if rate and self.rate != rate:
            self.rate = rate
        elif not rate and self._retry is None and self.feed.playing():
            # A sink takes its rate from its first chunk, written right after AudioStarted:
            # look again as soon as the scheduler yields (then every 50 ms).
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on the loop (a reset from a cell): the next event pushes
                loop = None
            if loop is not None:
                self._retry = loop.call_later(delay_s, self._retry_push)
        self.segments = self.feed.state()

    def _retry_push(self) -> None:
        self._retry = None
        self._push(delay_s=0.05)


def live_captions(speaker: object, *, listener: str | None = None) -> LiveCaptions | None:
    """Captions for ``speaker`` when it is a :class:`BrowserSpeaker` (the only speaker with a
    playback clock in the browser); None for any other (the control panel asks)."""
    if not isinstance(speaker, BrowserSpeaker):
        return None
    return LiveCaptions(speaker=speaker, listener=listener)
