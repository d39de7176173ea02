"""The ``amazon-transcribe`` SDK behind the :class:`~.backend.StreamingBackend` seam.

This is the only module that imports ``amazon_transcribe`` / ``awscrt``, and the only place
in s2st_kit that touches their private attributes. Each private access is one small
function below, with the pinned versions it was written against and why the public API
does not suffice. Pins: ``amazon-transcribe==0.6.4`` (pyproject ``[aws]`` extra), which
requires ``awscrt~=0.26.1``. The SDK is deprecated upstream; its successor
``aws-sdk-transcribe-streaming`` needs Python >= 3.12.

CPU: the SDK's request body (``BufferableByteStream``) raises ``BlockingIOError`` when it
has no audio; awscrt reports "no data yet" to aws-c-http, whose HTTP/2 connection
reschedules its outgoing-frames task at once and reads again: the CRT event-loop thread
spins, one core at 100 % for as long as a stream is open (upstream issues #25, #84, #109,
#121 of awslabs/amazon-transcribe-streaming-sdk). The fix here is :class:`WaitingBodyStream`,
put in place of the SDK's body by :func:`use_body_stream`: a read with no audio waits for
at most ``wait_s`` (default :data:`BODY_WAIT_S`, 25 ms) before saying "no data yet", and a
write to any body that CRT thread reads wakes it at once. The CRT thread then reads at most
~40 times a second instead of spinning, and audio is read as soon as it is written.
Measured by ``python -m benchmarks --only aws_cpu`` (loopback fake, real time, CPU of the
client process): see the figures in the README's AWS section.

Why not awscrt's manual HTTP/2 writes (``aws_http2_stream_write_data``, which parks an idle
stream without polling): the aws-c-http inside awscrt 0.26.1 has them, but its Python
binding exposes neither ``manual_write`` nor ``write_data`` (no ``Http2ClientStream``;
``_awscrt`` has only ``http_client_stream_new`` / ``_activate``), and the SDK pins
``awscrt~=0.26.1``, so a later awscrt that exposes them is not an option with this SDK.
Cost of the wait: while a read waits, its CRT thread does nothing else, so frames arriving
on that thread's connections (results) may wait up to ``wait_s``; audio never does.

SDK and transport errors are mapped through :data:`TRANSCRIBE_EXC_MAP` (exception class
-> s2st_kit error); :class:`~.backend.TransientStreamError` means "reconnect and re-send".
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ....errors import (
    ConfigError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    S2STError,
    StreamClosedError,
)
from ..errors import redact, require_transcribe
from ..session import credential_source, make_session, resolve_region
from .backend import RawItem, RawResult, StreamingHandle, TransientStreamError
from .settings import TranscribeSettings

__all__ = [
    "BODY_WAIT_S",
    "TRANSCRIBE_EXC_MAP",
    "AmazonTranscribeBackend",
    "WaitingBodyStream",
    "map_sdk_error",
]

ENGINE = "aws-transcribe"


# --------------------------------------------------------------------------------------------
# private SDK / awscrt internals: every access is here
# --------------------------------------------------------------------------------------------
def crt_stream_failed(stream: Any) -> bool:
    """True when the HTTP/2 stream under an SDK response ended with a transport error.

    PRIVATE: amazon-transcribe==0.6.4 ``EventStream._raw_stream`` (an
    ``AwsCrtHttpResponse``) and its ``_stream`` (awscrt~=0.26.1 ``HttpClientStream``, whose
    ``completion_future`` is public). Why: when the connection drops, the SDK's output
    event stream just ends, exactly like a normal end; only the CRT stream's completion
    future tells the two apart.
    """
    raw = getattr(stream.output_stream, "_raw_stream", None)
    crt_stream = getattr(raw, "_stream", None)
    future = getattr(crt_stream, "completion_future", None)
    if future is None or not future.done():
        return False
    return future.exception() is not None


def close_input_body(stream: Any) -> None:
    """Close the request body of an SDK stream (no more audio, ever).

    PRIVATE: amazon-transcribe==0.6.4 ``AudioStream._input_stream`` (the request body
    awscrt reads: our :class:`WaitingBodyStream`, see :func:`use_body_stream`). Why: the
    SDK has no way to abandon a request; closed, the body reads as ended, so the CRT
    event-loop thread stops reading it.
    """
    with contextlib.suppress(Exception):
        stream.input_stream._input_stream.close()


def close_connections(client: Any) -> None:
    """Close the SDK client's cached HTTP/2 connections.

    PRIVATE: amazon-transcribe==0.6.4 ``TranscribeStreamingClient._session_manager``
    (``AwsCrtHttpSessionManager``) and its ``_connections`` dict of awscrt~=0.26.1
    ``HttpClientConnection``. Why: the client has no ``close()``; without this every
    stream's connection stays open until garbage collection.
    """
    manager = getattr(client, "_session_manager", None)
    connections = getattr(manager, "_connections", None)
    if not isinstance(connections, dict):
        return
    for connection in list(connections.values()):
        with contextlib.suppress(Exception):
            connection.close()
    connections.clear()


def set_tls_context(client: Any, tls_context: Any, sdk_version: str) -> None:
    """Make the SDK client trust the CAs of ``tls_context`` (an awscrt ClientTlsContext).

    PRIVATE: amazon-transcribe==0.6.4 ``AwsCrtHttpSessionManager._tls_ctx``. Why: the SDK
    takes no TLS options, and awscrt~=0.26.1 ignores ``SSL_CERT_FILE``; a private CA
    (a corporate proxy, the test fakes) can only be trusted by replacing this context.
    """
    manager = getattr(client, "_session_manager", None)
    if manager is None or not hasattr(manager, "_tls_ctx"):
        raise ConfigError(
            f"ca_bundle is not supported with this amazon-transcribe version ({sdk_version}); "
            "pin amazon-transcribe==0.6.4"
        )
    manager._tls_ctx = tls_context


def use_body_stream(client: Any, make_body: Callable[[], io.BufferedIOBase]) -> None:
    """Make every request of ``client`` send ``make_body()`` as its HTTP/2 request body.

    PRIVATE: amazon-transcribe==0.6.4 ``TranscribeStreamingClient._serializer``, whose
    ``serialize_start_stream_transcription_request`` builds the ``Request`` with
    ``body=BufferableByteStream()``; the client then signs it (the body is not read:
    the signature uses an empty-payload hash), hands it to awscrt as the request body and
    wraps the same object in the ``AudioStream`` that ``send_audio_event`` /
    ``end_stream`` write to. Why: that serializer call is the only place the body is
    chosen, and the SDK's body makes the CRT thread spin (see the module docstring).
    """
    serializer = client._serializer
    build = serializer.serialize_start_stream_transcription_request

    def build_with_our_body(*args: Any, **kwargs: Any) -> Any:
        request = build(*args, **kwargs)
        request.body = make_body()
        return request

    serializer.serialize_start_stream_transcription_request = build_with_our_body


#: Longest wait (s) of one body read with no audio: the bound on the CRT thread's idle
#: polling (at most 1 / BODY_WAIT_S reads a second per CRT thread, however many streams it
#: serves) and on the delay it adds to that thread's other work (incoming frames).
#: 25 ms: measured (``python -m benchmarks --only aws_cpu``) one idle-polling CRT thread
#: costs ~0.6 s of CPU per 20 s at 10 ms and ~0.25 s at 25 ms (a stream 4.3 % → 2.3 % of a
#: core in all); audio never waits for it (a write wakes the reader at once: send delay p95
#: ≈ 1 ms), and a result frame waits at most 25 ms, against Transcribe's ~1 s to a final.
BODY_WAIT_S = 0.025


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


class WaitingBodyStream(io.BufferedIOBase):
    """The HTTP/2 request body of one stream: written on the event loop, read by awscrt.

    Same contract as the SDK's ``BufferableByteStream`` (``write`` / ``end_stream`` /
    ``close``; a read returns bytes, raises ``BlockingIOError`` for "no data yet", returns
    nothing at the end), except that a read with no data first waits up to ``wait_s``
    (s, default :data:`BODY_WAIT_S`) for a wake-up that ``write`` / ``end_stream`` /
    ``close`` give.

    The wake-up belongs to the CRT event-loop *thread* that reads the body, not to the body:
    one thread serves every stream of its connections in turn, so while it waits in stream
    A's read, audio written to stream B wakes it too (A's read says "no data yet" at once
    and the thread goes on to B's). Audio is therefore never held back by the wait; only the
    thread's other work (incoming frames) can be, by at most ``wait_s``. The wake-up is a
    bare ``threading.Lock`` released by writers and acquired with a timeout by the reader
    (about half the CPU of a ``Condition`` wait, which allocates a lock per wait); keyed by
    thread id because awscrt's threads get a fresh Python thread state for every call, so
    ``threading.local`` would not persist. The buffer has its own lock, only ever held for
    a few list operations, so ``write`` on the event loop never waits for the reader.

    ``on_read``: called on the CRT thread with the seconds between the ``write`` of a
    chunk and the read that took its last byte (the send delay added).
    ``reads``: how many reads have been made (a spinning reader shows here).
    """

    #: CRT thread id -> its wake-up (held: nothing new; released: a writer has news).
    _thread_wakes: ClassVar[dict[int, threading.Lock]] = {}
    _thread_wakes_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, *, wait_s: float = BODY_WAIT_S, on_read: Callable[[float], None] | None = None
    ) -> None:
        super().__init__()
        self.wait_s = wait_s
        self.reads = 0
        self._on_read = on_read
        self._chunks: collections.deque[tuple[memoryview, float]] = collections.deque()
        self._ended = False
        self._shut = False
        self._lock = threading.Lock()  # guards the three above
        self._wake: threading.Lock | None = None  # the wake-up of the thread reading us

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._shut

    def write(self, b: Any) -> int:
        """Append ``b`` (bytes) to the body and wake a waiting reader; returns its length."""
        if not isinstance(b, bytes):
            raise ValueError(f"only bytes can be written to the request body, not {type(b)}")
        with self._lock:
            if self._ended:
                raise OSError("the request body has ended and takes no more writes")
            if b:
                self._chunks.append((memoryview(b), time.monotonic()))
        self._notify()
        return len(b)

    def end_stream(self) -> None:
        """No more writes: once the buffered bytes are read, reads return end-of-body."""
        with self._lock:
            self._ended = True
        self._notify()

    def close(self) -> None:
        """Abandon the body: buffered bytes are dropped and reads return end-of-body."""
        with self._lock:
            self._shut = self._ended = True
            self._chunks.clear()
        self._notify()

    def _notify(self) -> None:
        wake = self._wake
        if wake is not None:
            with contextlib.suppress(RuntimeError):  # already released: a wake-up is pending
                wake.release()

    @classmethod
    def _wake_of_this_thread(cls) -> threading.Lock:
        ident = threading.get_ident()
        wake = cls._thread_wakes.get(ident)
        if wake is None:
            with cls._thread_wakes_lock:
                wake = cls._thread_wakes.setdefault(ident, _held_lock())
        return wake

    def readinto1(self, buffer: Any) -> int:
        """Copy up to ``len(buffer)`` buffered bytes into ``buffer`` (awscrt's read).

        Waits up to ``wait_s`` when nothing is buffered; raises ``BlockingIOError`` if still
        nothing came, returns 0 at the end of the body.
        """
        out = memoryview(buffer).cast("B")
        self._wait_for_data()
        with self._lock:
            return self._copy_into(out)

    def readinto(self, buffer: Any) -> int:
        return self.readinto1(buffer)

    def read1(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (everything buffered if negative / None), waiting like
        :meth:`readinto1`; ``b""`` at the end of the body."""
        self._wait_for_data()
        with self._lock:
            buffered = sum(len(chunk) for chunk, _ in self._chunks)
            out = bytearray(buffered if size is None or size < 0 else min(size, buffered))
            return bytes(out[: self._copy_into(memoryview(out))])

    def read(self, size: int | None = -1) -> bytes:
        return self.read1(size)

    def _wait_for_data(self) -> None:
        """Return when bytes are buffered or the body has ended; raise ``BlockingIOError``
        when ``wait_s`` passed with neither."""
        self.reads += 1
        wake = self._wake = self._wake_of_this_thread()  # before the check: no lost wake-up
        with self._lock:
            if self._chunks or self._ended:
                return
        wake.acquire(timeout=self.wait_s)  # returns at once if a wake-up is pending
        with self._lock:
            if self._chunks or self._ended:
                return
        raise BlockingIOError("no audio buffered yet")

    def _copy_into(self, out: memoryview) -> int:
        n = 0
        while self._chunks and n < len(out):
            chunk, written_at = self._chunks[0]
            take = min(len(chunk), len(out) - n)
            out[n : n + take] = chunk[:take]
            n += take
            if take < len(chunk):
                self._chunks[0] = (chunk[take:], written_at)
            else:
                self._chunks.popleft()
                if self._on_read is not None:
                    self._on_read(time.monotonic() - written_at)
        return n


# --------------------------------------------------------------------------------------------
# errors: one table from SDK exception class to s2st_kit error
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SdkFailure:
    """What the table's handlers see of an SDK exception (message already redacted)."""

    name: str
    message: str
    started: bool  # the stream was running (False: it failed to start)
    status: int = 0
    code: str = ""


def _bad_request(f: SdkFailure) -> S2STError:
    if f.started and "timed out" in f.message.lower():
        return TransientStreamError(f"stream ended for lack of audio: {f.message}")
    if f.started:
        return StreamClosedError(
            f"{ENGINE}: the service ended the stream: {f.message}", engine=ENGINE
        )
    return ConfigError(
        f"{ENGINE}: the service rejected the stream settings (BadRequest: {f.message}). Check "
        "language_code / language_options, sample rate, vocabulary and filter names and the "
        "region."
    )


def _persisting(f: SdkFailure) -> S2STError:
    return TransientStreamError(
        f"{f.name}: {f.message}",
        final=EngineUnavailableError(
            f"{ENGINE}: {f.name} persisted after reconnecting ({f.message}); try again later "
            "or check your Transcribe quotas",
            engine=ENGINE,
        ),
    )


def _unknown_service(f: SdkFailure) -> S2STError:
    if f.status == 403 or "AccessDenied" in f.code:
        return ConfigError(
            f"{ENGINE}: access denied ({f.code}: {f.message}). Grant the IAM permission "
            "'transcribe:StartStreamTranscription' to this identity; see "
            "s2st_kit.engines.aws.doctor.iam_policy_json()"
        )
    if f.status == 401 or f.code in ("UnrecognizedClientException", "InvalidSignatureException"):
        return ConfigError(
            f"{ENGINE}: the AWS credentials were rejected ({f.code}); refresh them and check "
            "the system clock"
        )
    if f.status >= 500 or f.status == 429:
        return TransientStreamError(f"{f.code} ({f.status}): {f.message}")
    return EngineError(f"{ENGINE}: {f.code} ({f.status}): {f.message}", engine=ENGINE)


def _connection_problem(f: SdkFailure) -> S2STError:
    return TransientStreamError(
        f"connection problem ({f.name}: {f.message})",
        final=EngineUnavailableError(
            f"{ENGINE}: cannot keep a connection to Transcribe ({f.name}); check the network, "
            "region and endpoint_url",
            engine=ENGINE,
        ),
    )


#: ``amazon_transcribe.exceptions`` class name -> handler; the most specific class of the
#: exception's MRO that is listed wins (a ServiceException not listed falls to SDKError).
TRANSCRIBE_EXC_MAP: dict[str, Callable[[SdkFailure], S2STError]] = {
    "BadRequestException": _bad_request,
    "LimitExceededException": _persisting,
    "ServiceUnavailableException": _persisting,
    "InternalFailureException": _persisting,
    "ConflictException": lambda f: StreamClosedError(
        f"{ENGINE}: another stream took over this session id ({f.message})", engine=ENGINE
    ),
    "CredentialsException": lambda f: ConfigError(
        f"{ENGINE}: no usable AWS credentials; set AWS_PROFILE / profile=, run "
        "'aws configure' or 'aws sso login'"
    ),
    "UnknownServiceException": _unknown_service,
    "SDKError": lambda f: TransientStreamError(f"{f.name}: {f.message}"),
}


def map_sdk_error(exc: BaseException, *, started: bool) -> S2STError:
    """Map an SDK / awscrt exception; TransientStreamError means "reconnect"."""
    if isinstance(exc, S2STError):
        return exc
    failure = SdkFailure(
        name=type(exc).__name__,
        message=redact(str(getattr(exc, "message", "") or exc)),
        started=started,
        status=int(getattr(exc, "status_code", 0) or 0),
        code=str(getattr(exc, "error_code", "") or ""),
    )
    for cls in type(exc).__mro__:
        if cls.__module__.startswith("amazon_transcribe") and cls.__name__ in TRANSCRIBE_EXC_MAP:
            return TRANSCRIBE_EXC_MAP[cls.__name__](failure)
    # awscrt raises awscrt.exceptions.AwsCrtError for transport failures.
    if type(exc).__module__.startswith("awscrt") or isinstance(exc, OSError):
        return _connection_problem(failure)
    return EngineError(f"{ENGINE}: unexpected {failure.name}: {failure.message}", engine=ENGINE)


# --------------------------------------------------------------------------------------------
# one request
# --------------------------------------------------------------------------------------------
def _item_from_sdk(item: Any) -> RawItem:
    return RawItem(
        content=item.content or "",
        start_s=float(item.start_time or 0.0),
        end_s=float(item.end_time or 0.0),
        kind="punctuation" if item.item_type == "punctuation" else "pronunciation",
        stable=item.stable,
        confidence=item.confidence,
        speaker=item.speaker,
    )


def _result_from_sdk(result: Any) -> RawResult:
    alt = result.alternatives[0] if result.alternatives else None
    return RawResult(
        result_id=result.result_id or "",
        start_s=float(result.start_time or 0.0),
        end_s=float(result.end_time or 0.0),
        is_partial=bool(result.is_partial),
        transcript=(alt.transcript or "") if alt else "",
        items=tuple(_item_from_sdk(i) for i in (alt.items or ())) if alt else (),
        language_code=result.language_code,
    )


class _SdkHandle:
    """A StreamingHandle over ``amazon_transcribe``'s StartStreamTranscriptionEventStream."""

    def __init__(self, client: Any, stream: Any, *, send_timeout_s: float) -> None:
        self._client = client
        self._stream = stream
        self._send_timeout_s = send_timeout_s
        self._closed = False

    async def _with_deadline(self, what: str, action: Callable[[], Any]) -> None:
        try:
            async with asyncio.timeout(self._send_timeout_s):
                await action()
        except TimeoutError as exc:
            raise TransientStreamError(
                f"{what} took longer than {self._send_timeout_s} s",
                final=EngineTimeoutError(
                    f"{ENGINE}: {what} timed out; check the network", engine=ENGINE
                ),
            ) from exc
        except Exception as exc:
            raise map_sdk_error(exc, started=True) from exc

    async def send(self, pcm: bytes) -> None:
        audio = self._stream.input_stream
        await self._with_deadline("sending audio", lambda: audio.send_audio_event(audio_chunk=pcm))

    async def end(self) -> None:
        await self._with_deadline("ending the audio stream", self._stream.input_stream.end_stream)

    async def results(self) -> AsyncIterator[RawResult]:
        try:
            async for event in self._stream.output_stream:
                transcript = getattr(event, "transcript", None)
                for result in (transcript.results or ()) if transcript is not None else ():
                    yield _result_from_sdk(result)
        except S2STError:
            raise
        except Exception as exc:
            raise map_sdk_error(exc, started=True) from exc
        if crt_stream_failed(self._stream):
            raise TransientStreamError("the connection to Transcribe was lost")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        close_input_body(self._stream)
        close_connections(self._client)


# --------------------------------------------------------------------------------------------
# the backend
# --------------------------------------------------------------------------------------------
class AmazonTranscribeBackend:
    """Streaming requests through ``amazon-transcribe`` (``TranscribeStreamingClient``).

    region / profile: resolved through boto3's chain; credentials are handed to the SDK
    by a resolver backed by the botocore session (refreshable, never logged).
    endpoint_url: override (``StaticEndpointResolver``), e.g. a VPC endpoint or a fake.
    ca_bundle: PEM file of extra trusted CAs for TLS (default: ``AWS_CA_BUNDLE`` if set,
        else the system store) — awscrt ignores ``SSL_CERT_FILE``.
    connect_timeout_s / send_timeout_s: deadlines (s) for starting a stream (default 10) /
        one send (default 5).
    body_wait_s: longest wait (s) of one request-body read with no audio (default
        :data:`BODY_WAIT_S`, 25 ms): see :class:`WaitingBodyStream`.
    send_delay_probe: called on the CRT thread with each audio event's send delay (s, from
        handing it to the request body to awscrt reading it); for benchmarks.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        connect_timeout_s: float = 10.0,
        send_timeout_s: float = 5.0,
        body_wait_s: float = BODY_WAIT_S,
        send_delay_probe: Callable[[float], None] | None = None,
    ) -> None:
        if not 0.0 < body_wait_s <= 0.1:
            raise ConfigError(f"body_wait_s must be in (0, 0.1] s, got {body_wait_s!r}")
        self._sdk = require_transcribe()
        self._session = make_session(region=region, profile=profile)
        self.region = resolve_region(self._session, region)
        self.endpoint_url = endpoint_url
        bundle = ca_bundle if ca_bundle is not None else os.environ.get("AWS_CA_BUNDLE")
        self.ca_bundle = os.fspath(bundle) if bundle else None
        if self.ca_bundle and not os.path.isfile(self.ca_bundle):
            raise ConfigError(f"ca_bundle {self.ca_bundle!r} is not a file")
        self.connect_timeout_s = connect_timeout_s
        self.send_timeout_s = send_timeout_s
        self.body_wait_s = body_wait_s
        self._send_delay_probe = send_delay_probe
        self._tls_ctx: Any = None
        self._credentials = _BotocoreCredentialResolver(self._session, self._sdk)

    def __repr__(self) -> str:
        return (
            f"AmazonTranscribeBackend(region={self.region!r}, endpoint_url={self.endpoint_url!r})"
        )

    def credential_source(self) -> str | None:
        """Where the AWS chain found credentials (never the values)."""
        return credential_source(self._session)

    def _client(self) -> Any:
        sdk = self._sdk
        resolver = (
            sdk.endpoints.StaticEndpointResolver(self.endpoint_url) if self.endpoint_url else None
        )
        client = sdk.client.TranscribeStreamingClient(
            region=self.region, endpoint_resolver=resolver, credential_resolver=self._credentials
        )
        use_body_stream(client, self._new_body)
        if self.ca_bundle:
            import awscrt.io

            if self._tls_ctx is None:
                options = awscrt.io.TlsContextOptions()
                options.override_default_trust_store_from_path(ca_filepath=self.ca_bundle)
                self._tls_ctx = awscrt.io.ClientTlsContext(options)
            set_tls_context(client, self._tls_ctx, sdk.__version__)
        return client

    def _new_body(self) -> WaitingBodyStream:
        return WaitingBodyStream(wait_s=self.body_wait_s, on_read=self._send_delay_probe)

    async def open(self, settings: TranscribeSettings) -> StreamingHandle:
        """Start one request; a start that does not answer in time is a transient failure."""
        client = self._client()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                stream = await client.start_stream_transcription(**settings.sdk_kwargs())
        except TimeoutError as exc:
            close_connections(client)
            raise TransientStreamError(
                f"Transcribe did not answer within {self.connect_timeout_s} s",
                final=EngineTimeoutError(
                    f"{ENGINE}: the service did not answer within {self.connect_timeout_s} s; "
                    "check the network, region and endpoint_url (or raise connect_timeout_s)",
                    engine=ENGINE,
                ),
            ) from exc
        except BaseException as exc:
            close_connections(client)
            if isinstance(exc, Exception):
                raise map_sdk_error(exc, started=False) from exc
            raise
        return _SdkHandle(client, stream, send_timeout_s=self.send_timeout_s)

    def map_error(self, exc: BaseException, *, started: bool) -> S2STError:
        """:func:`map_sdk_error` (kept as a method for callers of the old backend)."""
        return map_sdk_error(exc, started=started)

    async def aclose(self) -> None:
        self._tls_ctx = None


class _BotocoreCredentialResolver:
    """amazon-transcribe CredentialResolver backed by a botocore session (refreshing)."""

    def __init__(self, session: Any, sdk: Any) -> None:
        self._session = session
        self._sdk = sdk
        self._cached: Any = None
        self._cached_at = 0.0

    def __repr__(self) -> str:
        return "<_BotocoreCredentialResolver>"

    def _resolve(self) -> Any:
        creds = self._session.get_credentials()
        if creds is None:
            raise ConfigError(
                f"{ENGINE}: no AWS credentials found. Set AWS_PROFILE (or profile=), run "
                "'aws configure' / 'aws sso login', or export AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY"
            )
        frozen = creds.get_frozen_credentials()
        return self._sdk.auth.Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    async def get_credentials(self) -> Any:
        # Cached for 60 s: the SDK asks for credentials to sign every audio event; botocore
        # refreshes temporary credentials itself before they expire.
        now = time.monotonic()
        if self._cached is None or now - self._cached_at > 60.0:
            self._cached = await asyncio.to_thread(self._resolve)
            self._cached_at = now
        return self._cached
