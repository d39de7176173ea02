"""Local sound devices through PyAudio (PortAudio): :class:`MicrophoneSource`, :class:`SpeakerSink`.

One PortAudio stream is opened per session (when the pipeline starts reading / writing, or
by ``await device.open()``) and kept open until :meth:`aclose` — never one stream per
utterance. PortAudio calls back on its own thread; that thread reaches the event loop only
through the project's one hand-off, :func:`s2st_kit.bridge.call_soon` (as in
python-sounddevice's ``asyncio_generators`` example), and how many buffers may be on their
way to the loop is bounded: when the consumer falls behind, buffers are dropped in the
device thread and counted instead of piling up on the loop.

Nothing here blocks the event loop when used as documented: constructing a device
initialises PortAudio and looks the device up (tens to hundreds of ms: blocking), so async
code constructs it with ``await MicrophoneSource.create(...)`` / ``await SpeakerSink.create(...)``
(a worker thread); the stream opens in a worker thread too (``await device.open()``, or
implicitly at the first read / write). A device whose open fails is ``"failed"``: PortAudio is
released at once and every later use raises :class:`~s2st_kit.errors.DeviceError`.

Without a sound card (a server, a container, a notebook in the cloud) constructing a source or
sink raises a :class:`~s2st_kit.errors.DeviceError` that says what to use instead; PortAudio's
and ALSA's stderr chatter during initialisation is swallowed (it is logged at DEBUG level on
the ``s2st_kit.audio.devices`` logger).

::

    from s2st_kit.audio.devices import MicrophoneSource, SpeakerSink, list_devices
    list_devices()                                   # what is there
    mic = await MicrophoneSource.create("usb", chunk_ms=50)  # name substring or index
    out = await SpeakerSink.create()                 # default output at its native rate
    await out.open()                                 # optional: a busy device fails here
    pipe = Pipeline(engines, config, source=mic, sink=out)
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from types import ModuleType
from typing import Any, ClassVar, Literal

from ..bridge import call_soon
from ..errors import AudioError, DeviceError, EngineNotInstalledError, PipelineStateError
from ..records import AudioChunk

__all__ = [
    "DeviceInfo",
    "DeviceState",
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
        return importlib.import_module("pyaudio")
    except ImportError as exc:  # also OSError-ish failures loading libportaudio surface here
        raise PortAudioNotInstalledError(
            f"local sound devices need PyAudio and PortAudio ({exc}); install them with: "
            f"{INSTALL_HINT} — or, {NO_INPUT_HINT}"
        ) from exc


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


Kind = Literal["input", "output"]


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
        return {f.name: getattr(self, f.name) for f in fields(self)}


DeviceState = Literal["unopened", "opening", "open", "closing", "failed", "closed"]
"""Where a device is in its life: ``unopened`` → ``opening`` → ``open`` → (``closing`` →)
``closed``; an open that fails leads to ``failed`` (PortAudio released), then ``closed``."""


def _shut_down(kind: Kind, stream: Any, pa: Any) -> None:
    """(Worker thread.) Stop and close ``stream`` if any, then terminate PortAudio if given."""
    with _quiet_stderr():
        try:
            if stream is not None:
                stream.stop_stream()
                stream.close()
        except Exception as exc:  # the device went away: nothing left to release but PortAudio
            logger.warning("closing the %s stream failed: %s", kind, exc)
        finally:
            if pa is not None:
                pa.terminate()


class _PortAudioDevice:
    """What :class:`MicrophoneSource` and :class:`SpeakerSink` share: PortAudio, the device,
    one stream, the lifecycle (:data:`DeviceState`). A closed device refuses reuse."""

    _kind: ClassVar[Kind]

    def __init__(self, device: int | str | None, sample_rate: int | None) -> None:
        self._pyaudio, self._pa = _open_portaudio()
        try:
            self.device = _resolve(self._pa, device, self._kind)
            self.sample_rate: int = int(sample_rate or self.device.default_rate)
            _check_rate(self._pa, self._pyaudio, self.device, self.sample_rate, self._kind)
        except BaseException:
            self._pa.terminate()
            raise
        self.stats = DeviceStats()
        self._lock = threading.Lock()
        self._state: DeviceState = "unopened"
        self._failure: DeviceError | None = None
        self._stream: Any = None
        self._pa_alive = True  # PortAudio not terminated yet
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Task[None] | None = None

    @property
    def state(self) -> DeviceState:
        """Where the device is in its life (see :data:`DeviceState`)."""
        return self._state

    def _describe_device(self) -> str:
        return f"{self._kind} device {self.device.index} {self.device.name!r}"

    def _refuse_if_unusable(self) -> None:
        """DeviceError after a failed open; PipelineStateError once closed (or closing)."""
        if self._state == "failed":
            raise DeviceError(
                f"{self._describe_device()} could not be opened ({self._failure}); "
                f"create a new {type(self).__name__}"
            ) from self._failure
        if self._state in ("closing", "closed"):
            raise PipelineStateError(f"this {type(self).__name__} is closed; create a new one")

    def _stream_options(self) -> dict[str, Any]:
        """pyaudio ``open`` arguments of the subclass (direction, device, callback)."""
        raise NotImplementedError

    def _open_stream(self) -> Any:
        """(Worker thread.) Open the PortAudio stream; it starts calling back at once."""
        try:
            with _quiet_stderr():
                return self._pa.open(
                    format=self._pyaudio.paInt16,
                    channels=1,
                    rate=self.sample_rate,
                    **self._stream_options(),
                )
        except Exception as exc:
            hint = NO_INPUT_HINT if self._kind == "input" else NO_OUTPUT_HINT
            raise DeviceError(
                f"cannot open {self._describe_device()} at {self.sample_rate} Hz ({exc}); "
                f"is it busy or unplugged? {hint}"
            ) from exc

    async def open(self) -> None:
        """Open the stream in a worker thread (the loop never waits); idempotent.

        Reading / writing opens it implicitly; call it to fail early (a busy device). Raises
        DeviceError when the device cannot be opened — the device is then ``"failed"``:
        PortAudio is released and every later use raises DeviceError. PipelineStateError
        once closed. Concurrent calls share one opening.
        """
        if self._state == "open":
            return
        self._refuse_if_unusable()
        if self._opening is None:
            self._loop = asyncio.get_running_loop()
            self._state = "opening"
            # A task of its own: a caller cancelled while waiting does not abandon a stream
            # that the worker thread goes on to open (aclose() finds and closes it).
            self._opening = asyncio.create_task(
                self._open_off_loop(), name=f"s2st-open-{self._kind}-device"
            )
        await asyncio.shield(self._opening)

    async def _open_off_loop(self) -> None:
        try:
            stream = await asyncio.to_thread(self._open_stream)
        except DeviceError as exc:
            self._state, self._failure = "failed", exc
            await self._release()  # nothing else may stay open after a failed start
            raise
        self._stream = stream
        if self._state == "opening":  # not "closing": aclose() came while we opened
            self._state = "open"
        self._opened(stream)

    def _opened(self, stream: Any) -> None:
        """Hook: the stream is open (on the loop)."""

    async def _release(self) -> None:
        """Close the stream and terminate PortAudio (each once), in a worker thread."""
        stream, self._stream = self._stream, None
        pa = self._pa if self._pa_alive else None
        self._pa_alive = False
        self._loop = None
        if stream is not None or pa is not None:
            await asyncio.to_thread(_shut_down, self._kind, stream, pa)

    async def aclose(self) -> None:
        """Stop the stream and release the device (a sink: call ``drain`` first). Idempotent."""
        if self._state == "closed":
            return
        if self._opening is not None and not self._opening.done():
            with contextlib.suppress(DeviceError):  # a failure is recorded in the state
                await asyncio.shield(self._opening)
        self._state = "closed"
        await self._release()


class MicrophoneSource(_PortAudioDevice):
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
    PyAudio is missing. Construction is blocking: from async code use :meth:`create`. The
    stream opens at :meth:`open` or when iteration starts (in a worker thread, so the loop
    never blocks) and stays open until :meth:`aclose` or the end of iteration.
    Chunks' ``start_s`` counts every captured sample, dropped ones included.
    """

    _kind = "input"

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
        super().__init__(device, sample_rate)
        self.chunk_ms = chunk_ms
        self.frames_per_buffer = max(1, round(self.sample_rate * chunk_ms / 1000))
        self.max_buffers = max(2, math.ceil(max_buffered_s * 1000 / chunk_ms))
        self._pending = 0  # buffers scheduled onto the loop and not yet consumed
        self._frames_seen = 0  # device thread: frames delivered by PortAudio, dropped included
        # (pcm, position in frames) or None: the end. Never full: _pending bounds it.
        self._queue: asyncio.Queue[tuple[bytes, int] | None] = asyncio.Queue(self.max_buffers + 1)
        self._iterating = False

    @classmethod
    async def create(
        cls,
        device: int | str | None = None,
        *,
        sample_rate: int | None = None,
        chunk_ms: int = 100,
        max_buffered_s: float = 2.0,
    ) -> MicrophoneSource:
        """Construct in a worker thread (PortAudio set-up and device lookup block)."""
        return await asyncio.to_thread(
            cls, device, sample_rate=sample_rate, chunk_ms=chunk_ms, max_buffered_s=max_buffered_s
        )

    def __repr__(self) -> str:
        return (
            f"MicrophoneSource({self.device.index} {self.device.name!r}, {self.sample_rate} Hz, "
            f"{self.chunk_ms} ms chunks, {self._state})"
        )

    def _stream_options(self) -> dict[str, Any]:
        return {
            "input": True,
            "input_device_index": self.device.index,
            "frames_per_buffer": self.frames_per_buffer,
            "stream_callback": self._callback,
        }

    # -- device thread ---------------------------------------------------------------------
    def _callback(
        self, in_data: bytes | None, frame_count: int, time_info: object, status: int
    ) -> tuple[None, int]:
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
        # PyAudio hands the callback a fresh bytes object: it is already a copy.
        if not call_soon(loop, self._deliver, bytes(in_data), start, t):
            return (None, _PA_ABORT)  # the loop is closed: nobody is listening any more
        return (None, _PA_CONTINUE)

    # -- event loop ------------------------------------------------------------------------
    def _deliver(self, data: bytes, start: int, t_captured: float) -> None:
        delay = time.monotonic() - t_captured
        self.stats.max_delivery_ms = max(self.stats.max_delivery_ms, delay * 1000)
        if delay > self.chunk_ms / 1000:
            self.stats.late_buffers += 1
        if self._state != "open":
            with self._lock:
                self._pending -= 1
            return
        self._queue.put_nowait((data, start))

    def _end(self) -> None:
        while self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[AudioChunk]:
        self._refuse_if_unusable()
        if self._iterating:
            raise PipelineStateError(
                "this MicrophoneSource is already streaming; one consumer at a time"
            )
        self._iterating = True
        try:
            await self.open()
            rate = self.sample_rate
            while (item := await self._queue.get()) is not None:
                with self._lock:
                    self._pending -= 1
                data, start = item
                self.stats.buffers += 1
                self.stats.frames += len(data) // 2
                yield AudioChunk(data, rate, start / rate)
        finally:
            if self._state != "failed":
                self._state = "closed"
            await self._release()

    async def aclose(self) -> None:
        """Stop capturing and release the device; an iteration ends. Idempotent."""
        if self._iterating and self._state in ("opening", "open"):
            self._state = "closing"
            self._end()  # the iterator ends and releases the device
            return
        await super().aclose()


class SpeakerSink(_PortAudioDevice):
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
    is counted in ``stats.underruns``. Construction is blocking: from async code use
    :meth:`create`. The stream opens at :meth:`open` or the first write (in a worker
    thread) and stays open; when it cannot be opened, that write and every later
    ``write`` / ``drain`` raise DeviceError.
    """

    _kind = "output"

    def __init__(
        self,
        device: int | str | None = None,
        *,
        sample_rate: int | None = None,
        buffer_ms: int = 50,
        max_buffered_s: float = 0.5,
    ) -> None:
        super().__init__(device, sample_rate)
        self.buffer_ms = buffer_ms
        self.frames_per_buffer = max(1, round(self.sample_rate * buffer_ms / 1000))
        self.max_bytes = max(
            2 * self.frames_per_buffer, round(max_buffered_s * self.sample_rate) * 2
        )
        self._buf = bytearray()
        self._active = False  # a segment is being written (gaps count as underruns)
        self._draining = False
        self._underrun_armed = False  # audio was played since the last gap / drain
        self._latency = 0.0  # the stream's output latency (s)
        self._written = 0  # frames written
        self._played_until = 0.0  # monotonic time the last queued sample leaves the speaker
        self._waiter: asyncio.Future[None] | None = None

    @classmethod
    async def create(
        cls,
        device: int | str | None = None,
        *,
        sample_rate: int | None = None,
        buffer_ms: int = 50,
        max_buffered_s: float = 0.5,
    ) -> SpeakerSink:
        """Construct in a worker thread (PortAudio set-up and device lookup block)."""
        return await asyncio.to_thread(
            cls, device, sample_rate=sample_rate, buffer_ms=buffer_ms, max_buffered_s=max_buffered_s
        )

    def __repr__(self) -> str:
        return f"SpeakerSink({self.device.index} {self.device.name!r}, {self.sample_rate} Hz, {self._state})"

    def _stream_options(self) -> dict[str, Any]:
        return {
            "output": True,
            "output_device_index": self.device.index,
            "frames_per_buffer": self.frames_per_buffer,
            "stream_callback": self._callback,
        }

    def _opened(self, stream: Any) -> None:
        try:
            self._latency = float(stream.get_output_latency())
        except Exception as exc:  # some host APIs cannot tell: time_info's DAC time still can
            logger.debug("no output latency from the stream: %s", exc)

    # -- device thread ---------------------------------------------------------------------
    def _callback(
        self, in_data: object, frame_count: int, time_info: Mapping[str, float], status: int
    ) -> tuple[bytes, int]:
        if status & _PA_OUTPUT_UNDERFLOW:
            self.stats.device_underflows += 1
        need = frame_count * 2
        with self._lock:
            out = self._take(need, time_info)
            wake = None
            if self._waiter is not None and len(self._buf) < self.max_bytes:
                wake, self._waiter = self._waiter, None
        loop = self._loop
        if wake is not None and loop is not None:
            call_soon(loop, _resolve_future, wake)
        return (out + bytes(need - len(out)), _PA_CONTINUE)

    def _take(self, need: int, time_info: Mapping[str, float]) -> bytes:
        """(Device thread, under the lock.) Up to ``need`` bytes of queued audio; counts."""
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
            lag = time_info.get("output_buffer_dac_time", 0.0) - time_info.get("current_time", 0.0)
            lag = lag if 0.0 <= lag < 2.0 else self._latency
            self._played_until = time.monotonic() + lag + have / 2 / self.sample_rate
        self.stats.buffers += 1
        return out

    # -- event loop ------------------------------------------------------------------------
    async def _wait(self, ready: Callable[[], bool]) -> None:
        """Wait until ``ready()`` (checked under the lock) or the device consumed audio."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if ready():
                    return
                fut = loop.create_future()
                self._waiter = fut
            # The timeout is a safety net for a stalled device, not the wake-up mechanism.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, timeout=0.25)
            self._refuse_if_unusable()  # closed while we waited
            if self._stream is not None and not self._stream.is_active():
                raise DeviceError(f"output device {self.device.name!r} stopped playing")

    async def write(self, chunk: AudioChunk) -> None:
        """Queue ``chunk`` (at ``sample_rate``); waits while ``max_buffered_s`` is queued.

        The first write opens the stream (see :meth:`open`); DeviceError when it cannot.
        """
        self._refuse_if_unusable()
        if chunk.sample_rate != self.sample_rate:
            raise AudioError(
                f"SpeakerSink plays {self.sample_rate} Hz, got {chunk.sample_rate} Hz "
                "(the pipeline converts; convert yourself when writing directly)"
            )
        await self.open()
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
        """Return when everything written has been played (queue empty + output latency).

        Returns at once when nothing was written (or after :meth:`aclose`); DeviceError
        when the stream could not be opened.
        """
        if self._state in ("unopened", "closed"):
            return
        self._refuse_if_unusable()
        await self.open()
        with self._lock:
            self._draining = True
        await self._wait(lambda: not self._buf)
        rest = self._played_until - time.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)
        with self._lock:
            self._active = self._draining = False
            self._underrun_armed = False


def _resolve_future(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
