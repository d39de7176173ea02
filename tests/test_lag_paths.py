"""How lag control makes speech faster or shorter, per engine: rate, time-stretch, brevity."""

from __future__ import annotations

import numpy as np
import pytest

from s2st_kit import MemorySink, MemorySource, PacedSink, Pipeline, PipelineConfig, SessionClock
from s2st_kit.engines import Engines
from s2st_kit.engines.protocols import SupportsRate
from s2st_kit.engines.simulated import (
    PRESETS,
    SimulatedRecognizer,
    SimulatedSynthesizer,
    SimulatedTranslator,
)
from s2st_kit.workloads import CHARS_PER_S as CPS
from s2st_kit.workloads import dense_talk, scaled_model, talk_audio
from tests.fakes.plain import PlainSynthesizer


def NoRateSynthesizer(inner: SimulatedSynthesizer) -> PlainSynthesizer:
    """A synthesizer without a rate of its own (only the base Synthesizer protocol)."""
    return PlainSynthesizer(inner, name="no-rate")


async def talk_session(synth_for, *, k=40, minutes=2.0, translator=None, max_lag_s=3.0, **config):
    talk = dense_talk(minutes)
    script, duration = talk.script, talk.duration_s
    model = scaled_model(PRESETS["cloud-like"], k)
    engines = Engines(
        SimulatedRecognizer(script, preset=model),
        translator or SimulatedTranslator(preset=model),
        synth_for(SimulatedSynthesizer(preset=model, chars_per_s=CPS)),
    )
    src = MemorySource(talk_audio(duration, talk.spans), 16000, realtime=True, speed=k)
    sink = MemorySink()
    pipe = Pipeline(engines, PipelineConfig(max_lag_s=max_lag_s, **config), source=src,
                    sink=PacedSink(sink, speed=k), clock=SessionClock(scale=k))  # fmt: skip
    return (await pipe.run()).to_pandas(), sink


async def test_a_synthesizer_without_its_own_rate_gets_the_stretch_path():
    df, sink = await talk_session(NoRateSynthesizer)
    assert not isinstance(NoRateSynthesizer(SimulatedSynthesizer()), SupportsRate)
    fast = df[(df.status == "ok") & (df.speed > 1.05)]
    assert len(fast) >= 5
    natural = (fast.translation.str.len() / CPS).clip(lower=0.3)
    # the stretched speech lasts natural / speed (±2 %), at the synthesizer's own rate
    assert np.allclose(fast.tts_audio_s, natural / fast.speed, rtol=0.02, atol=0.01)
    assert sink.sample_rate == 16000


async def test_the_engine_rate_and_the_stretch_give_the_same_durations():
    rated, _ = await talk_session(lambda s: s, minutes=1.0)
    fast = rated[(rated.status == "ok") & (rated.speed > 1.05)]
    natural = (fast.translation.str.len() / CPS).clip(lower=0.3)
    assert np.allclose(fast.tts_audio_s, natural / fast.speed, rtol=0.01, atol=0.01)


async def test_speed_above_the_engines_own_maximum_is_stretched():
    class Slow(SimulatedSynthesizer):
        max_speed = 1.1  # the engine cannot go faster than this

        def synthesize_at(self, text, *, voice, language, speed):
            raise AssertionError("asked for more than the engine's maximum")

    df, _ = await talk_session(lambda s: Slow(preset=s.model, chars_per_s=CPS), minutes=1.0,
                               max_speedup=1.5)  # fmt: skip
    assert (df[df.status == "ok"].speed > 1.1).any()


@pytest.mark.parametrize("brevity", [False, True])
async def test_brevity_when_behind_asks_the_real_translate_client_for_brief_translations(
    monkeypatch, tmp_path, brevity
):
    """Amazon Translate (real boto3 client, fake service): behind the set point, the pipeline
    asks for brevity; the fake drops articles and fillers, so the translations get shorter."""
    from s2st_kit.engines.aws.translate import AwsTranslator
    from tests.fakes import fake_aws_env
    from tests.fakes.translate_server import FakeTranslateServer

    fake_aws_env(monkeypatch, tmp_path)
    with FakeTranslateServer() as fake:
        mt = AwsTranslator(endpoint_url=fake.endpoint_url, region="us-west-2")
        df, _ = await talk_session(lambda s: s, minutes=0.5, translator=mt,
                                   brevity_when_behind=brevity, max_lag_s=0.5)  # fmt: skip
        await mt.aclose()
        calls = fake.translate_calls()
    assert len(calls) == len(df) >= 5
    asked = [c.get("Settings") == {"Brevity": "ON"} for c in calls]
    assert all(asked) if brevity else not any(asked)
    chars = df.translation.str.len().sum()
    assert chars < df.transcript.str.len().sum() * (0.95 if brevity else 2.0)
