r"""A fake Amazon Polly REST endpoint on 127.0.0.1: ``POST /v1/speech``, ``GET /v1/voices``.

Speech is real PCM (a voiced-like harmonic tone), ``s_per_char`` seconds per billed character
(divided by the enclosing SSML ``<prosody rate="N%">`` / 100, the innermost one, as Polly
speaks N % of the voice's natural rate; named rates leave it natural), streamed with chunked transfer encoding in ``chunk_ms`` pieces after ``ttfb_s`` and at
``pace`` times real time, so time-to-first-audio and streaming can be measured. The voice
list (:data:`VOICES`) has several languages and engines and is paginated ``page_size`` at a
time. Faults: ``throttle`` (next N synthesis calls get ThrottlingException), ``fail_marks``
(every speech-marks request gets a 500 ServiceFailureException), ``marks_delay_s`` (speech
marks answered after a delay, s), ``hold_audio_for_marks`` (after its first chunk an audio
stream waits, up to 10 s, until a speech-marks answer has been sent: a client that asks for
marks only after the audio cannot pass it); the service's
own checks (unknown voice, engine the voice lacks, text over 3,000 billed / 6,000 total
characters, invalid SSML, bad sample rate) answer as Polly would.

Speech marks (``OutputFormat=json``, ``SpeechMarkTypes`` word / sentence): JSON lines like
Polly's, consistent with the audio the same request would get — a mark's ``time`` (ms) is
where its first character falls when the request's characters are spread over the audio's
duration at their prosody weights, and ``start`` / ``end`` are UTF-8 byte offsets into the
request's Text (the SSML document, tags and entities included), ``value`` that substring.
Words are runs of ``\w`` characters; a sentence ends after ``.``, ``!`` or ``?`` before
whitespace. Stricter than documented where Polly's exact answer is unknown: speech marks
with the generative engine (Polly documents none), ``<prosody pitch>`` on a non-standard
engine (documented as not honoured) and ``<amazon:domain name="news">`` on a voice or
engine without the style answer 400.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from ._http import LoopbackServer

__all__ = [
    "NEWSCASTER",
    "VOICES",
    "FakePollyServer",
    "billed_text",
    "speech_marks",
    "spoken_chars",
]

#: Voices with the newscaster style (neural engine), as Polly documents.
NEWSCASTER = frozenset({"Matthew", "Joanna", "Lupe", "Amy"})
_AMAZON_TAG = re.compile(r"<(/?)amazon:")
_TOKEN = re.compile(r"<[^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|\w+);|[^<&]", re.S)
_PITCH_ATTR = re.compile(r"<prosody[^>]*\spitch=")
_RATE_ATTR = re.compile(r'\brate="(\d+(?:\.\d+)?)%"')

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
    return "".join(_parse(text).itertext())


def _parse(ssml: str) -> ET.Element:
    """The SSML document as XML (Polly takes ``amazon:`` tags without a namespace)."""
    return ET.fromstring(_AMAZON_TAG.sub(r"<\1amazon-", ssml))


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

    return walk(_parse(text), 1.0)


def _characters(text: str, text_type: str) -> list[tuple[str, int, int, float]]:
    """Each spoken character of a request's Text: (character, UTF-8 byte start and end in
    Text, weight = 100 / the innermost ``<prosody rate="N%">`` around it)."""
    if text_type != "ssml":
        out, pos = [], 0
        for ch in text:
            n = len(ch.encode("utf-8"))
            out.append((ch, pos, pos + n, 1.0))
            pos += n
        return out
    stack, out, pos = [1.0], [], 0
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        size = len(token.encode("utf-8"))
        if token.startswith("</"):
            stack.pop()
        elif token.startswith("<"):
            if not token.endswith("/>") and not token.startswith(("<?", "<!")):
                rate = _RATE_ATTR.search(token) if token.startswith("<prosody") else None
                stack.append(100 / float(rate.group(1)) if rate else stack[-1])
        else:
            out.append((html.unescape(token), pos, pos + size, stack[-1]))
        pos += size
    return out


def speech_marks(text: str, text_type: str, types: list[str], duration_s: float) -> list[dict]:
    """Polly-style word / sentence marks for ``text`` spoken over ``duration_s`` (s)."""
    chars = _characters(text, text_type)
    total = sum(weight for *_, weight in chars) or 1.0
    raw = text.encode("utf-8")
    marks, before, word, sentence = [], 0.0, None, None

    def emit(kind: str, span: tuple[int, int, float]) -> None:
        start, end, at = span
        value = raw[start:end].decode("utf-8")
        marks.append(
            {"time": int(at * 1000), "type": kind, "start": start, "end": end, "value": value}
        )

    for i, (ch, start, end, weight) in enumerate(chars):
        at = duration_s * before / total
        before += weight
        if re.match(r"\w", ch):
            word = (word[0], end, word[2]) if word else (start, end, at)
        elif word:
            emit("word", word)
            word = None
        if not ch.isspace():
            sentence = (sentence[0], end, sentence[2]) if sentence else (start, end, at)
        following = chars[i + 1][0] if i + 1 < len(chars) else " "
        if sentence and ch in ".!?" and following.isspace():
            emit("sentence", sentence)
            sentence = None
    if word:
        emit("word", word)
    if sentence:
        emit("sentence", sentence)
    marks.sort(key=lambda m: (m["start"], m["type"] != "sentence"))
    return [m for m in marks if m["type"] in types]


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
        fail_marks: bool = False,
        marks_delay_s: float = 0.0,
        hold_audio_for_marks: bool = False,
    ) -> None:
        super().__init__()
        self.ttfb_s = ttfb_s
        self.pace = pace
        self.chunk_ms = chunk_ms
        self.s_per_char = s_per_char
        self.throttle = throttle
        self.page_size = page_size
        self.fail_marks = fail_marks
        self.marks_delay_s = marks_delay_s
        self.hold_audio_for_marks = hold_audio_for_marks
        #: set when a speech-marks answer has been sent
        self.marks_answered = threading.Event()
        #: per held audio stream: True when speech marks were answered while it was held
        self.held_until_marks: list[bool] = []
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
        marks = body.get("OutputFormat") == "json"
        if not marks and (
            body.get("OutputFormat") != "pcm" or body.get("SampleRate") not in ("8000", "16000")
        ):
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
        refusal = self._refusal(voice, engine, text, text_type, body)
        if refusal:
            return self._error(handler, *refusal)
        duration = max(0.2, spoken_chars(text, text_type) * self.s_per_char)
        if marks and self.fail_marks:
            return self._error(handler, "ServiceFailureException", "marks failed", 500)
        if marks:
            lines = speech_marks(text, text_type, body["SpeechMarkTypes"], duration)
            payload = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in lines)
            return self._marks(handler, payload.encode("utf-8"), len(billed))
        rate = int(body["SampleRate"])
        self._stream(handler, self._waveform(billed, rate, duration), rate, len(billed))

    @staticmethod
    def _refusal(
        voice: dict[str, Any], engine: str, text: str, text_type: str, body: dict[str, Any]
    ) -> tuple[str, str] | None:
        """(error code, message) when the request asks for what this voice/engine lacks."""
        if body.get("OutputFormat") == "json":
            types = body.get("SpeechMarkTypes") or []
            if not types or set(types) - {"word", "sentence", "viseme", "ssml"}:
                return "ValidationException", "SpeechMarkTypes must be given for json output"
            if engine == "generative":
                return "ValidationException", "Speech marks are not available for generative"
        elif body.get("SpeechMarkTypes"):
            return "MarksNotSupportedForFormatException", "Speech marks need json output"
        if text_type == "ssml" and engine != "standard" and _PITCH_ATTR.search(text):
            return "InvalidSsmlException", f"pitch is not supported by the {engine} engine"
        if '<amazon:domain name="news">' in text and (
            engine != "neural" or voice["Id"] not in NEWSCASTER
        ):
            return "InvalidSsmlException", "newscaster style is not available for this voice"
        return None

    def _marks(self, handler, payload: bytes, billed_chars: int) -> None:
        if self.marks_delay_s:
            self.stopping.wait(self.marks_delay_s)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-json-stream")
        handler.send_header("x-amzn-RequestCharacters", str(billed_chars))
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        handler.wfile.flush()
        self.marks_answered.set()

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
                if i == 0 and self.hold_audio_for_marks:
                    got = self.marks_answered.wait(10.0)
                    with self._state:
                        self.held_until_marks.append(got)
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
