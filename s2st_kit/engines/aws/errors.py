"""AWS errors mapped into :mod:`s2st_kit.errors`, and the throttling retry.

Mapping (applied at the boundary with ``raise ... from exc``)::

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

Messages carry the service's error code and message and say what to do; they never carry
credentials, request headers or signed URLs (:func:`redact` scrubs anything that looks
like one, as a second line of defence).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
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

__all__ = [
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


def _client_error_parts(exc: BaseException) -> tuple[str, str, int | None]:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = str(error.get("Code", "") or "")
    message = str(error.get("Message", "") or "")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code, redact(message), status


def is_throttling(exc: BaseException) -> bool:
    """True for a botocore ClientError whose code is in :data:`THROTTLING_CODES`."""
    code, _, status = _client_error_parts(exc)
    return code in THROTTLING_CODES or (not code and status in (429, 503))


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
    ``extra_permissions`` (a sentence) when more may be involved.
    """
    _, botocore = require_boto3()
    bexc = botocore.exceptions
    if isinstance(exc, S2STError):
        return exc
    if isinstance(exc, bexc.NoCredentialsError | bexc.PartialCredentialsError):
        return ConfigError(
            f"{engine}: no AWS credentials found. Set AWS_PROFILE (or the profile= option), "
            "run 'aws configure' / 'aws sso login', or export AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY."
        )
    if isinstance(exc, bexc.ProfileNotFound):
        return ConfigError(f"{engine}: {redact(str(exc))}; run 'aws configure --profile NAME'.")
    if isinstance(exc, bexc.ConnectTimeoutError | bexc.ReadTimeoutError):
        return EngineTimeoutError(
            f"{engine}: {operation} timed out ({type(exc).__name__}); check the network or "
            "raise the timeout options.",
            engine=engine,
        )
    if isinstance(exc, bexc.EndpointConnectionError | bexc.ConnectionClosedError):
        return EngineUnavailableError(
            f"{engine}: cannot reach the service for {operation} ({type(exc).__name__}); "
            "check the network, the region and endpoint_url.",
            engine=engine,
        )
    if isinstance(exc, bexc.HTTPClientError):
        return EngineUnavailableError(
            f"{engine}: {operation} failed at the HTTP level ({type(exc).__name__}).",
            engine=engine,
        )
    if not isinstance(exc, bexc.ClientError):
        return EngineError(f"{engine}: {operation} failed: {type(exc).__name__}", engine=engine)

    code, message, status = _client_error_parts(exc)
    said = f"{code}: {message}" if message else code
    if code in THROTTLING_CODES or (not code and status in (429, 503)):
        return ThrottledError(
            f"{engine}: {operation} is being throttled ({said}); slow down, reduce "
            "max_inflight, or ask AWS for a higher quota.",
            engine=engine,
        )
    if code == "UnsupportedLanguagePairException":
        return UnsupportedLanguageError(
            f"{engine}: {said}. Choose a language pair the service supports (see pairs()).",
        )
    if code == "DetectedLanguageLowConfidenceException":
        return DetectedLanguageLowConfidenceError(
            f"{engine}: the source language could not be detected reliably ({said}); "
            "pass the source language explicitly instead of 'auto'.",
            engine=engine,
        )
    if code in ("TextSizeLimitExceededException", "TextLengthExceededException"):
        return TextTooLongError(
            f"{engine}: {said}. The text was too long for one request even after splitting.",
            engine=engine,
        )
    if code.startswith("AccessDenied") or (status == 403 and code not in _CREDENTIAL_CODES):
        more = f" {extra_permissions}" if extra_permissions else ""
        return ConfigError(
            f"{engine}: access denied for {operation} ({said}). Grant the IAM permission "
            f"'{permission}' to this identity.{more} See "
            "s2st_kit.engines.aws.doctor.iam_policy_json() for a least-privilege policy."
        )
    if code in _CREDENTIAL_CODES:
        return ConfigError(
            f"{engine}: the AWS credentials were rejected ({code}); they may be wrong, "
            "expired or for another partition. Refresh them ('aws sso login', new keys) "
            "and check the system clock."
        )
    if code in ("ResourceNotFoundException", "LexiconNotFoundException"):
        return ConfigError(
            f"{engine}: {said}. Check the names of terminologies / lexicons and the region."
        )
    if code in ("EngineNotSupportedException", "LanguageNotSupportedException"):
        return UnsupportedVoiceError(f"{engine}: {said}. Choose a voice that supports it.")
    if code in (
        "InvalidSsmlException",
        "InvalidSampleRateException",
        "InvalidRequestException",
        "ValidationException",
        "SsmlMarksNotSupportedForTextTypeException",
        "MarksNotSupportedForFormatException",
        "InvalidParameterValueException",
    ):
        return ConfigError(f"{engine}: the service rejected the request: {said}.")
    if code in ("InternalServerException", "ServiceFailureException", "InternalFailure") or (
        status is not None and status >= 500
    ):
        return EngineUnavailableError(
            f"{engine}: the service failed ({said}); try again later.", engine=engine
        )
    return EngineError(f"{engine}: {operation} failed: {said}", engine=engine)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with full jitter for throttled calls.

    max_attempts: calls in total, including the first (default 5).
    base_s: back-off scale (s, default 0.1); attempt n waits uniform(0, min(cap_s, base_s·2ⁿ)).
    cap_s: longest single wait (s, default 5).
    """

    max_attempts: int = 5
    base_s: float = 0.1
    cap_s: float = 5.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_s < 0 or self.cap_s < 0:
            raise ConfigError("back-off times must be >= 0 s")

    def ceiling(self, attempt: int) -> float:
        """Upper bound (s) of the wait after failed attempt ``attempt`` (0-based)."""
        return min(self.cap_s, self.base_s * (2**attempt))

    def delay(self, attempt: int) -> float:
        """A random wait (s) in [0, ceiling(attempt)] — "full jitter"."""
        return self.rng.uniform(0.0, self.ceiling(attempt))


T = TypeVar("T")


async def call_with_retry(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    engine: str,
    operation: str,
    permission: str,
    extra_permissions: str = "",
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> T:
    """Run blocking ``call`` in a worker thread; retry throttling per ``policy``; map errors.

    Raises :class:`~s2st_kit.errors.ThrottledError` (``retry_after_s`` set) when every
    attempt was throttled, and the mapped error for anything else (never retried here).
    """
    for attempt in range(policy.max_attempts):
        try:
            return await asyncio.to_thread(call)
        except Exception as exc:
            if not is_throttling(exc):
                raise map_boto_error(
                    exc,
                    engine=engine,
                    operation=operation,
                    permission=permission,
                    extra_permissions=extra_permissions,
                ) from exc
            if attempt + 1 >= policy.max_attempts:
                code, _, _ = _client_error_parts(exc)
                raise ThrottledError(
                    f"{engine}: {operation} still throttled ({code}) after "
                    f"{policy.max_attempts} attempts; slow down, reduce max_inflight or ask "
                    "AWS for a higher quota.",
                    engine=engine,
                    retry_after_s=policy.ceiling(attempt + 1),
                ) from exc
            wait = policy.delay(attempt)
            logger.info(
                "%s: %s throttled (attempt %d/%d); retrying in %.3f s",
                engine,
                operation,
                attempt + 1,
                policy.max_attempts,
                wait,
            )
            await sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
