"""Sweeps (resumable), replays and comparisons with the simulated stack."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from s2st_kit import experiments
from s2st_kit.audio.file import FileSource
from s2st_kit.config import PipelineConfig
from s2st_kit.datasets import load_manifest
from s2st_kit.errors import ConfigError
from s2st_kit.experiments import (
    ClipInput,
    compare,
    input_audio_path,
    replay,
    simulated_engines,
    sweep,
)
from s2st_kit.metrics import STAGE_COLUMNS
from s2st_kit.pipeline import Pipeline

GRID = {"chunk_ms": [100, 200], "policy": ["final", "stable"]}


def test_public_api():
    assert set(experiments.__all__) == {
        "ClipInput",
        "compare",
        "evaluate",
        "input_audio_path",
        "replay",
        "simulated_engines",
        "sweep",
    }


@pytest.fixture
def clip() -> ClipInput:
    entry = next(c for c in load_manifest() if c.id == "en_home")
    return ClipInput.of(entry)


class CountingFactory:
    """Simulated engines (instant preset) that count calls per cell and can fail one."""

    def __init__(self, fail: tuple[int, str] | None = None) -> None:
        self.calls: Counter[tuple[int, str]] = Counter()
        self.fail = fail

    async def __call__(self, config: PipelineConfig, clip: ClipInput):
        cell = (config.chunk_ms, config.policy)
        self.calls[cell] += 1
        if cell == self.fail:
            raise RuntimeError("kernel interrupted")
        return await simulated_engines(clip, preset="instant")


async def test_sweep_2x2_resumes_without_recomputing(tmp_path, clip):
    out = tmp_path / "sweep.parquet"
    first = CountingFactory(fail=(200, "stable"))
    with pytest.raises(RuntimeError, match="interrupted"):
        await sweep([clip], GRID, engines=first, out=out, concurrency=2, progress=False)
    saved = pd.read_parquet(out)
    done_first = {tuple(json.loads(k)[n] for n in ("chunk_ms", "policy")) for k in saved.cell}
    assert (200, "stable") not in done_first
    assert len(done_first) >= 2  # finished cells were saved before the failure

    second = CountingFactory()
    df = await sweep([clip], GRID, engines=second, out=out, concurrency=2, progress=False)
    all_cells = {(c, p) for c in GRID["chunk_ms"] for p in GRID["policy"]}
    assert set(second.calls) == all_cells - done_first  # only unfinished cells ran
    assert all(n == 1 for n in second.calls.values())
    assert df.cell.nunique() == 4
    assert set(zip(df.chunk_ms, df.policy, strict=True)) == all_cells
    assert (df.clip_id == "en_home").all()
    assert (df.status == "ok").all()
    assert "ear_to_ear_s" in df.columns
    pd.testing.assert_frame_equal(
        pd.read_parquet(out).sort_values(["cell", "segment_id"]).reset_index(drop=True),
        df.sort_values(["cell", "segment_id"]).reset_index(drop=True),
        check_dtype=False,
    )

    third = CountingFactory()
    again = await sweep([clip], GRID, engines=third, out=out, progress=False)
    assert not third.calls and len(again) == len(df)  # everything was finished


async def test_sweep_default_simulated_engines_and_grid_checks(tmp_path, clip):
    df = await sweep([clip], {"chunk_ms": [100], "preset": ["instant"]}, out=None, progress=False)
    assert len(df) == 3  # en_home has three utterances
    assert list(df.transcript) == [u[0] for u in clip.script]
    assert df.translation.iloc[0] == "La casa es muy grande."  # manifest reference
    assert (df.preset == "instant").all()
    with pytest.raises(ConfigError, match="unknown grid key"):
        await sweep([clip], {"chunk_size": [100]}, out=None, progress=False)
    with pytest.raises(ConfigError):
        await sweep([clip], {"chunk_ms": [5]}, out=None, progress=False)


async def test_replay_identical_config_gives_identical_transcripts(tmp_path, clip):
    log_path = tmp_path / "talk.jsonl"
    engines = await simulated_engines(clip, preset="instant")
    pipe = Pipeline(
        engines,
        PipelineConfig(chunk_ms=100),
        source=FileSource(clip.path, realtime=False),
        log_path=log_path,
        record_input=input_audio_path(log_path),
    )
    original = (await pipe.run()).to_pandas()
    await engines.aclose()
    assert input_audio_path(log_path) == tmp_path / "talk.input.wav"
    assert input_audio_path(log_path).exists()

    same = await replay(log_path, preset="instant")
    assert list(same.transcript) == list(original.transcript)
    assert list(same.translation) == list(original.translation)
    assert same.audio_end_s.to_numpy() == pytest.approx(original.audio_end_s.to_numpy(), abs=0.05)

    bigger = await replay(original, input_audio=input_audio_path(log_path),
                          config={"chunk_ms": 200}, preset="instant")  # fmt: skip
    assert (bigger.chunk_ms == 200).all()
    assert list(bigger.transcript) == list(original.transcript)

    with pytest.raises(ConfigError, match="input audio"):
        await replay(original)
    with pytest.raises(ConfigError, match="no input audio"):
        await replay(original, input_audio=tmp_path / "nope.wav")


def test_compare_table():
    a = pd.DataFrame({"status": ["ok"] * 3, "t_speech_end": [0.0, 1.0, 2.0],
                      "t_asr_final": [0.5, 1.5, 2.5], "t_play_start": [1.0, 2.0, 3.0]})  # fmt: skip
    b = a.assign(t_asr_final=a.t_asr_final + 0.25, t_play_start=a.t_play_start + 0.25)
    table = compare(a, b, labels=("base", "slow"))
    assert list(table.index) == [*STAGE_COLUMNS, "ear_to_ear_s"]
    assert table.loc["asr_lag_s", "median_delta"] == pytest.approx(0.25)
    assert table.loc["ear_to_ear_s", "median_slow"] == pytest.approx(1.25)
    assert table.loc["ear_to_ear_s", "count_base"] == 3
    with pytest.raises(ValueError):
        compare(a, b, labels=("x", "x"))


# -- the simulated engines for an input: one place (engines.simulated.engines_for_clip) ---------


async def test_engines_for_clip_sources_of_the_script(tmp_path):
    from types import MappingProxyType

    import soundfile as sf
    from conftest import speechlike

    from s2st_kit.datasets import Clip, find_clip
    from s2st_kit.engines import Engines
    from s2st_kit.engines.simulated import (
        SimulatedRecognizer,
        aengines_for_clip,
        engines_for_clip,
    )

    home = find_clip(Path(__file__).parent.parent / "data" / "en_home.wav")
    listed = engines_for_clip(home.path, preset="instant", seed=2)
    assert listed.script_source == "manifest entry 'en_home'"
    assert [u.text for u in listed.script] == [u.text for u in home.utterances]
    assert listed.references["es"]["The house is very big."] == "La casa es muy grande."
    assert listed == await aengines_for_clip(str(home.path), preset="instant", seed=2)

    audio = tmp_path / "talk.wav"
    sf.write(audio, speechlike(5, 16000, [(0.5, 1.8), (2.6, 4.2)]), 16000)
    detected = engines_for_clip(audio)
    assert detected.script_source == "energy-based speech detection (placeholder words)"
    assert len(detected.script) == 2 and detected.references is None

    # A clip with a reference transcript but no utterance spans (like the LibriVox clips).
    text = "one two three four five six seven"
    clip = Clip("talk", audio, "en", text, MappingProxyType({}), (), "librivox")
    spread = await aengines_for_clip(clip)
    assert spread.script_source == "'talk' reference transcript over detected speech"
    assert " ".join(u.text for u in spread.script) == text
    assert [(u.start_s, u.end_s) for u in spread.script] == [
        (u.start_s, u.end_s) for u in detected.script
    ]

    given = engines_for_clip(tmp_path / "never-read.wav", script=[("Hello there.", 0.1, 0.9)])
    assert [u.text for u in given.script] == ["Hello there."]
    assert engines_for_clip(None).script == () and engines_for_clip(None).script_source is None

    engines = Engines.create("simulated", options={"simulated": listed.options()})
    assert isinstance(engines.recognizer, SimulatedRecognizer)
    assert engines.recognizer.script == listed.script and engines.recognizer.seed == 2
    built = listed.build()
    assert built.recognizer.script == listed.script
    assert built.translator.references == listed.references


async def test_simulated_engines_for_a_clip_without_script_follow_its_audio(tmp_path):
    import soundfile as sf
    from conftest import speechlike

    audio = tmp_path / "mine.wav"
    sf.write(audio, speechlike(3, 16000, [(0.4, 1.6)]), 16000)
    engines = await simulated_engines(ClipInput.of(audio), preset="instant")
    [utterance] = engines.recognizer.script
    assert abs(utterance.start_s - 0.4) < 0.1 and abs(utterance.end_s - 1.6) < 0.1
    await engines.aclose()
