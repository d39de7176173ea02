"""Amazon Transcribe streaming as a :class:`~s2st_kit.engines.protocols.Recognizer`.

:class:`AwsTranscribeRecognizer` is the engine: settings, a backend, and ``stream()``,
which starts one :class:`~.stream.TranscribeStream` per session. The engine keeps no
session state, so one recognizer serves any number of sessions (the notebook reuses one).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import weakref
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any

from ....errors import EngineError
from ....records import AudioChunk
from ..session import options_for
from .adapter import AmazonTranscribeBackend
from .backend import StreamingBackend
from .settings import DEFAULT_LOCALES, TranscribeSettings, iso_of
from .stream import TranscribeStream

if TYPE_CHECKING:
    from ....config import PipelineConfig

__all__ = ["AwsTranscribeRecognizer", "create_recognizer"]

logger = logging.getLogger(__name__)


class AwsTranscribeRecognizer:
    """Amazon Transcribe streaming recognizer (name ``"aws-transcribe"``).

    settings: every stream option (:class:`~.settings.TranscribeSettings`: language,
        identification, sample rate, chunk size, vocabularies, redaction, keep-alive,
        renewal, reconnects...). The same options may be given as keyword arguments
        (``AwsTranscribeRecognizer(language_code="en-GB", chunk_ms=50)``); they override
        ``settings``. ``stability`` is an alias of ``partial_results_stability``.
    region / profile / endpoint_url / ca_bundle / connect_timeout_s / send_timeout_s:
        the connection (:class:`~.adapter.AmazonTranscribeBackend`; timeouts in s,
        default 10 and 5).
    backend: another :class:`~.backend.StreamingBackend` instead of that one.

    Language (per session, from ``stream(..., language=)``): an ISO code (``"en"`` ->
    :data:`~.settings.DEFAULT_LOCALES`), a locale (``"en-GB"``) or ``"auto"``; a configured
    ``language_code`` or language identification overrides it.

    ``stream()`` returns a :class:`~.stream.TranscribeStream`, whose ``stats`` and
    ``language_code_of()`` are that session's. :attr:`stats` and :meth:`language_code_of`
    here show the most recently started session only.
    """

    name = "aws-transcribe"

    def __init__(
        self,
        *,
        settings: TranscribeSettings | None = None,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        connect_timeout_s: float = 10.0,
        send_timeout_s: float = 5.0,
        backend: StreamingBackend | None = None,
        **setting_options: Any,
    ) -> None:
        if settings is None:
            settings = TranscribeSettings.from_options(**setting_options)
        elif setting_options:
            given = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
            settings = TranscribeSettings.from_options(**{**given, **setting_options})
        #: The settings given to the constructor (``configure()`` derives ``settings``).
        self.base_settings = settings
        self.settings = settings
        for note in settings.notes():
            logger.info("%s: %s", self.name, note)
        self._backend: StreamingBackend = backend or AmazonTranscribeBackend(
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            ca_bundle=ca_bundle,
            connect_timeout_s=connect_timeout_s,
            send_timeout_s=send_timeout_s,
        )
        self._active: weakref.WeakSet[TranscribeStream] = weakref.WeakSet()  # to stop on aclose
        self._latest: TranscribeStream | None = None  # for the read-only stats below
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"AwsTranscribeRecognizer(sample_rate={self.sample_rate}, chunk_ms={self.chunk_ms}, "
            f"backend={self._backend!r})"
        )

    @property
    def sample_rate(self) -> int:
        """The PCM rate sent (Hz): ``settings.media_sample_rate_hz``."""
        return self.settings.media_sample_rate_hz

    @property
    def chunk_ms(self) -> int:
        """Audio event size (ms)."""
        return self.settings.chunk_ms

    def configure(self, config: PipelineConfig) -> None:
        """Adopt a session's ``chunk_ms`` and ``stability`` (the pipeline calls this before
        it starts). A stability given to the constructor wins over the config's."""
        base = self.base_settings
        self.settings = dataclasses.replace(
            base,
            chunk_ms=int(config.chunk_ms),
            partial_results_stability=base.partial_results_stability or config.stability,
        )
        for note in self.settings.notes():
            logger.info("%s: %s", self.name, note)

    # capabilities -------------------------------------------------------------------------
    def languages(self) -> frozenset[str]:
        """ISO codes with a default streaming locale, plus ``"auto"`` when language_options
        (>= 2) are configured."""
        codes = set(DEFAULT_LOCALES)
        if self.settings.can_identify:
            codes.add("auto")
        if self.settings.language_code:
            codes.add(iso_of(self.settings.language_code))
        return frozenset(codes)

    @property
    def stats(self) -> dict[str, float]:
        """Counters of the most recently started session (``{}`` before any): streams
        opened, reconnects, audio too old to re-send (s). Each session's own counters are
        ``TranscribeStream.stats``."""
        return self._latest.stats if self._latest is not None else {}

    def language_code_of(self, utterance_id: int) -> str | None:
        """The full locale (``"en-US"``) of a recent utterance of the most recently started
        session (use ``TranscribeStream.language_code_of`` when sessions overlap)."""
        latest = self._latest
        return latest.language_code_of(utterance_id) if latest is not None else None

    # streaming ----------------------------------------------------------------------------
    def stream(self, chunks: AsyncIterable[AudioChunk], *, language: str) -> TranscribeStream:
        """Recognise ``chunks``: a new session yielding partial and final transcripts.

        Raises ConfigError / UnsupportedLanguageError for a language these settings cannot
        serve, EngineError once the recognizer is closed.
        """
        if self._closed:
            raise EngineError(f"{self.name}: the recognizer is closed", engine=self.name)
        session = TranscribeStream(
            chunks,
            settings=self.settings.for_language(language),
            backend=self._backend,
            name=self.name,
            on_done=self._active.discard,
        )
        self._active.add(session)
        self._latest = session
        return session

    async def aclose(self) -> None:
        """Stop running sessions and release the backend. Idempotent."""
        self._closed = True
        for session in list(self._active):
            await session.stop()
        self._active.clear()
        await self._backend.aclose()


def create_recognizer(**options: Any) -> AwsTranscribeRecognizer:
    """Registry factory: ``AwsTranscribeRecognizer(**options)``.

    Accepts the shared AWS bundle options (see :func:`..session.options_for`): region,
    profile, ``endpoint_urls={"transcribe": url}`` or ``endpoint_url``, and the keyword
    options of :class:`AwsTranscribeRecognizer`; options of the other AWS stages are ignored.
    """
    return AwsTranscribeRecognizer(**options_for("transcribe", options))
