"""Streaming speech synthesis with eSpeak NG, loaded from the ``espeakng-loader`` wheel.

The wheel ships ``libespeak-ng.so`` and its data directory, so no system package is needed.
The library is driven through ctypes in synchronous mode (``AUDIO_OUTPUT_SYNCHRONOUS``):
``espeak_Synth`` calls our ``SynthCallback`` with ~50 ms blocks of 16-bit mono samples
while it synthesises, and each block is handed to the awaiting coroutine at once through
the project's one thread → loop hand-off (:class:`s2st_kit.bridge.ThreadChannel`, bounded:
back-pressure on the thread) — the first chunk arrives long before the sentence is done.

eSpeak NG keeps global state (one voice, one set of parameters per process), so exactly
ONE thread owns the library and makes every call into it: loading the library, listing
the voices, synthesising. Synthesizer instances in one process share that owner
(reference counted); each instance applies its own voice, rate and pitch before each
synthesis. The last ``aclose()`` terminates the library and ends the thread.

Construction never waits for that thread (it is cheap enough for a widget callback on the
event loop): ``await synth.load()`` (:class:`~s2st_kit.engines.protocols.SupportsLoad`,
called by the pipeline before the session starts) or ``await synth.load_voices()`` waits
for the library without blocking the loop; the first synthesis waits for it too. The
synchronous queries ``voices()`` / ``default_voice()`` wait for it (~15 ms, once) when
called before that — fine in a worker thread (the pipeline's ``validate()``), a script or a
notebook cell; code on a busy loop awaits ``load()`` first.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import importlib
import importlib.util
import logging
import math
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from ...bridge import ThreadChannel, executor
from ...errors import (
    ConfigError,
    EngineError,
    EngineNotInstalledError,
    PipelineStateError,
    UnsupportedLanguageError,
    UnsupportedVoiceError,
)
from ...records import AudioChunk, Voice, WordMark

__all__ = ["ESpeakSynthesizer", "create_synthesizer"]

logger = logging.getLogger(__name__)

_INSTALL = "pip install 's2st_kit[offline]' (or: pip install espeakng-loader)"

# espeak_AUDIO_OUTPUT / flags / parameters from speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
#: espeakRATE_MINIMUM / espeakRATE_MAXIMUM of speak_lib.h: the rates (words per minute)
#: espeak_SetParameter(espeakRATE) accepts; the default is espeakRATE_NORMAL, 175.
_MIN_RATE, _MAX_RATE = 80, 450
_BUFFER_MS = 50  # size of the blocks the callback receives (ms)
_SAMPLE_RATE = 22050  # eSpeak NG's output rate (Hz); espeak_Initialize confirms it

#: espeak_EVENT_TYPE values of speak_lib.h used here.
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1


class _EspeakEvent(ctypes.Structure):
    """espeak_EVENT of speak_lib.h (eSpeak NG 1.51+): one synthesis event.

    For espeakEVENT_WORD: ``text_position`` is the word's first character (1-based, in
    characters of the text given to espeak_Synth), ``length`` its length in characters and
    ``audio_position`` the time (ms) in this synthesis's output where the word starts.
    """

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # union { int number; const char *name; char string[8]; }
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)

#: espeak language codes without an ISO 639-1 form that have a close one.
_LANG_ALIASES = {"cmn": "zh", "yue": "zh"}
#: preferred default voice per language (otherwise the voice named like the language).
_DEFAULTS = {"en": "en-US", "pt": "pt-BR", "zh": "cmn", "es": "es", "fr": "fr", "de": "de"}
#: female variants (espeak-ng-data/voices/!v) listed with every voice as ``"<id>+f3"``: the
#: library's own voices are nearly all male (Spanish: "es" and "es-419", both male).
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4")


def _with_variants(voices: list[Voice]) -> list[Voice]:
    """``voices`` followed by each one's :data:`FEMALE_VARIANTS` (``"es+f3"``, female)."""
    variants = [
        Voice(id=f"{v.id}+{f}", name=f"{v.name}, female variant {f}", language=v.language,
              locale=v.locale, gender="female", engines=v.engines)
        for v in voices for f in FEMALE_VARIANTS
    ]  # fmt: skip
    return [*voices, *variants]


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def _load_library() -> tuple[Any, str]:
    try:
        loader = importlib.import_module("espeakng_loader")
    except ImportError as exc:
        raise EngineNotInstalledError(
            f"the eSpeak NG synthesizer needs espeakng-loader: {exc}. To install: {_INSTALL}"
        ) from exc
    try:
        lib = ctypes.CDLL(loader.get_library_path())
        data = loader.get_data_path()
    except (OSError, RuntimeError) as exc:
        raise EngineNotInstalledError(
            f"espeakng-loader is installed but libespeak-ng cannot be loaded: {exc}. "
            f"Reinstall: {_INSTALL}"
        ) from exc
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_Terminate.restype = ctypes.c_int
    lib.espeak_Terminate.argtypes = []
    return lib, data


def _parse_languages(ptr: int | None) -> list[str]:
    """espeak_VOICE.languages: (priority byte, NUL-terminated tag)*, then a 0 byte."""
    tags: list[str] = []
    if not ptr:
        return tags
    offset = 0
    while True:
        priority = ctypes.c_ubyte.from_address(ptr + offset).value
        if priority == 0:
            break
        tag = ctypes.string_at(ptr + offset + 1).decode("utf-8", "replace")
        tags.append(tag)
        offset += 1 + len(tag.encode()) + 1
    return tags


def _locale(tag: str) -> str:
    parts = tag.split("-")
    return "-".join([parts[0], *[p.upper() if len(p) == 2 else p for p in parts[1:]]])


def _list_voices(lib: Any) -> list[Voice]:
    """The library's voices (``espeak_ListVoices``; MBROLA voices left out)."""
    voices: list[Voice] = []
    array = lib.espeak_ListVoices(None)
    i = 0
    while array[i]:
        v = array[i].contents
        i += 1
        tags = _parse_languages(v.languages)
        ident = (v.identifier or b"").decode("utf-8", "replace")
        if not tags or not ident or ident.startswith("mb/"):
            continue
        primary = tags[0].split("-")[0].lower()
        voices.append(
            Voice(
                id=ident.rsplit("/", 1)[-1],
                name=(v.name or b"").decode("utf-8", "replace"),
                language=_LANG_ALIASES.get(primary, primary),
                locale=_locale(tags[0]),
                gender={1: "male", 2: "female"}.get(v.gender),
                engines=("espeak-ng",),
            )
        )
    return voices


#: what the eSpeak thread hands to the awaiting coroutine: a block of PCM, a word mark (only
#: when asked for), the error that ended the synthesis, or None at the end of the utterance.
_Item = bytes | WordMark | BaseException | None


def _word_marks(events: Any, text: str) -> list[WordMark]:
    """The word events of one callback's event list (terminated by espeakEVENT_LIST_TERMINATED)
    as marks: start (s) from ``audio_position``; the text and span from ``text_position`` /
    ``length`` (characters, 1-based) in ``text``. eSpeak gives no word end (``end_s`` None)."""
    marks: list[WordMark] = []
    if not events:
        return marks
    i = 0
    while (event := events[i]).type != _EVENT_LIST_TERMINATED:
        i += 1
        if event.type != _EVENT_WORD:
            continue
        first = max(event.text_position - 1, 0)
        last = min(first + max(event.length, 0), len(text))
        word = text[first:last].strip()
        if word:
            marks.append(WordMark(word, event.audio_position / 1000.0, None, first, last))
    return marks


@dataclass(slots=True)
class _Settings:
    voice: str
    rate: int
    pitch: int


@dataclass(slots=True)
class _Job:
    """The synthesis in progress: where its items go, its text, whether to report words."""

    channel: ThreadChannel[_Item]
    text: str
    marks: bool


class _ESpeakHost:
    """The one owner of libespeak-ng in this process: a thread plus the loaded library.

    Construction starts loading the library in that thread and returns at once;
    :meth:`ready` (async) and :meth:`wait_ready` (blocking) wait for it.
    """

    def __init__(self) -> None:
        self.lib: Any = None
        self.sample_rate = _SAMPLE_RATE
        self.voices: list[Voice] = []
        self.refs = 0
        self._initialized = False
        self._callback = _CALLBACK(self._on_audio)  # kept alive as long as the host
        self._job: _Job | None = None
        self._current: _Settings | None = None
        self._executor = executor("espeak")
        self._loaded = self._executor.submit(self._initialize)

    @property
    def failed(self) -> bool:
        """True when loading the library failed (a new host is needed)."""
        return self._loaded.done() and self._loaded.exception() is not None

    async def ready(self) -> None:
        """Wait without blocking the loop until the library is loaded (raises its error)."""
        # shield: a cancelled waiter must not cancel the shared initialisation.
        await asyncio.shield(asyncio.wrap_future(self._loaded))

    def wait_ready(self) -> None:
        """Block until the library is loaded (worker threads, scripts); raises its error."""
        self._loaded.result()

    # -- in the eSpeak thread ---------------------------------------------------------
    def _initialize(self) -> None:
        self.lib, data_path = _load_library()
        rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path.encode(), _INIT_DONT_EXIT
        )
        if rate <= 0:
            raise EngineNotInstalledError(
                f"eSpeak NG failed to initialise (data in {data_path}); reinstall: {_INSTALL}"
            )
        self._initialized = True
        self.lib.espeak_SetSynthCallback(self._callback)
        self.voices = _list_voices(self.lib)
        self.sample_rate = int(rate)

    def _on_audio(self, wav: Any, n_samples: int, events: Any) -> int:
        job = self._job
        if job is None or job.channel.closed:
            return 1  # abort synthesis
        channel = job.channel
        if wav and n_samples > 0 and not channel.put(ctypes.string_at(wav, n_samples * 2)):
            return 1
        if job.marks:
            for mark in _word_marks(events, job.text):
                if not channel.put(mark):
                    return 1
        return 0

    def _apply(self, settings: _Settings) -> None:
        if self._current == settings:
            return
        if self.lib.espeak_SetVoiceByName(settings.voice.encode()) != 0:
            raise UnsupportedVoiceError(f"eSpeak NG could not load voice {settings.voice!r}")
        self.lib.espeak_SetParameter(_PARAM_RATE, settings.rate, 0)
        self.lib.espeak_SetParameter(_PARAM_PITCH, settings.pitch, 0)
        self._current = _Settings(settings.voice, settings.rate, settings.pitch)

    def _synthesize(self, settings: _Settings, job: _Job) -> None:
        channel = job.channel
        try:
            self._apply(settings)
            data = job.text.encode("utf-8") + b"\0"
            self._job = job
            try:
                err = self.lib.espeak_Synth(
                    data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
                )
            finally:
                self._job = None
            if err != 0 and not channel.closed:
                raise EngineError(f"espeak_Synth failed with code {err}", engine="espeak-ng")
            channel.put(None)
        except BaseException as exc:  # handed to the awaiting coroutine, which raises it
            channel.put(exc)

    def _terminate(self) -> None:
        if self._initialized:
            self.lib.espeak_Terminate()

    # -- from any thread -----------------------------------------------------------------
    def submit(self, settings: _Settings, job: _Job) -> concurrent.futures.Future[None]:
        return self._executor.submit(self._synthesize, settings, job)

    def shutdown(self) -> None:
        """(Blocking.) Terminate the library in its thread and end the thread."""
        try:
            self._executor.submit(self._terminate).result()
        finally:
            self._executor.shutdown(wait=True)


_host_lock = threading.Lock()
_host: _ESpeakHost | None = None


def _acquire_host() -> _ESpeakHost:
    """The process's host (created, loading in its thread, when there is none); never waits."""
    global _host
    with _host_lock:
        if _host is None or _host.failed:  # a failed load is retried by the next instance
            _host = _ESpeakHost()
        _host.refs += 1
        return _host


def _release_host(host: _ESpeakHost) -> None:
    """(Blocking.) Drop one reference; the last one terminates the library and its thread."""
    global _host
    with _host_lock:
        host.refs -= 1
        if host.refs > 0:
            return
        if _host is host:
            _host = None
    host.shutdown()


class ESpeakSynthesizer:
    """eSpeak NG text-to-speech, streaming 16-bit mono PCM at :attr:`sample_rate` (22050 Hz).

    Options (keyword-only):
        voice: default voice id (e.g. ``"en-US"``, ``"es"``, ``"es-419"``, ``"fr"``,
            optionally with a variant: ``"en-US+f3"``); ``None`` picks one per language.
            Checked by :meth:`load` (UnsupportedVoiceError), once the library is loaded.
        rate: speaking rate in words per minute (80-450, default 175); :meth:`synthesize_at`
            multiplies it (:class:`~s2st_kit.engines.protocols.SupportsRate`).
        pitch: base pitch 0-100 (default 50).
        max_queued_chunks: blocks (~50 ms each) synthesised ahead of the consumer before
            the eSpeak thread waits (default 32).

    Construction returns at once: the library loads in the eSpeak thread. ``await load()``
    waits for it without blocking the loop (see the module docstring).
    """

    name = "espeak-ng"

    def __init__(
        self,
        *,
        voice: str | None = None,
        rate: int = 175,
        pitch: int = 50,
        max_queued_chunks: int = 32,
    ) -> None:
        if not _MIN_RATE <= rate <= _MAX_RATE:
            raise ConfigError(f"rate must be {_MIN_RATE}-{_MAX_RATE} words per minute, got {rate}")
        if not 0 <= pitch <= 100:
            raise ConfigError(f"pitch must be 0-100, got {pitch}")
        if max_queued_chunks < 1:
            raise ConfigError(f"max_queued_chunks must be >= 1, got {max_queued_chunks}")
        if importlib.util.find_spec("espeakng_loader") is None:
            raise EngineNotInstalledError(
                f"the eSpeak NG synthesizer needs espeakng-loader. To install: {_INSTALL}"
            )
        self.rate = rate
        self.pitch = pitch
        self.max_queued_chunks = max_queued_chunks
        self.voice = voice
        self.sample_rate: int = _SAMPLE_RATE
        self._voices: list[Voice] | None = None  # the library's, once loaded
        self._ids: dict[str, Voice] = {}
        self._host: _ESpeakHost | None = _acquire_host()

    # -- loading --------------------------------------------------------------------------
    async def load(self) -> None:
        """Wait (without blocking the loop) for the library; check the ``voice`` option.

        Raises EngineNotInstalledError when the library cannot be loaded and
        UnsupportedVoiceError when the instance's ``voice`` does not exist. Idempotent.
        """
        host = self._open_host()
        await host.ready()
        self._adopt(host)
        if self.voice is not None:
            self.voice = self._check_voice(self.voice)

    async def load_voices(self, *, refresh: bool = False) -> list[Voice]:
        """All voices, once the library is loaded (``refresh`` changes nothing: they are local)."""
        host = self._open_host() if self._voices is None else None
        if host is not None:
            await host.ready()
            self._adopt(host)
        return self.voices()

    def voice_catalogue(
        self, language: str | None = None, engine: str | None = None
    ) -> list[Voice]:
        """:meth:`voices` for ``language``; ``engine`` other than ``"espeak-ng"`` has none."""
        return [v for v in self.voices(language) if engine is None or engine in v.engines]

    def _open_host(self) -> _ESpeakHost:
        if self._host is None:
            raise PipelineStateError("this ESpeakSynthesizer is closed; create a new one")
        return self._host

    def _adopt(self, host: _ESpeakHost) -> list[Voice]:
        """Take the loaded library's voices and rate (once)."""
        if self._voices is None:
            self.sample_rate = host.sample_rate
            self._ids = {v.id.lower(): v for v in host.voices}
            self._voices = _with_variants(host.voices)
        return self._voices

    def _catalogue(self) -> list[Voice]:
        if self._voices is not None:
            return self._voices
        host = self._open_host()
        host.wait_ready()  # blocking, once: see the module docstring
        return self._adopt(host)

    # -- capabilities -------------------------------------------------------------
    def voices(self, language: str | None = None) -> list[Voice]:
        """All voices, or those whose ISO 639-1 ``language`` matches (e.g. ``"es"``)."""
        voices = self._catalogue()
        if language is None:
            return list(voices)
        lang = language.split("-")[0].lower()
        return [v for v in voices if v.language == lang]

    def default_voice(self, language: str) -> str:
        """The voice used for ``language`` when none is named; UnsupportedLanguageError if none."""
        lang = language.split("-")[0].lower()
        candidates = self.voices(lang)
        if not candidates:
            raise UnsupportedLanguageError(f"eSpeak NG has no voice for language {language!r}")
        preferred = _DEFAULTS.get(lang, lang).lower()
        for v in candidates:
            if v.id.lower() == preferred:
                return v.id
        return candidates[0].id

    def _check_voice(self, voice: str) -> str:
        self._catalogue()
        base, _, variant = voice.partition("+")
        if base.lower() not in self._ids:
            sample = ", ".join(
                self.default_voice(lang) for lang in ("en", "es", "fr", "de") if self.voices(lang)
            )
            raise UnsupportedVoiceError(
                f"eSpeak NG has no voice {voice!r}; valid ids include {sample} "
                "(see voices() for all)"
            )
        return self._ids[base.lower()].id + (f"+{variant}" if variant else "")

    # -- rate (SupportsRate) ------------------------------------------------------------
    def rate_supported(self, voice: str) -> bool:
        """True: every eSpeak NG voice takes the rate parameter."""
        return True

    @property
    def max_speed(self) -> float:
        """The fastest :meth:`synthesize_at` speed (× natural): 450 wpm / :attr:`rate`."""
        return _MAX_RATE / self.rate

    def rate_at(self, speed: float) -> int:
        """The rate (words per minute) for ``speed``: :attr:`rate` × ``speed``, rounded and
        clamped to eSpeak's 80-450 (so above :attr:`max_speed` speech is no faster)."""
        if not (speed > 0 and math.isfinite(speed)):
            raise ConfigError(f"speed must be a positive number (× natural), got {speed}")
        return min(_MAX_RATE, max(_MIN_RATE, round(self.rate * speed)))

    def synthesize_at(
        self, text: str, *, voice: str | None = None, language: str = "en", speed: float
    ) -> AsyncIterator[AudioChunk]:
        """:meth:`synthesize` at ``speed`` × the instance's rate (see :meth:`rate_at`).

        eSpeak's rate is words per minute and the audio does not shrink exactly with it:
        the sounds shorten less than the rate grows, more so at high rates and in Spanish
        than English. Measured here (espeakng-loader's eSpeak NG, default 175 wpm, 2-3
        sentences each), audio duration / natural duration at speed 1.25 / 1.5 / 2.0:
        English 0.81 / 0.70 / 0.52, Spanish 0.81 / 0.71 / 0.57 — against 0.80 / 0.67 / 0.50
        for an exact rate (tests/test_offline_espeak.py checks 1.5 within ±10 %).
        """
        return self._chunks(self._speak(text, voice, language, self.rate_at(speed)))

    # -- word timing (SupportsWordTiming) ---------------------------------------------------
    def synthesize_marked(
        self, text: str, *, voice: str | None = None, language: str = "en", speed: float = 1.0
    ) -> AsyncIterator[AudioChunk | WordMark]:
        """:meth:`synthesize_at` (or :meth:`synthesize` at 1.0) with eSpeak's word events
        among the chunks: a :class:`~s2st_kit.records.WordMark` per word with its start (s
        from this call's first sample, at the rate spoken; from the event's
        ``audio_position``, ms), no end, and its character span in ``text``. A mark follows
        the chunk in which eSpeak reported it (the word starts in or before that chunk).
        """
        rate = self.rate if speed == 1.0 else self.rate_at(speed)
        return self._speak(text, voice, language, rate, marks=True)

    @staticmethod
    async def _chunks(
        items: AsyncGenerator[AudioChunk | WordMark, None],
    ) -> AsyncIterator[AudioChunk]:
        try:
            async for item in items:
                if isinstance(item, AudioChunk):
                    yield item
        finally:
            await items.aclose()  # stops the eSpeak thread at once when the consumer stops

    # -- synthesis --------------------------------------------------------------------
    def synthesize(
        self, text: str, *, voice: str | None = None, language: str = "en"
    ) -> AsyncIterator[AudioChunk]:
        """Speak ``text``; yield ~50 ms chunks as eSpeak produces them.

        voice: a voice id (see :meth:`voices`); ``None`` uses the instance's voice or the
        default for ``language``. Chunk ``start_s`` counts from 0 within this utterance.
        Requests are served one at a time (one eSpeak thread per process).
        """
        return self._chunks(self._speak(text, voice, language, self.rate))

    async def _speak(
        self, text: str, voice: str | None, language: str, rate: int, *, marks: bool = False
    ) -> AsyncGenerator[AudioChunk | WordMark, None]:
        host = self._open_host()
        await host.ready()
        self._adopt(host)
        chosen = self._check_voice(voice or self.voice or self.default_voice(language))
        if not text.strip():
            return
        channel: ThreadChannel[_Item] = ThreadChannel(self.max_queued_chunks)
        future = host.submit(_Settings(chosen, rate, self.pitch), _Job(channel, text, marks))
        position = 0
        try:
            while (item := await channel.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, WordMark):
                    yield item
                    continue
                chunk = AudioChunk(item, self.sample_rate, position / self.sample_rate)
                position += chunk.n_samples
                yield chunk
        finally:
            channel.close()  # the eSpeak thread stops at its next block
            if not future.done():
                await asyncio.shield(asyncio.wrap_future(future))

    # -- lifecycle ----------------------------------------------------------------------
    async def aclose(self) -> None:
        """Release the library; the last open synthesizer terminates it and its thread."""
        host, self._host = self._host, None
        if host is not None:
            await asyncio.to_thread(_release_host, host)

    async def __aenter__(self) -> ESpeakSynthesizer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def create_synthesizer(**options: Any) -> ESpeakSynthesizer:
    """Registry factory: ``ESpeakSynthesizer(**options)``."""
    return ESpeakSynthesizer(**options)
