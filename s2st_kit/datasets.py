"""Sample clips with reference transcripts and translations.

Two sources:

* the project's own clips in ``data/`` (synthesised by ``scripts/make_samples.py`` with
  eSpeak NG; several languages, known utterance spans), listed in ``data/manifest.json``;
* the five LibriVox read-speech clips of the Debian package ``pocketsphinx-testdata``
  (``/usr/share/pocketsphinx/test/data/librivox/``), real English speech with reference
  transcripts; reference translations for them live in ``data/librivox.json``.

Example::

    clip = sample_clip("en")
    clip.path, clip.transcript, clip.translations["es"], clip.utterances[0].end_s
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ConfigError

__all__ = [
    "LIBRIVOX_DIR",
    "Clip",
    "Utterance",
    "data_dir",
    "find_clip",
    "join_clips",
    "librivox_clips",
    "load_manifest",
    "sample_clip",
]

#: Where pocketsphinx-testdata installs the LibriVox clips.
LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")


@dataclass(frozen=True, slots=True)
class Utterance:
    """One sentence of a clip and where it lies in the audio (s from the clip's start)."""

    text: str
    start_s: float
    end_s: float
    translations: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Clip:
    """An audio file with its reference transcript and translations.

    path: absolute path of the WAV file. language: ISO 639-1 code spoken in it.
    translations: reference translations by target language (ISO 639-1).
    utterances: the sentences with their spans; ``()`` when timings are unknown.
    source: ``"espeak-ng"`` (synthesised sample) or ``"librivox"`` (real read speech).
    """

    id: str
    path: Path
    language: str
    transcript: str
    translations: Mapping[str, str] = field(hash=False)
    utterances: tuple[Utterance, ...]
    source: str


def data_dir() -> Path:
    """The repository's ``data/`` folder; the environment variable ``S2ST_DATA_DIR`` overrides."""
    override = os.environ.get("S2ST_DATA_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return (Path(__file__).resolve().parent.parent / "data").resolve()


def _clip_from_entry(entry: Mapping[str, Any], base: Path) -> Clip:
    try:
        utterances = tuple(
            Utterance(
                str(u["text"]),
                float(u["start_s"]),
                float(u["end_s"]),
                {str(k): str(v) for k, v in (u.get("translations") or {}).items()},
            )
            for u in entry.get("utterances", ())
        )
        return Clip(
            id=str(entry["id"]),
            path=(base / entry["file"]).resolve(),
            language=str(entry["language"]),
            transcript=str(entry["transcript"]),
            translations=MappingProxyType(dict(entry.get("translations", {}))),
            utterances=utterances,
            source=str(entry.get("source", "espeak-ng")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"bad manifest entry {entry.get('id', '?')!r}: {exc}") from exc


def load_manifest(path: Path | None = None) -> list[Clip]:
    """The clips listed in a manifest (default ``data_dir() / "manifest.json"``).

    File paths in the manifest are relative to the manifest's folder.
    """
    path = Path(path) if path is not None else data_dir() / "manifest.json"
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read clip manifest {path}: {exc}") from exc
    if not isinstance(entries, list):
        raise ConfigError(f"clip manifest {path} must be a JSON list of clips")
    return [_clip_from_entry(e, path.parent) for e in entries]


def _librivox_translations() -> dict[str, dict[str, str]]:
    path = data_dir() / "librivox.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): dict(v) for k, v in data.get("translations", {}).items()}


def librivox_clips() -> list[Clip]:
    """The five LibriVox clips of ``pocketsphinx-testdata`` with reference transcripts.

    Transcripts come from the package's ``transcription`` file (``<s> … </s> (id)``
    lines); ``[]`` when the package is not installed (``apt-get install pocketsphinx-testdata``).
    """
    listing = LIBRIVOX_DIR / "transcription"
    if not listing.is_file():
        return []
    translations = _librivox_translations()
    clips: list[Clip] = []
    for line in listing.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line.endswith(")") or " (" not in line:
            continue
        text, _, clip_id = line[:-1].rpartition(" (")
        words = [w for w in text.split() if w not in ("<s>", "</s>", "<sil>")]
        wav = LIBRIVOX_DIR / f"{clip_id}.wav"
        if not wav.is_file():
            continue
        clips.append(
            Clip(
                id=clip_id,
                path=wav.resolve(),
                language="en",
                transcript=" ".join(words),
                translations=MappingProxyType(translations.get(clip_id, {})),
                utterances=(),
                source="librivox",
            )
        )
    return clips


def _all_clips() -> list[Clip]:
    try:
        clips = load_manifest()
    except ConfigError:
        clips = []
    return clips + librivox_clips()


def find_clip(audio_path: str | os.PathLike[str]) -> Clip | None:
    """The manifest or LibriVox clip for this file: same resolved path, else same file name."""
    path = Path(audio_path).expanduser()
    clips = _all_clips()
    resolved = path.resolve()
    for clip in clips:
        if clip.path == resolved:
            return clip
    for clip in clips:
        if clip.path.name == path.name:
            return clip
    return None


def join_clips(
    clips: list[Clip], path: str | Path, *, pause_s: float = 0.9, sample_rate: int = 16000
) -> Path:
    """Write ``clips`` one after another as one mono 16-bit WAV at ``sample_rate``.

    ``pause_s`` of silence comes before, between and after the clips (a recording that
    starts and ends quietly, like a person reading sentences). Returns the path.
    """
    import numpy as np
    import soundfile as sf

    from .audio.file import read_audio

    pause = np.zeros(round(pause_s * sample_rate), np.float32)
    parts = [pause]
    for clip in clips:
        samples, _ = read_audio(clip.path, sample_rate=sample_rate)
        parts += [samples, pause]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.concatenate(parts), sample_rate, subtype="PCM_16")
    return path


def sample_clip(language: str = "en") -> Clip:
    """The first manifest clip in ``language``; ConfigError if there is none."""
    clips = load_manifest()
    for clip in clips:
        if clip.language == language:
            return clip
    have = ", ".join(sorted({c.language for c in clips})) or "none"
    raise ConfigError(f"no sample clip in language {language!r} (have: {have})")
