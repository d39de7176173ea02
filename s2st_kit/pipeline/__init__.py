"""The streaming pipeline: source → recognizer → commit policy → translator → synthesizer → sink.

::

    source ──▶ [audio queue] ──▶ recognizer ──▶ policy ──▶ [segment queue] ──▶ N workers
                                                                  translate → synthesize
                                                                          │ (per-segment audio queue)
    sink ◀── playback (one segment at a time, in speech order) ◀──────────┘

With several :class:`Listener` s (fan-out) everything right of the commit policy is one
*branch* per listener — its own segment queue, workers, playback and lag control — fed by
the one recognizer stream (:mod:`.branch`).

* Everything runs on the caller's event loop (``await pipe.run()``, or ``pipe.start()`` /
  ``await pipe.stop()`` from notebook widgets); one :class:`asyncio.TaskGroup` owns every task.
* Translation and synthesis of different segments overlap (``max_inflight`` workers);
  playback stays in speech order and never overlaps.
* All queues are bounded; ``PipelineConfig.overflow`` decides what a full queue does.
* A failing translation or synthesis marks that segment's row ``status="error"`` with a
  readable ``error``; the session goes on. Retryable engine errors (throttling, timeouts) are
  retried first, within one budget per call shared with the engines' own retries
  (:mod:`s2st_kit.retry`). A dropped recognizer stream is restarted on the following audio
  (a budget per window of audio); the utterance it was in is logged as an error row.
* Timestamps are taken here, around engine calls, on the session clock. Rows are logged
  when playback of the segment ends (or it fails / is dropped), in segment order.

The parts, one module each: :mod:`.session` (:class:`Pipeline`: lifecycle and wiring),
:mod:`.bus` (events), :mod:`.ingest` (source reader, bounded queues), :mod:`.speech`
(when audio was spoken), :mod:`.recognition` and :mod:`.utterances` (recognizer stage),
:mod:`.translation` (workers), :mod:`.playback` (scheduler; the lag controller's home),
:mod:`.prepare` (:func:`validate`, warm-up), :mod:`.branch` (fan-out: :class:`Listener`).
"""

from .branch import Listener
from .prepare import validate
from .session import Pipeline, PipelineState, PipelineStats

__all__ = ["Listener", "Pipeline", "PipelineState", "PipelineStats", "validate"]
