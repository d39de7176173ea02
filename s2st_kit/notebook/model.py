"""The control panel's logic, in plain Python (no widgets): testable without a browser.

* :class:`EngineCatalog` knows which engines exist (the registry's bundles,
  :data:`s2st_kit.engines.BUNDLES`) and what they can do. It answers from one *probe*
  instance per (stage, engine, options) created on first use; an engine that cannot be
  created (missing package, no credentials) is reported as unavailable with the reason.
* :class:`InputCatalog` lists the inputs and outputs: sample clips from ``data/`` (and
  LibriVox), the local microphone and speaker (:mod:`s2st_kit.audio.devices`) and the
  browser microphone and speaker (:mod:`s2st_kit.notebook.browser_audio`), imported lazily;
  a missing module or device makes the option unavailable with the reason.
* :class:`PanelModel` holds the user's choices and recomputes the valid options whenever
  an engine or language changes: source languages the recognizer hears *and* the
  translator translates from, targets the translator reaches *and* the synthesizer speaks,
  voices of the synthesizer for the target (and for each extra target of a fan-out
  session, :mod:`.targets`), and the engine-specific settings of
  :data:`ENGINE_SETTINGS` (Polly's engine, for the AWS synthesizer). Lag control's target
  applies only when the input is live or a file played in real time
  (:meth:`PanelModel.lag_target`; ``options.lag_off_reason`` says why not), as in
  ``s2st run``.
* :class:`~.session.SessionRunner` (in :mod:`.session`) runs one session at a time: it
  opens the input and the output, starts the pipeline and stops it. A failed start closes
  what it opened; an error while stopping is logged and shown, never swallowed.

Vendor knowledge lives in two tables here, :data:`ENGINE_SETTINGS` and
:data:`CREDENTIAL_CHECKS`; everything else asks the registry or the capability Protocols of
:mod:`s2st_kit.engines.protocols`. The widgets in :mod:`s2st_kit.notebook.panel` are thin
views over these objects.
"""

from __future__ import annotations

import importlib
import inspect
import io
import logging
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from ..config import POLICIES, PipelineConfig, PolicyName, Stability
from ..datasets import Clip, data_dir, find_clip, librivox_clips, load_manifest
from ..engines import BUNDLES, STAGES, Engines, create_stage
from ..engines.protocols import AudioSink, AudioSource, SupportsVoiceCatalogue
from ..engines.simulated import ClipEngines, aengines_for_clip
from ..errors import ConfigError, S2STError
from ..lag import LIVE_MAX_LAG_S, CatchUp, check_lag_settings
from ..records import Voice
from .hints import STABILITY_BUNDLES, input_file, input_file_problem, setting_hints
from .targets import ExtraTargets, normalize_target_changes, resolve_extra_targets

if TYPE_CHECKING:
    pass

__all__ = [
    "CREDENTIAL_CHECKS",
    "ENGINE_NAMES",
    "ENGINE_SETTINGS",
    "LANGUAGE_NAMES",
    "SAMPLE_SENTENCES",
    "Availability",
    "EngineCatalog",
    "EngineSetting",
    "InputCatalog",
    "InputKind",
    "OutputKind",
    "PanelModel",
    "PanelOptions",
    "Selection",
    "SessionState",
    "aws_credentials_problem",
    "language_label",
    "pcm_to_wav",
]

logger = logging.getLogger(__name__)

#: Engine bundles offered per stage, in display order: the registry's names.
ENGINE_NAMES: tuple[str, ...] = tuple(BUNDLES)

#: Readable names of ISO 639-1 codes (others show the code).
LANGUAGE_NAMES: dict[str, str] = {
    "auto": "detect automatically", "ar": "Arabic", "ca": "Catalan", "cs": "Czech",
    "da": "Danish", "de": "German", "el": "Greek", "en": "English", "eo": "Esperanto",
    "es": "Spanish", "fi": "Finnish", "fr": "French", "gl": "Galician", "hi": "Hindi",
    "it": "Italian", "ja": "Japanese", "ko": "Korean", "nl": "Dutch", "no": "Norwegian",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sv": "Swedish",
    "tr": "Turkish", "uk": "Ukrainian", "zh": "Chinese",
}  # fmt: skip

#: What the voice preview says, per target language (English otherwise).
SAMPLE_SENTENCES: dict[str, str] = {
    "en": "Hello! This is how I sound when I read your translations.",
    "es": "¡Hola! Así sueno cuando leo sus traducciones.",
    "fr": "Bonjour ! Voici ma voix quand je lis vos traductions.",
    "de": "Hallo! So klinge ich, wenn ich Ihre Übersetzungen vorlese.",
    "it": "Ciao! Ecco come suono quando leggo le tue traduzioni.",
    "pt": "Olá! É assim que eu soo quando leio as suas traduções.",
    "ca": "Hola! Així sono quan llegeixo les vostres traduccions.",
    "gl": "Ola! Así soo cando leo as túas traducións.",
    "eo": "Saluton! Tiel mi sonas kiam mi legas viajn tradukojn.",
    "nl": "Hallo! Zo klink ik wanneer ik uw vertalingen voorlees.",
    "ja": "こんにちは。翻訳を読み上げるときの声です。",
    "zh": "你好！这是我朗读翻译时的声音。",
}

#: Where speech comes from: a file, the local microphone, the browser's microphone.
InputKind = Literal["file", "microphone", "browser"]
#: Where the translation goes: memory at the input's pace, the local speaker, the browser's.
OutputKind = Literal["paced", "speaker", "browser"]
#: The panel's session states: the pipeline's, plus ``starting`` while a session opens and
#: ``finished`` for a session that ended by itself (``stopped``: the user pressed Stop).
SessionState = Literal["idle", "starting", "running", "stopping", "stopped", "finished", "failed"]

INPUT_KINDS: tuple[InputKind, ...] = get_args(InputKind)
OUTPUT_KINDS: tuple[OutputKind, ...] = get_args(OutputKind)
STABILITIES: tuple[Stability, ...] = get_args(Stability)
SESSION_STATES: tuple[SessionState, ...] = get_args(SessionState)
INPUT_LABELS: dict[str, str] = {
    "file": "file",
    "microphone": "local microphone",
    "browser": "browser microphone",
}
OUTPUT_LABELS: dict[str, str] = {
    "paced": "no device (timed, kept in memory)",
    "speaker": "local speaker",
    "browser": "browser speaker",
}
#: Pacing of file input: label → speed factor (0 = as fast as the pipeline consumes).
PACES: dict[str, float] = {"real time": 1.0, "2× real time": 2.0, "4× real time": 4.0,
                           "as fast as possible": 0.0}  # fmt: skip


def language_label(code: str) -> str:
    """``"es"`` → ``"Spanish (es)"``."""
    name = LANGUAGE_NAMES.get(code)
    return f"{name} ({code})" if name else code


def pcm_to_wav(pcm: bytes, sample_rate: int) -> bytes:
    """Mono 16-bit PCM bytes at ``sample_rate`` (Hz) → a WAV file's bytes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm)
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether an option can be chosen; ``reason`` says why not (one line)."""

    name: str
    available: bool
    reason: str | None = None


def aws_credentials_problem() -> str | None:
    """``None`` when boto3 finds AWS credentials, else why not (never shows a secret).

    Uses the standard chain (environment, shared files, SSO, roles); blocking but local
    (well under a second without a metadata service).
    """
    try:
        import boto3
    except ImportError:
        return "boto3 is not installed: pip install 's2st_kit[aws]'"
    try:
        creds = boto3.Session().get_credentials()
    except Exception as exc:  # a broken profile or config file
        return f"AWS configuration error: {type(exc).__name__}: {exc}"
    if creds is None:
        return (
            "no AWS credentials found (environment, ~/.aws, SSO or a role); "
            "see notebooks/06_aws.ipynb"
        )
    return None


#: Per bundle: a check run once before its engines are offered (``None`` = usable, else why not).
CREDENTIAL_CHECKS: dict[str, Callable[[], str | None]] = {"aws": aws_credentials_problem}


@dataclass(frozen=True, slots=True)
class EngineSetting:
    """A setting one bundle's engine takes beyond the panel's common ones.

    bundle / stage: where it applies (e.g. ``"aws"`` / ``"tts"``).
    selection_field: the :class:`Selection` field holding the choice (its default is the
        default choice). keyword: the factory keyword the choice is passed as.
    label: the widget's label. choices_from: ``"module:attribute"`` naming the engine
        module's tuple of allowed values, imported when the setting is offered, so that the
        engine module stays the one place that lists them.
    """

    bundle: str
    stage: str
    selection_field: str
    keyword: str
    label: str
    choices_from: str

    def choices(self) -> tuple[str, ...]:
        """The allowed values (``()`` when the engine module cannot be imported)."""
        module_name, _, attribute = self.choices_from.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return ()
        return tuple(getattr(module, attribute))


#: The one place that knows engine-specific settings: Polly's engine for AWS synthesis.
ENGINE_SETTINGS: tuple[EngineSetting, ...] = (
    EngineSetting(
        bundle="aws", stage="tts", selection_field="polly_engine", keyword="engine",
        label="Polly", choices_from="s2st_kit.engines.aws.polly:ENGINES",
    ),
)  # fmt: skip


Factory = Callable[..., Any]
_Key = tuple[str, str, tuple[tuple[str, Any], ...]]


class EngineCatalog:
    """Availability and capabilities of the engines, from one probe instance per stage/engine.

    options: per-bundle keyword options for the engine factories, as for
        :meth:`Engines.create` (e.g. ``{"aws": {"region": "eu-west-1"}}``).
    factory: ``factory(stage, name, **options)`` creating an engine (default
        :func:`s2st_kit.engines.create_stage`; tests pass fakes).
    credential_checks: per bundle, returns ``None`` when its engines can be used, else the
        reason; asked once per bundle (default :data:`CREDENTIAL_CHECKS`; ``{}``: none).
    names: engine names offered (default: the registry's bundles, :data:`BUNDLES`).

    Probe instances are reused for sessions (the pipeline never closes engines), so the
    panel reads nothing per-session from them; :meth:`aclose` closes them.
    ``tts_options`` below are the synthesizer's factory keywords from :data:`ENGINE_SETTINGS`.
    """

    def __init__(
        self,
        *,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        factory: Factory = create_stage,
        credential_checks: Mapping[str, Callable[[], str | None]] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        self.options = {k: dict(v) for k, v in (options or {}).items()}
        self.factory = factory
        checks = CREDENTIAL_CHECKS if credential_checks is None else credential_checks
        self.credential_checks = dict(checks)
        self.names = tuple(BUNDLES) if names is None else tuple(names)
        self._engines: dict[_Key, Any] = {}
        self._errors: dict[tuple[str, str], str] = {}
        self._credential_problems: dict[str, str | None] = {}
        self._catalogue_loaded: set[int] = set()

    def _credentials_problem(self, name: str) -> str | None:
        check = self.credential_checks.get(name)
        if check is None:
            return None
        if name not in self._credential_problems:
            self._credential_problems[name] = check()
        return self._credential_problems[name]

    def availability(self, stage: str, name: str) -> Availability:
        """Can ``name`` serve ``stage``? Creates the probe engine on first use."""
        if name not in BUNDLES:
            return Availability(name, False, f"unknown engine {name!r}")
        problem = self._credentials_problem(name)
        if problem:
            return Availability(name, False, problem)
        try:
            self.get(stage, name)
        except Exception as exc:
            return Availability(name, False, _one_line(exc))
        return Availability(name, True)

    def get(self, stage: str, name: str, **extra: Any) -> Any:
        """The probe engine for ``stage``/``name`` (created once per ``extra`` options)."""
        key = (stage, name, tuple(sorted(extra.items())))
        if key in self._engines:
            return self._engines[key]
        if (stage, name) in self._errors and not extra:
            raise ConfigError(self._errors[(stage, name)])
        try:
            engine = self.factory(stage, name, **{**self.options.get(name, {}), **extra})
        except Exception as exc:
            if not extra:
                self._errors[(stage, name)] = _one_line(exc)
            raise
        self._engines[key] = engine
        return engine

    # -- capabilities -----------------------------------------------------------------
    def source_languages(self, asr: str, mt: str) -> list[str]:
        """Codes the recognizer hears and the translator translates from (sorted)."""
        heard = set(self.get("asr", asr).languages())
        from_ = {a for a, _ in self.get("mt", mt).pairs()}
        return sorted(heard & from_, key=_lang_order)

    def target_languages(
        self, mt: str, tts: str, source: str, *, tts_options: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Codes the translator reaches from ``source`` and the synthesizer has a voice for."""
        reach = {b for a, b in self.get("mt", mt).pairs() if a == source}
        if not self.catalogue_ready(tts, tts_options=tts_options):
            return sorted(reach, key=_lang_order)
        return sorted((t for t in reach if self.voices(tts, t, tts_options=tts_options)),
                      key=_lang_order)  # fmt: skip

    def voices(
        self, tts: str, language: str, *, tts_options: Mapping[str, Any] | None = None
    ) -> list[Voice]:
        """The synthesizer's voices for ``language`` ([] while a remote catalogue is loading)."""
        if not self.catalogue_ready(tts, tts_options=tts_options):
            return []
        try:
            return list(self.get("tts", tts, **(tts_options or {})).voices(language))
        except S2STError:
            return []

    def default_voice(
        self,
        tts: str,
        language: str,
        voices: Sequence[Voice],
        *,
        tts_options: Mapping[str, Any] | None = None,
    ) -> str | None:
        """The engine's default for ``language`` if it is among ``voices``, else the first."""
        if not voices:
            return None
        try:
            default = self.get("tts", tts, **(tts_options or {})).default_voice(language)
        except S2STError:
            default = None
        ids = [v.id for v in voices]
        return default if default in ids else ids[0]

    def catalogue_ready(self, tts: str, *, tts_options: Mapping[str, Any] | None = None) -> bool:
        """False while a synthesizer with a remote voice catalogue has not loaded it."""
        synth = self.get("tts", tts, **(tts_options or {}))
        return not isinstance(synth, SupportsVoiceCatalogue) or id(synth) in self._catalogue_loaded

    async def load_catalogue(
        self, tts: str, *, tts_options: Mapping[str, Any] | None = None
    ) -> None:
        """Fetch a remote voice catalogue off the event loop (no-op for local engines)."""
        synth = self.get("tts", tts, **(tts_options or {}))
        if not isinstance(synth, SupportsVoiceCatalogue) or id(synth) in self._catalogue_loaded:
            return
        await synth.load_voices()
        self._catalogue_loaded.add(id(synth))

    async def aclose(self) -> None:
        """Close every probe engine (each once)."""
        engines, self._engines = list(self._engines.values()), {}
        self._catalogue_loaded.clear()
        seen: set[int] = set()
        for engine in engines:
            if id(engine) not in seen:
                seen.add(id(engine))
                await engine.aclose()


def _lang_order(code: str) -> tuple[int, str]:
    return (0 if code == "en" else 1 if code == "auto" else 2, code)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- inputs


class InputCatalog:
    """Where speech can come from and go to: sample clips, local devices, the browser.

    devices_module / browser_module: import paths of the live-audio modules (imported
    lazily; tests point them elsewhere). Sessions open devices through the same modules.
    """

    def __init__(
        self,
        *,
        devices_module: str = "s2st_kit.audio.devices",
        browser_module: str = "s2st_kit.notebook.browser_audio",
    ) -> None:
        self.devices_module = devices_module
        self.browser_module = browser_module

    def clips(self) -> list[Clip]:
        """Manifest clips from ``data/`` then the LibriVox clips (if installed)."""
        try:
            clips = load_manifest()
        except ConfigError:
            clips = []
        return clips + librivox_clips()

    def microphones(self) -> tuple[list[Any], str | None]:
        """(input devices, None) or ([], why the local microphone cannot be used)."""
        return self._devices("max_input_channels", "no input device")

    def speakers(self) -> tuple[list[Any], str | None]:
        """(output devices, None) or ([], why the local speaker cannot be used)."""
        return self._devices("max_output_channels", "no output device")

    def _devices(self, channels: str, none_found: str) -> tuple[list[Any], str | None]:
        try:
            devices = importlib.import_module(self.devices_module)
        except ImportError as exc:
            return [], f"module {self.devices_module} is not available ({exc})"
        try:
            found = [d for d in devices.list_devices() if getattr(d, channels, 0) > 0]
        except Exception as exc:  # PortAudio / PyAudio missing
            return [], _one_line(exc)
        if not found:
            return [], f"{none_found} (no sound card on this machine)"
        return found, None

    def open_microphone(self, device: int | None, *, chunk_ms: int) -> AudioSource:
        """The local microphone as an AudioSource (blocking: run it in a thread)."""
        source: AudioSource = importlib.import_module(self.devices_module).MicrophoneSource(
            device, chunk_ms=chunk_ms
        )
        return source

    def open_speaker(self) -> AudioSink:
        """The default local speaker as an AudioSink (blocking: run it in a thread)."""
        sink: AudioSink = importlib.import_module(self.devices_module).SpeakerSink()
        return sink

    def browser(self, widget: str = "BrowserMicrophone") -> tuple[Any, str | None]:
        """(the browser-audio module, None) or (None, why ``widget`` cannot be used)."""
        try:
            module = importlib.import_module(self.browser_module)
        except ImportError as exc:
            return None, f"module {self.browser_module} is not available ({exc})"
        if not hasattr(module, widget):
            return None, f"{self.browser_module} has no {widget}"
        return module, None

    def browser_widget(self, name: str, **kwargs: Any) -> tuple[Any, str | None]:
        """(a new ``name`` widget, None) or (None, why not); ``kwargs`` it does not take are
        left out (a stand-in module may take fewer)."""
        module, problem = self.browser(name)
        if module is None:
            return None, problem
        factory = getattr(module, name)
        try:
            params = inspect.signature(factory).parameters
        except (TypeError, ValueError):
            params = inspect.Signature().parameters
        if "kwargs" not in params:
            kwargs = {k: v for k, v in kwargs.items() if k in params}
        return factory(**kwargs), None


# --------------------------------------------------------------------------- choices


@dataclass(frozen=True, slots=True)
class Selection:
    """Everything the user chose. Units: ``chunk_ms`` in milliseconds, ``pace`` a speed
    factor (1.0 = real time, 0 = as fast as possible).

    asr / mt / tts: engine names from the registry (``"offline"`` default).
    input_kind: ``"file"``, ``"microphone"`` or ``"browser"``; input_path: the file (a data/
    clip or any path); mic_device: a device index (``None`` = default input).
    output_kind: where the translated speech goes: ``"paced"`` (no device: played into
    memory at the input's pace — real time unless ``pace`` says otherwise — so timings are
    realistic), ``"speaker"`` or ``"browser"``.
    polly_engine: Polly's engine when the synthesizer is AWS (``"neural"`` default); see
    :data:`ENGINE_SETTINGS`.
    max_lag_s / max_speedup / catch_up: lag control (:class:`~s2st_kit.config.PipelineConfig`):
    the target (s; ``None`` = off; default 3 s, as ``s2st run`` for live use), the fastest
    playback (× natural speed, default 1.5) and ``"speed+skip"`` or ``"speed"``. The target
    applies only when the input is live or a file played in real time
    (:meth:`PanelModel.lag_target`).
    extra_targets: more target languages (ISO 639-1 codes) besides ``target_lang``, the
    primary one (a fan-out session, :mod:`.targets`: the primary plays on the chosen output,
    the others into memory); extra_voices: ``((target, voice id), …)`` for them (default:
    the synthesizer's default voice per language).
    """

    asr: str = "offline"
    mt: str = "offline"
    tts: str = "offline"
    source_lang: str = "en"
    target_lang: str = "es"
    voice: str | None = None
    polly_engine: str = "neural"
    chunk_ms: int = 100
    policy: PolicyName = "final"
    stability: Stability = "high"
    input_kind: InputKind = "file"
    input_path: str | None = None
    mic_device: int | None = None
    pace: float = 1.0
    output_kind: OutputKind = "paced"
    max_lag_s: float | None = LIVE_MAX_LAG_S
    max_speedup: float = PipelineConfig().max_speedup
    catch_up: CatchUp = PipelineConfig().catch_up
    extra_targets: tuple[str, ...] = ()
    extra_voices: tuple[tuple[str, str], ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        """Every target language, the primary one first."""
        return (self.target_lang, *self.extra_targets)


@dataclass(frozen=True, slots=True)
class PanelOptions:
    """The choices the UI offers for the current selection (``(label, value)`` pairs).

    engine_settings: per :class:`Selection` field of an :data:`ENGINE_SETTINGS` entry that
    applies to the chosen engines, its allowed values.
    lag_off_reason: why lag control is off although a target is chosen (the input is not
        paced in real time), else ``None``.
    clips: the sample clips, then the chosen file when it is not one of them (labelled
        with its name), so the Clip list always shows what Start reads; clip_value: the
        option that is the chosen file (``None`` when it does not exist).
    problems: what stops a session from starting (an unavailable engine, a file that does
        not exist); hints: choices that run but give nonsense (:mod:`.hints`).
    stability_ignored: why the Stability setting does nothing with the chosen recognizer
        (``None``: it is used).
    extra_targets: the targets "Also into" offers (every valid target but the primary);
    extra_voices: per chosen extra target, its voices.
    """

    engines: dict[str, list[Availability]] = field(default_factory=dict)
    source_langs: list[tuple[str, str]] = field(default_factory=list)
    target_langs: list[tuple[str, str]] = field(default_factory=list)
    voices: list[tuple[str, str]] = field(default_factory=list)
    engine_settings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    inputs: list[Availability] = field(default_factory=list)
    outputs: list[Availability] = field(default_factory=list)
    clips: list[tuple[str, str]] = field(default_factory=list)
    clip_value: str | None = None
    microphones: list[tuple[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    stability_ignored: str | None = None
    voices_loading: bool = False
    lag_off_reason: str | None = None
    extra_targets: list[tuple[str, str]] = field(default_factory=list)
    extra_voices: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Languages:
    """One step of :meth:`PanelModel.update`: languages and voices valid for the engines."""

    sources: list[str]
    targets: list[str]
    voices: list[Voice]
    loading: bool
    extras: ExtraTargets = field(default_factory=lambda: ExtraTargets({}, []))


class PanelModel:
    """The panel's choices and the options valid for them.

    engines: an :class:`EngineCatalog` (default: the real engines).
    inputs: an :class:`InputCatalog`.
    selection: initial choices; invalid ones are corrected (e.g. an unavailable engine
        falls back to the first available one).

    ``update(**changes)`` applies changes and returns the corrected :class:`Selection`;
    ``options`` is the matching :class:`PanelOptions`; ``config()`` the PipelineConfig;
    ``build_engines()`` a session's engines.
    """

    def __init__(
        self,
        engines: EngineCatalog | None = None,
        inputs: InputCatalog | None = None,
        selection: Selection | None = None,
    ) -> None:
        self.engines = engines or EngineCatalog()
        self.inputs = inputs or InputCatalog()
        self._clips = self.inputs.clips()
        self._clip_paths = {_resolved(c.path): c for c in self._clips}
        self._mics, mic_problem = self.inputs.microphones()
        _, browser_problem = self.inputs.browser()
        _, speaker_problem = self.inputs.speakers()
        _, browser_out_problem = self.inputs.browser("BrowserSpeaker")
        self._inputs = _availabilities(
            ("file", None), ("microphone", mic_problem), ("browser", browser_problem)
        )
        self._outputs = _availabilities(
            ("paced", None), ("speaker", speaker_problem), ("browser", browser_out_problem)
        )
        self._availability = {
            stage: [self.engines.availability(stage, n) for n in self.engines.names]
            for stage in STAGES
        }
        start = selection or Selection()
        if start.input_path is None and self._clips:
            start = replace(start, input_path=str(self._clips[0].path))
        self.selection = start
        self.options = PanelOptions()
        self.update()

    # -- queries ------------------------------------------------------------------------
    @property
    def clips(self) -> list[Clip]:
        """Sample clips offered as file input."""
        return list(self._clips)

    def chosen_clip(self, selection: Selection | None = None) -> Clip | None:
        """The sample clip the chosen file is (``None``: another file, or a live input)."""
        sel = selection or self.selection
        path = input_file(sel.input_path) if sel.input_kind == "file" else None
        return self._clip_paths.get(_resolved(path)) if path is not None else None

    def available(self, stage: str, name: str) -> Availability:
        """Availability of engine ``name`` for ``stage``."""
        for a in self._availability[stage]:
            if a.name == name:
                return a
        return Availability(name, False, f"unknown engine {name!r}")

    def input_availability(self) -> list[Availability]:
        """File, local microphone and browser microphone, with reasons when unusable."""
        return list(self._inputs)

    def output_availability(self) -> list[Availability]:
        """Paced memory sink, local speaker and browser speaker, with reasons when unusable."""
        return list(self._outputs)

    def engine_settings(self, selection: Selection | None = None) -> list[EngineSetting]:
        """The :data:`ENGINE_SETTINGS` entries that apply to the chosen engines."""
        sel = selection or self.selection
        return [s for s in ENGINE_SETTINGS if _engine(sel, s.stage) == s.bundle]

    def engine_options(self, stage: str, selection: Selection | None = None) -> dict[str, Any]:
        """Factory keywords of ``stage``'s engine from its settings (``{"engine": "neural"}``)."""
        sel = selection or self.selection
        return {
            s.keyword: getattr(sel, s.selection_field)
            for s in self.engine_settings(sel)
            if s.stage == stage
        }

    # -- changes ------------------------------------------------------------------------
    def update(self, **changes: Any) -> Selection:
        """Apply ``changes`` (Selection fields), correct what became invalid, recompute options.

        ``max_lag_s=0`` means off (``None``), as ``s2st run --max-lag 0`` does."""
        unknown = set(changes) - set(Selection.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown panel setting(s): {', '.join(sorted(unknown))}")
        if changes.get("max_lag_s", None) == 0:
            changes["max_lag_s"] = None
        sel = replace(self.selection, **normalize_target_changes(changes))
        _check_closed_sets(sel)
        problems: list[str] = []
        sel = self._usable_engines(sel, problems)
        sel = self._valid_engine_settings(sel)
        sel, langs = self._languages(sel, problems)
        sel = self._usable_input_output(sel)
        if sel.input_kind == "file" and (problem := input_file_problem(sel.input_path)):
            problems.append(problem)
        self.selection = sel
        self.options = self._options(sel, langs, problems)
        return sel

    def _usable_engines(self, sel: Selection, problems: list[str]) -> Selection:
        """An unavailable engine falls back to the first available one (with a problem note)."""
        fixes: dict[str, Any] = {}
        for stage in STAGES:
            name = _engine(sel, stage)
            chosen = self.available(stage, name)
            if chosen.available:
                continue
            usable = [a.name for a in self._availability[stage] if a.available]
            if not usable:
                raise ConfigError(f"no engine is available for stage {stage!r}")
            problems.append(f"{stage}: {name} is unavailable ({chosen.reason}); using {usable[0]}")
            fixes[stage] = usable[0]
        return replace(sel, **fixes)

    def _valid_engine_settings(self, sel: Selection) -> Selection:
        """A setting outside its engine's allowed values goes back to its default."""
        fixes: dict[str, Any] = {}
        for setting in self.engine_settings(sel):
            allowed = setting.choices()
            if allowed and getattr(sel, setting.selection_field) not in allowed:
                fixes[setting.selection_field] = getattr(Selection(), setting.selection_field)
        return replace(sel, **fixes)

    def _languages(self, sel: Selection, problems: list[str]) -> tuple[Selection, _Languages]:
        """Source and target languages both engines support, and the target's voices."""
        catalog, tts_options = self.engines, self.engine_options("tts", sel)
        sources = catalog.source_languages(sel.asr, sel.mt)
        if not sources:
            problems.append(
                f"{sel.asr} (speech recognition) and {sel.mt} (translation) share no source language"
            )
            return sel, _Languages([], [], [], False)
        if sel.source_lang not in sources:
            sel = replace(sel, source_lang=_prefer(sources, ("en",)))
        targets = catalog.target_languages(
            sel.mt, sel.tts, sel.source_lang, tts_options=tts_options
        )
        if not targets:
            problems.append(
                f"no target language: {sel.mt} reaches none from {sel.source_lang} that {sel.tts} can speak"
            )
            return sel, _Languages(sources, [], [], False)
        if sel.target_lang not in targets:
            sel = replace(sel, target_lang=_prefer(targets, ("es", "en")))
        voices = catalog.voices(sel.tts, sel.target_lang, tts_options=tts_options)
        if sel.voice not in [v.id for v in voices]:
            default = catalog.default_voice(
                sel.tts, sel.target_lang, voices, tts_options=tts_options
            )
            sel = replace(sel, voice=default)
        loading = not catalog.catalogue_ready(sel.tts, tts_options=tts_options)
        sel, extras = resolve_extra_targets(
            catalog, sel, targets, tts_options=tts_options, label=language_label
        )
        return sel, _Languages(sources, targets, voices, loading, extras)

    def _usable_input_output(self, sel: Selection) -> Selection:
        """Unusable inputs fall back to the file, outputs to memory; a default microphone."""
        if not _find(self._inputs, sel.input_kind).available:
            sel = replace(sel, input_kind="file")
        if not _find(self._outputs, sel.output_kind).available:
            sel = replace(sel, output_kind="paced")
        if sel.input_kind == "microphone" and sel.mic_device is None and self._mics:
            default = next(
                (d for d in self._mics if getattr(d, "is_default_input", False)), self._mics[0]
            )
            sel = replace(sel, mic_device=int(default.index))
        return sel

    def _options(self, sel: Selection, langs: _Languages, problems: list[str]) -> PanelOptions:
        return PanelOptions(
            engines={s: list(v) for s, v in self._availability.items()},
            source_langs=[(language_label(c), c) for c in langs.sources],
            target_langs=[(language_label(c), c) for c in langs.targets],
            voices=[(_voice_label(v), v.id) for v in langs.voices],
            engine_settings={s.selection_field: s.choices() for s in self.engine_settings(sel)},
            inputs=self.input_availability(),
            outputs=self.output_availability(),
            clips=(clips := self._clip_options(sel))[0],
            clip_value=clips[1],
            microphones=[(f"{d.index}: {d.name}", int(d.index)) for d in self._mics],
            problems=problems,
            hints=langs.extras.left_out
            + setting_hints(sel, self.chosen_clip(sel), language_name=LANGUAGE_NAMES),
            stability_ignored=_stability_ignored(sel),
            voices_loading=langs.loading,
            lag_off_reason=_unpaced_reason(sel) if sel.max_lag_s is not None else None,
            extra_targets=[(language_label(c), c) for c in langs.targets if c != sel.target_lang],
            extra_voices={
                c: [(_voice_label(v), v.id) for v in vs] for c, vs in langs.extras.voices.items()
            },
        )

    def _clip_options(self, sel: Selection) -> tuple[list[tuple[str, str]], str | None]:
        """The clips, then the chosen file when it exists and is not one of them; and the
        value of the option that is the chosen file."""
        options = [(_clip_label(c), str(c.path)) for c in self._clips]
        path, clip = input_file(sel.input_path), self.chosen_clip(sel)
        if clip is not None:
            return options, str(clip.path)
        if path is None or not path.is_file():
            return options, None
        options.append((f"{path.name} — your file ({path.parent})", str(sel.input_path)))
        return options, str(sel.input_path)

    async def load_voices(self) -> Selection:
        """Load the chosen synthesizer's remote voice catalogue, then update the options."""
        sel = self.selection
        await self.engines.load_catalogue(sel.tts, tts_options=self.engine_options("tts", sel))
        return self.update()

    # -- what a session needs -------------------------------------------------------------
    def lag_target(self) -> float | None:
        """Lag control's target for a session (s): the chosen one when the input is live or
        a file played in real time, else ``None`` (off; ``options.lag_off_reason`` says why)."""
        sel = self.selection
        return None if _unpaced_reason(sel) else sel.max_lag_s

    def config(self, **overrides: Any) -> PipelineConfig:
        """The :class:`PipelineConfig` for the current selection."""
        s = self.selection
        return PipelineConfig(
            source_lang=s.source_lang, target_lang=s.target_lang, voice=s.voice,
            chunk_ms=int(s.chunk_ms), policy=s.policy, stability=s.stability,
            max_lag_s=self.lag_target(), max_speedup=s.max_speedup, catch_up=s.catch_up,
            **overrides,
        )  # fmt: skip

    def input_clip(self) -> Clip | None:
        """The manifest / LibriVox clip of the chosen file (its script and references)."""
        path = input_file(self.selection.input_path)
        if self.selection.input_kind != "file" or path is None:
            return None
        return find_clip(path)

    def synthesizer(self) -> Any:
        """The chosen synthesizer with its settings (the probe instance a session uses)."""
        s = self.selection
        return self.engines.get("tts", s.tts, **self.engine_options("tts"))

    async def build_engines(self) -> Engines:
        """Engines for a session: probes for offline / cloud stages, fresh simulated ones.

        Simulated stages follow the chosen clip
        (:func:`s2st_kit.engines.simulated.aengines_for_clip`: its utterance spans as the
        recognizer's script, else speech found by energy; its reference translations).
        """
        names = {stage: _engine(self.selection, stage) for stage in STAGES}
        made = {
            stage: self.engines.get(stage, name, **self.engine_options(stage))
            for stage, name in names.items()
            if name != "simulated"
        }
        if "simulated" in names.values():
            sim = (await self._simulated()).build()
            fresh = {"asr": sim.recognizer, "mt": sim.translator, "tts": sim.synthesizer}
            made |= {stage: fresh[stage] for stage, name in names.items() if name == "simulated"}
        return Engines(made["asr"], made["mt"], made["tts"])

    async def _simulated(self) -> ClipEngines:
        """What the simulated engines follow for the chosen input (nothing for a live one);
        preset and seed from the catalog's ``"simulated"`` options (default cloud-like, 0)."""
        sel, opts = self.selection, self.engines.options.get("simulated", {})
        clip = input_file(sel.input_path) if sel.input_kind == "file" else None
        return await aengines_for_clip(
            clip, preset=opts.get("preset", "cloud-like"), seed=opts.get("seed", 0)
        )

    async def preview(self, text: str | None = None) -> bytes | None:
        """``text`` (default: a sample sentence in the target language) spoken by the chosen
        voice, as WAV bytes (``None`` without a voice or audio)."""
        sel = self.selection
        if not sel.voice:
            return None
        sentence = text or SAMPLE_SENTENCES.get(sel.target_lang, SAMPLE_SENTENCES["en"])
        synth = self.synthesizer()
        chunks = [
            c async for c in synth.synthesize(sentence, voice=sel.voice, language=sel.target_lang)
        ]
        if not chunks:
            return None
        return pcm_to_wav(b"".join(c.pcm for c in chunks), chunks[0].sample_rate)


def _engine(sel: Selection, stage: str) -> str:
    """The engine name chosen for ``stage``."""
    return str(getattr(sel, stage))


def _availabilities(*named: tuple[str, str | None]) -> list[Availability]:
    return [Availability(name, problem is None, problem) for name, problem in named]


def _find(options: Sequence[Availability], name: str) -> Availability:
    return next(a for a in options if a.name == name)


def _unpaced_reason(sel: Selection) -> str | None:
    """Why the lag behind the speaker has no meaning for ``sel``'s input (``None``: it has):
    a file not played in real time."""
    if sel.input_kind != "file" or sel.pace == 1.0:
        return None
    pace = next((label for label, value in PACES.items() if value == sel.pace), f"{sel.pace:g}×")
    return f"lag control needs real-time input; the file plays at pace “{pace}”"


def _resolved(path: str | Path) -> str:
    """``path`` made absolute (symlinks resolved) for comparing files."""
    return str(Path(path).resolve())


def _stability_ignored(sel: Selection) -> str | None:
    """Why ``sel.stability`` does nothing (``None`` when the recognizer uses it)."""
    if sel.asr in STABILITY_BUNDLES:
        return None
    return f"the {sel.asr} recognizer ignores it: only Amazon Transcribe (aws) stabilises partials"


def _check_closed_sets(sel: Selection) -> None:
    """Values of the closed sets (policy, stability, input and output kinds, catch-up) must
    be known, and lag control's target and speed-up possible."""
    check_lag_settings(sel.max_lag_s, sel.max_speedup, sel.catch_up)
    for what, value, allowed in (
        ("policy", sel.policy, POLICIES),
        ("stability", sel.stability, STABILITIES),
        ("input", sel.input_kind, INPUT_KINDS),
        ("output", sel.output_kind, OUTPUT_KINDS),
    ):
        if value not in allowed:
            raise ConfigError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")


def _prefer(options: Sequence[str], preferred: Sequence[str]) -> str:
    for p in preferred:
        if p in options:
            return p
    return options[0]


def _voice_label(v: Voice) -> str:
    extras = [x for x in (v.name, v.locale) if x and x != v.id]
    if v.gender:
        extras.append(v.gender.lower())
    return f"{v.id} — {', '.join(extras)}" if extras else v.id


def _clip_label(c: Clip) -> str:
    try:
        rel = Path(c.path).relative_to(data_dir())
        where = f"data/{rel}"
    except ValueError:
        where = Path(c.path).name
    return f"{where} — {language_label(c.language)}, {c.source}"
