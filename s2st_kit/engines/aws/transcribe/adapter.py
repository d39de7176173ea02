"""The ``amazon-transcribe`` SDK behind the :class:`~.backend.StreamingBackend` seam.

This is the only module that imports ``amazon_transcribe`` / ``awscrt``, and the only place
in s2st_kit that touches their private attributes. Each private access is one small
function below, with the pinned versions it was written against and why the public API
does not suffice. Pins: ``amazon-transcribe==0.6.4`` (pyproject ``[aws]`` extra), which
requires ``awscrt~=0.26.1``. The SDK is deprecated upstream; its successor
``aws-sdk-transcribe-streaming`` needs Python >= 3.12.

SDK and transport errors are mapped through :data:`TRANSCRIBE_EXC_MAP` (exception class
-> s2st_kit error); :class:`~.backend.TransientStreamError` means "reconnect and re-send".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

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

__all__ = ["TRANSCRIBE_EXC_MAP", "AmazonTranscribeBackend", "map_sdk_error"]

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

    PRIVATE: amazon-transcribe==0.6.4 ``AudioStream._input_stream`` (the
    ``BufferableByteStream`` awscrt reads the request body from). Why: the SDK has no way
    to abandon a request; closed, the body reads as ended, so the CRT event-loop thread
    stops polling it (it polls an open, empty body in a tight loop).
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
    ) -> None:
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
        if self.ca_bundle:
            import awscrt.io

            if self._tls_ctx is None:
                options = awscrt.io.TlsContextOptions()
                options.override_default_trust_store_from_path(ca_filepath=self.ca_bundle)
                self._tls_ctx = awscrt.io.ClientTlsContext(options)
            set_tls_context(client, self._tls_ctx, sdk.__version__)
        return client

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
