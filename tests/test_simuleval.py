"""SimulEval as a second scorer: the real ``simuleval`` command (PyPI, 1.1.4) drives the cascade
through :class:`S2STAgent` on two recorded sentences-triples, and scores s2st_kit's own
export of the same run's session logs.

What this shows (and the module docstring of ``simuleval_agent`` states):

* the export is scored by SimulEval exactly as s2st_kit scores the logs (AL, LAAL, AP, DAL of
  the text; StartOffset, EndOffset, ATD of the speech; AL_CA, LAAL_CA), to SimulEval's
  rounding;
* on the live run SimulEval's delays are "source read when the translation was returned":
  never before s2st_kit's commit time, at most one source segment after s2st_kit's
  translation time — so SimulEval's AL sits between s2st_kit's AL and AL_CA + a segment;
* SimulEval's computation-aware ``elapsed`` adds wall time to source read, so for a
  real-time agent it counts stream time twice (elapsed ≥ 2 × delay): its _CA scores are
  not meaningful for a live system; and with ``--computation-aware`` SimulEval 1.1.4 makes
  its plain scorers computation-aware too (AL == AL_CA).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from statistics import mean

import pandas as pd
import pytest
import soundfile as sf

from s2st_kit.datasets import load_manifest
from s2st_kit.metrics import average_lagging, average_token_delay, session_metrics

pytest.importorskip("simuleval", reason="pip install --no-deps simuleval==1.1.4 textgrid")
SIMULEVAL = Path(sys.executable).with_name("simuleval")
SEGMENT_MS = 320
pytestmark = [pytest.mark.offline, pytest.mark.slow]


def _simuleval(*args: str, cwd: Path) -> str:
    exe = str(SIMULEVAL) if SIMULEVAL.exists() else shutil.which("simuleval")
    assert exe, "the simuleval command is not installed"
    done = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _table(stdout: str) -> dict[str, float]:
    """The score table ``simuleval --score-only`` prints (one row)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    frame = pd.read_csv(io.StringIO("\n".join(lines[-2:])), sep=r"\s+")
    return {k: float(v) for k, v in frame.iloc[0].items()}


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    """``simuleval --agent-class S2STAgent`` on two English clips (offline engines, en → es)."""
    tmp = tmp_path_factory.mktemp("simuleval")
    clips = [c for c in load_manifest() if c.id in ("en_home", "en_help")]
    (tmp / "source.txt").write_text("".join(f"{c.path}\n" for c in clips), encoding="utf-8")
    (tmp / "target.txt").write_text("".join(c.translations["es"] + "\n" for c in clips),
                                    encoding="utf-8")  # fmt: skip
    _simuleval(
        "--agent-class", "s2st_kit.evaluation.simuleval_agent.S2STAgent",
        "--source", "source.txt", "--target", "target.txt", "--output", "live",
        "--source-segment-size", str(SEGMENT_MS), "--no-progress-bar",
        "--s2st-engines", "offline", "--s2st-to", "es", "--s2st-log-dir", "live/s2st",
        cwd=tmp,
    )  # fmt: skip
    lines = (tmp / "live" / "instances.log").read_text(encoding="utf-8").splitlines()
    instances = [json.loads(line) for line in lines]
    logs = [pd.read_parquet(tmp / "live" / "s2st" / f"instance-{i}.parquet") for i in range(2)]
    return tmp, clips, instances, logs


def _ours(clips, logs) -> list[dict[str, float]]:
    return [
        session_metrics(log, source_duration_s=sf.info(c.path).duration,
                        reference=c.translations["es"])
        for c, log in zip(clips, logs, strict=True)
    ]  # fmt: skip


def test_live_agent_run_is_scored_consistently(live_run, artifacts):
    _, clips, instances, logs = live_run
    assert [i["index"] for i in instances] == [0, 1]
    ours = _ours(clips, logs)
    figures = []
    for ins, log, mine in zip(instances, logs, ours, strict=True):
        ok = log[log["status"] == "ok"].sort_values("segment_id")
        assert ins["prediction"].split() == " ".join(ok["translation"]).split()
        delays, src = ins["delays"], ins["source_length"]
        assert delays == sorted(delays) and max(delays) <= src
        # SimulEval's AL is the formula on the delays it recorded (s2st_kit's formula)
        simul_al = average_lagging(delays, src, len(ins["reference"].split(" "))) / 1000
        # returned after commit (s2st AL), at most a segment after translation (AL_CA)
        assert mine["AL"] - 0.1 <= simul_al <= mine["AL_CA"] + SEGMENT_MS / 1000 + 0.5
        # computation-aware elapsed = delay + wall time since the start: twice stream time
        assert all(e >= 2 * d - 5 for e, d in zip(ins["elapsed"], delays, strict=True))
        figures.append({"simuleval_AL_s": simul_al, "s2st_AL_s": mine["AL"],
                        "s2st_AL_CA_s": mine["AL_CA"]})  # fmt: skip
    (artifacts / "simuleval_crosscheck.json").write_text(json.dumps(figures, indent=1))


def _export(tmp, clips, logs, output: str) -> Path:
    from s2st_kit.evaluation.simuleval_agent import instance_record, write_instances_log

    records = [
        instance_record(log, index=i, source_duration_s=sf.info(c.path).duration,
                        reference=c.translations["es"], output=output, source=str(c.path))  # type: ignore[arg-type]
        for i, (c, log) in enumerate(zip(clips, logs, strict=True))
    ]  # fmt: skip
    folder = tmp / f"export-{output}"
    write_instances_log(records, folder, output=output)  # type: ignore[arg-type]
    return folder


def test_exported_text_log_scores_as_s2st_kit_does(live_run):
    tmp, clips, _, logs = live_run
    folder = _export(tmp, clips, logs, "text")
    ours = _ours(clips, logs)
    plain = _table(_simuleval("--score-only", "--output", str(folder), cwd=tmp))
    for name in ("AL", "LAAL", "AP", "DAL"):
        scale = 1 if name == "AP" else 1000
        assert plain[name] == pytest.approx(mean(m[name] for m in ours) * scale, abs=2e-3)
    aware = _table(_simuleval("--score-only", "--output", str(folder), "--computation-aware",
                              "--latency-metrics", "AL", "LAAL", cwd=tmp))  # fmt: skip
    for name in ("AL", "LAAL"):
        expected = mean(m[f"{name}_CA"] for m in ours) * 1000
        assert aware[f"{name}_CA"] == pytest.approx(expected, abs=2e-3)
        assert aware[name] == aware[f"{name}_CA"]  # SimulEval 1.1.4: the flag changes both


def test_exported_speech_log_scores_as_s2st_kit_does(live_run):
    """StartOffset / EndOffset agree. ATD does not: scoring a log (``--score-only``),
    SimulEval 1.1.4 treats every LogInstance as text output (target tokens of length 0,
    one per speech chunk) and ignores the durations that its live SpeechOutputInstance
    path (and s2st_kit's speech ATD) cut into 300 ms tokens."""
    tmp, clips, _, logs = live_run
    folder = _export(tmp, clips, logs, "speech")
    ours = _ours(clips, logs)
    table = _table(_simuleval("--score-only", "--output", str(folder), "--latency-metrics",
                              "StartOffset", "EndOffset", "ATD", cwd=tmp))  # fmt: skip
    for name in ("StartOffset", "EndOffset"):
        assert table[name] == pytest.approx(mean(m[name] for m in ours) * 1000, abs=2e-3)
    records = [json.loads(line) for line in (folder / "instances.log").read_text().splitlines()]
    as_text = mean(average_token_delay([d / 1000 for d in r["delays"]]) for r in records)
    assert table["ATD"] == pytest.approx(as_text * 1000, abs=2e-3)
    assert table["ATD"] != pytest.approx(mean(m["ATD"] for m in ours) * 1000, abs=1.0)
