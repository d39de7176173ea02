"""Before the clock starts: refuse impossible choices, let engines adopt the config and load."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable

from ..config import PipelineConfig
from ..engines import Engines
from ..engines.protocols import (
    SupportsCheckPair,
    SupportsConfigure,
    SupportsLoad,
    SupportsLoadPairs,
)
from ..errors import UnsupportedLanguageError, UnsupportedVoiceError

__all__ = ["validate", "warm_up"]


def validate(engines: Engines, config: PipelineConfig) -> str:
    """Check languages and voice against what the engines support; return the voice id.

    Raises UnsupportedLanguageError / UnsupportedVoiceError with the valid choices, before
    any audio is touched. May do I/O (a cloud voice catalogue): call it from a thread.
    """
    rec, mt, tts = engines.recognizer, engines.translator, engines.synthesizer
    src, tgt = config.source_lang, config.target_lang
    langs = rec.languages()
    if src not in langs:
        raise UnsupportedLanguageError(
            f"recognizer {rec.name!r} does not recognise {src!r}; it supports: "
            f"{', '.join(sorted(langs))}"
        )
    if isinstance(mt, SupportsCheckPair):
        mt.check_pair(src, tgt)  # engine-specific message (e.g. which package to install)
    pairs = mt.pairs()
    if (src, tgt) not in pairs:
        targets = sorted({b for a, b in pairs if a == src})
        raise UnsupportedLanguageError(
            f"translator {mt.name!r} cannot translate {src!r} → {tgt!r}; from {src!r} it offers: "
            f"{', '.join(targets) or 'nothing'}"
        )
    if config.voice is None:
        return tts.default_voice(tgt)
    voices = tts.voices(tgt)
    if config.voice not in {v.id for v in voices}:
        names = ", ".join(v.id for v in voices[:8]) or "none"
        raise UnsupportedVoiceError(
            f"synthesizer {tts.name!r} has no voice {config.voice!r} for {tgt!r}; try one of: {names}"
        )
    return config.voice


async def warm_up(engines: Engines, config: PipelineConfig) -> None:
    """Let engines adopt the session's config and load their models, before the clock starts.

    ``configure(config)`` (:class:`~s2st_kit.engines.protocols.SupportsConfigure`) is called
    on every engine that has it; then ``recognizer.load()``, ``translator.load(pairs)`` and
    ``synthesizer.load()`` (:class:`~s2st_kit.engines.protocols.SupportsLoad` /
    :class:`~s2st_kit.engines.protocols.SupportsLoadPairs`) run — awaited when they are
    coroutine functions, in a worker thread when they are plain functions — so the first
    segment's latency measures translation, not model loading.
    """
    for engine in (engines.recognizer, engines.translator, engines.synthesizer):
        if isinstance(engine, SupportsConfigure):
            engine.configure(config)
    if isinstance(engines.recognizer, SupportsLoad):
        await _load(engines.recognizer.load)
    if isinstance(engines.translator, SupportsLoadPairs):
        await _load(engines.translator.load, [(config.source_lang, config.target_lang)])
    if isinstance(engines.synthesizer, SupportsLoad):
        await _load(engines.synthesizer.load)


async def _load(load: Callable[..., object], *args: object) -> None:
    if inspect.iscoroutinefunction(load):
        await load(*args)
        return
    result = await asyncio.to_thread(load, *args)
    if inspect.isawaitable(result):
        await result
