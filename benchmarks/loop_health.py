"""6. Event-loop health: the largest stall while a session runs with UI subscribers attached.

A notebook runs the pipeline on the kernel's event loop, beside the widgets. A ticker task
asks for ``asyncio.sleep(TICK_S)`` (5 ms) over and over and records how late each wake-up is
(``loop.time()`` drift beyond the 5 ms): that lateness is how long something held the loop.
The loop thread's CPU time per tick
(``time.thread_time``) is recorded as well: a stall with CPU behind it is work done on the
loop; one without is the thread descheduled by a busy machine or waiting for the GIL
(engine threads whose C code does not release it). An idle baseline (probe alone) shows
what the machine itself costs. Two subscribers do what a live panel does: one formats a line per partial / final /
translation (kept in a ring buffer), one keeps a pandas DataFrame of the logged rows and
renders its last ten rows as text after every segment. Their own time per call is recorded
too, so a stall can be attributed.

Sessions: the offline stack (pocketsphinx / Apertium / eSpeak NG in their threads) on two
LibriVox clips joined, and the simulated ``cloud-like`` stack on a synthetic talk; both
paced in real time with a real-time :class:`~s2st_kit.audio.PacedSink`.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import numpy as np
import pandas as pd

from s2st_kit import PacedSink, Pipeline, PipelineConfig
from s2st_kit.events import (
    Event,
    FinalTranscript,
    PartialTranscript,
    SegmentLogged,
    StateChanged,
    TranslationReady,
)

from .common import BenchResult, ToneSource, percentile, simulated_engines, talk_script

NAME = "loop_health"
TICK_S = 0.005
TARGET_STALL_MS = 20.0


class LoopProbe:
    """Measures event-loop stalls: lateness (s) of each ``TICK_S`` sleep's wake-up."""

    def __init__(self, tick_s: float = TICK_S) -> None:
        self.tick_s = tick_s
        self.lateness_s: list[float] = []
        self.at_s: list[float] = []  # loop time of each wake-up
        self.cpu_s: list[float] = []  # loop-thread CPU time spent during each interval
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.tick_s
            cpu = time.thread_time()
            await asyncio.sleep(self.tick_s)
            self.cpu_s.append(time.thread_time() - cpu)
            now = loop.time()
            self.lateness_s.append(max(0.0, now - due))
            self.at_s.append(now)

    def start(self) -> None:
        """Start ticking on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-probe")

    async def stop(self) -> None:
        """Stop ticking."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def summary(self, since: float | None = None, until: float | None = None) -> dict[str, float]:
        """Largest, p99 and median lateness (ms) and the number of ticks.

        since / until: only wake-ups in this loop-time window (s).
        """
        at = np.asarray(self.at_s)
        keep = np.ones(len(at), bool)
        if since is not None:
            keep &= at >= since
        if until is not None:
            keep &= at < until
        v = np.asarray(self.lateness_s)[keep] * 1000
        cpu = np.asarray(self.cpu_s)[keep] * 1000
        return {
            "ticks": float(len(v)),
            "cpu_burst_max_ms": float(cpu.max()) if len(cpu) else float("nan"),
            "max_ms": float(v.max()) if len(v) else float("nan"),
            "p99_ms": percentile(v, 99),
            "median_ms": percentile(v, 50),
        }


class PanelSubscribers:
    """The work a live notebook panel does per event (see the module docstring)."""

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=200)
        self.rows: list[dict[str, Any]] = []
        self.frame = pd.DataFrame()
        self.table_text = ""
        self.call_s: list[float] = []
        # A notebook has rendered DataFrames before: pay pandas' first-use costs (lazy
        # imports of its formatters) now, not inside the first measured callback.
        pd.DataFrame([{"a": 1, "b": "x"}]).tail(10).to_string()

    def on_event(self, ev: Event) -> None:
        """Format transcript lines; rebuild the rows table after each logged segment."""
        t = time.perf_counter()
        if isinstance(ev, PartialTranscript | FinalTranscript):
            mark = "✓" if isinstance(ev, FinalTranscript) else "…"
            self.lines.append(f"{ev.t:8.3f} s {mark} [{ev.utterance_id}] {ev.transcript.text}")
        elif isinstance(ev, TranslationReady):
            self.lines.append(f"{ev.t:8.3f} s → [{ev.segment_id}] {ev.translation.text}")
        elif isinstance(ev, SegmentLogged):
            self.rows.append(ev.row)
            self.frame = pd.DataFrame(self.rows)
            cols = ["segment_id", "transcript", "translation", "t_speech_end", "t_play_start"]
            self.table_text = self.frame[cols].tail(10).to_string()
        self.call_s.append(time.perf_counter() - t)


async def probed_session(pipe: Pipeline) -> dict[str, Any]:
    """Run ``pipe`` with the panel subscribers and the loop probe; return their figures.

    Stalls are split at the pipeline's ``running`` state: before it the engines are
    validated and warmed up (model loading), after it the session runs.
    """
    panel = PanelSubscribers()
    pipe.subscribe(panel.on_event)
    loop = asyncio.get_running_loop()
    running_at: list[float] = []
    pipe.subscribe(
        lambda ev: (
            running_at.append(loop.time())
            if isinstance(ev, StateChanged) and ev.state == "running"
            else None
        )
    )
    probe = LoopProbe()
    probe.start()
    try:
        log = await pipe.run()
    finally:
        await probe.stop()
    start = running_at[0] if running_at else None
    out: dict[str, Any] = probe.summary(since=start)
    out["warm_up"] = probe.summary(until=start) if start is not None else None
    out["segments"] = len(log)
    out["subscriber_calls"] = len(panel.call_s)
    out["subscriber_max_ms"] = max(panel.call_s, default=0.0) * 1000
    return out


async def idle_baseline(seconds: float) -> dict[str, float]:
    """The probe alone for ``seconds``: what the machine (other processes) costs the loop."""
    probe = LoopProbe()
    probe.start()
    await asyncio.sleep(seconds)
    await probe.stop()
    return probe.summary()


async def simulated_session(*, quick: bool = False) -> dict[str, Any]:
    """The cloud-like simulated stack on a synthetic talk (~20 s; ~5 s quick, 4x faster)."""
    script = talk_script(1 if quick else 4, seed=7)
    speed = 4.0 if quick else 1.0
    engines = simulated_engines(script, preset="cloud-like", seed=0)
    source = ToneSource(
        script[-1][2] + 1.0, [(a, b) for _, a, b in script], realtime=True, speed=speed
    )
    pipe = Pipeline(engines, PipelineConfig(), source=source, sink=PacedSink(speed=speed))
    return await probed_session(pipe)


async def offline_session(*, quick: bool = False) -> dict[str, Any] | str:
    """The offline stack on LibriVox clips joined (real time); a reason string if unavailable."""
    from .offline import joined_librivox, offline_engines

    joined = joined_librivox(n_clips=1 if quick else 2)
    if isinstance(joined, str):
        return joined
    engines = offline_engines()
    if isinstance(engines, str):
        return engines
    from s2st_kit import MemorySource

    samples, _reference = joined
    try:
        speed = 4.0 if quick else 1.0
        source = MemorySource(samples, 16000, realtime=True, speed=speed)
        pipe = Pipeline(engines, PipelineConfig(), source=source, sink=PacedSink(speed=speed))
        return await probed_session(pipe)
    finally:
        await engines.aclose()


async def run(*, quick: bool = False) -> BenchResult:
    """Idle baseline, then both sessions, one after the other."""
    res = BenchResult(NAME)
    idle = await idle_baseline(1.0 if quick else 5.0)
    sim = await simulated_session(quick=quick)
    off = await offline_session(quick=quick)
    res.details = {"idle": idle, "simulated": sim, "offline": off}
    res.add(
        "idle loop (no session): largest stall",
        idle["max_ms"],
        "ms",
        note=f"p99 {idle['p99_ms']:.2f} ms over {idle['ticks']:.0f} ticks, largest CPU burst "
        f"{idle['cpu_burst_max_ms']:.1f} ms: the machine's own noise",
    )
    stacks: list[tuple[str, dict[str, Any] | str]] = [
        ("simulated cloud-like", sim),
        ("offline", off),
    ]
    for label, d in stacks:
        if isinstance(d, str):
            res.add(f"{label}: largest loop stall", None, "ms", note=f"skipped: {d}")
            continue
        warm = d["warm_up"]
        res.add(
            f"{label}: largest loop stall",
            d["max_ms"],
            "ms",
            target=f"< {TARGET_STALL_MS:.0f} ms",
            ok=d["max_ms"] < TARGET_STALL_MS,
        )
        res.add(
            f"{label}: largest on-loop CPU burst",
            d["cpu_burst_max_ms"],
            "ms",
            target=f"< {TARGET_STALL_MS:.0f} ms",
            ok=d["cpu_burst_max_ms"] < TARGET_STALL_MS,
            note="loop-thread CPU time in one tick interval (5 ms + lateness; excludes time "
            "descheduled or waiting for the GIL); "
            f"wall stall p99 {d['p99_ms']:.2f} ms, median {d['median_ms']:.2f} ms over "
            f"{d['ticks']:.0f} ticks of 5 ms while running; {d['segments']} segments; panel "
            f"subscriber max {d['subscriber_max_ms']:.1f} ms per call"
            + (
                f"; warm-up (engines loading, before running) max {warm['max_ms']:.0f} ms"
                if warm and warm["ticks"]
                else ""
            ),
        )
    return res
