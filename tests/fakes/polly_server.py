"""A fake Amazon Polly REST endpoint on 127.0.0.1: ``POST /v1/speech``, ``GET /v1/voices``.

Speech is real PCM (a voiced-like harmonic tone), ``s_per_char`` seconds per billed character
(divided by the enclosing SSML ``<prosody rate="N%">`` / 100, the innermost one, as Polly
speaks N % of the voice's natural rate; named rates leave it natural), streamed with chunked transfer encoding in ``chunk_ms`` pieces after ``ttfb_s`` and at
``pace`` times real time, so time-to-first-audio and streaming can be measured. The voice
list (:data:`VOICES`) has several languages and engines and is paginated ``page_size`` at a
time. Faults: ``throttle`` (next N synthesis calls get ThrottlingException); the service's
own checks (unknown voice, engine the voice lacks, text over 3,000 billed / 6,000 total
characters, invalid SSML, bad sample rate) answer as Polly would.
"""

from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from ._http import LoopbackServer

__all__ = ["VOICES", "FakePollyServer", "billed_text", "spoken_chars"]

VOICES: list[dict[str, Any]] = [
    {
        "Id": "Joanna",
        "LanguageCode": "en-US",
        "Gender": "Female",
        "SupportedEngines": ["neural", "standard", "generative"],
    },
    {
        "Id": "Matthew",
        "LanguageCode": "en-US",
        "Gender": "Male",
        "SupportedEngines": ["neural", "standard", "generative"],
    },
    {
        "Id": "Danielle",
        "LanguageCode": "en-US",
        "Gender": "Female",
        "SupportedEngines": ["neural", "long-form", "generative"],
    },
    {
        "Id": "Amy",
        "LanguageCode": "en-GB",
        "Gender": "Female",
        "SupportedEngines": ["neural", "standard"],
    },
    {
        "Id": "Aditi",
        "LanguageCode": "en-IN",
        "Gender": "Female",
        "SupportedEngines": ["standard"],
        "AdditionalLanguageCodes": ["hi-IN"],
    },
    {
        "Id": "Lucia",
        "LanguageCode": "es-ES",
        "Gender": "Female",
        "SupportedEngines": ["neural", "standard"],
    },
    {"Id": "Sergio", "LanguageCode": "es-ES", "Gender": "Male", "SupportedEngines": ["neural"]},
    {
        "Id": "Conchita",
        "LanguageCode": "es-ES",
        "Gender": "Female",
        "SupportedEngines": ["standard"],
    },
    {
        "Id": "Lupe",
        "LanguageCode": "es-US",
        "Gender": "Female",
        "SupportedEngines": ["neural", "standard", "generative"],
    },
    {"Id": "Celine", "LanguageCode": "fr-FR", "Gender": "Female", "SupportedEngines": ["standard"]},
    {
        "Id": "Lea",
        "LanguageCode": "fr-FR",
        "Gender": "Female",
        "SupportedEngines": ["neural", "standard"],
    },
    {
        "Id": "Vicki",
        "LanguageCode": "de-DE",
        "Gender": "Female",
        "SupportedEngines": ["neural", "standard"],
    },
    {
        "Id": "Zhiyu",
        "LanguageCode": "cmn-CN",
        "Gender": "Female",
        "SupportedEngines": ["neural", "standard"],
    },
]
for _v in VOICES:
    _v.setdefault("Name", _v["Id"])
    _v.setdefault("LanguageName", _v["LanguageCode"])


def billed_text(text: str, text_type: str) -> str:
    """The characters Polly bills: the text without SSML tags (entities decoded)."""
    if text_type != "ssml":
        return text
    return "".join(ET.fromstring(text).itertext())


def spoken_chars(text: str, text_type: str) -> float:
    """Billed characters weighted by 100 / the ``<prosody rate="N%">`` they are spoken at
    (the innermost enclosing one; outside any, or a named rate, weight 1)."""
    if text_type != "ssml":
        return float(len(text))

    def walk(element: ET.Element, weight: float) -> float:
        rate = element.get("rate", "") if element.tag == "prosody" else ""
        if rate.endswith("%"):
            weight = 100 / float(rate[:-1])
        total = len(element.text or "") * weight
        for child in element:
            total += walk(child, weight) + len(child.tail or "") * weight
        return total

    return walk(ET.fromstring(text), 1.0)


class FakePollyServer(LoopbackServer):
    """Fake Polly; see the module docstring. ``requests`` records every call."""

    thread_name = "fake-polly"

    def __init__(
        self,
        *,
        ttfb_s: float = 0.0,
        pace: float | None = None,
        chunk_ms: int = 20,
        s_per_char: float = 0.06,
        throttle: int = 0,
        page_size: int = 4,
    ) -> None:
        super().__init__()
        self.ttfb_s = ttfb_s
        self.pace = pace
        self.chunk_ms = chunk_ms
        self.s_per_char = s_per_char
        self.throttle = throttle
        self.page_size = page_size
        self.throttled = 0
        #: monotonic time at which each synthesis finished sending its last byte
        self.finished_at: list[float] = []
        self.started_at: list[float] = []
        self._state = threading.Lock()

    def speech_calls(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"].startswith("/v1/speech")]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlparse(handler.path)
        if handler.command == "GET" and url.path == "/v1/voices":
            self.record(handler, parse_qs(url.query))
            return self._voices(handler, parse_qs(url.query))
        if handler.command == "POST" and url.path == "/v1/speech":
            body = self.read_json(handler)
            self.record(handler, body)
            return self._speech(handler, body)
        self._error(handler, "UnknownOperationException", handler.path, 404)

    def _error(self, handler, code: str, message: str, status: int = 400) -> None:
        self.send_json(
            handler, status, {"message": message}, content_type="application/json", error_type=code
        )

    def _voices(self, handler, query: dict[str, list[str]]) -> None:
        voices = VOICES
        if "Engine" in query:
            voices = [v for v in voices if query["Engine"][0] in v["SupportedEngines"]]
        if "LanguageCode" in query:
            voices = [v for v in voices if v["LanguageCode"] == query["LanguageCode"][0]]
        if query.get("IncludeAdditionalLanguageCodes", ["false"])[0] != "true":
            voices = [
                {k: v for k, v in voice.items() if k != "AdditionalLanguageCodes"}
                for voice in voices
            ]
        start = int(query.get("NextToken", ["0"])[0])
        page = voices[start : start + self.page_size]
        payload: dict[str, Any] = {"Voices": page}
        if start + self.page_size < len(voices):
            payload["NextToken"] = str(start + self.page_size)
        self.send_json(handler, 200, payload, content_type="application/json")

    def _speech(self, handler, body: dict[str, Any]) -> None:
        with self._state:
            throttle = self.throttle > 0
            if throttle:
                self.throttle -= 1
                self.throttled += 1
        if throttle:
            return self._error(handler, "ThrottlingException", "Rate exceeded")
        voice = next((v for v in VOICES if v["Id"] == body.get("VoiceId")), None)
        if voice is None:
            return self._error(
                handler,
                "ValidationException",
                f"1 validation error detected: Value '{body.get('VoiceId')}' "
                "at 'voiceId' failed to satisfy constraint",
            )
        engine = body.get("Engine", "standard")
        if engine not in voice["SupportedEngines"]:
            return self._error(
                handler,
                "EngineNotSupportedException",
                "This voice does not support the selected engine: " + engine,
            )
        if body.get("OutputFormat") != "pcm" or body.get("SampleRate") not in ("8000", "16000"):
            return self._error(handler, "InvalidSampleRateException", "bad sample rate")
        text, text_type = body.get("Text", ""), body.get("TextType", "text")
        if len(text) > 6000:
            return self._error(handler, "TextLengthExceededException", "too long (total)")
        try:
            billed = billed_text(text, text_type)
        except ET.ParseError:
            return self._error(handler, "InvalidSsmlException", "Invalid SSML request")
        if len(billed) > 3000:
            return self._error(handler, "TextLengthExceededException", "too long (billed)")
        rate = int(body["SampleRate"])
        duration = max(0.2, spoken_chars(text, text_type) * self.s_per_char)
        self._stream(handler, self._waveform(billed, rate, duration), rate, len(billed))

    def _stream(self, handler, pcm: bytes, rate: int, billed_chars: int) -> None:
        """Send ``pcm`` chunked, ``chunk_ms`` at a time, after ``ttfb_s``, at ``pace``."""
        handler.send_response(200)
        handler.send_header("Content-Type", "audio/pcm")
        handler.send_header("x-amzn-RequestCharacters", str(billed_chars))
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.wfile.flush()
        start = time.monotonic()
        with self._state:
            self.started_at.append(start)
        if self.ttfb_s:
            time.sleep(self.ttfb_s)
        step = rate * self.chunk_ms // 1000 * 2
        sent_s = 0.0
        try:
            for i in range(0, len(pcm), step):
                piece = pcm[i : i + step]
                handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                handler.wfile.flush()
                sent_s += len(piece) / 2 / rate
                if self.pace:
                    due = start + self.ttfb_s + sent_s / self.pace
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                if self.stopping.is_set():
                    break
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
        with self._state:
            self.finished_at.append(time.monotonic())

    def _waveform(self, text: str, rate: int, duration: float) -> bytes:
        words = max(1, len(re.findall(r"\w+", text)))
        t = np.arange(round(duration * rate)) / rate
        f0 = 140 + 20 * np.sin(2 * np.pi * 0.5 * t)
        phase = 2 * np.pi * np.cumsum(f0) / rate
        voice = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
        envelope = 0.5 + 0.5 * np.sin(np.pi * words * t / duration) ** 2
        x = 0.25 * voice * envelope
        return np.round(np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
