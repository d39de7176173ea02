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
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlparse

from ...errors import S2STError
from .errors import map_boto_error, require_boto3
from .session import ClientFactory, credential_source, make_session, resolve_region

__all__ = ["IAM_POLICY", "CheckResult", "format_report", "iam_policy_json", "run_checks"]

Status = Literal["ok", "warn", "fail", "skip"]

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

    name: str
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


async def _timed(name: str, coro: Any, *, hint: str) -> CheckResult:
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


async def run_checks(
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_urls: dict[str, str] | None = None,
    timeout_s: float = 5.0,
    ca_bundle: str | None = None,
) -> list[CheckResult]:
    """Run every check (concurrently, each within ``timeout_s`` seconds).

    endpoint_urls: per-service overrides ``{"transcribe": ..., "translate": ..., "polly": ...}``.
    ca_bundle: extra CA file for the Transcribe TLS check (default: system store).
    """
    require_boto3()
    endpoint_urls = dict(endpoint_urls or {})
    results: list[CheckResult] = []
    start = time.monotonic()
    try:
        session = await asyncio.to_thread(make_session, region=region, profile=profile)
        source = await asyncio.to_thread(credential_source, session)
    except S2STError as exc:
        return [
            CheckResult("credentials", "fail", str(exc), "configure a profile with 'aws configure'")
        ]
    if source is None:
        results.append(
            CheckResult(
                "credentials",
                "fail",
                "no credentials found in the AWS chain",
                "run 'aws configure' or 'aws sso login', set AWS_PROFILE, or export "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                time.monotonic() - start,
            )
        )
    else:
        results.append(
            CheckResult(
                "credentials",
                "ok",
                f"found via {_SOURCES.get(source, source)}"
                + (f" (profile {profile!r})" if profile else ""),
                "",
                time.monotonic() - start,
            )
        )
    used_region = resolve_region(session, region)
    results.append(
        CheckResult(
            "region",
            "ok" if (region or session.region_name) else "warn",
            used_region,
            "" if (region or session.region_name) else "no region configured; set AWS_REGION",
        )
    )

    def boto_call(service: str, operation: str, permission: str, call: Any) -> Any:
        async def run() -> str:
            factory = ClientFactory(
                service,
                region=used_region,
                profile=profile,
                endpoint_url=endpoint_urls.get(service),
                connect_timeout_s=timeout_s,
                read_timeout_s=timeout_s,
            )
            try:
                async with asyncio.timeout(timeout_s * 2):
                    return await asyncio.to_thread(
                        _guarded, factory, call, service, operation, permission
                    )
            finally:
                await asyncio.to_thread(factory.close)

        return run()

    checks = [
        _timed(
            "transcribe",
            _check_h2(
                _transcribe_endpoint(used_region, endpoint_urls),
                ca_bundle=ca_bundle,
                timeout_s=timeout_s,
            ),
            hint="check the network / proxy and that Transcribe streaming exists in this region",
        ),
    ]
    if source is None:
        results += [
            CheckResult("translate", "skip", "no credentials"),
            CheckResult("polly", "skip", "no credentials"),
        ]
    else:
        checks += [
            _timed(
                "translate",
                boto_call(
                    "translate",
                    "ListLanguages",
                    "translate:ListLanguages",
                    lambda c: (
                        f"{len(c.list_languages(MaxResults=500).get('Languages', []))} languages"
                    ),
                ),
                hint="grant translate:ListLanguages and translate:TranslateText "
                "(see iam_policy_json())",
            ),
            _timed(
                "polly",
                boto_call(
                    "polly",
                    "DescribeVoices",
                    "polly:DescribeVoices",
                    lambda c: f"{len(c.describe_voices().get('Voices', []))} voices (first page)",
                ),
                hint="grant polly:DescribeVoices and polly:SynthesizeSpeech "
                "(see iam_policy_json())",
            ),
        ]
    checked = await asyncio.gather(*checks)
    order = {"transcribe": 0, "translate": 1, "polly": 2}
    results += sorted(checked, key=lambda r: order[r.name])
    return sorted(
        results,
        key=lambda r: ["credentials", "region", "transcribe", "translate", "polly"].index(r.name),
    )


def _guarded(
    factory: ClientFactory, call: Any, service: str, operation: str, permission: str
) -> str:
    try:
        return call(factory.get())
    except Exception as exc:
        raise map_boto_error(
            exc, engine=f"aws-{service}", operation=operation, permission=permission
        ) from exc


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
