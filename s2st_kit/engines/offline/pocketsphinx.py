"""Streaming English recognition with pocketsphinx 5 (offline, CPU only).

Audio is cut into fixed frames for pocketsphinx's :class:`Endpointer` (voice activity
detection, 30 ms frames at 16 kHz); each speech region is one utterance, decoded
incrementally. While an utterance grows, partial hypotheses are yielded at most every
``partial_interval_s`` of audio; when the endpointer leaves speech (or the input ends)
the utterance gets exactly one final :class:`~s2st_kit.records.Transcript` with word
timings from the decoder's segmentation.

Two things make the streamed transcript as good as pocketsphinx's decode of the whole
utterance at once (measured on the LibriVox clips: 34 % WER before, 21 % after, equal to
the whole-utterance decode):

* pre-roll: the endpointer's region begins at speech onset; the decoder first gets 0.25 s
  of the audio before it, so the first word is heard after silence, as in a whole file;
* cepstral mean: a stream's first utterance is held back until it ends (at most 10 s), then
  decoded with its own cepstral mean instead of the model's generic one; later utterances
  start from the mean of the stream's speech so far (see :class:`_CepstralMean`). So the
  first utterance has no partials for its first 10 s, and its final comes later by the time
  to decode it (about 0.1 s per second of speech); every sample is still decoded once.
  Estimating that mean from only the utterance's first 1-3 s of speech and going live from
  there was measured and rejected: the first final came about 0.5 s sooner, but the mean of
  a few seconds is far from the whole utterance's and the LibriVox WER rose to 22-31 %
  (each clip its own stream; restarting at 2, 4, 8 s with a fresher mean: still 22.5 %).

The search keeps at most 5000 active HMMs per frame (``maxhmmpf``; the model's default is
30000): the same words on those clips with about 40 % less decoding time. Unpaced, the
offline stack runs at about 0.10 × real time (0.17 before these changes, same machine).

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
#: Audio (s) from before the endpointer's speech region fed to the decoder first: the region
#: starts at speech onset, and without leading silence the first word is often misrecognised.
_PREROLL_S = 0.25
#: Speech (s) a stream's cepstral mean must rest on before utterances are decoded live.
_CMN_MIN_S = 1.0
#: Audio (s) of an utterance held back at most while the stream's cepstral mean is unknown.
_CMN_FIRST_MAX_S = 10.0
#: Audio (s) of an utterance its cepstral mean is computed from (the first this many).
_CMN_KEEP_S = 30.0
#: Search options left out of the feature-only decoder of :class:`_CepstralMean`.
_SEARCH_KEYS = frozenset(
    {"lm", "lmctl", "dict", "fdict", "jsgf", "fsg", "keyphrase", "kws", "allphone"}
)


def _import_pocketsphinx() -> Any:
    try:
        return importlib.import_module("pocketsphinx")
    except ImportError as exc:
        raise EngineNotInstalledError(
            f"the pocketsphinx recognizer needs the pocketsphinx package: {exc}. "
            f"To install: {_INSTALL}"
        ) from exc


class _CepstralMean:
    """Cepstral means of whole utterances, and a stream's running estimate of them.

    pocketsphinx subtracts a cepstral mean from every feature frame (CMN). Decoding audio
    as it arrives, it can only use a running mean that starts at the model's generic default
    and adapts over many seconds, so a stream's first utterances were decoded with a mean far
    from the speaker's and the channel's; a whole-utterance decode uses the utterance's own
    mean. This is why the streamed transcript was worse (measured on the LibriVox clips).

    :meth:`of` computes an utterance's mean with a second, feature-only decoder (no language
    model, a one-word grammar of silence; about 0.4 % of real time). The stream keeps a
    running estimate (:meth:`add`), weighted by seconds of speech, the older speech's weight
    capped at ``memory_s`` so a changing channel is followed. All methods run in the
    recognizer's worker thread.
    """

    def __init__(self, estimator: Any, *, memory_s: float = 30.0) -> None:
        self._est = estimator
        self.memory_s = memory_s
        self.mean: list[float] | None = None  # the stream's estimate (13 cepstra)
        self.weight_s = 0.0  # seconds of speech behind ``mean``

    @staticmethod
    def create_estimator(ps: Any, config: dict[str, Any]) -> Any:
        """The feature-only decoder for ``config`` (same acoustic model and front end)."""
        options = {k: v for k, v in config.items() if k not in _SEARCH_KEYS}
        estimator = ps.Decoder(**options, lm=None, dict=None, cmn="batch")
        estimator.add_word("<sil-only>", "SIL", True)
        estimator.add_jsgf_string("sil", "#JSGF V1.0; grammar sil; public <s> = <sil-only>;")
        estimator.activate_search("sil")
        return estimator

    def of(self, pcm: bytes) -> list[float] | None:
        """Mean cepstrum of ``pcm`` (mono s16le), or None when it is too short (< 0.1 s)."""
        if len(pcm) < 3200:
            return None
        self._est.start_utt()
        self._est.process_raw(pcm, True, True)  # features only, batch CMN over all of pcm
        mean = [float(x) for x in self._est.get_cmn().split(",")]
        self._est.end_utt()
        return None if any(math.isnan(x) for x in mean) else mean

    def add(self, mean: list[float], duration_s: float) -> None:
        """Fold an utterance's ``mean`` (``duration_s`` of audio) into the running estimate."""
        if self.mean is None:
            self.mean, self.weight_s = mean, duration_s
            return
        old = min(self.weight_s, self.memory_s)
        total = old + duration_s
        self.mean = [
            (old * a + duration_s * b) / total for a, b in zip(self.mean, mean, strict=True)
        ]
        self.weight_s = total

    @staticmethod
    def text(mean: list[float]) -> str:
        """``Decoder.set_cmn`` form: comma-separated numbers."""
        return ",".join(f"{x:.4f}" for x in mean)


class _Session:
    """One recognition stream. Every method runs in the recognizer's worker thread.

    Cepstral mean (see :class:`_CepstralMean`): until the stream has ``_CMN_MIN_S`` of
    speech behind its estimate, an utterance's audio is held back until the utterance ends
    or reaches ``_CMN_FIRST_MAX_S``, then decoded with its own mean (and live from there on);
    it has no partials before that. Every later utterance starts with the stream's estimate
    and is decoded as it arrives. Each sample is decoded once.
    """

    def __init__(self, rec: PocketSphinxRecognizer, decoder: Any, estimator: Any, ps: Any) -> None:
        self._rec = rec
        self._dec = decoder
        self._cmn = _CepstralMean(estimator)
        self._initial_cmn: str = rec._initial_cmn  # the model's default mean
        self._ep = ps.Endpointer(
            sample_rate=rec.sample_rate,
            window=rec.vad_window_s,
            ratio=rec.vad_ratio,
            vad_mode=rec.vad_mode,
        )
        self._frame_bytes: int = self._ep.frame_bytes
        # the last audio given to the endpointer (for the pre-roll), ending at sample ``_fed``
        self._history = bytearray()
        self._history_max = 2 * round((rec.vad_window_s + _PREROLL_S + 0.1) * rec.sample_rate)
        self._fed = 0  # samples given to the endpointer
        self._slice_bytes = 2 * max(1, rec.sample_rate // 100)  # 10 ms of PCM16 (one frame)
        self._buffer = bytearray()
        self._offset_s: float | None = None  # stream position of the endpointer's t=0
        self._in_utt = False
        self._utt_start_s = 0.0  # endpointer time (s) of the first sample decoded (pre-roll)
        self._speech_start_s = 0.0  # endpointer time (s) where its speech region starts
        self._utt_samples = 0  # samples fed to the decoder in this utterance
        self._since_partial = 0  # samples since the last partial check
        self._last_partial = ""
        self._partials_sent = 0
        self._next_id = 0
        self._utt_pcm = bytearray()  # the current utterance's audio, for its cepstral mean
        self._held = False  # the utterance's audio is held back until its mean is known
        # (bytes held back, their cepstral mean) once a held-back utterance is decoded
        self._held_mean: tuple[int, list[float] | None] = (-1, None)

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
            frame = view[i : i + fb]
            self._history += frame
            self._fed += fb // 2
            del self._history[: max(0, len(self._history) - self._history_max)]
            was_in_speech = self._ep.in_speech
            speech = self._ep.process(frame)
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
        if self._in_utt and not self._held:
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
        mean = self._cmn.mean
        self._held = mean is None or self._cmn.weight_s < _CMN_MIN_S
        self._utt_pcm.clear()
        self._held_mean = (-1, None)
        self._in_utt = True
        self._speech_start_s = float(self._ep.speech_start)
        preroll = self._preroll(round(self._speech_start_s * self._rec.sample_rate))
        self._utt_start_s = self._speech_start_s - len(preroll) / 2 / self._rec.sample_rate
        self._utt_pcm += preroll
        self._utt_samples = len(preroll) // 2
        if mean is not None and not self._held:
            self._dec.set_cmn(_CepstralMean.text(mean))
            self._dec.start_utt()
            self._decode(preroll)
        self._since_partial = 0
        self._last_partial = ""
        self._partials_sent = 0

    def _preroll(self, speech_start: int) -> bytes:
        """Up to ``_PREROLL_S`` of the audio just before sample ``speech_start``."""
        history_start = self._fed - len(self._history) // 2
        first = max(history_start, speech_start - round(_PREROLL_S * self._rec.sample_rate))
        if first >= speech_start:
            return b""
        return bytes(
            self._history[2 * (first - history_start) : 2 * (speech_start - history_start)]
        )

    def _decode(self, pcm: bytes) -> None:
        # pocketsphinx holds the GIL while it decodes: feed it at most 10 ms (one frame) at a
        # time so the event loop thread is never kept waiting longer than one short slice (the
        # endpointer hands over its whole look-back window at the start of speech).
        step = self._slice_bytes
        for i in range(0, len(pcm), step):
            self._dec.process_raw(pcm[i : i + step], False, False)

    def _decode_held(self) -> None:
        """Decode the audio held back so far, with its own cepstral mean."""
        self._held = False
        pcm = bytes(self._utt_pcm)
        mean = self._cmn.of(pcm)
        self._held_mean = (len(pcm), mean)
        self._dec.set_cmn(self._initial_cmn if mean is None else _CepstralMean.text(mean))
        self._dec.start_utt()
        self._decode(pcm)

    def _add_utterance_mean(self) -> None:
        """Fold the (first ``_CMN_KEEP_S`` of the) utterance's mean into the stream's."""
        pcm = bytes(self._utt_pcm)
        held_bytes, mean = self._held_mean
        if held_bytes != len(pcm):  # the utterance went on after its held part was decoded
            mean = self._cmn.of(pcm)
        if mean is not None:
            self._cmn.add(mean, len(pcm) / 2 / self._rec.sample_rate)

    def _process(self, speech: bytes, out: list[Transcript]) -> None:
        if len(self._utt_pcm) < 2 * _CMN_KEEP_S * self._rec.sample_rate:
            self._utt_pcm += speech
        n = len(speech) // 2
        self._utt_samples += n
        if self._held:
            if self._utt_samples >= _CMN_FIRST_MAX_S * self._rec.sample_rate:
                self._decode_held()
            return
        self._decode(speech)
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
        """Stream positions (s) of the speech region's start and of the last sample decoded."""
        offset = self._offset_s or 0.0
        end = offset + self._utt_start_s + self._utt_samples / self._rec.sample_rate
        return round(offset + self._speech_start_s, 3), round(end, 3)

    def _end_utt(self) -> list[Transcript]:
        if self._held:
            self._decode_held()
        self._add_utterance_mean()
        self._utt_pcm.clear()
        self._dec.end_utt()
        self._in_utt = False
        start, end = self._utt_span()
        decoded_from = (self._offset_s or 0.0) + self._utt_start_s  # frame 0 of the decoder
        words: list[Word] = []
        for seg in self._dec.seg():
            if is_filler(seg.word):
                continue
            words.append(
                Word(
                    text=strip_variant(seg.word),
                    start_s=round(decoded_from + seg.start_frame / _FRAME_RATE, 3),
                    end_s=round(decoded_from + (seg.end_frame + 1) / _FRAME_RATE, 3),
                    stable=True,
                )
            )
        raw = " ".join(w.text for w in words)
        if words:  # a first word may begin in the pre-roll, before the speech region
            start = min(start, words[0].start_s)
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
            15 % faster, and on the LibriVox clips more accurate (whole-utterance WER 21 % vs
            28 %; wider beams changed nothing there). Default True.
        beam / wbeam: search beam widths (pocketsphinx ``-beam`` / ``-wbeam``); ``None``
            keeps the model defaults (1e-48 / 7e-29). Wider (smaller) is slower and more
            accurate.
        maxhmmpf: at most this many active HMMs per frame (pocketsphinx ``-maxhmmpf``),
            default 5000; ``None`` keeps the model default (30000). On the LibriVox clips
            5000 gives the same words with about 40 % less decoding time; 2000 starts losing
            words.
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
        maxhmmpf: int | None = 5000,
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
        if maxhmmpf is not None:
            config["maxhmmpf"] = maxhmmpf
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
        self._estimator: Any = None
        self._initial_cmn = ""
        self._lock = asyncio.Lock()
        self._closed = False

    # -- capabilities -------------------------------------------------------------
    @property
    def decoder_config(self) -> dict[str, Any]:
        """The options of this recognizer's ``pocketsphinx.Decoder`` (a copy), e.g. to decode
        the same audio as one whole utterance with the same model and search settings."""
        return dict(self._config)

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

    def _ensure_estimator(self) -> Any:
        if self._estimator is None:
            try:
                self._estimator = _CepstralMean.create_estimator(self._ps, self._config)
            except (ValueError, RuntimeError) as exc:
                raise ConfigError(f"pocketsphinx could not load its model: {exc}") from exc
        return self._estimator

    def _fresh_decoder(self) -> Any:
        """The decoder with its cepstral mean reset to the model's initial estimate: live
        CMN adapts within a stream, but must not carry one session's speaker into the next
        (a recognizer is reused across sessions; without this, results depend on order)."""
        decoder = self._ensure_decoder()
        decoder.set_cmn(self._initial_cmn)
        return decoder

    async def load(self) -> None:
        """Create the decoders now (about 0.3 s, in the worker thread) instead of on first use."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._get_executor(), self._ensure_decoder)
        await loop.run_in_executor(self._get_executor(), self._ensure_estimator)

    async def aclose(self) -> None:
        """Stop the worker thread and free the decoder. Idempotent."""
        if self._closed:
            return
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        self._decoder = None
        self._estimator = None

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
            estimator = await loop.run_in_executor(executor, self._ensure_estimator)
            session = _Session(self, decoder, estimator, self._ps)
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
