"""``s2st eval``: evaluate a system on a corpus (:func:`s2st_kit.evaluation.evaluate`).

::

    s2st eval CORPUS --layout covost2|fleurs|cvss|manifest --engines simulated|offline|aws
              --to es [--from en] [--split test] [--source-audio DIR] [--limit N]
              [--policy final] [--chunk-ms 100] [--pace realtime|none] [--concurrency K]
              --out DIR [--executor local|dask] [--workers N] [--address tcp://HOST:8786]

Every utterance runs as a session, paced in real time by default (SimulEval latency needs
it; K sessions at once per process or Dask worker), or unpaced with ``--pace none`` for
quality only (the latency columns are then flagged ``latency_valid=False`` and the summary
says they mean nothing). Results go to ``--out`` as a Parquet dataset that a re-run
resumes (finished utterances are skipped); the corpus table is printed with the sacrebleu
signatures, and ``latency_quality.png`` is written beside the results.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from .config import POLICIES

__all__ = ["add_eval_command"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def add_eval_command(sub: Any) -> None:
    """Register ``s2st eval`` on the ``s2st`` sub-command parser."""
    from .engines import BUNDLES
    from .evaluation.corpus import LAYOUTS

    ev = sub.add_parser(
        "eval", help="evaluate on a corpus (BLEU, WER, SimulEval latency, cost); resumable"
    )
    ev.add_argument("corpus", help="corpus folder, TSV file or manifest (CSV/JSONL), see --layout")
    ev.add_argument("--layout", choices=LAYOUTS, required=True,
                    help="covost2 (Common Voice folder + CoVoST 2 TSV), fleurs, cvss (CVSS-C "
                    "folder; with --source-audio), manifest (CSV/JSONL: audio, offset, "
                    "duration, source_text, target_text)")  # fmt: skip
    ev.add_argument("--engines", choices=tuple(BUNDLES), default="offline",
                    help="engine bundle (default: offline)")  # fmt: skip
    ev.add_argument("--from", dest="source", default="en", help="source language (default en)")
    ev.add_argument("--to", dest="target", required=True, help="target language, e.g. es")
    ev.add_argument("--split", default="test", help="corpus split (default test)")
    ev.add_argument("--source-audio", help="cvss: the CoVoST / Common Voice clips folder")
    ev.add_argument("--limit", type=_positive, help="first N utterances only")
    ev.add_argument("--policy", choices=POLICIES, default="final", help="commit policy")
    ev.add_argument("--chunk-ms", type=int, default=100, help="audio chunk size, ms (100)")
    ev.add_argument("--pace", choices=("realtime", "none"), default="realtime",
                    help="realtime (default: latency is meaningful) or none (quality only, "
                    "fast; latency flagged not meaningful)")  # fmt: skip
    ev.add_argument("--concurrency", type=_positive, default=4,
                    help="sessions at once per process / Dask worker (default 4)")  # fmt: skip
    ev.add_argument("--out", required=True, help="results folder (re-running resumes)")
    ev.add_argument("--executor", choices=("local", "dask"), default="local")
    ev.add_argument("--workers", type=_positive, default=2,
                    help="dask: LocalCluster worker processes (default 2)")  # fmt: skip
    ev.add_argument("--address", help="dask: scheduler address (tcp://HOST:8786) instead")
    ev.add_argument("--preset", default="cloud-like", help="simulated engines' latency preset")
    ev.add_argument("--seed", type=int, default=0, help="simulated engines' seed")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.set_defaults(func=_cmd_eval)


def _cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import EvalSettings, evaluate, read_corpus

    corpus = read_corpus(
        args.corpus, layout=args.layout, source_lang=args.source, target_lang=args.target,
        split=args.split, source_audio=args.source_audio, limit=args.limit,
    )  # fmt: skip
    settings = EvalSettings(
        engines=args.engines, source_lang=args.source, target_lang=args.target,
        policy=args.policy, chunk_ms=args.chunk_ms, pace=args.pace, preset=args.preset,
        seed=args.seed,
    )  # fmt: skip
    print(f"{len(corpus)} utterances from {args.corpus} ({args.layout}) → {args.target}: "
          f"engines={args.engines} policy={args.policy} chunk={args.chunk_ms} ms "
          f"pace={args.pace} concurrency={args.concurrency} executor={args.executor}",
          flush=True)  # fmt: skip

    def show(client: Any) -> None:
        print(f"Dask dashboard: {client.dashboard_link}", flush=True)

    result = asyncio.run(
        evaluate(corpus, settings=settings, out=args.out, concurrency=args.concurrency,
                 executor=args.executor, workers=args.workers, address=args.address,
                 progress=not args.no_progress, on_dashboard=show)
    )  # fmt: skip
    print(f"ran {result.ran}, already finished {result.skipped}")
    print(result.summary.text())
    print(f"\nwritten: {result.out}/utterances, {result.out}/segments, {result.plot}")
    return 0 if result.summary.failed == 0 else 1


if __name__ == "__main__":  # pragma: no cover
    from .cli import main

    sys.exit(main(["eval", *sys.argv[1:]]))
