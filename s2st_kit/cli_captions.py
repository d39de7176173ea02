"""``s2st captions``: WebVTT / SRT captions from a saved session.

::

    s2st captions LOG [--side target|source] [--listener es] [--party a]
                      [--format vtt|srt] [--word-timestamps] [--out FILE]

LOG is the segment log ``s2st run`` wrote (``.parquet`` or ``.jsonl``); its words table is
read from beside it (``<log>.words.parquet`` / ``.words.jsonl``; a log without one gets
captions estimated from its segments, with a note). Cue times are relative to the input
recording's start (see :mod:`s2st_kit.captions`). The default output is
``<log>.<side>[.<listener>].<format>`` beside the log.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_captions_command", "default_output"]


def default_output(log: Path, side: str, listener: str | None, fmt: str) -> Path:
    """``out/s.parquet`` → ``out/s.target.es.vtt`` (no listener: ``out/s.target.vtt``)."""
    parts = [side, *([listener] if listener else []), fmt]
    return log.with_suffix("." + ".".join(parts))


def _cmd_captions(args: argparse.Namespace) -> int:
    from .captions import build_cues, load_session, write_captions

    log = Path(args.log)
    segments, words = load_session(log)
    if words is None:
        print(
            f"note: {log} has no words table beside it; cue times are estimated from the "
            "segments (in proportion to characters)",
            file=sys.stderr,
        )
    fmt = args.format or (Path(args.out).suffix.lstrip(".") if args.out else "vtt")
    out = Path(args.out) if args.out else default_output(log, args.side, args.listener, fmt)
    path = write_captions(
        out, segments, words, side=args.side, listener=args.listener, party=args.party,
        fmt=fmt, word_timestamps=args.word_timestamps,
    )  # fmt: skip
    cues = build_cues(segments, words, side=args.side, listener=args.listener, party=args.party)
    span = f", {cues[0].start_s:.2f}-{cues[-1].end_s:.2f} s of the input" if cues else ""
    print(f"{len(cues)} {args.side} cues{span} → {path}")
    return 0


def add_captions_command(sub: Any) -> None:
    """Register ``s2st captions`` on the ``s2st`` sub-parsers."""
    cap = sub.add_parser(
        "captions", help="WebVTT/SRT captions of a saved session (times of the input recording)"
    )
    cap.add_argument("log", help="segment log (.parquet or .jsonl); its words table beside it")
    cap.add_argument("--side", choices=("target", "source"), default="target",
                     help="target: the translation as heard (default); source: the speaker")  # fmt: skip
    cap.add_argument("--listener", help="the listener (branch) whose captions to write")
    cap.add_argument("--party", help="a two-party conversation's side (a or b)")
    cap.add_argument("--format", choices=("vtt", "srt"),
                     help="default: from --out's suffix, else vtt")  # fmt: skip
    cap.add_argument("--word-timestamps", action="store_true",
                     help="WebVTT: a timestamp before each word (karaoke highlighting)")  # fmt: skip
    cap.add_argument("--out", help="output file (default: <log>.<side>[.<listener>].<format>)")
    cap.set_defaults(func=_cmd_captions)
