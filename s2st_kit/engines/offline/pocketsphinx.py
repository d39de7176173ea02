"""Streaming English recognition with pocketsphinx 5 (offline, CPU only).

Audio is cut into fixed frames for pocketsphinx's :class:`Endpointer` (voice activity
detection, 30 ms frames at 16 kHz); each speech region is one utterance, decoded
incrementally. While an utterance grows, partial hypotheses are yielded at most every
``partial_interval_s`` of audio; when the endpointer leaves speech (or the input ends)
the utterance gets exactly one final :class:`~s2st_kit.records.Transcript` with word
timings from the decoder's segmentation.

All decoder work runs in ONE dedicated worker thread (the decoder is not thread-safe and
decoding is CPU-bound); the event loop only awaits it. The decoder is created lazily in
that thread on first use (about 0.3 s), or eagerly with :meth:`PocketSphinxRecognizer.load`.

Typical use::

    rec = create_recognizer(fast=True)
    async for t in rec.stream(chunks, language="en"):
        print(t.is_final, t.text)
    await rec.aclose()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import logging
import math
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from ...bridge import executor
from ...errors import (
    AudioFormatError,
    ConfigError,
    EngineNotInstalledError,
    PipelineStateError,
    UnsupportedLanguageError,
)
from ...records import AudioChunk, Transcript, Word
from .text import is_filler, restore_case, strip_variant

__all__ = ["PocketSphinxRecognizer", "create_recognizer"]

logger = logging.getLogger(__name__)

_INSTALL = "pip install 's2st_kit[offline]' (or: pip install 'pocketsphinx>=5,<6')"
_FRAME_RATE = 100  # decoder frames per second (pocketsphinx default -frate)


def _import_pocketsphinx() -> Any:
    try:
        return importlib.import_module("pocketsphinx")
    except ImportError as exc:
        raise EngineNotInstalledError(
            f"the pocketsphinx recognizer needs the pocketsphinx package: {exc}. "
            f"To install: {_INSTALL}"
        ) from exc


class _Session:
    """One recognition stream. Every method runs in the recognizer's worker thread."""

    def __init__(self, rec: PocketSphinxRecognizer, decoder: Any, ps: Any) -> None:
        self._rec = rec
        self._dec = decoder
        self._ep = ps.Endpointer(
            sample_rate=rec.sample_rate,
            window=rec.vad_window_s,
            ratio=rec.vad_ratio,
            vad_mode=rec.vad_mode,
        )
        self._frame_bytes: int = self._ep.frame_bytes
        self._slice_bytes = 2 * max(1, rec.sample_rate // 100)  # 10 ms of PCM16 (one frame)
        self._buffer = bytearray()
        self._offset_s: float | None = None  # stream position of the endpointer's t=0
        self._in_utt = False
        self._utt_start_s = 0.0  # endpointer time (s) of the current utterance's first sample
        self._utt_samples = 0  # samples fed to the decoder in this utterance
        self._since_partial = 0  # samples since the last partial check
        self._last_partial = ""
        self._partials_sent = 0
        self._next_id = 0

    # -- feeding ----------------------------------------------------------------
    def feed(self, pcm: bytes, start_s: float) -> list[Transcript]:
        """Buffer ``pcm`` and process every whole endpointer frame."""
        if self._offset_s is None:
            self._offset_s = start_s
        self._buffer += pcm
        out: list[Transcript] = []
        fb = self._frame_bytes
        n_whole = len(self._buffer) // fb * fb
        view = bytes(self._buffer[:n_whole])
        del self._buffer[:n_whole]
        for i in range(0, n_whole, fb):
            was_in_speech = self._ep.in_speech
            speech = self._ep.process(view[i : i + fb])
            self._handle(speech, was_in_speech, out)
        return out

    def finish(self) -> list[Transcript]:
        """End of input: flush the endpointer and finalise the last utterance."""
        out: list[Transcript] = []
        rest = bytes(self._buffer)
        self._buffer.clear()
        if self._ep.in_speech:
            # end_stream needs at least one sample (it raises IndexError on b""), e.g. when
            # the input stops mid-speech exactly at a frame boundary.
            rest = rest[: len(rest) // 2 * 2] or bytes(2)
            speech = self._ep.end_stream(rest)
            if speech is not None:
                if not self._in_utt:
                    self._start_utt()
                self._process(speech, out)
        if self._in_utt:
            out.extend(self._end_utt())
        return out

    def abort(self) -> None:
        """Leave the decoder idle after an abandoned stream."""
        if self._in_utt:
            self._dec.end_utt()
            self._in_utt = False

    # -- internals --------------------------------------------------------------
    def _handle(self, speech: bytes | None, was_in_speech: bool, out: list[Transcript]) -> None:
        if speech is None:
            return
        if not was_in_speech or not self._in_utt:
            self._start_utt()
        self._process(speech, out)
        if not self._ep.in_speech:
            out.extend(self._end_utt())

    def _start_utt(self) -> None:
        self._dec.start_utt()
        self._in_utt = True
        self._utt_start_s = float(self._ep.speech_start)
        self._utt_samples = 0
        self._since_partial = 0
        self._last_partial = ""
        self._partials_sent = 0

    def _process(self, speech: bytes, out: list[Transcript]) -> None:
        # pocketsphinx holds the GIL while it decodes: feed it at most 10 ms (one frame) at a time so the
        # event loop thread is never kept waiting longer than one short slice (the endpointer
        # hands over its whole look-back window at the start of speech).
        step = self._slice_bytes
        for i in range(0, len(speech), step):
            self._dec.process_raw(speech[i : i + step], False, False)
        n = len(speech) // 2
        self._utt_samples += n
        self._since_partial += n
        if self._since_partial >= self._rec.partial_interval_s * self._rec.sample_rate:
            self._since_partial = 0
            hyp = self._dec.hyp()
            raw = hyp.hypstr if hyp is not None else ""
            raw = " ".join(strip_variant(w) for w in raw.split() if not is_filler(w))
            if raw and raw != self._last_partial:
                self._last_partial = raw
                self._partials_sent += 1
                start, end = self._utt_span()
                out.append(
                    Transcript(
                        text=self._rec._format(raw),
                        is_final=False,
                        start_s=start,
                        end_s=end,
                        utterance_id=self._next_id,
                        language="en",
                    )
                )

    def _utt_span(self) -> tuple[float, float]:
        offset = self._offset_s or 0.0
        start = offset + self._utt_start_s
        return round(start, 3), round(start + self._utt_samples / self._rec.sample_rate, 3)

    def _end_utt(self) -> list[Transcript]:
        self._dec.end_utt()
        self._in_utt = False
        start, end = self._utt_span()
        words: list[Word] = []
        for seg in self._dec.seg():
            if is_filler(seg.word):
                continue
            words.append(
                Word(
                    text=strip_variant(seg.word),
                    start_s=round(start + seg.start_frame / _FRAME_RATE, 3),
                    end_s=round(start + (seg.end_frame + 1) / _FRAME_RATE, 3),
                    stable=True,
                )
            )
        raw = " ".join(w.text for w in words)
        if not raw and self._partials_sent == 0:
            return []  # noise only: no utterance to report
        confidence: float | None = None
        hyp = self._dec.hyp()
        if self._rec.bestpath and hyp is not None:
            try:
                confidence = min(1.0, max(0.0, math.exp(self._dec.logmath.log(hyp.prob))))
            except (ValueError, OverflowError, AttributeError):
                confidence = None
        text = self._rec._format(raw)
        uid = self._next_id
        self._next_id += 1
        return [
            Transcript(
                text=text,
                is_final=True,
                start_s=start,
                end_s=end,
                utterance_id=uid,
                stable_text=text,
                language="en",
                confidence=confidence,
                words=tuple(words),
            )
        ]


class PocketSphinxRecognizer:
    """Streaming recogniser for English on pocketsphinx 5's bundled en-US model.

    Options (keyword-only):
        fast: skip the second decoding passes (``fwdflat=False, bestpath=False``); about
            15 % faster, similar accuracy on read speech. Default True.
        beam / wbeam: search beam widths (pocketsphinx ``-beam`` / ``-wbeam``); ``None``
            keeps the model defaults (1e-48 / 7e-29). Wider (smaller) is slower and more
            accurate.
        partial_interval_s: at most one partial per this much audio (s), default 0.2.
        vad_window_s / vad_ratio / vad_mode: Endpointer decision window (s, default 0.3),
            fraction of the window that must agree (default 0.9), aggressiveness 0-3
            (default 0, loosest).
        normalize: output ``"I think I'm late."`` instead of the raw ``"i think i'm late"``
            (default True). Word texts in ``Transcript.words`` are always the raw words.
        decoder_options: extra pocketsphinx config (e.g. ``{"hmm": ..., "lm": ...,
            "dict": ...}``) for a different model.
    """

    name = "pocketsphinx"
    sample_rate = 16000

    def __init__(
        self,
        *,
        fast: bool = True,
        beam: float | None = None,
        wbeam: float | None = None,
        partial_interval_s: float = 0.2,
        vad_window_s: float = 0.3,
        vad_ratio: float = 0.9,
        vad_mode: int = 0,
        normalize: bool = True,
        decoder_options: dict[str, Any] | None = None,
    ) -> None:
        self._ps = _import_pocketsphinx()
        if partial_interval_s <= 0:
            raise ConfigError(f"partial_interval_s must be > 0 s, got {partial_interval_s}")
        if not 0 <= vad_mode <= 3:
            raise ConfigError(f"vad_mode must be 0-3, got {vad_mode}")
        self.fast = fast
        self.bestpath = not fast
        self.partial_interval_s = partial_interval_s
        self.vad_window_s = vad_window_s
        self.vad_ratio = vad_ratio
        self.vad_mode = vad_mode
        self.normalize = normalize
        config: dict[str, Any] = {"loglevel": "FATAL", "samprate": self.sample_rate}
        if fast:
            config.update(fwdflat=False, bestpath=False)
        if beam is not None:
            config["beam"] = beam
        if wbeam is not None:
            config["wbeam"] = wbeam
        config.update(decoder_options or {})
        self._config = config
        # Validate the endpointer settings now (cheap), so a bad option fails before audio.
        try:
            self._ps.Endpointer(
                sample_rate=self.sample_rate,
                window=vad_window_s,
                ratio=vad_ratio,
                vad_mode=vad_mode,
            )
        except ValueError as exc:
            raise ConfigError(f"invalid voice-activity settings: {exc}") from exc
        self._executor: concurrent.futures.ThreadPoolExecutor | None = executor("pocketsphinx")
        self._decoder: Any = None
        self._initial_cmn = ""
        self._lock = asyncio.Lock()
        self._closed = False

    # -- capabilities -------------------------------------------------------------
    def languages(self) -> frozenset[str]:
        """``{"en"}``: the bundled model is US English."""
        return frozenset({"en"})

    def _format(self, raw: str) -> str:
        return restore_case(raw) if self.normalize else raw

    # -- lifecycle ----------------------------------------------------------------
    def _get_executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._closed or self._executor is None:
            raise PipelineStateError("this PocketSphinxRecognizer is closed; create a new one")
        return self._executor

    def _ensure_decoder(self) -> Any:
        if self._decoder is None:
            try:
                self._decoder = self._ps.Decoder(**self._config)
            except (ValueError, RuntimeError) as exc:
                raise ConfigError(f"pocketsphinx could not load its model: {exc}") from exc
            self._initial_cmn = self._decoder.get_cmn()
        return self._decoder

    def _fresh_decoder(self) -> Any:
        """The decoder with its cepstral mean reset to the model's initial estimate: live
        CMN adapts within a stream, but must not carry one session's speaker into the next
        (a recognizer is reused across sessions; without this, results depend on order)."""
        decoder = self._ensure_decoder()
        decoder.set_cmn(self._initial_cmn)
        return decoder

    async def load(self) -> None:
        """Create the decoder now (about 0.3 s, in the worker thread) instead of on first use."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._get_executor(), self._ensure_decoder)

    async def aclose(self) -> None:
        """Stop the worker thread and free the decoder. Idempotent."""
        if self._closed:
            return
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        self._decoder = None

    async def __aenter__(self) -> PocketSphinxRecognizer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- recognition --------------------------------------------------------------
    async def stream(
        self, chunks: AsyncIterable[AudioChunk], *, language: str = "en"
    ) -> AsyncIterator[Transcript]:
        """Recognise ``chunks`` (mono s16le, 16000 Hz, any chunk size) and yield hypotheses.

        Partials (``is_final=False``) come at most every ``partial_interval_s`` of audio;
        each utterance (a speech region found by the endpointer) ends with exactly one
        final whose ``start_s`` / ``end_s`` are stream positions (s) and whose ``words``
        carry per-word times. ``utterance_id`` counts from 0 per stream. Concurrent
        streams on one recognizer run one after the other (one decoder).
        """
        if language not in self.languages():
            raise UnsupportedLanguageError(
                f"pocketsphinx recognises English only ('en'), not {language!r}; "
                "choose another recognizer (e.g. 'aws') for other languages"
            )
        executor = self._get_executor()
        loop = asyncio.get_running_loop()
        async with self._lock:
            decoder = await loop.run_in_executor(executor, self._fresh_decoder)
            session = _Session(self, decoder, self._ps)
            finished = False
            try:
                async for chunk in chunks:
                    if chunk.sample_rate != self.sample_rate:
                        raise AudioFormatError(
                            f"pocketsphinx needs {self.sample_rate} Hz audio, got "
                            f"{chunk.sample_rate} Hz; resample first"
                        )
                    if not chunk.pcm:
                        continue
                    results = await loop.run_in_executor(
                        executor, session.feed, chunk.pcm, chunk.start_s
                    )
                    for transcript in results:
                        yield transcript
                results = await loop.run_in_executor(executor, session.finish)
                finished = True
                for transcript in results:
                    yield transcript
            finally:
                if not finished and self._executor is not None:
                    try:
                        await asyncio.shield(loop.run_in_executor(executor, session.abort))
                    except RuntimeError:  # executor already shut down
                        logger.debug("pocketsphinx worker gone before abort")


def create_recognizer(**options: Any) -> PocketSphinxRecognizer:
    """Registry factory: ``PocketSphinxRecognizer(**options)``."""
    return PocketSphinxRecognizer(**options)
