"""Engine registry: pick a recognizer, translator and synthesizer per stage by name.

Bundles: ``simulated`` (latency models, presets ``instant`` / ``cloud-like``), ``offline``
(pocketsphinx + Apertium + eSpeak NG, the default) and ``aws`` (Transcribe streaming +
Translate + Polly). Stages mix freely::

    engines = Engines.create("offline")                       # one bundle
    engines = Engines.create(asr="aws", mt="offline", tts="offline")

Engine modules are imported only when chosen, so a missing optional dependency surfaces
as :class:`~s2st_kit.errors.EngineNotInstalledError` with the command that installs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, EngineNotInstalledError
from .protocols import AudioSink, AudioSource, Recognizer, Synthesizer, Translator

__all__ = [
    "BUNDLES",
    "AudioSink",
    "AudioSource",
    "Engines",
    "Recognizer",
    "Synthesizer",
    "Translator",
    "create_stage",
]

STAGES = ("asr", "mt", "tts")

#: bundle name -> stage -> "module:factory". Factories take keyword options.
BUNDLES: dict[str, dict[str, str]] = {
    "simulated": {
        "asr": "s2st_kit.engines.simulated:create_recognizer",
        "mt": "s2st_kit.engines.simulated:create_translator",
        "tts": "s2st_kit.engines.simulated:create_synthesizer",
    },
    "offline": {
        "asr": "s2st_kit.engines.offline.pocketsphinx:create_recognizer",
        "mt": "s2st_kit.engines.offline.apertium:create_translator",
        "tts": "s2st_kit.engines.offline.espeak:create_synthesizer",
    },
    "aws": {
        "asr": "s2st_kit.engines.aws.transcribe:create_recognizer",
        "mt": "s2st_kit.engines.aws.translate:create_translator",
        "tts": "s2st_kit.engines.aws.polly:create_synthesizer",
    },
}

_INSTALL_HINT = {
    "simulated": "it ships with s2st_kit; reinstall the package",
    "offline": "pip install 's2st_kit[offline]' and, on Debian/Ubuntu, "
    "apt-get install apertium apertium-eng-spa (or run 'make setup')",
    "aws": "pip install 's2st_kit[aws]'",
}


def create_stage(stage: str, name: str, **options: Any) -> Any:
    """Instantiate the ``stage`` (``asr``/``mt``/``tts``) engine of bundle ``name``."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    if name not in BUNDLES:
        raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(BUNDLES)}")
    target = BUNDLES[name][stage]
    module_name, _, factory_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EngineNotInstalledError(
            f"engine {name!r} ({stage}) is not installed: {exc}. To install: {_INSTALL_HINT[name]}"
        ) from exc
    factory = getattr(module, factory_name)
    return factory(**options)


@dataclass(slots=True)
class Engines:
    """One recognizer, one translator and one synthesizer, used together by a Pipeline."""

    recognizer: Recognizer
    translator: Translator
    synthesizer: Synthesizer

    @classmethod
    def create(
        cls,
        bundle: str | None = "offline",
        *,
        asr: str | None = None,
        mt: str | None = None,
        tts: str | None = None,
        options: dict[str, dict[str, Any]] | None = None,
    ) -> Engines:
        """Build engines by name; ``asr``/``mt``/``tts`` override the bundle per stage.

        options: per-bundle keyword options, e.g. ``{"simulated": {"preset": "cloud-like"},
        "aws": {"region": "eu-west-1"}}``; each stage's factory receives its bundle's dict.
        """
        options = options or {}
        names = {
            "asr": asr or bundle,
            "mt": mt or bundle,
            "tts": tts or bundle,
        }
        built: dict[str, Any] = {}
        for stage, name in names.items():
            if name is None:
                raise ConfigError(f"no engine chosen for stage {stage!r}")
            built[stage] = create_stage(stage, name, **options.get(name, {}))
        return cls(built["asr"], built["mt"], built["tts"])

    async def aclose(self) -> None:
        """Close all three engines (each once, even if one is shared)."""
        seen: set[int] = set()
        for engine in (self.recognizer, self.translator, self.synthesizer):
            if id(engine) in seen:
                continue
            seen.add(id(engine))
            await engine.aclose()
