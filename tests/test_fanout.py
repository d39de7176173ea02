"""Fan-out: one recognizer stream feeds one branch per listener (translator, synthesizer, sink)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from conftest import SCRIPT, make_engines, speechlike

from s2st_kit import (
    ConfigError,
    Listener,
    MemorySink,
    MemorySource,
    Pipeline,
    PipelineConfig,
    UnsupportedLanguageError,
    UnsupportedVoiceError,
)
from s2st_kit.engines.simulated import Faults, SimulatedSynthesizer, SimulatedTranslator
from s2st_kit.events import SegmentLogged

TARGETS = ["es", "fr", "de", "it"]


def source(duration_s: float = 10.0) -> MemorySource:
    spans = [(a, b) for _, a, b in SCRIPT]
    return MemorySource(speechlike(duration_s, 16000, spans), 16000, realtime=False)


def check_branch(rows) -> None:
    """Speech order and no overlapping playback within one listener's rows."""
    assert list(rows.segment_id) == list(range(len(rows)))
    ok = rows[rows.status == "ok"]
    starts, ends = ok.t_play_start.to_numpy(), ok.t_play_end.to_numpy()
    assert (ends >= starts).all()
    assert (starts[1:] >= ends[:-1]).all(), "a listener's playback overlaps"


async def test_rows_are_targets_times_segments_from_one_recognizer_stream(no_leaks):
    engines = make_engines()
    sinks = {t: MemorySink() for t in TARGETS}
    listeners = [Listener(t, sink=sinks[t]) for t in TARGETS]
    pipe = Pipeline(engines, PipelineConfig(), source=source(), listeners=listeners)
    df = (await pipe.run()).to_pandas()

    assert engines.recognizer.streams_started == 1  # one stream, whatever N is
    assert len(df) == len(TARGETS) * len(SCRIPT)
    assert (df.status == "ok").all()
    assert sorted(df.listener.unique()) == sorted(TARGETS)
    for _sid, rows in df.groupby("segment_id"):
        assert rows.transcript.nunique() == 1, "one transcript per segment across listeners"
        assert sorted(rows.target_lang) == sorted(TARGETS)
    for target, rows in df.groupby("listener"):
        rows = rows.sort_values("segment_id")
        check_branch(rows)
        assert set(rows.target_lang) == {target}
        assert list(rows.translation) == [f"[{target}] {s[0]}" for s in SCRIPT]
        assert set(rows.voice) == {f"sim-{target}-1"}
        # each sink got exactly its own branch's speech
        assert sinks[target].duration_s == pytest.approx(rows.tts_audio_s.sum(), rel=1e-3)
    assert pipe.voices == {t: f"sim-{t}-1" for t in TARGETS}


async def test_one_listener_is_the_classic_session():
    sink = MemorySink()
    df = (await Pipeline(make_engines(), source=source(), sink=sink).run()).to_pandas()
    assert len(df) == len(SCRIPT) and set(df.listener) == {"es"}
    assert df.party.isna().all()


async def test_a_failing_translator_marks_only_its_own_rows(no_leaks):
    broken = SimulatedTranslator(faults=Faults(timeout_rate=1.0))
    listeners = [
        Listener("es", sink=MemorySink()),
        Listener("fr", sink=MemorySink(), translator=broken),
        Listener("de", sink=MemorySink()),
    ]
    config = PipelineConfig(stage_retries=0)
    pipe = Pipeline(make_engines(), config, source=source(), listeners=listeners)
    df = (await pipe.run()).to_pandas()

    fr = df[df.listener == "fr"]
    assert len(fr) == len(SCRIPT) and (fr.status == "error").all()
    assert fr.error.str.startswith("mt:").all()
    assert fr.mt_engine.eq("simulated-mt").all() and fr.t_play_start.isna().all()
    others = df[df.listener != "fr"]
    assert len(others) == 2 * len(SCRIPT) and (others.status == "ok").all()
    assert pipe.stats.errors == len(SCRIPT)


class GatedSynthesizer(SimulatedSynthesizer):
    """A synthesizer that waits for ``gate`` before each synthesis (a stalled service)."""

    def __init__(self, gate: asyncio.Event) -> None:
        super().__init__()
        self.gate = gate

    async def _synth(self, text, voice, speed):  # type: ignore[no-untyped-def]
        await self.gate.wait()
        async for chunk in super()._synth(text, voice, speed):
            yield chunk


async def test_a_stalled_branch_does_not_hold_back_the_others(no_leaks):
    """The French synthesizer stalls until Spanish has played every segment: with a shared
    queue or a blocking fan-out this deadlocks; here Spanish finishes and French, whose
    one-segment queue overflows meanwhile, loses its oldest waiting segment (dropped)."""
    gate = asyncio.Event()
    listeners = [  # the stalled one first: a blocking fan-out would never reach Spanish
        Listener("fr", sink=MemorySink(), synthesizer=GatedSynthesizer(gate)),
        Listener("es", sink=MemorySink()),
    ]
    config = PipelineConfig(segment_queue_size=1, max_inflight=1)
    pipe = Pipeline(make_engines(), config, source=source(), listeners=listeners)
    es_logged: list[int] = []

    def on_event(ev):
        if isinstance(ev, SegmentLogged) and ev.row["listener"] == "es":
            es_logged.append(ev.segment_id)
            if len(es_logged) == len(SCRIPT):
                gate.set()

    pipe.subscribe(on_event)
    async with asyncio.timeout(30):
        df = (await pipe.run()).to_pandas()

    es, fr = df[df.listener == "es"], df[df.listener == "fr"]
    assert es_logged == [0, 1, 2] and (es.status == "ok").all()
    assert list(fr.status) == ["ok", "dropped", "ok"]
    assert "'fr' listener's segment queue full" in fr.error.iloc[1]
    assert pipe.stats.dropped_segments == 1
    check_branch(fr.sort_values("segment_id"))


async def test_every_branch_is_validated_before_the_session_starts():
    src = source()
    listeners = [Listener("es"), Listener("xx")]
    pipe = Pipeline(make_engines(), source=src, listeners=listeners)
    with pytest.raises(UnsupportedLanguageError, match="xx"):
        await pipe.run()
    assert len(pipe.log) == 0
    bad_voice = [Listener("es"), Listener("fr", voice="sim-es-1")]
    with pytest.raises(UnsupportedVoiceError, match="sim-es-1"):
        await Pipeline(make_engines(), source=source(), listeners=bad_voice).run()


def test_listener_names_must_be_unique_and_sink_xor_listeners():
    with pytest.raises(ConfigError, match="unique"):
        Pipeline(make_engines(), source=source(), listeners=[Listener("es"), Listener("es")])
    with pytest.raises(ConfigError, match="not both"):
        Pipeline(make_engines(), source=source(), sink=MemorySink(), listeners=[Listener("es")])
    with pytest.raises(ConfigError, match="at least one"):
        Pipeline(make_engines(), source=source(), listeners=[])


async def test_two_listeners_of_one_language_with_different_voices():
    listeners = [
        Listener("es", sink=MemorySink(), voice="sim-es-1", name="es-1"),
        Listener("es", sink=MemorySink(), voice="sim-es-2", name="es-2"),
    ]
    df = (await Pipeline(make_engines(), source=source(), listeners=listeners).run()).to_pandas()
    voices = df.groupby("listener").voice.first().to_dict()
    assert voices == {"es-1": "sim-es-1", "es-2": "sim-es-2"}
    a, b = (listeners[i].sink.audio() for i in range(2))  # type: ignore[union-attr]
    assert len(a) and len(b) and not np.array_equal(a[: min(len(a), len(b))], b[: len(a)])


async def test_summaries_and_plots_by_listener_and_party():
    from s2st_kit import metrics, plots

    listeners = [Listener(t, sink=MemorySink()) for t in ("es", "fr")]
    df = (await Pipeline(make_engines(), source=source(), listeners=listeners).run()).to_pandas()
    by = metrics.summary_by(df, "listener")
    assert list(by.index) == ["es", "fr"] and by.index.name == "listener"
    assert list(by.segments) == [len(SCRIPT)] * 2 and list(by.ok) == [len(SCRIPT)] * 2
    for name in ("es", "fr"):
        e2e = df[df.listener == name].ear_to_ear_s
        assert by.loc[name, "ear_to_ear_median"] == pytest.approx(e2e.median())
    whole = metrics.summary_by(df, "party")  # no conversation: one group
    assert list(whole.index) == ["all"] and whole.segments.iloc[0] == len(df)
    fig = plots.plot_branch_timeline(df)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["speech", "listener es hears", "listener fr hears"]
    assert len(plots.plot_latency_by(df).axes) == 2
    empty = plots.plot_latency_by(df.iloc[:0])
    assert empty.axes[0].texts, "an empty log says so"
