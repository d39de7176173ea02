"""The browser as microphone and loudspeaker: :class:`BrowserMicrophone`, :class:`BrowserSpeaker`.

Notebooks often run on a machine without a sound card (a server, a container, the cloud),
but the person using them sits at a browser that has both. These two anywidgets move the
audio over the widget comm as binary buffers:

* :class:`BrowserMicrophone` captures with ``getUserMedia`` (echo cancellation, noise
  suppression and automatic gain control are switchable traits), converts to 16-bit PCM in
  an AudioWorklet and sends ``chunk_ms`` chunks to Python with the browser-side capture time.
  ``mic.source()`` is an AudioSource like :class:`~s2st_kit.audio.devices.MicrophoneSource`
  (``sample_rate`` is what the browser's AudioContext runs at; the pipeline resamples).
* :class:`BrowserSpeaker` receives the translated speech as it is synthesised and schedules
  the buffers back to back with Web Audio (no gaps, no overlap); ``speaker.sink()`` is an
  AudioSink whose ``drain()`` waits for the browser to report the audio played.

The widgets are thin (anywidget ``widget.py`` style): synced traits, and the logic in plain
Python (:class:`BrowserMicSource`, :class:`BrowserSpeakerSink`) that tests drive directly::

    mic, speaker = BrowserMicrophone(chunk_ms=100), BrowserSpeaker()
    display(mic, speaker)                        # click "Start" on the microphone
    guard = EchoGuard(mic.source(), speaker.sink())
    pipe = Pipeline(engines, config, source=guard.source, sink=guard.sink, clock=guard.clock)
    pipe.start()                                 # not `await pipe.run()`: see below
    ...
    await pipe.stop()

The kernel handles widget messages only between cells, so a cell that awaits the whole
session (``await pipe.run()``) would hold the microphone's audio back until it ends: start the
session in the background with ``pipe.start()`` and stop it from a later cell or a button.

Capture → arrival delay: each chunk carries the browser's capture time
(``performance.timeOrigin + performance.now()`` at the chunk's last sample, ms since the
epoch); Python compares it with ``time.time()`` on arrival. Both clocks are the same one when
the browser runs on the kernel's machine; across machines the difference includes their
clock offset.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import anywidget
import numpy as np
import traitlets as t

from ..bridge import call_soon
from ..errors import AudioError, PipelineStateError
from ..records import AudioChunk

__all__ = [
    "BrowserMicSource",
    "BrowserMicStats",
    "BrowserMicrophone",
    "BrowserSpeaker",
    "BrowserSpeakerSink",
    "BrowserSpeakerStats",
]

logger = logging.getLogger(__name__)

_ASSETS = Path(__file__).parent
_DEFAULT_BROWSER_RATE = 48000  # what browsers usually run an AudioContext at (Hz)


def _deliver(
    loop: asyncio.AbstractEventLoop | None, fn: Callable[..., object], *args: object
) -> None:
    """Call ``fn(*args)`` on ``loop`` through the project's one hand-off (:mod:`s2st_kit.bridge`):
    directly when on it, else thread-safely; dropped when the loop is closed. Before a
    consumer exists (``loop`` None) the call happens now, on the caller's thread."""
    if loop is None:
        fn(*args)
    else:
        call_soon(loop, fn, *args)


@dataclass(slots=True)
class BrowserMicStats:
    """What arrived from the browser microphone.

    chunks / samples: received and queued for the consumer.
    dropped_chunks: received while ``max_buffered_s`` of audio was already waiting (lost).
    gaps: chunks the browser numbered but that never arrived (sequence jumps).
    delays_ms: capture → arrival delay of recent chunks (ms; browser capture time of the
        chunk's last sample to Python ``time.time()`` on arrival), at most the last 10,000.
    first_arrival / last_arrival: ``time.time()`` (s) of the first and latest chunk.
    """

    chunks: int = 0
    samples: int = 0
    dropped_chunks: int = 0
    gaps: int = 0
    first_arrival: float | None = None
    last_arrival: float | None = None
    delays_ms: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=10_000)
    )

    def delay_ms(self, q: float = 50) -> float | None:
        """Percentile ``q`` (0-100) of the capture → arrival delay (ms), ``None`` before data."""
        if not self.delays_ms:
            return None
        return float(np.percentile(np.fromiter(self.delays_ms, float), q))

    def as_dict(self) -> dict[str, Any]:
        """Counters plus median / p95 / max delay (ms) for a session summary."""
        return {
            "chunks": self.chunks,
            "samples": self.samples,
            "dropped_chunks": self.dropped_chunks,
            "gaps": self.gaps,
            "first_arrival": self.first_arrival,
            "last_arrival": self.last_arrival,
            "delay_ms_median": self.delay_ms(50),
            "delay_ms_p95": self.delay_ms(95),
            "delay_ms_max": max(self.delays_ms) if self.delays_ms else None,
        }


class BrowserMicSource:
    """AudioSource fed by a :class:`BrowserMicrophone` (make it with ``mic.source()``).

    sample_rate: the browser AudioContext's rate (Hz) once capture has started (48000
        assumed before); every chunk carries its real rate and the pipeline resamples.
    max_buffered_s: audio (s) that may wait for the consumer before chunks are dropped
        (counted in ``stats.dropped_chunks``), default 2.0 s.
    Positions (``start_s``) count every sample the browser sent since this source was
    made, dropped ones included. Closing the source does not stop the browser capture
    (the Start/Stop button does); it stops listening.
    """

    def __init__(self, widget: BrowserMicrophone, *, max_buffered_s: float = 2.0) -> None:
        self.widget = widget
        self.max_buffered_s = max_buffered_s
        self.stats = BrowserMicStats()
        self._state: Literal["unopened", "open", "closed"] = "unopened"
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._max_chunks = max(2, round(max_buffered_s * 1000 / max(10, widget.chunk_ms)))
        # One extra place: the end marker always fits.
        self._queue: asyncio.Queue[AudioChunk | None] = asyncio.Queue(self._max_chunks + 1)
        self._position = 0  # samples received (dropped included)
        self._rate: int | None = None
        self._next_seq: int | None = None

    @property
    def sample_rate(self) -> int:
        """Rate (Hz) of the chunks (the browser's AudioContext rate)."""
        return self._rate or self.widget.sample_rate or _DEFAULT_BROWSER_RATE

    @property
    def capture_delay_s(self) -> float:
        """Median capture → arrival delay (s) so far; 0.0 before data. Used by the echo guard."""
        d = self.stats.delay_ms(50)
        return 0.0 if d is None else d / 1000

    def __repr__(self) -> str:
        return f"BrowserMicSource({self.sample_rate} Hz, {self._state}, {self.stats.chunks} chunks)"

    # -- called by the widget (on the kernel's loop, or thread-safely onto it) ------------------
    def _receive(self, pcm: bytes, rate: int, seq: int | None, t_capture_ms: float | None) -> None:
        if self._state == "closed" or self._closing:
            return
        arrived = time.time()
        if self.stats.first_arrival is None:
            self.stats.first_arrival = arrived
        self.stats.last_arrival = arrived
        if t_capture_ms is not None:
            self.stats.delays_ms.append(arrived * 1000 - t_capture_ms)
        if seq is not None:
            if self._next_seq is not None and seq > self._next_seq:
                self.stats.gaps += seq - self._next_seq
            self._next_seq = seq + 1
        if self._rate is not None and rate != self._rate:  # capture restarted at another rate
            self._position = round(self._position * rate / self._rate)
        self._rate = rate
        chunk = AudioChunk(pcm, rate, self._position / rate)
        self._position += chunk.n_samples
        if self._queue.qsize() >= self._max_chunks:
            self.stats.dropped_chunks += 1
            return
        self.stats.chunks += 1
        self.stats.samples += chunk.n_samples
        self._queue.put_nowait(chunk)

    def _end(self) -> None:
        while self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    # -- AudioSource ---------------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[AudioChunk]:
        if self._state != "unopened":
            raise PipelineStateError(
                "this BrowserMicSource is already in use or finished; call mic.source() again"
            )
        self._state = "open"
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                chunk = await self._queue.get()
                if chunk is None:
                    return
                yield chunk
        finally:
            self._state = "closed"
            self.widget._detach(self)

    async def aclose(self) -> None:
        """Stop listening: the iterator ends after the chunks already received. Idempotent."""
        if self._state == "closed" or self._closing:
            return
        self._closing = True
        self.widget._detach(self)
        _deliver(self._loop, self._end)


class BrowserMicrophone(anywidget.AnyWidget):
    """Browser microphone widget (display it, click Start; ``source()`` gives the audio).

    Traits (synced with the browser):
    chunk_ms: chunk duration (ms) the AudioWorklet sends, default 100.
    echo_cancellation / noise_suppression / auto_gain_control: getUserMedia processing
        switches, default on (switching restarts a running capture).
    sample_rate: AudioContext rate (Hz) requested, 0 (default) = the browser's choice;
        after start, the rate the browser reports.
    state: ``"idle"``, ``"starting"``, ``"running"``, ``"stopped"``, ``"blocked"`` (the browser
        wants a click before it plays/records audio) or ``"error"`` (see ``error``).
    device_label: the browser's name for the capture device.
    level: RMS of the last chunk (0-1 of full scale), updated in Python as chunks arrive.
    show_buttons: show the widget's own Start / Stop (default True). The control panel
        sets False: its session Start and Stop switch the microphone on and off, so there is
        one pair of buttons; the widget's Start still appears, as "Allow microphone", when
        the browser wants a click before it records (``state`` ``"blocked"``).
    """

    _esm = _ASSETS / "browser_audio.js"
    _css = _ASSETS / "browser_audio.css"

    kind = t.Unicode("microphone").tag(sync=True)
    uid = t.Unicode().tag(sync=True)
    chunk_ms = t.Int(100).tag(sync=True)
    echo_cancellation = t.Bool(True).tag(sync=True)
    noise_suppression = t.Bool(True).tag(sync=True)
    auto_gain_control = t.Bool(True).tag(sync=True)
    sample_rate = t.Int(0).tag(sync=True)
    state = t.Unicode("idle").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    device_label = t.Unicode("").tag(sync=True)
    level = t.Float(0.0).tag(sync=True)
    show_buttons = t.Bool(True).tag(sync=True)

    @t.default("uid")
    def _default_uid(self) -> str:
        return uuid.uuid4().hex

    @t.validate("chunk_ms")
    def _check_chunk_ms(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if not 10 <= value <= 1000:
            raise t.TraitError(f"chunk_ms must be 10-1000 ms, got {value}")
        return value

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sources: list[BrowserMicSource] = []
        self.on_msg(self._on_message)

    def source(self, *, max_buffered_s: float = 2.0) -> BrowserMicSource:
        """A new AudioSource receiving this microphone's audio from now on."""
        src = BrowserMicSource(self, max_buffered_s=max_buffered_s)
        self._sources.append(src)
        return src

    def start(self) -> None:
        """Ask the browser to start capturing (it may need a click on Start: see ``state``)."""
        self.send({"type": "command", "command": "start"})

    def stop(self) -> None:
        """Ask the browser to stop capturing and release the microphone."""
        self.send({"type": "command", "command": "stop"})

    def _detach(self, src: BrowserMicSource) -> None:
        if src in self._sources:
            self._sources.remove(src)

    def _on_message(self, _widget: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        """Messages from the browser: ``audio`` (with one PCM buffer), ``started``, ``stopped``, ``error``."""
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "audio" and buffers:
            pcm = bytes(buffers[0])
            if len(pcm) % 2:
                pcm = pcm[:-1]
            rate = int(content.get("sample_rate") or self.sample_rate or _DEFAULT_BROWSER_RATE)
            seq = content.get("seq")
            t_capture = content.get("t_capture_ms")
            if "rms" in content:
                self.level = float(content["rms"])
            for src in list(self._sources):
                _deliver(src._loop, src._receive, pcm, rate, seq, t_capture)
        elif kind == "started":
            logger.info("browser microphone started: %s", content)
        elif kind == "error":
            logger.warning("browser microphone: %s", content.get("message"))


@dataclass(slots=True)
class BrowserSpeakerStats:
    """Playback in the browser.

    chunks_sent / samples_sent: written by the pipeline and sent to the browser.
    received_samples / played_samples: what the browser reported receiving / having played.
    underruns: the browser's schedule ran dry in the middle of a segment (an audible gap).
    unconfirmed_drains: ``drain()`` calls that ended on the time estimate because the browser
        did not confirm playback within ``confirm_timeout_s`` (no browser attached, tab asleep).
    """

    chunks_sent: int = 0
    samples_sent: int = 0
    received_samples: int = 0
    played_samples: int = 0
    underruns: int = 0
    unconfirmed_drains: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class BrowserSpeakerSink:
    """AudioSink that plays in the browser through a :class:`BrowserSpeaker` (``speaker.sink()``).

    sample_rate: rate (Hz) sent to the browser; ``None`` (default) adopts the first chunk's
        (the browser resamples to its output).
    max_ahead_s: how far (s) the audio sent may run ahead of the estimated playback position
        before ``write`` waits (back-pressure), default 1.0 s.
    lead_s: scheduling margin the browser adds before the first chunk of a segment (s),
        default 0.05 s (the browser adds it; used here for the estimate).
    confirm_timeout_s: how long (s) ``drain`` waits past the estimated end for the browser's
        confirmation before returning anyway, default 2.0 s.
    """

    def __init__(
        self,
        widget: BrowserSpeaker,
        *,
        sample_rate: int | None = None,
        max_ahead_s: float = 1.0,
        lead_s: float = 0.05,
        confirm_timeout_s: float = 2.0,
    ) -> None:
        self.widget = widget
        self.sample_rate: int | None = sample_rate
        self.max_ahead_s = max_ahead_s
        self.lead_s = lead_s
        self.confirm_timeout_s = confirm_timeout_s
        self.stats = BrowserSpeakerStats()
        self._busy_until = 0.0  # loop time when the audio sent so far ends (estimate)
        self._first_of_segment = True
        self._played = asyncio.Event()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def _on_played(self, played: int, received: int, underruns: int) -> None:
        self.stats.played_samples = played
        self.stats.received_samples = received
        self.stats.underruns = underruns
        self._played.set()

    async def write(self, chunk: AudioChunk) -> None:
        """Send ``chunk`` to the browser; waits while more than ``max_ahead_s`` is unplayed."""
        if self._closed:
            raise PipelineStateError("this BrowserSpeakerSink is closed; call speaker.sink() again")
        if self.sample_rate is None:
            self.sample_rate = chunk.sample_rate
        if chunk.sample_rate != self.sample_rate:
            raise AudioError(
                f"BrowserSpeakerSink sends {self.sample_rate} Hz, got {chunk.sample_rate} Hz"
            )
        if not chunk.n_samples:
            return
        loop = self._loop = asyncio.get_running_loop()
        now = loop.time()
        first = self._first_of_segment or self._busy_until < now
        self.widget.send(
            {
                "type": "play",
                "sample_rate": chunk.sample_rate,
                "n": chunk.n_samples,
                "first": bool(first),
                "total": self.stats.samples_sent + chunk.n_samples,
            },
            buffers=[chunk.pcm],
        )
        self._first_of_segment = False
        self.widget._sent_total += chunk.n_samples
        self.stats.chunks_sent += 1
        self.stats.samples_sent += chunk.n_samples
        start = max(self._busy_until, now + (self.lead_s if first else 0.0))
        self._busy_until = start + chunk.duration_s
        ahead = self._busy_until - loop.time() - self.max_ahead_s
        if ahead > 0:
            await asyncio.sleep(ahead)

    async def drain(self) -> None:
        """Return when the browser has played everything sent (or the estimate plus
        ``confirm_timeout_s`` has passed without a confirmation)."""
        loop = asyncio.get_running_loop()
        self._first_of_segment = True
        rest = self._busy_until - loop.time()
        if rest > 0:
            await asyncio.sleep(rest)
        deadline = loop.time() + self.confirm_timeout_s
        target = self.widget._sent_total  # the browser counts every sample it was sent
        while self.widget._played_total < target:
            self._played.clear()
            left = deadline - loop.time()
            if left <= 0:
                self.stats.unconfirmed_drains += 1
                return
            try:
                await asyncio.wait_for(self._played.wait(), timeout=left)
            except TimeoutError:
                self.stats.unconfirmed_drains += 1
                return

    async def aclose(self) -> None:
        """Stop sending (does not wait for playback: call :meth:`drain` first). Idempotent."""
        self._closed = True
        self.widget._detach(self)


class BrowserSpeaker(anywidget.AnyWidget):
    """Browser loudspeaker widget: plays what its :meth:`sink` is given, gap-free, in order.

    Traits: ``state`` (``"idle"``, ``"ready"``, ``"blocked"`` — the browser waits for a click
    before it plays sound — or ``"error"``), ``received_samples`` / ``played_samples``
    (counted by the browser, synced a few times a second), ``underruns`` (the schedule ran
    dry mid-segment), ``volume`` (0-1, default 1.0).
    """

    _esm = _ASSETS / "browser_audio.js"
    _css = _ASSETS / "browser_audio.css"

    kind = t.Unicode("speaker").tag(sync=True)
    uid = t.Unicode().tag(sync=True)
    state = t.Unicode("idle").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    received_samples = t.Int(0).tag(sync=True)
    played_samples = t.Int(0).tag(sync=True)
    underruns = t.Int(0).tag(sync=True)
    volume = t.Float(1.0).tag(sync=True)

    @t.default("uid")
    def _default_uid(self) -> str:
        return uuid.uuid4().hex

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sinks: list[BrowserSpeakerSink] = []
        self._sent_total = 0  # samples sent to the browser (all sinks)
        self._played_total = 0  # samples the browser reported played (all sinks)
        self.on_msg(self._on_message)

    @property
    def sent_samples(self) -> int:
        """Samples sent to the browser so far, by all its sinks (the browser's own count of
        samples received, once they arrive; the live captions place segments with it)."""
        return self._sent_total

    @property
    def sample_rate(self) -> int | None:
        """Rate (Hz) of the audio the newest of its sinks sends (None before any has a rate)."""
        rates = [s.sample_rate for s in self._sinks if s.sample_rate]
        return rates[-1] if rates else None

    def sink(self, **kwargs: Any) -> BrowserSpeakerSink:
        """A new AudioSink playing through this widget (options: see BrowserSpeakerSink)."""
        s = BrowserSpeakerSink(self, **kwargs)
        self._sinks.append(s)
        return s

    def _detach(self, sink: BrowserSpeakerSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def _on_message(self, _widget: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        """Messages from the browser: ``played`` (progress), ``ready``, ``error``."""
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "played":
            self._played_total = int(content.get("played_samples", 0))
            received = int(content.get("received_samples", 0))
            underruns = int(content.get("underruns", 0))
            for s in list(self._sinks):
                _deliver(s._loop, s._on_played, self._played_total, received, underruns)
        elif kind == "error":
            logger.warning("browser speaker: %s", content.get("message"))
