"""AWS errors mapped into :mod:`s2st_kit.errors`, and the throttling retry.

Mapping (applied at the boundary with ``raise ... from exc``; the tables are
:data:`BOTO_CODE_MAP`, by the service's error code, and :data:`BOTOCORE_EXC_MAP`, by
botocore exception class)::

    throttling (ThrottlingException, TooManyRequestsException,
                ServiceUnavailableException, ...)     retried, then ThrottledError
    UnsupportedLanguagePairException                  UnsupportedLanguageError
    DetectedLanguageLowConfidenceException            DetectedLanguageLowConfidenceError
    TextSizeLimitExceeded / TextLengthExceeded        TextTooLongError
    AccessDenied*                                     ConfigError naming the IAM permission
    UnrecognizedClient / InvalidSignature / expired   ConfigError (credentials)
    no credentials in the chain                       ConfigError
    ResourceNotFound / LexiconNotFound                ConfigError (terminology, lexicon)
    InvalidSsml / InvalidSampleRate / Engine- and
    LanguageNotSupported                              ConfigError / UnsupportedVoiceError
    connection refused / reset                        EngineUnavailableError
    connect / read timeout                            EngineTimeoutError
    InternalServer / ServiceFailure                   EngineUnavailableError
    anything else from the service                    EngineError

Throttling is retried through :func:`s2st_kit.retry.retry_call` (:class:`RetryPolicy` here
*is* :class:`s2st_kit.retry.RetryPolicy`), so inside a pipeline stage retry the engine draws
on the stage's attempts instead of multiplying them; a server's ``Retry-After`` header
becomes :attr:`~s2st_kit.errors.ThrottledError.retry_after_s` and lengthens the wait.

Messages carry the service's error code and message and say what to do; they never carry
credentials, request headers or signed URLs (:func:`redact` scrubs anything that looks
like one, as a second line of defence).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ...errors import (
    ConfigError,
    EngineError,
    EngineNotInstalledError,
    EngineTimeoutError,
    EngineUnavailableError,
    S2STError,
    ThrottledError,
    UnsupportedLanguageError,
    UnsupportedVoiceError,
)
from ...retry import RetryPolicy, retry_call

__all__ = [
    "BOTOCORE_EXC_MAP",
    "BOTO_CODE_MAP",
    "INSTALL_HINT",
    "THROTTLING_CODES",
    "DetectedLanguageLowConfidenceError",
    "RetryPolicy",
    "TextTooLongError",
    "call_with_retry",
    "map_boto_error",
    "redact",
    "require_boto3",
    "require_transcribe",
]

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 's2st_kit[aws]'"

#: Error codes that mean "slow down": retried with back-off, then ThrottledError.
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "RequestLimitExceeded",
        "SlowDown",
    }
)

_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "ExpiredToken",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)


class DetectedLanguageLowConfidenceError(EngineError):
    """Translate could not tell the source language (``source="auto"``); name it instead."""


class TextTooLongError(EngineError):
    """The service refused the text as too long even after splitting."""


_REDACTIONS = (
    (re.compile(r"(?i)(authorization\s*[:=]\s*)[^\s,'\"]+(?:[^\n'\"]*)"), r"\1<redacted>"),
    (re.compile(r"(?i)(signature=)[0-9a-f]+"), r"\1<redacted>"),
    (re.compile(r"(?i)(credential=)[^\s,'\"]+"), r"\1<redacted>"),
    (re.compile(r"(?i)(x-amz-security-token\s*[:=]\s*)[^\s,'\"&]+"), r"\1<redacted>"),
    (
        re.compile(r"(?i)(aws_secret_access_key|secret_access_key|session_token)(\s*[:=]\s*)\S+"),
        r"\1\2<redacted>",
    ),
)


def redact(text: str) -> str:
    """``text`` with Authorization headers, signatures, credential scopes and tokens removed."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def require_boto3() -> tuple[Any, Any]:
    """Import ``boto3`` and ``botocore`` (with its ``config``/``exceptions`` submodules)."""
    try:
        import boto3
        import botocore
        import botocore.config
        import botocore.exceptions
    except ImportError as exc:
        raise EngineNotInstalledError(
            f"the AWS engines need boto3 ({exc}); to install: {INSTALL_HINT}"
        ) from exc
    return boto3, botocore


def require_transcribe() -> Any:
    """Import the ``amazon_transcribe`` package (streaming SDK, with awscrt)."""
    try:
        import amazon_transcribe
        import amazon_transcribe.auth
        import amazon_transcribe.client
        import amazon_transcribe.endpoints
        import amazon_transcribe.exceptions
        import awscrt.io  # noqa: F401  (the TLS context for ca_bundle)
    except ImportError as exc:
        raise EngineNotInstalledError(
            f"AWS Transcribe streaming needs amazon-transcribe ({exc}); to install: {INSTALL_HINT}"
        ) from exc
    return amazon_transcribe


#: An s2st_kit error class and its message template. Template fields: ``engine``,
#: ``operation``, ``permission``, ``more`` (extra permissions sentence), ``code``, ``said``
#: (code and message), ``name`` (exception class) and ``detail`` (the redacted exception text).
ErrorSpec = tuple[type[S2STError], str]

_THROTTLED: ErrorSpec = (
    ThrottledError,
    "{engine}: {operation} is being throttled ({said}); slow down, reduce max_inflight, or "
    "ask AWS for a higher quota.",
)
_ACCESS_DENIED: ErrorSpec = (
    ConfigError,
    "{engine}: access denied for {operation} ({said}). Grant the IAM permission "
    "'{permission}' to this identity.{more} See "
    "s2st_kit.engines.aws.doctor.iam_policy_json() for a least-privilege policy.",
)
_CREDENTIALS_REJECTED: ErrorSpec = (
    ConfigError,
    "{engine}: the AWS credentials were rejected ({code}); they may be wrong, expired or for "
    "another partition. Refresh them ('aws sso login', new keys) and check the system clock.",
)
_TOO_LONG: ErrorSpec = (
    TextTooLongError,
    "{engine}: {said}. The text was too long for one request even after splitting.",
)
_NOT_FOUND: ErrorSpec = (
    ConfigError,
    "{engine}: {said}. Check the names of terminologies / lexicons and the region.",
)
_VOICE: ErrorSpec = (UnsupportedVoiceError, "{engine}: {said}. Choose a voice that supports it.")
_REJECTED: ErrorSpec = (ConfigError, "{engine}: the service rejected the request: {said}.")
_SERVICE_FAILED: ErrorSpec = (
    EngineUnavailableError,
    "{engine}: the service failed ({said}); try again later.",
)
_CALL_FAILED: ErrorSpec = (EngineError, "{engine}: {operation} failed: {said}")
_UNREACHABLE: ErrorSpec = (
    EngineUnavailableError,
    "{engine}: cannot reach the service for {operation} ({name}); check the network, the "
    "region and endpoint_url.",
)
_TIMED_OUT: ErrorSpec = (
    EngineTimeoutError,
    "{engine}: {operation} timed out ({name}); check the network or raise the timeout options.",
)
_NO_CREDENTIALS: ErrorSpec = (
    ConfigError,
    "{engine}: no AWS credentials found. Set AWS_PROFILE (or the profile= option), run "
    "'aws configure' / 'aws sso login', or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
)

#: Service error code (``ClientError.response["Error"]["Code"]``) -> s2st_kit error.
BOTO_CODE_MAP: dict[str, ErrorSpec] = {
    **dict.fromkeys(THROTTLING_CODES, _THROTTLED),
    **dict.fromkeys(_CREDENTIAL_CODES, _CREDENTIALS_REJECTED),
    "UnsupportedLanguagePairException": (
        UnsupportedLanguageError,
        "{engine}: {said}. Choose a language pair the service supports (see pairs()).",
    ),
    "DetectedLanguageLowConfidenceException": (
        DetectedLanguageLowConfidenceError,
        "{engine}: the source language could not be detected reliably ({said}); pass the "
        "source language explicitly instead of 'auto'.",
    ),
    "TextSizeLimitExceededException": _TOO_LONG,
    "TextLengthExceededException": _TOO_LONG,
    "AccessDeniedException": _ACCESS_DENIED,
    "AccessDenied": _ACCESS_DENIED,
    "ResourceNotFoundException": _NOT_FOUND,
    "LexiconNotFoundException": _NOT_FOUND,
    "EngineNotSupportedException": _VOICE,
    "LanguageNotSupportedException": _VOICE,
    **dict.fromkeys(
        (
            "InvalidSsmlException",
            "InvalidSampleRateException",
            "InvalidRequestException",
            "ValidationException",
            "SsmlMarksNotSupportedForTextTypeException",
            "MarksNotSupportedForFormatException",
            "InvalidParameterValueException",
        ),
        _REJECTED,
    ),
    **dict.fromkeys(
        ("InternalServerException", "ServiceFailureException", "InternalFailure"),
        _SERVICE_FAILED,
    ),
}

#: botocore exception class name -> s2st_kit error; the most specific class of the
#: exception's MRO that is listed wins (``ReadTimeoutError`` before ``HTTPClientError``).
BOTOCORE_EXC_MAP: dict[str, ErrorSpec] = {
    "NoCredentialsError": _NO_CREDENTIALS,
    "PartialCredentialsError": _NO_CREDENTIALS,
    "ProfileNotFound": (ConfigError, "{engine}: {detail}; run 'aws configure --profile NAME'."),
    "ConnectTimeoutError": _TIMED_OUT,
    "ReadTimeoutError": _TIMED_OUT,
    "EndpointConnectionError": _UNREACHABLE,
    "ConnectionClosedError": _UNREACHABLE,
    "HTTPClientError": (
        EngineUnavailableError,
        "{engine}: {operation} failed at the HTTP level ({name}).",
    ),
}


def _client_error_parts(exc: BaseException) -> tuple[str, str, int | None]:
    """(code, redacted message, HTTP status) of a botocore ClientError-shaped exception."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", "", None
    error = response.get("Error", {})
    code = str(error.get("Code", "") or "")
    message = str(error.get("Message", "") or "")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code, redact(message), status if isinstance(status, int) else None


def retry_after_of(exc: BaseException) -> float | None:
    """The ``Retry-After`` header (s) of a botocore ClientError, when it is a number."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    try:
        value = float(headers.get("retry-after", ""))
    except (TypeError, ValueError):  # absent, or an HTTP date: no hint
        return None
    return value if value >= 0 else None


def is_throttling(exc: BaseException) -> bool:
    """True for a botocore ClientError whose code is in :data:`THROTTLING_CODES`."""
    code, _, status = _client_error_parts(exc)
    return code in THROTTLING_CODES or (not code and status in (429, 503))


def _spec_for(exc: BaseException, code: str, status: int | None) -> ErrorSpec:
    if code or status is not None:  # the service answered with an error
        if code in BOTO_CODE_MAP:
            return BOTO_CODE_MAP[code]
        if not code and status in (429, 503):
            return _THROTTLED
        if code.startswith("AccessDenied") or status == 403:
            return _ACCESS_DENIED
        return _SERVICE_FAILED if status is not None and status >= 500 else _CALL_FAILED
    for cls in type(exc).__mro__:
        if cls.__module__.startswith("botocore") and cls.__name__ in BOTOCORE_EXC_MAP:
            return BOTOCORE_EXC_MAP[cls.__name__]
    return (EngineError, "{engine}: {operation} failed: {name}")


def map_boto_error(
    exc: BaseException,
    *,
    engine: str,
    operation: str,
    permission: str,
    extra_permissions: str = "",
) -> S2STError:
    """Translate a botocore / boto3 exception into an :class:`~s2st_kit.errors.S2STError`.

    operation: the API call (``"TranslateText"``); permission: the IAM action it needs
    (``"translate:TranslateText"``), named in access-denied messages, together with
    ``extra_permissions`` (a sentence) when more may be involved. The error class and
    message come from :data:`BOTO_CODE_MAP` / :data:`BOTOCORE_EXC_MAP`.
    """
    if isinstance(exc, S2STError):
        return exc
    code, message, status = _client_error_parts(exc)
    cls, template = _spec_for(exc, code, status)
    text = template.format(
        engine=engine,
        operation=operation,
        permission=permission,
        more=f" {extra_permissions}" if extra_permissions else "",
        code=code,
        said=f"{code}: {message}" if message else (code or f"HTTP {status}"),
        name=type(exc).__name__,
        detail=redact(str(exc)),
    )
    if issubclass(cls, ThrottledError):
        return cls(text, engine=engine, retry_after_s=retry_after_of(exc))
    if issubclass(cls, EngineError):
        return cls(text, engine=engine)
    return cls(text)


T = TypeVar("T")


def _throttled(exc: BaseException) -> bool:
    return isinstance(exc, ThrottledError)


async def call_with_retry(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    engine: str,
    operation: str,
    permission: str,
    extra_permissions: str = "",
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    executor: concurrent.futures.Executor | None = None,
) -> T:
    """Run blocking ``call`` in a worker thread; retry throttling per ``policy``; map errors.

    Retries go through :func:`s2st_kit.retry.retry_call`: inside an enclosing retry (the
    pipeline's stage retry) the enclosing scope's attempts and budget apply, so the layers
    never multiply. A ``Retry-After`` hint lengthens the wait. Raises
    :class:`~s2st_kit.errors.ThrottledError` (``retry_after_s`` set) when every attempt was
    throttled, and the mapped error for anything else (never retried here).
    executor: where ``call`` runs (default: the loop's default executor).
    """
    attempts = 0

    async def attempt() -> T:
        nonlocal attempts
        attempts += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, call)
        except Exception as exc:
            raise map_boto_error(
                exc,
                engine=engine,
                operation=operation,
                permission=permission,
                extra_permissions=extra_permissions,
            ) from exc

    try:
        return await retry_call(
            attempt, policy=policy, what=f"{engine} {operation}", retryable=_throttled, sleep=sleep
        )
    except ThrottledError as exc:
        raise ThrottledError(
            f"{engine}: {operation} still throttled after {attempts} "
            f"attempt{'s' if attempts != 1 else ''}; slow down, "
            "reduce max_inflight or ask AWS for a higher quota.",
            engine=engine,
            retry_after_s=exc.retry_after_s or policy.ceiling(attempts),
        ) from exc
