"""``s2st eval`` and ``evaluation.evaluate`` end to end on a small manifest corpus cut from the
sample clips in data/ (one sentence per utterance, by offset and duration): paced and
unpaced runs, the results folder, resume after a killed run, and local vs Dask (a
LocalCluster of 2 worker processes) giving identical results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from s2st_kit.cli import main
from s2st_kit.datasets import load_manifest
from s2st_kit.evaluation import EvalSettings, evaluate, read_corpus

ROOT = Path(__file__).resolve().parent.parent


def write_manifest(path: Path, *, limit: int | None = None) -> Path:
    """One JSONL entry per sentence of the English sample clips (0.3 s margin each side)."""
    rows = []
    for clip in load_manifest():
        if clip.language != "en":
            continue
        for i, u in enumerate(clip.utterances):
            rows.append({
                "id": f"{clip.id}-{i}", "audio": str(clip.path),
                "offset": max(0.0, u.start_s - 0.3), "duration": u.end_s - u.start_s + 0.6,
                "source_text": u.text, "target_text": u.translations["es"],
            })  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in rows[:limit]) + "\n", encoding="utf-8")
    return path


def _eval_args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", str(corpus), "--layout", "manifest", "--engines", "simulated",
            "--preset", "instant", "--to", "es", "--out", str(out), "--no-progress", *extra]  # fmt: skip


def test_cli_paced_run_writes_results_and_prints_the_corpus_table(tmp_path, capsys):
    corpus = write_manifest(tmp_path / "m.jsonl", limit=3)
    out = tmp_path / "out"
    assert main(_eval_args(corpus, out, "--concurrency", "3")) == 0
    text = capsys.readouterr().out
    assert "BLEU signature: nrefs:1|case:mixed|eff:no|tok:13a" in text
    assert "chrF signature:" in text and "ASR-BLEU: no offline recognizer for 'es'" in text
    assert "NOT MEANINGFUL" not in text
    rows = pd.read_parquet(out / "utterances")
    segments = pd.read_parquet(out / "segments")
    assert sorted(rows["utterance_id"]) == ["en_home-0", "en_home-1", "en_home-2"]
    assert rows["latency_valid"].all() and rows["error"].isna().all()
    assert (
        rows["bleu"].round(6) == 100
    ).all()  # simulated engines return the reference translation
    # paced: the first output comes after the speech it translates, within the utterance
    assert (rows["StartOffset"] > 0.5).all() and (
        rows["StartOffset"] < rows["duration_s"] + 2
    ).all()
    assert set(segments["utterance_id"]) == set(rows["utterance_id"])
    assert (out / "latency_quality.png").stat().st_size > 10_000
    assert json.loads((out / "eval.json").read_text())["pace"] == "realtime"


def test_cli_unpaced_run_flags_latency_not_meaningful(tmp_path, capsys):
    corpus = write_manifest(tmp_path / "m.jsonl", limit=2)
    assert main(_eval_args(corpus, tmp_path / "out", "--pace", "none")) == 0
    assert "latency: NOT MEANINGFUL" in capsys.readouterr().out
    rows = pd.read_parquet(tmp_path / "out" / "utterances")
    assert not rows["latency_valid"].any()


def test_cli_refuses_bad_input_before_running(tmp_path, capsys):
    corpus = tmp_path / "m.jsonl"
    corpus.write_text(json.dumps({"audio": "nowhere.wav"}) + "\n", encoding="utf-8")
    assert main(_eval_args(corpus, tmp_path / "out")) == 2
    assert "missing: " in capsys.readouterr().err
    good = write_manifest(tmp_path / "g.jsonl", limit=1)
    assert main(_eval_args(good, tmp_path / "o2", "--pace", "none")) == 0
    capsys.readouterr()
    assert main(_eval_args(good, tmp_path / "o2", "--chunk-ms", "200")) == 2  # other settings
    assert "holds results of other settings" in capsys.readouterr().err


def _count(folder: Path) -> int:
    return len(list(folder.glob("*.parquet"))) if folder.exists() else 0


def test_resume_after_a_killed_run(tmp_path, capsys):
    """Kill a paced run (SIGKILL) after it saved two utterances; the re-run runs only the rest."""
    corpus = write_manifest(tmp_path / "m.jsonl", limit=5)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "s2st_kit.cli", *_eval_args(corpus, out, "--concurrency", "1")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while _count(out / "utterances") < 2 and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
    before = pd.read_parquet(out / "utterances")
    finished = len(before)
    assert 2 <= finished < 5
    assert main(_eval_args(corpus, out)) == 0
    assert f"ran {5 - finished}, already finished {finished}" in capsys.readouterr().out
    after = pd.read_parquet(out / "utterances")
    assert sorted(after["utterance_id"]) == sorted(set(after["utterance_id"])) and len(after) == 5
    kept = after.set_index("utterance_id").loc[before["utterance_id"], "finished_at"]
    assert list(kept) == list(before["finished_at"])  # not run again


CONTENT = ["utterance_id", "transcript", "translation", "wer", "bleu", "chrf", "segments"]


@pytest.mark.slow
@pytest.mark.parametrize("engines", [pytest.param("offline", marks=pytest.mark.offline),
                                     "simulated"])  # fmt: skip
async def test_local_and_dask_give_identical_results(tmp_path, engines):
    """Unpaced, offline engines (pocketsphinx + Apertium + eSpeak NG) or simulated ones: the
    same transcripts, translations and scores on this process and on 2 Dask worker
    processes; each worker built its engines once (one pool per worker for all its
    utterances)."""
    pytest.importorskip("distributed")
    corpus = read_corpus(write_manifest(tmp_path / "m.jsonl", limit=6), layout="manifest")
    settings = EvalSettings(engines=engines, pace="none", preset="instant")
    local = await evaluate(corpus, settings=settings, out=tmp_path / "local", concurrency=2,
                           progress=False)  # fmt: skip
    links: list[str] = []
    dask = await evaluate(corpus, settings=settings, out=tmp_path / "dask", concurrency=2,
                          executor="dask", workers=2, progress=False,
                          on_dashboard=lambda c: links.append(c.dashboard_link))  # fmt: skip
    assert links and links[0].startswith("http://")
    assert len(local.utterances) == len(dask.utterances) == 6
    pd.testing.assert_frame_equal(local.utterances[CONTENT], dask.utterances[CONTENT])
    assert local.utterances["transcript"].str.len().gt(0).all()
    pools = dask.utterances["engine_pool"]
    assert 1 <= pools.nunique() <= 2 < len(pools)
    assert local.summary.bleu == dask.summary.bleu


async def test_experiments_evaluate_from_python_in_memory(tmp_path):
    """The Python entry point: a manifest path and layout, results kept in memory."""
    from s2st_kit import experiments

    corpus = write_manifest(tmp_path / "m.jsonl", limit=2)
    result = await experiments.evaluate(corpus, layout="manifest", preset="instant",
                                        pace="none", out=None, progress=False)  # fmt: skip
    assert result.out is None and result.plot is None and result.ran == 2
    assert list(result.utterances["utterance_id"]) == ["en_home-0", "en_home-1"]
    assert set(result.segments["utterance_id"]) == {"en_home-0", "en_home-1"}
    assert result.summary.utterances == 2 and not result.summary.latency_valid
    assert result.summary.table().loc["BLEU", "value"] == pytest.approx(100)


@pytest.mark.offline
async def test_asr_bleu_for_an_english_target(tmp_path):
    """es → en: the synthesised English is re-recognised by pocketsphinx for ASR-BLEU (the
    simulated synthesizer's speech-like tones: the score is low, the plumbing is real)."""
    es = next(c for c in load_manifest() if c.language == "es")
    rows = [{"id": f"{es.id}-{i}", "audio": str(es.path), "offset": max(0.0, u.start_s - 0.3),
             "duration": u.end_s - u.start_s + 0.6, "source_text": u.text,
             "target_text": u.translations["en"]} for i, u in enumerate(es.utterances[:2])]  # fmt: skip
    path = tmp_path / "es.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    settings = EvalSettings(source_lang="es", target_lang="en", pace="none", preset="instant")
    result = await evaluate(read_corpus(path, layout="manifest"), settings=settings, out=None,
                            progress=False)  # fmt: skip
    assert result.utterances["asr_transcript"].notna().all()
    assert "pocketsphinx on the synthesised speech, 2 utterances" in result.summary.asr_bleu_note
    assert 0 <= result.summary.asr_bleu <= 100
