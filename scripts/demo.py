"""``make demo``: the offline stack (pocketsphinx → Apertium → eSpeak NG), English → Spanish,
on a real recording paced in real time.

The recording is the five LibriVox sentences of Debian's ``pocketsphinx-testdata`` joined
with short pauses (real read speech with reference transcripts); without that package,
a clip from ``data/``. Writes the translated speech (WAV), the segment log (Parquet +
JSONL) and latency plots (PNG) to ``out/demo/`` and says where they are.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from s2st_kit import SegmentLog, cli
from s2st_kit.datasets import join_clips, librivox_clips, sample_clip

OUT = Path("out/demo")
PAUSE_S = 0.9


def pick_recording() -> tuple[Path, str, str]:
    """(audio file, reference transcript, description)."""
    clips = librivox_clips()
    if clips:
        path = join_clips(clips, OUT / "librivox_en.wav", pause_s=PAUSE_S)
        texts = [clip.transcript for clip in clips]
        return (
            path,
            " ".join(texts),
            f"{len(clips)} LibriVox sentences (pocketsphinx-testdata), joined",
        )
    clip = sample_clip("en")
    print(
        "note: Debian's pocketsphinx-testdata is not installed (needs apt as root); "
        f"using the synthetic clip {clip.path.name} instead — recognition of synthetic speech is weak.",
        file=sys.stderr,
    )
    return clip.path, clip.transcript, f"sample clip {clip.id} (eSpeak NG)"


def main() -> int:
    recording, reference, what = pick_recording()
    print(f"demo recording: {recording} — {what}\n")
    wav, log_path = OUT / "translated_es.wav", OUT / "segments.parquet"
    rc = cli.main(
        ["run", str(recording), "--engines", "offline", "--from", "en", "--to", "es",
         "--out", str(wav), "--log", str(log_path)]
    )  # fmt: skip
    if rc != 0:
        return rc
    df = SegmentLog.load(log_path).to_pandas()
    outputs = [wav, log_path, log_path.with_suffix(".jsonl")]
    try:
        from s2st_kit import plots

        for name, fn in (
            ("latency_by_stage.png", plots.plot_stage_latency),
            ("timeline.png", plots.plot_timeline),
        ):
            fig = fn(df)
            fig.savefig(OUT / name, dpi=110, bbox_inches="tight")
            outputs.append(OUT / name)
    except ImportError as exc:  # matplotlib missing: plots are optional
        print(f"(plots skipped: {exc})")
    try:
        from s2st_kit.quality import wer

        hyp = " ".join(df.transcript[df.status == "ok"])
        print(
            f"\nword error rate of the transcript vs the LibriVox reference: {wer([reference], [hyp]):.1%}"
        )
    except ImportError:
        pass
    data, rate = sf.read(wav, dtype="float32")
    rms = float(np.sqrt(np.mean(data**2))) if len(data) else 0.0
    print(f"translated speech: {len(data) / rate:.1f} s at {rate} Hz, RMS {rms:.3f}")
    print("\nwritten:")
    for p in outputs:
        print(f"  {p}")
    print("\nnext: 'make lab' opens the notebooks; 's2st run --help' for more options")
    return 0


if __name__ == "__main__":
    sys.exit(main())
