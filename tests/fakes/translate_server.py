"""A fake Amazon Translate endpoint (AWS JSON 1.1) on 127.0.0.1 for boto3 via ``endpoint_url``.

``X-Amz-Target: AWSShineFrontendService_20170701.TranslateText`` translates with a tiny
word dictionary (unknown words are kept), ``...ListLanguages`` lists a few languages.
``Settings={"Brevity": "ON"}`` is honoured on the pairs Amazon Translate documents (into
fr/de/it/pt/es, or from those into en) by leaving out the target language's articles and
filler words (:data:`BRIEF_DROP`): same input, a visibly shorter translation, and
``AppliedSettings`` says so; on other pairs it is ignored, as the service does.
Faults: ``throttle`` (next N calls get an error code such as ThrottlingException), pairs
in ``unsupported_pairs``, texts over ``max_bytes`` (TextSizeLimitExceededException),
``access_denied``, and ``source="auto"`` on text it cannot place
(DetectedLanguageLowConfidenceException). ``latency_s`` delays every answer;
``retry_after_s`` adds a ``Retry-After`` header (s) to every throttling answer.
"""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from ._http import LoopbackServer

__all__ = ["BRIEF_DROP", "DICTIONARY", "FakeTranslateServer", "brief", "fake_translate"]

DICTIONARY: dict[tuple[str, str], dict[str, str]] = {
    ("en", "es"): {
        "good": "buenos",
        "morning": "días",
        "everyone": "todos",
        "hello": "hola",
        "thank": "gracias",
        "you": "",
        "for": "por",
        "coming": "venir",
        "the": "el",
        "world": "mundo",
        "questions": "preguntas",
        "at": "al",
        "end": "final",
        "cat": "gato",
        "and": "y",
        "dog": "perro",
    },
    ("es", "en"): {
        "hola": "hello",
        "buenos": "good",
        "días": "morning",
        "todos": "everyone",
        "gato": "cat",
    },
    ("en", "fr"): {"hello": "bonjour", "world": "monde", "cat": "chat"},
}
#: Words the fake's brevity leaves out, per target language (articles and fillers).
BRIEF_DROP: dict[str, frozenset[str]] = {
    "en": frozenset({"the", "a", "an", "well", "so", "very", "really", "just"}),
    "es": frozenset({"el", "la", "los", "las", "un", "una", "unos", "unas", "pues", "muy"}),
    "fr": frozenset({"le", "la", "les", "un", "une", "des", "très", "alors"}),
    "de": frozenset({"der", "die", "das", "den", "dem", "ein", "eine", "sehr", "also"}),
    "it": frozenset({"il", "lo", "la", "i", "gli", "le", "un", "una", "molto"}),
    "pt": frozenset({"o", "a", "os", "as", "um", "uma", "muito"}),
}
_BREVITY_TARGETS = frozenset({"fr", "de", "it", "pt", "es"})
_STATUS = {
    "ThrottlingException": 400,
    "TooManyRequestsException": 400,
    "ServiceUnavailableException": 503,
    "InternalServerException": 500,
}


def fake_translate(text: str, source: str, target: str) -> str:
    """Word-by-word dictionary translation; unknown words are kept as they are."""
    table = DICTIONARY.get((source, target), {})

    def sub(m: re.Match[str]) -> str:
        word = m.group(0)
        out = table.get(word.lower(), word)
        return out.capitalize() if word[:1].isupper() and out else out

    return re.sub(r"\w+", sub, text).replace("  ", " ").strip()


def brevity_applies(source: str, target: str) -> bool:
    """The pairs on which the service honours brevity (its Developer Guide's table)."""
    return target in _BREVITY_TARGETS or (source in _BREVITY_TARGETS and target == "en")


def brief(text: str, target: str) -> str:
    """``text`` without the target language's articles and fillers (:data:`BRIEF_DROP`),
    sentence by sentence (a sentence that started with a capital still does)."""
    return " ".join(_brief_sentence(s, target) for s in re.split(r"(?<=[.!?])\s+", text))


def _brief_sentence(text: str, target: str) -> str:
    drop = BRIEF_DROP.get(target, frozenset())
    out = re.sub(
        r"\w+\s*", lambda m: "" if m.group(0).strip().lower() in drop else m.group(0), text
    )
    out = re.sub(r"\s+([,.;:!?])", r"\1", out)  # no space before punctuation
    out = re.sub(r"([,;:])(\s*[,;:])+", r"\1", out).strip(",;: ")  # "a, well, b" -> "a, b"
    return out[:1].upper() + out[1:] if text[:1].isupper() else out


def detect(text: str) -> str | None:
    words = {w.lower() for w in re.findall(r"\w+", text)}
    if words & set(DICTIONARY[("es", "en")]):
        return "es"
    if words & set(DICTIONARY[("en", "es")]):
        return "en"
    return None


class FakeTranslateServer(LoopbackServer):
    """Fake Translate. Attributes may be changed between calls (guarded by a lock)."""

    thread_name = "fake-translate"

    def __init__(
        self,
        *,
        throttle: int = 0,
        throttle_code: str = "ThrottlingException",
        unsupported_pairs: set[tuple[str, str]] | None = None,
        max_bytes: int = 10_000,
        access_denied: bool = False,
        latency_s: float = 0.0,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__()
        self.throttle = throttle
        self.throttle_code = throttle_code
        self.unsupported_pairs = set(unsupported_pairs or ())
        self.max_bytes = max_bytes
        self.access_denied = access_denied
        self.latency_s = latency_s
        self.retry_after_s = retry_after_s
        self.throttled = 0
        self.active = 0
        self.max_active = 0
        self._state = threading.Lock()

    def translate_calls(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["target"].endswith(".TranslateText")]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = self.read_json(handler)
        entry = self.record(handler, body)
        target = handler.headers.get("X-Amz-Target", "")
        entry["target"] = target
        with self._state:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.latency_s:
                time.sleep(self.latency_s)
            self._dispatch(handler, target, body)
        finally:
            with self._state:
                self.active -= 1

    def _error(
        self, handler, code: str, message: str, status: int = 400, headers: dict | None = None
    ) -> None:
        self.send_json(
            handler, status, {"__type": code, "message": message}, error_type=code, headers=headers
        )

    def _dispatch(self, handler, target: str, body: dict) -> None:
        with self._state:
            throttle = self.throttle > 0
            if throttle:
                self.throttle -= 1
                self.throttled += 1
        if throttle:
            code = self.throttle_code
            hint = (
                None if self.retry_after_s is None else {"Retry-After": f"{self.retry_after_s:g}"}
            )
            return self._error(handler, code, "Rate exceeded", _STATUS.get(code, 400), hint)
        if self.access_denied:
            return self._error(
                handler,
                "AccessDeniedException",
                "User: arn:aws:iam::000000000000:user/fake is not authorized to perform: "
                "translate:TranslateText",
                400,
            )
        if target.endswith(".ListLanguages"):
            langs = [
                {"LanguageName": n, "LanguageCode": c}
                for c, n in (
                    ("en", "English"),
                    ("es", "Spanish"),
                    ("fr", "French"),
                    ("de", "German"),
                )
            ]
            return self.send_json(handler, 200, {"Languages": langs, "DisplayLanguageCode": "en"})
        if not target.endswith(".TranslateText"):
            return self._error(handler, "UnknownOperationException", target)
        return self._translate_text(handler, body)

    def _translate_text(self, handler, body: dict) -> None:
        text = body["Text"]
        source, target_lang = body["SourceLanguageCode"], body["TargetLanguageCode"]
        if len(text.encode()) > self.max_bytes:
            return self._error(
                handler,
                "TextSizeLimitExceededException",
                f"Input text size exceeds limit. Max length of request text "
                f"allowed is {self.max_bytes} bytes.",
            )
        detected = None
        if source == "auto":
            detected = detect(text)
            if detected is None:
                return self._error(
                    handler,
                    "DetectedLanguageLowConfidenceException",
                    "Amazon Translate was not able to detect the language of the text with "
                    "high confidence.",
                )
            source = detected
        if (source, target_lang) in self.unsupported_pairs:
            return self._error(
                handler,
                "UnsupportedLanguagePairException",
                f"Unsupported language pair: {source} to {target_lang}.",
            )
        self.send_json(handler, 200, _translation(body, text, source, target_lang))


def _translation(body: dict[str, Any], text: str, source: str, target: str) -> dict[str, Any]:
    """The TranslateText answer, with brevity applied where the service would apply it."""
    translated = fake_translate(text, source, target)
    settings = dict(body.get("Settings") or {})
    if settings.get("Brevity") == "ON":
        if brevity_applies(source, target):
            translated = brief(translated, target)
        else:
            del settings["Brevity"]  # "proceeds with the brevity setting turned off"
    response: dict[str, Any] = {
        "TranslatedText": translated,
        "SourceLanguageCode": source,
        "TargetLanguageCode": target,
    }
    if settings:
        response["AppliedSettings"] = settings
    if body.get("TerminologyNames"):
        response["AppliedTerminologies"] = [
            {"Name": n, "Terms": []} for n in body["TerminologyNames"]
        ]
    return response
