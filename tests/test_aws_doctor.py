"""aws doctor: credentials source, reachability of the three fakes, IAM policy."""

from __future__ import annotations

import json
import socket

import pytest

from s2st_kit.engines.aws.doctor import IAM_POLICY, format_report, iam_policy_json, run_checks
from tests.fakes import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, fake_aws_env
from tests.fakes.certs import make_self_signed_cert
from tests.fakes.polly_server import FakePollyServer
from tests.fakes.transcribe_server import FakeTranscribeServer, Utterance
from tests.fakes.translate_server import FakeTranslateServer


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    fake_aws_env(monkeypatch, tmp_path)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_all_checks_pass_against_fakes(aws_env, tmp_path):
    cert = make_self_signed_cert(tmp_path / "tls")
    with (
        FakeTranscribeServer(cert, vocabulary=[Utterance(300, "x")]) as ts,
        FakeTranslateServer() as tr,
        FakePollyServer() as po,
    ):
        results = await run_checks(
            endpoint_urls={
                "transcribe": ts.endpoint_url,
                "translate": tr.endpoint_url,
                "polly": po.endpoint_url,
            },
            ca_bundle=str(cert.cert_path),
            timeout_s=2,
        )
    by_name = {r.name: r for r in results}
    assert [r.name for r in results] == [
        "credentials",
        "region",
        "transcribe",
        "translate",
        "polly",
    ]
    assert all(r.status == "ok" for r in results), format_report(results)
    assert "environment variables" in by_name["credentials"].detail
    assert by_name["region"].detail == "us-west-2"
    assert by_name["translate"].detail == "4 languages"
    report = format_report(results)
    assert "AWS engines ready." in report
    assert FAKE_SECRET_ACCESS_KEY not in report and FAKE_ACCESS_KEY_ID not in report


async def test_failures_are_reported_with_hints(aws_env, tmp_path):
    with FakeTranslateServer(access_denied=True) as tr:
        results = await run_checks(
            endpoint_urls={
                "transcribe": f"https://127.0.0.1:{closed_port()}",
                "translate": tr.endpoint_url,
                "polly": f"http://127.0.0.1:{closed_port()}",
            },
            timeout_s=1,
        )
    by_name = {r.name: r for r in results}
    assert by_name["credentials"].status == "ok"
    assert by_name["transcribe"].status == "fail"
    assert by_name["translate"].status == "fail"
    assert "translate:ListLanguages" in by_name["translate"].detail
    assert by_name["polly"].status == "fail" and "cannot reach" in by_name["polly"].detail
    report = format_report(results)
    assert "FAIL" in report and "iam_policy_json()" in report
    assert FAKE_SECRET_ACCESS_KEY not in report


async def test_missing_credentials(aws_env, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    results = await run_checks(
        endpoint_urls={"transcribe": f"https://127.0.0.1:{closed_port()}"}, timeout_s=0.5
    )
    by_name = {r.name: r for r in results}
    assert by_name["credentials"].status == "fail"
    assert "aws configure" in by_name["credentials"].hint
    assert by_name["polly"].status == "skip"


def test_iam_policy_is_least_privilege_json():
    policy = json.loads(iam_policy_json())
    assert policy == IAM_POLICY
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {
        "transcribe:StartStreamTranscription",
        "translate:TranslateText",
        "translate:ListLanguages",
        "comprehend:DetectDominantLanguage",
        "polly:SynthesizeSpeech",
        "polly:DescribeVoices",
    }
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    assert not any("*" in a for a in actions)
