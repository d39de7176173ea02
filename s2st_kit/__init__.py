"""s2st_kit: near-real-time speech-to-speech translation for JupyterLab.

A person speaks; the pipeline streams the audio to a recognizer, commits stable pieces of
text to a translator, synthesizes the translation and plays it, logging every segment's
stage timings to a pandas DataFrame::

    from s2st_kit import Engines, FileSource, Pipeline, PipelineConfig, WavSink

    engines = Engines.create("offline")               # or "simulated", "aws", or per stage
    pipe = Pipeline(engines, PipelineConfig(source_lang="en", target_lang="es"),
                    source=FileSource("talk.wav"), sink=WavSink("talk.es.wav"))
    log = await pipe.run()                             # in a notebook cell
    df = log.to_pandas()
"""

from .audio import FileSource, MemorySink, MemorySource, PacedSink, WavSink, split_stereo
from .clock import SessionClock
from .config import AudioFormat, PipelineConfig
from .conversation import Conversation, Party
from .engines import Engines
from .errors import (
    AudioError,
    AudioFormatError,
    ConfigError,
    DeviceError,
    EngineError,
    EngineNotInstalledError,
    EngineTimeoutError,
    EngineUnavailableError,
    PipelineError,
    PipelineStateError,
    QueueOverflowError,
    S2STError,
    StreamClosedError,
    ThrottledError,
    UnsupportedLanguageError,
    UnsupportedVoiceError,
)
from .log import SegmentLog
from .pipeline import Listener, Pipeline, PipelineState, PipelineStats, validate
from .policy import Commit, make_policy
from .records import (
    SEGMENT_COLUMNS,
    AudioChunk,
    Segment,
    Transcript,
    Translation,
    Voice,
    Word,
    WordMark,
)
from .retry import RetryPolicy

__version__ = "0.1.0"

__all__ = [
    "SEGMENT_COLUMNS",
    "AudioChunk",
    "AudioError",
    "AudioFormat",
    "AudioFormatError",
    "Commit",
    "ConfigError",
    "Conversation",
    "DeviceError",
    "EngineError",
    "EngineNotInstalledError",
    "EngineTimeoutError",
    "EngineUnavailableError",
    "Engines",
    "FileSource",
    "Listener",
    "MemorySink",
    "MemorySource",
    "PacedSink",
    "Party",
    "Pipeline",
    "PipelineConfig",
    "PipelineError",
    "PipelineState",
    "PipelineStateError",
    "PipelineStats",
    "QueueOverflowError",
    "RetryPolicy",
    "S2STError",
    "Segment",
    "SegmentLog",
    "SessionClock",
    "StreamClosedError",
    "ThrottledError",
    "Transcript",
    "Translation",
    "UnsupportedLanguageError",
    "UnsupportedVoiceError",
    "Voice",
    "WavSink",
    "Word",
    "WordMark",
    "__version__",
    "make_policy",
    "split_stereo",
    "validate",
]
