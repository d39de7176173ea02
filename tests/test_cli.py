"""The ``s2st`` command as a user runs it (a real subprocess)."""

from __future__ import annotations

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

from s2st_kit.cli import ENGINE_CHOICES, main
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
    for name in ("timeline.png", "latency_by_stage.png", "decomposition.png", "ear_to_ear_cdf.png"):
        png = tmp_path / "rep" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


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
