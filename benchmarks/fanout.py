"""9. Fan-out: what adding listeners costs, with the offline stack (pocketsphinx → Apertium →
eSpeak NG) on the English sample clips (``data/en_*.wav``, joined with 0.9 s pauses: nine
sentences, ~24 s; ``--quick``: one clip).

* **fanout 4 targets: ear-to-ear median / single target** — the talk paced in real time into
  real-time sinks, once with one listener (es) and once with four (es, ca, eo, and es again
  in the ``es-419`` voice: eSpeak NG has no Galician voice, so the fourth installed Apertium
  pair, en → gl, cannot be spoken offline). The figure is the Spanish listener's median
  ear-to-ear latency (``t_play_start − t_speech_end``, s) with four listeners divided by the
  same with one: adding listeners must not slow the first (target ≤ 1.1).
* **fanout: CPU per extra listener** — what one more branch (Apertium translation + eSpeak NG
  synthesis + the pipeline's own work) costs: the talk unpaced into discarding sinks with one
  and with four listeners, the recognizer replaced by the simulated one scripted from the
  clips' manifest (the one recognizer stream costs the same for any number of listeners, and
  pocketsphinx's CPU varies by more than a branch costs on a busy machine). CPU time (user +
  system) of this process and its live child processes (the Apertium pipelines) during
  ``Pipeline.run``, the least of three runs each; ``(cpu_4 − cpu_1) / 3`` per extra
  listener, reported as **% of one core at real time** (CPU seconds per second of input
  speech × 100) and, in the note, ms of CPU per segment. Informational (no target).

Skipped, with the reason printed, when the clips or an offline engine are not installed.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from s2st_kit import Listener, MemorySource, PacedSink, Pipeline, PipelineConfig
from s2st_kit.audio import read_audio
from s2st_kit.datasets import load_manifest
from s2st_kit.engines import Engines
from s2st_kit.engines.simulated import ScriptUtterance, SimulatedRecognizer

from .common import BenchResult, DiscardSink, percentile
from .offline import offline_engines

NAME = "fanout"
TARGET_RATIO = 1.1
PAUSE_S = 0.9
CPU_REPEATS = 3
#: The four listeners: three Apertium pairs and a second Spanish voice (see the docstring).
FOUR = (("es", None, "es"), ("ca", None, "ca"), ("eo", None, "eo"), ("es", "es-419", "es-419"))


def _listeners(n: int, *, paced: bool) -> list[Listener]:
    def sink() -> Any:
        return PacedSink(DiscardSink()) if paced else DiscardSink()

    return [Listener(t, voice=v, name=name, sink=sink()) for t, v, name in FOUR[:n]]


def english_talk(n_clips: int) -> tuple[np.ndarray, list[ScriptUtterance]] | str:
    """The first ``n_clips`` English sample clips joined with pauses (16 kHz float32) and
    their utterances as a recognizer script on the joined timeline (s)."""
    clips = [c for c in load_manifest() if c.language == "en" and c.utterances][:n_clips]
    if not clips:
        return "no English sample clips in data/manifest.json"
    pause = np.zeros(round(PAUSE_S * 16000), np.float32)
    parts, script, t = [pause], [], PAUSE_S
    for clip in clips:
        samples, _ = read_audio(clip.path, sample_rate=16000)
        script += [ScriptUtterance(u.text, t + u.start_s, t + u.end_s) for u in clip.utterances]
        parts += [samples, pause]
        t += len(samples) / 16000 + PAUSE_S
    return np.concatenate(parts), script


def _children_cpu_s() -> float:
    """User + system CPU (s) of this process's live child processes, from /proc."""
    me, total, tick = os.getpid(), 0.0, os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:  # ppid
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime + _children_cpu_s()


async def _session(engines: Engines, samples: Any, n: int, *, paced: bool) -> dict[str, Any]:
    """One session with ``n`` listeners; its rows, CPU (s) and wall time (s)."""
    source = MemorySource(samples, 16000, realtime=paced)
    pipe = Pipeline(engines, PipelineConfig(), source=source, listeners=_listeners(n, paced=paced))
    cpu, wall = _cpu_s(), time.perf_counter()
    df = (await pipe.run()).to_pandas()
    cpu, wall = _cpu_s() - cpu, time.perf_counter() - wall
    es = df[(df.listener == "es") & (df.status == "ok")]
    return {
        "listeners": n,
        "segments": int(df.segment_id.nunique()),
        "rows": len(df),
        "ok": int((df.status == "ok").sum()),
        "es_ear_to_ear_median_s": percentile(es.ear_to_ear_s, 50),
        "es_ear_to_ear_p95_s": percentile(es.ear_to_ear_s, 95),
        "cpu_s": cpu,
        "wall_s": wall,
    }


async def _cpu_per_listener(
    engines: Engines, samples: Any, script: list[ScriptUtterance]
) -> list[dict[str, Any]]:
    """Unpaced 1 and 4 listeners behind a scripted recognizer: the least CPU of three runs."""
    scripted = Engines(SimulatedRecognizer(script), engines.translator, engines.synthesizer)
    out = []
    for n in (1, 4):
        runs = [await _session(scripted, samples, n, paced=False) for _ in range(CPU_REPEATS)]
        out.append(min(runs, key=lambda r: r["cpu_s"]))
    return out


async def run(*, quick: bool = False) -> BenchResult:
    """Paced 1 vs 4 listeners (latency ratio), then unpaced 1 vs 4 (CPU)."""
    res = BenchResult(NAME)
    talk = english_talk(1 if quick else 3)
    engines = offline_engines() if not isinstance(talk, str) else talk
    if isinstance(talk, str) or isinstance(engines, str):
        res.skipped = talk if isinstance(talk, str) else str(engines)
        return res
    samples, script = talk
    audio_s = len(samples) / 16000
    try:
        await _session(engines, samples[: 16000 * 3], 4, paced=False)  # load every pair
        paced = [await _session(engines, samples, n, paced=True) for n in (1, 4)]
        unpaced = await _cpu_per_listener(engines, samples, script)
    finally:
        await engines.aclose()
    ratio = paced[1]["es_ear_to_ear_median_s"] / paced[0]["es_ear_to_ear_median_s"]
    res.add(
        "fanout 4 targets: ear-to-ear median / single target", ratio, "×",
        target=f"≤ {TARGET_RATIO}", ok=ratio <= TARGET_RATIO,
        note=f"es listener {paced[0]['es_ear_to_ear_median_s']:.2f} → "
        f"{paced[1]['es_ear_to_ear_median_s']:.2f} s, {paced[0]['segments']} segments, "
        f"{audio_s:.0f} s of speech in real time",
    )  # fmt: skip
    extra_cpu = (unpaced[1]["cpu_s"] - unpaced[0]["cpu_s"]) / 3
    segments = max(1, unpaced[0]["segments"])
    res.add(
        "fanout: CPU per extra listener", 100 * extra_cpu / audio_s, "% of a core",
        note=f"{1000 * extra_cpu / segments:.0f} ms CPU per segment; one listener's branch + "
        f"pipeline {100 * unpaced[0]['cpu_s'] / audio_s:.1f} % (scripted recognizer, unpaced)",
    )  # fmt: skip
    res.details = {"audio_s": audio_s, "paced": paced, "unpaced": unpaced}
    return res
