"""Which voices a Polly synthesizer may use: engine, language, and the newscaster style."""

from __future__ import annotations

from dataclasses import dataclass

from ....errors import UnsupportedLanguageError, UnsupportedVoiceError
from ....records import Voice
from .catalogue import VoiceCatalogue, iso_language, preferred_order
from .features import ENGINES, PollyFeatures, newscaster_list, newscaster_voice, polly_features

__all__ = ["VoiceRules"]


@dataclass(frozen=True, slots=True)
class VoiceRules:
    """The voice checks of one synthesizer configuration (built per call: cheap).

    catalogue: the cached voice list. name: the engine name for messages. engine: the Polly
    engine. newscaster: only voices with the newscaster style qualify.
    """

    catalogue: VoiceCatalogue
    name: str
    engine: str
    newscaster: bool

    def voices(self, language: str | None = None) -> list[Voice]:
        """Voices usable with this synthesizer's engine (and, with ``newscaster``, having
        that style), optionally for ``language``."""
        found = self.catalogue.select(language, self.engine)
        if self.newscaster:
            found = [v for v in found if newscaster_voice(v.id) is not None]
        return found

    def default_voice(self, language: str) -> str:
        """A voice for ``language`` usable with this engine and style (preferring the main
        locale); raises UnsupportedLanguageError when there is none."""
        candidates = [
            v
            for v in self.voices(language)
            if v.language == iso_language(language) or "-" in language
        ]
        if not candidates and self.newscaster:
            raise UnsupportedLanguageError(
                f"{self.name}: no newscaster voice speaks {language!r}; the newscaster style "
                f"exists for {newscaster_list()} (engine 'neural')"
            )
        if not candidates:
            raise UnsupportedLanguageError(
                f"{self.name}: no {self.engine!r} voice speaks {language!r}; try another "
                f"engine ({', '.join(e for e in ENGINES if e != self.engine)}) or language"
            )
        return min(candidates, key=lambda v: preferred_order(v, language)).id

    def check_voice(self, voice: str, language: str | None = None) -> Voice:
        """The catalogue entry of ``voice``; raises UnsupportedVoiceError when the voice does
        not exist, does not support this engine, does not speak ``language``, or (with
        ``newscaster``) has no newscaster style — each message says what would work."""
        found = self.catalogue.find(voice)
        if found is None:
            some = ", ".join(v.id for v in self.voices(language)[:8]) or "none"
            raise UnsupportedVoiceError(
                f"{self.name}: there is no voice {voice!r}; voices for "
                f"{language or 'any language'} with engine {self.engine!r}: {some}"
            )
        if self.engine not in found.engines:
            raise UnsupportedVoiceError(
                f"{self.name}: voice {found.id!r} supports the {', '.join(found.engines)} "
                f"engine(s), not {self.engine!r}; choose engine= one of those or another voice"
            )
        if self.newscaster and newscaster_voice(found.id) is None:
            raise UnsupportedVoiceError(
                f"{self.name}: voice {found.id!r} has no newscaster style; the voices that "
                f"have it (engine 'neural'): {newscaster_list()}"
            )
        if language is not None and not self.catalogue.speaks(found, language):
            raise UnsupportedVoiceError(
                f"{self.name}: voice {found.id!r} speaks {found.locale}, not {language!r}; "
                f"default for {language!r} would be "
                f"{self._default_or_none(language) or 'none'}"
            )
        return found

    def _default_or_none(self, language: str) -> str | None:
        try:
            return self.default_voice(language)
        except UnsupportedLanguageError:
            return None

    def features(self, voice: str) -> PollyFeatures:
        """What ``voice`` can do with this engine (:func:`.features.polly_features`); all
        False when it does not exist or lacks the engine. Fetches the catalogue if needed
        (blocking: in async code ``await load_voices()`` first)."""
        found = self.catalogue.find(voice)
        if found is None or self.engine not in found.engines:
            return PollyFeatures(rate=False, pitch=False, newscaster=False, speech_marks=False)
        return polly_features(found.id, self.engine)
