"""The ``s2st`` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import speechlike

from s2st_kit.cli import (
    ENGINE_CHOICES,
    LIVE_MAX_LAG_S,
    LagSettings,
    build_parser,
    format_segment_line,
    format_summary,
    lag_settings,
    main,
)
from s2st_kit.engines import BUNDLES

DATA = Path(__file__).parent.parent / "data"


def s2st(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "s2st_kit.cli", *map(str, args)],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )  # fmt: skip


def test_run_simulated_on_a_manifest_clip(tmp_path):
    out, log = tmp_path / "o.wav", tmp_path / "o.parquet"
    r = s2st("run", DATA / "en_home.wav", "--engines", "simulated", "--preset", "instant",
             "--no-realtime", "--out", out, "--log", log)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "manifest entry 'en_home'" in r.stderr
    assert "[  0] The house is very big." in r.stdout and "→ La casa es muy grande." in r.stdout
    assert "segments: 3 (3 ok, 0 error/dropped)" in r.stdout and "ear_to_ear_s" in r.stdout
    data, rate = sf.read(out, dtype="int16")
    assert rate == 16000 and len(data) / rate > 2.0
    assert np.sqrt(np.mean((data / 32768.0) ** 2)) > 0.01
    df = pd.read_parquet(log)
    assert len(df) == 3 and (df.status == "ok").all()
    assert log.with_suffix(".jsonl").read_text().count("\n") == 3


def test_run_simulated_on_any_clip_uses_speech_detection(tmp_path):
    clip = tmp_path / "mine.wav"
    sf.write(clip, np.stack([speechlike(5, 44100, [(0.5, 1.8), (2.6, 4.2)])] * 2, 1), 44100)
    r = s2st("run", clip, "--engines", "simulated", "--preset", "instant", "--no-realtime",
             "--out", tmp_path / "o.wav", "--log", tmp_path / "o.parquet")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "energy-based speech detection" in r.stderr
    df = pd.read_parquet(tmp_path / "o.parquet")
    assert len(df) == 2
    assert abs(df.audio_start_s[0] - 0.5) < 0.1 and abs(df.audio_end_s[1] - 4.2) < 0.1


def test_bad_inputs_fail_fast_with_a_clear_message(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n" * 10)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for path, needle in (
        (text, "not a readable audio file"),
        (empty, "empty"),
        (tmp_path / "x.wav", "no such file"),
    ):
        r = s2st(
            "run", path, "--engines", "simulated", "--no-realtime", "--out", tmp_path / "o.wav"
        )
        assert r.returncode == 2 and needle in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "o.wav").exists()


def test_unknown_engine_and_language(tmp_path):
    r = s2st("run", DATA / "en_home.wav", "--engines", "watson")
    assert r.returncode == 2 and "invalid choice: 'watson'" in r.stderr
    r = s2st(
        "run",
        DATA / "en_home.wav",
        "--engines",
        "simulated",
        "--to",
        "tlh",
        "--out",
        tmp_path / "o.wav",
    )
    assert r.returncode == 2 and "cannot translate 'en' → 'tlh'" in r.stderr
    assert "Traceback" not in r.stderr


def test_engines_lists_bundles():
    r = s2st("engines")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("simulated  asr") for line in lines)
    assert any(line.startswith("offline    mt") for line in lines)
    assert any(line.startswith("aws") for line in lines)


def test_report_writes_plots_and_tables(tmp_path):
    log = tmp_path / "o.parquet"
    r = s2st("run", DATA / "en_home.wav", "--engines", "simulated", "--preset", "instant",
             "--no-realtime", "--out", tmp_path / "o.wav", "--log", log)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o.input.wav").exists()  # recorded input, for replay
    r = s2st("report", log, "--out", tmp_path / "rep", "--clip", DATA / "en_home.wav")
    assert r.returncode == 0, r.stderr
    assert (
        "ear_to_ear_s" in r.stdout
        and "quality: wer 0.000" in r.stdout
        and "bleu 100.000" in r.stdout
    )
    names = ("timeline.png", "latency_by_stage.png", "decomposition.png", "ear_to_ear_cdf.png",
             "lag.png")  # fmt: skip
    for name in names:
        png = tmp_path / "rep" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "lag control: off" in r.stdout  # --no-realtime: nothing was paced
    assert "skipped 0 of 3 segments (0.0 %)" in r.stdout


def test_sweep_command(tmp_path):
    out = tmp_path / "sw.parquet"
    r = s2st("sweep", DATA / "en_home.wav", "--chunk-ms", "50", "200", "--policy", "final", "stable",
             "--preset", "instant", "--out", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    df = pd.read_parquet(out)
    assert set(df.chunk_ms) == {50, 200} and set(df.policy) == {"final", "stable"}
    assert out.with_suffix(".png").exists()
    assert "ear-to-ear latency (s) by configuration" in r.stdout


def test_microphone_without_a_device_is_refused_clearly(tmp_path):
    conf = tmp_path / "asound.conf"
    conf.write_text("pcm.!default { type null }\nctl.!default { type hw card 0 }\n")
    import os

    env = dict(os.environ, ALSA_CONFIG_PATH=str(conf))
    r = subprocess.run(
        [sys.executable, "-m", "s2st_kit.cli", "run", "mic:NoSuchMic", "--engines", "simulated",
         "--out", str(tmp_path / "o.wav")],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "NoSuchMic" in r.stderr or "no input audio device" in r.stderr
    assert "Traceback" not in r.stderr and "ALSA lib" not in r.stderr


def test_engine_choices_are_the_registry():
    assert set(ENGINE_CHOICES) == set(BUNDLES)


# -- local microphone / speaker through the paced fake PortAudio of test_devices (in-process) ---


@pytest.fixture
def portaudio(monkeypatch, no_leaks):
    """Fake PortAudio; each PyAudio() records the thread it was created on and its release."""
    fakes = pytest.importorskip("test_devices")
    from s2st_kit.audio import devices

    class RecordingPyAudio(fakes.FakePyAudio):
        made: ClassVar[list[RecordingPyAudio]] = []

        def __init__(self):
            self.thread = threading.current_thread()
            self.terminated = False
            RecordingPyAudio.made.append(self)

        def terminate(self):
            self.terminated = True

    fakes.FakePyAudio.streams = []
    mod = types.SimpleNamespace(PyAudio=RecordingPyAudio, paInt16=8)
    monkeypatch.setattr(devices, "_import_pyaudio", lambda: mod)
    return RecordingPyAudio


def run_here(tmp_path, *args):
    out, log = tmp_path / "o.wav", tmp_path / "o.parquet"
    return main(["run", *map(str, args), "--out", str(out), "--log", str(log)])


def test_mic_session_that_fails_validation_opens_no_device(portaudio, tmp_path, capsys):
    """Regression: the microphone and speaker were opened before validation and never closed."""
    rc = run_here(tmp_path, "mic", "--engines", "simulated", "--to", "tlh", "--speaker")
    assert rc == 2 and "cannot translate 'en' → 'tlh'" in capsys.readouterr().err
    assert portaudio.made == []  # engines validated before any device was touched


def test_mic_session_whose_engines_fail_opens_no_device(portaudio, tmp_path, capsys):
    """Regression: the microphone was opened before the engines were built, and leaked."""
    rc = run_here(tmp_path, "mic", "--engines", "simulated", "--preset", "warp-speed")
    assert rc == 2 and "unknown simulated preset 'warp-speed'" in capsys.readouterr().err
    assert portaudio.made == []


def test_speaker_that_fails_closes_the_open_microphone(portaudio, tmp_path, capsys):
    """Regression: a failed speaker left the microphone's PortAudio open; both were set up
    on the event loop's thread."""
    rc = run_here(tmp_path, "mic", "--engines", "simulated", "--speaker", "NoSuchSpeaker")
    assert rc == 2 and "NoSuchSpeaker" in capsys.readouterr().err
    assert len(portaudio.made) == 2  # the microphone, then the speaker that failed
    assert all(pa.terminated for pa in portaudio.made)
    assert all(pa.thread is not threading.main_thread() for pa in portaudio.made)
    assert all(not s.is_active() for s in portaudio.streams)  # the mic's stream was stopped


def test_file_to_speaker_sets_up_the_device_off_the_loop(portaudio, tmp_path, capsys):
    """Regression: SpeakerSink (PortAudio's initialisation) was created on the event loop."""
    clip = tmp_path / "short.wav"
    sf.write(clip, speechlike(1.5, 16000, [(0.3, 1.0)]), 16000)
    rc = run_here(
        tmp_path, clip, "--engines", "simulated", "--preset", "instant", "--no-realtime",
        "--speaker",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "segments: 1 (1 ok" in out
    [speaker] = portaudio.made
    assert speaker.thread is not threading.main_thread() and speaker.terminated
    played = np.frombuffer(bytes(portaudio.streams[0].played), np.int16)
    assert np.abs(played).max() > 1000  # the translation reached the device
    assert sf.info(tmp_path / "o.wav").duration > 0.3


# -- lag control: --max-lag / --max-speedup / --catch-up ------------------------------------


def short_clip(tmp_path: Path) -> Path:
    clip = tmp_path / "short.wav"
    sf.write(clip, speechlike(1.6, 16000, [(0.2, 1.2)]), 16000)
    return clip


@pytest.mark.parametrize(
    ("flags", "live", "expected"),
    [
        ([], False, LagSettings(LIVE_MAX_LAG_S, 1.5, "speed+skip")),  # a file in real time
        ([], True, LagSettings(LIVE_MAX_LAG_S, 1.5, "speed+skip")),  # a microphone
        (["--no-realtime"], True, LagSettings(LIVE_MAX_LAG_S, 1.5, "speed+skip")),  # live anyway
        (["--max-lag", "2.5", "--max-speedup", "1.25", "--catch-up", "speed"], False,
         LagSettings(2.5, 1.25, "speed")),
        (["--no-realtime"], False, LagSettings(None, 1.5, "speed+skip", "--no-realtime: nothing "
                                               "is paced, so there is no lag behind a speaker")),
        (["--speed", "2"], False, LagSettings(None, 1.5, "speed+skip", "--speed 2: not paced in "
                                              "real time, lag is not in the talk's seconds")),
        (["--max-lag", "off"], False, LagSettings(None, 1.5, "speed+skip", "--max-lag off")),
        (["--max-lag", "0"], True, LagSettings(None, 1.5, "speed+skip", "--max-lag off")),
        (["--max-lag", "OFF"], False, LagSettings(None, 1.5, "speed+skip", "--max-lag off")),
    ],
)  # fmt: skip
def test_lag_control_defaults_follow_the_pacing(flags, live, expected):
    """On (3 s, 1.5x, speed+skip) when the input is live or paced in real time; off when
    nothing is paced or the pacing is not real time; 'off' / 0 turn it off."""
    args = build_parser().parse_args(["run", "mic" if live else "talk.wav", *flags])
    assert lag_settings(args, live=live) == expected


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--max-lag", "-1"], "argument --max-lag: expected seconds > 0"),
        (["--max-lag", "soon"], "or 'off' (0 also turns lag control off), got 'soon'"),
        (["--max-lag", "nan"], "argument --max-lag: expected seconds > 0"),
        (["--max-speedup", "5"], "argument --max-speedup: max_speedup must be between 1.0 and 3.0"),
        (["--max-speedup", "0.5"], "max_speedup must be between 1.0 and 3.0, got 0.5"),
        (["--max-speedup", "fast"], "expected a speed factor such as 1.5, got 'fast'"),
        (["--catch-up", "never"], "argument --catch-up: invalid choice: 'never'"),
    ],
)  # fmt: skip
def test_bad_lag_values_exit_2_with_a_clear_message(tmp_path, capsys, flags, needle):
    with pytest.raises(SystemExit) as exit_:
        run_here(tmp_path, DATA / "en_home.wav", "--engines", "simulated", *flags)
    assert exit_.value.code == 2 and needle in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--no-realtime", "--max-lag", "3"], "--max-lag 3 needs input paced in real time "
                                              "(--no-realtime: nothing is paced"),
        (["--speed", "2", "--max-lag", "3"], "(--speed 2: not paced in real time"),
        (["--max-lag", "off", "--max-speedup", "2"], "--max-speedup / --catch-up need lag "
                                                     "control, which is off (--max-lag off)"),
        (["--no-realtime", "--catch-up", "speed"], "need lag control, which is off "
                                                   "(--no-realtime"),
    ],
)  # fmt: skip
def test_lag_flags_the_run_cannot_honour_exit_2(tmp_path, capsys, flags, needle):
    """Asking for lag control where it has no meaning is refused, not silently ignored,
    before anything is opened (the output WAV is not created)."""
    rc = run_here(tmp_path, DATA / "en_home.wav", "--engines", "simulated", *flags)
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err
    assert not (tmp_path / "o.wav").exists()


def test_run_in_real_time_has_lag_control_on_by_default(tmp_path):
    clip, log = short_clip(tmp_path), tmp_path / "o.parquet"
    r = s2st("run", clip, "--engines", "simulated", "--preset", "instant",
             "--out", tmp_path / "o.wav", "--log", log)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "lag control: at most 3 s behind the speaker (speed up to 1.5×, then skip)" in r.stdout
    assert "lag behind the speaker (played segments): median" in r.stdout
    assert "(target 3 s)" in r.stdout and "skipped 0 of 1 segments (0.0 %)" in r.stdout
    saved = json.loads((tmp_path / "o.config.json").read_text())  # what the pipeline ran with
    assert (saved["max_lag_s"], saved["max_speedup"], saved["catch_up"]) == (3.0, 1.5, "speed+skip")
    assert saved["session_id"] == pd.read_parquet(log).session_id[0]
    assert pd.read_parquet(log).lag_at_play_s.notna().all()  # the controller looked
    r = s2st("report", log, "--out", tmp_path / "rep")
    assert r.returncode == 0, r.stderr
    assert "lag control: target 3 s, speed up to 1.5× (speed+skip)" in r.stdout
    assert (tmp_path / "rep" / "lag.png").stat().st_size > 10_000
    lag = json.loads((tmp_path / "rep" / "metrics.json").read_text())["lag"]
    assert lag["max_lag_s"] == 3.0 and lag["skipped"] == 0 and lag["played"] == 1


def test_run_with_explicit_lag_settings(tmp_path):
    clip = short_clip(tmp_path)
    r = s2st("run", clip, "--engines", "simulated", "--preset", "instant", "--max-lag", "2",
             "--max-speedup", "1.25", "--catch-up", "speed", "--out", tmp_path / "o.wav",
             "--log", tmp_path / "o.parquet")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "at most 2 s behind the speaker (speed up to 1.25×, never skip)" in r.stdout
    saved = json.loads((tmp_path / "o.config.json").read_text())
    assert (saved["max_lag_s"], saved["max_speedup"], saved["catch_up"]) == (2.0, 1.25, "speed")
    r = s2st("run", clip, "--engines", "simulated", "--preset", "instant", "--max-lag", "off",
             "--out", tmp_path / "o.wav", "--log", tmp_path / "o.parquet")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "lag control: off (--max-lag off)" in r.stdout
    assert json.loads((tmp_path / "o.config.json").read_text())["max_lag_s"] is None


def test_segment_lines_show_speed_and_skips():
    row = {"segment_id": 3, "status": "ok", "transcript": "Hello.", "translation": "Hola.",
           "t_speech_end": 1.0, "t_asr_final": 1.5, "t_mt_start": 1.5, "t_mt_end": 1.6,
           "t_tts_start": 1.6, "t_tts_first_audio": 1.8, "t_play_start": 3.4, "speed": 1.25}  # fmt: skip
    assert format_segment_line(row).endswith("| ear-to-ear  2.40 s | speed 1.25×")
    assert "speed" not in format_segment_line({**row, "speed": 1.0})
    assert "speed" not in format_segment_line({**row, "speed": None})  # a log from before
    skipped = {**row, "status": "skipped", "t_play_start": None, "lag_at_play_s": 4.2,
               "error": "skipped to catch up: 4.2 s behind the speaker (max_lag_s 3)"}  # fmt: skip
    assert format_segment_line(skipped).splitlines() == [
        "[  3] SKIP  Hello.",
        "      → Hola.",  # the translation is kept
        "      skipped to catch up: 4.2 s behind the speaker (max_lag_s 3)",
    ]
    assert format_segment_line({**skipped, "error": None}).endswith("4.20 s behind")
    assert format_segment_line({**row, "status": "error", "error": "boom"}).startswith(
        "[  3] ERROR 'Hello.': boom"
    )


def test_summary_reports_skipped_share_speed_and_lag_p95():
    from test_plots import _lag_log

    df = _lag_log()
    text = format_summary(df, audio_s=50.0, max_lag_s=3.0)
    assert "segments: 16 (14 ok, 2 skipped, 0 error/dropped)" in text
    ok = df[df.status == "ok"]
    p95 = np.percentile(ok.t_play_start - ok.t_speech_end, 95)
    assert f"p95 {p95:.2f} s" in text and "(target 3 s)" in text
    assert "skipped 2 of 16 segments (12.5 %)" in text
    assert f"playback speed median {ok.speed.median():.2f}×, max 1.50×" in text
    # without lag control (a log from before it): no lag-control line
    plain = df.assign(status="ok", speed=1.0, lag_at_play_s=None)
    assert "skipped" not in format_summary(plain, audio_s=50.0)


def test_brevity_when_behind_needs_lag_control(tmp_path):
    from s2st_kit.cli import main

    clip = str(Path(__file__).parent.parent / "data" / "en_home.wav")
    code = main(["run", clip, "--engines", "simulated", "--no-realtime", "--brevity-when-behind",
                 "--out", str(tmp_path / "o.wav")])  # fmt: skip
    assert code == 2
