"""``s2st run --to a,b,c --out-dir`` (fan-out) and ``s2st converse`` (two parties)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from s2st_kit.audio.file import read_audio
from s2st_kit.cli import main

DATA = Path(__file__).parent.parent / "data"


def wav_s(path: Path) -> float:
    info = sf.info(str(path))
    return info.frames / info.samplerate


def test_run_fans_out_to_one_wav_per_target_and_one_log(tmp_path, capsys):
    out = tmp_path / "talk"
    rc = main(
        ["run", str(DATA / "en_home.wav"), "--engines", "simulated", "--to", "es,fr,de",
         "--out-dir", str(out), "--no-realtime"]
    )  # fmt: skip
    assert rc == 0
    df = pd.read_parquet(out / "segments.parquet")
    assert len(df) == 3 * 3 and set(df.listener) == {"es", "fr", "de"}
    assert (df.status == "ok").all()
    assert df.groupby("segment_id").transcript.nunique().eq(1).all()
    jsonl = (out / "segments.jsonl").read_text().strip().splitlines()
    assert len(jsonl) == len(df)
    for target in ("es", "fr", "de"):
        rows = df[df.listener == target]
        assert wav_s(out / f"{target}.wav") == pytest.approx(rows.tts_audio_s.sum(), abs=0.05)
    # the manifest's references: each listener hears its own language
    fr = df[df.listener == "fr"].sort_values("segment_id")
    assert fr.translation.iloc[0] == "La maison est très grande."
    text = capsys.readouterr().out
    assert "── fr ──" in text and "fr.wav" in text
    # the words table beside the log: every listener's translated words, once per run
    words = pd.read_parquet(out / "segments.words.parquet")
    assert set(words[words.side == "target"].listener) == {"es", "fr", "de"}
    assert main(["run", str(DATA / "en_home.wav"), "--engines", "simulated", "--to", "es,fr,de",
                 "--out-dir", str(out), "--no-realtime"]) == 0  # fmt: skip
    again = (out / "segments.words.jsonl").read_text().strip().splitlines()
    assert len(again) == len(words)  # the second run started the JSONL afresh


def test_run_offline_fans_out_to_apertium_pairs(tmp_path):
    pytest.importorskip("pocketsphinx")
    out = tmp_path / "offline"
    rc = main(["run", str(DATA / "en_home.wav"), "--to", "es,ca,eo", "--out-dir", str(out),
               "--no-realtime"])  # fmt: skip
    assert rc == 0
    df = pd.read_parquet(out / "segments.parquet")
    assert sorted(df.listener.unique()) == ["ca", "eo", "es"]
    assert set(df.mt_engine) == {"apertium"} and (df.status == "ok").all()
    for target in ("es", "ca", "eo"):
        assert wav_s(out / f"{target}.wav") > 1.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--to", "es,es"], "distinct"),
        (["--to", "es,fr", "--out", "x.wav"], "--out-dir"),
        (["--to", "es,fr", "--voice", "sim-es-1"], "one voice"),
        (["--to", "es,xx"], "xx"),
    ],
)
def test_run_fanout_refusals(tmp_path, capsys, extra, message):
    args = ["run", str(DATA / "en_home.wav"), "--engines", "simulated", "--no-realtime"]
    assert main([*args, *extra, "--out-dir", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "es.wav").exists()


def test_converse_two_files(tmp_path, capsys):
    out = tmp_path / "call"
    rc = main(
        ["converse", str(DATA / "en_help.wav"), str(DATA / "es_casa.wav"), "--a", "en",
         "--b", "es", "--engines", "simulated", "--out-dir", str(out), "--no-realtime"]
    )  # fmt: skip
    assert rc == 0
    df = pd.read_parquet(out / "segments.parquet")
    a, b = df[df.party == "a"], df[df.party == "b"]
    assert len(a) and len(b) and (df.status == "ok").all()
    assert set(a.target_lang) == {"es"} and set(b.target_lang) == {"en"}
    assert set(a.listener) == {"b"} and set(b.listener) == {"a"}
    assert wav_s(out / "a_hears.wav") == pytest.approx(b.tts_audio_s.sum(), abs=0.05)
    assert wav_s(out / "b_hears.wav") == pytest.approx(a.tts_audio_s.sum(), abs=0.05)
    text = capsys.readouterr().out
    assert "A hears:" in text and "latency by direction" in text
    # one words table for both directions: who spoke (party) and what each side heard
    words = pd.read_parquet(out / "segments.words.parquet")
    assert set(words.party) == {"a", "b"}
    for party, rows in ((a, "a"), (b, "b")):
        mine = words[(words.party == rows) & (words.side == "target")]
        assert len(mine) == sum(len(t.split()) for t in party.translation)


def test_converse_refuses_offline_spanish_recognition_with_the_way_out(tmp_path, capsys):
    pytest.importorskip("pocketsphinx")
    rc = main(
        ["converse", str(DATA / "en_help.wav"), str(DATA / "es_casa.wav"), "--a", "en",
         "--b", "es", "--out-dir", str(tmp_path / "c")]
    )  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert "English only" in err and "--asr-b simulated" in err


def test_converse_stereo_call_split_by_channel(tmp_path):
    en, rate = read_audio(DATA / "en_help.wav", sample_rate=16000)
    es, _ = read_audio(DATA / "es_casa.wav", sample_rate=16000)
    n = len(en) + len(es) + rate
    left, right = np.zeros(n, np.float32), np.zeros(n, np.float32)
    left[: len(en)] = en  # A speaks first, then B answers
    right[len(en) + rate // 2 : len(en) + rate // 2 + len(es)] = es
    call = tmp_path / "call.wav"
    sf.write(str(call), np.stack([left, right], axis=1), rate, subtype="PCM_16")
    out = tmp_path / "out"
    rc = main(["converse", "--stereo", str(call), "--a", "en", "--b", "es", "--engines",
               "simulated", "--out-dir", str(out), "--no-realtime"])  # fmt: skip
    assert rc == 0
    df = pd.read_parquet(out / "segments.parquet")
    a, b = df[df.party == "a"], df[df.party == "b"]
    assert len(a) and len(b)
    # each side's speech was heard on its own channel only
    assert a.audio_end_s.max() <= len(en) / rate + 0.2
    assert b.audio_start_s.min() >= len(en) / rate + 0.3
