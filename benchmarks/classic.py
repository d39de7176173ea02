"""The classic sequential design, re-implemented faithfully, as the baseline for ``latency``.

This is the structure of the usual "Transcribe streaming → Translate → Polly" sample
(a transcript-event handler that does everything itself)::

    async for result in recognizer.stream(microphone):       # audio is sent by its own task
        if not result.is_final:                              # only final results
            continue
        text = await translate(result.text)                  # blocking call in the handler
        audio = b"".join([c async for c in synthesize(text)])  # wait for the FULL synthesis
        await speaker.write(audio); await speaker.drain()    # play it, handler blocked meanwhile

One segment at a time: while a segment is translated, synthesised and played, results of
later utterances wait in the recognizer's output. Nothing overlaps.

It uses the same engine objects (the same simulated recognizer, translator and synthesizer
with the same latency models and seeds), the same source and the same sink types as the
pipeline, and records the same timestamps on a :class:`~s2st_kit.clock.SessionClock`, as
:class:`~s2st_kit.records.Segment` rows, so that :func:`s2st_kit.metrics.add_derived`
computes ``ear_to_ear_s = t_play_start − t_speech_end`` identically for both designs.
``t_speech_end`` is, as in the pipeline, the time the source delivered the chunk that
contains the utterance's last audio.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import AsyncIterator

from s2st_kit.clock import SessionClock
from s2st_kit.config import PipelineConfig
from s2st_kit.engines import Engines
from s2st_kit.engines.protocols import AudioSink, AudioSource
from s2st_kit.log import SegmentLog
from s2st_kit.records import AudioChunk, Segment

__all__ = ["run_classic"]


async def run_classic(
    engines: Engines,
    config: PipelineConfig,
    *,
    source: AudioSource,
    sink: AudioSink,
    clock: SessionClock | None = None,
) -> SegmentLog:
    """Run one session the classic way; return its rows as a :class:`SegmentLog`.

    Audio chunks go to the recognizer as the source delivers them (chunks must already be
    at the recognizer's rate; the benchmark sources are 16 kHz, 100 ms). ``policy`` is
    recorded as ``"classic"``. Engines, source and sink are closed by the caller / at the end
    respectively (the source and sink are closed here, as the pipeline does).
    """
    clock = clock or SessionClock()
    rec, mt, tts = engines.recognizer, engines.translator, engines.synthesizer
    voice = config.voice or tts.default_voice(config.target_lang)
    log = SegmentLog()
    delivered_end: list[float] = []  # stream position (s) at the end of each chunk
    delivered_t: list[float] = []  # session time (s) when it was delivered

    async def microphone() -> AsyncIterator[AudioChunk]:
        async for chunk in source:
            delivered_end.append(chunk.end_s)
            delivered_t.append(clock.now())
            yield chunk

    def speech_end_time(position_s: float) -> float | None:
        if not delivered_end:
            return None
        i = bisect_left(delivered_end, position_s - 1e-9)
        return delivered_t[min(i, len(delivered_t) - 1)]

    clock.start()
    segment_id = 0
    stream = rec.stream(microphone(), language=config.source_lang)
    try:
        async for result in stream:
            if not result.is_final or not result.text.strip():
                continue
            seg = Segment(
                session_id=config.session_id or "classic",
                segment_id=segment_id,
                source_lang=config.source_lang,
                target_lang=config.target_lang,
                asr_engine=rec.name,
                mt_engine=mt.name,
                tts_engine=tts.name,
                voice=voice,
                chunk_ms=config.chunk_ms,
                policy="classic",
                audio_start_s=result.start_s,
                audio_end_s=result.end_s,
                transcript=result.text,
            )
            segment_id += 1
            seg.t_asr_final = clock.now()
            seg.t_speech_end = speech_end_time(result.end_s)
            try:
                seg.t_mt_start = clock.now()
                translation = await mt.translate(
                    result.text, source=config.source_lang, target=config.target_lang
                )
                seg.t_mt_end = clock.now()
                seg.translation = translation.text
                seg.chars_translated = len(result.text)
                seg.chars_synthesized = len(translation.text)
                seg.t_tts_start = clock.now()
                pcm: list[bytes] = []
                rate = 16000
                async for chunk in tts.synthesize(
                    translation.text, voice=voice, language=config.target_lang
                ):
                    if seg.t_tts_first_audio is None:
                        seg.t_tts_first_audio = clock.now()
                    pcm.append(chunk.pcm)
                    rate = chunk.sample_rate
                    seg.tts_audio_s += chunk.duration_s
                seg.t_tts_end = clock.now()
                seg.t_play_start = clock.now()
                await sink.write(AudioChunk(b"".join(pcm), rate, 0.0))
                await sink.drain()
                seg.t_play_end = clock.now()
            except Exception as exc:  # the classic handler logs and carries on
                seg.status, seg.error = "error", f"{type(exc).__name__}: {exc}"
            log.append(seg)
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
        await source.aclose()
        await sink.aclose()
    return log
