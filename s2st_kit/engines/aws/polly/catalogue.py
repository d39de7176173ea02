"""Polly's voice catalogue (``DescribeVoices``, every page, cached) and default voices."""

from __future__ import annotations

import threading
from typing import Any

from ....records import Voice
from ..errors import map_boto_error
from ..session import ClientFactory

__all__ = ["VoiceCatalogue", "iso_language", "preferred_order"]

# Polly locale prefixes that are not ISO 639-1 codes.
_ISO_OF_PREFIX = {"cmn": "zh", "yue": "zh", "arb": "ar", "nb": "no", "fil": "tl"}
# Well-known voices default_voice() prefers when they support the engine.
_PREFERRED_VOICES = frozenset(
    {
        "Joanna",
        "Lucia",
        "Lupe",
        "Lea",
        "Vicki",
        "Bianca",
        "Camila",
        "Kazuha",
        "Zhiyu",
        "Seoyeon",
        "Laura",
        "Hala",
    }
)
# Locale tried first by default_voice() for a language.
_PREFERRED_LOCALE = {
    "en": "en-US",
    "es": "es-ES",
    "fr": "fr-FR",
    "de": "de-DE",
    "pt": "pt-BR",
    "it": "it-IT",
    "ja": "ja-JP",
    "zh": "cmn-CN",
    "ar": "arb",
    "nl": "nl-NL",
    "ko": "ko-KR",
}


def iso_language(locale: str) -> str:
    """ISO 639-1 code of a Polly locale (``"es-US"`` -> ``"es"``, ``"cmn-CN"`` -> ``"zh"``)."""
    prefix = locale.split("-")[0].lower()
    return _ISO_OF_PREFIX.get(prefix, prefix)


def preferred_order(voice: Voice, language: str) -> tuple[bool, bool, bool, str]:
    """Sort key of default-voice candidates for ``language``: the main locale first, then
    well-known voices, then female voices, then by id."""
    return (
        voice.locale != _PREFERRED_LOCALE.get(language),
        voice.id not in _PREFERRED_VOICES,
        voice.gender != "Female",
        voice.id,
    )


class VoiceCatalogue:
    """Polly's voices from ``DescribeVoices`` (every page), fetched once and cached.

    Thread-safe; :meth:`fetch` blocks (call it from a worker thread). ``name`` is the
    engine name used in error messages.
    """

    def __init__(self, clients: ClientFactory, name: str) -> None:
        self._clients = clients
        self._name = name
        self._lock = threading.Lock()
        self._voices: list[Voice] | None = None
        self._additional: dict[str, tuple[str, ...]] = {}  # voice id -> more locales

    @property
    def loaded(self) -> bool:
        return self._voices is not None

    def fetch(self, *, refresh: bool = False) -> list[Voice]:
        """Blocking: every voice (sorted by language, locale, id), from the cache if loaded."""
        with self._lock:
            if self._voices is not None and not refresh:
                return self._voices
            try:
                voices, additional = self._describe_all()
            except Exception as exc:
                raise map_boto_error(
                    exc,
                    engine=self._name,
                    operation="DescribeVoices",
                    permission="polly:DescribeVoices",
                ) from exc
            voices.sort(key=lambda v: (v.language, v.locale or "", v.id))
            self._voices, self._additional = voices, additional
            return voices

    def _describe_all(self) -> tuple[list[Voice], dict[str, tuple[str, ...]]]:
        client = self._clients.get()
        voices: list[Voice] = []
        additional: dict[str, tuple[str, ...]] = {}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"IncludeAdditionalLanguageCodes": True}
            if token:
                kwargs["NextToken"] = token
            response = client.describe_voices(**kwargs)
            for v in response.get("Voices", []):
                locale = v.get("LanguageCode", "")
                voices.append(
                    Voice(
                        id=v["Id"],
                        name=v.get("Name", v["Id"]),
                        language=iso_language(locale),
                        locale=locale or None,
                        gender=v.get("Gender"),
                        engines=tuple(v.get("SupportedEngines", ())),
                    )
                )
                additional[v["Id"]] = tuple(v.get("AdditionalLanguageCodes", ()))
            token = response.get("NextToken")
            if not token:
                return voices, additional

    def additional_locales(self, voice_id: str) -> tuple[str, ...]:
        """Locales the voice speaks besides its own (``AdditionalLanguageCodes``)."""
        return self._additional.get(voice_id, ())

    def speaks(self, voice: Voice, language: str) -> bool:
        """True when ``voice`` speaks ``language`` (ISO code, or a locale like ``"es-US"``)."""
        extra = self.additional_locales(voice.id)
        if "-" in language:
            return language.lower() in (c.lower() for c in (voice.locale or "", *extra))
        return language.lower() in {voice.language, *(iso_language(c) for c in extra)}

    def select(self, language: str | None = None, engine: str | None = None) -> list[Voice]:
        """The voices speaking ``language`` and supporting ``engine`` (None: any)."""
        return [
            v
            for v in self.fetch()
            if (engine is None or engine in v.engines)
            and (language is None or self.speaks(v, language))
        ]

    def find(self, voice_id: str) -> Voice | None:
        """The voice named ``voice_id`` (case-insensitive), or None."""
        return next((v for v in self.fetch() if v.id.lower() == voice_id.lower()), None)
