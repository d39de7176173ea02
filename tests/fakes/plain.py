"""A synthesizer with only the base :class:`~s2st_kit.engines.protocols.Synthesizer` protocol.

Wraps a real synthesizer and hides its optional capabilities (``SupportsRate``,
``SupportsWordTiming``, …), so a test exercises the pipeline's fallback paths.
"""

from __future__ import annotations

from typing import Any


class PlainSynthesizer:
    """``inner``'s voices and speech, and nothing else."""

    def __init__(self, inner: Any, *, name: str = "plain") -> None:
        self.inner = inner
        self.name = name
        self.sample_rate = inner.sample_rate

    def voices(self, language=None):
        return self.inner.voices(language)

    def default_voice(self, language):
        return self.inner.default_voice(language)

    def synthesize(self, text, *, voice, language):
        return self.inner.synthesize(text, voice=voice, language=language)

    async def aclose(self):
        await self.inner.aclose()
