"""Amazon Transcribe streaming as a :class:`~s2st_kit.engines.protocols.Recognizer`.

::

    settings.py    TranscribeSettings: every stream option, validated (one frozen dataclass)
    recognizer.py  AwsTranscribeRecognizer (the engine, no session state), create_recognizer
    stream.py      TranscribeStream: one session — reconnects, renewals, its own stats
    renewal.py     PauseTracker: when a stream due for renewal reaches a pause in its audio
    timeline.py    uniform frames (audio.convert), stream -> input times, the re-send buffer
    backend.py     the SDK seam: StreamingBackend / StreamingHandle, RawResult
    adapter.py     amazon-transcribe behind the seam; every private SDK access; error table

Times. Every request starts its own clock at 0; keep-alive silence advances it without
advancing the input, and a reconnected request starts with re-sent audio. Each request
keeps a timeline (stream time -> input time), so ``Transcript.start_s`` / ``end_s`` / word
times are always positions in the *input* (monotonic across reconnects).

Faults. A dropped connection, a mid-stream LimitExceeded / ServiceUnavailable /
InternalFailure / no-audio timeout, or a start that does not answer within
``connect_timeout_s`` reconnects and re-sends the buffered audio since the last final
(at most ``max_resend_s``), so no speech is lost. A BadRequest at start is a configuration
problem: ConfigError, no retry.

Hours. A stream is renewed before the service's 4-hour limit (``max_stream_s``) at a pause
in the audio, so no word is cut in two; keep-alive silence (``keepalive_s``) covers a source
that stops delivering audio (the service ends a stream after 15 s without audio); the
echo guard's muting sends silence, not nothing. Tested time-compressed in
tests/test_aws_transcribe_hours.py.
"""

from __future__ import annotations

from .adapter import AmazonTranscribeBackend
from .backend import RawItem, RawResult, StreamingBackend, StreamingHandle
from .recognizer import AwsTranscribeRecognizer, create_recognizer
from .settings import DEFAULT_LOCALES, TranscribeSettings
from .stream import StreamStats, TranscribeStream

__all__ = [
    "DEFAULT_LOCALES",
    "AmazonTranscribeBackend",
    "AwsTranscribeRecognizer",
    "RawItem",
    "RawResult",
    "StreamStats",
    "StreamingBackend",
    "StreamingHandle",
    "TranscribeSettings",
    "TranscribeStream",
    "create_recognizer",
]
