"""Local sound devices through PyAudio (PortAudio): :class:`MicrophoneSource`, :class:`SpeakerSink`.

One PortAudio stream is opened per session (when the pipeline starts reading / writing) and
kept open until :meth:`aclose` — never one stream per utterance. PortAudio calls back on its
own thread; that thread reaches the event loop only through ``loop.call_soon_threadsafe``
(as in python-sounddevice's ``asyncio_generators`` example), and how many buffers may be on
their way to the loop is bounded: when the consumer falls behind, buffers are dropped in the
device thread and counted instead of piling up on the loop.

Without a sound card (a server, a container, a notebook in the cloud) constructing a source or
sink raises a :class:`~s2st_kit.errors.DeviceError` that says what to use instead; PortAudio's
and ALSA's stderr chatter during initialisation is swallowed (it is logged at DEBUG level on
the ``s2st_kit.audio.devices`` logger).

::

    from s2st_kit.audio.devices import MicrophoneSource, SpeakerSink, list_devices
    list_devices()                                   # what is there
    mic = MicrophoneSource("usb", chunk_ms=50)       # name substring or index; native rate
    out = SpeakerSink()                              # default output at its native rate
    pipe = Pipeline(engines, config, source=mic, sink=out)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..errors import AudioError, DeviceError, EngineNotInstalledError, PipelineStateError
from ..records import AudioChunk

__all__ = [
    "DeviceInfo",
    "DeviceStats",
    "MicrophoneSource",
    "PortAudioNotInstalledError",
    "SpeakerSink",
    "list_devices",
]

logger = logging.getLogger(__name__)

INSTALL_HINT = "apt-get install portaudio19-dev && pip install 's2st_kit[audio]'"
NO_INPUT_HINT = (
    "in a notebook use the browser microphone "
    "(s2st_kit.notebook.browser_audio.BrowserMicrophone) or a file (FileSource)"
)
NO_OUTPUT_HINT = (
    "in a notebook play through the browser "
    "(s2st_kit.notebook.browser_audio.BrowserSpeaker) or write a file (WavSink)"
)

# PortAudio callback status flags (portaudio.h), so the module imports without pyaudio.
_PA_INPUT_UNDERFLOW = 0x1
_PA_INPUT_OVERFLOW = 0x2
_PA_OUTPUT_UNDERFLOW = 0x4
_PA_CONTINUE = 0
_PA_ABORT = 2


class PortAudioNotInstalledError(EngineNotInstalledError, DeviceError):
    """PyAudio / PortAudio is missing; catch it as either EngineNotInstalledError or DeviceError."""


def _import_pyaudio() -> ModuleType:
    """The ``pyaudio`` module, or PortAudioNotInstalledError with the install command."""
    try:
        import pyaudio
    except ImportError as exc:  # also OSError-ish failures loading libportaudio surface here
        raise PortAudioNotInstalledError(
            f"local sound devices need PyAudio and PortAudio ({exc}); install them with: "
            f"{INSTALL_HINT} — or, {NO_INPUT_HINT}"
        ) from exc
    return pyaudio


_stderr_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (ALSA / JACK / PortAudio print there from C) for a moment.

    What was printed is logged at DEBUG level instead. fd 2 is process-wide, so other
    threads' stderr output during this window is captured too; the window is short
    (PortAudio initialisation, device enumeration, opening a stream).
    """
    with _stderr_lock:
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 at all
            yield
            return
        with tempfile.TemporaryFile() as tmp:
            try:
                os.dup2(tmp.fileno(), 2)
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                noise = tmp.read(64_000).decode("utf-8", "replace").strip()
                if noise:
                    logger.debug("PortAudio/ALSA said on stderr:\n%s", noise)


def _open_portaudio() -> tuple[ModuleType, Any]:
    """Import pyaudio and initialise PortAudio quietly; returns ``(module, PyAudio instance)``."""
    pyaudio = _import_pyaudio()
    try:
        with _quiet_stderr():
            pa = pyaudio.PyAudio()
    except Exception as exc:
        raise DeviceError(f"PortAudio could not be initialised ({exc}); {NO_INPUT_HINT}") from exc
    return pyaudio, pa


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A PortAudio device.

    index: PortAudio device index (what ``device=`` accepts, besides a name).
    name: device name as PortAudio reports it.
    max_input_channels / max_output_channels: 0 means the device cannot capture / play.
    default_sample_rate: the device's native rate (Hz).
    host_api: host API name (``"ALSA"``, ``"Core Audio"``, ...).
    is_default_input / is_default_output: the system default for capture / playback.
    """

    index: int
    name: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate: float
    host_api: str = ""
    is_default_input: bool = False
    is_default_output: bool = False

    @property
    def is_default(self) -> bool:
        """True if it is the default input or output device."""
        return self.is_default_input or self.is_default_output

    @property
    def default_rate(self) -> int:
        """Native rate rounded to an integer (Hz)."""
        return round(self.default_sample_rate)


def _default_index(pa: Any, kind: str) -> int | None:
    try:
        info = (
            pa.get_default_input_device_info()
            if kind == "input"
            else pa.get_default_output_device_info()
        )
    except OSError:
        return None
    return int(info["index"])


def _devices(pa: Any) -> list[DeviceInfo]:
    with _quiet_stderr():
        din, dout = _default_index(pa, "input"), _default_index(pa, "output")
        out = []
        for i in range(pa.get_device_count()):
            d = pa.get_device_info_by_index(i)
            try:
                api = str(pa.get_host_api_info_by_index(d["hostApi"])["name"])
            except Exception:
                api = ""
            out.append(
                DeviceInfo(
                    index=int(d["index"]),
                    name=str(d["name"]),
                    max_input_channels=int(d["maxInputChannels"]),
                    max_output_channels=int(d["maxOutputChannels"]),
                    default_sample_rate=float(d["defaultSampleRate"]),
                    host_api=api,
                    is_default_input=i == din,
                    is_default_output=i == dout,
                )
            )
    return out


def list_devices() -> list[DeviceInfo]:
    """All PortAudio devices (capture and playback), in index order; ``[]`` without a sound card.

    Raises PortAudioNotInstalledError when PyAudio is missing. Blocking (tens of ms).
    """
    _, pa = _open_portaudio()
    try:
        return _devices(pa)
    finally:
        pa.terminate()


def _channels(d: DeviceInfo, kind: str) -> int:
    return d.max_input_channels if kind == "input" else d.max_output_channels


def _describe(devs: list[DeviceInfo], kind: str) -> str:
    usable = [d for d in devs if _channels(d, kind) > 0]
    if not usable:
        return f"there are no {kind} devices"
    return f"{kind} devices: " + ", ".join(f"{d.index} {d.name!r}" for d in usable)


def _resolve(pa: Any, device: int | str | None, kind: str) -> DeviceInfo:
    """Pick a device by index, name substring (case-insensitive) or the default."""
    devs = _devices(pa)
    usable = [d for d in devs if _channels(d, kind) > 0]
    hint = NO_INPUT_HINT if kind == "input" else NO_OUTPUT_HINT
    if not usable:
        raise DeviceError(f"no {kind} audio device found; {hint}")
    if device is None:
        for d in usable:
            if d.is_default_input if kind == "input" else d.is_default_output:
                return d
        return usable[0]
    if isinstance(device, bool) or not isinstance(device, int | str):
        raise DeviceError(f"device must be an index, a name or None, got {device!r}")
    if isinstance(device, int):
        if not 0 <= device < len(devs):
            raise DeviceError(
                f"audio device index {device} is out of range: there are {len(devs)} devices "
                f"(0-{len(devs) - 1}); {_describe(devs, kind)}"
            )
        d = devs[device]
        if _channels(d, kind) == 0:
            raise DeviceError(
                f"audio device {device} {d.name!r} has no {kind} channels; {_describe(devs, kind)}"
            )
        return d
    needle = device.casefold()
    matches = [d for d in usable if needle in d.name.casefold()]
    exact = [d for d in matches if d.name.casefold() == needle]
    if exact:
        return exact[0]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise DeviceError(f"no {kind} audio device matches {device!r}; {_describe(devs, kind)}")
    names = ", ".join(f"{d.index} {d.name!r}" for d in matches)
    raise DeviceError(
        f"{device!r} matches several {kind} devices ({names}); give a longer name or the index"
    )


def _check_rate(pa: Any, pyaudio: ModuleType, d: DeviceInfo, rate: int, kind: str) -> None:
    kw: dict[str, Any] = (
        {"input_device": d.index, "input_channels": 1, "input_format": pyaudio.paInt16}
        if kind == "input"
        else {"output_device": d.index, "output_channels": 1, "output_format": pyaudio.paInt16}
    )
    try:
        with _quiet_stderr():
            pa.is_format_supported(rate, **kw)
    except ValueError as exc:
        raise DeviceError(
            f"{kind} device {d.index} {d.name!r} cannot run at {rate} Hz mono 16-bit ({exc}); "
            f"leave sample_rate=None to use its native {d.default_rate} Hz"
        ) from exc


@dataclass(slots=True)
class DeviceStats:
    """Counters of one device stream, for the session summary.

    buffers: PortAudio buffers handled. frames: samples captured / played.
    dropped_buffers: captured buffers discarded because the consumer was ``max_buffered_s``
        behind (the audio is lost; positions stay continuous).
    late_buffers: captured buffers that reached the event loop more than one buffer
        duration after PortAudio delivered them (a busy loop).
    max_delivery_ms: the longest device-thread → loop hand-off (ms).
    input_overflows: callbacks PortAudio flagged with paInputOverflow (data lost before us).
    underruns: playback ran out of written audio in the middle of a segment (an audible gap).
    device_underflows: callbacks PortAudio flagged with paOutputUnderflow / paInputUnderflow.
    """

    buffers: int = 0
    frames: int = 0
    dropped_buffers: int = 0
    late_buffers: int = 0
    max_delivery_ms: float = 0.0
    input_overflows: int = 0
    underruns: int = 0
    device_underflows: int = 0

    def as_dict(self) -> dict[str, float | int]:
        """The counters as a plain dict."""
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


class _Lifecycle:
    """Shared state machine: unopened → open → closed; a closed object refuses reuse."""

    _state = "unopened"

    def _check_reusable(self, what: str) -> None:
        if self._state == "closed":
            raise PipelineStateError(f"{what} is closed; create a new one")
        if self._state == "open":
            raise PipelineStateError(f"{what} is already streaming; one consumer at a time")


class MicrophoneSource(_Lifecycle):
    """Capture mono PCM16 from a local input device (an :class:`AudioSource`).

    device: ``None`` (the system default input), an index from :func:`list_devices`, or a
        case-insensitive substring of the device name.
    sample_rate: capture rate (Hz); ``None`` (default) uses the device's native rate and
        the pipeline converts to what the recognizer wants.
    chunk_ms: PortAudio buffer and chunk duration (ms), default 100.
    max_buffered_s: how much captured audio (s) may wait for the consumer before buffers are
        dropped (counted in ``stats.dropped_buffers``), default 2.0 s.

    Raises DeviceError at construction when there is no usable input device, the name or
    index matches nothing, or the rate is not supported; PortAudioNotInstalledError when
    PyAudio is missing. The stream opens when iteration starts (in a worker thread, so the
    loop never blocks) and stays open until :meth:`aclose` or the end of iteration.
    Chunks' ``start_s`` counts every captured sample, dropped ones included.
    """

    def __init__(
        self,
        device: int | str | None = None,
        *,
        sample_rate: int | None = None,
        chunk_ms: int = 100,
        max_buffered_s: float = 2.0,
    ) -> None:
        if not 5 <= chunk_ms <= 1000:
            raise AudioError(f"chunk_ms must be 5-1000 ms, got {chunk_ms}")
        self._pyaudio, self._pa = _open_portaudio()
        try:
            self.device = _resolve(self._pa, device, "input")
            self.sample_rate: int = int(sample_rate or self.device.default_rate)
            _check_rate(self._pa, self._pyaudio, self.device, self.sample_rate, "input")
        except BaseException:
            self._pa.terminate()
            raise
        self.chunk_ms = chunk_ms
        self.frames_per_buffer = max(1, round(self.sample_rate * chunk_ms / 1000))
        self.max_buffers = max(2, math.ceil(max_buffered_s * 1000 / chunk_ms))
        self.stats = DeviceStats()
        self._lock = threading.Lock()
        self._pending = 0  # buffers scheduled onto the loop and not yet consumed
        self._frames_seen = 0  # device thread: frames delivered by PortAudio, dropped included
        self._stream: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[bytes, int, float] | None] | None = None

    def __repr__(self) -> str:
        return (
            f"MicrophoneSource({self.device.index} {self.device.name!r}, {self.sample_rate} Hz, "
            f"{self.chunk_ms} ms chunks, {self._state})"
        )

    # -- device thread ---------------------------------------------------------------------
    def _callback(self, in_data: bytes | None, frame_count: int, time_info: Any, status: int):
        t = time.monotonic()
        if status & _PA_INPUT_OVERFLOW:
            self.stats.input_overflows += 1
        if status & _PA_INPUT_UNDERFLOW:
            self.stats.device_underflows += 1
        start = self._frames_seen
        self._frames_seen += frame_count
        loop = self._loop
        if loop is None or in_data is None:
            return (None, _PA_CONTINUE)
        with self._lock:
            if self._pending >= self.max_buffers:
                self.stats.dropped_buffers += 1
                return (None, _PA_CONTINUE)
            self._pending += 1
        try:
            # PyAudio hands the callback a fresh bytes object: it is already a copy.
            loop.call_soon_threadsafe(self._deliver, bytes(in_data), start, t)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return (None, _PA_ABORT)
        return (None, _PA_CONTINUE)

    # -- event loop ------------------------------------------------------------------------
    def _deliver(self, data: bytes, start: int, t_captured: float) -> None:
        delay = time.monotonic() - t_captured
        self.stats.max_delivery_ms = max(self.stats.max_delivery_ms, delay * 1000)
        if delay > self.chunk_ms / 1000:
            self.stats.late_buffers += 1
        q = self._queue
        if q is None or self._state != "open":
            with self._lock:
                self._pending -= 1
            return
        q.put_nowait((data, start, t_captured))  # never full: _pending bounds it

    def _open_stream(self) -> Any:
        pyaudio = self._pyaudio
        try:
            with _quiet_stderr():
                return self._pa.open(
                    format=pyaudio.paInt16,
                    channels=1,
                    rate=self.sample_rate,
                    input=True,
                    input_device_index=self.device.index,
                    frames_per_buffer=self.frames_per_buffer,
                    stream_callback=self._callback,
                )
        except Exception as exc:
            raise DeviceError(
                f"cannot open input device {self.device.index} {self.device.name!r} at "
                f"{self.sample_rate} Hz ({exc}); is it busy or unplugged? {NO_INPUT_HINT}"
            ) from exc

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with _quiet_stderr(), contextlib.suppress(Exception):
                stream.stop_stream()
                stream.close()

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[AudioChunk]:
        self._check_reusable("this MicrophoneSource")
        self._state = "open"
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(self.max_buffers + 1)
        try:
            self._stream = await asyncio.to_thread(self._open_stream)
            rate = self.sample_rate
            while True:
                item = await self._queue.get()
                if item is None:
                    return
                with self._lock:
                    self._pending -= 1
                data, start, _ = item
                n = len(data) // 2
                self.stats.buffers += 1
                self.stats.frames += n
                yield AudioChunk(data, rate, start / rate)
        finally:
            self._loop = None
            self._state = "closed"
            await asyncio.to_thread(self._close_stream)
            self._pa.terminate()

    async def aclose(self) -> None:
        """Stop capturing and release the device; the iterator ends. Idempotent."""
        if self._state == "open" and self._queue is not None:
            self._state = "closing"
            while self._queue.full():
                self._queue.get_nowait()
            self._queue.put_nowait(None)
            return
        if self._state == "unopened":
            self._state = "closed"
            self._pa.terminate()


class SpeakerSink(_Lifecycle):
    """Play mono PCM16 on a local output device (an :class:`AudioSink`).

    device: ``None`` (default output), an index, or a name substring (case-insensitive).
    sample_rate: playback rate (Hz); ``None`` (default) uses the device's native rate — the
        pipeline converts the synthesizer's audio to it. Chunks must arrive at this rate.
    buffer_ms: PortAudio buffer (ms), default 50.
    max_buffered_s: how much written audio (s) may wait to be played before ``write``
        waits (back-pressure), default 0.5 s.

    ``write`` returns once the chunk is queued; ``drain`` returns when everything written
    has left the loudspeaker (queue empty plus the device's output latency). When the
    queue runs dry in the middle of a segment (written faster than synthesised) the gap
    is counted in ``stats.underruns``. The stream opens at the first write and stays open.
    """

    def __init__(
        self,
        device: int | str | None = None,
        *,
        sample_rate: int | None = None,
        buffer_ms: int = 50,
        max_buffered_s: float = 0.5,
    ) -> None:
        self._pyaudio, self._pa = _open_portaudio()
        try:
            self.device = _resolve(self._pa, device, "output")
            self.sample_rate: int = int(sample_rate or self.device.default_rate)
            _check_rate(self._pa, self._pyaudio, self.device, self.sample_rate, "output")
        except BaseException:
            self._pa.terminate()
            raise
        self.buffer_ms = buffer_ms
        self.frames_per_buffer = max(1, round(self.sample_rate * buffer_ms / 1000))
        self.max_bytes = max(
            2 * self.frames_per_buffer, round(max_buffered_s * self.sample_rate) * 2
        )
        self.stats = DeviceStats()
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._active = False  # a segment is being written (gaps count as underruns)
        self._draining = False
        self._written = 0  # frames written
        self._played_until = 0.0  # monotonic time the last queued sample leaves the speaker
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None

    def __repr__(self) -> str:
        return f"SpeakerSink({self.device.index} {self.device.name!r}, {self.sample_rate} Hz, {self._state})"

    # -- device thread ---------------------------------------------------------------------
    def _callback(self, in_data: Any, frame_count: int, time_info: Any, status: int):
        if status & _PA_OUTPUT_UNDERFLOW:
            self.stats.device_underflows += 1
        need = frame_count * 2
        wake = None
        with self._lock:
            have = min(need, len(self._buf))
            out = bytes(self._buf[:have])
            del self._buf[:have]
            if have < need and self._active and not self._draining and self._underrun_armed:
                self.stats.underruns += 1  # once per gap: re-armed by the next audio played
                self._underrun_armed = False
            if have:
                self._underrun_armed = True
                self.stats.frames += have // 2
                # When the last queued sample reaches the DAC (PortAudio stream time → monotonic).
                lag = 0.0
                if isinstance(time_info, dict):
                    lag = time_info.get("output_buffer_dac_time", 0.0) - time_info.get(
                        "current_time", 0.0
                    )
                lag = lag if 0.0 <= lag < 2.0 else self._latency
                self._played_until = time.monotonic() + lag + have / 2 / self.sample_rate
            self.stats.buffers += 1
            if self._waiter is not None and len(self._buf) < self.max_bytes:
                wake, self._waiter = self._waiter, None
        if wake is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(_resolve_future, wake)
        if have < need:
            out += bytes(need - have)
        return (out, _PA_CONTINUE)

    _underrun_armed = False
    _latency = 0.0

    # -- event loop ------------------------------------------------------------------------
    def _open_stream(self) -> Any:
        pyaudio = self._pyaudio
        try:
            with _quiet_stderr():
                stream = self._pa.open(
                    format=pyaudio.paInt16,
                    channels=1,
                    rate=self.sample_rate,
                    output=True,
                    output_device_index=self.device.index,
                    frames_per_buffer=self.frames_per_buffer,
                    stream_callback=self._callback,
                )
        except Exception as exc:
            raise DeviceError(
                f"cannot open output device {self.device.index} {self.device.name!r} at "
                f"{self.sample_rate} Hz ({exc}); is it busy or unplugged? {NO_OUTPUT_HINT}"
            ) from exc
        with contextlib.suppress(Exception):
            self._latency = float(stream.get_output_latency())
        return stream

    async def _wait(self, ready: Any) -> None:
        """Wait until ``ready()`` (checked under the lock) or the device consumed audio."""
        while True:
            with self._lock:
                if ready():
                    return
                fut = self._loop.create_future()  # type: ignore[union-attr]
                self._waiter = fut
            # The timeout is a safety net for a stalled device, not the wake-up mechanism.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, timeout=0.25)
            if self._stream is not None and not self._stream.is_active():
                raise DeviceError(f"output device {self.device.name!r} stopped playing")

    async def write(self, chunk: AudioChunk) -> None:
        """Queue ``chunk`` (at ``sample_rate``); waits while ``max_buffered_s`` is queued."""
        if self._state == "closed":
            raise PipelineStateError("this SpeakerSink is closed; create a new one")
        if chunk.sample_rate != self.sample_rate:
            raise AudioError(
                f"SpeakerSink plays {self.sample_rate} Hz, got {chunk.sample_rate} Hz "
                "(the pipeline converts; convert yourself when writing directly)"
            )
        if self._state == "unopened":
            self._state = "open"
            self._loop = asyncio.get_running_loop()
            self._stream = await asyncio.to_thread(self._open_stream)
        pcm = memoryview(chunk.pcm)
        with self._lock:
            self._active, self._draining = True, False
        while pcm:
            await self._wait(lambda: len(self._buf) < self.max_bytes)
            with self._lock:
                room = self.max_bytes - len(self._buf)
                piece = pcm[: max(2, room - room % 2)]
                self._buf += piece
            pcm = pcm[len(piece) :]
            self._written += len(piece) // 2

    async def drain(self) -> None:
        """Return when everything written has been played (queue empty + output latency)."""
        if self._state != "open":
            return
        with self._lock:
            self._draining = True
        await self._wait(lambda: not self._buf)
        rest = self._played_until - time.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)
        with self._lock:
            self._active = self._draining = False
            self._underrun_armed = False

    async def aclose(self) -> None:
        """Stop the stream and release the device (call :meth:`drain` first). Idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        stream, self._stream = self._stream, None
        if stream is not None:

            def close() -> None:
                with _quiet_stderr(), contextlib.suppress(Exception):
                    stream.stop_stream()
                    stream.close()

            await asyncio.to_thread(close)
        self._pa.terminate()


def _resolve_future(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
