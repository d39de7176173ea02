"""Is this machine ready for the AWS engines? Credentials, reachability, and the IAM policy.

``await run_checks()`` returns one :class:`CheckResult` per check:

- ``credentials``: the standard chain found credentials — says *which source* (environment,
  shared file / profile, SSO, role...), never the values;
- ``region``: the region that will be used;
- ``transcribe``: a TLS + HTTP/2 (ALPN h2) connection to the streaming endpoint opens —
  no stream is started, so nothing is billed (Transcribe bills streams by the second,
  15 s minimum) and authorisation is not tested;
- ``translate``: ``ListLanguages`` answers (needs ``translate:ListLanguages``);
- ``polly``: ``DescribeVoices`` answers (needs ``polly:DescribeVoices``).

Each check has a deadline. :func:`format_report` renders the results as text;
:data:`IAM_POLICY` / :func:`iam_policy_json` is the least-privilege identity policy.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import urlparse

from ...errors import S2STError
from .errors import map_boto_error, require_boto3
from .session import ClientFactory, credential_source, make_session, resolve_region

__all__ = [
    "CHECKS",
    "IAM_POLICY",
    "CheckResult",
    "check_credentials",
    "check_polly",
    "check_region",
    "check_transcribe",
    "check_translate",
    "format_report",
    "iam_policy_json",
    "run_checks",
]

Status = Literal["ok", "warn", "fail", "skip"]
CheckName = Literal["credentials", "region", "transcribe", "translate", "polly"]

#: Least-privilege identity policy for the three AWS engines (and doctor's own checks).
#: Transcribe streaming over HTTP/2 (amazon-transcribe SDK) is StartStreamTranscription;
#: StartStreamTranscriptionWebSocket is not needed. Translate with source "auto" calls Amazon
#: Comprehend on the caller's behalf, which needs comprehend:DetectDominantLanguage.
#: Polly lexicons and Translate terminologies are used by name within SynthesizeSpeech /
#: TranslateText and need no extra action. Resources are "*": these actions have no
#: resource-level permissions (lexicon / terminology ARNs can narrow the last two).
IAM_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "S2stTranscribeStreaming",
            "Effect": "Allow",
            "Action": ["transcribe:StartStreamTranscription"],
            "Resource": "*",
        },
        {
            "Sid": "S2stTranslate",
            "Effect": "Allow",
            "Action": ["translate:TranslateText", "translate:ListLanguages"],
            "Resource": "*",
        },
        {
            "Sid": "S2stTranslateAutoSource",
            "Effect": "Allow",
            "Action": ["comprehend:DetectDominantLanguage"],
            "Resource": "*",
        },
        {
            "Sid": "S2stPolly",
            "Effect": "Allow",
            "Action": ["polly:SynthesizeSpeech", "polly:DescribeVoices"],
            "Resource": "*",
        },
    ],
}

_SOURCES = {
    "env": "environment variables (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)",
    "shared-credentials-file": "the shared credentials file (~/.aws/credentials)",
    "config-file": "the AWS config file (~/.aws/config)",
    "sso": "AWS IAM Identity Center (SSO)",
    "assume-role": "an assumed role (profile role_arn)",
    "assume-role-with-web-identity": "a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)",
    "container-role": "the container credentials endpoint (ECS / EKS)",
    "iam-role": "the instance profile (EC2 metadata)",
    "custom-process": "a credential_process command",
}


def iam_policy_json() -> str:
    """:data:`IAM_POLICY` as indented JSON, ready for ``aws iam create-policy``."""
    return json.dumps(IAM_POLICY, indent=2)


@dataclass(frozen=True)
class CheckResult:
    """One check: ``name``, ``status`` (ok / warn / fail / skip), a readable ``detail``,
    what to do when it failed (``hint``) and how long it took (``duration_s``, s)."""

    name: CheckName
    status: Status
    detail: str
    hint: str = ""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skip")


def _transcribe_endpoint(region: str, endpoint_urls: dict[str, str]) -> str:
    if "transcribe" in endpoint_urls:
        return endpoint_urls["transcribe"]
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"https://transcribestreaming.{region}{suffix}"


async def _check_h2(url: str, *, ca_bundle: str | None, timeout_s: float) -> str:
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or 443
    context = ssl.create_default_context(cafile=ca_bundle)
    context.set_alpn_protocols(["h2"])
    async with asyncio.timeout(timeout_s):
        _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        protocol = ssl_object.selected_alpn_protocol() if ssl_object else None
    finally:
        writer.close()
        try:
            async with asyncio.timeout(timeout_s):
                await writer.wait_closed()
        except (TimeoutError, OSError, ssl.SSLError):
            pass
    if protocol != "h2":
        raise ConnectionError(f"{host}:{port} did not negotiate HTTP/2 (got {protocol!r})")
    return f"TLS + HTTP/2 to {host}:{port}"


async def _timed(name: CheckName, coro: Awaitable[str], *, hint: str) -> CheckResult:
    start = time.monotonic()
    try:
        detail = await coro
    except TimeoutError:
        return CheckResult(
            name, "fail", "no answer before the deadline", hint, time.monotonic() - start
        )
    except S2STError as exc:
        return CheckResult(name, "fail", str(exc), hint, time.monotonic() - start)
    except (OSError, ssl.SSLError, ConnectionError) as exc:
        return CheckResult(
            name, "fail", f"{type(exc).__name__}: {exc}", hint, time.monotonic() - start
        )
    return CheckResult(name, "ok", detail, "", time.monotonic() - start)


#: The checks, in report order.
CHECKS: tuple[CheckName, ...] = get_args(CheckName)


async def run_checks(
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_urls: dict[str, str] | None = None,
    timeout_s: float = 5.0,
    ca_bundle: str | None = None,
) -> list[CheckResult]:
    """Run every check (the three services concurrently, each within ``timeout_s`` seconds).

    endpoint_urls: per-service overrides ``{"transcribe": ..., "translate": ..., "polly": ...}``.
    ca_bundle: extra CA file for the Transcribe TLS check (default: system store).
    """
    require_boto3()
    urls = dict(endpoint_urls or {})
    start = time.monotonic()
    try:
        session = await asyncio.to_thread(make_session, region=region, profile=profile)
        source = await asyncio.to_thread(credential_source, session)
    except S2STError as exc:
        return [
            CheckResult("credentials", "fail", str(exc), "configure a profile with 'aws configure'")
        ]
    used_region = resolve_region(session, region)
    results = [
        check_credentials(source, profile, time.monotonic() - start),
        check_region(region or session.region_name, used_region),
    ]
    services = [check_transcribe(used_region, urls, ca_bundle=ca_bundle, timeout_s=timeout_s)]
    if source is None:
        results += [
            CheckResult("translate", "skip", "no credentials"),
            CheckResult("polly", "skip", "no credentials"),
        ]
    else:
        services += [
            check_translate(used_region, profile, urls.get("translate"), timeout_s=timeout_s),
            check_polly(used_region, profile, urls.get("polly"), timeout_s=timeout_s),
        ]
    results += await asyncio.gather(*services)
    return sorted(results, key=lambda r: CHECKS.index(r.name))


def check_credentials(source: str | None, profile: str | None, duration_s: float) -> CheckResult:
    """``credentials``: which source of the AWS chain has them (never the values)."""
    if source is None:
        return CheckResult(
            "credentials",
            "fail",
            "no credentials found in the AWS chain",
            "run 'aws configure' or 'aws sso login', set AWS_PROFILE, or export "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            duration_s,
        )
    where = _SOURCES.get(source, source) + (f" (profile {profile!r})" if profile else "")
    return CheckResult("credentials", "ok", f"found via {where}", "", duration_s)


def check_region(configured: str | None, used: str) -> CheckResult:
    """``region``: the region in use; a warning when none is configured (the default)."""
    if configured:
        return CheckResult("region", "ok", used)
    return CheckResult("region", "warn", used, "no region configured; set AWS_REGION")


async def check_transcribe(
    region: str, endpoint_urls: dict[str, str], *, ca_bundle: str | None, timeout_s: float
) -> CheckResult:
    """``transcribe``: TLS + HTTP/2 to the streaming endpoint (no stream, nothing billed)."""
    url = _transcribe_endpoint(region, endpoint_urls)
    return await _timed(
        "transcribe",
        _check_h2(url, ca_bundle=ca_bundle, timeout_s=timeout_s),
        hint="check the network / proxy and that Transcribe streaming exists in this region",
    )


async def check_translate(
    region: str, profile: str | None, endpoint_url: str | None, *, timeout_s: float
) -> CheckResult:
    """``translate``: ListLanguages answers (needs translate:ListLanguages)."""

    def call(client: Any) -> str:
        return f"{len(client.list_languages(MaxResults=500).get('Languages', []))} languages"

    factory = _factory("translate", region, profile, endpoint_url, timeout_s)
    return await _timed(
        "translate",
        _boto_call(factory, "ListLanguages", "translate:ListLanguages", call, timeout_s),
        hint="grant translate:ListLanguages and translate:TranslateText (see iam_policy_json())",
    )


async def check_polly(
    region: str, profile: str | None, endpoint_url: str | None, *, timeout_s: float
) -> CheckResult:
    """``polly``: DescribeVoices answers (needs polly:DescribeVoices)."""

    def call(client: Any) -> str:
        return f"{len(client.describe_voices().get('Voices', []))} voices (first page)"

    factory = _factory("polly", region, profile, endpoint_url, timeout_s)
    return await _timed(
        "polly",
        _boto_call(factory, "DescribeVoices", "polly:DescribeVoices", call, timeout_s),
        hint="grant polly:DescribeVoices and polly:SynthesizeSpeech (see iam_policy_json())",
    )


def _factory(
    service: str, region: str, profile: str | None, endpoint_url: str | None, timeout_s: float
) -> ClientFactory:
    return ClientFactory(
        service,
        region=region,
        profile=profile,
        endpoint_url=endpoint_url,
        connect_timeout_s=timeout_s,
        read_timeout_s=timeout_s,
    )


async def _boto_call(
    factory: ClientFactory,
    operation: str,
    permission: str,
    call: Callable[[Any], str],
    timeout_s: float,
) -> str:
    """``call(client)`` in a worker thread, errors mapped; the client closed afterwards."""

    def guarded() -> str:
        try:
            return call(factory.get())
        except Exception as exc:
            raise map_boto_error(
                exc,
                engine=f"aws-{factory.service}",
                operation=operation,
                permission=permission,
            ) from exc

    try:
        async with asyncio.timeout(timeout_s * 2):
            return await asyncio.to_thread(guarded)
    finally:
        await asyncio.to_thread(factory.close)


def format_report(results: list[CheckResult]) -> str:
    """A plain-text report: one line per check, hints indented under failures."""
    marks = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}
    lines = []
    for r in results:
        lines.append(f"[{marks[r.status]}] {r.name:<11} {r.detail} ({r.duration_s * 1000:.0f} ms)")
        if r.hint and r.status in ("fail", "warn"):
            lines.append(f"       -> {r.hint}")
    ok = all(r.ok for r in results)
    lines.append(
        "AWS engines ready."
        if ok
        else "Some checks failed. Least-privilege IAM policy: iam_policy_json()"
    )
    return "\n".join(lines)
