"""Streaming speech synthesis with eSpeak NG, loaded from the ``espeakng-loader`` wheel.

The wheel ships ``libespeak-ng.so`` and its data directory, so no system package is needed.
The library is driven through ctypes in synchronous mode (``AUDIO_OUTPUT_SYNCHRONOUS``):
``espeak_Synth`` calls our ``SynthCallback`` with ~50 ms blocks of 16-bit mono samples
while it synthesises, and each block is handed to the awaiting coroutine at once through
``loop.call_soon_threadsafe`` — the first chunk arrives long before the sentence is done.
A credit semaphore bounds the chunks waiting in the queue (back-pressure on the thread).

eSpeak NG keeps global state (one voice, one set of parameters per process), so exactly
ONE thread owns the library and makes every call into it. Synthesizer instances in one
process share that owner (reference counted); each instance applies its own voice, rate
and pitch before each synthesis. The last ``aclose()`` terminates the library and ends
the thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import importlib
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ...errors import (
    ConfigError,
    EngineError,
    EngineNotInstalledError,
    PipelineStateError,
    UnsupportedLanguageError,
    UnsupportedVoiceError,
)
from ...records import AudioChunk, Voice

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
_BUFFER_MS = 50  # size of the blocks the callback receives (ms)

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

#: espeak language codes without an ISO 639-1 form that have a close one.
_LANG_ALIASES = {"cmn": "zh", "yue": "zh"}
#: preferred default voice per language (otherwise the voice named like the language).
_DEFAULTS = {"en": "en-US", "pt": "pt-BR", "zh": "cmn", "es": "es", "fr": "fr", "de": "de"}


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


class _Job:
    """One synthesis request; its callbacks run in the eSpeak thread."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any], max_queued: int
    ) -> None:
        self.loop = loop
        self.queue = queue
        self.credits = threading.Semaphore(max_queued)
        self.cancelled = threading.Event()

    def put(self, item: Any) -> bool:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.cancelled.set()
            return False
        return True

    def deliver(self, pcm: bytes) -> bool:
        """Queue one block, waiting for a credit; False means stop synthesising."""
        while not self.credits.acquire(timeout=0.05):
            if self.cancelled.is_set():
                return False
        if self.cancelled.is_set():
            return False
        return self.put(pcm)


_END = object()


@dataclass(slots=True)
class _Settings:
    voice: str
    rate: int
    pitch: int


class _ESpeakHost:
    """The one owner of libespeak-ng in this process: a thread plus the loaded library."""

    def __init__(self) -> None:
        self.lib, data_path = _load_library()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="s2st-espeak"
        )
        self._callback = _CALLBACK(self._on_audio)  # kept alive as long as the host
        self._job: _Job | None = None
        self._current: _Settings | None = None
        self.refs = 0
        try:
            self.sample_rate, self.voices = self._executor.submit(
                self._initialize, data_path
            ).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    # -- in the eSpeak thread ---------------------------------------------------------
    def _initialize(self, data_path: str) -> tuple[int, list[Voice]]:
        rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path.encode(), _INIT_DONT_EXIT
        )
        if rate <= 0:
            raise EngineNotInstalledError(
                f"eSpeak NG failed to initialise (data in {data_path}); reinstall: {_INSTALL}"
            )
        self.lib.espeak_SetSynthCallback(self._callback)
        voices: list[Voice] = []
        array = self.lib.espeak_ListVoices(None)
        i = 0
        while array[i]:
            v = array[i].contents
            i += 1
            tags = _parse_languages(v.languages)
            ident = (v.identifier or b"").decode("utf-8", "replace")
            if not tags or not ident or ident.startswith("mb/"):
                continue
            primary = tags[0].split("-")[0].lower()
            gender = {1: "male", 2: "female"}.get(v.gender)
            voices.append(
                Voice(
                    id=ident.rsplit("/", 1)[-1],
                    name=(v.name or b"").decode("utf-8", "replace"),
                    language=_LANG_ALIASES.get(primary, primary),
                    locale=_locale(tags[0]),
                    gender=gender,
                    engines=("espeak-ng",),
                )
            )
        return rate, voices

    def _on_audio(self, wav: Any, n_samples: int, events: Any) -> int:
        job = self._job
        if job is None or job.cancelled.is_set():
            return 1  # abort synthesis
        if wav and n_samples > 0:
            if not job.deliver(ctypes.string_at(wav, n_samples * 2)):
                return 1
        return 0

    def _synthesize(self, text: str, settings: _Settings, job: _Job) -> None:
        try:
            if self._current != settings:
                if self.lib.espeak_SetVoiceByName(settings.voice.encode()) != 0:
                    raise UnsupportedVoiceError(
                        f"eSpeak NG could not load voice {settings.voice!r}"
                    )
                self.lib.espeak_SetParameter(_PARAM_RATE, settings.rate, 0)
                self.lib.espeak_SetParameter(_PARAM_PITCH, settings.pitch, 0)
                self._current = _Settings(settings.voice, settings.rate, settings.pitch)
            data = text.encode("utf-8") + b"\0"
            self._job = job
            try:
                err = self.lib.espeak_Synth(
                    data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
                )
            finally:
                self._job = None
            if err != 0 and not job.cancelled.is_set():
                raise EngineError(f"espeak_Synth failed with code {err}", engine="espeak-ng")
            job.put(_END)
        except BaseException as exc:
            job.put(exc)

    def _terminate(self) -> None:
        self.lib.espeak_Terminate()

    # -- from any thread -----------------------------------------------------------------
    def submit(self, text: str, settings: _Settings, job: _Job) -> concurrent.futures.Future[None]:
        return self._executor.submit(self._synthesize, text, settings, job)

    def shutdown(self) -> None:
        try:
            self._executor.submit(self._terminate).result()
        finally:
            self._executor.shutdown(wait=True)


_host_lock = threading.Lock()
_host: _ESpeakHost | None = None


def _acquire_host() -> _ESpeakHost:
    global _host
    with _host_lock:
        if _host is None:
            _host = _ESpeakHost()
        _host.refs += 1
        return _host


def _release_host(host: _ESpeakHost) -> None:
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
        rate: speaking rate in words per minute (80-450, default 175).
        pitch: base pitch 0-100 (default 50).
        max_queued_chunks: blocks (~50 ms each) synthesised ahead of the consumer before
            the eSpeak thread waits (default 32).
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
        if not 80 <= rate <= 450:
            raise ConfigError(f"rate must be 80-450 words per minute, got {rate}")
        if not 0 <= pitch <= 100:
            raise ConfigError(f"pitch must be 0-100, got {pitch}")
        if max_queued_chunks < 1:
            raise ConfigError(f"max_queued_chunks must be >= 1, got {max_queued_chunks}")
        self.rate = rate
        self.pitch = pitch
        self.max_queued_chunks = max_queued_chunks
        self._host: _ESpeakHost | None = _acquire_host()
        self.sample_rate: int = self._host.sample_rate
        self._voices = list(self._host.voices)
        self._ids = {v.id.lower(): v for v in self._voices}
        try:
            self.voice = self._check_voice(voice) if voice is not None else None
        except BaseException:
            host, self._host = self._host, None
            _release_host(host)  # a refused instance must not keep the library alive
            raise

    # -- capabilities -------------------------------------------------------------
    def voices(self, language: str | None = None) -> list[Voice]:
        """All voices, or those whose ISO 639-1 ``language`` matches (e.g. ``"es"``)."""
        if language is None:
            return list(self._voices)
        lang = language.split("-")[0].lower()
        return [v for v in self._voices if v.language == lang]

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

    # -- synthesis --------------------------------------------------------------------
    async def synthesize(
        self, text: str, *, voice: str | None = None, language: str = "en"
    ) -> AsyncIterator[AudioChunk]:
        """Speak ``text``; yield ~50 ms chunks as eSpeak produces them.

        voice: a voice id (see :meth:`voices`); ``None`` uses the instance's voice or the
        default for ``language``. Chunk ``start_s`` counts from 0 within this utterance.
        Requests are served one at a time (one eSpeak thread per process).
        """
        host = self._host
        if host is None:
            raise PipelineStateError("this ESpeakSynthesizer is closed; create a new one")
        chosen = voice or self.voice or self.default_voice(language)
        chosen = self._check_voice(chosen)
        if not text.strip():
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        job = _Job(loop, queue, self.max_queued_chunks)
        future = host.submit(text, _Settings(chosen, self.rate, self.pitch), job)
        position = 0
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                job.credits.release()
                chunk = AudioChunk(item, self.sample_rate, position / self.sample_rate)
                position += chunk.n_samples
                yield chunk
        finally:
            job.cancelled.set()
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
