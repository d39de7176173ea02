"""The ipywidgets control panel: choose engines, languages, voice, chunk size and input,
then Start / Stop a session and watch it live.

::

    from s2st_kit.notebook import ControlPanel
    panel = ControlPanel()          # display it as a cell's last expression
    panel                            # ... press ▶ Start, or in a cell: await panel.run()
    panel.dataframe()                # the last session's segment log (pandas)
    panel.set(extra_targets=["fr"])  # several targets ("Also into"): one fan-out session
    panel.translated_audio("fr")     # after it: what the French listener heard (WAV bytes)

The widgets are a thin view, one small class per section of the panel
(:class:`EnginesSection`, :class:`VoiceSection`, :class:`StreamingSection`,
:class:`LagSection`, :class:`InputSection`, :class:`OutputSection`, :class:`ControlsBar`). The choices and the
options valid for them live in :class:`~s2st_kit.notebook.model.PanelModel`, the sessions
in :class:`~s2st_kit.notebook.session.SessionRunner`, the live views in
:mod:`s2st_kit.notebook.views`. Sessions run as tasks on the kernel's running event loop;
nothing here blocks it.

JupyterLab 4 with ipykernel 7 handles widget clicks while a cell is busy (e.g. during
``await panel.run()``), on another loop; :class:`HomeLoop` runs them on the panel's own, so
Stop works then too. Older kernels handle clicks only between cells: there, start sessions
with the button when you want to be able to press Stop.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import os
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, ClassVar

import ipywidgets as widgets
import pandas as pd

from ..bridge import call_soon
from ..config import POLICIES
from ..lag import CATCH_UPS
from ..log import SegmentLog
from ..pipeline import Pipeline
from .model import (
    ENGINE_SETTINGS,
    INPUT_LABELS,
    LANGUAGE_NAMES,
    OUTPUT_LABELS,
    PACES,
    STABILITIES,
    Availability,
    EngineCatalog,
    InputCatalog,
    PanelModel,
    PanelOptions,
    Selection,
    language_label,
    pcm_to_wav,
)
from .session import SessionRunner
from .views import LatencyChart, ResultsView, TranscriptFeed, status_html

__all__ = [
    "ChoiceRow",
    "ControlPanel",
    "ControlsBar",
    "EnginesSection",
    "HomeLoop",
    "InputSection",
    "LagSection",
    "OutputSection",
    "StreamingSection",
    "TargetsRow",
    "VoiceSection",
]

#: ``change(**selection_fields)``: what a section calls when the user edits a widget.
Change = Callable[..., object]

_STAGE_LABELS = {"asr": "Recognizer", "mt": "Translator", "tts": "Synthesizer"}
_STABILITY_TIP = "partial-result stabilisation requested from Amazon Transcribe"
#: Shown with the browser microphone: the panel's Start and Stop drive it.
BROWSER_MIC_HELP = (
    "<div class='s2st-mic-help' style='color:#555;font-size:12px;line-height:1.4;margin:2px 0'>"
    "Press "
    "<b>▶ Start</b> below: it switches this microphone on (the browser asks for permission "
    "the first time) and starts the session. <b>■ Stop</b> ends both.</div>"
)
_LABEL_WIDTH = "100px"
_INDENT = "0 0 0 104px"


def _label(text: str) -> widgets.Label:
    return widgets.Label(text, layout=widgets.Layout(width=_LABEL_WIDTH))


def _heading(title: str) -> widgets.HTML:
    return widgets.HTML(f"<div style='font-weight:600;margin:8px 0 2px;color:#444'>{title}</div>")


def _escape(text: str, *, keep_bold: bool = False) -> str:
    out = html.escape(text)
    if keep_bold:
        out = out.replace("&lt;b&gt;", "<b>").replace("&lt;/b&gt;", "</b>")
    return out


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


def _ladder(
    steps: tuple[float, ...], value: float | None, label: Callable[[float], str]
) -> list[tuple[str, float]]:
    """Slider options ``(label, value)`` for ``steps``, with ``value`` added in order when it
    is not a step (set from code), so that the slider always shows what is chosen."""
    values = sorted({*steps, *(() if value is None else (value,))})
    return [(label(v), v) for v in values]


def _shown(visible: bool) -> str | None:
    """A layout ``display`` value."""
    return None if visible else "none"


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
        on_change: Callable[[str], object] | None = None,
    ) -> None:
        self.labels = labels or {}
        self.on_change = on_change
        self._value = value
        self._syncing = False
        self.buttons: dict[str, widgets.ToggleButton] = {}
        self.note = widgets.HTML(layout=widgets.Layout(margin=_INDENT))
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
            self.buttons = {a.name: self._button(a, selected=a.name == value) for a in options}
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

    def _button(self, a: Availability, *, selected: bool) -> widgets.ToggleButton:
        b = widgets.ToggleButton(
            value=selected,
            description=self.labels.get(a.name, a.name),
            disabled=not a.available,
            tooltip=a.reason or "",
            layout=widgets.Layout(width="auto", min_width="90px"),
        )
        b.observe(self._clicked(a.name), names="value")
        return b

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


class _Section:
    """A part of the panel: widgets for some :class:`Selection` fields.

    change: called with ``field=value`` when the user edits a widget (not while
    :meth:`refresh` pushes the model's values into the widgets).
    """

    widget: widgets.Widget

    def __init__(self, change: Change) -> None:
        self._change = change
        self._syncing = False

    def _bind(self, widget: widgets.ValueWidget, name: str) -> None:
        def handler(change: dict[str, Any]) -> None:
            if not self._syncing and change["new"] is not None:
                self._change(**{name: change["new"]})

        widget.observe(handler, names="value")

    def refresh(self, sel: Selection, opt: PanelOptions) -> None:
        """Show ``sel`` and ``opt`` without reporting the widgets' changes back."""
        self._syncing = True
        try:
            self._show(sel, opt)
        finally:
            self._syncing = False

    def _show(self, sel: Selection, opt: PanelOptions) -> None:
        raise NotImplementedError


class EnginesSection(_Section):
    """One row of engine buttons per stage (recognizer, translator, synthesizer)."""

    def __init__(self, model: PanelModel, change: Change) -> None:
        super().__init__(change)
        self.rows = {
            stage: ChoiceRow(
                _STAGE_LABELS[stage],
                model.options.engines[stage],
                value=str(getattr(model.selection, stage)),
                on_change=self._picker(stage),
            )
            for stage in _STAGE_LABELS
        }
        for row, following in itertools.pairwise(self.rows.values()):
            if row.note.value and row.note.value == following.note.value:
                row.note.layout.display = "none"  # the same reason once, under the last row
        self.widget = widgets.VBox([r.widget for r in self.rows.values()])

    def _picker(self, stage: str) -> Callable[[str], None]:
        def pick(name: str) -> None:
            self._change(**{stage: name})

        return pick

    def _show(self, sel: Selection, opt: PanelOptions) -> None:
        for stage, row in self.rows.items():
            row.select(str(getattr(sel, stage)))


class VoiceSection(_Section):
    """Source and target language, the voice (with a preview player), the chosen
    engine's own settings (:data:`~s2st_kit.notebook.model.ENGINE_SETTINGS`) and more
    target languages ("Also into", :class:`TargetsRow`)."""

    def __init__(self, change: Change, *, on_preview: Callable[[], None]) -> None:
        super().__init__(change)
        w = widgets
        self.source_lang = w.Dropdown(description="From", layout=w.Layout(width="260px"))
        self.target_lang = w.Dropdown(description="To", layout=w.Layout(width="260px"))
        self.targets = TargetsRow(change)
        self.voice = w.Dropdown(description="Voice", layout=w.Layout(width="420px"))
        self.engine_settings = {
            s.selection_field: w.Dropdown(description=s.label, layout=w.Layout(width="200px"))
            for s in ENGINE_SETTINGS
        }
        self.preview_button = w.Button(
            description="Preview",
            icon="volume-up",
            tooltip="speak a sample sentence with this voice",
        )
        self.preview_audio = w.Audio(
            format="wav", autoplay=True, loop=False, layout=w.Layout(width="300px", height="32px")
        )
        self.preview_box = w.HBox([self.preview_audio], layout=w.Layout(display="none"))
        for name in ("source_lang", "target_lang", "voice"):
            self._bind(getattr(self, name), name)
        for name, dropdown in self.engine_settings.items():
            self._bind(dropdown, name)
        self.preview_button.on_click(lambda _: on_preview())
        row = [self.voice, *self.engine_settings.values(), self.preview_button, self.preview_box]
        languages = w.HBox([self.source_lang, self.target_lang])
        self.widget = w.VBox([languages, w.HBox(row), self.targets.widget])

    def _show(self, sel: Selection, opt: PanelOptions) -> None:
        _set_options(self.source_lang, opt.source_langs, sel.source_lang)
        _set_options(self.target_lang, opt.target_langs, sel.target_lang)
        if opt.voices_loading:
            _set_options(self.voice, [("loading voices…", None)], None)
        else:
            _set_options(self.voice, opt.voices, sel.voice)
        self.voice.disabled = self.preview_button.disabled = not opt.voices
        for name, dropdown in self.engine_settings.items():
            choices = opt.engine_settings.get(name)
            dropdown.layout.display = _shown(bool(choices))
            if choices:
                _set_options(dropdown, [(c, c) for c in choices], getattr(sel, name))
        self.targets.show(sel, opt)

    def show_preview(self, wav: bytes) -> None:
        """Play ``wav`` in the preview player."""
        self.preview_audio.value = wav
        self.preview_box.layout.display = None


#: Under "Also into": what happens to the extra target languages.
ALSO_INTO_HELP = (
    "<div class='s2st-targets-help' style='color:#555;font-size:12px;line-height:1.4'>"
    "One recognizer, a translation per language: <b>{primary}</b> (“To”) plays on the chosen "
    "output; {others} play into memory and get a player each when the session ends. "
    "Each speaks with the synthesizer's default voice for its language unless you pick "
    "another below.</div>"
)


class TargetsRow:
    """More target languages ("Also into"): a toggle button per language the chosen engines
    can serve besides the "To" one (``Selection.extra_targets``, in the order pressed), and
    under them one voice list per extra language (``Selection.extra_voices``; the default
    voice until the user picks) with a line saying where each plays.

    Buttons rather than a tags box: a click adds or removes a language, nothing to type
    (ipywidgets' TagsInput adds a tag only on a ``change`` event, which Enter does not always
    fire in Chromium).

    change: called with ``extra_targets=`` / ``extra_voices=`` when the user edits them.
    """

    def __init__(self, change: Change) -> None:
        w = widgets
        self._change = change
        self._syncing = False
        self._chosen: tuple[str, ...] = ()  # the selection's extra targets
        self._voices: dict[str, str] = {}  # the selection's extra voices
        self.buttons: dict[str, widgets.ToggleButton] = {}
        self.row = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.voices: dict[str, widgets.Dropdown] = {}
        self.voice_box = w.HBox(layout=w.Layout(flex_flow="row wrap", margin=_INDENT))
        self.help = w.HTML(layout=w.Layout(margin=_INDENT))
        title = _label("Also into")
        self.widget = w.VBox([w.HBox([title, self.row]), self.voice_box, self.help])

    def show(self, sel: Selection, opt: PanelOptions) -> None:
        """Show ``sel``'s extra targets and voices with ``opt``'s choices (no change reported)."""
        self._syncing = True
        try:
            self._chosen, self._voices = sel.extra_targets, dict(sel.extra_voices)
            if list(self.buttons) != [code for _, code in opt.extra_targets]:
                self.buttons = {code: self._button(code) for _, code in opt.extra_targets}
                self.row.children = list(self.buttons.values()) or [
                    widgets.HTML(
                        "<span style='color:#888'>no other language for these engines</span>"
                    )
                ]
            for code, button in self.buttons.items():
                button.value = code in sel.extra_targets
            self._show_voices(sel, opt)
        finally:
            self._syncing = False

    def _button(self, code: str) -> widgets.ToggleButton:
        name = LANGUAGE_NAMES.get(code, code)
        button = widgets.ToggleButton(
            description=name, tooltip=f"also translate into {language_label(code)}",
            layout=widgets.Layout(width="auto", min_width="60px"),
        )  # fmt: skip

        def toggled(change: dict[str, Any]) -> None:
            if self._syncing:
                return
            others = [c for c in self._chosen if c != code]
            self._change(extra_targets=[*others, code] if change["new"] else others)

        button.observe(toggled, names="value")
        return button

    def _show_voices(self, sel: Selection, opt: PanelOptions) -> None:
        if list(self.voices) != list(sel.extra_targets):
            self.voices = {code: self._voice_list(code) for code in sel.extra_targets}
            self.voice_box.children = list(self.voices.values())
        for code, dropdown in self.voices.items():
            _set_options(dropdown, opt.extra_voices.get(code, []), self._voices.get(code))
        others = ", ".join(f"<b>{_escape(language_label(c))}</b>" for c in sel.extra_targets)
        self.help.value = (
            ALSO_INTO_HELP.format(primary=_escape(language_label(sel.target_lang)), others=others)
            if sel.extra_targets
            else ""
        )

    def _voice_list(self, code: str) -> widgets.Dropdown:
        dropdown = widgets.Dropdown(
            description=f"{code} voice", layout=widgets.Layout(width="320px"),
            tooltip=f"the voice for {language_label(code)}",
        )  # fmt: skip

        def picked(change: dict[str, Any]) -> None:
            if not self._syncing and change["new"] is not None:
                self._change(extra_voices={**self._voices, code: change["new"]})

        dropdown.observe(picked, names="value")
        return dropdown


class StreamingSection(_Section):
    """Chunk size, commit policy and partial-result stability."""

    def __init__(self, sel: Selection, change: Change) -> None:
        super().__init__(change)
        w = widgets
        self.chunk_ms = w.IntSlider(
            value=sel.chunk_ms, min=20, max=500, step=10, description="Chunk (ms)",
            continuous_update=False, layout=w.Layout(width="360px"),
            style={"description_width": "80px"},
        )  # fmt: skip
        self.policy = w.Dropdown(
            options=list(POLICIES), value=sel.policy, description="Commit",
            layout=w.Layout(width="220px"),
        )  # fmt: skip
        self.stability = w.Dropdown(
            options=list(STABILITIES), value=sel.stability, description="Stability",
            tooltip=_STABILITY_TIP, layout=w.Layout(width="200px"),
        )  # fmt: skip
        for name in ("chunk_ms", "policy", "stability"):
            self._bind(getattr(self, name), name)
        self.widget = w.HBox([self.chunk_ms, self.policy, self.stability])

    def _show(self, sel: Selection, opt: PanelOptions) -> None:
        self.chunk_ms.value = sel.chunk_ms
        self.policy.value = sel.policy
        self.stability.value = sel.stability
        ignored = opt.stability_ignored
        self.stability.disabled = ignored is not None
        self.stability.tooltip = ignored or _STABILITY_TIP


class LagSection(_Section):
    """Lag control: the target (off, 1–8 s), the fastest playback, and whether to skip.

    When the input is not paced in real time lag control cannot apply: the target shows
    "off", disabled, with the reason (the chosen target comes back with real-time input);
    with the target off the speed-up and catch-up settings are disabled. What the widgets
    show is what :meth:`PanelModel.config` gives the session.
    """

    #: The target slider's steps (s; 0 = off) and the speed-up slider's (× natural speed);
    #: a value set from code between them is added, so the slider shows it.
    TARGETS: ClassVar[tuple[float, ...]] = (0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
    SPEEDUPS: ClassVar[tuple[float, ...]] = (
        1.0,
        1.1,
        1.2,
        1.25,
        1.3,
        1.4,
        1.5,
        1.75,
        2.0,
        2.5,
        3.0,
    )
    CATCH_UP_LABELS: ClassVar[dict[str, str]] = {
        "speed+skip": "speed up, then skip",
        "speed": "speed up only",
    }

    def __init__(self, change: Change) -> None:
        super().__init__(change)
        w, style = widgets, {"description_width": "80px"}
        self.max_lag_s = w.SelectionSlider(
            options=_ladder(self.TARGETS, None, _target_label), description="Max lag",
            continuous_update=False, layout=w.Layout(width="360px"), style=style,
            tooltip="how far the listener may fall behind the speaker",
        )  # fmt: skip
        self.max_speedup = w.SelectionSlider(
            options=_ladder(self.SPEEDUPS, None, _speed_label), description="Max speed",
            continuous_update=False, layout=w.Layout(width="300px"), style=style,
            tooltip="fastest playback when behind (× natural speed)",
        )  # fmt: skip
        self.catch_up = w.Dropdown(
            options=[(self.CATCH_UP_LABELS.get(c, c), c) for c in CATCH_UPS],
            description="Catch up", layout=w.Layout(width="240px"),
        )  # fmt: skip
        self.note = w.HTML(layout=w.Layout(margin=_INDENT))
        for name in ("max_lag_s", "max_speedup", "catch_up"):
            self._bind(getattr(self, name), name)
        row = w.HBox([self.max_lag_s, self.max_speedup, self.catch_up])
        self.widget = w.VBox([row, self.note])

    def _show(self, sel: Selection, opt: PanelOptions) -> None:
        off_reason = opt.lag_off_reason
        target = None if off_reason else sel.max_lag_s
        self.max_lag_s.options = _ladder(self.TARGETS, target, _target_label)
        self.max_lag_s.value = target or 0.0
        self.max_lag_s.disabled = off_reason is not None
        self.max_speedup.options = _ladder(self.SPEEDUPS, sel.max_speedup, _speed_label)
        self.max_speedup.value = sel.max_speedup
        self.catch_up.value = sel.catch_up
        self.max_speedup.disabled = self.catch_up.disabled = target is None
        self.note.value = (
            f"<div style='color:#888;font-size:11px'>off: {_escape(off_reason)}</div>"
            if off_reason
            else ""
        )


def _target_label(seconds: float) -> str:
    return "off" if seconds == 0 else f"{seconds:g} s"


def _speed_label(speed: float) -> str:
    return f"{speed:g}×"


class InputSection(_Section):
    """The input: a clip or any file (with its pace), a local or the browser microphone.

    The path box always shows the file a session reads (a clip's path too) and whatever is
    typed there is the input, as typed: a path that does not exist is reported under the
    settings and refused by Start, never replaced by the previous file. The Clip list shows
    the chosen file even when it is not a sample clip (by its name).
    """

    def __init__(self, model: PanelModel, change: Change) -> None:
        super().__init__(change)
        w, sel = widgets, model.selection
        self.row = ChoiceRow(
            "Input", model.options.inputs, value=sel.input_kind, labels=INPUT_LABELS,
            on_change=lambda kind: self._change(input_kind=kind),
        )  # fmt: skip
        self.clip = w.Dropdown(description="Clip", layout=w.Layout(width="620px"))
        self.path = w.Text(
            description="File", placeholder="the path of any audio file",
            layout=w.Layout(width="100%", max_width="720px"),
        )  # fmt: skip
        self.pace = w.Dropdown(
            options=list(PACES.items()), value=_pace_value(sel.pace), description="Pace",
            layout=w.Layout(width="240px"),
        )  # fmt: skip
        self.path.add_class("s2st-path")
        self.file_box = w.VBox([self.clip, self.path, self.pace], layout=w.Layout(margin=_INDENT))
        self.mic = w.Dropdown(description="Device", layout=w.Layout(width="420px"))
        self.mic_box = w.HBox([self.mic], layout=w.Layout(margin=_INDENT))
        self.browser_box = w.VBox(layout=w.Layout(margin=_INDENT))
        self.mic_help = w.HTML(BROWSER_MIC_HELP)
        self._bind(self.pace, "pace")
        self._bind(self.mic, "mic_device")
        self.clip.observe(self._on_clip, names="value")
        self.path.observe(self._on_path, names="value")
        self.widget = w.VBox([self.row.widget, self.file_box, self.mic_box, self.browser_box])

    def _on_clip(self, change: dict[str, Any]) -> None:
        if not self._syncing and change["new"]:
            self._change(input_path=change["new"])

    def _on_path(self, change: dict[str, Any]) -> None:
        if not self._syncing:  # the text as typed (a missing file is a problem, not ignored)
            self._change(input_path=change["new"] if change["new"].strip() else None)

    def _show(self, sel: Selection, opt: PanelOptions) -> None:
        self.row.select(sel.input_kind)
        if list(self.clip.options) != list(opt.clips):
            self.clip.options = opt.clips
        self.clip.value = opt.clip_value  # None (blank) only for a path that does not exist
        self.path.value = sel.input_path or ""
        self.path.tooltip = self.clip.tooltip = sel.input_path or None
        self.pace.value = _pace_value(sel.pace)
        _set_options(self.mic, opt.microphones, sel.mic_device)
        self.file_box.layout.display = _shown(sel.input_kind == "file")
        self.mic_box.layout.display = _shown(sel.input_kind == "microphone")
        self.browser_box.layout.display = _shown(sel.input_kind == "browser")


class OutputSection(_Section):
    """Where the translated speech goes: memory at the input's pace, a speaker, the browser."""

    def __init__(self, model: PanelModel, change: Change) -> None:
        super().__init__(change)
        self.row = ChoiceRow(
            "Output", model.options.outputs, value=model.selection.output_kind,
            labels=OUTPUT_LABELS, on_change=lambda kind: self._change(output_kind=kind),
        )  # fmt: skip
        self.speaker_box = widgets.VBox(layout=widgets.Layout(margin=_INDENT))
        self.widget = widgets.VBox([self.row.widget, self.speaker_box])

    def _show(self, sel: Selection, opt: PanelOptions) -> None:
        self.row.select(sel.output_kind)
        self.speaker_box.layout.display = _shown(sel.output_kind == "browser")


class ControlsBar:
    """Start and Stop, the status line, and the problems with the current choices."""

    def __init__(self, *, on_start: Callable[[], None], on_stop: Callable[[], None]) -> None:
        w = widgets
        fixed = {"flex": "0 0 auto", "width": "auto", "min_width": "84px"}
        self.start_button = w.Button(
            description="Start", icon="play", button_style="success", layout=w.Layout(**fixed)
        )
        self.stop_button = w.Button(
            description="Stop", icon="stop", button_style="danger", disabled=True,
            layout=w.Layout(**fixed),
        )  # fmt: skip
        # The status takes the rest of the row and wraps: a long error never squeezes Start/Stop.
        self.status = w.HTML(layout=w.Layout(margin="0 0 0 12px", flex="1 1 0%", min_width="0"))
        self.problems = w.HTML()
        self.start_button.on_click(lambda _: on_start())
        self.stop_button.on_click(lambda _: on_stop())
        self.widget = w.HBox(
            [self.start_button, self.stop_button, self.status],
            layout=w.Layout(align_items="center", margin="10px 0 6px"),
        )

    def show_problems(self, problems: Sequence[str], hints: Sequence[str] = ()) -> None:
        """The model's problems with the current choices (red) and its hints about
        choices that run but make little sense (amber), one per line."""
        self.problems.value = "".join(
            f"<div class='s2st-problem' style='color:#c62828'>{_escape(p)}</div>"
            for p in problems
        ) + "".join(f"<div class='s2st-hint' style='color:#a15c00'>⚠ {_escape(h)}</div>"
                    for h in hints)  # fmt: skip

    def show_running(self, running: bool) -> None:
        """Enable Start or Stop."""
        self.start_button.disabled = running
        self.stop_button.disabled = not running


class HomeLoop:
    """Runs the panel's coroutines as tasks on one event loop, its *home*: the loop running
    when the panel was made (a notebook cell's), else the first one a callback runs on.

    Widget callbacks may run on another loop, on another thread: JupyterLab 4 with
    ipykernel 7 handles widget messages in a subshell, so that buttons work while a cell
    runs. A session started from one click and stopped from another must live on one loop;
    coroutines from elsewhere reach the home loop through :func:`s2st_kit.bridge.call_soon`.
    on_error: called with the exception of a task that failed.
    """

    def __init__(self, *, on_error: Callable[[BaseException], object]) -> None:
        self.on_error = on_error
        self.tasks: set[asyncio.Task[Any]] = set()
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> bool:
        """Run ``coro`` on the home loop; False (and ``coro`` closed) without any loop."""
        if self.loop is None or self.loop.is_closed():
            try:
                self.loop = asyncio.get_running_loop()
            except RuntimeError:
                coro.close()
                return False
        if call_soon(self.loop, self._create, coro):
            return True
        coro.close()  # the home loop is closed
        return False

    def _create(self, coro: Coroutine[Any, Any, Any]) -> None:
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            self.on_error(exc)


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
    ``log`` (its :class:`SegmentLog`), ``dataframe()``, ``model`` (choices and options),
    ``runner`` (the :class:`~s2st_kit.notebook.session.SessionRunner`), and the sections
    ``engines_section``, ``voice_section``, ``streaming_section``, ``lag_section``,
    ``input_section``, ``output_section``, ``controls``; ``translated_audio(listener)``.
    Several targets (``extra_targets``, "Also into"): the first plays on the chosen output,
    the others into memory with a player each (:mod:`.targets`). Lag control is on by default
    (3 s) for live input and files played in real time, as in ``s2st run``.
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
        self.model = PanelModel(engines, inputs, replace(selection or Selection(), **choices))
        self.runner = SessionRunner(
            self.model,
            log_dir=Path(log_dir) if log_dir is not None else None,
            on_status=self._update_status,
            on_end=self._show_results,
        )
        self._tasks = HomeLoop(on_error=lambda exc: self.runner.fail(exc, keep_state=True))
        self.feed = TranscriptFeed()
        self.captions: Any = None  # LiveCaptions beside the feed, once the browser speaker exists
        self.captions_box = widgets.VBox()
        self.chart = LatencyChart(interval_s=chart_interval_s)
        self.results = ResultsView()
        self.engines_section = EnginesSection(self.model, self._change)
        self.voice_section = VoiceSection(self._change, on_preview=self._spawn_preview)
        self.streaming_section = StreamingSection(self.model.selection, self._change)
        self.lag_section = LagSection(self._change)
        self.input_section = InputSection(self.model, self._change)
        self.output_section = OutputSection(self.model, self._change)
        self.controls = ControlsBar(
            on_start=lambda: self._spawn(self.start()), on_stop=lambda: self._spawn(self.stop())
        )
        self.widget = self._layout()
        self._refresh()
        self._add_browser_widgets(self.model.selection)
        self._update_status()
        if self.model.options.voices_loading:
            self._load_voices_soon()

    def _layout(self) -> widgets.VBox:
        w = widgets
        settings = w.VBox(
            [
                _heading("Engines"), self.engines_section.widget,
                _heading("Languages and voice"), self.voice_section.widget,
                _heading("Streaming"), self.streaming_section.widget,
                _heading("Lag control"), self.lag_section.widget,
                _heading("Input"), self.input_section.widget, self.output_section.widget,
                self.controls.problems,
            ]
        )  # fmt: skip
        live = w.HBox(
            [
                w.VBox([_heading("Transcripts → translations"), self.feed.widget, self.captions_box], layout=w.Layout(width="45%")),
                w.VBox([_heading("Latency"), self.chart.widget], layout=w.Layout(width="55%", margin="0 0 0 10px")),
            ]
        )  # fmt: skip
        panel = w.VBox(
            [
                w.HTML("<h3 style='margin:4px 0'>s2st_kit — speech-to-speech translation</h3>"),
                settings, self.controls.widget, live, _heading("Results"), self.results.widget,
            ],
            layout=w.Layout(border="1px solid #ccc", padding="6px 12px", width="100%"),
        )  # fmt: skip
        panel.add_class("s2st-panel")
        return panel

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- choices ----------------------------------------------------------------------------
    def set(self, **changes: Any) -> Selection:
        """Change settings from code (``panel.set(asr="simulated", chunk_ms=200)``);
        returns the corrected selection. The widgets follow."""
        return self._change(**changes)

    def _change(self, **changes: Any) -> Selection:
        sel = self.model.update(**changes)
        self.runner.forget_refusal()  # the refusal was about the settings before this change
        self._refresh()
        if self.model.options.voices_loading:
            self._load_voices_soon()
        self._add_browser_widgets(sel)
        return sel

    def _add_browser_widgets(self, sel: Selection) -> None:
        """Create the browser microphone / speaker widget when first chosen."""
        runner, inputs = self.runner, self.model.inputs
        if sel.input_kind == "browser" and runner.browser_microphone is None:
            mic, problem = inputs.browser_widget(  # its own buttons hidden: Start drives it
                "BrowserMicrophone", chunk_ms=sel.chunk_ms, show_buttons=False
            )
            runner.browser_microphone = mic
            self._show_note(problem)
        if sel.output_kind == "browser" and runner.browser_speaker is None:
            runner.browser_speaker, problem = inputs.browser_widget("BrowserSpeaker")
            self._show_note(problem)
        mic, speaker = runner.browser_microphone, runner.browser_speaker
        self.input_section.browser_box.children = [self.input_section.mic_help, mic] if mic else []
        self.output_section.speaker_box.children = [speaker] if speaker is not None else []
        if speaker is not None and self.captions is None:  # live captions on its playback clock
            from .captions_widget import live_captions

            self.captions = live_captions(speaker)
            self.captions_box.children = [self.captions] if self.captions is not None else []

    def _load_voices_soon(self) -> None:
        """Load the synthesizer's remote voice catalogue in the background (without a
        running event loop, e.g. in a plain script, the voices stay unlisted)."""
        self._tasks.spawn(self._load_voices())

    async def _load_voices(self) -> None:
        await self.model.load_voices()
        self._refresh()

    def _refresh(self) -> None:
        """Push the model's selection and options into the widgets."""
        sel, opt = self.model.selection, self.model.options
        for section in (
            self.engines_section, self.voice_section, self.streaming_section,
            self.lag_section, self.input_section, self.output_section,
        ):  # fmt: skip
            section.refresh(sel, opt)
        self.controls.show_problems(opt.problems, opt.hints)

    # -- sessions ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a session is running (or starting / stopping)."""
        return self.runner.running

    @property
    def pipeline(self) -> Pipeline | None:
        """The last session's pipeline (``None`` before the first session)."""
        return self.runner.pipeline

    @property
    def log(self) -> SegmentLog | None:
        """The last session's segment log (``None`` before the first session)."""
        return self.pipeline.log if self.pipeline is not None else None

    @property
    def last_error(self) -> str | None:
        """The last error shown in the status line."""
        return self.runner.last_error

    @property
    def guard(self) -> Any:
        """The last session's EchoGuard, if one was used."""
        return self.runner.guard

    @property
    def echo_guard(self) -> bool:
        """Mute a live input while the translation plays through a loudspeaker (default True)."""
        return self.runner.echo_guard

    @echo_guard.setter
    def echo_guard(self, value: bool) -> None:
        self.runner.echo_guard = value

    def dataframe(self) -> pd.DataFrame:
        """The last session's segments as a DataFrame (with derived latency columns)."""
        log = self.log if self.log is not None else SegmentLog()
        frame: pd.DataFrame = log.to_pandas()
        return frame

    def translated_audio(self, listener: str | None = None) -> bytes | None:
        """The last session's translated speech as WAV bytes (``None`` if none was played
        into memory). listener: an extra target's code (``"fr"``) for what it heard;
        ``None`` (default): the first target's, played on the "no device" output."""
        runner = self.runner
        sink = runner.sink if listener is None else runner.extra_sinks.get(listener)
        if sink is None and listener == self.model.selection.target_lang:
            sink = runner.sink
        if sink is None or not sink.chunks or not sink.sample_rate:
            return None
        return pcm_to_wav(b"".join(c.pcm for c in sink.chunks), sink.sample_rate)

    async def start(self) -> Pipeline | None:
        """Start a session with the current settings; returns its Pipeline (``None`` and
        the reason in the status line if it could not start)."""
        if not self.running:
            self.controls.show_running(True)
        subscribers = [self.feed.handle, self.chart.handle]
        if self.captions is not None and self.model.selection.output_kind == "browser":
            subscribers.append(self.captions.feed.handle)
        pipe = await self.runner.start(subscribers, on_open=self._clear_views)
        self.controls.show_running(self.running)
        return pipe

    def _clear_views(self) -> None:
        """A session opened: clear the last one's views (a refused Start keeps them)."""
        self.feed.reset()
        self.chart.reset()
        self.results.reset()
        config = self.model.config()  # what the session gets: the lag chart draws its target
        self.chart.max_lag_s, self.chart.max_speedup = config.max_lag_s, config.max_speedup
        self.chart.set_listeners(self.model.selection.targets)
        self.feed.set_listeners(self.model.selection.targets)
        if self.captions is not None:  # the first target is the one the browser speaker plays
            self.captions.feed.listener = self.model.selection.target_lang
            self.captions.feed.reset()

    async def stop(self, *, drain: bool = True) -> SegmentLog | None:
        """Stop the running session (``drain``: finish what was already heard) and wait
        until its results are shown; returns its log. An error while stopping is shown in
        the status line (and logged)."""
        if self.running:
            self.controls.stop_button.disabled = True
        return await self.runner.stop(drain=drain)

    async def wait(self) -> SegmentLog | None:
        """Wait for the running session to end (and its results to be shown)."""
        return await self.runner.wait()

    async def run(self) -> SegmentLog | None:
        """Start a session and wait for it to end (the source ends or Stop is pressed)."""
        if await self.start() is None:
            return None
        return await self.wait()

    async def preview(self, text: str | None = None) -> bytes | None:
        """Speak ``text`` (default: a sample sentence in the target language) with the chosen
        voice and play it in the panel; returns the WAV bytes."""
        button = self.voice_section.preview_button
        button.disabled = True
        try:
            wav = await self.model.preview(text)
        except Exception as exc:
            self.runner.fail(exc, keep_state=True, doing="preview")
            return None
        finally:
            button.disabled = not self.model.options.voices
        if wav is not None:
            self.voice_section.show_preview(wav)
        return wav

    async def aclose(self) -> None:
        """Stop a running session and close the engines the panel created."""
        if self.running:
            await self.stop(drain=False)
        await self.model.engines.aclose()

    # -- internals ----------------------------------------------------------------------------
    async def _show_results(self, pipe: Pipeline) -> None:
        self.feed.flush()
        self.controls.show_running(False)
        df = pipe.log.to_pandas()
        await self.chart.draw()
        names = [b.name for b in pipe.branches]
        extra = self.runner.extra_sinks
        listeners = [(n, self.translated_audio(n) if n in extra else None) for n in names]
        self.results.show(
            df, wav=self.translated_audio(), max_lag_s=pipe.config.max_lag_s,
            listeners=listeners if len(names) > 1 else (),
        )  # fmt: skip

    def _show_note(self, note: str | None) -> None:
        self.runner.note = note
        self._update_status()

    def _update_status(self) -> None:
        self.controls.status.value = status_html(**asdict(self.runner.status_line()))

    def _spawn_preview(self) -> None:
        self._spawn(self.preview())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` on the panel's loop (from a widget callback, on whatever loop or thread
        the kernel runs it); without any loop, say so."""
        if not self._tasks.spawn(coro):
            self._show_note("no running event loop: use this panel in a Jupyter kernel")
