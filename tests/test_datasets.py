"""The sample-data manifest, the LibriVox references, and make_samples reproducibility."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from s2st_kit import datasets
from s2st_kit.datasets import (
    Clip,
    data_dir,
    find_clip,
    librivox_clips,
    load_manifest,
    sample_clip,
)
from s2st_kit.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_manifest_loads_and_files_exist() -> None:
    clips = load_manifest()
    assert len(clips) >= 6
    languages = [c.language for c in clips]
    assert languages.count("en") >= 3 and {"es", "de", "fr"} <= set(languages)
    total = 0
    for clip in clips:
        assert isinstance(clip, Clip) and clip.source == "espeak-ng"
        assert clip.path.is_file()
        total += clip.path.stat().st_size
        info = sf.info(str(clip.path))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert len(clip.utterances) >= 2
        assert clip.transcript == " ".join(u.text for u in clip.utterances)
        previous_end = 0.0
        for u in clip.utterances:
            assert previous_end <= u.start_s < u.end_s <= info.duration
            previous_end = u.end_s
        assert clip.translations
        if clip.language == "en":
            assert {"es", "fr", "de"} <= set(clip.translations)
        else:
            assert "en" in clip.translations
    assert total < 2_000_000


def test_gaps_between_utterances_are_silent() -> None:
    clip = sample_clip("en")
    pcm, rate = sf.read(str(clip.path), dtype="int16")
    for a, b in zip(clip.utterances, clip.utterances[1:], strict=False):
        gap = pcm[int(a.end_s * rate) + 16 : int(b.start_s * rate) - 16]
        assert 0.6 <= b.start_s - a.end_s <= 0.8
        assert abs(gap).max() == 0


def test_manifest_hashes_match_files() -> None:
    entries = json.loads((data_dir() / "manifest.json").read_text(encoding="utf-8"))
    for entry in entries:
        data = (data_dir() / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["id"]


def test_sample_clip_and_find_clip() -> None:
    assert sample_clip("es").language == "es"
    en = sample_clip()
    assert find_clip(en.path) == en
    assert find_clip(Path("/elsewhere") / en.path.name) == en
    assert find_clip("/no/such/file.wav") is None
    with pytest.raises(ConfigError):
        sample_clip("xx")


def test_data_dir_env_override(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            [
                {
                    "id": "x",
                    "file": "x.wav",
                    "language": "it",
                    "transcript": "ciao",
                    "translations": {"en": "hi"},
                }
            ]
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("S2ST_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path.resolve()
    clip = sample_clip("it")
    assert clip.path == (tmp_path / "x.wav").resolve() and clip.utterances == ()
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_manifest()


def test_librivox_clips() -> None:
    clips = librivox_clips()
    if not datasets.LIBRIVOX_DIR.is_dir():
        assert clips == []
        pytest.skip(
            "pocketsphinx-testdata is not installed (apt-get install pocketsphinx-testdata)"
        )
    assert len(clips) == 5
    for clip in clips:
        assert clip.path.is_file() and clip.source == "librivox" and clip.language == "en"
        assert clip.transcript and "<s>" not in clip.transcript
        assert clip.translations.get("es")
    assert clips[1].transcript == "he was not an ill disposed young man"
    assert find_clip(clips[0].path) == clips[0]


@pytest.mark.slow
def test_make_samples_is_reproducible(tmp_path: Path) -> None:
    pytest.importorskip("espeakng_loader", reason="espeakng-loader is not installed")
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_samples.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    fresh = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    committed = json.loads((data_dir() / "manifest.json").read_text(encoding="utf-8"))
    assert [e["id"] for e in fresh] == [e["id"] for e in committed]
    for new, old in zip(fresh, committed, strict=True):
        digest = hashlib.sha256((tmp_path / new["file"]).read_bytes()).hexdigest()
        assert digest == new["sha256"] == old["sha256"], new["id"]
        assert new["utterances"] == old["utterances"]
