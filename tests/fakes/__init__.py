"""Loopback fakes of the AWS services s2st_kit uses, for tests that never reach the network.

- :mod:`tests.fakes.certs` makes a throw-away CA-less self-signed TLS certificate for 127.0.0.1.
- :mod:`tests.fakes.transcribe_server` speaks HTTP/2 + TLS + AWS event streams like
  Transcribe streaming, so the unmodified ``amazon-transcribe`` client can talk to it.
- :mod:`tests.fakes.translate_server` is an AWS JSON 1.1 endpoint with ``TranslateText``.
- :mod:`tests.fakes.polly_server` is a REST endpoint with ``SynthesizeSpeech`` and
  ``DescribeVoices`` that streams real PCM at a controllable pace.

Every server runs in its own thread on an ephemeral port and is used as a context manager
(``with FakeX() as fake: ...``); leaving the block stops the server and joins its thread.
"""

#: Fake credentials used by every AWS test. Deliberately not shaped like real keys.
FAKE_ACCESS_KEY_ID = "AKIDFAKEEXAMPLE0000"
FAKE_SECRET_ACCESS_KEY = "fake-secret-DO-NOT-LEAK-7f3c1e"
FAKE_SESSION_TOKEN = "fake-session-token-DO-NOT-LEAK-9a8b"
FAKE_REGION = "us-west-2"


def fake_aws_env(monkeypatch, tmp_path) -> None:
    """Point the standard AWS credential chain at fake values only (no files, no IMDS)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", FAKE_SESSION_TOKEN)
    monkeypatch.setenv("AWS_DEFAULT_REGION", FAKE_REGION)
    monkeypatch.setenv("AWS_REGION", FAKE_REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CA_BUNDLE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
