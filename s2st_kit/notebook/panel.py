"""The ipywidgets control panel: choose engines, languages, voice, chunk size and input,
then Start / Stop a session and watch it live.

::

    from s2st_kit.notebook import ControlPanel
    panel = ControlPanel()          # display it as a cell's last expression
    panel                            # ... press ▶ Start, or in a cell: await panel.run()
    panel.dataframe()                # the last session's segment log (pandas)

The widgets are a thin view: the choices and the options valid for them live in
:class:`~s2st_kit.notebook.model.PanelModel`, the live views in
:mod:`s2st_kit.notebook.views`. Sessions run as tasks on the kernel's running event loop
(``pipe.start()`` / ``await pipe.stop()``); nothing here blocks it.

While a cell is busy (e.g. ``await panel.run()``) the kernel handles no widget clicks:
start sessions with the button when you want to be able to press Stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import os
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ..audio import FileSource, MemorySink, PacedSink
from ..config import POLICIES
from ..events import ErrorEvent, Event, StateChanged
from ..log import SegmentLog
from ..pipeline import Pipeline
from ..records import AudioChunk
from .model import (
    INPUT_LABELS,
    OUTPUT_LABELS,
    PACES,
    SAMPLE_SENTENCES,
    Availability,
    EngineCatalog,
    InputCatalog,
    PanelModel,
    Selection,
    pcm_to_wav,
)
from .views import LatencyChart, ResultsView, TranscriptFeed, status_html

__all__ = ["ChoiceRow", "ControlPanel"]

logger = logging.getLogger(__name__)

_STAGE_LABELS = {"asr": "Recognizer", "mt": "Translator", "tts": "Synthesizer"}
_LABEL_WIDTH = "100px"


def _label(text: str) -> widgets.Label:
    return widgets.Label(text, layout=widgets.Layout(width=_LABEL_WIDTH))


class ChoiceRow:
    """A row of toggle buttons where exactly one is selected; options that cannot be
    chosen are disabled and their reasons are shown under the row.

    options: :class:`Availability` per option; labels: display text per option name;
    on_change: called with the new value when the user picks another option.
    """

    def __init__(
        self,
        title: str,
        options: list[Availability],
        *,
        value: str,
        labels: dict[str, str] | None = None,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.labels = labels or {}
        self.on_change = on_change
        self._value = value
        self._syncing = False
        self.buttons: dict[str, widgets.ToggleButton] = {}
        self.note = widgets.HTML(layout=widgets.Layout(margin="0 0 0 104px"))
        self.row = widgets.HBox([_label(title)])
        self.widget = widgets.VBox([self.row, self.note])
        self.set_options(options, value)

    @property
    def value(self) -> str:
        """The selected option's name."""
        return self._value

    def set_options(self, options: list[Availability], value: str) -> None:
        """Replace the options (availability may have changed) and select ``value``."""
        self._syncing = True
        try:
            self.buttons = {}
            for a in options:
                b = widgets.ToggleButton(
                    value=a.name == value,
                    description=self.labels.get(a.name, a.name),
                    disabled=not a.available,
                    tooltip=a.reason or "",
                    layout=widgets.Layout(width="auto", min_width="90px"),
                )
                b.observe(self._clicked(a.name), names="value")
                self.buttons[a.name] = b
            self.row.children = [self.row.children[0], *self.buttons.values()]
            reasons = [
                f"<b>{self.labels.get(a.name, a.name)}</b> unavailable: {a.reason}"
                for a in options
                if not a.available and a.reason
            ]
            self.note.value = (
                "<div style='color:#888;font-size:11px;line-height:1.3'>"
                + "<br>".join(_escape(r, keep_bold=True) for r in reasons)
                + "</div>"
                if reasons
                else ""
            )
            self._value = value
        finally:
            self._syncing = False

    def select(self, value: str) -> None:
        """Select ``value`` without calling ``on_change``."""
        self._syncing = True
        try:
            for name, b in self.buttons.items():
                b.value = name == value
            self._value = value
        finally:
            self._syncing = False

    def _clicked(self, name: str) -> Callable[[dict[str, Any]], None]:
        def handler(change: dict[str, Any]) -> None:
            if self._syncing:
                return
            if not change["new"]:  # un-pressing the selected button keeps it selected
                if name == self._value:
                    self.select(name)
                return
            self.select(name)
            if self.on_change is not None:
                self.on_change(name)

        return handler


def _escape(text: str, *, keep_bold: bool = False) -> str:
    import html

    out = html.escape(text)
    if keep_bold:
        out = out.replace("&lt;b&gt;", "<b>").replace("&lt;/b&gt;", "</b>")
    return out


class ControlPanel:
    """An interactive speech-to-speech translation session in a notebook.

    engines: an :class:`EngineCatalog` (default: real engines; options such as
        ``EngineCatalog(options={"simulated": {"preset": "cloud-like"}})``).
    inputs: an :class:`InputCatalog` (sample clips, microphones).
    selection: initial choices (:class:`Selection`), e.g. ``Selection(asr="simulated")``;
        keyword arguments (``asr="simulated", chunk_ms=200``) override its fields.
    log_dir: folder for each session's JSONL log (``session-<id>.jsonl``); ``None`` (default)
        keeps logs in memory.
    chart_interval_s: minimum time between two redraws of the live chart (s, default 0.5).

    Attributes for later cells: ``pipeline`` (the last session's :class:`Pipeline`),
    ``log`` (its :class:`SegmentLog`), ``dataframe()``, ``model`` (choices and options).
    ``echo_guard`` (default True): with a live input and a loudspeaker output, mute the
    input while the translation plays (:class:`~s2st_kit.audio.echo.EchoGuard`; the last
    session's guard is ``guard``, its muted spans are saved beside the log as ``.muted.json``).
    """

    def __init__(
        self,
        *,
        engines: EngineCatalog | None = None,
        inputs: InputCatalog | None = None,
        selection: Selection | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        chart_interval_s: float = 0.5,
        **choices: Any,
    ) -> None:
        start = selection or Selection()
        if choices:
            from dataclasses import replace

            start = replace(start, **choices)
        self.model = PanelModel(engines, inputs, start)
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.pipeline: Pipeline | None = None
        self.last_error: str | None = None
        self.sink: MemorySink | None = None
        self.echo_guard = True
        self.guard: Any = None  # the last session's EchoGuard, if one was used
        self._tasks: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[SegmentLog | None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._browser_mic: Any = None  # BrowserMicrophone widget, made when first chosen
        self._browser_speaker: Any = None  # BrowserSpeaker widget, made when first chosen
        self._syncing = False
        self._state = "idle"
        self._note: str | None = None
        self._ended_at: float | None = None  # session time (s) when the last session ended

        self.feed = TranscriptFeed()
        self.chart = LatencyChart(interval_s=chart_interval_s)
        self.results = ResultsView()
        self._build()
        self._refresh()
        self._update_status()

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        m, sel = self.model, self.model.selection
        self.stage_rows = {
            stage: ChoiceRow(
                _STAGE_LABELS[stage],
                m.options.engines[stage],
                value=getattr(sel, stage),
                on_change=lambda name, stage=stage: self._change(**{stage: name}),
            )
            for stage in ("asr", "mt", "tts")
        }
        rows = list(self.stage_rows.values())
        for row, following in itertools.pairwise(rows):
            if row.note.value and row.note.value == following.note.value:
                row.note.layout.display = "none"  # the same reason once, under the last row
        w = widgets
        self.source_lang = w.Dropdown(description="From", layout=w.Layout(width="260px"))
        self.target_lang = w.Dropdown(description="To", layout=w.Layout(width="260px"))
        self.voice = w.Dropdown(description="Voice", layout=w.Layout(width="420px"))
        self.polly_engine = w.Dropdown(
            description="Polly", options=["standard", "neural", "long-form", "generative"],
            layout=w.Layout(width="200px"),
        )  # fmt: skip
        self.preview_button = w.Button(
            description="Preview",
            icon="volume-up",
            tooltip="speak a sample sentence with this voice",
        )
        self.preview_audio = w.Audio(
            format="wav", autoplay=True, loop=False, layout=w.Layout(width="300px", height="32px")
        )
        self.preview_box = w.HBox([self.preview_audio], layout=w.Layout(display="none"))
        self.chunk_ms = w.IntSlider(
            value=sel.chunk_ms, min=20, max=500, step=10, description="Chunk (ms)",
            continuous_update=False, layout=w.Layout(width="360px"),
            style={"description_width": "80px"},
        )  # fmt: skip
        self.policy = w.Dropdown(
            options=list(POLICIES),
            value=sel.policy,
            description="Commit",
            layout=w.Layout(width="220px"),
        )
        self.stability = w.Dropdown(
            options=["low", "medium", "high"], value=sel.stability, description="Stability",
            tooltip="partial-result stabilisation (recognizers that support it, e.g. Transcribe)",
            layout=w.Layout(width="200px"),
        )  # fmt: skip
        self.input_row = ChoiceRow(
            "Input",
            m.options.inputs,
            value=sel.input_kind,
            labels=INPUT_LABELS,
            on_change=lambda kind: self._change(input_kind=kind),
        )
        self.clip = w.Dropdown(description="Clip", layout=w.Layout(width="460px"))
        self.path = w.Text(
            placeholder="… or a path to any audio file", layout=w.Layout(width="300px")
        )
        self.pace = w.Dropdown(
            options=list(PACES.items()), value=_pace_value(sel.pace), description="Pace",
            layout=w.Layout(width="240px"),
        )  # fmt: skip
        self.file_box = w.VBox(
            [w.HBox([self.clip, self.path]), self.pace], layout=w.Layout(margin="0 0 0 104px")
        )
        self.output_row = ChoiceRow(
            "Output",
            m.options.outputs,
            value=sel.output_kind,
            labels=OUTPUT_LABELS,
            on_change=lambda kind: self._change(output_kind=kind),
        )
        self.speaker_box = w.VBox(layout=w.Layout(margin="0 0 0 104px"))
        self.mic = w.Dropdown(description="Device", layout=w.Layout(width="420px"))
        self.mic_box = w.HBox([self.mic], layout=w.Layout(margin="0 0 0 104px"))
        self.browser_box = w.VBox(layout=w.Layout(margin="0 0 0 104px"))
        self.start_button = w.Button(description="Start", icon="play", button_style="success")
        self.stop_button = w.Button(
            description="Stop", icon="stop", button_style="danger", disabled=True
        )
        self.status = w.HTML(layout=w.Layout(margin="0 0 0 12px"))
        self.problems = w.HTML()

        for widget, name in (
            (self.source_lang, "source_lang"), (self.target_lang, "target_lang"),
            (self.voice, "voice"), (self.polly_engine, "polly_engine"),
            (self.chunk_ms, "chunk_ms"), (self.policy, "policy"), (self.stability, "stability"),
            (self.pace, "pace"), (self.mic, "mic_device"),
        ):  # fmt: skip
            widget.observe(self._on_widget(name), names="value")
        self.clip.observe(self._on_clip, names="value")
        self.path.observe(self._on_path, names="value")
        self.preview_button.on_click(lambda _: self._spawn(self.preview()))
        self.start_button.on_click(lambda _: self._spawn(self.start()))
        self.stop_button.on_click(lambda _: self._spawn(self.stop()))

        def section(title: str) -> widgets.HTML:
            return w.HTML(f"<div style='font-weight:600;margin:8px 0 2px;color:#444'>{title}</div>")

        settings = w.VBox(
            [
                section("Engines"),
                *(r.widget for r in self.stage_rows.values()),
                section("Languages and voice"),
                w.HBox([self.source_lang, self.target_lang]),
                w.HBox([self.voice, self.polly_engine, self.preview_button, self.preview_box]),
                section("Streaming"),
                w.HBox([self.chunk_ms, self.policy, self.stability]),
                section("Input"),
                self.input_row.widget,
                self.file_box,
                self.mic_box,
                self.browser_box,
                self.output_row.widget,
                self.speaker_box,
                self.problems,
            ]
        )
        controls = w.HBox(
            [self.start_button, self.stop_button, self.status],
            layout=w.Layout(align_items="center", margin="10px 0 6px"),
        )
        live = w.HBox(
            [
                w.VBox([section("Transcripts → translations"), self.feed.widget], layout=w.Layout(width="45%")),
                w.VBox([section("Latency"), self.chart.widget], layout=w.Layout(width="55%", margin="0 0 0 10px")),
            ]
        )  # fmt: skip
        self.widget = w.VBox(
            [
                w.HTML("<h3 style='margin:4px 0'>s2st_kit — speech-to-speech translation</h3>"),
                settings,
                controls,
                live,
                section("Results"),
                self.results.widget,
            ],
            layout=w.Layout(border="1px solid #ccc", padding="6px 12px", width="100%"),
        )
        self.widget.add_class("s2st-panel")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- choices ----------------------------------------------------------------------------
    def _on_widget(self, name: str) -> Callable[[dict[str, Any]], None]:
        def handler(change: dict[str, Any]) -> None:
            if not self._syncing and change["new"] is not None:
                self._change(**{name: change["new"]})

        return handler

    def _on_clip(self, change: dict[str, Any]) -> None:
        if not self._syncing and change["new"]:
            self._change(input_path=change["new"])

    def _on_path(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        text = change["new"].strip()
        if not text:
            self._change(input_path=self.clip.value)
        elif Path(text).expanduser().is_file():
            self._note = None
            self._change(input_path=str(Path(text).expanduser()))
        else:
            self._note = f"no such file: {text}"
            self._update_status()

    def set(self, **changes: Any) -> Selection:
        """Change settings from code (``panel.set(asr="simulated", chunk_ms=200)``);
        returns the corrected selection. The widgets follow."""
        return self._change(**changes)

    def _change(self, **changes: Any) -> Selection:
        sel = self.model.update(**changes)
        self._refresh()
        if self.model.options.voices_loading:
            self._spawn(self._load_voices(sel.tts))
        if sel.input_kind == "browser" and self._browser_mic is None:
            self._browser_mic = self._make_browser_widget(
                "BrowserMicrophone", chunk_ms=sel.chunk_ms
            )
        if sel.output_kind == "browser" and self._browser_speaker is None:
            self._browser_speaker = self._make_browser_widget("BrowserSpeaker")
        self.browser_box.children = [self._browser_mic] if self._browser_mic is not None else []
        self.speaker_box.children = (
            [self._browser_speaker] if self._browser_speaker is not None else []
        )
        return sel

    async def _load_voices(self, tts: str) -> None:
        await self.model.engines.load_catalogue(tts)
        self.model.update()
        self._refresh()

    def _refresh(self) -> None:
        """Push the model's selection and options into the widgets."""
        sel, opt = self.model.selection, self.model.options
        self._syncing = True
        try:
            for stage, row in self.stage_rows.items():
                row.select(getattr(sel, stage))
            _set_options(self.source_lang, opt.source_langs, sel.source_lang)
            _set_options(self.target_lang, opt.target_langs, sel.target_lang)
            if opt.voices_loading:
                _set_options(self.voice, [("loading voices…", None)], None)
            else:
                _set_options(self.voice, opt.voices, sel.voice)
            self.voice.disabled = not opt.voices
            self.preview_button.disabled = not opt.voices
            self.polly_engine.layout.display = None if sel.tts == "aws" else "none"
            if sel.tts == "aws":
                self.polly_engine.value = sel.polly_engine
            self.chunk_ms.value = sel.chunk_ms
            self.policy.value = sel.policy
            self.stability.value = sel.stability
            self.input_row.select(sel.input_kind)
            clip_paths = [v for _, v in opt.clips]
            if list(self.clip.options) != list(opt.clips):
                self.clip.options = opt.clips
            if sel.input_path in clip_paths:
                self.clip.value = sel.input_path
                self.path.value = ""
            else:  # a file of the user's: shown in the path box, no clip selected
                self.clip.value = None
                self.path.value = sel.input_path or ""
            self.pace.value = _pace_value(sel.pace)
            _set_options(self.mic, opt.microphones, sel.mic_device)
            self.file_box.layout.display = None if sel.input_kind == "file" else "none"
            self.mic_box.layout.display = None if sel.input_kind == "microphone" else "none"
            self.browser_box.layout.display = None if sel.input_kind == "browser" else "none"
            self.output_row.select(sel.output_kind)
            self.speaker_box.layout.display = None if sel.output_kind == "browser" else "none"
            self.problems.value = "".join(
                f"<div style='color:#c62828'>{_escape(p)}</div>" for p in opt.problems
            )
        finally:
            self._syncing = False

    # -- sessions ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a session is running (or starting / stopping)."""
        return self._watch is not None and not self._watch.done()

    @property
    def log(self) -> SegmentLog | None:
        """The last session's segment log (``None`` before the first session)."""
        return self.pipeline.log if self.pipeline is not None else None

    def dataframe(self) -> pd.DataFrame:
        """The last session's segments as a DataFrame (with derived latency columns)."""
        if self.pipeline is None:
            return SegmentLog().to_pandas()
        return self.pipeline.log.to_pandas()

    def translated_audio(self) -> bytes | None:
        """The last session's translated speech as WAV bytes (``None`` if none was played)."""
        sink = self.sink
        if sink is None or not sink.chunks or not sink.sample_rate:
            return None
        return pcm_to_wav(b"".join(c.pcm for c in sink.chunks), sink.sample_rate)

    async def start(self) -> Pipeline | None:
        """Start a session with the current settings; returns its Pipeline (``None`` and
        the reason in the status line if it could not start)."""
        if self.running:
            self._note = "a session is already running; press Stop first"
            self._update_status()
            return None
        self._state, self._note, self.last_error = "starting", None, None
        self._ended_at = None
        self.start_button.disabled = True
        self.feed.reset()
        self.chart.reset()
        self.results.reset()
        self._update_status()
        try:
            engines = await self.model.build_engines()
            source = await self._make_source()
            sink = await self._make_sink()
            config = self.model.config(session_id=uuid.uuid4().hex[:12])
            log_path = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                log_path = self.log_dir / f"session-{config.session_id}.jsonl"
            self.guard = None
            sel = self.model.selection
            live_in = sel.input_kind in ("microphone", "browser")
            if self.echo_guard and live_in and sel.output_kind in ("speaker", "browser"):
                from ..audio.echo import EchoGuard

                self.guard = EchoGuard(source, sink)
                source, sink = self.guard.source, self.guard.sink
            clock = self.guard.clock if self.guard is not None else None
            pipe = Pipeline(
                engines, config, source=source, sink=sink, log_path=log_path, clock=clock
            )
        except Exception as exc:
            self._fail(exc)
            self.start_button.disabled = False
            return None
        self.pipeline = pipe
        handlers = (self.feed.handle, self.chart.handle, self._on_event)
        unsubs = [pipe.subscribe(h) for h in handlers]
        self._unsubscribe = lambda: [u() for u in unsubs]  # type: ignore[func-returns-value]
        task = pipe.start()
        if self.guard is not None and log_path is not None:
            guard, spans = self.guard, self.guard.spans_path(log_path)
            task.add_done_callback(lambda _t: guard.save_json(spans))
        self._watch = asyncio.get_running_loop().create_task(self._watch_session(pipe, task))
        self._ticker = asyncio.get_running_loop().create_task(self._tick())
        self.stop_button.disabled = False
        return pipe

    async def stop(self, *, drain: bool = True) -> SegmentLog | None:
        """Stop the running session (``drain``: finish what was already heard) and wait
        until its results are shown; returns its log."""
        if self.pipeline is None or self._watch is None:
            return None
        if not self._watch.done():
            self.stop_button.disabled = True
            with contextlib.suppress(Exception):
                await self.pipeline.stop(drain=drain)
        return await self._watch

    async def wait(self) -> SegmentLog | None:
        """Wait for the running session to end (and its results to be shown)."""
        if self._watch is None:
            return None
        return await self._watch

    async def run(self) -> SegmentLog | None:
        """Start a session and wait for it to end (the source ends or Stop is pressed)."""
        if await self.start() is None:
            return None
        return await self.wait()

    async def preview(self, text: str | None = None) -> bytes | None:
        """Speak ``text`` (default: a sample sentence in the target language) with the chosen
        voice and play it in the panel; returns the WAV bytes."""
        sel = self.model.selection
        if not sel.voice:
            return None
        sentence = text or SAMPLE_SENTENCES.get(sel.target_lang, SAMPLE_SENTENCES["en"])
        self.preview_button.disabled = True
        try:
            if sel.tts == "simulated":
                from ..engines.simulated import SimulatedSynthesizer

                synth: Any = SimulatedSynthesizer()
            elif sel.tts == "aws":
                synth = self.model.engines.get("tts", "aws", engine=sel.polly_engine)
            else:
                synth = self.model.engines.get("tts", sel.tts)
            chunks: list[AudioChunk] = [
                c
                async for c in synth.synthesize(sentence, voice=sel.voice, language=sel.target_lang)
            ]
        except Exception as exc:
            self._fail(exc, state=self._state)
            return None
        finally:
            self.preview_button.disabled = False
        if not chunks:
            return None
        wav = pcm_to_wav(b"".join(c.pcm for c in chunks), chunks[0].sample_rate)
        self.preview_audio.value = wav
        self.preview_box.layout.display = None
        return wav

    async def aclose(self) -> None:
        """Stop a running session and close the engines the panel created."""
        if self.running:
            await self.stop(drain=False)
        await self.model.engines.aclose()

    # -- internals ----------------------------------------------------------------------------
    async def _make_source(self) -> Any:
        sel = self.model.selection
        if sel.input_kind == "file":
            if not sel.input_path:
                raise FileNotFoundError("choose a clip or type the path of an audio file")
            return FileSource(
                sel.input_path, chunk_ms=sel.chunk_ms, realtime=sel.pace > 0, speed=sel.pace or 1.0
            )
        if sel.input_kind == "microphone":
            from ..audio import devices

            return await asyncio.to_thread(
                devices.MicrophoneSource, sel.mic_device, chunk_ms=sel.chunk_ms
            )
        mic = self._browser_mic
        if mic is None:
            raise RuntimeError("the browser microphone is not available")
        if getattr(mic, "state", "running") != "running":
            mic.start()  # the browser may still want a click on the widget's Start
        return mic.source()

    async def _make_sink(self) -> Any:
        kind = self.model.selection.output_kind
        self.sink = None
        if kind == "speaker":
            from ..audio import devices

            return await asyncio.to_thread(devices.SpeakerSink)
        if kind == "browser":
            if self._browser_speaker is None:
                raise RuntimeError("the browser speaker is not available")
            return self._browser_speaker.sink()
        self.sink = MemorySink()
        pace = self.model.selection.pace if self.model.selection.input_kind == "file" else 1.0
        # The output keeps the input's pace: 2× input plays 2× fast, "as fast as possible" not paced.
        return PacedSink(self.sink, speed=pace) if pace > 0 else self.sink

    def _make_browser_widget(self, name: str, **kwargs: Any) -> Any:
        module, problem = self.model.inputs.browser(name)
        if module is None:
            self._note = problem
            return None
        factory = getattr(module, name)
        try:
            params = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            params = {}
        if "kwargs" not in params:
            kwargs = {k: v for k, v in kwargs.items() if k in params}
        return factory(**kwargs)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self._state = event.state
            self._update_status()
        elif isinstance(event, ErrorEvent):
            self.last_error = f"{event.stage}: {event.message}"
            self._update_status()

    async def _watch_session(
        self, pipe: Pipeline, task: asyncio.Task[SegmentLog]
    ) -> SegmentLog | None:
        try:
            await task
        except asyncio.CancelledError:
            self._state = "stopped"
        except Exception as exc:
            self._fail(exc)
        finally:
            if self._ticker is not None:
                self._ticker.cancel()
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            self.feed.flush()
            self.stop_button.disabled = True
            self.start_button.disabled = False
        try:
            df = pipe.log.to_pandas()
            await self.chart.draw()
            self.results.show(df, wav=self.translated_audio())
        except Exception as exc:  # a view must not lose the session's log
            logger.exception("showing the results failed")
            self._fail(exc, state=self._state)
        self._update_status()
        return pipe.log

    async def _tick(self, interval_s: float = 0.5) -> None:
        while True:
            self._update_status()
            await asyncio.sleep(interval_s)

    def _fail(self, exc: BaseException, *, state: str = "failed") -> None:
        self._state = state
        self.last_error = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
        self._update_status()

    def _update_status(self) -> None:
        pipe = self.pipeline
        running = pipe is not None and self._state in ("running", "stopping")
        done = pipe is not None and self._state in ("stopped", "failed")
        elapsed = pipe.clock.now() if running else None
        if done and pipe is not None:
            if self._ended_at is None:
                self._ended_at = pipe.clock.now()
            elapsed = self._ended_at
        self.status.value = status_html(
            self._state,
            elapsed_s=elapsed,
            segments=len(pipe.log) if pipe is not None and self._state != "starting" else 0,
            errors=pipe.stats.errors if pipe is not None and self._state != "starting" else 0,
            last_error=self.last_error,
            note=self._note,
        )

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` as a task on the kernel's running loop (from a widget callback)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()
            self._note = "no running event loop: use this panel in a Jupyter kernel"
            self._update_status()
            return
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._fail(task.exception(), state=self._state)  # type: ignore[arg-type]


def _set_options(dropdown: widgets.Dropdown, options: list[tuple[str, Any]], value: Any) -> None:
    if list(dropdown.options) != list(options):
        dropdown.options = options
    values = [v for _, v in options]
    if value in values:
        dropdown.value = value
    elif values:
        dropdown.value = values[0]


def _pace_value(pace: float) -> float:
    values = list(PACES.values())
    return pace if pace in values else values[0]
