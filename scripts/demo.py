"""``make demo``: the offline stack (pocketsphinx → Apertium → eSpeak NG), English → Spanish,
on a real recording paced in real time.

The recording is the five LibriVox sentences of Debian's ``pocketsphinx-testdata`` joined
with short pauses (real read speech with reference transcripts); without that package,
a clip from ``data/``. Writes the translated speech (WAV), the segment log (Parquet +
JSONL) with its words table, latency plots (PNG) and captions to ``out/demo/`` and says where
they are: ``source_en.vtt`` lines up with the recording, ``translated_es.vtt`` with the
translation as heard, and ``heard_en_es.wav`` holds both on the recording's timeline (left:
the recording, right: the translation where the listener heard it) — play it with either
caption file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from s2st_kit import SegmentLog, cli
from s2st_kit.datasets import join_clips, librivox_clips, sample_clip
from s2st_kit.words import words_path

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


def write_demo_captions(log_path: Path, recording: Path, wav: Path) -> list[Path]:
    """source_en / translated_es WebVTT (and SRT), the per-word lag and heard_en_es.wav."""
    from s2st_kit.captions import load_session, write_heard_wav, write_session_captions

    segments, words = load_session(log_path)
    files = write_session_captions(segments, words, OUT)
    files.append(
        write_heard_wav(segments, recording=recording, translated=wav, path=OUT / "heard_en_es.wav")
    )
    try:
        from s2st_kit.word_lag import word_lag, word_lag_summary, write_word_lag

        if words is not None:
            files += write_word_lag(words, OUT)
            lag = word_lag_summary(word_lag(words))
            print(f"\nper-word lag: median {lag.median_s:.2f} s, p95 {lag.p95_s:.2f} s "
                  f"over {lag.words} translated words")  # fmt: skip
    except ImportError as exc:  # matplotlib missing: the figure is optional
        print(f"(word-lag plot skipped: {exc})")
    return files


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
    outputs = [wav, log_path, log_path.with_suffix(".jsonl"), words_path(log_path)]
    outputs += write_demo_captions(log_path, recording, wav)
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
