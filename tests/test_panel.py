"""The control panel without a browser: its model, its widgets' wiring, and live sessions.

Widgets work without a frontend (their comms go nowhere), so clicking ``start_button``
here runs the same code as a click in JupyterLab. Engines are the simulated ones, plus a
small fake "offline" bundle whose capabilities are known exactly.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
import types
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import ipywidgets as widgets
import pytest
from conftest import pending_tasks

import s2st_kit.notebook
from s2st_kit.audio import FileSource, MemorySink
from s2st_kit.datasets import data_dir
from s2st_kit.engines import BUNDLES, create_stage
from s2st_kit.errors import (
    ConfigError,
    DeviceError,
    EngineError,
    EngineNotInstalledError,
    UnsupportedLanguageError,
)
from s2st_kit.events import (
    AudioStarted,
    ErrorEvent,
    FinalTranscript,
    PartialTranscript,
    SegmentCommitted,
    SegmentLogged,
    TranslationReady,
)
from s2st_kit.notebook import (
    ControlPanel,
    EngineCatalog,
    FeedModel,
    InputCatalog,
    PanelModel,
    Throttle,
)
from s2st_kit.notebook.session import LiveLag
from s2st_kit.notebook.views import LatencyChart, render_chart_png, results_html, status_html
from s2st_kit.records import AudioChunk, Transcript, Translation, Voice

CLIP = str(data_dir() / "en_home.wav")


class FakeRecognizer:
    name, sample_rate = "fake-asr", 16000

    def languages(self) -> frozenset[str]:
        return frozenset({"en", "de"})

    async def aclose(self) -> None: ...


class FakeTranslator:
    """en→es, en→fr, de→en; optionally fails every call."""

    name = "fake-mt"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def pairs(self) -> frozenset[tuple[str, str]]:
        return frozenset({("en", "es"), ("en", "fr"), ("de", "en")})

    async def translate(self, text: str, *, source: str, target: str) -> Translation:
        if self.fail:
            raise EngineError("the fake translator is broken", engine=self.name)
        return Translation(
            text=text.upper(), source_text=text, source=source, target=target, engine=self.name
        )

    async def aclose(self) -> None: ...


class RefusingTranslator(FakeTranslator):
    """Lists en→es but refuses it at validation, as Apertium does without its package."""

    def check_pair(self, source: str, target: str) -> None:
        raise UnsupportedLanguageError("install apertium-eng-spa for en → es")


class LoadFailingTranslator(FakeTranslator):
    """Passes validation, then fails to load its model (the pipeline's warm-up)."""

    def load(self, pairs: Any) -> None:
        raise EngineError("the fake translation model is corrupt", engine=self.name)


class PickyTranslator(FakeTranslator):
    """Lists en→fr but refuses it at validation (its package is missing); en→es works."""

    def check_pair(self, source: str, target: str) -> None:
        if target == "fr":
            raise UnsupportedLanguageError("install apertium-eng-fra for en → fr")


class FakeSynthesizer:
    """Voices for Spanish and English only (so French is not offered as a target)."""

    name, sample_rate = "fake-tts", 16000
    VOICES: ClassVar[list[Voice]] = [Voice("es-a", "Ana", "es", "es-ES", "female"), Voice("es-b", "Bea", "es"),
              Voice("en-a", "Al", "en")]  # fmt: skip

    def voices(self, language: str | None = None) -> list[Voice]:
        return [v for v in self.VOICES if language is None or v.language == language]

    def default_voice(self, language: str) -> str:
        return self.voices(language)[-1].id

    async def synthesize(
        self, text: str, *, voice: str, language: str
    ) -> AsyncIterator[AudioChunk]:
        yield AudioChunk(b"\x00\x10" * 1600, self.sample_rate)

    async def aclose(self) -> None: ...


class CatalogueSynthesizer(FakeSynthesizer):
    """Like Polly: a remote voice catalogue (SupportsVoiceCatalogue) and an ``engine`` option;
    its voices are those of its engine, known once ``load_voices()`` has run."""

    CATALOGUE: ClassVar[list[Voice]] = [
        Voice("Lucia", "Lucia", "es", "es-ES", "female", ("standard", "neural")),
        Voice("Sergio", "Sergio", "es", "es-ES", "male", ("neural",)),
        Voice("Conchita", "Conchita", "es", "es-ES", "female", ("standard",)),
    ]

    def __init__(self, engine: str = "neural") -> None:
        self.engine = engine
        self.loads = 0

    async def load_voices(self, *, refresh: bool = False) -> list[Voice]:
        self.loads += 1
        return list(self.CATALOGUE)

    def voice_catalogue(
        self, language: str | None = None, engine: str | None = None
    ) -> list[Voice]:
        return [
            v
            for v in self.CATALOGUE
            if language in (None, v.language) and engine in (None, *v.engines)
        ]

    def voices(self, language: str | None = None) -> list[Voice]:
        if not self.loads:
            raise EngineError("the voice catalogue is not loaded", engine=self.name)
        return self.voice_catalogue(language, self.engine)

    def default_voice(self, language: str) -> str:
        return self.voices(language)[0].id


def _translator(fail_mt: bool, refuse_pair: bool, fail_load: bool, picky: bool) -> FakeTranslator:
    if picky:
        return PickyTranslator()
    if refuse_pair:
        return RefusingTranslator()
    return LoadFailingTranslator() if fail_load else FakeTranslator(fail_mt)


def factory(
    *,
    fail_mt: bool = False,
    refuse_pair: bool = False,
    cloud: bool = False,
    fail_load: bool = False,
    picky: bool = False,
):
    """Engines by name: "offline" is the fake bundle above; "aws" is not installed, or with
    ``cloud`` the fake bundle with a CatalogueSynthesizer; others are the registry's."""

    def make(stage: str, name: str, **options: Any) -> Any:
        if name == "aws" and not cloud:
            raise EngineNotInstalledError("engine 'aws' is not installed: no boto3 here")
        if name == "aws" and stage == "tts":
            return CatalogueSynthesizer(**options)
        if name in ("offline", "aws"):
            return {
                "asr": FakeRecognizer,
                "mt": lambda: _translator(fail_mt, refuse_pair, fail_load, picky),
                "tts": FakeSynthesizer,
            }[stage]()
        return create_stage(stage, name, **options)

    return make


def no_live_audio() -> InputCatalog:
    return InputCatalog(
        devices_module="s2st_kit_tests.no_devices", browser_module="s2st_kit_tests.no_browser"
    )


def catalog(**kw: Any) -> EngineCatalog:
    return EngineCatalog(factory=factory(**kw), credential_checks={},
                         options={"simulated": {"preset": "instant"}})  # fmt: skip


def make_panel(**choices: Any) -> ControlPanel:
    choices.setdefault("input_path", CLIP)
    return ControlPanel(engines=catalog(), inputs=no_live_audio(), **choices)


# --------------------------------------------------------------------------- model


def test_unavailable_engine_is_disabled_with_its_reason():
    panel = make_panel()
    aws = panel.model.available("asr", "aws")
    assert not aws.available and "no boto3 here" in aws.reason
    button = panel.engines_section.rows["asr"].buttons["aws"]
    assert button.disabled and "no boto3 here" in button.tooltip
    assert "no boto3 here" in panel.engines_section.rows["tts"].note.value
    assert not panel.engines_section.rows["asr"].buttons["simulated"].disabled


def test_credentials_problem_disables_the_cloud():
    cat = EngineCatalog(
        factory=factory(), credential_checks={"aws": lambda: "no AWS credentials found"}
    )
    assert cat.availability("mt", "aws").reason == "no AWS credentials found"


def test_languages_and_voices_follow_the_engines():
    model = PanelModel(catalog(), no_live_audio())
    model.update(asr="offline", mt="offline", tts="offline")
    o = model.options
    assert [c for _, c in o.source_langs] == ["en", "de"]
    # fr is reachable by the translator but the synthesizer has no French voice
    assert [c for _, c in o.target_langs] == ["es"]
    assert [v for _, v in o.voices] == ["es-a", "es-b"]
    assert model.selection.voice == "es-b"  # the engine's default
    model.update(source_lang="de")
    assert [c for _, c in model.options.target_langs] == ["en"]
    assert model.selection.target_lang == "en" and model.selection.voice == "en-a"
    # simulated translation and voices: many targets; choose German
    model.update(mt="simulated", tts="simulated", source_lang="en", target_lang="de")
    assert {"de", "fr", "es"} <= {c for _, c in model.options.target_langs}
    assert [v for _, v in model.options.voices] == ["sim-de-1", "sim-de-2"]
    # back to the fake bundle: German is not a target any more, the choice is corrected
    model.update(mt="offline", tts="offline")
    assert model.selection.target_lang == "es" and model.selection.voice == "es-b"


def test_an_unavailable_choice_falls_back_and_says_why():
    model = PanelModel(catalog(), no_live_audio())
    sel = model.update(asr="aws")
    assert sel.asr != "aws"
    assert any("aws is unavailable" in p for p in model.options.problems)


def test_missing_live_audio_modules_disable_microphones():
    model = PanelModel(catalog(), no_live_audio())
    inputs = {a.name: a for a in model.options.inputs}
    assert inputs["file"].available
    assert (
        not inputs["microphone"].available
        and "s2st_kit_tests.no_devices" in inputs["microphone"].reason
    )
    assert not inputs["browser"].available and "not available" in inputs["browser"].reason
    assert model.update(input_kind="microphone").input_kind == "file"
    assert not {a.name: a for a in model.options.outputs}["speaker"].available


def test_widgets_follow_the_model():
    panel = make_panel(asr="offline", mt="offline", tts="offline")
    assert [v for _, v in panel.voice_section.target_lang.options] == ["es"]
    panel.engines_section.rows["mt"].buttons["simulated"].value = True  # a click
    panel.engines_section.rows["tts"].buttons["simulated"].value = True
    assert panel.model.selection.mt == "simulated"
    assert not panel.engines_section.rows["mt"].buttons["offline"].value  # one selected at a time
    assert "fr" in [v for _, v in panel.voice_section.target_lang.options]
    panel.voice_section.target_lang.value = "fr"
    assert panel.model.selection.target_lang == "fr"
    assert [v for _, v in panel.voice_section.voice.options] == ["sim-fr-1", "sim-fr-2"]
    panel.streaming_section.chunk_ms.value = 240
    panel.streaming_section.policy.value = "local-agreement"
    cfg = panel.model.config()
    assert (cfg.chunk_ms, cfg.policy, cfg.target_lang, cfg.voice) == (
        240,
        "local-agreement",
        "fr",
        "sim-fr-1",
    )
    assert (
        panel.streaming_section.chunk_ms.min == 20 and panel.streaming_section.chunk_ms.max == 500
    )
    assert panel.input_section.row.buttons["microphone"].disabled


def test_the_path_box_is_the_input_even_with_a_typo(tmp_path):
    """Regression (issue 14, item 1): a typo in the path box was ignored; Start read the
    clip chosen before while the box showed the wrong path, and the warning went away."""
    panel = make_panel()
    assert panel.input_section.path.value == CLIP  # the box shows what Start reads
    typo = str(tmp_path / "mising.wav")
    panel.input_section.path.value = typo  # the user types
    assert panel.model.selection.input_path == typo  # exactly what the box shows
    problems = panel.controls.problems.value
    assert f"no such file: {typo} does not exist" in problems
    panel.streaming_section.chunk_ms.value = 200  # another change keeps the warning
    assert "no such file" in panel.controls.problems.value
    assert panel.input_section.path.value == typo
    other = data_dir() / "en_help.wav"
    panel.input_section.path.value = str(other)
    assert panel.model.selection.input_path == str(other)
    assert panel.input_section.clip.value == str(other)  # a listed clip: the dropdown shows it
    assert "no such file" not in panel.controls.problems.value
    panel.input_section.clip.value = CLIP  # choosing a clip puts its path in the box
    assert panel.input_section.path.value == CLIP and panel.model.selection.input_path == CLIP


def test_typing_keeps_spaces_and_the_box_shows_the_full_path(tmp_path):
    panel = make_panel()
    folder = tmp_path / "my recordings"
    folder.mkdir()
    wav = folder / "talk one.wav"
    wav.write_bytes((data_dir() / "en_home.wav").read_bytes())
    for n in range(1, len(str(wav)) + 1):  # keystroke by keystroke, spaces included
        panel.input_section.path.value = str(wav)[:n]
    assert panel.input_section.path.value == str(wav)
    assert panel.input_section.path.tooltip == str(wav)  # the full path on hover
    assert panel.input_section.path.layout.width == "100%"


async def test_start_refuses_a_missing_typed_path_and_keeps_the_last_session(tmp_path):
    """Regression (issue 14, item 2): a refused Start wiped the last session's feed, chart
    and results, the status showed stale figures, and the message for a typed path that
    does not exist read "choose a clip or type the path of an audio file"."""
    panel = make_panel(asr="simulated", mt="simulated", tts="simulated", pace=0.0)
    await panel.run()
    feed, chart, table = (panel.feed.widget.value, panel.chart.image.value,
                          panel.results.table.value)  # fmt: skip
    assert "Tomamos café" in feed and chart[:4] == b"\x89PNG" and "<tr" in table
    last = panel.pipeline
    missing = str(tmp_path / "typo.wav")
    panel.input_section.path.value = missing
    assert await panel.start() is None
    status = panel.controls.status.value
    assert f"{missing} does not exist" in status and "or type the path" not in status
    assert "failed" in status and "translated" not in status.split("last error")[0]
    assert re.search(r"\d+\.\d s", status) is None  # no session time (it never ran)
    await asyncio.sleep(0.6)  # the status ticker would have run
    assert panel.controls.status.value == status  # nothing rising
    assert (panel.feed.widget.value, panel.chart.image.value, panel.results.table.value) == (
        feed, chart, table,
    )  # fmt: skip
    assert panel.pipeline is last and len(panel.dataframe()) == 3
    assert not panel.controls.start_button.disabled
    panel.input_section.path.value = CLIP  # fixed: the last session's status line is back
    status = panel.controls.status.value
    assert "finished · end of input" in status and "3 translated · 3 played" in status
    assert "last error" not in status
    panel.input_section.path.value = ""  # an empty box: nothing to read
    assert await panel.start() is None
    assert "choose a clip or type the path" in panel.controls.status.value
    await panel.aclose()


def test_long_errors_wrap_beside_fixed_start_and_stop():
    """Regression (issue 14, item 2): a long error message squeezed Start and Stop."""
    panel = make_panel()
    for button in (panel.controls.start_button, panel.controls.stop_button):
        assert button.layout.flex == "0 0 auto" and button.layout.min_width == "84px"
    status = panel.controls.status
    assert status.layout.flex == "1 1 0%" and status.layout.min_width == "0"
    panel.runner.fail(RuntimeError("x" * 400))
    assert "overflow-wrap:anywhere" in status.value and "white-space:normal" in status.value


def test_the_clip_list_shows_the_notebooks_own_recording(tmp_path):
    """Regression (issue 14, item 6): the Clip dropdown was blank for a file of the user's."""
    own = tmp_path / "quickstart_en.wav"
    own.write_bytes((data_dir() / "en_home.wav").read_bytes())
    panel = make_panel(input_path=str(own))
    clip = panel.input_section.clip
    assert clip.value == str(own) and clip.label.startswith("quickstart_en.wav — your file")
    assert panel.input_section.path.value == str(own)
    assert [v for _, v in clip.options][:-1] == [str(c.path) for c in panel.model.clips]


def test_stability_is_disabled_for_recognizers_that_ignore_it():
    """Only Amazon Transcribe stabilises partial results (partial_results_stability)."""
    model = PanelModel(EngineCatalog(factory=factory(cloud=True), credential_checks={}),
                       no_live_audio(), None)  # fmt: skip
    panel = ControlPanel(engines=model.engines, inputs=no_live_audio(), input_path=CLIP)
    stability = panel.streaming_section.stability
    assert stability.disabled and "offline recognizer ignores it" in stability.tooltip
    panel.set(asr="simulated")
    assert stability.disabled and "simulated recognizer ignores it" in stability.tooltip
    panel.set(asr="aws")
    assert not stability.disabled and "Amazon Transcribe" in stability.tooltip


def test_nonsense_settings_get_a_visible_hint():
    """Regression (issue 14, item 4): the simulated recognizer with French as source on an
    English clip "translated" the English script to [ja] placeholders without a word."""
    panel = make_panel(asr="simulated", mt="simulated", tts="simulated")
    assert "s2st-hint" not in panel.controls.problems.value  # en clip, en source, es refs
    panel.voice_section.source_lang.value = "fr"
    hints = panel.controls.problems.value
    assert "the clip is English speech but “From” is French" in hints
    panel.set(source_lang="en", target_lang="ja")
    hints = panel.controls.problems.value
    assert "no reference translation of this clip into Japanese" in hints and "[ja]" in hints
    assert "the clip is English" not in hints
    panel.set(target_lang="es", input_path=str(data_dir() / "fr_marche.wav"))
    assert "the clip is French speech but “From” is English" in panel.controls.problems.value


async def test_the_offline_synthesizer_offers_female_spanish_voices():
    """Regression (issue 14, item 6): only two male Spanish voices were offered."""
    synth = create_stage("tts", "offline")
    try:
        spanish = {v.id: v for v in await synth.load_voices() if v.language == "es"}
        assert {"es", "es-419", "es+f3", "es-419+f1"} <= set(spanish)
        assert spanish["es+f3"].gender == "female" and spanish["es"].gender == "male"
        assert synth.default_voice("es") == "es"
    finally:
        await synth.aclose()


async def test_a_female_variant_is_accepted_by_a_session():
    from s2st_kit.engines import Engines
    from s2st_kit.pipeline.prepare import validate

    synth = create_stage("tts", "offline")
    engines = Engines(create_stage("asr", "simulated"), create_stage("mt", "simulated"), synth)
    from s2st_kit.config import PipelineConfig

    cfg = PipelineConfig(source_lang="en", target_lang="es", voice="es+f3")
    assert validate(engines, cfg) == "es+f3"
    female = b"".join(
        [c.pcm async for c in synth.synthesize("Hola.", voice="es+f3", language="es")]
    )
    male = b"".join([c.pcm async for c in synth.synthesize("Hola.", voice="es", language="es")])
    assert female and male and female != male
    await engines.aclose()


# --------------------------------------------------------------------------- sessions


async def wait_until(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_start_button_runs_a_session_and_shows_results():
    panel = make_panel(asr="simulated", mt="simulated", tts="simulated", pace=4.0)
    assert "idle" in panel.controls.status.value and panel.controls.stop_button.disabled
    panel.controls.start_button.click()
    await wait_until(lambda: panel.running)
    await wait_until(lambda: "running" in panel.controls.status.value)
    assert not panel.controls.stop_button.disabled and panel.controls.start_button.disabled
    log = await panel.wait()
    assert log is panel.log and len(log) == 3
    df = panel.dataframe()
    assert list(df.translation) == [
        "La casa es muy grande.", "Mi hermana vive en la ciudad.", "Tomamos café todas las mañanas.",
    ]  # fmt: skip
    status = panel.controls.status.value
    assert "finished · end of input" in status and "3 translated · 3 played" in status
    assert (
        "Tomamos café" in panel.feed.widget.value and "s2st-partial" not in panel.feed.widget.value
    )
    assert (
        panel.results.table.value.count("<tr") >= 4
        and "Latency by stage" in panel.results.table.value
    )
    assert panel.chart.image.value[:4] == b"\x89PNG"
    assert panel.translated_audio()[:4] == b"RIFF"
    assert panel.results.audio.value[:4] == b"RIFF"
    assert not panel.controls.start_button.disabled and panel.controls.stop_button.disabled
    await panel.aclose()
    assert not pending_tasks()


async def test_the_status_counts_translations_as_they_appear():
    """Regression (issue 14, item 5): the count stayed 0 while a translation was on screen
    (it counted rows, logged after playback)."""
    panel = make_panel(asr="simulated", mt="simulated", tts="simulated", pace=1.0)
    await panel.start()
    await wait_until(lambda: "→" in panel.feed.widget.value)  # a translation on screen
    assert "1 translated · 0 played" in panel.controls.status.value  # still playing
    await panel.wait()
    assert "3 translated · 3 played" in panel.controls.status.value
    assert "finished · end of input" in panel.controls.status.value  # not a user Stop
    await panel.aclose()


async def test_stop_button_ends_the_session_early():
    panel = make_panel(asr="simulated", mt="simulated", tts="simulated", pace=1.0)
    await panel.start()
    await wait_until(lambda: "running" in panel.controls.status.value)
    await asyncio.sleep(0.6)
    t0 = time.monotonic()
    panel.controls.stop_button.click()
    log = await panel.wait()
    assert time.monotonic() - t0 < 3.0
    assert panel.pipeline.stats.audio_s < 3.0  # the 6.3 s clip was not read to the end
    assert len(log) <= 1
    assert (
        "● stopped" in panel.controls.status.value and "finished" not in panel.controls.status.value
    )
    # a second session from the same panel
    panel.set(pace=0.0)
    assert len(await panel.run()) == 3
    await panel.aclose()


async def test_status_shows_segment_errors():
    panel = ControlPanel(engines=EngineCatalog(factory=factory(fail_mt=True), credential_checks={},
                                               options={"simulated": {"preset": "instant"}}),
                         inputs=no_live_audio(), input_path=CLIP, asr="simulated", mt="offline",
                         tts="offline", pace=0.0)  # fmt: skip
    log = await panel.run()
    assert len(log) == 3 and set(panel.dataframe().status) == {"error"}
    assert "the fake translator is broken" in panel.controls.status.value
    assert "3 errors" in panel.controls.status.value
    assert "✕" in panel.feed.widget.value
    await panel.aclose()


async def test_a_session_that_cannot_start_says_why(tmp_path):
    panel = make_panel(asr="simulated", mt="simulated", tts="simulated")
    bad = tmp_path / "not-audio.wav"
    bad.write_bytes(b"this is not a wav file")
    panel.set(input_path=str(bad))
    assert await panel.start() is None
    assert (
        "failed" in panel.controls.status.value and "not-audio.wav" in panel.controls.status.value
    )
    assert not panel.controls.start_button.disabled
    await panel.aclose()


async def test_preview_speaks_the_chosen_voice():
    panel = make_panel(asr="simulated", mt="simulated", tts="simulated", target_lang="de")
    wav = await panel.preview()
    assert wav[:4] == b"RIFF" and panel.voice_section.preview_audio.value == wav
    assert panel.voice_section.preview_box.layout.display is None
    await panel.aclose()


async def test_start_and_stop_clicked_on_other_loops_run_on_the_panels_loop():
    """Regression (found in the browser): JupyterLab 4 + ipykernel 7 run widget callbacks
    on a subshell's loop, on another thread; Stop then failed with "got Future attached to
    a different loop". Clicks from any loop or thread run on the panel's (the cell's) loop."""
    import threading

    panel = make_panel(asr="simulated", mt="simulated", tts="simulated", pace=1.0)
    home = asyncio.get_running_loop()

    def click_on_another_loop(button: widgets.Button) -> None:
        async def click() -> None:
            button.click()

        thread = threading.Thread(target=asyncio.run, args=(click(),))
        thread.start()
        thread.join()

    click_on_another_loop(panel.controls.start_button)
    await wait_until(lambda: "running" in panel.controls.status.value)
    assert panel.runner._task.get_loop() is home
    click_on_another_loop(panel.controls.stop_button)
    await wait_until(lambda: not panel.running)
    status = panel.controls.status.value
    assert "● stopped" in status and "last error" not in status, status
    await panel.aclose()


def test_buttons_without_an_event_loop_explain():
    panel = make_panel()
    panel.controls.start_button.click()
    assert "no running event loop" in panel.controls.status.value


# --------------------------------------------------------------------------- lifecycle


class ObservedSource:
    """A live AudioSource whose ``aclose`` calls are counted (silence every 100 ms until closed)."""

    sample_rate = 16000

    def __init__(self) -> None:
        self.closes = 0

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[AudioChunk]:
        while not self.closes:
            yield AudioChunk(b"\x00\x00" * 1600, self.sample_rate)
            await asyncio.sleep(0.1)

    async def aclose(self) -> None:
        self.closes += 1


def live_audio(monkeypatch, *, speaker_fails: bool = False) -> tuple[InputCatalog, SimpleNamespace]:
    """An InputCatalog over stand-in device and browser modules; the returned namespace
    records the sources they made and the browser microphone's start / stop calls."""
    seen = SimpleNamespace(sources=[], mic_starts=0, mic_stops=0)

    def microphone(device: int | None = None, *, chunk_ms: int = 100) -> ObservedSource:
        seen.sources.append(ObservedSource())
        return seen.sources[-1]

    def speaker(device: int | None = None) -> MemorySink:
        if speaker_fails:
            raise DeviceError("the test speaker is unplugged")
        return MemorySink()

    class BrowserMicrophone(widgets.HTML):
        state = "idle"

        def __init__(self, *, chunk_ms: int = 100) -> None:
            super().__init__()

        def start(self) -> None:
            seen.mic_starts += 1

        def stop(self) -> None:
            seen.mic_stops += 1

        def source(self, **kwargs: Any) -> ObservedSource:
            return microphone()

    class BrowserSpeaker(widgets.HTML):
        def sink(self, **kwargs: Any) -> MemorySink:
            return MemorySink()

    devices = types.ModuleType("panel_test_devices")
    devices.list_devices = lambda: [
        SimpleNamespace(index=0, name="test mic", max_input_channels=1, max_output_channels=0,
                        is_default_input=True),
        SimpleNamespace(index=1, name="test speaker", max_input_channels=0, max_output_channels=2),
    ]  # fmt: skip
    devices.MicrophoneSource, devices.SpeakerSink = microphone, speaker
    browser = types.ModuleType("panel_test_browser")
    browser.BrowserMicrophone, browser.BrowserSpeaker = BrowserMicrophone, BrowserSpeaker
    for module in (devices, browser):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    return InputCatalog(devices_module=devices.__name__, browser_module=browser.__name__), seen


def count_file_closes(monkeypatch) -> list[FileSource]:
    """Every FileSource.aclose call from now on (the FileSource closed, once per call)."""
    closed: list[FileSource] = []
    real = FileSource.aclose

    async def aclose(self: FileSource) -> None:
        closed.append(self)
        await real(self)

    monkeypatch.setattr(FileSource, "aclose", aclose)
    return closed


@pytest.mark.parametrize("input_kind", ["file", "microphone", "browser"])
async def test_a_start_refused_by_validation_opens_nothing(monkeypatch, input_kind):
    """Every target's pair and voice is checked before the input opens: a refused Start
    leaves no source open and never switches the browser microphone on (it used to be
    switched on, then off again, by a session that could not run)."""
    inputs, seen = live_audio(monkeypatch)
    file_closes = count_file_closes(monkeypatch)
    panel = ControlPanel(engines=catalog(refuse_pair=True), inputs=inputs, input_path=CLIP,
                         pace=0.0)  # fmt: skip
    assert panel.set(input_kind=input_kind).input_kind == input_kind
    assert await panel.start() is None
    assert panel.pipeline is None and not seen.sources and not file_closes
    assert (seen.mic_starts, seen.mic_stops) == (0, 0)
    status = panel.controls.status.value
    assert "failed" in status and "apertium-eng-spa" in status
    assert not panel.running and not panel.controls.start_button.disabled
    await panel.aclose()


@pytest.mark.parametrize("input_kind", ["file", "microphone", "browser"])
async def test_a_start_that_fails_warm_up_closes_the_input_it_opened(monkeypatch, input_kind):
    """Regression: the source was opened, the pipeline refused to start (here: its
    translator's model fails to load), and the file / microphone / browser source stayed
    open (and the browser microphone on)."""
    inputs, seen = live_audio(monkeypatch)
    file_closes = count_file_closes(monkeypatch)
    panel = ControlPanel(engines=catalog(fail_load=True), inputs=inputs, input_path=CLIP,
                         pace=0.0)  # fmt: skip
    assert panel.set(input_kind=input_kind).input_kind == input_kind
    await panel.start()
    await panel.wait()
    # Closed (by the refusing pipeline, and again by the runner: closing is idempotent).
    if input_kind == "file":
        assert len(file_closes) >= 1
    else:
        assert len(seen.sources) == 1 and seen.sources[0].closes >= 1
    assert (seen.mic_starts, seen.mic_stops) == ((1, 1) if input_kind == "browser" else (0, 0))
    status = panel.controls.status.value
    assert "failed" in status and "the fake translation model is corrupt" in status
    assert not panel.running and not panel.controls.start_button.disabled
    await panel.aclose()


def test_browser_audio_chosen_at_construction_shows_its_widgets(monkeypatch):
    inputs, _ = live_audio(monkeypatch)
    panel = ControlPanel(engines=catalog(), inputs=inputs, input_path=CLIP,
                         input_kind="browser", output_kind="browser")  # fmt: skip
    assert [type(w).__name__ for w in panel.input_section.browser_box.children] == [
        "HTML", "BrowserMicrophone",
    ]  # fmt: skip
    assert [type(w).__name__ for w in panel.output_section.speaker_box.children] == [
        "BrowserSpeaker"
    ]


async def test_one_start_and_stop_drive_the_browser_microphone(monkeypatch):
    """Regression (issue 14, item 3): with the browser microphone there were two Start/Stop
    pairs and nothing said which to press. The panel's Start switches the microphone on,
    its Stop (or the end of the session) switches it off, and the text says so."""
    inputs, seen = live_audio(monkeypatch)
    panel = ControlPanel(engines=catalog(), inputs=inputs, input_path=CLIP, asr="simulated",
                         mt="simulated", tts="simulated", input_kind="browser")  # fmt: skip
    help_text = panel.input_section.browser_box.children[0].value
    assert "Press <b>▶ Start</b> below: it switches this microphone on" in help_text
    assert "<b>■ Stop</b> ends both" in help_text
    await panel.start()
    assert (seen.mic_starts, seen.mic_stops) == (1, 0)
    await wait_until(lambda: "running" in panel.controls.status.value)
    await panel.stop()
    assert (seen.mic_starts, seen.mic_stops) == (1, 1)
    assert "● stopped" in panel.controls.status.value
    await panel.aclose()


def test_the_panels_browser_microphone_hides_its_own_buttons():
    """The real widget: the panel creates it with ``show_buttons=False`` (the JS then shows
    only "Allow microphone", and only when the browser wants a click)."""
    from s2st_kit.notebook.browser_audio import BrowserMicrophone

    assert BrowserMicrophone().show_buttons  # standalone: its own Start / Stop
    panel = ControlPanel(engines=catalog(), input_path=CLIP, input_kind="browser")
    mic = panel.runner.browser_microphone
    assert isinstance(mic, BrowserMicrophone) and mic.show_buttons is False
    js = (Path(s2st_kit.notebook.__file__).parent / "browser_audio.js").read_text()
    assert 'model.get("show_buttons")' in js and "Allow microphone" in js


async def test_a_start_whose_output_fails_closes_the_input(monkeypatch):
    """Regression: the file was opened, the speaker could not be, and the file stayed open."""
    inputs, _ = live_audio(monkeypatch, speaker_fails=True)
    file_closes = count_file_closes(monkeypatch)
    panel = ControlPanel(engines=catalog(), inputs=inputs, input_path=CLIP, asr="simulated",
                         mt="simulated", tts="simulated", output_kind="speaker")  # fmt: skip
    assert await panel.start() is None
    assert len(file_closes) == 1
    assert "the test speaker is unplugged" in panel.controls.status.value
    assert panel.pipeline is None and not panel.running
    await panel.aclose()


async def test_an_error_while_stopping_is_shown_and_logged(monkeypatch, caplog):
    """Regression: suppress(Exception) around pipeline.stop() hid the error."""
    real = FileSource.aclose
    calls: list[FileSource] = []

    async def aclose(self: FileSource) -> None:
        calls.append(self)
        if len(calls) == 1:
            raise DeviceError("the input would not close")
        await real(self)

    monkeypatch.setattr(FileSource, "aclose", aclose)
    panel = make_panel(asr="simulated", mt="simulated", tts="simulated", pace=1.0)
    await panel.start()
    await wait_until(lambda: "running" in panel.controls.status.value)
    t0 = time.monotonic()
    with caplog.at_level(logging.ERROR):
        log = await panel.stop()
    assert "the input would not close" in panel.controls.status.value
    assert "the input would not close" in caplog.text
    assert time.monotonic() - t0 < 3.0  # the session was ended, not left to read the clip
    assert log is panel.log and not panel.running
    assert not panel.controls.start_button.disabled
    await panel.aclose()


async def test_session_figures_come_from_the_session_not_the_shared_engines():
    """Probe engines are shared by every session of a panel: each session's status counts
    its own segments and errors (from its pipeline), not anything kept on an engine."""
    panel = ControlPanel(engines=catalog(fail_mt=True), inputs=no_live_audio(), input_path=CLIP,
                         asr="simulated", mt="offline", tts="offline", pace=0.0)  # fmt: skip
    await panel.run()
    first = panel.pipeline
    await panel.run()
    assert panel.pipeline is not first
    assert panel.pipeline.engines.translator is first.engines.translator  # the shared probe
    assert "0 translated · 0 played" in panel.controls.status.value  # every translation failed
    assert "3 errors" in panel.controls.status.value
    await panel.aclose()


# --------------------------------------------------------------------------- engines by capability


def test_engine_names_come_from_the_registry(monkeypatch):
    """Regression: the panel listed ("simulated", "offline", "aws"), a copy of the registry."""
    monkeypatch.setitem(BUNDLES, "lab", dict(BUNDLES["simulated"]))
    model = PanelModel(catalog(), no_live_audio())
    assert [a.name for a in model.options.engines["mt"]] == list(BUNDLES)
    assert model.update(mt="lab").mt == "lab"


async def test_engine_settings_and_voice_catalogues():
    """Polly's engine comes from the ENGINE_SETTINGS table: offered only for that bundle,
    passed to its factory, and its voices come from the catalogue once loaded."""
    model = PanelModel(EngineCatalog(factory=factory(cloud=True), credential_checks={}),
                       no_live_audio(), None)  # fmt: skip
    assert model.options.engine_settings == {}
    model.update(tts="aws")
    from s2st_kit.engines.aws.polly import ENGINES

    assert model.options.engine_settings == {"polly_engine": ENGINES}
    assert model.options.voices_loading and model.options.voices == []
    sel = await model.load_voices()
    assert [v for _, v in model.options.voices] == ["Lucia", "Sergio"] and sel.voice == "Lucia"
    assert model.synthesizer().engine == "neural"
    model.update(polly_engine="standard")
    await model.load_voices()
    assert [v for _, v in model.options.voices] == ["Lucia", "Conchita"]
    assert model.synthesizer().engine == "standard"
    assert model.update(polly_engine="turbo").polly_engine == "neural"  # back to the default
    engines = await model.build_engines()
    assert engines.synthesizer is model.synthesizer()
    model.update(tts="offline")
    assert model.options.engine_settings == {}
    await model.engines.aclose()


async def test_a_remote_voice_catalogue_loads_when_the_panel_opens():
    """Regression: voices of a catalogue synthesizer (eSpeak NG, Polly) were loaded only
    after the user changed a setting; until then the voice list said "loading voices…"."""
    panel = ControlPanel(engines=EngineCatalog(factory=factory(cloud=True), credential_checks={}),
                         inputs=no_live_audio(), input_path=CLIP, tts="aws")  # fmt: skip
    assert list(panel.voice_section.voice.options) == [("loading voices…", None)]
    await wait_until(lambda: panel.model.selection.voice == "Lucia")
    assert [v for _, v in panel.voice_section.voice.options] == ["Lucia", "Sergio"]
    await panel.aclose()


# --------------------------------------------------------------------------- views


def tr(text: str, final: bool, uid: int = 0) -> Transcript:
    return Transcript(text=text, is_final=final, start_s=0.0, end_s=1.0, utterance_id=uid)


def test_feed_replaces_partials_and_attaches_translations():
    feed = FeedModel(max_lines=2)
    assert feed.handle(PartialTranscript(0.1, tr("hel", False), 0))
    assert feed.handle(PartialTranscript(0.2, tr("hello wor", False), 0))
    html = feed.to_html()
    assert "hello wor" in html and "hel<" not in html and "s2st-partial" in html
    feed.handle(FinalTranscript(0.3, tr("Hello world.", True), 0))
    feed.handle(SegmentCommitted(0.3, 0, "Hello world."))
    feed.handle(
        TranslationReady(0.4, 0, Translation("Hola <mundo>.", "Hello world.", "en", "es", "x"))
    )
    html = feed.to_html()
    assert "s2st-final" in html and "s2st-partial" not in html
    assert "→ Hola &lt;mundo&gt;." in html  # escaped
    for uid in (1, 2):
        feed.handle(FinalTranscript(1.0 + uid, tr(f"utterance {uid}", True, uid), uid))
    assert sorted(feed.lines) == [1, 2]  # the oldest scrolled away


def test_throttle_coalesces_calls():
    async def main() -> list[float]:
        calls: list[float] = []
        throttle = Throttle(lambda: calls.append(time.monotonic()), 0.2)
        for _ in range(20):  # within one interval whatever the machine's load
            throttle()
            await asyncio.sleep(0)
        await asyncio.sleep(0.3)
        return calls

    calls = asyncio.run(main())
    assert len(calls) == 2  # the first call at once, the 19 others in one trailing call
    assert calls[1] - calls[0] >= 0.19


def test_live_chart_redraws_at_most_every_interval():
    rows = [{"segment_id": i, "status": "ok", "t_speech_end": i, "t_asr_final": i + 0.5,
             "t_mt_start": i + 0.5, "t_mt_end": i + 0.6, "t_tts_start": i + 0.6,
             "t_tts_first_audio": i + 0.7, "t_tts_end": i + 0.8, "t_play_start": i + 0.7,
             "t_play_end": i + 1.5, "audio_start_s": i - 1, "audio_end_s": i} for i in range(1, 13)]  # fmt: skip
    assert render_chart_png(rows, "stages")[:4] == b"\x89PNG"

    async def main() -> LatencyChart:
        chart = LatencyChart(interval_s=0.25)
        t0 = time.monotonic()
        for row in rows:  # 12 rows in 0.6 s
            chart.handle(SegmentLogged(0.0, row["segment_id"], row))
            await asyncio.sleep(0.05)
        await chart.draw()
        assert time.monotonic() - t0 < 5
        return chart

    chart = asyncio.run(main())
    assert 2 <= chart.renders <= 6
    assert chart.image.value[:4] == b"\x89PNG" and chart.image.layout.display is None


def test_results_and_status_html():
    import pandas as pd

    assert "no segment" in results_html(pd.DataFrame())
    s = status_html("failed", elapsed_s=3.25, translated=2, played=1, errors=2,
                    last_error="mt: <boom>")  # fmt: skip
    assert "● failed" in s and "3.2 s" in s and "2 translated · 1 played" in s and "2 errors" in s
    assert "mt: &lt;boom&gt;" in s


# --------------------------------------------------------------------------- lag control


def lag_widgets(panel: ControlPanel) -> tuple[Any, Any, Any]:
    s = panel.lag_section
    return s.max_lag_s, s.max_speedup, s.catch_up


def test_lag_controls_show_what_the_session_gets():
    """The target slider, the speed-up slider and catch-up go into PipelineConfig; what
    they show (value, disabled, "off") is always what config() gives the session."""
    panel = make_panel()
    target, speedup, catch_up = lag_widgets(panel)
    assert (target.label, target.disabled, speedup.label, catch_up.value) == (
        "3 s", False, "1.5×", "speed+skip",
    )  # fmt: skip
    cfg = panel.model.config()
    assert (cfg.max_lag_s, cfg.max_speedup, cfg.catch_up) == (3.0, 1.5, "speed+skip")
    assert [label for label, _ in target.options][:3] == ["off", "1 s", "1.5 s"]
    assert target.options[-1] == ("8 s", 8.0)
    target.value = 0.0  # the user picks "off"
    assert panel.model.selection.max_lag_s is None and panel.model.config().max_lag_s is None
    assert speedup.disabled and catch_up.disabled  # they do nothing with the target off
    target.value = 5.0
    speedup.value = 2.0
    catch_up.value = "speed"
    cfg = panel.model.config()
    assert (cfg.max_lag_s, cfg.max_speedup, cfg.catch_up) == (5.0, 2.0, "speed")
    assert not speedup.disabled and not catch_up.disabled


@pytest.mark.parametrize(("pace", "label"), [(0.0, "as fast as possible"), (2.0, "2× real time")])
def test_lag_control_is_off_and_says_why_when_the_file_is_not_played_in_real_time(pace, label):
    panel = make_panel()
    target, speedup, _ = lag_widgets(panel)
    target.value = 5.0
    panel.input_section.pace.value = pace  # the user changes the pace
    assert panel.model.config().max_lag_s is None  # not applied ...
    assert target.label == "off" and target.disabled and speedup.disabled  # ... and shown so
    note = panel.lag_section.note.value
    assert "lag control needs real-time input" in note and label in note
    assert panel.model.options.lag_off_reason is not None
    panel.input_section.pace.value = 1.0  # back to real time: the chosen target returns
    assert target.label == "5 s" and not target.disabled and panel.lag_section.note.value == ""
    assert panel.model.config().max_lag_s == 5.0


def test_live_input_keeps_lag_control_whatever_the_file_pace(monkeypatch):
    inputs, _ = live_audio(monkeypatch)
    panel = ControlPanel(engines=catalog(), inputs=inputs, input_path=CLIP, pace=4.0)  # fmt: skip
    assert panel.model.config().max_lag_s is None
    panel.set(input_kind="microphone")
    assert panel.model.config().max_lag_s == 3.0 and not panel.lag_section.max_lag_s.disabled


def test_lag_settings_from_code_are_shown_exactly_or_refused():
    panel = make_panel()
    target, speedup, _ = lag_widgets(panel)
    panel.set(max_lag_s=2.7, max_speedup=1.15)  # between the sliders' steps
    assert (target.label, target.value, speedup.label) == ("2.7 s", 2.7, "1.15×")
    cfg = panel.model.config()
    assert (cfg.max_lag_s, cfg.max_speedup) == (2.7, 1.15)
    assert panel.set(max_lag_s=0).max_lag_s is None and target.label == "off"  # 0 = off
    for bad, needle in (
        ({"max_lag_s": -1.0}, "max_lag_s must be > 0"),
        ({"max_speedup": 5.0}, "max_speedup must be between 1.0 and 3.0"),
        ({"catch_up": "never"}, "unknown catch_up 'never'"),
    ):
        with pytest.raises(ConfigError, match=needle):
            panel.set(**bad)
    assert panel.model.selection.max_speedup == 1.15  # a refused change changes nothing


async def test_status_line_shows_the_live_lag_of_a_running_session():
    panel = make_panel(asr="simulated", mt="simulated", tts="simulated", pace=1.0)
    await panel.start()
    assert panel.pipeline.config.max_lag_s == 3.0  # the slider's value reached the session
    await wait_until(lambda: "s2st-lag" in panel.controls.status.value)
    status = panel.controls.status.value
    assert re.search(r"lag \d+\.\d s \(max 3 s\)", status), status
    assert re.search(r"speed \d\.\d\d×", status), status
    lag = panel.runner.live.lag_s
    assert 0 < lag < 3.0 and f"lag {lag:.1f} s" in status
    await panel.stop(drain=False)
    assert "s2st-lag" not in panel.controls.status.value  # not shown once the session ended
    assert "Lag control" in panel.results.table.value  # the results say what it did
    await panel.aclose()


def test_live_lag_and_status_html():
    live = LiveLag()
    assert live.handle(AudioStarted(5.0, 3, lag_s=2.43, speed=1.3))
    assert live.handle(SegmentLogged(6.0, 4, {"status": "skipped"}))
    assert not live.handle(SegmentLogged(6.5, 5, {"status": "ok"}))
    assert (live.lag_s, live.speed, live.skipped) == (2.43, 1.3, 1)
    s = status_html("running", lag_s=2.43, speed=1.3, max_lag_s=3.0, skipped=1)
    assert "lag 2.4 s (max 3 s)" in s and "speed 1.30×" in s and "1 skipped" in s
    assert "color:#c62828'>lag 3.6 s" in status_html("running", lag_s=3.6, max_lag_s=3.0)
    plain = status_html("running", lag_s=8.0, speed=1.0)  # no lag control: the lag only
    assert "lag 8.0 s<" in plain and "speed" not in plain and "skipped" not in plain


def test_feed_chart_and_results_show_skips_and_speed():
    from test_plots import _lag_log

    from s2st_kit.metrics import add_derived

    feed = FeedModel()
    feed.handle(FinalTranscript(0.3, tr("Hello world.", True), 0))
    feed.handle(SegmentCommitted(0.3, 0, "Hello world."))
    feed.handle(TranslationReady(0.4, 0, Translation("Hola mundo.", "Hello world.", "en", "es")))
    error = "skipped to catch up: 4.2 s behind the speaker (max_lag_s 3)"
    assert feed.handle(SegmentLogged(5.0, 0, {"status": "skipped", "error": error}))
    html = feed.to_html()
    assert "→ Hola mundo." in html and f"⏭ {error}" in html and "✕" not in html
    df = add_derived(_lag_log())
    assert render_chart_png(df.to_dict("records"), "lag", max_lag_s=3.0)[:4] == b"\x89PNG"
    chart = LatencyChart()
    assert [v for _, v in chart.kind.options] == ["timeline", "stages", "lag"]
    text = results_html(df, max_lag_s=3.0)
    assert "Lag control" in text and "(target 3 s)" in text and "skipped 2 of 16" in text
    assert "<th>speed</th>" in text
    assert "Lag control" not in results_html(add_derived(_synthlog_plain()))


def _synthlog_plain():
    from test_plots import _synthlog

    return _synthlog().make_log(4, errors=())


# --------------------------------------------------------------------------- several targets


def test_extra_targets_follow_the_engines_and_get_default_voices():
    model = PanelModel(catalog(), no_live_audio())
    model.update(asr="simulated", mt="simulated", tts="simulated")
    offered = [c for _, c in model.options.extra_targets]
    assert {"fr", "de"} <= set(offered) and "es" not in offered  # "To" is not offered again
    sel = model.update(extra_targets=["fr", "de", "fr", "es"])  # duplicates and "To" ignored
    assert sel.targets == ("es", "fr", "de")
    assert sel.extra_voices == (("fr", "sim-fr-1"), ("de", "sim-de-1"))  # the defaults
    assert [v for _, v in model.options.extra_voices["fr"]] == ["sim-fr-1", "sim-fr-2"]
    assert model.update(extra_voices={"fr": "sim-fr-2"}).extra_voices == (
        ("fr", "sim-fr-2"), ("de", "sim-de-1"),
    )  # fmt: skip
    assert model.update(extra_voices={"fr": "no-such-voice"}).extra_voices[0] == ("fr", "sim-fr-1")
    cfg = model.config()
    assert (cfg.target_lang, cfg.voice) == ("es", sel.voice)  # the primary listener's
    model.update(input_path=CLIP, extra_targets=["fr", "ja"])  # the clip has no Japanese
    assert any("no reference translation of this clip into Japanese" in h
               for h in model.options.hints)  # fmt: skip
    model.update(extra_targets=["fr", "de"])
    # "To" becomes French: French is no longer an extra target
    assert model.update(target_lang="fr").targets == ("fr", "de")
    # the fake bundle speaks Spanish only: German is left out, with a hint saying why
    sel = model.update(target_lang="es", mt="offline", tts="offline")
    assert sel.targets == ("es",) and sel.extra_voices == ()
    assert any("“Also into” German (de) is left out" in h for h in model.options.hints)
    assert model.options.extra_targets == []


def test_the_also_into_buttons_and_voice_lists():
    panel = make_panel(asr="simulated", mt="simulated", tts="simulated")
    row = panel.voice_section.targets
    assert {"fr", "de"} <= set(row.buttons) and "es" not in row.buttons  # not "To" again
    assert row.buttons["fr"].description == "French" and row.help.value == ""
    row.buttons["fr"].value = True  # the user presses French, then German
    row.buttons["de"].value = True
    assert panel.model.selection.extra_targets == ("fr", "de")
    lists = row.voices
    assert list(lists) == ["fr", "de"] and lists["fr"].value == "sim-fr-1"
    assert [v for _, v in lists["fr"].options] == ["sim-fr-1", "sim-fr-2"]
    assert "<b>Spanish (es)</b> (“To”) plays on the chosen output" in row.help.value
    assert "<b>French (fr)</b>, <b>German (de)</b> play into memory" in row.help.value
    assert "default voice for its language unless you pick" in row.help.value
    lists["fr"].value = "sim-fr-2"  # the user picks a voice
    assert dict(panel.model.selection.extra_voices) == {"fr": "sim-fr-2", "de": "sim-de-1"}
    row.buttons["fr"].value = False  # and un-presses French
    assert panel.model.selection.extra_targets == ("de",) and list(row.voices) == ["de"]
    panel.voice_section.target_lang.value = "de"  # German becomes "To": no longer extra
    assert panel.model.selection.extra_targets == () and not row.buttons["es"].value
    panel.set(mt="offline", tts="offline")  # only Spanish: nothing more to offer
    assert row.buttons == {} and "no other language" in row.row.children[0].value
    assert row.help.value == ""


async def test_several_targets_run_one_fanout_session_with_a_player_each():
    panel = make_panel(asr="simulated", mt="simulated", tts="simulated", pace=4.0,
                       extra_targets=("fr", "de"), extra_voices={"fr": "sim-fr-2"})  # fmt: skip
    log = await panel.run()
    pipe = panel.pipeline
    assert [b.name for b in pipe.branches] == ["es", "fr", "de"]  # one recognizer stream
    assert pipe.voices == {"es": panel.model.selection.voice, "fr": "sim-fr-2", "de": "sim-de-1"}
    df = panel.dataframe()
    assert len(log) == 9 and set(df.status) == {"ok"}
    played = df.t_play_end - df.t_play_start  # every listener paced like the input (4×)
    assert (played > 0).all() and played.groupby(df.listener).sum().min() > 0.5
    fr = df[df.listener == "fr"].sort_values("segment_id")
    assert list(fr.translation) == [
        "La maison est très grande.", "Ma sœur habite en ville.",
        "Nous buvons du café tous les matins.",
    ]  # fmt: skip
    status = panel.controls.status.value
    for name in ("es", "fr", "de"):
        assert f"{name}: 3 translated · 3 played" in status
    feed = panel.feed.widget.value
    assert "s2st-listener" in feed and "Ma sœur habite en ville." in feed
    spots = [feed.index(f">{n}</span>→ ") for n in ("es", "fr", "de")]
    assert spots == sorted(spots)  # the "To" language first, then as chosen
    table = panel.results.table.value
    assert "Latency by listener" in table and "<th>listener</th>" in table
    assert set(panel.results.players) == {"fr", "de"}
    es, fr_wav = panel.translated_audio(), panel.translated_audio("fr")
    assert es[:4] == fr_wav[:4] == b"RIFF" and es != fr_wav
    assert panel.results.players["fr"].value == fr_wav
    title = panel.results.more_audio.children[0].children[0].value
    assert "Translated speech — French (fr)" in title
    assert ("by listener", "listeners") in panel.chart.kind.options
    panel.chart.kind.value = "listeners"
    await panel.chart.draw()
    assert panel.chart.image.value[:4] == b"\x89PNG"
    # back to one target: the session, the chart and the results are as before
    panel.set(extra_targets=[])
    assert len(await panel.run()) == 3
    assert [b.name for b in panel.pipeline.branches] == ["es"]
    assert panel.chart.kind.value == "timeline" and len(panel.chart.kind.options) == 3
    assert "Latency by listener" not in panel.results.table.value and not panel.results.players
    assert "3 translated · 3 played" in panel.controls.status.value
    assert "es: " not in panel.controls.status.value
    await panel.aclose()


async def test_a_refusal_names_the_extra_target_and_opens_nothing(monkeypatch):
    inputs, seen = live_audio(monkeypatch)
    engines = EngineCatalog(factory=factory(picky=True), credential_checks={},
                            options={"simulated": {"preset": "instant"}})  # fmt: skip
    panel = ControlPanel(engines=engines, inputs=inputs, input_path=CLIP, asr="simulated",
                         mt="offline", tts="simulated", input_kind="browser")  # fmt: skip
    assert panel.set(extra_targets=["fr"]).targets == ("es", "fr")
    assert await panel.start() is None
    status = panel.controls.status.value
    assert "failed" in status and "French (fr): install apertium-eng-fra" in status
    assert (seen.mic_starts, seen.sources) == (0, [])  # the microphone was never switched on
    panel.set(extra_targets=[])  # Spanish alone passes
    assert await panel.start() is not None
    await panel.stop(drain=False)
    await panel.aclose()


def test_the_feed_and_live_figures_name_the_listener():
    feed = FeedModel()
    feed.handle(FinalTranscript(0.3, tr("Hello world.", True), 0))
    feed.handle(SegmentCommitted(0.3, 0, "Hello world."))
    feed.handle(TranslationReady(0.4, 0, Translation("Hola mundo.", "Hello world.", "en", "es"),
                                 listener="es"))  # fmt: skip
    assert "s2st-listener" not in feed.to_html()  # one listener: as before
    feed.handle(TranslationReady(0.5, 0, Translation("Bonjour.", "Hello world.", "en", "fr"),
                                 listener="fr"))  # fmt: skip
    feed.handle(ErrorEvent(0.6, "tts", "the German voice is broken", segment_id=0))
    feed.handle(SegmentLogged(0.7, 0, {"status": "error", "error": "x", "listener": "de"}))
    html = feed.to_html()
    assert feed.listeners == ["es", "fr", "de"]
    es, fr, de = (html.index(f">{n}</span>") for n in ("es", "fr", "de"))
    assert es < html.index("→ Hola mundo.") < fr < html.index("→ Bonjour.") < de
    assert de < html.index("✕ the German voice is broken")  # the error moved under its listener
    live = LiveLag(listener="es")
    assert not live.handle(AudioStarted(1.0, 0, lag_s=9.0, speed=1.5, listener="fr"))
    assert live.handle(AudioStarted(1.0, 0, lag_s=1.0, speed=1.0, listener="es"))
    assert not live.handle(SegmentLogged(2.0, 1, {"status": "skipped", "listener": "fr"}))
    assert (live.lag_s, live.skipped) == (1.0, 0)
    s = status_html("running", elapsed_s=2.0, translated=3, played=1,
                    listeners=(("es", 2, 1), ("fr", 1, 0)))  # fmt: skip
    assert "es: 2 translated · 1 played" in s and "fr: 1 translated · 0 played" in s
