"""AwsTranslator (real boto3) against the fake AWS JSON 1.1 Translate endpoint."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import threading
import time
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2st_kit.engines.aws._text import split_sentences, split_text, utf8_len
from s2st_kit.engines.aws.errors import (
    DetectedLanguageLowConfidenceError,
    RetryPolicy,
    TextTooLongError,
    call_with_retry,
)
from s2st_kit.engines.aws.translate import (
    MAX_TEXT_BYTES,
    TRANSLATE_LANGUAGES,
    AwsTranslator,
    create_translator,
)
from s2st_kit.engines.protocols import SupportsBrevity
from s2st_kit.errors import (
    ConfigError,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    ThrottledError,
    UnsupportedLanguageError,
)
from s2st_kit.retry import RetryPolicy as StageRetryPolicy
from s2st_kit.retry import retry_call
from tests.fakes import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, FAKE_SESSION_TOKEN, fake_aws_env
from tests.fakes.translate_server import FakeTranslateServer


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    fake_aws_env(monkeypatch, tmp_path)


@pytest.fixture
def fake():
    with FakeTranslateServer() as server:
        yield server


def translator(fake, **options) -> AwsTranslator:
    options.setdefault("backoff_base_s", 0.001)
    options.setdefault("backoff_cap_s", 0.01)
    return AwsTranslator(endpoint_url=fake.endpoint_url, region="us-west-2", **options)


async def test_translates_and_sends_every_option(aws_env, fake):
    tr = translator(
        fake, terminology_names=["names"], formality="FORMAL", profanity="MASK", brevity="ON"
    )
    result = await tr.translate("Hello world", source="en", target="es")
    await tr.aclose()
    assert result.text == "Hola mundo"
    assert (result.source, result.target, result.engine) == ("en", "es", "aws-translate")
    assert result.detected_source is None and result.source_text == "Hello world"
    (call,) = fake.translate_calls()
    assert call == {
        "Text": "Hello world",
        "SourceLanguageCode": "en",
        "TargetLanguageCode": "es",
        "TerminologyNames": ["names"],
        "Settings": {"Formality": "FORMAL", "Profanity": "MASK", "Brevity": "ON"},
    }
    headers = fake.requests[0]["headers"]
    assert headers["X-Amz-Target"] == "AWSShineFrontendService_20170701.TranslateText"
    assert "Authorization" not in headers and "X-Amz-Security-Token" not in headers


async def test_auto_source_records_detected_language(aws_env, fake):
    tr = translator(fake)
    result = await tr.translate("hola gato", source="auto", target="en")
    assert result.text == "hello cat" and result.detected_source == "es"
    assert fake.translate_calls()[0]["SourceLanguageCode"] == "auto"


async def test_one_lazy_shared_client_and_calls_off_the_loop(aws_env):
    with FakeTranslateServer(latency_s=0.3) as fake:
        tr = translator(fake)
        assert tr._clients._client is None  # lazy
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        tick = asyncio.create_task(ticker())
        start = time.monotonic()
        results = await asyncio.gather(
            *(tr.translate(f"hello {i}", source="en", target="es") for i in range(4))
        )
        elapsed = time.monotonic() - start
        tick.cancel()
        client = tr._clients._client
        await tr.translate("cat", source="en", target="es")
        assert tr._clients._client is client  # shared, not re-created
        await tr.aclose()
    assert [r.text for r in results] == [f"hola {i}" for i in range(4)]
    assert elapsed < 1.0 and fake.max_active >= 2  # concurrent, in threads
    assert ticks >= 8  # the loop kept running while boto3 waited


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "TooManyRequestsException", "ServiceUnavailableException"]
)
async def test_throttling_is_retried_then_succeeds(aws_env, code):
    with FakeTranslateServer(throttle=2, throttle_code=code) as fake:
        tr = translator(fake)
        result = await tr.translate("hello", source="en", target="es")
    assert result.text == "hola" and fake.throttled == 2 and len(fake.translate_calls()) == 3


async def test_throttling_gives_up_after_max_attempts(aws_env):
    with FakeTranslateServer(throttle=100) as fake:
        tr = translator(fake, max_attempts=3)
        with pytest.raises(ThrottledError, match="after 3 attempts") as info:
            await tr.translate("hello", source="en", target="es")
    assert len(fake.translate_calls()) == 3
    assert info.value.retryable and info.value.retry_after_s is not None


async def test_engine_retry_inside_a_stage_retry_does_not_multiply(aws_env):
    # The pipeline wraps translate() in its own retry_call. Before the engines used the shared
    # retry scope, one always-throttled segment cost 3 stage tries x 5 engine tries = 15 calls.
    with FakeTranslateServer(throttle=1000) as fake:
        tr = translator(fake)  # max_attempts=5 of its own
        stage = StageRetryPolicy(max_attempts=3, base_s=0.0, cap_s=0.01)
        with pytest.raises(ThrottledError):
            await retry_call(
                lambda: tr.translate("hello", source="en", target="es"),
                policy=stage,
                what="translation of segment 0",
            )
        await tr.aclose()
    assert 1 <= len(fake.translate_calls()) <= stage.max_attempts


async def test_retry_after_header_sets_the_hint_and_the_wait(aws_env):
    with FakeTranslateServer(throttle=1, retry_after_s=0.3) as fake:
        tr = translator(fake, backoff_cap_s=2.0)
        start = time.monotonic()
        result = await tr.translate("hello", source="en", target="es")
        waited = time.monotonic() - start
    assert result.text == "hola" and len(fake.translate_calls()) == 2
    assert waited >= 0.3  # at least the server's Retry-After, whatever the jitter drew
    with FakeTranslateServer(throttle=100, retry_after_s=0.05) as fake:
        with pytest.raises(ThrottledError) as info:
            await translator(fake, max_attempts=2, backoff_cap_s=1.0).translate(
                "hello", source="en", target="es"
            )
    assert info.value.retry_after_s == pytest.approx(0.05)


async def test_backoff_is_exponential_with_full_jitter():
    policy = RetryPolicy(max_attempts=5, base_s=0.1, cap_s=0.5, rng=random.Random(1))
    assert [policy.ceiling(n) for n in range(4)] == [0.1, 0.2, 0.4, 0.5]
    waits: list[float] = []

    async def fake_sleep(s: float) -> None:
        waits.append(s)

    class Throttle(Exception):
        response: ClassVar[dict] = {
            "Error": {"Code": "ThrottlingException", "Message": "slow"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }

    def always_throttled():
        raise Throttle()

    with pytest.raises(ThrottledError):
        await call_with_retry(
            always_throttled,
            policy=policy,
            engine="x",
            operation="Op",
            permission="x:Op",
            sleep=fake_sleep,
        )
    assert len(waits) == 4
    assert all(0 <= w <= policy.ceiling(n) for n, w in enumerate(waits))
    assert len(set(waits)) == 4  # jittered


@pytest.mark.parametrize(
    ("server_kwargs", "text", "source", "error", "match"),
    [
        (
            {"unsupported_pairs": {("en", "fr")}},
            "hello",
            "en",
            UnsupportedLanguageError,
            "Unsupported language pair",
        ),
        ({}, "zzz qqq", "auto", DetectedLanguageLowConfidenceError, "explicitly"),
        ({"max_bytes": 5}, "hello world", "en", TextTooLongError, "TextSizeLimitExceeded"),
        ({"access_denied": True}, "hello", "en", ConfigError, "translate:TranslateText"),
    ],
)
async def test_service_errors_are_mapped(aws_env, server_kwargs, text, source, error, match):
    with FakeTranslateServer(**server_kwargs) as fake:
        tr = translator(fake)
        with pytest.raises(error, match=match):
            await tr.translate(text, source=source, target="fr")


async def test_access_denied_names_comprehend_for_auto(aws_env):
    with FakeTranslateServer(access_denied=True) as fake:
        with pytest.raises(ConfigError, match="comprehend:DetectDominantLanguage"):
            await translator(fake).translate("hello", source="auto", target="es")


async def test_unsupported_language_refused_before_any_call(aws_env, fake):
    tr = translator(fake)
    for source, target in (("xx", "es"), ("en", "xx"), ("en", "en")):
        with pytest.raises(UnsupportedLanguageError):
            await tr.translate("hello", source=source, target=target)
    assert fake.requests == []


async def test_long_text_split_at_sentences_and_joined(aws_env, fake):
    sentence = "Hello world and the cat. "
    text = sentence * 1200  # 30,000 bytes
    tr = translator(fake)
    result = await tr.translate(text, source="en", target="es")
    calls = fake.translate_calls()
    assert len(calls) == 3
    assert all(utf8_len(c["Text"]) <= MAX_TEXT_BYTES for c in calls)
    assert all(c["Text"].endswith("cat.") for c in calls)  # cut at sentence ends
    assert result.text.count("Hola mundo y el gato.") == 1200


async def test_over_long_multibyte_sentence_is_hard_split(aws_env, fake):
    text = "日本語のテキスト" * 600 + " ok"  # one 14,403-byte "sentence", no spaces inside
    tr = translator(fake)
    await tr.translate(text, source="ja", target="en")
    calls = fake.translate_calls()
    assert len(calls) == 2
    assert all(utf8_len(c["Text"]) <= MAX_TEXT_BYTES for c in calls)
    assert "".join(c["Text"] for c in calls).replace(" ", "") == text.replace(" ", "")


async def test_timeout_and_unreachable(aws_env):
    with FakeTranslateServer(latency_s=1.0) as fake:
        tr = translator(fake, read_timeout_s=0.2)
        with pytest.raises(EngineTimeoutError):
            await tr.translate("hello", source="en", target="es")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tr = AwsTranslator(endpoint_url=f"http://127.0.0.1:{port}", connect_timeout_s=0.5)
    with pytest.raises(EngineUnavailableError, match="cannot reach"):
        await tr.translate("hello", source="en", target="es")


async def test_missing_credentials_say_what_to_do(aws_env, monkeypatch, fake):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    with pytest.raises(ConfigError, match="no AWS credentials"):
        await translator(fake).translate("hello", source="en", target="es")


async def test_secret_never_in_exception_or_log(aws_env, caplog):
    caplog.set_level(logging.DEBUG, logger="s2st_kit")
    with FakeTranslateServer(access_denied=True, throttle=1) as fake:
        tr = translator(fake)
        with pytest.raises(ConfigError) as info:
            await tr.translate("hello", source="en", target="es")
    texts = [str(info.value), repr(info.value), repr(tr), caplog.text]
    cause = info.value.__cause__
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__
    assert "throttled" in caplog.text
    for text in texts:
        assert FAKE_SECRET_ACCESS_KEY not in text and FAKE_SESSION_TOKEN not in text
        assert FAKE_ACCESS_KEY_ID not in text


async def test_pairs_static_and_refreshed(aws_env, fake):
    tr = translator(fake)
    pairs = tr.pairs()
    assert ("en", "es") in pairs and ("auto", "es") in pairs and ("en", "en") not in pairs
    assert {"en", "es", "zh-TW", "fr-CA"} <= TRANSLATE_LANGUAGES
    assert await tr.refresh_languages() == frozenset({"en", "es", "fr", "de"})
    assert ("de", "fr") in tr.pairs() and ("en", "ja") not in tr.pairs()


async def test_closed_translator_refuses_calls(aws_env, fake):
    tr = translator(fake)
    await tr.aclose()
    await tr.aclose()
    with pytest.raises(EngineError, match="closed"):
        await tr.translate("hello", source="en", target="es")


def test_factory_and_option_validation(aws_env):
    tr = create_translator(
        region="eu-west-1",
        formality="INFORMAL",
        engine="neural",
        endpoint_urls={"translate": "http://127.0.0.1:1"},
    )
    assert tr.formality == "INFORMAL" and tr._clients.endpoint_url == "http://127.0.0.1:1"
    with pytest.raises(ConfigError):
        AwsTranslator(formality="polite")  # type: ignore[arg-type]  # a bad value on purpose
    with pytest.raises(ConfigError):
        AwsTranslator(max_text_bytes=20_000)
    with pytest.raises(ConfigError, match="profile"):
        AwsTranslator(profile="no-such-profile")._clients.get()


def test_no_threads_left(aws_env):
    before = set(threading.enumerate())
    with FakeTranslateServer():
        pass
    assert {t for t in threading.enumerate() if t.is_alive()} <= before


# splitting ------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab cé日.!? \n")), max_size=300),
    st.integers(min_value=4, max_value=40),
)
def test_split_text_properties(text, limit):
    pieces = split_text(text, limit=limit, size=utf8_len)
    assert "".join(pieces) == text
    assert all(p and utf8_len(p) <= limit for p in pieces)


def test_split_sentences_keeps_everything():
    text = "Hi there. How are you?  Fine!\nOK 日本。終わり"
    parts = split_sentences(text)
    assert "".join(parts) == text
    assert parts[:3] == ["Hi there. ", "How are you?  ", "Fine!\n"]


# -- brevity (SupportsBrevity) ---------------------------------------------------------------


async def test_brief_translation_is_shorter_and_off_by_default(aws_env, fake):
    tr = translator(fake)
    assert isinstance(tr, SupportsBrevity)
    text = "Thank you for coming, the cat and the dog are at the end of the world."
    plain = await tr.translate(text, source="en", target="es")
    short = await tr.translate_brief(text, source="en", target="es")
    await tr.aclose()
    assert plain.text == "Gracias por venir, el gato y el perro are al el final of el mundo."
    assert short.text == "Gracias por venir, gato y perro are al final of mundo."
    assert len(short.text) < len(plain.text)
    assert (short.source, short.target, short.source_text) == ("en", "es", text)
    first, second = fake.translate_calls()
    assert "Settings" not in first  # off by default
    assert second["Settings"] == {"Brevity": "ON"}


@pytest.mark.parametrize(
    ("source", "target", "supported"),
    [
        ("en", "es", True),  # any source into fr / de / it / pt / es
        ("ja", "de", True),
        ("auto", "fr", True),
        ("en", "pt", True),
        ("es", "en", True),  # from those into English
        ("it", "en", True),
        ("en", "pt-PT", False),  # only the listed codes
        ("en", "es-MX", False),
        ("en", "ja", False),
        ("ja", "en", False),
        ("auto", "en", False),  # depends on the detected language
        ("es", "es", False),
        ("xx", "es", False),  # not a Translate language
    ],
)
async def test_brevity_supported_pairs(aws_env, fake, source, target, supported):
    assert translator(fake).brevity_supported(source, target) is supported


async def test_brevity_on_an_unsupported_pair_is_the_plain_translation(aws_env, fake):
    tr = translator(fake)
    plain = await tr.translate("hola the gato", source="es", target="en")
    short = await tr.translate_brief("hola the gato", source="es", target="en")
    assert (plain.text, short.text) == ("hello the cat", "hello cat")  # es -> en: supported
    # ja -> en is not supported: the setting is sent, and the service ignores it
    plain = await tr.translate("hola the cat", source="ja", target="en")
    short = await tr.translate_brief("hola the cat", source="ja", target="en")
    assert short.text == plain.text
    assert fake.translate_calls()[-1]["Settings"] == {"Brevity": "ON"}


async def test_brevity_option_still_shortens_every_call(aws_env, fake):
    tr = translator(fake, brevity="ON")
    out = await tr.translate("the cat and the dog", source="en", target="es")
    assert out.text == "gato y perro"
    assert fake.translate_calls()[0]["Settings"] == {"Brevity": "ON"}


async def test_brief_long_text_is_split_and_every_piece_asks(aws_env, fake):
    sentence = "The cat and the dog. "
    tr = translator(fake, max_text_bytes=50)
    out = await tr.translate_brief(sentence * 6, source="en", target="es")
    calls = fake.translate_calls()
    assert len(calls) > 1 and all(c["Settings"] == {"Brevity": "ON"} for c in calls)
    assert " el " not in f" {out.text.lower()} " and out.text.count("Gato y perro.") == 6
