"""What each Amazon Polly engine honours: prosody rate and pitch, the newscaster style,
speech marks — one table per feature, with the documentation each row comes from.

=============  =====  =====  ==========================  ============
engine         rate   pitch  newscaster                  speech marks
=============  =====  =====  ==========================  ============
standard       yes    yes    no                          yes
neural         yes    no     Amy, Joanna, Lupe, Matthew  yes
long-form      yes    no     no                          yes
generative     yes    no     no                          no
=============  =====  =====  ==========================  ============

Sources (Amazon Polly Developer Guide):

- ``<prosody>``, https://docs.aws.amazon.com/polly/latest/dg/prosody-tag.html: "Prosody tag
  attributes are fully supported by the standard TTS voices. Generative, Neural, and
  Long-Form voices support the volume and rate attributes, but don't support the pitch
  attribute. For Generative voices, the prosody tag can be used only around full
  sentences." The rate is 20-200 % of the voice's natural rate. (An older revision of the
  "Supported SSML tags" table listed ``<prosody>`` as not available for generative voices;
  the current prosody page and table give "partial availability": rate and volume.)
- Newscaster, https://docs.aws.amazon.com/polly/latest/dg/newscaster-tag.html: "available
  only for the Matthew or Joanna voices [...] (en-US), Lupe, in US Spanish (es-US) and Amy,
  in British English (en-GB). It is only supported when using Neural format." The
  "Supported SSML tags" table: standard voices support every tag except
  ``<amazon:domain name="news">``; long-form and generative: not available.
- Speech marks, https://docs.aws.amazon.com/polly/latest/dg/speechmarks.html: "Speechmarks
  are available when using neural, long-form, or standard text-to-speech engines" (not
  generative; nor does the bidirectional stream have them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

__all__ = [
    "ENGINES",
    "NEWSCASTER_ENGINES",
    "NEWSCASTER_VOICES",
    "PROSODY_PITCH",
    "PROSODY_RATE",
    "SPEECH_MARKS",
    "PollyEngine",
    "PollyFeatures",
    "feature_summary",
    "polly_features",
]

PollyEngine = Literal["standard", "neural", "long-form", "generative"]
ENGINES: tuple[str, ...] = get_args(PollyEngine)

#: Engines that honour SSML ``<prosody rate>`` (what ``synthesize_at`` sends). An engine
#: marked False makes ``rate_supported()`` False: the pipeline then time-stretches the
#: natural-speed audio instead. Generative voices take the tag "only around full
#: sentences": it wraps a whole request here, and requests are split at sentence boundaries
#: (only a single sentence over 3,000 characters is cut inside). The speed is approximate
#: ("depending on the voice you've chosen").
PROSODY_RATE: Mapping[str, bool] = MappingProxyType(
    {"standard": True, "neural": True, "long-form": True, "generative": True}
)
#: Engines that honour ``<prosody pitch>``: standard only.
PROSODY_PITCH: Mapping[str, bool] = MappingProxyType(
    {"standard": True, "neural": False, "long-form": False, "generative": False}
)
#: Engines that return speech marks (``OutputFormat=json``): all but generative.
SPEECH_MARKS: Mapping[str, bool] = MappingProxyType(
    {"standard": True, "neural": True, "long-form": True, "generative": False}
)
#: Voices with the newscaster style (``<amazon:domain name="news">``) -> their locale.
NEWSCASTER_VOICES: Mapping[str, str] = MappingProxyType(
    {"Amy": "en-GB", "Joanna": "en-US", "Lupe": "es-US", "Matthew": "en-US"}
)
#: Engines on which those voices have it: neural only.
NEWSCASTER_ENGINES: frozenset[str] = frozenset({"neural"})


@dataclass(frozen=True, slots=True)
class PollyFeatures:
    """What a voice can do with an engine (from the tables above, not from the service).

    rate: ``<prosody rate>`` honoured (faster speech for the lag controller).
    pitch: ``<prosody pitch>`` honoured. newscaster: ``<amazon:domain name="news">``.
    speech_marks: word and sentence timing (``OutputFormat=json``).
    """

    rate: bool
    pitch: bool
    newscaster: bool
    speech_marks: bool


def polly_features(voice: str, engine: str) -> PollyFeatures:
    """The features of ``voice`` (a Polly voice id, case-insensitive) with ``engine``.

    Whether the voice exists and supports the engine is the voice catalogue's business
    (``AwsPollySynthesizer.features`` checks it); this answers from the tables only.
    """
    return PollyFeatures(
        rate=PROSODY_RATE.get(engine, False),
        pitch=PROSODY_PITCH.get(engine, False),
        newscaster=engine in NEWSCASTER_ENGINES and newscaster_voice(voice) is not None,
        speech_marks=SPEECH_MARKS.get(engine, False),
    )


def newscaster_voice(voice: str) -> str | None:
    """The canonical id of ``voice`` when it has the newscaster style (any case), else None."""
    return next((v for v in NEWSCASTER_VOICES if v.lower() == voice.lower()), None)


def newscaster_list() -> str:
    """``"Amy (en-GB), Joanna (en-US), ..."`` — for messages."""
    return ", ".join(f"{v} ({loc})" for v, loc in sorted(NEWSCASTER_VOICES.items()))


def feature_summary() -> str:
    """One line per feature saying which engines have it (``s2st engines``)."""

    def engines(table: Mapping[str, bool]) -> str:
        return ", ".join(e for e in ENGINES if table.get(e, False)) or "none"

    return "\n".join(
        [
            f"prosody rate: {engines(PROSODY_RATE)}",
            f"prosody pitch: {engines(PROSODY_PITCH)}",
            f"newscaster style: {', '.join(sorted(NEWSCASTER_ENGINES))} voices {newscaster_list()}",
            f"speech marks (word, sentence): {engines(SPEECH_MARKS)}",
        ]
    )
