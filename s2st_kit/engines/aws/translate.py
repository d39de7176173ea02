"""Amazon Translate (``TranslateText``) as a :class:`~s2st_kit.engines.protocols.Translator`.

One boto3 client per translator, created lazily and thread-safely on first use; every call
runs in a worker thread (``asyncio.to_thread``), never on the event loop. Text over the
service limit (10,000 UTF-8 bytes) is split at sentence boundaries (an over-long sentence
at whitespace, then by characters), translated piece by piece and joined. Throttling is
retried with exponential back-off and full jitter (:class:`~.errors.RetryPolicy`), then
raised as :class:`~s2st_kit.errors.ThrottledError`.

Shorter translations (:class:`~s2st_kit.engines.protocols.SupportsBrevity`):
:meth:`AwsTranslator.translate_brief` sends ``Settings={"Brevity": "ON"}`` for one call;
:data:`BREVITY_LANGUAGES` says for which pairs the service honours it, and where that is
documented. Off by default (the ``brevity="ON"`` option turns it on for every call).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any, Literal

from ...errors import ConfigError, EngineError, UnsupportedLanguageError
from ...records import Translation
from ._text import split_text, utf8_len
from .errors import RetryPolicy, call_with_retry, require_boto3
from .session import ClientFactory

__all__ = [
    "BREVITY_LANGUAGES",
    "MAX_TEXT_BYTES",
    "TRANSLATE_LANGUAGES",
    "AwsTranslator",
    "create_translator",
]

logger = logging.getLogger(__name__)

#: TranslateText accepts at most this many UTF-8 bytes of text per request.
MAX_TEXT_BYTES = 10_000

#: Language codes Amazon Translate supports, as source and as target (any pair of two
#: different codes works; "auto" is accepted as source only).
#: Source: Amazon Translate Developer Guide, "Supported languages and language codes"
#: (https://docs.aws.amazon.com/translate/latest/dg/what-is-languages.html), as of 2024-06.
#: ``await translator.refresh_languages()`` replaces it with the live ``ListLanguages``.
TRANSLATE_LANGUAGES: frozenset[str] = frozenset(
    """
    af sq am ar hy az bn bs bg ca zh zh-TW hr cs da fa-AF nl en et fa tl fi fr fr-CA ka de
    el gu ht ha he hi hu is id ga it ja kn kk ko lv lt mk ms ml mt mr mn no ps pl pt pt-PT
    pa ro ru sr si sk sl so es es-MX sw sv ta te th tr uk ur uz vi cy
    """.split()
)

#: Brevity (``Settings={"Brevity": "ON"}``, TranslateText only) shortens translations
#: from any source language into one of these, and from one of these into English:
#: French ``fr``, German ``de``, Italian ``it``, Portuguese (Brazil) ``pt`` and Spanish ``es``
#: (exactly these codes: ``pt-PT``, ``es-MX``, ``fr-CA`` are not listed). On another pair
#: "the translation proceeds with the brevity setting turned off" (no error).
#: Sources: Amazon Translate Developer Guide, "Using brevity in Amazon Translate", section
#: "Supported languages" (the table read in the page's ja / zh-CN / zh-TW editions, whose
#: text around it matches the English page):
#: https://docs.aws.amazon.com/translate/latest/dg/customizing-translations-brevity.html
#: and the API reference, TranslationSettings:
#: https://docs.aws.amazon.com/translate/latest/dg/API_TranslationSettings.html
BREVITY_LANGUAGES: frozenset[str] = frozenset({"fr", "de", "it", "pt", "es"})

_NO_SPACE_JOIN = frozenset({"zh", "zh-TW", "ja", "th"})

Formality = Literal["FORMAL", "INFORMAL"]
_PERMISSION_HINT = (
    "With source='auto' Translate also calls Amazon Comprehend: grant "
    "'comprehend:DetectDominantLanguage' as well. Terminologies need the identity to be "
    "allowed translate:TranslateText on them."
)


class AwsTranslator:
    """Amazon Translate.

    region / profile: AWS region and named profile (default: the standard chain).
    endpoint_url: override the service endpoint (VPC endpoint, a local fake).
    terminology_names: custom terminologies applied to every request.
    formality: ``"FORMAL"`` / ``"INFORMAL"`` for target languages that support it.
    profanity: ``"MASK"`` to mask profane words.
    brevity: ``"ON"`` to shorten every translation (some pairs: :data:`BREVITY_LANGUAGES`);
        by default off, and :meth:`translate_brief` asks for it one call at a time.
    max_attempts / backoff_base_s / backoff_cap_s: throttling retry (5 calls, 0.1 s, 5 s).
    connect_timeout_s / read_timeout_s: socket timeouts per call (s; 5 and 15).
    max_text_bytes: split threshold in UTF-8 bytes (default and maximum 10,000).
    """

    name = "aws-translate"

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        terminology_names: Iterable[str] = (),
        formality: Formality | None = None,
        profanity: Literal["MASK"] | None = None,
        brevity: Literal["ON"] | None = None,
        max_attempts: int = 5,
        backoff_base_s: float = 0.1,
        backoff_cap_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 15.0,
        max_text_bytes: int = MAX_TEXT_BYTES,
        retry: RetryPolicy | None = None,
    ) -> None:
        require_boto3()
        if formality is not None and formality not in ("FORMAL", "INFORMAL"):
            raise ConfigError(f"formality must be 'FORMAL' or 'INFORMAL', got {formality!r}")
        if profanity is not None and profanity != "MASK":
            raise ConfigError(f"profanity must be 'MASK' or None, got {profanity!r}")
        if brevity is not None and brevity != "ON":
            raise ConfigError(f"brevity must be 'ON' or None, got {brevity!r}")
        if not 1 <= max_text_bytes <= MAX_TEXT_BYTES:
            raise ConfigError(f"max_text_bytes must be 1-{MAX_TEXT_BYTES}, got {max_text_bytes}")
        if isinstance(terminology_names, str):
            terminology_names = [terminology_names]
        self.terminology_names = tuple(terminology_names)
        self.formality = formality
        self.profanity = profanity
        self.brevity = brevity
        self.max_text_bytes = max_text_bytes
        self.retry = retry or RetryPolicy(
            max_attempts=max_attempts, base_s=backoff_base_s, cap_s=backoff_cap_s
        )
        self._clients = ClientFactory(
            "translate",
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
        )
        self._languages = TRANSLATE_LANGUAGES
        self._closed = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"AwsTranslator(region={self._clients.region!r}, profile={self._clients.profile!r}, "
            f"endpoint_url={self._clients.endpoint_url!r})"
        )

    # capabilities ---------------------------------------------------------------------------
    def languages(self) -> frozenset[str]:
        """Codes usable as source or target (static table unless refreshed)."""
        return self._languages

    def pairs(self) -> frozenset[tuple[str, str]]:
        """Every (source, target) of two different supported codes, plus ("auto", target)."""
        langs = self._languages
        pairs = {(s, t) for s in langs for t in langs if s != t}
        pairs |= {("auto", t) for t in langs}
        return frozenset(pairs)

    async def refresh_languages(self) -> frozenset[str]:
        """Replace the static table with the service's ``ListLanguages`` (paginated)."""

        def call() -> frozenset[str]:
            client = self._clients.get()
            codes: set[str] = set()
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"MaxResults": 500}
                if token:
                    kwargs["NextToken"] = token
                response = client.list_languages(**kwargs)
                codes.update(lang["LanguageCode"] for lang in response.get("Languages", []))
                token = response.get("NextToken")
                if not token:
                    return frozenset(codes)

        self._check_open()
        codes = await call_with_retry(
            call,
            policy=self.retry,
            engine=self.name,
            operation="ListLanguages",
            permission="translate:ListLanguages",
        )
        if codes:
            self._languages = codes
        return self._languages

    def brevity_supported(self, source: str, target: str) -> bool:
        """True when Amazon Translate shortens ``source`` -> ``target`` with brevity: into one
        of :data:`BREVITY_LANGUAGES` from any language (``"auto"`` included), or from one of
        them into ``"en"``. ``"auto"`` -> ``"en"`` is False (it depends on what is detected,
        though :meth:`translate_brief` still asks)."""
        langs = self._languages
        if source == target or target not in langs or source not in langs | {"auto"}:
            return False
        return target in BREVITY_LANGUAGES or (source in BREVITY_LANGUAGES and target == "en")

    # translation ----------------------------------------------------------------------------
    async def translate(self, text: str, *, source: str, target: str) -> Translation:
        """Translate ``text`` from ``source`` (ISO code or ``"auto"``) to ``target``.

        Raises UnsupportedLanguageError (before any call) for a pair outside :meth:`pairs`,
        ThrottledError after the retries, and the other mapped errors of :mod:`.errors`.
        """
        return await self._translate(text, source, target, brief=self.brevity == "ON")

    async def translate_brief(self, text: str, *, source: str, target: str) -> Translation:
        """:meth:`translate` with ``Settings={"Brevity": "ON"}`` (a shorter translation
        where :meth:`brevity_supported`; on other pairs the service ignores it and the
        translation is the ordinary one). Same errors as :meth:`translate`."""
        return await self._translate(text, source, target, brief=True)

    async def _translate(self, text: str, source: str, target: str, *, brief: bool) -> Translation:
        self._check_open()
        if source != "auto" and source not in self._languages:
            raise UnsupportedLanguageError(
                f"{self.name}: source language {source!r} is not supported; choose one of "
                f"{', '.join(sorted(self._languages))} or 'auto'"
            )
        if target not in self._languages or target == source:
            raise UnsupportedLanguageError(
                f"{self.name}: cannot translate {source!r} -> {target!r}; targets are "
                f"{', '.join(sorted(self._languages))} (different from the source)"
            )
        if not text.strip():
            return Translation("", text, source, target, engine=self.name)
        pieces = split_text(text, limit=self.max_text_bytes, size=utf8_len)
        if len(pieces) > 1:
            logger.debug(
                "%s: %d bytes split into %d requests", self.name, utf8_len(text), len(pieces)
            )
        translated: list[str] = []
        detected: str | None = None
        for piece in pieces:
            if not piece.strip():
                continue
            response = await self._translate_one(piece.strip(), source, target, brief)
            translated.append(response.get("TranslatedText", ""))
            if source == "auto" and detected is None:
                detected = response.get("SourceLanguageCode")
        joiner = "" if target in _NO_SPACE_JOIN else " "
        return Translation(
            joiner.join(translated),
            text,
            source,
            target,
            engine=self.name,
            detected_source=detected,
        )

    async def _translate_one(
        self, text: str, source: str, target: str, brief: bool
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "Text": text,
            "SourceLanguageCode": source,
            "TargetLanguageCode": target,
        }
        if self.terminology_names:
            kwargs["TerminologyNames"] = list(self.terminology_names)
        settings = {
            k: v
            for k, v in (
                ("Formality", self.formality),
                ("Profanity", self.profanity),
                ("Brevity", "ON" if brief else None),
            )
            if v is not None
        }
        if settings:
            kwargs["Settings"] = settings

        def call() -> dict[str, Any]:
            response: dict[str, Any] = self._clients.get().translate_text(**kwargs)
            return response

        return await call_with_retry(
            call,
            policy=self.retry,
            engine=self.name,
            operation="TranslateText",
            permission="translate:TranslateText",
            extra_permissions=_PERMISSION_HINT,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise EngineError(f"{self.name}: the translator is closed", engine=self.name)

    async def aclose(self) -> None:
        """Close the client's connections. Idempotent; a closed translator refuses calls."""
        self._closed = True
        self._clients.close()


def create_translator(**options: Any) -> AwsTranslator:
    """Registry factory: ``AwsTranslator(**options)``.

    Accepts the shared AWS bundle options (see :func:`.session.options_for`): region,
    profile, ``endpoint_urls={"translate": url}`` or ``endpoint_url``, and the keyword
    options of :class:`AwsTranslator`; options of the other AWS stages are ignored.
    """
    from .session import options_for

    return AwsTranslator(**options_for("translate", options))
