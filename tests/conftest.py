"""Shared fixtures: scripted speech, simulated engines, thread/task leak checks."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

import numpy as np
import pytest

from s2st_kit.engines import Engines
from s2st_kit.engines.simulated import (
    Faults,
    SimulatedRecognizer,
    SimulatedSynthesizer,
    SimulatedTranslator,
)
from s2st_kit.workloads import talk_audio

ARTIFACTS = Path(__file__).parent / "artifacts"

SCRIPT = [
    ("Good morning, everyone. Thank you for coming.", 0.4, 3.0),
    ("Today we talk about streaming translation, and why latency matters.", 3.6, 7.4),
    ("Questions are welcome at the end.", 8.0, 9.6),
]


def speechlike(duration_s: float, rate: int = 16000, spans=None) -> np.ndarray:
    """Tone bursts where ``spans`` (s) say speech is, silence elsewhere; int16."""
    return talk_audio(duration_s, spans or [], rate)


def make_engines(script=SCRIPT, *, preset="instant", seed=0, faults: Faults | None = None, **rec):
    return Engines(
        SimulatedRecognizer(script, preset=preset, seed=seed, faults=faults, **rec),
        SimulatedTranslator(preset=preset, seed=seed, faults=faults),
        SimulatedSynthesizer(preset=preset, seed=seed, faults=faults),
    )


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def no_leaks():
    """Fail if a test leaves threads or asyncio tasks behind."""
    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for t in leftover:
        t.join(timeout=2)
    leftover = [t for t in leftover if t.is_alive()]
    assert not leftover, f"threads left running: {leftover}"


def pending_tasks() -> list[asyncio.Task]:
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current and not t.done()]


class LoopWatch:
    """Measure the longest stall of the running loop (s) while the ``async with`` body runs."""

    def __init__(self, tick_s: float = 0.005) -> None:
        self.tick_s = tick_s
        self.max_gap_s = 0.0

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.tick_s)
            now = loop.time()
            self.max_gap_s = max(self.max_gap_s, now - last - self.tick_s)
            last = now

    async def __aenter__(self) -> LoopWatch:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.sleep(self.tick_s * 2)  # one more tick sees a stall that just ended
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
