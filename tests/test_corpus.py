"""Corpus readers, each on a small corpus in its layout written here from the sample clips in
data/ (real audio, real files): CoVoST 2 / Common Voice (MP3 clips when libsndfile writes
MP3), FLEURS, CVSS-C, CSV and JSONL manifests; and their errors for missing columns/files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2st_kit.datasets import load_manifest
from s2st_kit.evaluation import CorpusError, read_corpus
from s2st_kit.evaluation.runner import read_span

EN = [c for c in load_manifest() if c.language == "en"]
MP3 = "MP3" in sf.available_formats()


def _copy(src: Path, dst: Path) -> Path:
    """Write ``src``'s audio to ``dst`` (format from the suffix: .wav or .mp3)."""
    data, rate = sf.read(src, dtype="float32")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.suffix == ".mp3":
        sf.write(dst, data, rate, format="MP3", subtype="MPEG_LAYER_III")
    else:
        sf.write(dst, data, rate, subtype="PCM_16")
    return dst


def _tsv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\").writerows(rows)


def _common_voice(root: Path, suffix: str) -> Path:
    """A Common Voice 'en' folder: clips/, test.tsv and CoVoST 2's en→es TSV."""
    names = [f"common_voice_en_{i}{suffix}" for i in range(len(EN))]
    for name, clip in zip(names, EN, strict=True):
        _copy(clip.path, root / "clips" / name)
    _tsv(root / "test.tsv", [["client_id", "path", "sentence"]]
         + [["c1", n, c.transcript] for n, c in zip(names, EN, strict=True)])  # fmt: skip
    _tsv(root / "covost_v2.en_es.test.tsv", [["path", "sentence", "translation", "client_id"]]
         + [[n, c.transcript, c.translations["es"], "c1"] for n, c in zip(names, EN, strict=True)])  # fmt: skip
    return root


@pytest.mark.skipif(not MP3, reason="this libsndfile cannot write MP3 (needs libsndfile >= 1.1)")
def test_covost2_reads_mp3_clips_with_translations(tmp_path):
    root = _common_voice(tmp_path / "en", ".mp3")
    utts = read_corpus(root, layout="covost2", source_lang="en", target_lang="es")
    assert [u.id for u in utts] == [f"common_voice_en_{i}" for i in range(len(EN))]
    assert utts[0].source_text == EN[0].transcript
    assert utts[0].target_text == EN[0].translations["es"]
    samples, rate = read_span(utts[0])  # libsndfile decodes the MP3
    assert abs(len(samples) / rate - sf.info(EN[0].path).duration) < 0.1
    assert np.abs(samples).max() > 0.05


def test_common_voice_without_covost_tsv_has_no_target_text(tmp_path):
    root = _common_voice(tmp_path / "en", ".wav")
    (root / "covost_v2.en_es.test.tsv").unlink()
    utts = read_corpus(root, layout="covost2", target_lang="es", limit=2)
    assert len(utts) == 2 and utts[1].source_text == EN[1].transcript
    assert all(u.target_text is None for u in utts)


def test_fleurs_pairs_target_text_by_id(tmp_path):
    src, tgt = tmp_path / "en_us", tmp_path / "es_419"
    rows_en, rows_es = [], []
    for i, clip in enumerate(EN):
        name = f"{1000 + i}.wav"
        _copy(clip.path, src / "audio" / "test" / name)
        n = str(sf.info(clip.path).frames)
        rows_en.append([str(i), name, clip.transcript, clip.transcript.lower(), "x", n, "MALE"])
        rows_es.append([str(i), f"9{i}.wav", clip.translations["es"], "y", "z", n, "FEMALE"])
    _tsv(src / "test.tsv", rows_en)
    _tsv(tgt / "test.tsv", rows_es[::-1])  # another order: paired by id, not by line
    utts = read_corpus(tmp_path, layout="fleurs", source_lang="en", target_lang="es")
    assert [u.target_text for u in utts] == [c.translations["es"] for c in EN]
    assert utts[0].audio == src / "audio" / "test" / "1000.wav"


def test_cvss_has_source_and_target_speech(tmp_path):
    cv = _common_voice(tmp_path / "cv" / "en", ".wav")
    cvss = tmp_path / "cvss_c_en"
    names = [f"common_voice_en_{i}.wav" for i in range(len(EN))]
    _tsv(cvss / "test.tsv", [[n, c.translations["es"]] for n, c in zip(names, EN, strict=True)])
    es = next(c for c in load_manifest() if c.language == "es")
    for n in names:
        _copy(es.path, cvss / "test" / f"{n}.wav")
    utts = read_corpus(cvss, layout="cvss", source_audio=cv / "clips")
    assert utts[2].source_text == EN[2].transcript  # from Common Voice's TSV beside clips/
    assert utts[2].target_text == EN[2].translations["es"]
    assert utts[2].target_audio == cvss / "test" / f"{names[2]}.wav"
    with pytest.raises(CorpusError, match="--source-audio"):
        read_corpus(cvss, layout="cvss")


def _manifest_rows() -> list[dict[str, object]]:
    clip = EN[0]
    return [
        {"id": f"{clip.id}-{i}", "audio": str(clip.path), "offset": u.start_s,
         "duration": u.end_s - u.start_s, "source_text": u.text,
         "target_text": u.translations["es"]}
        for i, u in enumerate(clip.utterances)
    ]  # fmt: skip


def test_jsonl_and_csv_manifests_with_offsets(tmp_path):
    rows = _manifest_rows()
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with (tmp_path / "m.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    a = read_corpus(jsonl, layout="manifest")
    b = read_corpus(tmp_path / "m.csv", layout="manifest")
    assert a == b and len(a) == 3
    samples, rate = read_span(a[1])
    u = EN[0].utterances[1]
    assert len(samples) == round((u.end_s - u.start_s) * rate)


def test_missing_columns_are_named(tmp_path):
    root = tmp_path / "en"
    _tsv(root / "covost_v2.en_es.test.tsv", [["path", "translation"], ["a.mp3", "hola"]])
    with pytest.raises(CorpusError, match=r"lacks column\(s\) \['sentence'\]"):
        read_corpus(root, layout="covost2")
    bad = tmp_path / "m.jsonl"
    bad.write_text(json.dumps({"sentence": "hi"}) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="lacks the audio column"):
        read_corpus(bad, layout="manifest")


def test_missing_files_list_the_first_few_and_the_count(tmp_path):
    rows = [{"audio": f"gone_{i}.wav", "source_text": "x"} for i in range(8)]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(CorpusError) as err:
        read_corpus(path, layout="manifest")
    message = str(err.value)
    assert "8 audio file(s)" in message and "gone_4.wav" in message
    assert "gone_5.wav" not in message and "and 3 more" in message


def test_duplicate_ids_and_unknown_layout_are_refused(tmp_path):
    rows = [{"id": "a", "audio": str(EN[0].path)}, {"id": "a", "audio": str(EN[1].path)}]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(CorpusError, match="unique"):
        read_corpus(path, layout="manifest")
    with pytest.raises(Exception, match="unknown corpus layout"):
        read_corpus(path, layout="librispeech")  # type: ignore[arg-type]
