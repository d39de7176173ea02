"""``s2st run --to es,fr,de --out-dir DIR`` (fan-out) and ``s2st converse`` (two parties).

::

    s2st run talk.wav --to es,fr,de --out-dir DIR
        one recognizer stream, one branch per target: DIR/<target>.wav per target and one
        log, DIR/segments.parquet (+ .jsonl), a row per (segment, target), ``listener`` column.
    s2st converse A.wav B.wav --a en --b es --out-dir DIR
    s2st converse --stereo call.wav --a en --b es --out-dir DIR      (left = A, right = B)
        A's speech translated into b is what B hears (DIR/b_hears.wav) and B's into a what A
        hears (DIR/a_hears.wav); one log DIR/segments.parquet (+ .jsonl) with a ``party``
        column. Each party has its own recognizer stream in its own language (``--asr-a`` /
        ``--asr-b`` choose per party; the offline recognizer knows English only).

Both run from files (paced in real time by default, like ``s2st run``); lag control follows
``s2st run``'s rules, per listener.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .config import POLICIES, PipelineConfig
from .errors import ConfigError
from .words import words_path

if TYPE_CHECKING:
    from .engines import Engines
    from .engines.protocols import Recognizer

__all__ = ["add_commands", "add_run_options", "run_fanout", "wants_fanout"]


# -- s2st run --to a,b,c --out-dir DIR --------------------------------------------------------
def add_run_options(run: argparse.ArgumentParser) -> None:
    """``--out-dir`` for ``s2st run`` (several ``--to`` targets)."""
    run.add_argument(
        "--out-dir",
        help="with several --to targets (--to es,fr,de): write DIR/<target>.wav per target and "
        "one log DIR/segments.parquet (+ .jsonl); default out/<input>/",
    )


def wants_fanout(args: argparse.Namespace) -> bool:
    """``s2st run`` with several targets or an output folder."""
    return "," in args.target or getattr(args, "out_dir", None) is not None


def targets_of(text: str) -> list[str]:
    """``"es,fr, de"`` → ``["es", "fr", "de"]``; refuses empty and repeated targets."""
    targets = [t.strip() for t in text.split(",") if t.strip()]
    if not targets or len(set(targets)) != len(targets):
        raise ConfigError(f"--to {text!r}: give distinct language codes, e.g. --to es,fr,de")
    return targets


def _check_fanout_flags(args: argparse.Namespace, targets: list[str]) -> None:
    if len(targets) > 1 and (args.out or args.log):
        raise ConfigError(
            "with several --to targets use --out-dir DIR (DIR/<target>.wav, DIR/segments.parquet)"
            ", not --out / --log"
        )
    if args.speaker is not None and len(targets) > 1:
        raise ConfigError(
            "one loudspeaker cannot play several languages at once; drop --speaker "
            "(each target is written to DIR/<target>.wav)"
        )
    if args.voice and len(targets) > 1:
        raise ConfigError("--voice names one voice for one target; with several targets drop it")


def run_fanout(args: argparse.Namespace, out: TextIO) -> int:
    """``s2st run`` into several targets (see the module docstring)."""
    return asyncio.run(_fanout_session(args, out))


async def _fanout_session(args: argparse.Namespace, out: TextIO) -> int:
    from .audio import FileSource, PacedSink, WavSink
    from .cli import _is_microphone, _make_engines, lag_settings
    from .pipeline import Listener, Pipeline, validate
    from .report import save_session_config, session_config_path

    targets = targets_of(args.target)
    _check_fanout_flags(args, targets)
    if _is_microphone(args.input):
        raise ConfigError("several --to targets take a recording; for a microphone use one --to")
    lag = lag_settings(args, live=False)
    src = FileSource(args.input, chunk_ms=args.chunk_ms, realtime=args.realtime, speed=args.speed)
    out_dir = Path(args.out_dir) if args.out_dir else Path("out") / Path(args.input).stem
    config = PipelineConfig(
        source_lang=args.source, target_lang=targets[0], voice=args.voice, chunk_ms=args.chunk_ms,
        policy=args.policy, max_lag_s=lag.max_lag_s, max_speedup=lag.max_speedup,
        catch_up=lag.catch_up,
    )  # fmt: skip
    log_path = out_dir / "segments.parquet"
    jsonl = log_path.with_suffix(".jsonl")
    _clear_stale(log_path)
    engines = await asyncio.to_thread(_make_engines, args, Path(args.input))
    try:
        for target in targets:  # every target refused before any file is written
            await asyncio.to_thread(validate, engines, config.replace(target_lang=target))
        wavs = {t: WavSink(out_dir / f"{t}.wav") for t in targets}
        listeners = [
            Listener(t, sink=PacedSink(w, speed=args.speed) if args.realtime else w)
            for t, w in wavs.items()
        ]
        pipe = Pipeline(engines, config, source=src, listeners=listeners, log_path=jsonl)
        await asyncio.to_thread(
            save_session_config, config.replace(session_id=pipe.session_id),
            session_config_path(log_path),
        )  # fmt: skip
        print(
            f"{args.input} ({src.duration_s:.1f} s) → {', '.join(targets)}: "
            f"asr={engines.recognizer.name} mt={engines.translator.name} "
            f"tts={engines.synthesizer.name}\n{lag.describe()}",
            file=out,
            flush=True,
        )
        wall = await _run_logged(pipe, log_path, out)
    finally:
        await engines.aclose()
    _print_fanout(out, pipe.log.to_pandas(), pipe.stats.audio_s, wall, config, wavs, log_path)
    return 0


async def _run_logged(session: Any, log_path: Path, out: TextIO) -> float:
    """Run a Pipeline or Conversation printing each row (prefixed with its branch); the log
    is saved to ``log_path`` even when it fails. Returns the wall time (s)."""
    from .events import ErrorEvent, SegmentLogged

    def show(ev: Any) -> None:
        if isinstance(ev, SegmentLogged):
            print(_row_line(ev.row), file=out, flush=True)
        elif isinstance(ev, ErrorEvent) and ev.fatal:
            print(f"session error: {ev.message}", file=sys.stderr, flush=True)

    pipes = list(session.pipelines.values()) if hasattr(session, "pipelines") else [session]
    for pipe in pipes:
        pipe.subscribe(show)
    t0 = time.monotonic()
    try:
        await session.run()
    finally:
        await asyncio.to_thread(session.log.save, log_path)
        await asyncio.to_thread(session.words.save, words_path(log_path))
    return time.monotonic() - t0


def _clear_stale(log_path: Path) -> None:
    """An earlier run's JSONL twins (segments and words) are appended to: start them afresh."""
    for stale in (log_path.with_suffix(".jsonl"), words_path(log_path, suffix=".jsonl")):
        stale.unlink(missing_ok=True)


def _row_line(row: dict[str, Any]) -> str:
    from .cli import format_segment_line

    party = row.get("party")
    tag = f"{party}→{row.get('listener')}" if party else str(row.get("listener"))
    return f"{tag:>6} {format_segment_line(row)}"


def _print_fanout(
    out: TextIO,
    df: Any,
    audio_s: float,
    wall: float,
    config: PipelineConfig,
    wavs: dict[str, Any],
    log_path: Path,
) -> None:
    from .cli import format_summary

    for target, wav in wavs.items():
        rows = df[df.listener == target]
        print(f"\n── {target} ──", file=out)
        print(format_summary(rows, audio_s=audio_s, max_lag_s=config.max_lag_s), file=out)
        print(f"speech: {wav.path} ({wav.duration_s:.1f} s)", file=out)
    print(f"\nwall time {wall:.1f} s; segment log: {log_path} (and .jsonl)", file=out)


# -- s2st converse -----------------------------------------------------------------------------
def add_commands(sub: Any) -> None:
    """Register ``s2st converse``."""
    from .cli import _add_engine_arguments, _add_engine_options

    conv = sub.add_parser(
        "converse", help="a two-party call: A and B each hear the other, translated"
    )
    conv.add_argument("inputs", nargs="*", help="A.wav B.wav: each party's recording")
    conv.add_argument("--stereo", help="one stereo call recording instead (left = A, right = B)")
    conv.add_argument("--a", required=True, help="party A's language (e.g. en)")
    conv.add_argument("--b", required=True, help="party B's language (e.g. es)")
    _add_engine_arguments(conv)
    for side in ("a", "b"):
        conv.add_argument(
            f"--asr-{side}", help=f"party {side.upper()}'s recognizer (default: --asr / --engines)"
        )
        conv.add_argument(f"--voice-{side}", help=f"the voice party {side.upper()} is heard in")
    conv.add_argument("--chunk-ms", type=int, default=100, help="audio chunk (ms, default 100)")
    conv.add_argument("--policy", choices=POLICIES, default="final")
    conv.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True)
    conv.add_argument("--speed", type=float, default=1.0)
    conv.add_argument("--out-dir", default="out/call", help="a_hears.wav, b_hears.wav, log")
    _add_engine_options(conv)
    conv.set_defaults(func=lambda args: asyncio.run(_converse(args, sys.stdout)))


def _sources(args: argparse.Namespace) -> tuple[Any, Any, list[tuple[Path, int | None]]]:
    from .audio import FileSource, split_stereo

    opts = {"chunk_ms": args.chunk_ms, "realtime": args.realtime, "speed": args.speed}
    if args.stereo:
        if args.inputs:
            raise ConfigError("give two recordings (A.wav B.wav) or --stereo call.wav, not both")
        a, b = split_stereo(args.stereo, **opts)
        return a, b, [(Path(args.stereo), 0), (Path(args.stereo), 1)]
    if len(args.inputs) != 2:
        raise ConfigError(
            "give party A's and party B's recordings (s2st converse A.wav B.wav) "
            "or one stereo call (--stereo call.wav)"
        )
    a, b = (FileSource(p, **opts) for p in args.inputs)
    return a, b, [(Path(p), None) for p in args.inputs]


def _recognizer(
    args: argparse.Namespace, side: str, language: str, clip: tuple[Path, int | None]
) -> Recognizer:
    """Party ``side``'s recognizer, refused here when it cannot hear ``language``."""
    from .engines import create_stage
    from .engines.simulated import engines_for_clip, script_from_audio

    name = getattr(args, f"asr_{side}") or args.asr or args.engines
    options: dict[str, Any] = {}
    if name == "simulated":
        path, channel = clip
        if channel is None:
            options = engines_for_clip(path, preset=args.preset, seed=args.seed).options()
        else:
            from .audio.file import read_audio

            samples, rate = read_audio(path, sample_rate=16000, channel=channel)
            options = {"script": script_from_audio(samples, rate), "preset": args.preset}
    elif name == "aws":
        options = {k: v for k, v in (("region", args.region), ("profile", args.profile)) if v}
    rec: Recognizer = create_stage("asr", name, **options)
    if language not in rec.languages():
        raise ConfigError(
            f"party {side.upper()} speaks {language!r} but the {name} recognizer "
            f"({rec.name}) knows only {', '.join(sorted(rec.languages()))}. The offline "
            f"recognizer is English only: use --asr-{side} simulated (scripted from the "
            f"recording) or --asr-{side} aws, or --asr simulated for both parties"
        )
    return rec


def _shared_engines(args: argparse.Namespace, first: Recognizer) -> Engines:
    from .engines import Engines, create_stage

    def stage(kind: str) -> Any:
        name = getattr(args, kind) or args.engines
        options: dict[str, Any] = {}
        if name == "simulated":
            options = {"preset": args.preset, "seed": args.seed}
        elif name == "aws":
            options = {k: v for k, v in (("region", args.region), ("profile", args.profile)) if v}
        return create_stage(kind, name, **options)

    return Engines(first, stage("mt"), stage("tts"))


async def _converse(args: argparse.Namespace, out: TextIO) -> int:
    from .audio import PacedSink, WavSink
    from .conversation import Conversation, Party

    a_src, b_src, clips = _sources(args)
    rec_a = await asyncio.to_thread(_recognizer, args, "a", args.a, clips[0])
    rec_b = await asyncio.to_thread(_recognizer, args, "b", args.b, clips[1])
    engines = await asyncio.to_thread(_shared_engines, args, rec_a)
    out_dir = Path(args.out_dir)
    log_path = out_dir / "segments.parquet"
    _clear_stale(log_path)
    wavs = {side: WavSink(out_dir / f"{side}_hears.wav") for side in ("a", "b")}
    sinks = {s: PacedSink(w, speed=args.speed) if args.realtime else w for s, w in wavs.items()}
    config = PipelineConfig(chunk_ms=args.chunk_ms, policy=args.policy)
    try:
        talk = Conversation(
            engines, config,
            a=Party(args.a, source=a_src, sink=sinks["a"], recognizer=rec_a, voice=args.voice_a),
            b=Party(args.b, source=b_src, sink=sinks["b"], recognizer=rec_b, voice=args.voice_b),
            log_path=log_path.with_suffix(".jsonl"),
        )  # fmt: skip
        print(
            f"call: A ({args.a}, asr={rec_a.name}) ↔ B ({args.b}, asr={rec_b.name}); "
            f"mt={engines.translator.name} tts={engines.synthesizer.name}",
            file=out,
            flush=True,
        )
        wall = await _run_logged(talk, log_path, out)
    finally:
        for engine in (rec_b, *_distinct(engines)):
            await engine.aclose()
    _print_call(out, talk, wall, wavs, log_path)
    return 0


def _distinct(engines: Engines) -> list[Any]:
    seen: dict[int, Any] = {}
    for e in (engines.recognizer, engines.translator, engines.synthesizer):
        seen.setdefault(id(e), e)
    return list(seen.values())


def _print_call(out: TextIO, talk: Any, wall: float, wavs: dict[str, Any], log_path: Path) -> None:
    from .metrics import summary_by

    df = talk.log.to_pandas()
    print("", file=out)
    for side, other in (("a", "b"), ("b", "a")):
        rows = df[df.party == other]
        lang = talk.parties[side].language
        print(
            f"{side.upper()} hears: {wavs[side].path} ({wavs[side].duration_s:.1f} s of "
            f"{lang}, {len(rows)} segments from {other.upper()})",
            file=out,
        )
    if len(df):
        print("\nlatency by direction (s):", file=out)
        print(summary_by(df, "party").round(2).to_string(), file=out)
    print(f"\nwall time {wall:.1f} s; segment log: {log_path} (and .jsonl)", file=out)
