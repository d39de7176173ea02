"""5. Memory: one hour of audio through the simulated stack (``instant`` preset), unpaced.

The input is generated chunk by chunk (:class:`benchmarks.common.ToneSource`: never more
than one 100 ms chunk of PCM alive), the recognizer follows a script of 3.0 s utterances
every 4.0 s (900 segments), the sink discards, and rows go to a temporary JSONL file as in
a real session (the in-memory log keeps its rows too, as it does in a notebook).

Resident memory (``VmRSS``, MiB) is read when the source delivers position 0, 10 min and
60 min (end of input), and once more after the session has ended. Growth is reported from start to 60 min
(target <= 30 MB) and from 10 min to 60 min (steady state).
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from s2st_kit import Pipeline, PipelineConfig

from .common import BenchResult, DiscardSink, ToneSource, read_rss_mb, simulated_engines

NAME = "memory"
TARGET_GROWTH_MB = 30.0
UTTERANCE_S = 3.0
PERIOD_S = 4.0


def hour_script(duration_s: float) -> list[tuple[str, float, float]]:
    """One ``UTTERANCE_S`` utterance every ``PERIOD_S`` seconds, distinct texts."""
    n = int(duration_s // PERIOD_S)
    return [
        (
            f"Sentence {i} of the long session, with a few more words.",
            0.5 + PERIOD_S * i,
            0.5 + PERIOD_S * i + UTTERANCE_S,
        )
        for i in range(n)
    ]


async def measure(
    duration_s: float = 3600.0, checkpoints_s: tuple[float, float] = (600.0, 3600.0)
) -> dict[str, Any]:
    """RSS (MiB) when the source delivers position 0 and each checkpoint (s), and at the end.

    Growth: last checkpoint − start, and last checkpoint − first checkpoint (MiB).
    """
    script = hour_script(duration_s)
    engines = simulated_engines(script, preset="instant")
    rss: dict[str, float] = {}
    pending = sorted(checkpoints_s)

    def probe(position_s: float) -> None:
        if "start" not in rss:
            rss["start"] = read_rss_mb()
        while pending and position_s >= pending[0]:
            rss[f"{pending.pop(0):.0f}s"] = read_rss_mb()

    source = ToneSource(duration_s, [(a, b) for _, a, b in script], on_position=probe)
    gc.collect()
    rss["before"] = read_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "hour.jsonl"
        pipe = Pipeline(
            engines, PipelineConfig(), source=source, sink=DiscardSink(), log_path=log_path
        )
        t = time.perf_counter()
        log = await pipe.run()
        wall = time.perf_counter() - t
        rss["end"] = read_rss_mb()
        jsonl_mb = log_path.stat().st_size / 2**20
    return {
        "audio_s": pipe.stats.audio_s,
        "segments": len(log),
        "ok": sum(r["status"] == "ok" for r in log),
        "wall_s": wall,
        "rss_mb": rss,
        "jsonl_mb": jsonl_mb,
        "growth_mb": rss[f"{checkpoints_s[1]:.0f}s"] - rss["start"],
        "growth_steady_mb": rss[f"{checkpoints_s[1]:.0f}s"] - rss[f"{checkpoints_s[0]:.0f}s"],
    }


async def run(*, quick: bool = False) -> BenchResult:
    """One hour of audio (quick: two minutes, checkpoint at one)."""
    res = BenchResult(NAME)
    d = await measure(120.0, (60.0, 120.0)) if quick else await measure()
    res.details = d
    mark = "1 min" if quick else "10 min"
    last = "120s" if quick else "3600s"
    res.add(
        "RSS at start of audio",
        d["rss_mb"]["start"],
        "MiB",
        note=f"{d['audio_s'] / 60:.0f} min of audio, {d['segments']} segments in "
        f"{d['wall_s']:.1f} s (instant engines, unpaced); JSONL {d['jsonl_mb']:.1f} MiB",
    )
    key = "60s" if quick else "600s"
    res.add(f"RSS after {mark} of audio", d["rss_mb"][key], "MiB")
    res.add(
        f"RSS after {d['audio_s'] / 60:.0f} min of audio",
        d["rss_mb"][last],
        "MiB",
        note=f"{d['rss_mb']['end']:.1f} MiB once the session has ended",
    )
    res.add(
        "RSS growth over the session",
        d["growth_mb"],
        "MiB",
        target=f"<= {TARGET_GROWTH_MB:.0f} MB",
        ok=d["growth_mb"] <= TARGET_GROWTH_MB,
        note=f"from {mark} on: {d['growth_steady_mb']:+.1f} MiB",
    )
    return res
