"""The control panel's logic, in plain Python (no widgets): testable without a browser.

* :class:`EngineCatalog` knows which engines exist and what they can do. It answers from
  one *probe* instance per (stage, engine) created on first use; an engine that cannot be
  created (missing package, no credentials) is reported as unavailable with the reason.
* :class:`InputCatalog` lists the inputs: sample clips from ``data/`` (and LibriVox), the
  local microphone (:mod:`s2st_kit.audio.devices`) and the browser microphone
  (:mod:`s2st_kit.notebook.browser_audio`), imported lazily; a missing module or device
  makes the option unavailable with the reason.
* :class:`PanelModel` holds the user's choices and recomputes the valid options whenever
  an engine or language changes: source languages the recognizer hears *and* the
  translator translates from, targets the translator reaches *and* the synthesizer speaks,
  voices of the synthesizer for the target (and the Polly engine, for AWS).

The widgets in :mod:`s2st_kit.notebook.panel` are thin views over these objects.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import POLICIES, PipelineConfig
from ..datasets import Clip, data_dir, find_clip, librivox_clips, load_manifest
from ..engines import BUNDLES, STAGES, Engines, create_stage
from ..errors import ConfigError, S2STError
from ..records import Voice

__all__ = [
    "ENGINE_NAMES",
    "LANGUAGE_NAMES",
    "SAMPLE_SENTENCES",
    "Availability",
    "EngineCatalog",
    "InputCatalog",
    "PanelModel",
    "PanelOptions",
    "Selection",
    "aws_credentials_problem",
    "language_label",
    "pcm_to_wav",
]

#: Engine bundles offered per stage, in display order.
ENGINE_NAMES: tuple[str, ...] = ("simulated", "offline", "aws")

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

INPUT_KINDS: tuple[str, ...] = ("file", "microphone", "browser")
INPUT_LABELS: dict[str, str] = {
    "file": "file",
    "microphone": "local microphone",
    "browser": "browser microphone",
}
OUTPUT_KINDS: tuple[str, ...] = ("paced", "speaker", "browser")
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


Factory = Callable[..., Any]


class EngineCatalog:
    """Availability and capabilities of the engines, from one probe instance per stage/engine.

    options: per-bundle keyword options for the engine factories, as for
        :meth:`Engines.create` (e.g. ``{"aws": {"region": "eu-west-1"}}``).
    factory: ``factory(stage, name, **options)`` creating an engine (default
        :func:`s2st_kit.engines.create_stage`; tests pass fakes).
    credentials_check: returns ``None`` when the cloud can be used, else the reason
        (default :func:`aws_credentials_problem`); asked once, for ``"aws"`` only.
    names: engine names offered (default :data:`ENGINE_NAMES`).

    Probe instances are reused for sessions (the pipeline never closes engines);
    :meth:`aclose` closes them.
    """

    def __init__(
        self,
        *,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        factory: Factory = create_stage,
        credentials_check: Callable[[], str | None] | None = aws_credentials_problem,
        names: Sequence[str] = ENGINE_NAMES,
    ) -> None:
        self.options = {k: dict(v) for k, v in (options or {}).items()}
        self.factory = factory
        self.credentials_check = credentials_check
        self.names = tuple(names)
        self._engines: dict[tuple[str, str, tuple[tuple[str, Any], ...]], Any] = {}
        self._errors: dict[tuple[str, str], str] = {}
        self._aws_problem: str | bool | None = False  # False: not asked yet
        self._catalogue_loaded: set[int] = set()

    def _cloud_problem(self, name: str) -> str | None:
        if name != "aws" or self.credentials_check is None:
            return None
        if self._aws_problem is False:
            self._aws_problem = self.credentials_check()
        return self._aws_problem  # type: ignore[return-value]

    def availability(self, stage: str, name: str) -> Availability:
        """Can ``name`` serve ``stage``? Creates the probe engine on first use."""
        if name not in BUNDLES:
            return Availability(name, False, f"unknown engine {name!r}")
        problem = self._cloud_problem(name)
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
        self, mt: str, tts: str, source: str, *, polly_engine: str | None = None
    ) -> list[str]:
        """Codes the translator reaches from ``source`` and the synthesizer has a voice for."""
        reach = {b for a, b in self.get("mt", mt).pairs() if a == source}
        if not self.catalogue_ready(tts):
            return sorted(reach, key=_lang_order)
        return sorted((t for t in reach if self.voices(tts, t, polly_engine=polly_engine)),
                      key=_lang_order)  # fmt: skip

    def voices(self, tts: str, language: str, *, polly_engine: str | None = None) -> list[Voice]:
        """The synthesizer's voices for ``language`` ([] while a cloud catalogue is loading).

        polly_engine: for AWS Polly, only voices supporting this engine (``"neural"``, ...).
        """
        synth = self.get("tts", tts)
        if not self.catalogue_ready(tts):
            return []
        try:
            catalogue = getattr(synth, "voice_catalogue", None)
            if polly_engine is not None and catalogue is not None:
                return list(catalogue(language, polly_engine))
            return list(synth.voices(language))
        except S2STError:
            return []

    def default_voice(self, tts: str, language: str, voices: Sequence[Voice]) -> str | None:
        """The engine's default for ``language`` if it is among ``voices``, else the first."""
        if not voices:
            return None
        try:
            default = self.get("tts", tts).default_voice(language)
        except S2STError:
            default = None
        ids = [v.id for v in voices]
        return default if default in ids else ids[0]

    def catalogue_ready(self, tts: str) -> bool:
        """False while a synthesizer with a remote catalogue (``load_voices``) is unloaded."""
        synth = self.get("tts", tts)
        return not hasattr(synth, "load_voices") or id(synth) in self._catalogue_loaded

    async def load_catalogue(self, tts: str) -> None:
        """Fetch a remote voice catalogue off the event loop (no-op for local engines)."""
        synth = self.get("tts", tts)
        loader = getattr(synth, "load_voices", None)
        if loader is None or id(synth) in self._catalogue_loaded:
            return
        await loader()
        self._catalogue_loaded.add(id(synth))

    async def aclose(self) -> None:
        """Close every probe engine (each once)."""
        engines, self._engines = list(self._engines.values()), {}
        seen: set[int] = set()
        for engine in engines:
            if id(engine) in seen:
                continue
            seen.add(id(engine))
            close = getattr(engine, "aclose", None)
            if close is not None:
                await close()


def _lang_order(code: str) -> tuple[int, str]:
    return (0 if code == "en" else 1 if code == "auto" else 2, code)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- inputs


class InputCatalog:
    """Where speech can come from: sample clips, the local microphone, the browser microphone.

    devices_module / browser_module: import paths of the live-audio modules (imported
    lazily; tests point them elsewhere).
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
        try:
            devices = importlib.import_module(self.devices_module)
        except ImportError as exc:
            return [], f"module {self.devices_module} is not available ({exc})"
        try:
            found = [d for d in devices.list_devices() if getattr(d, "max_input_channels", 0) > 0]
        except Exception as exc:  # PortAudio / PyAudio missing
            return [], _one_line(exc)
        if not found:
            return [], "no input device (no sound card on this machine)"
        return found, None

    def speakers(self) -> tuple[list[Any], str | None]:
        """(output devices, None) or ([], why the local speaker cannot be used)."""
        try:
            devices = importlib.import_module(self.devices_module)
        except ImportError as exc:
            return [], f"module {self.devices_module} is not available ({exc})"
        try:
            found = [d for d in devices.list_devices() if getattr(d, "max_output_channels", 0) > 0]
        except Exception as exc:  # PortAudio / PyAudio missing
            return [], _one_line(exc)
        if not found:
            return [], "no output device (no sound card on this machine)"
        return found, None

    def browser(self, widget: str = "BrowserMicrophone") -> tuple[Any, str | None]:
        """(the browser-audio module, None) or (None, why ``widget`` cannot be used)."""
        try:
            module = importlib.import_module(self.browser_module)
        except ImportError as exc:
            return None, f"module {self.browser_module} is not available ({exc})"
        if not hasattr(module, widget):
            return None, f"{self.browser_module} has no {widget}"
        return module, None


# --------------------------------------------------------------------------- choices


@dataclass(frozen=True, slots=True)
class Selection:
    """Everything the user chose. Units: ``chunk_ms`` in milliseconds, ``pace`` a speed
    factor (1.0 = real time, 0 = as fast as possible).

    input_kind: ``"file"``, ``"microphone"`` or ``"browser"``; input_path: the file (a data/
    clip or any path); mic_device: a device index (``None`` = default input).
    output_kind: where the translated speech goes: ``"paced"`` (no device: played into
    memory at the input's pace — real time unless ``pace`` says otherwise — so timings are
    realistic), ``"speaker"`` or ``"browser"``.
    polly_engine: Polly's engine when ``tts == "aws"`` (``"neural"`` default).
    """

    asr: str = "offline"
    mt: str = "offline"
    tts: str = "offline"
    source_lang: str = "en"
    target_lang: str = "es"
    voice: str | None = None
    polly_engine: str = "neural"
    chunk_ms: int = 100
    policy: str = "final"
    stability: str = "high"
    input_kind: str = "file"
    input_path: str | None = None
    mic_device: int | None = None
    pace: float = 1.0
    output_kind: str = "paced"


@dataclass(frozen=True, slots=True)
class PanelOptions:
    """The choices the UI offers for the current selection (``(label, value)`` pairs)."""

    engines: dict[str, list[Availability]] = field(default_factory=dict)
    source_langs: list[tuple[str, str]] = field(default_factory=list)
    target_langs: list[tuple[str, str]] = field(default_factory=list)
    voices: list[tuple[str, str]] = field(default_factory=list)
    polly_engines: list[str] = field(default_factory=list)
    inputs: list[Availability] = field(default_factory=list)
    outputs: list[Availability] = field(default_factory=list)
    clips: list[tuple[str, str]] = field(default_factory=list)
    microphones: list[tuple[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    voices_loading: bool = False


POLLY_ENGINES: tuple[str, ...] = ("standard", "neural", "long-form", "generative")


class PanelModel:
    """The panel's choices and the options valid for them.

    engines: an :class:`EngineCatalog` (default: the real engines).
    inputs: an :class:`InputCatalog`.
    selection: initial choices; invalid ones are corrected (e.g. an unavailable engine
        falls back to the first available one).

    ``update(**changes)`` applies changes and returns the corrected :class:`Selection`;
    ``options`` is the matching :class:`PanelOptions`; ``config()`` the PipelineConfig.
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
        self._mics, self._mic_problem = self.inputs.microphones()
        self._browser, self._browser_problem = self.inputs.browser()
        self._speakers, self._speaker_problem = self.inputs.speakers()
        _, self._browser_out_problem = self.inputs.browser("BrowserSpeaker")
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

    def available(self, stage: str, name: str) -> Availability:
        """Availability of engine ``name`` for ``stage``."""
        for a in self._availability[stage]:
            if a.name == name:
                return a
        return Availability(name, False, f"unknown engine {name!r}")

    def input_availability(self) -> list[Availability]:
        """File, local microphone and browser microphone, with reasons when unusable."""
        return [
            Availability("file", True),
            Availability("microphone", self._mic_problem is None, self._mic_problem),
            Availability("browser", self._browser_problem is None, self._browser_problem),
        ]

    def output_availability(self) -> list[Availability]:
        """Paced memory sink, local speaker and browser speaker, with reasons when unusable."""
        return [
            Availability("paced", True),
            Availability("speaker", self._speaker_problem is None, self._speaker_problem),
            Availability("browser", self._browser_out_problem is None, self._browser_out_problem),
        ]

    # -- changes ------------------------------------------------------------------------
    def update(self, **changes: Any) -> Selection:
        """Apply ``changes`` (Selection fields), correct what became invalid, recompute options."""
        unknown = set(changes) - set(Selection.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown panel setting(s): {', '.join(sorted(unknown))}")
        sel = replace(self.selection, **changes)
        problems: list[str] = []
        fixes: dict[str, Any] = {}
        for stage in STAGES:
            name = getattr(sel, stage)
            if not self.available(stage, name).available:
                usable = [a.name for a in self._availability[stage] if a.available]
                if not usable:
                    raise ConfigError(f"no engine is available for stage {stage!r}")
                problems.append(
                    f"{stage}: {name} is unavailable ({self.available(stage, name).reason}); using {usable[0]}"
                )
                fixes[stage] = usable[0]
        sel = replace(sel, **fixes)
        sources = self.engines.source_languages(sel.asr, sel.mt)
        if not sources:
            problems.append(
                f"{sel.asr} (speech recognition) and {sel.mt} (translation) share no source language"
            )
        elif sel.source_lang not in sources:
            sel = replace(sel, source_lang=_prefer(sources, ("en",)))
        polly = sel.polly_engine if sel.tts == "aws" else None
        targets = (
            self.engines.target_languages(sel.mt, sel.tts, sel.source_lang, polly_engine=polly)
            if sources
            else []
        )
        if sources and not targets:
            problems.append(
                f"no target language: {sel.mt} reaches none from {sel.source_lang} that {sel.tts} can speak"
            )
        elif targets and sel.target_lang not in targets:
            sel = replace(sel, target_lang=_prefer(targets, ("es", "en")))
        voices = (
            self.engines.voices(sel.tts, sel.target_lang, polly_engine=polly) if targets else []
        )
        loading = targets != [] and not self.engines.catalogue_ready(sel.tts)
        ids = [v.id for v in voices]
        if sel.voice not in ids:
            sel = replace(sel, voice=self.engines.default_voice(sel.tts, sel.target_lang, voices))
        if sel.policy not in POLICIES:
            raise ConfigError(f"unknown policy {sel.policy!r}; choose one of {', '.join(POLICIES)}")
        if sel.input_kind not in INPUT_KINDS:
            raise ConfigError(
                f"unknown input {sel.input_kind!r}; choose one of {', '.join(INPUT_KINDS)}"
            )
        inputs = self.input_availability()
        if not next(a for a in inputs if a.name == sel.input_kind).available:
            sel = replace(sel, input_kind="file")
        if sel.output_kind not in OUTPUT_KINDS:
            raise ConfigError(
                f"unknown output {sel.output_kind!r}; choose one of {', '.join(OUTPUT_KINDS)}"
            )
        outputs = self.output_availability()
        if not next(a for a in outputs if a.name == sel.output_kind).available:
            sel = replace(sel, output_kind="paced")
        if sel.input_kind == "microphone" and sel.mic_device is None and self._mics:
            default = next(
                (d for d in self._mics if getattr(d, "is_default_input", False)), self._mics[0]
            )
            sel = replace(sel, mic_device=int(default.index))
        self.selection = sel
        self.options = PanelOptions(
            engines={s: list(v) for s, v in self._availability.items()},
            source_langs=[(language_label(c), c) for c in sources],
            target_langs=[(language_label(c), c) for c in targets],
            voices=[(_voice_label(v), v.id) for v in voices],
            polly_engines=list(POLLY_ENGINES) if sel.tts == "aws" else [],
            inputs=inputs,
            outputs=outputs,
            clips=[(_clip_label(c), str(c.path)) for c in self._clips],
            microphones=[(f"{d.index}: {d.name}", int(d.index)) for d in self._mics],
            problems=problems,
            voices_loading=loading,
        )  # fmt: skip
        return sel

    # -- what a session needs -------------------------------------------------------------
    def config(self, **overrides: Any) -> PipelineConfig:
        """The :class:`PipelineConfig` for the current selection."""
        s = self.selection
        return PipelineConfig(
            source_lang=s.source_lang, target_lang=s.target_lang, voice=s.voice,
            chunk_ms=int(s.chunk_ms), policy=s.policy,  # type: ignore[arg-type]
            stability=s.stability, **overrides,
        )  # fmt: skip

    def input_clip(self) -> Clip | None:
        """The manifest / LibriVox clip of the chosen file (its script and references)."""
        if self.selection.input_kind != "file" or not self.selection.input_path:
            return None
        return find_clip(self.selection.input_path)

    async def build_engines(self) -> Engines:
        """Engines for a session: probes for offline / cloud stages, fresh simulated ones.

        Simulated stages follow the chosen clip (its utterance spans as the recognizer's
        script, speech found by energy otherwise; its reference translations).
        """
        s = self.selection
        built: dict[str, Any] = {}
        for stage in STAGES:
            name = getattr(s, stage)
            if name == "simulated":
                built[stage] = await self._simulated(stage)
            elif stage == "tts" and name == "aws":
                built[stage] = self.engines.get("tts", "aws", engine=s.polly_engine)
            else:
                built[stage] = self.engines.get(stage, name)
        return Engines(built["asr"], built["mt"], built["tts"])

    async def _simulated(self, stage: str) -> Any:
        from ..engines import simulated

        opts = dict(self.engines.options.get("simulated", {}))
        preset, seed = opts.get("preset", "cloud-like"), opts.get("seed", 0)
        clip = self.input_clip()
        if stage == "asr":
            script: Any = clip.utterances if clip is not None and clip.utterances else None
            if script is None and self.selection.input_kind == "file" and self.selection.input_path:
                from ..audio.file import read_audio

                samples, rate = await asyncio.to_thread(
                    read_audio, self.selection.input_path, sample_rate=16000
                )
                script = simulated.script_from_audio(samples, rate)
            return simulated.SimulatedRecognizer(script or (), preset=preset, seed=seed)
        if stage == "mt":
            refs: dict[str, dict[str, str]] = {}
            for u in clip.utterances if clip is not None else ():
                for lang, text in u.translations.items():
                    refs.setdefault(lang, {})[u.text] = text
            return simulated.SimulatedTranslator(preset=preset, seed=seed, references=refs or None)
        return simulated.SimulatedSynthesizer(preset=preset, seed=seed)


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
