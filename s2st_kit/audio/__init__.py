"""Audio sources and sinks, and format conversion.

Sources yield mono PCM16 :class:`~s2st_kit.records.AudioChunk` objects; sinks take them.
"""

from .convert import Rechunker, StreamResampler, resample, to_mono
from .devices import DeviceInfo, MicrophoneSource, SpeakerSink, list_devices
from .echo import EchoGuard
from .file import AudioInfo, FileSource, probe, read_audio, split_stereo
from .memory import MemorySink, MemorySource
from .sinks import PacedSink, WavSink

__all__ = [
    "AudioInfo",
    "DeviceInfo",
    "EchoGuard",
    "FileSource",
    "MemorySink",
    "MemorySource",
    "MicrophoneSource",
    "PacedSink",
    "Rechunker",
    "SpeakerSink",
    "StreamResampler",
    "WavSink",
    "list_devices",
    "probe",
    "read_audio",
    "resample",
    "split_stereo",
    "to_mono",
]
