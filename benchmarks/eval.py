"""Corpus-evaluation throughput: utterances per minute, local vs Dask (2 worker processes).

:func:`s2st_kit.evaluation.evaluate` on a small English corpus with the **offline** engines
(pocketsphinx + Apertium + eSpeak NG), **unpaced** (``pace="none"``: quality-only runs go as
fast as the machine; a paced run takes the audio's own length): the nine sentences of the
English sample clips in ``data/`` (cut by offset/duration) and the five LibriVox clips of
``pocketsphinx-testdata`` with their reference transcripts and translations (14 utterances;
``--quick``: 3 sentences). Results in memory (``out=None``).

* ``local``: this process, 2 sessions at once (one engine set each, built once);
* ``dask 2 workers``: a fresh ``LocalCluster`` of 2 worker processes × 1 thread, the
  engines built once per worker by the worker plugin; the wall time includes starting the
  cluster and the workers' imports and model loading (what a user waits for);
* their ratio (> 1: Dask faster). On a 2-core machine both use both cores, so the ratio
  shows Dask's overhead rather than a speed-up; more cores or machines scale the Dask run.
"""

from __future__ import annotations

import time
from typing import Any

from s2st_kit.datasets import librivox_clips, load_manifest
from s2st_kit.evaluation import CorpusUtterance, EvalSettings, evaluate

from .common import BenchResult

NAME = "eval"


def corpus(*, quick: bool = False) -> list[CorpusUtterance]:
    """The benchmark corpus (see the module docstring)."""
    utts = []
    for clip in load_manifest():
        if clip.language != "en":
            continue
        for i, u in enumerate(clip.utterances):
            utts.append(CorpusUtterance(
                id=f"{clip.id}-{i}", audio=clip.path, offset_s=max(0.0, u.start_s - 0.3),
                duration_s=u.end_s - u.start_s + 0.6, source_text=u.text,
                target_text=u.translations.get("es"),
            ))  # fmt: skip
    if quick:
        return utts[:3]
    for clip in librivox_clips():
        utts.append(CorpusUtterance(id=clip.id, audio=clip.path, source_text=clip.transcript,
                                    target_text=clip.translations.get("es")))  # fmt: skip
    return utts


async def measure(executor: str, utts: list[CorpusUtterance]) -> dict[str, Any]:
    """One evaluation; utterances per minute and the corpus BLEU (to check both agree)."""
    settings = EvalSettings(engines="offline", pace="none", asr_bleu=False)
    concurrency = 2 if executor == "local" else 1
    t = time.perf_counter()
    result = await evaluate(
        utts,
        settings=settings,
        out=None,
        concurrency=concurrency,
        executor=executor,
        workers=2,
        progress=False,
    )  # type: ignore[arg-type]
    wall = time.perf_counter() - t
    audio_s = float(result.utterances["duration_s"].sum())
    return {
        "executor": executor, "utterances": len(result.utterances), "wall_s": wall,
        "utt_per_min": len(result.utterances) / wall * 60, "audio_s": audio_s,
        "bleu": result.summary.bleu, "failed": result.summary.failed,
    }  # fmt: skip


async def run(*, quick: bool = False) -> BenchResult:
    """Local, then Dask (quick: three sentences)."""
    res = BenchResult(NAME)
    try:
        import distributed  # noqa: F401

        from s2st_kit.engines.offline.pocketsphinx import PocketSphinxRecognizer  # noqa: F401
    except ImportError as exc:
        res.skipped = f"needs the offline engines and dask[distributed]: {exc}"
        return res
    utts = corpus(quick=quick)
    local = await measure("local", utts)
    dask = await measure("dask", utts)
    res.details = {"local": local, "dask": dask}
    same = "same BLEU" if local["bleu"] == dask["bleu"] else "BLEU DIFFERS"
    for label, d in (("local", local), ("dask 2 workers", dask)):
        res.add(f"eval throughput, {label}", d["utt_per_min"], "utt/min",
                note=f"{d['utterances']} utterances ({d['audio_s']:.0f} s of audio) in "
                f"{d['wall_s']:.1f} s; offline engines, unpaced")  # fmt: skip
    res.add("eval throughput, dask / local", dask["utt_per_min"] / local["utt_per_min"], "x",
            note=f"dask wall includes cluster start; {same} ({local['bleu']:.2f})")  # fmt: skip
    return res
