"""7. Sweep throughput: (configuration × clip) cells per minute with the simulated stack.

Uses :func:`s2st_kit.experiments.sweep` as a notebook would: the six ``data/`` manifest
clips × a grid of ``chunk_ms`` (50, 100, 200 ms) × ``policy`` (final, stable,
local-agreement) = 54 cells, clips fed as fast as consumed (``realtime=False``), results in
memory (``out=None``). Twice:

* ``instant`` preset, ``concurrency=2`` (one cell per core): how fast the pipeline itself
  chews through sweeps (CPU-bound);
* ``cloud-like`` preset, ``concurrency=8``: a what-if study, bound by the modelled latencies
  (each cell waits ~1.1 s for its recognizer's final results, and synthesis paces).

Figures: cells per minute and seconds of clip audio processed per wall-clock second.
"""

from __future__ import annotations

import time
from typing import Any

import soundfile as sf

from s2st_kit.datasets import load_manifest
from s2st_kit.errors import ConfigError
from s2st_kit.experiments import sweep

from .common import BenchResult

NAME = "sweep"
GRID: dict[str, list[Any]] = {
    "chunk_ms": [50, 100, 200],
    "policy": ["final", "stable", "local-agreement"],
}


async def measure(preset: str, concurrency: int, *, quick: bool = False) -> dict[str, Any]:
    """One sweep; cells per minute, audio seconds per wall second, rows."""
    clips = load_manifest()
    clips = clips[:1] if quick else clips
    grid = {"chunk_ms": [100], "policy": ["final", "stable"]} if quick else GRID
    t = time.perf_counter()
    df = await sweep(
        clips, grid, preset=preset, concurrency=concurrency, out=None, progress=False, seed=0
    )
    wall = time.perf_counter() - t
    n_cells = df["cell"].nunique()
    durations = {c.id: sf.info(str(c.path)).duration for c in clips}
    audio_s = sum(durations[c] for c in df.groupby("cell").clip_id.first())
    return {
        "preset": preset,
        "concurrency": concurrency,
        "cells": n_cells,
        "rows": len(df),
        "wall_s": wall,
        "cells_per_min": n_cells / wall * 60,
        "audio_s_per_wall_s": audio_s / wall,
    }


async def run(*, quick: bool = False) -> BenchResult:
    """Both sweeps (quick: one clip × two policies)."""
    res = BenchResult(NAME)
    try:
        load_manifest()
    except ConfigError as exc:
        res.skipped = f"no data/ manifest: {exc}"
        return res
    instant = await measure("instant", 2, quick=quick)
    cloud = await measure("cloud-like", 8, quick=quick)
    res.details = {"instant": instant, "cloud-like": cloud}
    for d in (instant, cloud):
        res.add(
            f"{d['preset']}, concurrency {d['concurrency']}",
            d["cells_per_min"],
            "cells/min",
            note=f"{d['cells']} cells ({d['rows']} rows) in {d['wall_s']:.1f} s; "
            f"{d['audio_s_per_wall_s']:.0f} s of clip audio per second; experiments.sweep",
        )
    return res
