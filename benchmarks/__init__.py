"""The s2st_kit performance suite (``make bench`` = ``python -m benchmarks``).

One module per benchmark, each with ``async def run(*, quick: bool = False) -> BenchResult``:

=================  ========================================================================
``overhead``       the pipeline's own cost per segment (instant engines), events per second
``latency``        ear-to-ear vs the classic sequential design (:mod:`benchmarks.classic`),
                   vs the floor (asr_lag + mt + tts_ttfb), and EndOffset per commit policy
``offline``        pocketsphinx + Apertium + eSpeak NG on the LibriVox clips: RTF, WER,
                   end of speech → first audio
``memory``         RSS over one hour of audio through the simulated stack
``loop_health``    largest event-loop stall with UI subscribers attached
``sweep``          sweep throughput (configurations × clips per minute)
``drift``          lag over a 30-minute dense talk without and with lag control, the offline
                   stack on 3 minutes of LibriVox speech, and the WER cost of time-stretching
``aws_cpu``        CPU of one and four Transcribe streams (SDK as shipped vs s2st_kit)
                   against the loopback fake at real time, and the send delay added
``fanout``         the first listener's ear-to-ear with four listeners / with one (offline
                   stack, real time), and the CPU one more listener costs
``eval``           corpus evaluation throughput (utterances per minute, offline engines,
                   unpaced): local vs Dask with 2 worker processes, and their ratio
=================  ========================================================================

``python -m benchmarks`` runs them all, prints one table with PASS / MISS against the
targets and writes ``benchmarks/results/latest.json`` (machine, date, commit, every figure).
``--quick`` runs tiny inputs (the smoke test), ``--json PATH`` writes elsewhere,
``--only a,b`` runs a subset. See ``benchmarks/README.md``.
"""

from __future__ import annotations

__all__ = ["BENCHMARKS"]

#: Benchmark module names, in the order they run and print.
BENCHMARKS: tuple[str, ...] = (
    "overhead",
    "latency",
    "offline",
    "memory",
    "loop_health",
    "sweep",
    "drift",
    "aws_cpu",
    "fanout",
    "eval",
)
