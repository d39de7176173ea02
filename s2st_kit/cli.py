"""The ``s2st`` command.

::

    s2st run INPUT [--engines offline|simulated|aws] [--from en] [--to es|es,fr,de] [--voice V]
                   [--chunk-ms 100] [--policy final] [--realtime/--no-realtime]
                   [--max-lag 3|off] [--max-speedup 1.5] [--catch-up speed+skip|speed]
                   [--out out.wav] [--log log.parquet] [--out-dir DIR]
    s2st converse A.wav B.wav | --stereo call.wav --a en --b es [--asr-b simulated] --out-dir DIR
    s2st engines            engines with their languages and voices
    s2st doctor             check AWS credentials and reachability; print the IAM policy
    s2st report LOG --out DIR
    s2st captions LOG --side source|target [--listener es] --format vtt|srt [--out FILE]
    s2st sweep CLIPS... --chunk-ms 50 100 200 --policy final stable
    s2st eval CORPUS --layout covost2|fleurs|cvss|manifest --to es --out DIR
              [--executor local|dask] [--workers N] [--address tcp://…] [--pace realtime|none]

Exit status: 0 on success, 2 for a usage or configuration error (printed as one line
that says what to do), 1 when a session fails while running.

Lag control (:mod:`s2st_kit.lag`) and why it is on by default for live use: on continuous
speech the translation is often longer than the source and playback never overlaps, so
without control every extra second queues behind the last and the listener falls further
behind with every sentence (a ten-minute dense talk in the lag tests: 19 s behind, then
113 s). So when the input is live or paced in real time — a microphone, or a file played
with ``--realtime`` at ``--speed 1`` — ``s2st run`` keeps the listener at most
:data:`LIVE_MAX_LAG_S` (3 s) behind the speaker: about a human interpreter's ear-voice
span, and above the stages' own latency (≈ 1.7 s for the cloud stack, ≈ 0.8 s offline),
which faster speech cannot win back. Playback speeds up to 1.5× (intelligible with every
engine here) and, as a last resort, segments that have not started playing are skipped
(``speed+skip``; their translation stays in the log): for a live listener a bounded lag
matters more than every sentence. With ``--no-realtime`` nothing is paced — the file is
read as fast as the recognizer takes it and playback is not timed — so "how far behind
the speaker" has no meaning and lag control is off; asking for it there (or at
``--speed`` other than 1, where session seconds are not the talk's) is an error, as are
``--max-speedup`` / ``--catch-up`` while lag control is off. ``--max-lag off`` (or 0)
turns it off for a paced run, e.g. to measure the uncontrolled pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .cli_captions import add_captions_command
from .config import POLICIES, PipelineConfig
from .engines import BUNDLES
from .errors import AudioFormatError, ConfigError, DeviceError, S2STError
from .events import ErrorEvent, Event, SegmentLogged
from .lag import CATCH_UPS, LIVE_MAX_LAG_S, CatchUp, check_lag_settings
from .words import words_path

if TYPE_CHECKING:
    from .audio import EchoGuard, FileSource, WavSink
    from .engines import Engines
    from .log import SegmentLog
    from .pipeline import Pipeline

__all__ = ["LIVE_MAX_LAG_S", "LagSettings", "build_parser", "lag_settings", "main"]

#: Engine bundle names for --engines / --asr / --mt / --tts: the registry's.
ENGINE_CHOICES: tuple[str, ...] = tuple(BUNDLES)

#: Lag control's target for live use (s): the default of ``--max-lag`` for a live or
#: real-time-paced input, and of the notebook panel's lag slider (see the module docstring).

_CONFIG_DEFAULTS = PipelineConfig()  # max_speedup and catch_up defaults, from one place


def _fmt_s(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "  -  "
    return "  -  " if math.isnan(v) else f"{v:5.2f}"


def _speed(row: dict[str, Any]) -> float:
    """The row's playback speed (1.0 when absent: a log from before lag control)."""
    try:
        value = float(row.get("speed") or 1.0)
    except (TypeError, ValueError):
        return 1.0
    return 1.0 if math.isnan(value) else value


def format_segment_line(row: dict[str, Any]) -> str:
    """One human line for a logged row: transcript → translation and stage latencies (s);
    the playback speed when lag control changed it; a skipped row with its translation and
    why it was left out."""

    def diff(a: str, b: str) -> float | None:
        x, y = row.get(a), row.get(b)
        return None if x is None or y is None else y - x

    sid, status = row.get("segment_id"), row.get("status")
    if status == "skipped":
        why = row.get("error") or f"{_fmt_s(row.get('lag_at_play_s')).strip()} s behind"
        return (
            f"[{sid:3}] SKIP  {row.get('transcript', '')}\n"
            f"      → {row.get('translation', '')}\n"
            f"      {why}"
        )
    if status != "ok":
        return f"[{sid:3}] {str(status or '?').upper():5} {row.get('transcript', '')!r}: {row.get('error')}"
    parts = {
        "asr": diff("t_speech_end", "t_asr_final"),
        "mt": diff("t_mt_start", "t_mt_end"),
        "tts": diff("t_tts_start", "t_tts_first_audio"),
        "wait": diff("t_tts_first_audio", "t_play_start"),
    }
    e2e = diff("t_speech_end", "t_play_start")
    stages = " ".join(f"{k} {_fmt_s(v)}" for k, v in parts.items())
    speed = _speed(row)
    faster = f" | speed {speed:.2f}×" if abs(speed - 1.0) > 1e-6 else ""
    return (
        f"[{sid:3}] {row.get('transcript', '')}\n"
        f"      → {row.get('translation', '')}\n"
        f"      {stages} | ear-to-ear {_fmt_s(e2e)} s{faster}"
    )


def format_summary(
    df: Any, *, audio_s: float, wall_s: float | None = None, max_lag_s: float | None = None
) -> str:
    """A short session summary: counts, per-stage latency (s) and, when lag control was on
    (``max_lag_s``: its target, s) or shows in the log, the lag, speed and share skipped."""
    from .metrics import lag_summary, stage_summary
    from .report import segment_counts

    lag = lag_summary(df)
    lines = [f"segments: {segment_counts(df)}; input audio {audio_s:.1f} s"]
    if wall_s:
        lines.append(
            f"wall time {wall_s:.1f} s (real-time factor {wall_s / max(audio_s, 1e-9):.2f})"
        )
    if lag.played:
        summary = stage_summary(df)
        lines.append(f"{'stage':<14}{'median':>8}{'p90':>8}{'mean':>8}{'n':>5}   (seconds)")
        for stage, r in summary.iterrows():
            lines.append(
                f"{stage:<14}{_fmt_s(r['median']):>8}{_fmt_s(r['p90']):>8}{_fmt_s(r['mean']):>8}{int(r['count']):>5}"
            )
    if max_lag_s is not None or lag.controlled or lag.skipped:
        lines.append(lag.describe(max_lag_s))
    return "\n".join(lines)


# -- engines ---------------------------------------------------------------------------------
def _make_engines(args: argparse.Namespace, input_path: Path | None = None) -> Engines:
    """The engines named by ``--engines`` / ``--asr`` / ``--mt`` / ``--tts`` (blocking: call it
    in a worker thread). Simulated stages follow ``input_path`` (see
    :func:`~s2st_kit.engines.simulated.engines_for_clip`) when the recognizer is simulated."""
    from .engines import Engines

    names = {stage: getattr(args, stage) or args.engines for stage in ("asr", "mt", "tts")}
    options: dict[str, dict[str, Any]] = {}
    if "simulated" in names.values():
        from .engines.simulated import engines_for_clip

        followed = input_path if names["asr"] == "simulated" else None
        sim = engines_for_clip(followed, preset=args.preset, seed=args.seed)
        if sim.script_source:
            print(f"simulated recognizer script: {sim.script_source}", file=sys.stderr)
        options["simulated"] = sim.options()
    if "aws" in names.values():
        options["aws"] = {
            k: v for k, v in (("region", args.region), ("profile", args.profile)) if v
        }
    return Engines.create(None, asr=names["asr"], mt=names["mt"], tts=names["tts"], options=options)


# -- s2st run ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Outputs:
    """Where ``s2st run`` writes: translated speech, the Parquet log, the JSONL beside it
    and the session's configuration (``.config.json``: ``s2st report`` reads the lag target
    there)."""

    wav: Path
    log: Path
    jsonl: Path
    config: Path

    @classmethod
    def of(cls, args: argparse.Namespace, input_path: Path) -> _Outputs:
        from .report import session_config_path

        stem = f"{input_path.stem}.{args.target}"
        log = Path(args.log) if args.log else Path("out") / f"{stem}.parquet"
        wav = Path(args.out) if args.out else Path("out") / f"{stem}.wav"
        jsonl, config = log.with_suffix(".jsonl"), session_config_path(log)
        return cls(wav=wav, log=log, jsonl=jsonl, config=config)


@dataclass(slots=True)
class _Audio:
    """The session's opened audio ends: ``source`` / ``sink`` as the pipeline uses them."""

    source: Any
    sink: Any
    wav: WavSink
    guard: EchoGuard | None = None


def _is_microphone(value: str) -> bool:
    return value == "mic" or value.startswith("mic:")


@dataclass(frozen=True, slots=True)
class LagSettings:
    """Lag control for one ``s2st run``, resolved from the flags and the input's pacing.

    max_lag_s: the target (s), ``None`` when lag control is off; off_reason: why it is off.
    max_speedup (× natural speed) and catch_up go into the PipelineConfig either way.
    """

    max_lag_s: float | None
    max_speedup: float
    catch_up: CatchUp
    off_reason: str | None = None

    def describe(self) -> str:
        """One line for the session header."""
        if self.max_lag_s is None:
            return f"lag control: off ({self.off_reason})"
        then = "then skip" if self.catch_up == "speed+skip" else "never skip"
        return (
            f"lag control: at most {self.max_lag_s:g} s behind the speaker "
            f"(speed up to {self.max_speedup:g}×, {then})"
        )


def _unpaced_reason(args: argparse.Namespace, *, live: bool) -> str | None:
    """Why the lag behind the speaker has no meaning in this run (``None``: it has)."""
    if not live and not args.realtime:
        return "--no-realtime: nothing is paced, so there is no lag behind a speaker"
    if args.speed != 1.0:
        return f"--speed {args.speed:g}: not paced in real time, lag is not in the talk's seconds"
    return None


def lag_settings(args: argparse.Namespace, *, live: bool) -> LagSettings:
    """Lag control from ``--max-lag`` / ``--max-speedup`` / ``--catch-up`` (see the module
    docstring for the defaults). ``live``: the input is a microphone.

    Raises ConfigError (exit status 2) when the flags ask for something the run cannot do:
    a target without real-time pacing, or speed-up / catch-up settings with control off.
    """
    unpaced = _unpaced_reason(args, live=live)
    if args.max_lag is None:  # not given: on when paced in real time
        target, off = (None, unpaced) if unpaced else (LIVE_MAX_LAG_S, None)
    elif args.max_lag == 0:
        target, off = None, "--max-lag off"
    elif unpaced:
        raise ConfigError(
            f"--max-lag {args.max_lag:g} needs input paced in real time ({unpaced}); "
            "drop --max-lag, or play the file in real time (--realtime --speed 1)"
        )
    else:
        target, off = args.max_lag, None
    if target is None and (args.max_speedup is not None or args.catch_up is not None):
        raise ConfigError(f"--max-speedup / --catch-up need lag control, which is off ({off})")
    return LagSettings(
        max_lag_s=target,
        max_speedup=args.max_speedup or _CONFIG_DEFAULTS.max_speedup,
        catch_up=args.catch_up or _CONFIG_DEFAULTS.catch_up,
        off_reason=off,
    )


async def _run_session(args: argparse.Namespace, out: TextIO) -> int:
    """``s2st run``: prepare in a safe order, run the pipeline, print the summary.

    The input file is checked first, then the engines are built and validated against the
    configuration, and only then are sound devices opened (in worker threads: PortAudio's
    initialisation blocks). Everything opened is closed on any failure.
    """
    from .audio import FileSource
    from .pipeline import validate

    live = _is_microphone(args.input)
    lag = lag_settings(args, live=live)
    file_source = None
    if not live:
        file_source = FileSource(
            args.input, chunk_ms=args.chunk_ms, realtime=args.realtime, speed=args.speed
        )
    input_path = Path("microphone") if live else Path(args.input)
    config = PipelineConfig(
        source_lang=args.source, target_lang=args.target, voice=args.voice,
        chunk_ms=args.chunk_ms, policy=args.policy, max_lag_s=lag.max_lag_s,
        max_speedup=lag.max_speedup, catch_up=lag.catch_up,
        brevity_when_behind=args.brevity_when_behind and lag.max_lag_s is not None,
    )  # fmt: skip
    if args.brevity_when_behind and lag.max_lag_s is None:
        raise ConfigError("--brevity-when-behind needs lag control, which is off")
    paths = _Outputs.of(args, input_path)
    for stale in (paths.jsonl, words_path(paths.jsonl, suffix=".jsonl")):
        stale.unlink(missing_ok=True)  # the logs are appended to: start them afresh
    async with contextlib.AsyncExitStack() as opened:
        engines = await asyncio.to_thread(_make_engines, args, None if live else input_path)
        opened.push_async_callback(engines.aclose)
        await asyncio.to_thread(validate, engines, config)
        audio = await _open_audio(args, opened, file_source, paths.wav)
        duration = "live" if file_source is None else f"{file_source.duration_s:.1f} s"
        print(
            f"{input_path} ({duration}) → {args.target}: asr={engines.recognizer.name} "
            f"mt={engines.translator.name} tts={engines.synthesizer.name} policy={args.policy} "
            f"chunk={args.chunk_ms} ms realtime={args.realtime}\n{lag.describe()}",
            file=out,
            flush=True,
        )
        pipe, log, wall = await _run_pipeline(engines, config, audio, paths, out, live=live)
    _print_results(out, pipe, log, wall=wall, wav=audio.wav, paths=paths)
    return 0


async def _open_audio(
    args: argparse.Namespace,
    opened: contextlib.AsyncExitStack,
    file_source: FileSource | None,
    wav_path: Path,
) -> _Audio:
    """The source (``file_source``, else the microphone) and the sink (a WAV file, paced or
    teed to the loudspeaker). Devices are created and opened off the loop (``create`` /
    ``open``) and registered on ``opened`` so that any later failure closes them."""
    from .audio import PacedSink, WavSink

    source: Any = file_source
    if source is None:
        from .audio.devices import MicrophoneSource

        mic = await MicrophoneSource.create(_device_arg(args.input[4:]), chunk_ms=args.chunk_ms)
        opened.push_async_callback(mic.aclose)
        await mic.open()  # a busy device fails here, before the session starts
        source = mic
    wav = WavSink(wav_path)
    if args.speaker is None:
        return _Audio(source, PacedSink(wav, speed=args.speed) if args.realtime else wav, wav)
    from .audio.devices import SpeakerSink
    from .audio.echo import EchoGuard

    speaker = await SpeakerSink.create(_device_arg(args.speaker))
    opened.push_async_callback(speaker.aclose)
    await speaker.open()
    sink: Any = _Tee(speaker, wav)
    if file_source is None and args.echo_guard:
        guard = EchoGuard(source, sink)
        return _Audio(guard.source, guard.sink, wav, guard)
    return _Audio(source, sink, wav)


async def _run_pipeline(
    engines: Engines,
    config: PipelineConfig,
    audio: _Audio,
    paths: _Outputs,
    out: TextIO,
    *,
    live: bool,
) -> tuple[Pipeline, SegmentLog, float]:
    """Run one session, printing each segment as it is logged; the log is saved even when
    the session fails. Returns the pipeline, its log and the wall time (s)."""
    from .experiments import input_audio_path
    from .pipeline import Pipeline
    from .report import save_session_config

    guard = audio.guard
    pipe = Pipeline(
        engines, config, source=audio.source, sink=audio.sink, log_path=paths.jsonl,
        record_input=input_audio_path(paths.log), clock=guard.clock if guard else None,
    )  # fmt: skip
    saved = config.replace(session_id=pipe.session_id)
    await asyncio.to_thread(save_session_config, saved, paths.config)
    pipe.subscribe(lambda ev: _print_event(ev, out))
    t0 = time.monotonic()
    if live:
        print(
            "listening — press Ctrl-C to stop (what was heard is finished first)",
            file=out,
            flush=True,
        )
        _stop_on_sigint(pipe)
    try:
        log = await pipe.run()
    finally:
        await asyncio.to_thread(pipe.log.save, paths.log)
        await asyncio.to_thread(pipe.words.save, words_path(paths.log))
        if guard is not None:
            await asyncio.to_thread(guard.save_json, guard.spans_path(paths.log))
    return pipe, log, time.monotonic() - t0


def _print_event(ev: Event, out: TextIO) -> None:
    if isinstance(ev, SegmentLogged):
        print(format_segment_line(ev.row), file=out, flush=True)
    elif isinstance(ev, ErrorEvent) and ev.fatal:
        print(f"session error: {ev.message}", file=sys.stderr, flush=True)


def _print_results(
    out: TextIO, pipe: Pipeline, log: SegmentLog, *, wall: float, wav: WavSink, paths: _Outputs
) -> None:
    """The session summary, robustness counters and where the outputs are."""
    df = log.to_pandas()
    print("", file=out)
    summary = format_summary(
        df, audio_s=pipe.stats.audio_s, wall_s=wall, max_lag_s=pipe.config.max_lag_s
    )
    print(summary, file=out)
    st = pipe.stats
    notes = {
        "retries": st.retries, "recognizer restarts": st.recognizer_restarts,
        "dropped audio chunks": st.dropped_audio_chunks, "dropped segments": st.dropped_segments,
    }  # fmt: skip
    if any(notes.values()):
        print("robustness: " + ", ".join(f"{k} {v}" for k, v in notes.items() if v), file=out)
    print(f"\ntranslated speech: {paths.wav} ({wav.duration_s:.1f} s)", file=out)
    print(f"segment log:       {paths.log} (and {paths.jsonl}, {paths.config})", file=out)
    print(
        f"words table:       {words_path(paths.log)} (captions: s2st captions {paths.log})",
        file=out,
    )


class _Tee:
    """Write to a device sink and a WAV file; timing follows the device."""

    def __init__(self, device: Any, wav: Any) -> None:
        self.device, self.wav = device, wav
        self.sample_rate = device.sample_rate
        wav.sample_rate = device.sample_rate

    async def write(self, chunk: Any) -> None:
        await self.wav.write(chunk)
        await self.device.write(chunk)

    async def drain(self) -> None:
        await self.device.drain()

    async def aclose(self) -> None:
        try:
            await self.device.aclose()
        finally:
            await self.wav.aclose()


def _device_arg(value: str | None) -> int | str | None:
    """``"3"`` → device index 3; other non-empty strings are name fragments; else the default."""
    if not value:
        return None
    return int(value) if value.isdigit() else value


def _stop_on_sigint(pipe: Any) -> None:
    import signal

    loop = asyncio.get_running_loop()

    stopping: list[asyncio.Task[Any]] = []

    def stop() -> None:
        loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C interrupts for real
        stopping.append(loop.create_task(pipe.stop(drain=True)))

    loop.add_signal_handler(signal.SIGINT, stop)


def _cmd_devices(args: argparse.Namespace) -> int:
    from .audio.devices import list_devices

    devices = list_devices()
    if not devices:
        print("no audio devices found (in a notebook, use the browser microphone; or pass a file)")
        return 0
    for d in devices:
        flags = [
            f
            for f, on in (("default-in", d.is_default_input), ("default-out", d.is_default_output))
            if on
        ]
        print(
            f"{d.index:3}  {d.name:<40} in {d.max_input_channels:2}  out {d.max_output_channels:2}  "
            f"{d.default_rate:>7.0f} Hz  {' '.join(flags)}"
        )
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .cli_converse import run_fanout, wants_fanout

    if wants_fanout(args):  # --to es,fr,de --out-dir DIR: one branch per target
        return run_fanout(args, sys.stdout)
    return asyncio.run(_run_session(args, sys.stdout))


def describe_engines() -> list[dict[str, Any]]:
    """For each bundle and stage: engine name, languages / voices, or why it is unavailable."""
    from .engines import BUNDLES, create_stage

    rows = []
    for bundle in BUNDLES:
        for stage in ("asr", "mt", "tts"):
            row: dict[str, Any] = {"bundle": bundle, "stage": stage}
            try:
                engine = create_stage(stage, bundle)
                row["engine"] = engine.name
                if stage == "asr":
                    row["languages"] = sorted(engine.languages())
                elif stage == "mt":
                    row["pairs"] = sorted(engine.pairs())
                else:
                    voices = engine.voices()
                    row["languages"] = sorted({v.language for v in voices})
                    row["voices"] = len(voices)
                asyncio.run(engine.aclose())
            except S2STError as exc:
                row["unavailable"] = str(exc)
            except Exception as exc:  # e.g. no credentials for AWS
                row["unavailable"] = f"{type(exc).__name__}: {exc}"
            rows.append(row)
    return rows


def _cmd_engines(args: argparse.Namespace) -> int:
    for row in describe_engines():
        head = f"{row['bundle']:<10} {row['stage']:<4}"
        if "unavailable" in row:
            print(f"{head} unavailable: {row['unavailable']}")
            continue
        if row["stage"] == "mt":
            pairs = row["pairs"]
            shown = ", ".join(f"{a}→{b}" for a, b in pairs[:24])
            more = f" (+{len(pairs) - 24} more)" if len(pairs) > 24 else ""
            print(f"{head} {row['engine']:<16} {shown}{more}")
        elif row["stage"] == "tts":
            print(
                f"{head} {row['engine']:<16} {row['voices']} voices in {len(row['languages'])} languages: {', '.join(row['languages'][:40])}"
            )
        else:
            print(f"{head} {row['engine']:<16} {', '.join(row['languages'])}")
    from .engines.aws.polly.features import feature_summary  # static: needs no credentials

    print("\n".join(f"aws-polly  {line}" for line in feature_summary().splitlines()))
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    try:
        from .engines.aws import doctor
    except ImportError as exc:
        raise ConfigError(
            f"AWS support is not installed ({exc}): pip install 's2st_kit[aws]'"
        ) from exc
    results = asyncio.run(doctor.run_checks(region=args.region, profile=args.profile))
    print(doctor.format_report(results))
    print("\nLeast-privilege IAM policy for s2st_kit:")
    print(doctor.iam_policy_json())
    return 0 if all(r.ok for r in results) else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``s2st``."""
    p = argparse.ArgumentParser(
        prog="s2st", description="Near-real-time speech-to-speech translation."
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = p.add_subparsers(dest="command", required=True)
    _add_run_command(sub)
    _add_info_commands(sub)
    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return p


def _add_run_command(sub: Any) -> None:
    run = sub.add_parser("run", help="translate a recording, printing each segment as it completes")
    run.add_argument(
        "input",
        help="audio file (WAV, FLAC, OGG, MP3, ...: any rate, any channels), or 'mic' / 'mic:NAME' "
        "for a local microphone (see 's2st devices')",
    )
    run.add_argument(
        "--speaker", nargs="?", const="", default=None, metavar="NAME",
        help="also play the translation on a local output device (default device if no NAME)",
    )  # fmt: skip
    run.add_argument(
        "--echo-guard", action=argparse.BooleanOptionalAction, default=True,
        help="with mic + --speaker: mute the microphone while the translation plays (default on)",
    )  # fmt: skip
    _add_engine_arguments(run)
    run.add_argument("--from", dest="source", default="en", help="source language (default: en)")
    run.add_argument("--to", dest="target", default="es", help="target language (default: es)")
    run.add_argument("--voice", help="synthesizer voice id (default: the engine's voice for --to)")
    run.add_argument(
        "--chunk-ms", type=int, default=100, help="audio chunk size in ms (default: 100)"
    )
    run.add_argument(
        "--policy", choices=POLICIES, default="final", help="commit policy (default: final)"
    )
    run.add_argument(
        "--realtime", action=argparse.BooleanOptionalAction, default=True,
        help="pace input and playback like a live session (default) or run as fast as possible",
    )  # fmt: skip
    run.add_argument("--speed", type=float, default=1.0, help="pacing speed factor with --realtime")
    _add_lag_arguments(run)
    run.add_argument("--out", help="translated speech WAV (default: out/<input>.<to>.wav)")
    run.add_argument(
        "--log", help="segment log Parquet (default: out/<input>.<to>.parquet; JSONL beside it)"
    )
    _add_engine_options(run)
    from .cli_converse import add_run_options

    add_run_options(run)
    run.set_defaults(func=_cmd_run)


def _max_lag_arg(text: str) -> float:
    """``--max-lag``: seconds > 0, or ``off`` / ``0`` (returned as 0.0: lag control off)."""
    if text.strip().lower() in ("off", "none", "no"):
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f"expected seconds > 0 (e.g. 3), or 'off' (0 also turns lag control off), got {text!r}"
        )
    return value


def _target_arg(text: str) -> float:
    """``s2st report --max-lag``: a target to draw (seconds > 0)."""
    value = _max_lag_arg(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected the target in seconds > 0, got {text!r}")
    return value


def _speedup_arg(text: str) -> float:
    """``--max-speedup``: × natural speed, in the range the lag controller accepts."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected a speed factor such as 1.5, got {text!r}"
        ) from exc
    try:
        check_lag_settings(None, value, _CONFIG_DEFAULTS.catch_up)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def _add_lag_arguments(run: argparse.ArgumentParser) -> None:
    """``--max-lag`` / ``--max-speedup`` / ``--catch-up`` (defaults: see :func:`lag_settings`)."""
    run.add_argument(
        "--max-lag", type=_max_lag_arg, metavar="SECONDS|off",
        help=f"lag control: keep the listener at most SECONDS behind the speaker by faster "
        f"playback (and skipping, see --catch-up); 'off' or 0 disables it. Default: "
        f"{LIVE_MAX_LAG_S:g} s when the input is live or paced in real time (a microphone, or "
        f"a file with --realtime at --speed 1): about a human interpreter's ear-voice span, "
        f"and above the stages' own latency (~1.7 s cloud, ~0.8 s offline), which speed "
        f"cannot win back; without it the lag grows with every sentence whose translation "
        f"is longer than the source. Off with --no-realtime: nothing is paced, so being "
        f"'behind the speaker' has no meaning",
    )  # fmt: skip
    run.add_argument(
        "--max-speedup", type=_speedup_arg, metavar="X",
        help=f"with lag control: fastest playback, × natural speed (1.0-3.0; default "
        f"{_CONFIG_DEFAULTS.max_speedup:g}: intelligible with every engine here)",
    )  # fmt: skip
    run.add_argument(
        "--catch-up", choices=CATCH_UPS,
        help="with lag control: 'speed+skip' (default: when even --max-speedup cannot hold the "
        "target, leave out segments that have not started playing; their translation stays "
        "in the log: a live listener needs a bounded lag more than every sentence) or "
        "'speed' (never leave speech out; the lag can then grow)",
    )  # fmt: skip
    run.add_argument(
        "--brevity-when-behind", action="store_true",
        help="with lag control: ask the translator for shorter translations while behind "
        "(Amazon Translate's brevity, into es/fr/de/it/pt and from those into en)",
    )  # fmt: skip


def _add_engine_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--engines",
        choices=ENGINE_CHOICES,
        default="offline",
        help="engine bundle (default: offline)",
    )
    run.add_argument(
        "--asr", choices=ENGINE_CHOICES, help="recognizer engine (overrides --engines)"
    )
    run.add_argument("--mt", choices=ENGINE_CHOICES, help="translator engine (overrides --engines)")
    run.add_argument(
        "--tts", choices=ENGINE_CHOICES, help="synthesizer engine (overrides --engines)"
    )


def _add_engine_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--preset", default="cloud-like", help="simulated latency preset: instant, cloud-like"
    )
    run.add_argument("--seed", type=int, default=0, help="simulated engines' seed")
    run.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    run.add_argument("--profile", help="AWS profile (default: the standard credential chain)")


def _add_info_commands(sub: Any) -> None:
    eng = sub.add_parser("engines", help="list engines with their languages and voices")
    eng.set_defaults(func=_cmd_engines)

    dev = sub.add_parser("devices", help="list local audio input/output devices")
    dev.set_defaults(func=_cmd_devices)

    doc = sub.add_parser(
        "doctor", help="check AWS credentials and reachability; print the IAM policy"
    )
    doc.add_argument("--region")
    doc.add_argument("--profile")
    doc.set_defaults(func=_cmd_doctor)


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    report = write_report(
        args.log, args.out, clip=args.clip, source_duration_s=args.duration,
        max_lag_s=args.max_lag, max_speedup=args.max_speedup,
    )  # fmt: skip
    print(report.text)
    print("\nwritten:")
    for p in report.files:
        print(f"  {p}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from . import plots
    from .experiments import sweep

    grid: dict[str, list[Any]] = {"chunk_ms": args.chunk_ms, "policy": args.policy}
    if args.voice:
        grid["voice"] = args.voice
    out = Path(args.out)
    base = PipelineConfig(source_lang=args.source, target_lang=args.target)
    df = asyncio.run(
        sweep(args.clips, grid, engines=args.engines, out=out, concurrency=args.concurrency,
              preset=args.preset, seed=args.seed, base_config=base, realtime=args.realtime)
    )  # fmt: skip
    ok = df[df["status"] == "ok"] if len(df) else df
    if len(ok):
        from .metrics import add_derived

        d = add_derived(ok)
        keys = [k for k in grid if k in d.columns]
        table = d.groupby(keys)["ear_to_ear_s"].agg(["median", "count"])
        print("ear-to-ear latency (s) by configuration:")
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
        fig = plots.plot_sweep(d, x="chunk_ms", y="ear_to_ear_s", hue="policy")
        png = out.with_suffix(".png")
        fig.savefig(png, dpi=110, bbox_inches="tight")
        print(f"\nwritten: {out} and {png}")
    return 0


def _add_report_commands(sub: Any) -> None:
    rep = sub.add_parser("report", help="summary table in the terminal and plots as PNG files")
    rep.add_argument("log", help="segment log (.parquet or .jsonl)")
    rep.add_argument("--out", required=True, help="folder for the PNGs, CSV and JSON")
    rep.add_argument("--clip", help="the input recording, for reference-based quality scores")
    rep.add_argument("--duration", type=float, help="input length (s) for SimulEval scores")
    rep.add_argument(
        "--max-lag", type=_target_arg, metavar="SECONDS",
        help="lag control's target, drawn in lag.png (default: the one s2st run saved beside "
        "the log in <log>.config.json, if any)",
    )  # fmt: skip
    rep.add_argument(
        "--max-speedup", type=_speedup_arg, metavar="X",
        help="lag control's speed cap, drawn in lag.png (default: as saved beside the log)",
    )  # fmt: skip
    rep.set_defaults(func=_cmd_report)

    sw = sub.add_parser("sweep", help="run every configuration on every clip; resumable")
    sw.add_argument(
        "clips", nargs="+", help="audio files (manifest clips carry scripts and references)"
    )
    sw.add_argument("--engines", choices=ENGINE_CHOICES, default="simulated")
    sw.add_argument("--chunk-ms", type=int, nargs="+", default=[50, 100, 200])
    sw.add_argument("--policy", choices=POLICIES, nargs="+", default=["final"])
    sw.add_argument("--voice", nargs="+", help="voices to compare")
    sw.add_argument("--from", dest="source", default="en")
    sw.add_argument("--to", dest="target", default="es")
    sw.add_argument("--preset", default="cloud-like")
    sw.add_argument("--seed", type=int, default=0)
    sw.add_argument("--concurrency", type=int, default=2)
    sw.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=False)
    sw.add_argument("--out", default="sweep.parquet", help="results (Parquet; re-running resumes)")
    sw.set_defaults(func=_cmd_sweep)


def _add_eval_command(sub: Any) -> None:
    from .cli_eval import add_eval_command

    add_eval_command(sub)


def _add_converse_command(sub: Any) -> None:
    from .cli_converse import add_commands

    add_commands(sub)


_EXTRA_COMMANDS: list[Any] = [_add_report_commands, add_captions_command, _add_eval_command]
_EXTRA_COMMANDS.append(_add_converse_command)  # s2st converse (cli_converse.py)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``s2st`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ConfigError, AudioFormatError, DeviceError) as exc:
        print(f"s2st: {exc}", file=sys.stderr)
        return 2
    except S2STError as exc:
        print(f"s2st: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("s2st: interrupted; the log written so far is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
