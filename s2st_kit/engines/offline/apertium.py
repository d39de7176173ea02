"""Rule-based machine translation with Apertium, through resident null-flush pipelines.

``apertium -z`` hangs on interactive use because its text deformatter does not flush, and
spawning ``apertium`` per sentence costs ~150 ms (every stage reloads its transducers).
Instead, for each language direction this module reads the installed *mode file* (e.g.
``/usr/share/apertium/modes/eng-spa.mode``), starts that pipeline's own stages itself,
each with ``-z`` (flush on NUL), chained by pipes, and keeps them running. A sentence is
written as ``<escaped text>\\n\\0`` and the answer is read up to the next ``\\0``: about
2 ms per sentence once warm. The deformatter's job (escaping Apertium's reserved
characters) and the reformatter's (unescaping) are done here in Python.

Each direction has one pipeline and one lock; blocking pipe I/O runs in a worker thread
(``asyncio.to_thread``). A pipeline that dies is restarted and the sentence in flight is
retried once; one that does not answer within ``timeout_s`` raises
:class:`~s2st_kit.errors.EngineTimeoutError` and is restarted on the next call.

Unknown words: generation runs with ``lt-proc -n`` (no ``*``/``#``/``@`` marks) unless
``mark_unknown=True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import select
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ...errors import (
    ConfigError,
    EngineNotInstalledError,
    EngineTimeoutError,
    EngineUnavailableError,
    PipelineStateError,
    UnsupportedLanguageError,
)
from ...records import Translation

__all__ = [
    "DEFAULT_MODES_DIR",
    "ApertiumTranslator",
    "create_translator",
    "escape_text",
    "iso639_1",
    "unescape_output",
]

logger = logging.getLogger(__name__)

#: Where Debian's apertium packages install their modes.
DEFAULT_MODES_DIR = Path("/usr/share/apertium/modes")

#: Apertium / ISO 639-2/3 codes -> ISO 639-1 (codes already 2 letters pass through).
_ISO3_TO_1: dict[str, str] = {
    "eng": "en",
    "spa": "es",
    "cat": "ca",
    "glg": "gl",
    "epo": "eo",
    "fra": "fr",
    "por": "pt",
    "ita": "it",
    "deu": "de",
    "oci": "oc",
    "eus": "eu",
    "arg": "an",
    "ron": "ro",
    "nld": "nl",
    "afr": "af",
    "dan": "da",
    "nob": "nb",
    "nno": "nn",
    "swe": "sv",
    "isl": "is",
    "bel": "be",
    "rus": "ru",
    "ukr": "uk",
    "pol": "pl",
    "ces": "cs",
    "slk": "sk",
    "hbs": "sh",
    "bul": "bg",
    "mkd": "mk",
    "eng_US": "en",
}
_ISO1_TO_3 = {v: k for k, v in _ISO3_TO_1.items() if "_" not in k}

#: Debian packages for the common pairs (unordered) -> the package that provides them.
_PACKAGES: dict[frozenset[str], str] = {
    frozenset({"en", "es"}): "apertium-eng-spa",
    frozenset({"en", "ca"}): "apertium-eng-cat",
    frozenset({"en", "gl"}): "apertium-en-gl",
    frozenset({"en", "eo"}): "apertium-eo-en",
    frozenset({"es", "ca"}): "apertium-spa-cat",
    frozenset({"es", "pt"}): "apertium-spa-por",
    frozenset({"es", "gl"}): "apertium-es-gl",
    frozenset({"es", "it"}): "apertium-spa-ita",
    frozenset({"fr", "es"}): "apertium-fra-spa",
    frozenset({"fr", "ca"}): "apertium-fra-cat",
    frozenset({"es", "eo"}): "apertium-eo-es",
    frozenset({"ca", "eo"}): "apertium-eo-ca",
    frozenset({"fr", "eo"}): "apertium-eo-fr",
    frozenset({"oc", "ca"}): "apertium-oci-cat",
    frozenset({"es", "an"}): "apertium-spa-arg",
    frozenset({"pt", "ca"}): "apertium-por-cat",
    frozenset({"eu", "es"}): "apertium-eu-es",
    frozenset({"da", "sv"}): "apertium-dan-swe",
}

# Characters the Apertium stream format reserves; the text deformatter (apertium-destxt)
# escapes exactly these with a backslash.
_RESERVED = frozenset("\\^$/<>{}[]@")
# "~" is consumed by post-generation even when escaped; a superblank carries it verbatim.
_SUPERBLANK = frozenset("~")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MARK_BEFORE_WORD = re.compile(r"[*#@](?=\w)")
_SPACES = re.compile(r"[ \t]+")


def iso639_1(code: str) -> str:
    """Apertium language code (``eng``, ``spa``, ``en``, ``eng_US``) -> ISO 639-1 (``en``)."""
    if code in _ISO3_TO_1:
        return _ISO3_TO_1[code]
    base = code.split("_", 1)[0]
    return _ISO3_TO_1.get(base, base)


def package_for(source: str, target: str) -> str:
    """The Debian package that most likely provides ``source``-``target`` (ISO 639-1)."""
    known = _PACKAGES.get(frozenset({source, target}))
    if known:
        return known
    a, b = _ISO1_TO_3.get(source, source), _ISO1_TO_3.get(target, target)
    return f"apertium-{a}-{b}"


def escape_text(text: str) -> str:
    """Plain text -> Apertium stream format (what ``apertium-destxt`` would produce).

    Reserved characters get a backslash, ``~`` is wrapped in a superblank ``[~]`` (passed
    through untouched), NUL and other control characters (except ``\\n`` and ``\\t``)
    become spaces so they cannot break the NUL framing.
    """
    text = _CONTROL.sub(" ", text)
    out: list[str] = []
    for ch in text:
        if ch in _RESERVED:
            out.append("\\" + ch)
        elif ch in _SUPERBLANK:
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)


def unescape_output(stream: str) -> str:
    """Apertium output stream -> plain text: drop backslash escapes and superblank brackets."""
    out: list[str] = []
    i, n = 0, len(stream)
    in_superblank = False
    while i < n:
        ch = stream[i]
        if ch == "\\" and i + 1 < n:
            out.append(stream[i + 1])
            i += 2
            continue
        if ch == "[" and not in_superblank:
            in_superblank = True
        elif ch == "]" and in_superblank:
            in_superblank = False
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _tidy(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(lines).strip()


@dataclass(frozen=True, slots=True)
class _Mode:
    """One installed translation direction."""

    name: str  # mode file stem, e.g. "eng-spa"
    path: Path
    source: str  # ISO 639-1
    target: str


def discover_modes(modes_dir: Path) -> dict[tuple[str, str], _Mode]:
    """Installed default modes in ``modes_dir`` keyed by (source, target) ISO 639-1 codes.

    Only plain ``<src>-<tgt>.mode`` files count; variants such as ``eng-cat_valencia`` or
    ``en-eo-bytecode`` are skipped (choose them with ``modes={"en-ca": "eng-cat_valencia"}``).
    """
    found: dict[tuple[str, str], _Mode] = {}
    if not modes_dir.is_dir():
        return found
    for path in sorted(modes_dir.glob("*.mode")):
        parts = path.stem.split("-")
        if len(parts) != 2 or "_" in path.stem:
            continue
        src, tgt = iso639_1(parts[0]), iso639_1(parts[1])
        found.setdefault((src, tgt), _Mode(path.stem, path, src, tgt))
    return found


def build_stages(mode_text: str, *, mark_unknown: bool = False) -> list[list[str]]:
    """The argv of each stage of a mode pipeline, with ``-z`` added to every stage.

    ``$1`` (generation option) becomes ``-g`` when ``mark_unknown`` else ``-n``; ``$2``
    (tagger option) is dropped.
    """
    stages: list[list[str]] = []
    for part in mode_text.strip().split("|"):
        argv = [a for a in shlex.split(part.strip()) if a != "$2"]
        if not argv:
            continue
        argv = [("-g" if mark_unknown else "-n") if a == "$1" else a for a in argv]
        stages.append([argv[0], "-z", *argv[1:]])
    if not stages:
        raise ConfigError("empty Apertium mode file")
    return stages


class _PipelineDied(Exception):
    """The pipeline closed its output or a stage exited."""


class _Pipeline:
    """One running chain of stage processes. Used by one thread at a time (the direction lock)."""

    def __init__(self, stages: list[list[str]], *, name: str) -> None:
        self.name = name
        self.procs: list[subprocess.Popen[bytes]] = []
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        prev: IO[bytes] | None = None
        try:
            for i, argv in enumerate(stages):
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE if i == 0 else prev,
                    stdout=subprocess.PIPE,
                    stderr=self._stderr,
                    close_fds=True,
                    env={**os.environ, "LC_ALL": "C.UTF-8"},
                )
                if prev is not None:
                    prev.close()  # the child holds it now
                prev = proc.stdout
                self.procs.append(proc)
        except OSError as exc:
            self.close()
            raise EngineNotInstalledError(
                f"cannot start Apertium stage {argv[0]!r}: {exc}. "
                "To install: apt-get install apertium apertium-lex-tools"
            ) from exc
        first, last = self.procs[0], self.procs[-1]
        assert first.stdin is not None and last.stdout is not None
        self._stdin_fd = first.stdin.fileno()
        self._stdout_fd = last.stdout.fileno()
        os.set_blocking(self._stdin_fd, False)
        self._requests = 0

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stderr_tail(self, limit: int = 300) -> str:
        try:
            self._stderr.seek(0)
            data = self._stderr.read()
        except (OSError, ValueError):
            return ""
        return data[-limit:].decode("utf-8", "replace").strip()

    def roundtrip(self, request: bytes, timeout_s: float) -> bytes:
        """Send ``request`` (escaped stream text) and return the pipeline's answer to it.

        The request goes out as ``request + [s2st-N] + NUL``: every stage passes the
        superblank ``[s2st-N]`` through unchanged, so a real answer ends with it. When a stage
        dies, the ones after it flush what they hold and a NUL on EOF; that NUL may arrive
        before the dead stage can be reaped (``alive()`` still true), and without the marker
        it would pass for an empty translation.
        """
        if not self.alive():
            raise _PipelineDied("a stage had exited")
        self._requests += 1
        marker = b"[s2st-%d]" % self._requests
        deadline = time.monotonic() + timeout_s
        to_write = memoryview(request + marker + b"\0")
        buf = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            wlist = [self._stdin_fd] if to_write else []
            readable, writable, _ = select.select([self._stdout_fd], wlist, [], remaining)
            if writable:
                try:
                    n = os.write(self._stdin_fd, to_write)
                except BrokenPipeError as exc:
                    raise _PipelineDied("input pipe closed") from exc
                to_write = to_write[n:]
            if readable:
                data = os.read(self._stdout_fd, 65536)
                if not data:
                    raise _PipelineDied("output pipe closed")
                buf += data
                end = buf.find(b"\0")
                if end >= 0:
                    if end + 1 != len(buf) or to_write:
                        # More than one answer: the stream is out of step with us.
                        raise _PipelineDied("pipeline out of sync (unexpected NUL)")
                    if not self.alive() or not buf[:end].endswith(marker):
                        # Stages downstream of a dead one flush a NUL on EOF: not an answer.
                        raise _PipelineDied("a stage exited while translating")
                    return bytes(buf[: end - len(marker)])

    def close(self) -> None:
        for proc in self.procs:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(OSError):
            self._stderr.close()


class _Direction:
    """A language direction: its mode, its (lazily started) pipeline and its lock."""

    def __init__(self, mode: _Mode, stages: list[list[str]]) -> None:
        self.mode = mode
        self.stages = stages
        self.lock = threading.Lock()
        self.pipeline: _Pipeline | None = None
        self.restarts = 0

    def ensure(self) -> _Pipeline:
        if self.pipeline is None or not self.pipeline.alive():
            if self.pipeline is not None:
                self.restarts += 1
                logger.warning("Apertium %s pipeline died; restarting", self.mode.name)
                self.pipeline.close()
            self.pipeline = _Pipeline(self.stages, name=self.mode.name)
        return self.pipeline

    def discard(self) -> None:
        if self.pipeline is not None:
            self.pipeline.close()
            self.pipeline = None
            self.restarts += 1


class ApertiumTranslator:
    """Apertium translator with one resident null-flush pipeline per direction.

    Options (keyword-only):
        modes_dir: where the ``*.mode`` files live (default ``/usr/share/apertium/modes``).
        modes: choose a specific mode per direction, e.g. ``{"en-ca": "eng-cat_valencia"}``.
        timeout_s: deadline for one sentence (s, default 10); the first sentence of a
            direction also loads its transducers (~0.1 s).
        mark_unknown: keep Apertium's unknown-word marks (``*word``) in the output
            (default False: clean text).
    """

    name = "apertium"

    def __init__(
        self,
        *,
        modes_dir: str | Path | None = None,
        modes: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        mark_unknown: bool = False,
    ) -> None:
        if shutil.which("lt-proc") is None:
            raise EngineNotInstalledError(
                "the Apertium translator needs the Apertium tools (lt-proc not found). "
                "To install on Debian/Ubuntu: apt-get install apertium apertium-eng-spa"
            )
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0 s, got {timeout_s}")
        self.modes_dir = Path(modes_dir) if modes_dir is not None else DEFAULT_MODES_DIR
        self.timeout_s = timeout_s
        self.mark_unknown = mark_unknown
        self._modes = discover_modes(self.modes_dir)
        for key, mode_name in (modes or {}).items():
            src, _, tgt = key.partition("-")
            path = self.modes_dir / f"{mode_name}.mode"
            if not path.is_file():
                raise ConfigError(f"no Apertium mode {mode_name!r} in {self.modes_dir}")
            self._modes[(src, tgt)] = _Mode(mode_name, path, src, tgt)
        self._directions: dict[tuple[str, str], _Direction] = {}
        self._directions_lock = threading.Lock()
        self._closed = False

    # -- capabilities -------------------------------------------------------------
    def pairs(self) -> frozenset[tuple[str, str]]:
        """Installed (source, target) directions as ISO 639-1 codes, e.g. ``("en", "es")``."""
        return frozenset(self._modes)

    def check_pair(self, source: str, target: str) -> None:
        """Raise UnsupportedLanguageError (naming the package to install) if not installed."""
        if (source, target) in self._modes:
            return
        installed = ", ".join(f"{s}-{t}" for s, t in sorted(self._modes)) or "none"
        package = package_for(source, target)
        hint = f"apt-get install {package}"
        if frozenset({source, target}) not in _PACKAGES:
            hint += " (if your distribution has it; see 'apt-cache search apertium')"
        raise UnsupportedLanguageError(
            f"Apertium has no {source}-{target} translator installed (installed: {installed}). "
            f"To install on Debian/Ubuntu: {hint}"
        )

    # -- internals ----------------------------------------------------------------
    def _direction(self, source: str, target: str) -> _Direction:
        with self._directions_lock:
            if self._closed:
                raise PipelineStateError("this ApertiumTranslator is closed; create a new one")
            direction = self._directions.get((source, target))
            if direction is None:
                mode = self._modes[(source, target)]
                try:
                    text = mode.path.read_text(encoding="utf-8")
                except OSError as exc:
                    raise EngineNotInstalledError(
                        f"cannot read Apertium mode {mode.path}: {exc}. To install: "
                        f"apt-get install {package_for(source, target)}"
                    ) from exc
                stages = build_stages(text, mark_unknown=self.mark_unknown)
                missing = sorted({argv[0] for argv in stages if shutil.which(argv[0]) is None})
                if missing:
                    raise EngineNotInstalledError(
                        f"Apertium mode {mode.name} needs {', '.join(missing)}, not found. "
                        "To install: apt-get install apertium apertium-lex-tools "
                        "apertium-separable apertium-anaphora cg3"
                    )
                direction = _Direction(mode, stages)
                self._directions[(source, target)] = direction
            return direction

    def _translate_blocking(self, source: str, target: str, text: str) -> str:
        """(Worker thread.) Start the direction if needed (reads its mode file), translate."""
        direction = self._direction(source, target)
        payload = (escape_text(text) + "\n").encode("utf-8")
        with direction.lock:
            for attempt in (1, 2):
                if self._closed:
                    raise PipelineStateError("this ApertiumTranslator is closed")
                pipeline = direction.ensure()
                try:
                    raw = pipeline.roundtrip(payload, self.timeout_s)
                except TimeoutError as exc:
                    direction.discard()  # restarted on the next call
                    raise EngineTimeoutError(
                        f"Apertium {direction.mode.name} gave no answer within "
                        f"{self.timeout_s:g} s; its pipeline was restarted",
                        engine=self.name,
                    ) from exc
                except (_PipelineDied, OSError) as exc:
                    tail = pipeline.stderr_tail()
                    direction.discard()
                    if attempt == 2:
                        raise EngineUnavailableError(
                            f"Apertium {direction.mode.name} pipeline failed twice: {exc}"
                            + (f" (stderr: {tail})" if tail else ""),
                            engine=self.name,
                        ) from exc
                    logger.warning(
                        "Apertium %s pipeline failed (%s); restarting and retrying once",
                        direction.mode.name,
                        exc,
                    )
                    continue
                return self._postprocess(raw.decode("utf-8", "replace"), text)
        raise AssertionError("unreachable")  # pragma: no cover

    def _postprocess(self, raw: str, source_text: str) -> str:
        text = unescape_output(raw)
        if not self.mark_unknown and not any(c in source_text for c in "*#@"):
            # -n generation leaves no marks; strip any a stage added anyway.
            text = _MARK_BEFORE_WORD.sub("", text)
        return _tidy(text)

    # -- public API -----------------------------------------------------------------
    async def translate(self, text: str, *, source: str, target: str) -> Translation:
        """Translate ``text`` from ``source`` to ``target`` (ISO 639-1 codes).

        Raises UnsupportedLanguageError for a direction that is not installed,
        EngineTimeoutError after ``timeout_s``, EngineUnavailableError if the pipeline
        fails twice in a row.
        """
        self.check_pair(source, target)
        if not text.strip():
            return Translation("", text, source, target, engine=self.name)
        result = await asyncio.to_thread(self._translate_blocking, source, target, text)
        return Translation(
            text=result, source_text=text, source=source, target=target, engine=self.name
        )

    async def load(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Start (and warm up) the pipelines of ``pairs`` now rather than on first use."""
        for source, target in pairs:
            await self.translate("Hello.", source=source, target=target)

    def pipeline_pids(self, source: str, target: str) -> list[int]:
        """Process ids of the running stages of a direction (``[]`` if not started)."""
        direction = self._directions.get((source, target))
        if direction is None or direction.pipeline is None:
            return []
        return direction.pipeline.pids

    def restarts(self, source: str, target: str) -> int:
        """How many times the direction's pipeline has been restarted."""
        direction = self._directions.get((source, target))
        return 0 if direction is None else direction.restarts

    async def aclose(self) -> None:
        """Terminate every pipeline process. Idempotent."""
        with self._directions_lock:
            if self._closed:
                return
            self._closed = True
            directions = list(self._directions.values())
        for direction in directions:
            await asyncio.to_thread(self._close_direction, direction)

    @staticmethod
    def _close_direction(direction: _Direction) -> None:
        with direction.lock:
            if direction.pipeline is not None:
                direction.pipeline.close()
                direction.pipeline = None

    async def __aenter__(self) -> ApertiumTranslator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def create_translator(**options: Any) -> ApertiumTranslator:
    """Registry factory: ``ApertiumTranslator(**options)``."""
    return ApertiumTranslator(**options)
