"""boto3 sessions, regions and the credential chain — without ever exposing a secret."""

from __future__ import annotations

import logging
import threading
from typing import Any

from ...errors import ConfigError
from .errors import require_boto3

__all__ = ["ClientFactory", "credential_source", "make_session", "resolve_region"]

logger = logging.getLogger(__name__)

#: Region used when neither the option nor the AWS configuration names one.
DEFAULT_REGION = "us-east-1"


def make_session(*, region: str | None = None, profile: str | None = None) -> Any:
    """A ``boto3.Session`` for ``profile`` (None: the default chain) and ``region``."""
    boto3, botocore = require_boto3()
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigError(
            f"AWS profile {profile!r} is not configured; run 'aws configure --profile {profile}' "
            "or choose another profile"
        ) from exc


def resolve_region(session: Any, region: str | None = None) -> str:
    """``region``, else the session's configured region, else :data:`DEFAULT_REGION`."""
    resolved = region or session.region_name
    if not resolved:
        logger.info("no AWS region configured; using %s", DEFAULT_REGION)
        resolved = DEFAULT_REGION
    return resolved


def credential_source(session: Any) -> str | None:
    """Where the chain found credentials (``"env"``, ``"shared-credentials-file"``,
    ``"iam-role"``, ...), or None when there are none. Never returns a key."""
    creds = session.get_credentials()
    if creds is None:
        return None
    return str(getattr(creds, "method", None) or "unknown")


class ClientFactory:
    """Creates one boto3 client lazily and thread-safely, and closes it.

    service: ``"translate"`` / ``"polly"``; endpoint_url: override (tests, VPC endpoints);
    connect_timeout_s / read_timeout_s: socket timeouts (s). botocore's own retries are
    off: the engines retry throttling themselves with jittered back-off.
    """

    def __init__(
        self,
        service: str,
        *,
        region: str | None,
        profile: str | None,
        endpoint_url: str | None,
        connect_timeout_s: float,
        read_timeout_s: float,
        max_pool_connections: int = 10,
    ) -> None:
        self.service = service
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._max_pool = max_pool_connections
        self._lock = threading.Lock()
        self._client: Any = None
        self._session: Any = None

    def __repr__(self) -> str:
        return (
            f"ClientFactory(service={self.service!r}, region={self.region!r}, "
            f"profile={self.profile!r}, endpoint_url={self.endpoint_url!r})"
        )

    @property
    def session(self) -> Any:
        """The boto3 session (created on first use)."""
        with self._lock:
            if self._session is None:
                self._session = make_session(region=self.region, profile=self.profile)
            return self._session

    def get(self) -> Any:
        """The client, created on first call (blocking: call it from a worker thread)."""
        _, botocore = require_boto3()
        session = self.session
        with self._lock:
            if self._client is None:
                config = botocore.config.Config(
                    connect_timeout=self._connect_timeout_s,
                    read_timeout=self._read_timeout_s,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    max_pool_connections=self._max_pool,
                )
                self._client = session.client(
                    self.service,
                    region_name=resolve_region(session, self.region),
                    endpoint_url=self.endpoint_url,
                    config=config,
                )
            return self._client

    def close(self) -> None:
        """Close the client's connection pool (idempotent)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


#: Keyword options each AWS engine accepts (besides region / profile / endpoint_url).
SERVICE_OPTIONS: dict[str, frozenset[str]] = {
    "transcribe": frozenset(
        {
            "settings",
            "language_code",
            "identify_language",
            "identify_multiple_languages",
            "language_options",
            "preferred_language",
            "media_sample_rate_hz",
            "backend",
            "chunk_ms",
            "enable_partial_results_stabilization",
            "partial_results_stability",
            "stability",
            "vocabulary_name",
            "vocabulary_names",
            "vocabulary_filter_name",
            "vocabulary_filter_names",
            "vocabulary_filter_method",
            "language_model_name",
            "content_redaction_type",
            "content_identification_type",
            "pii_entity_types",
            "show_speaker_label",
            "session_id",
            "keepalive_s",
            "max_stream_s",
            "renew_grace_s",
            "max_reconnects",
            "reconnect_window_s",
            "reconnect_backoff_s",
            "max_resend_s",
            "connect_timeout_s",
            "send_timeout_s",
            "final_timeout_s",
            "ca_bundle",
            "max_speed",
        }
    ),
    "translate": frozenset(
        {
            "terminology_names",
            "formality",
            "profanity",
            "brevity",
            "max_attempts",
            "backoff_base_s",
            "backoff_cap_s",
            "connect_timeout_s",
            "read_timeout_s",
            "max_text_bytes",
            "retry",
        }
    ),
    "polly": frozenset(
        {
            "engine",
            "sample_rate",
            "rate",
            "volume",
            "pitch",
            "newscaster",
            "lexicon_names",
            "read_bytes",
            "max_pending_chunks",
            "max_attempts",
            "backoff_base_s",
            "backoff_cap_s",
            "connect_timeout_s",
            "read_timeout_s",
            "retry",
        }
    ),
}
_COMMON = frozenset({"region", "profile", "endpoint_url", "endpoint_urls"})


def options_for(service: str, options: dict[str, Any]) -> dict[str, Any]:
    """The subset of AWS bundle ``options`` meant for ``service``.

    The registry hands one options dict to all three AWS factories, so each takes what it
    knows and ignores options of the other two; names no AWS engine knows raise
    ConfigError (a typo should not pass silently). Per-service options may also be
    prefixed (``polly_engine``, ``translate_formality``, ``transcribe_chunk_ms``), and
    ``endpoint_urls={"transcribe": ..., "translate": ..., "polly": ...}`` sets each
    service's endpoint (it wins over a plain ``endpoint_url``).
    """
    known = set(_COMMON)
    for name, names in SERVICE_OPTIONS.items():
        known |= names
        known |= {f"{name}_{n}" for n in names | {"endpoint_url"}}
    unknown = sorted(set(options) - known)
    if unknown:
        plain = sorted(_COMMON.union(*SERVICE_OPTIONS.values()))
        raise ConfigError(
            f"unknown AWS engine option(s): {', '.join(unknown)}; known: {', '.join(plain)}"
        )
    mine = SERVICE_OPTIONS[service]
    out: dict[str, Any] = {
        k: v for k, v in options.items() if k in mine or k in ("region", "profile", "endpoint_url")
    }
    prefix = f"{service}_"
    for key, value in options.items():
        if key.startswith(prefix) and (
            key[len(prefix) :] in mine or key == f"{prefix}endpoint_url"
        ):
            out[key[len(prefix) :]] = value
    urls = options.get("endpoint_urls") or {}
    if not isinstance(urls, dict):
        raise ConfigError("endpoint_urls must be a dict like {'polly': 'https://...'}")
    if service in urls:
        out["endpoint_url"] = urls[service]
    return out
