"""Amazon Polly: :class:`AwsPollySynthesizer` and the registry factory.

::

    synthesizer.py  AwsPollySynthesizer: voices, rate, word timing, the synthesis loop
    features.py     which engine honours what (rate, pitch, newscaster, speech marks), sourced
    ssml.py         the request Text (escaped SSML) and its byte -> character map; splitting
    marks.py        speech marks (JSON lines) -> SpeechMark / WordMark
    catalogue.py    VoiceCatalogue (DescribeVoices, cached), default-voice preferences
    transport.py    SynthesizeSpeech on the synthesizer's own threads (audio streamed)
"""

from __future__ import annotations

from typing import Any

from ..session import options_for
from .catalogue import VoiceCatalogue, iso_language
from .features import (
    ENGINES,
    NEWSCASTER_VOICES,
    PROSODY_PITCH,
    PROSODY_RATE,
    SPEECH_MARKS,
    PollyEngine,
    PollyFeatures,
    feature_summary,
    polly_features,
)
from .marks import SpeechMark, parse_marks
from .ssml import (
    MAX_BILLED_CHARS,
    MAX_RATE_PERCENT,
    MAX_TOTAL_CHARS,
    MIN_RATE_PERCENT,
    request_text,
    ssml_for,
)
from .synthesizer import AwsPollySynthesizer

__all__ = [
    "ENGINES",
    "MAX_BILLED_CHARS",
    "MAX_RATE_PERCENT",
    "MAX_TOTAL_CHARS",
    "MIN_RATE_PERCENT",
    "NEWSCASTER_VOICES",
    "PROSODY_PITCH",
    "PROSODY_RATE",
    "SPEECH_MARKS",
    "AwsPollySynthesizer",
    "PollyEngine",
    "PollyFeatures",
    "SpeechMark",
    "VoiceCatalogue",
    "create_synthesizer",
    "feature_summary",
    "iso_language",
    "parse_marks",
    "polly_features",
    "request_text",
    "ssml_for",
]


def create_synthesizer(**options: Any) -> AwsPollySynthesizer:
    """Registry factory: ``AwsPollySynthesizer(**options)``.

    Accepts the shared AWS bundle options (see :func:`..session.options_for`): region,
    profile, ``endpoint_urls={"polly": url}`` or ``endpoint_url``, and the keyword options
    of :class:`AwsPollySynthesizer`; options of the other AWS stages are ignored.
    """
    return AwsPollySynthesizer(**options_for("polly", options))
