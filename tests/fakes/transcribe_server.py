"""A fake Amazon Transcribe streaming endpoint on 127.0.0.1: HTTP/2 over TLS, AWS event streams.

The unmodified ``amazon_transcribe.client.TranscribeStreamingClient`` talks to it (pointed at
with ``StaticEndpointResolver`` and made to trust :mod:`tests.fakes.certs`' certificate). The
event stream frames are decoded and encoded with the SDK's own ``EventStreamBuffer`` and
``EventStreamMessageSerializer``.

What it "hears": speech is a pure tone. Each :class:`Utterance` of the vocabulary is a tone
frequency that stands for a sentence; the fake finds voiced regions with an energy detector,
measures each region's frequency (zero crossings) and transcribes it as the nearest
vocabulary entry. Because the transcript depends on the audio itself and not on a time
script, audio that a client re-sends after a reconnect is recognised again, exactly like a
real service would, and lost audio shows up as a missing sentence.

Results follow the service's shape: a partial every ``partial_interval_s`` of voiced audio
(words revealed at ``words_per_s``; with partial-results stabilisation requested all but the
last ``unstable_tail`` items carry ``Stable: true``), and a final once
``endpoint_silence_s`` of silence follows the region (or the client ends its stream).
Times are seconds from the start of *that* stream, as with the real service.

Faults (:class:`Fault`, per request index): HTTP 400 BadRequestException at start, a
mid-stream exception event (LimitExceeded / ServiceUnavailable / InternalFailure), a dropped
TCP connection, a server that never answers; plus the service's own limits: a stream ends
(BadRequestException event) when no audio arrives for ``silence_timeout_s`` (wall clock), and
when it has received more than ``max_stream_s`` of audio or has been open that long (the
4-hour limit, in audio seconds for unpaced time-compressed tests and in wall-clock seconds for
a client whose audio lags; the message is modelled, not the service's exact text).

Everything the server receives is recorded in :attr:`FakeTranscribeServer.streams`
(:class:`StreamRecord`: request headers minus secrets, audio chunk sizes, sample counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Literal

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import numpy as np
from amazon_transcribe.eventstream import EventStreamBuffer, EventStreamMessageSerializer

from .certs import SelfSignedCert

__all__ = ["FakeTranscribeServer", "Fault", "StreamRecord", "Utterance", "tone_clip"]

logger = logging.getLogger(__name__)

FaultKind = Literal[
    "bad_request",
    "limit_exceeded",
    "service_unavailable",
    "internal_failure",
    "drop",
    "never_answer",
]

_SECRET_HEADERS = frozenset({"authorization", "x-amz-security-token"})
_EXCEPTION_TYPES = {
    "limit_exceeded": "LimitExceededException",
    "service_unavailable": "ServiceUnavailableException",
    "internal_failure": "InternalFailureException",
}


@dataclass(frozen=True)
class Utterance:
    """A sentence the fake recognises when it hears a tone of ``freq_hz``."""

    freq_hz: float
    text: str
    language_code: str = "en-US"


@dataclass(frozen=True)
class Fault:
    """A fault for one request. ``at_audio_s``: audio (s) received in that stream before a
    mid-stream fault fires (ignored by ``bad_request`` and ``never_answer``)."""

    kind: FaultKind
    at_audio_s: float = 0.0
    message: str = ""


@dataclass
class StreamRecord:
    """What the fake saw of one request (headers never include Authorization or the token)."""

    index: int
    headers: dict[str, str]
    status: int | None = None
    sample_rate: int = 0
    chunk_sizes: list[int] = field(default_factory=list)
    n_samples: int = 0
    ended_by_client: bool = False
    timed_out: bool = False
    over_limit: bool = False
    fault: str | None = None
    results: list[dict] = field(default_factory=list)
    closed: bool = False

    @property
    def audio_s(self) -> float:
        """Seconds of audio received."""
        return self.n_samples / self.sample_rate if self.sample_rate else 0.0

    @property
    def finals(self) -> list[dict]:
        """The final results sent."""
        return [r for r in self.results if not r["IsPartial"]]


def tone_clip(
    plan: list[tuple[float, float, float]],
    *,
    sample_rate: int = 16000,
    total_s: float | None = None,
    amplitude: float = 0.4,
) -> np.ndarray:
    """Int16 audio at ``sample_rate``: silence, with a tone of ``freq_hz`` (5 ms ramps) for each
    ``(freq_hz, start_s, end_s)`` of ``plan``; ``total_s`` defaults to the last end + 1 s."""
    end = max(e for _, _, e in plan) if plan else 0.0
    total = total_s if total_s is not None else end + 1.0
    out = np.zeros(round(total * sample_rate), dtype=np.float64)
    for freq, start, stop in plan:
        a, b = round(start * sample_rate), round(stop * sample_rate)
        t = np.arange(b - a) / sample_rate
        ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005) if b > a else t
        out[a:b] = amplitude * np.sin(2 * np.pi * freq * t) * ramp
    return np.round(out * 32767).astype(np.int16)


class _Decoder:
    """Energy detector + zero-crossing frequency estimate over one stream's audio."""

    def __init__(
        self,
        server: FakeTranscribeServer,
        record: StreamRecord,
        identify: bool,
        options: list[str],
        stabilize: bool,
        speaker: bool,
    ) -> None:
        self.server = server
        self.record = record
        self.rate = record.sample_rate
        self.frame = max(1, self.rate // 100)  # 10 ms
        self.pending = np.zeros(0, dtype=np.int16)
        self.t = 0.0  # stream time (s) of the next frame
        self.identify = identify
        self.options = options
        self.stabilize = stabilize
        self.speaker = speaker
        self.region_start: float | None = None
        self.last_voiced = 0.0
        self.crossings = 0
        self.voiced_s = 0.0
        self.prev_sign = 0
        self.next_partial = 0.0
        self.result_id = ""

    def feed(self, pcm: bytes) -> list[dict]:
        samples = np.frombuffer(pcm, dtype="<i2")
        self.pending = np.concatenate([self.pending, samples])
        out: list[dict] = []
        while self.pending.size >= self.frame:
            frame, self.pending = self.pending[: self.frame], self.pending[self.frame :]
            out.extend(self._frame(frame))
        return out

    def finish(self) -> list[dict]:
        if self.region_start is not None:
            return [self._result(final=True, now=self.last_voiced)]
        return []

    def _frame(self, frame: np.ndarray) -> list[dict]:
        x = frame.astype(np.float64) / 32768.0
        rms = float(np.sqrt(np.mean(x * x)))
        start = self.t
        self.t += frame.size / self.rate
        out: list[dict] = []
        if rms >= self.server.rms_threshold:
            if self.region_start is None:
                self.region_start = start
                self.crossings = 0
                self.voiced_s = 0.0
                self.prev_sign = 0
                self.next_partial = start + self.server.partial_interval_s
                self.result_id = str(uuid.uuid4())
            signs = np.sign(x[x != 0])
            if signs.size:
                if self.prev_sign and signs[0] != self.prev_sign:
                    self.crossings += 1
                self.crossings += int(np.count_nonzero(np.diff(signs)))
                self.prev_sign = int(signs[-1])
            self.voiced_s += frame.size / self.rate
            self.last_voiced = self.t
            if self.t >= self.next_partial:
                self.next_partial += self.server.partial_interval_s
                out.append(self._result(final=False, now=self.t))
        elif (
            self.region_start is not None
            and self.t - self.last_voiced >= self.server.endpoint_silence_s
        ):
            out.append(self._result(final=True, now=self.last_voiced))
            self.region_start = None
        return out

    def _utterance(self) -> Utterance:
        freq = self.crossings / 2 / self.voiced_s if self.voiced_s else 0.0
        best = min(self.server.vocabulary, key=lambda u: abs(u.freq_hz - freq))
        if abs(best.freq_hz - freq) > 0.15 * best.freq_hz:
            return Utterance(freq, "unknown", best.language_code)
        return best

    def _result(self, *, final: bool, now: float) -> dict:
        utt = self._utterance()
        assert self.region_start is not None
        start = self.region_start
        tokens = utt.text.split()
        words_per_s = self.server.words_per_s
        if final:
            n = len(tokens)
            span = max(now - start, 1e-3)
            step = span / max(n, 1)
        else:
            n = max(
                1, min(len(tokens) - 1 if len(tokens) > 1 else 1, int((now - start) * words_per_s))
            )
            step = 1.0 / words_per_s
        items: list[dict] = []
        shown: list[str] = []
        for i, token in enumerate(tokens[:n]):
            word = token.rstrip(".,?!")
            punct = token[len(word) :]
            w_start = round(start + i * step, 3)
            w_end = round(min(start + (i + 1) * step, now), 3)
            item: dict = {
                "StartTime": w_start,
                "EndTime": w_end,
                "Type": "pronunciation",
                "Content": word,
                "VocabularyFilterMatch": False,
            }
            if final:
                item["Confidence"] = 0.93
            if self.speaker:
                item["Speaker"] = "0"
            items.append(item)
            if punct and (final or i < n - 1):
                items.append(
                    {
                        "StartTime": w_end,
                        "EndTime": w_end,
                        "Type": "punctuation",
                        "Content": punct,
                        "VocabularyFilterMatch": False,
                    }
                )
                shown.append(word + punct)
            else:
                shown.append(word)
        if self.stabilize:
            pron = [it for it in items if it["Type"] == "pronunciation"]
            unstable_from = len(pron) if final else max(0, len(pron) - self.server.unstable_tail)
            k = 0
            for it in items:
                if it["Type"] == "pronunciation":
                    it["Stable"] = k < unstable_from
                    k += 1
                else:
                    it["Stable"] = k <= unstable_from
        result: dict = {
            "ResultId": self.result_id,
            "StartTime": round(start, 3),
            "EndTime": round(now, 3),
            "IsPartial": not final,
            "Alternatives": [{"Transcript": " ".join(shown), "Items": items}],
            "ChannelId": None,
        }
        if self.identify:
            code = utt.language_code if utt.language_code in self.options else self.options[0]
            result["LanguageCode"] = code
            result["LanguageIdentification"] = [{"LanguageCode": code, "Score": 0.9}]
        return result


class _Stream:
    """One HTTP/2 request stream being served."""

    def __init__(self, stream_id: int, record: StreamRecord, fault: Fault | None) -> None:
        self.stream_id = stream_id
        self.record = record
        self.fault = fault
        self.buffer = EventStreamBuffer()
        self.decoder: _Decoder | None = None
        self.last_audio = time.monotonic()
        self.started = self.last_audio  # when the request was answered (monotonic s)
        self.open = True
        self.answered = False


class FakeTranscribeServer:
    """Fake Transcribe streaming on ``https://127.0.0.1:<port>`` (HTTP/2 + TLS, ALPN h2).

    vocabulary: what tones mean (see :class:`Utterance`).
    faults: request index (0 = first request the server receives) -> :class:`Fault`.
    partial_interval_s: voiced audio (s) between partial results (default 0.2).
    words_per_s: how fast partials reveal words (default 4).
    endpoint_silence_s: silence (s) that ends an utterance (default 0.3).
    silence_timeout_s: wall-clock seconds without an audio event after which the stream is
        ended with BadRequestException, like the service's 15 s rule (default 15).
    max_stream_s: audio (s) one stream may carry, and how long (wall-clock s) it may stay
        open; past either the stream is ended with BadRequestException, like the service's
        4-hour limit (default 14400).
    unstable_tail: pronunciation items left unstable in stabilised partials (default 1).
    response_delay_s: wait before answering each request (default 0).
    """

    def __init__(
        self,
        cert: SelfSignedCert,
        *,
        vocabulary: list[Utterance],
        faults: dict[int, Fault] | None = None,
        partial_interval_s: float = 0.2,
        words_per_s: float = 4.0,
        endpoint_silence_s: float = 0.3,
        silence_timeout_s: float = 15.0,
        max_stream_s: float = 4 * 3600.0,
        unstable_tail: int = 1,
        rms_threshold: float = 0.02,
        response_delay_s: float = 0.0,
    ) -> None:
        self.cert = cert
        self.vocabulary = list(vocabulary)
        self.faults = dict(faults or {})
        self.partial_interval_s = partial_interval_s
        self.words_per_s = words_per_s
        self.endpoint_silence_s = endpoint_silence_s
        self.silence_timeout_s = silence_timeout_s
        self.max_stream_s = max_stream_s
        self.unstable_tail = unstable_tail
        self.rms_threshold = rms_threshold
        self.response_delay_s = response_delay_s
        self.streams: list[StreamRecord] = []
        self.connections = 0
        self.port = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # lifecycle -----------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeTranscribeServer:
        self._thread = threading.Thread(target=self._run, name="fake-transcribe", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake transcribe server did not start")
        if self._error is not None:
            raise RuntimeError("fake transcribe server failed to start") from self._error
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server, drop every connection and join the thread."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
            if self._thread.is_alive():  # pragma: no cover - diagnostic
                raise RuntimeError("fake transcribe server thread did not stop")
            self._thread = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # pragma: no cover - surfaced by __enter__
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, ssl=self.cert.server_context(alpn=("h2",))
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        tasks: set[asyncio.Task] = set()
        self._tasks = tasks
        try:
            await self._stop.wait()
        finally:
            server.close()
            for w in list(self._writers):
                w.transport.abort()
            # Aborted transports end the handlers by themselves (cancelling a stream
            # handler task makes asyncio log a spurious error on Python 3.11).
            if tasks:
                _, pending = await asyncio.wait(list(tasks), timeout=5)
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            await server.wait_closed()

    # one connection --------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        streams: dict[int, _Stream] = {}
        watchdog = asyncio.create_task(self._watchdog(conn, writer, streams))
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                try:
                    events = conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    break
                for event in events:
                    if await self._on_event(conn, writer, streams, event):
                        return  # connection dropped on purpose
                writer.write(conn.data_to_send())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            for s in streams.values():
                s.record.closed = True
            self._writers.discard(writer)
            writer.transport.abort()
            self._tasks.discard(task)

    async def _on_event(self, conn, writer, streams: dict[int, _Stream], event) -> bool:
        if isinstance(event, h2.events.RequestReceived):
            headers = {k: v for k, v in event.headers}
            with self._lock:
                index = len(self.streams)
                record = StreamRecord(
                    index,
                    {k: v for k, v in headers.items() if k.lower() not in _SECRET_HEADERS},
                )
                self.streams.append(record)
            fault = self.faults.get(index)
            stream = _Stream(event.stream_id, record, fault)
            streams[event.stream_id] = stream
            if fault is not None and fault.kind == "never_answer":
                record.fault = "never_answer"
                return False
            if self.response_delay_s:
                await asyncio.sleep(self.response_delay_s)
            self._answer(conn, stream, headers)
        elif isinstance(event, h2.events.DataReceived):
            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = streams.get(event.stream_id)
            if stream is None or not stream.answered or not stream.open:
                return False
            stream.buffer.add_data(event.data)
            for message in stream.buffer:
                if self._on_message(conn, stream, message.payload):
                    writer.write(conn.data_to_send())
                    writer.transport.abort()
                    return True
        elif isinstance(event, h2.events.StreamEnded):
            stream = streams.get(event.stream_id)
            if stream is not None and stream.open and stream.answered:
                stream.record.ended_by_client = True
                self._finish(conn, stream)
        elif isinstance(event, h2.events.StreamReset):
            stream = streams.get(event.stream_id)
            if stream is not None:
                stream.open = False
        return False

    def _answer(self, conn, stream: _Stream, headers: dict[str, str]) -> None:
        record = stream.record
        error = self._validate(headers)
        if stream.fault is not None and stream.fault.kind == "bad_request":
            record.fault = "bad_request"
            error = stream.fault.message or "A fake BadRequestException was injected."
        if error is not None:
            record.status = 400
            body = json.dumps({"Message": error}).encode()
            conn.send_headers(
                stream.stream_id,
                [
                    (":status", "400"),
                    ("x-amzn-errortype", "BadRequestException:http://internal.amazon.com/coral/"),
                    ("content-type", "application/x-amz-json-1.1"),
                    ("content-length", str(len(body))),
                ],
            )
            conn.send_data(stream.stream_id, body, end_stream=True)
            stream.open = False
            return
        record.status = 200
        record.sample_rate = int(headers["x-amzn-transcribe-sample-rate"])
        identify = (
            headers.get("x-amzn-transcribe-identify-language") == "True"
            or headers.get("x-amzn-transcribe-identify-multiple-languages") == "True"
        )
        options = [o for o in headers.get("x-amzn-transcribe-language-options", "").split(",") if o]
        stream.decoder = _Decoder(
            self,
            record,
            identify,
            options,
            headers.get("x-amzn-transcribe-enable-partial-results-stabilization") == "True",
            headers.get("x-amzn-transcribe-show-speaker-label") == "True",
        )
        response = [
            (":status", "200"),
            ("content-type", "application/vnd.amazon.eventstream"),
            ("x-amzn-request-id", str(uuid.uuid4())),
            (
                "x-amzn-transcribe-session-id",
                headers.get("x-amzn-transcribe-session-id", str(uuid.uuid4())),
            ),
            ("x-amzn-transcribe-sample-rate", str(record.sample_rate)),
            (
                "x-amzn-transcribe-media-encoding",
                headers.get("x-amzn-transcribe-media-encoding", "pcm"),
            ),
        ]
        for name in (
            "language-code",
            "enable-partial-results-stabilization",
            "partial-results-stability",
            "vocabulary-name",
            "show-speaker-label",
        ):
            key = f"x-amzn-transcribe-{name}"
            if key in headers:
                response.append((key, headers[key]))
        conn.send_headers(stream.stream_id, response)
        stream.answered = True
        stream.last_audio = stream.started = time.monotonic()

    @staticmethod
    def _validate(headers: dict[str, str]) -> str | None:
        rate = headers.get("x-amzn-transcribe-sample-rate", "")
        if not rate.isdigit() or not 8000 <= int(rate) <= 48000:
            return "The sample rate must be between 8000 and 48000 Hz."
        if headers.get("x-amzn-transcribe-media-encoding") not in ("pcm", "ogg-opus", "flac"):
            return "Unsupported media encoding."
        identify = (
            headers.get("x-amzn-transcribe-identify-language") == "True"
            or headers.get("x-amzn-transcribe-identify-multiple-languages") == "True"
        )
        if identify:
            options = headers.get("x-amzn-transcribe-language-options", "").split(",")
            if len([o for o in options if o]) < 2:
                return "You must provide at least two language options."
            if "x-amzn-transcribe-language-code" in headers:
                return "You can't set both LanguageCode and IdentifyLanguage."
        elif "x-amzn-transcribe-language-code" not in headers:
            return "LanguageCode or IdentifyLanguage is required."
        return None

    def _on_message(self, conn, stream: _Stream, payload: bytes) -> bool:
        """Handle one signed envelope; True when the connection must be dropped."""
        record = stream.record
        if not payload:  # the signed empty frame that ends the input
            return False
        inner_buffer = EventStreamBuffer()
        inner_buffer.add_data(payload)
        inner = next(inner_buffer)
        if inner.headers.get(":event-type") != "AudioEvent":
            return False
        pcm = inner.payload
        stream.last_audio = time.monotonic()
        record.chunk_sizes.append(len(pcm))
        record.n_samples += len(pcm) // 2
        if not stream.open:  # ended by an exception earlier in this batch of data
            return False
        if record.audio_s > self.max_stream_s:
            record.over_limit = True
            self._send_exception(
                conn,
                stream,
                "BadRequestException",
                f"Your stream exceeded the maximum duration of {self.max_stream_s:g} seconds.",
            )
            return False
        assert stream.decoder is not None
        for result in stream.decoder.feed(pcm):
            self._send_result(conn, stream, result)
        fault = stream.fault
        if fault is not None and record.fault is None and record.audio_s >= fault.at_audio_s:
            if fault.kind == "drop":
                record.fault = "drop"
                return True
            if fault.kind in _EXCEPTION_TYPES:
                record.fault = fault.kind
                self._send_exception(
                    conn,
                    stream,
                    _EXCEPTION_TYPES[fault.kind],
                    fault.message or f"injected {fault.kind}",
                )
        return False

    def _send_result(self, conn, stream: _Stream, result: dict) -> None:
        if not stream.open:
            return
        stream.record.results.append(result)
        payload = json.dumps({"Transcript": {"Results": [result]}}).encode()
        frame = EventStreamMessageSerializer().serialize(
            {
                ":message-type": "event",
                ":event-type": "TranscriptEvent",
                ":content-type": "application/json",
            },
            payload,
        )
        conn.send_data(stream.stream_id, frame)

    def _send_exception(self, conn, stream: _Stream, exception_type: str, message: str) -> None:
        frame = EventStreamMessageSerializer().serialize(
            {
                ":message-type": "exception",
                ":exception-type": exception_type,
                ":content-type": "application/json",
            },
            json.dumps({"Message": message}).encode(),
        )
        conn.send_data(stream.stream_id, frame, end_stream=True)
        with contextlib.suppress(h2.exceptions.ProtocolError):
            conn.reset_stream(stream.stream_id, error_code=0)
        stream.open = False

    def _finish(self, conn, stream: _Stream) -> None:
        assert stream.decoder is not None
        for result in stream.decoder.finish():
            self._send_result(conn, stream, result)
        conn.send_data(stream.stream_id, b"", end_stream=True)
        stream.open = False

    async def _watchdog(
        self, conn, writer: asyncio.StreamWriter, streams: dict[int, _Stream]
    ) -> None:
        """End streams that received no audio for ``silence_timeout_s`` (the 15 s rule) and
        streams open for longer than ``max_stream_s`` (wall clock; the 4-hour rule)."""
        while True:
            await asyncio.sleep(min(0.05, self.silence_timeout_s / 4))
            now = time.monotonic()
            fired = False
            for stream in streams.values():
                if (
                    stream.open
                    and stream.answered
                    and now - stream.last_audio > self.silence_timeout_s
                ):
                    stream.record.timed_out = True
                    self._send_exception(
                        conn,
                        stream,
                        "BadRequestException",
                        "Your request timed out because no new audio was received for "
                        f"{self.silence_timeout_s:g} seconds.",
                    )
                    fired = True
                elif stream.open and stream.answered and now - stream.started > self.max_stream_s:
                    stream.record.over_limit = True
                    self._send_exception(
                        conn,
                        stream,
                        "BadRequestException",
                        "Your stream exceeded the maximum duration of "
                        f"{self.max_stream_s:g} seconds.",
                    )
                    fired = True
            if fired:
                with contextlib.suppress(ConnectionError, OSError):
                    writer.write(conn.data_to_send())
