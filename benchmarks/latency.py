"""2-3. Ear-to-ear latency against the classic design and against the floor; EndOffset per policy.

Workload: the six ``data/`` manifest clips (their scripts give the utterance spans; dense
speech, ~7 s each) and four synthetic talks (multi-clause sentences with 1-2 s pauses, ~40 s
each, :func:`benchmarks.common.talk_script`). Every clip is run five ways — the classic
sequential design (:mod:`benchmarks.classic`) and the pipeline with each commit policy
(``final``, ``stable``, ``local-agreement``) — all with the ``cloud-like`` simulated engines,
seed 0, a fresh engine set per run (so the same utterance gets the same recognizer lag, and
the same text the same translation / synthesis latency), the source paced in **real time**
and a :class:`~s2st_kit.audio.PacedSink` playing in real time. All runs go concurrently on
one event loop (sessions are independent and mostly sleeping).

Figures (seconds; ``ear_to_ear_s = t_play_start − t_speech_end`` per segment):

* ear-to-ear median / p95 per design, pooled over every segment of every clip;
* ratios ``final / classic`` of the medians and of the p95s (target: median ratio <= 0.6);
* the floor: per ``final`` segment, ``ear_to_ear / (asr_lag + mt + tts_ttfb)`` (median, p95;
  target median <= 1.05), and what the floor alone would give against the classic design
  (``floor / classic``: the best ratio *any* final-only pipeline could reach);
* ``EndOffset`` (SimulEval, computation-aware ``_CA``: end of the last played output audio
  − end of the input, s) per clip for each policy; target: ``stable`` ends earlier than
  ``final`` (median over clips of the difference < 0).

``time_scale`` > 1 (used by ``--quick`` only) speeds the source, the sink and every latency
of the model up by that factor; the real run uses 1.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from s2st_kit import MemorySink, MemorySource, PacedSink, Pipeline, PipelineConfig
from s2st_kit.audio import read_audio
from s2st_kit.datasets import load_manifest
from s2st_kit.engines.simulated import PRESETS
from s2st_kit.errors import ConfigError
from s2st_kit.metrics import add_derived, session_metrics
from s2st_kit.workloads import scaled_model

from .classic import run_classic
from .common import BenchResult, percentile, simulated_engines, speech_array, talk_script

NAME = "latency"
SEED = 0
POLICIES = ("final", "stable", "local-agreement")
VARIANTS = ("classic", *POLICIES)
TARGET_VS_CLASSIC = 0.6
TARGET_VS_FLOOR = 1.05


@dataclass(frozen=True, slots=True)
class BenchClip:
    """A clip for the latency runs: 16 kHz samples, script ``(text, start_s, end_s)``, language."""

    id: str
    samples: np.ndarray
    script: tuple[tuple[str, float, float], ...]
    language: str

    @property
    def duration_s(self) -> float:
        """Length (s)."""
        return len(self.samples) / 16000


def load_clips(
    *, n_manifest: int | None = None, talks: int = 4, talk_len: int = 8
) -> list[BenchClip]:
    """Manifest clips (first ``n_manifest``; all when None) and ``talks`` synthetic talks."""
    clips: list[BenchClip] = []
    try:
        manifest = load_manifest()
    except ConfigError:
        manifest = []
    for clip in manifest[:n_manifest]:
        if not clip.utterances:
            continue
        samples, _ = read_audio(clip.path, sample_rate=16000)
        script = tuple((u.text, u.start_s, u.end_s) for u in clip.utterances)
        clips.append(BenchClip(clip.id, samples, script, clip.language))
    for k in range(talks):
        script = tuple(talk_script(talk_len, seed=100 + k))
        duration = script[-1][2] + 1.0
        spans = [(a, b) for _, a, b in script]
        clips.append(BenchClip(f"talk{k}", speech_array(duration, spans), script, "en"))
    return clips


async def run_variant(clip: BenchClip, variant: str, *, time_scale: float = 1.0) -> pd.DataFrame:
    """One session of ``clip`` with ``variant`` (``classic`` or a policy); the log frame.

    With ``time_scale`` != 1 the session times are multiplied back by it (stream seconds).
    """
    model = scaled_model(PRESETS["cloud-like"], time_scale)
    engines = simulated_engines(clip.script, preset=model, seed=SEED)
    target = "es" if clip.language != "es" else "en"
    config = PipelineConfig(
        source_lang=clip.language,
        target_lang=target,
        policy="final" if variant == "classic" else variant,  # type: ignore[arg-type]
        session_id=f"{clip.id}-{variant}",
    )
    source = MemorySource(clip.samples, 16000, realtime=True, speed=time_scale)
    sink = PacedSink(MemorySink(), speed=time_scale)
    if variant == "classic":
        log = await run_classic(engines, config, source=source, sink=sink)
    else:
        log = await Pipeline(engines, config, source=source, sink=sink).run()
    await engines.aclose()
    df = log.raw_frame()
    if time_scale != 1:  # back to stream seconds, as if the run had been in real time
        for col in [c for c in df.columns if c.startswith("t_")]:
            df[col] = df[col] * time_scale
    return add_derived(df).assign(clip_id=clip.id, variant=variant)


def _session_end_offsets(df: pd.DataFrame, clip: BenchClip) -> dict[str, float]:
    m = session_metrics(df, source_duration_s=clip.duration_s)
    return {k: m[k] for k in ("EndOffset", "EndOffset_CA", "StartOffset_CA")}


async def measure(clips: list[BenchClip], *, time_scale: float = 1.0) -> dict[str, Any]:
    """Run every clip × variant concurrently; return the pooled statistics (s)."""
    jobs = [(clip, v) for clip in clips for v in VARIANTS]
    frames = await asyncio.gather(*(run_variant(c, v, time_scale=time_scale) for c, v in jobs))
    by = {(c.id, v): f for (c, v), f in zip(jobs, frames, strict=True)}
    out: dict[str, Any] = {"time_scale": time_scale, "clips": [c.id for c in clips]}
    e2e: dict[str, np.ndarray] = {}
    for v in VARIANTS:
        df = pd.concat([by[(c.id, v)] for c in clips], ignore_index=True)
        ok = df[df.status == "ok"]
        e2e[v] = ok.ear_to_ear_s.to_numpy()
        out[v] = {
            "segments": len(df),
            "ok": len(ok),
            "ear_to_ear_median_s": percentile(e2e[v], 50),
            "ear_to_ear_p95_s": percentile(e2e[v], 95),
            "stage_medians_s": {
                c: float(ok[c].median())
                for c in ("asr_lag_s", "dispatch_s", "mt_s", "handoff_s", "tts_ttfb_s", "queue_s")
            },
        }
    final = pd.concat([by[(c.id, "final")] for c in clips], ignore_index=True)
    final = final[final.status == "ok"]
    floor = final.asr_lag_s + final.mt_s + final.tts_ttfb_s
    ratio = (final.ear_to_ear_s / floor).to_numpy()
    out["floor"] = {
        "ratio_median": percentile(ratio, 50),
        "ratio_p95": percentile(ratio, 95),
        "floor_median_s": float(floor.median()),
        "queue_share_of_excess": float(
            final.queue_s.sum() / max(1e-12, (final.ear_to_ear_s - floor).sum())
        ),
    }
    for v in POLICIES:
        out[v]["vs_classic_median"] = (
            out[v]["ear_to_ear_median_s"] / out["classic"]["ear_to_ear_median_s"]
        )
        out[v]["vs_classic_p95"] = out[v]["ear_to_ear_p95_s"] / out["classic"]["ear_to_ear_p95_s"]
    out["floor"]["floor_vs_classic_median"] = (
        out["floor"]["floor_median_s"] / out["classic"]["ear_to_ear_median_s"]
    )
    # paired per utterance (final vs classic: same utterances, same engine draws)
    classic = pd.concat([by[(c.id, "classic")] for c in clips], ignore_index=True)
    classic = classic[classic.status == "ok"]
    pair = final.merge(
        classic.assign(audio_start_s=classic.audio_start_s.round(2))[
            ["clip_id", "audio_start_s", "ear_to_ear_s"]
        ],
        left_on=["clip_id", final.audio_start_s.round(2)],
        right_on=["clip_id", "audio_start_s"],
        suffixes=("", "_classic"),
    )
    out["paired_final_vs_classic_median"] = percentile(
        (pair.ear_to_ear_s / pair.ear_to_ear_s_classic).to_numpy(), 50
    )
    out["paired_segments"] = len(pair)
    offsets: dict[str, dict[str, dict[str, float]]] = {}
    for c in clips:
        offsets[c.id] = {v: _session_end_offsets(by[(c.id, v)], c) for v in VARIANTS}
    out["end_offsets"] = offsets
    for v in VARIANTS:
        out[v]["EndOffset_CA_median_s"] = percentile(
            [offsets[c.id][v]["EndOffset_CA"] for c in clips], 50
        )
        out[v]["EndOffset_median_s"] = percentile(
            [offsets[c.id][v]["EndOffset"] for c in clips], 50
        )
    diffs = {
        c.id: offsets[c.id]["stable"]["EndOffset_CA"] - offsets[c.id]["final"]["EndOffset_CA"]
        for c in clips
    }
    # Speech where the stable policy can act: a clause boundary after >= min_commit_words
    # words, i.e. the stable run committed more segments than the final run.
    splits = [c.id for c in clips if len(by[(c.id, "stable")]) > len(by[(c.id, "final")])]
    same = [c.id for c in clips if c.id not in splits]
    out["stable_minus_final_EndOffset_CA"] = {
        "per_clip_s": diffs,
        "clips_with_early_commits": splits,
        "median_s": percentile(diffs.values(), 50),
        "median_with_early_commits_s": percentile([diffs[c] for c in splits], 50),
        "max_abs_without_early_commits_s": max((abs(diffs[c]) for c in same), default=0.0),
        "clips_earlier": sum(diffs[c] < 0 for c in splits),
    }
    return out


async def run(*, quick: bool = False) -> BenchResult:
    """Full run: 6 manifest clips + 4 talks in real time. Quick: 1 + 1 short, 8x faster."""
    if quick:
        clips, scale = load_clips(n_manifest=1, talks=1, talk_len=2), 8.0
    else:
        clips, scale = load_clips(), 1.0
    res = BenchResult(NAME)
    d = await measure(clips, time_scale=scale)
    res.details = d
    n_seg = d["final"]["ok"]
    for v in VARIANTS:
        res.add(
            f"{v}: ear-to-ear median",
            d[v]["ear_to_ear_median_s"],
            "s",
            note=f"p95 {d[v]['ear_to_ear_p95_s']:.2f} s over {d[v]['ok']} segments"
            + (
                f"; {len(clips)} clips, cloud-like, real time"
                if v == "classic" and scale == 1
                else ""
            )
            + (f"; time scaled {scale:g}x (quick)" if v == "classic" and scale != 1 else ""),
        )
    r = d["final"]["vs_classic_median"]
    res.add(
        "final / classic, median",
        r,
        "x",
        target=f"<= {TARGET_VS_CLASSIC}",
        ok=r <= TARGET_VS_CLASSIC,
        note=f"p95 ratio {d['final']['vs_classic_p95']:.2f}; paired per utterance "
        f"{d['paired_final_vs_classic_median']:.2f}; floor alone / classic "
        f"{d['floor']['floor_vs_classic_median']:.2f} (best any final-only design can do)",
    )
    for v in ("stable", "local-agreement"):
        res.add(
            f"{v} / classic, median",
            d[v]["vs_classic_median"],
            "x",
            note=f"p95 ratio {d[v]['vs_classic_p95']:.2f}",
        )
    f = d["floor"]
    res.add(
        "final: ear-to-ear / floor, median",
        f["ratio_median"],
        "x",
        target=f"<= {TARGET_VS_FLOOR}",
        ok=f["ratio_median"] <= TARGET_VS_FLOOR,
        note=f"floor = asr_lag + mt + tts_ttfb (median {f['floor_median_s']:.2f} s); "
        f"{n_seg} segments",
    )
    res.add(
        "final: ear-to-ear / floor, p95",
        f["ratio_p95"],
        "x",
        note=f"{f['queue_share_of_excess']:.0%} of the time above the floor is queue_s "
        "(waiting for earlier playback)",
    )
    for v in VARIANTS:
        res.add(f"{v}: EndOffset_CA median", d[v]["EndOffset_CA_median_s"], "s")
    s = d["stable_minus_final_EndOffset_CA"]
    n_split = len(s["clips_with_early_commits"])
    res.add(
        "EndOffset_CA stable - final, median",
        s["median_with_early_commits_s"],
        "s",
        target="< 0 s",
        ok=n_split > 0 and s["median_with_early_commits_s"] < 0,
        note=f"over the {n_split} clips where stable committed early (ended earlier on "
        f"{s['clips_earlier']}); on the other {len(clips) - n_split} (no clause boundary after "
        f">= 3 words) both commit the same segments: |difference| <= "
        f"{s['max_abs_without_early_commits_s'] * 1000:.0f} ms. EndOffset_CA = end of the "
        "last played audio - end of the input",
    )
    return res
