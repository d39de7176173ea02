"""Corpus readers: the layouts researchers have on disk, as one list of utterance records.

Every reader returns ``list[CorpusUtterance]`` (id, audio path, offset and duration in the
file, source text, target text, target speech path or ``None``), in corpus order, checked:
a missing column or file raises :class:`CorpusError` naming the columns, or the first few
missing files and how many there are in all.

Layouts (``layout=`` of :func:`read_corpus`, ``--layout`` of ``s2st eval``):

``covost2``
    A Common Voice language folder (``clips/*.mp3`` + TSV files). With CoVoST 2's
    translations (``covost_v2.<src>_<tgt>.<split>.tsv``: columns ``path``, ``sentence``,
    ``translation``, from CoVoST's ``get_covost_splits.py``) the target text is the
    translation; otherwise Common Voice's own ``<split>.tsv`` (``path``, ``sentence``) is
    read and there is no target text (WER only). MP3 is read by libsndfile ≥ 1.1.
``fleurs``
    The FLEURS release (``<locale>/<split>.tsv`` without header: ``id``, ``file_name``,
    ``raw_transcription``, ``transcription``, ``phonemes``, ``num_samples``, ``gender``;
    audio in ``<locale>/audio/<split>/``). FLEURS is n-way parallel: the target text is
    the target locale's ``raw_transcription`` of the same ``id``. Locales are found from the
    language code (``en`` → ``en_us``; ``es`` → ``es_419``) or given in full.
``cvss``
    CVSS-C (``<split>.tsv`` without header: CoVoST clip name, target text; target speech in
    ``<split>/<clip name>.wav``) plus the CoVoST / Common Voice source clips
    (``source_audio``: the ``clips`` folder); the source text comes from the Common Voice
    TSV beside that folder when there is one.
``manifest``
    A CSV (with a header) or JSONL file: ``audio`` (also ``path`` / ``audio_path``), and
    optional ``id``, ``offset`` and ``duration`` (s; a segment of a longer recording),
    ``source_text`` (``sentence`` / ``transcript``), ``target_text`` (``translation``),
    ``target_audio``. Relative paths are relative to the manifest's folder.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from ..errors import ConfigError

__all__ = [
    "LAYOUTS",
    "CorpusError",
    "CorpusUtterance",
    "Layout",
    "read_corpus",
    "read_covost2",
    "read_cvss",
    "read_fleurs",
    "read_manifest",
]

Layout = Literal["covost2", "fleurs", "cvss", "manifest"]
LAYOUTS: tuple[str, ...] = get_args(Layout)

#: How many missing files an error lists by name.
_SHOW = 5

#: FLEURS locale of an ISO 639-1 code, where it is not simply ``<code>_<code>``.
_FLEURS_LOCALES = {
    "en": "en_us", "es": "es_419", "fr": "fr_fr", "de": "de_de", "it": "it_it",
    "pt": "pt_br", "ca": "ca_es", "gl": "gl_es", "nl": "nl_nl", "ja": "ja_jp",
    "zh": "cmn_hans_cn", "ru": "ru_ru", "ar": "ar_eg",
}  # fmt: skip

_FLEURS_COLUMNS = ("id", "file_name", "raw_transcription", "transcription", "phonemes",
                   "num_samples", "gender")  # fmt: skip


class CorpusError(ConfigError):
    """A corpus cannot be read as the layout says (the message says what is missing)."""


@dataclass(frozen=True, slots=True)
class CorpusUtterance:
    """One utterance of a corpus.

    id: unique within the corpus (used as the results key). audio: the source audio file.
    offset_s / duration_s: the utterance's span in ``audio`` (s); ``duration_s=None`` reads
    to the end. source_text / target_text: reference transcript and translation (``None``
    when the corpus has none). target_audio: reference target speech (CVSS), else ``None``.
    """

    id: str
    audio: Path
    offset_s: float = 0.0
    duration_s: float | None = None
    source_text: str | None = None
    target_text: str | None = None
    target_audio: Path | None = None


def _missing_files(utterances: Sequence[CorpusUtterance], what: str) -> None:
    missing = [str(u.audio) for u in utterances if not u.audio.is_file()]
    missing += [str(u.target_audio) for u in utterances
                if u.target_audio is not None and not u.target_audio.is_file()]  # fmt: skip
    if missing:
        shown = ", ".join(missing[:_SHOW])
        more = f" and {len(missing) - _SHOW} more" if len(missing) > _SHOW else ""
        raise CorpusError(f"{len(missing)} audio file(s) of {what} are missing: {shown}{more}")


def _check(utterances: list[CorpusUtterance], what: str) -> list[CorpusUtterance]:
    if not utterances:
        raise CorpusError(f"{what} lists no utterance")
    counts = Counter(u.id for u in utterances)
    dupes = [name for name, n in counts.items() if n > 1]
    if dupes:
        raise CorpusError(f"{what}: utterance ids must be unique; repeated: {dupes[:_SHOW]}")
    _missing_files(utterances, what)
    return utterances


def _read_tsv(path: Path, *, header: bool, columns: Sequence[str] = ()) -> list[dict[str, str]]:
    """Rows of a TSV file (Common Voice TSVs quote nothing: ``QUOTE_NONE``)."""
    if not path.is_file():
        raise CorpusError(f"no TSV file {path}")
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        rows = list(reader)
    if header:
        if not rows:
            raise CorpusError(f"{path} is empty (expected a header line)")
        names, rows = rows[0], rows[1:]
    else:
        names = list(columns)
    out = [dict(zip(names, r, strict=False)) for r in rows if any(cell.strip() for cell in r)]
    _require(out, names, columns, path)
    return out


def _require(rows: list[dict[str, str]], names: Sequence[str], columns: Sequence[str],
             path: Path) -> None:  # fmt: skip
    absent = [c for c in columns if c not in names]
    if absent:
        raise CorpusError(f"{path} lacks column(s) {absent}; it has {list(names)}")
    short = [i + 2 for i, r in enumerate(rows) if any(c not in r for c in columns)]
    if short:
        raise CorpusError(f"{path}: line(s) {short[:_SHOW]} have too few columns")


def _limit(items: list[CorpusUtterance], limit: int | None) -> list[CorpusUtterance]:
    return items if limit is None else items[:limit]


def read_covost2(
    root: str | os.PathLike[str],
    *,
    source_lang: str = "en",
    target_lang: str | None = "es",
    split: str = "test",
    limit: int | None = None,
) -> list[CorpusUtterance]:
    """CoVoST 2 / Common Voice (see the module docstring). ``root``: the Common Voice
    language folder (with ``clips/``), or a TSV file in it. limit: first N utterances."""
    base = Path(root)
    covost = f"covost_v2.{source_lang}_{target_lang}.{split}.tsv"
    tsv = base if base.is_file() else base / covost
    if not tsv.is_file():
        tsv = base / f"{split}.tsv"
    if not tsv.is_file():
        raise CorpusError(
            f"no {covost} or {split}.tsv in {base}: point at a Common Voice language folder "
            "(clips/ + TSVs) with CoVoST 2's translation TSV beside it"
        )
    folder = tsv.parent
    rows = _read_tsv(tsv, header=True, columns=("path", "sentence"))
    with_mt = rows and "translation" in rows[0]
    utts = [
        CorpusUtterance(
            id=Path(r["path"]).stem,
            audio=folder / "clips" / r["path"],
            source_text=r["sentence"],
            target_text=r["translation"] if with_mt else None,
        )
        for r in rows
    ]
    return _check(_limit(utts, limit), str(tsv))


def _fleurs_locale(root: Path, lang: str) -> Path:
    for name in (lang, _FLEURS_LOCALES.get(lang, ""), f"{lang}_{lang}"):
        if name and (root / name).is_dir():
            return root / name
    found = sorted(p.name for p in root.glob(f"{lang}_*") if p.is_dir())
    if len(found) == 1:
        return root / found[0]
    have = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    raise CorpusError(f"no FLEURS locale folder for {lang!r} in {root} (have: {have})")


def read_fleurs(
    root: str | os.PathLike[str],
    *,
    source_lang: str = "en",
    target_lang: str | None = "es",
    split: str = "test",
    limit: int | None = None,
) -> list[CorpusUtterance]:
    """FLEURS (see the module docstring). ``root``: the folder holding the locale folders;
    languages are ISO 639-1 codes or FLEURS locales (``es_419``)."""
    base = Path(root)
    src = _fleurs_locale(base, source_lang)
    rows = _read_tsv(src / f"{split}.tsv", header=False, columns=_FLEURS_COLUMNS)
    targets: dict[str, str] = {}
    if target_lang is not None:
        tgt = _fleurs_locale(base, target_lang)
        for r in _read_tsv(tgt / f"{split}.tsv", header=False, columns=_FLEURS_COLUMNS):
            targets.setdefault(r["id"], r["raw_transcription"])
    utts = [
        CorpusUtterance(
            id=f"{r['id']}-{Path(r['file_name']).stem}",
            audio=src / "audio" / split / r["file_name"],
            source_text=r["raw_transcription"],
            target_text=targets.get(r["id"]),
        )
        for r in rows
    ]
    if target_lang is not None and not any(u.target_text for u in utts):
        raise CorpusError(f"no FLEURS id of {src.name} is in the {target_lang!r} locale's TSV")
    return _check(_limit(utts, limit), str(src / f"{split}.tsv"))


def _common_voice_sentences(clips: Path) -> dict[str, str]:
    """``{clip file name: sentence}`` from the Common Voice TSVs beside ``clips``."""
    out: dict[str, str] = {}
    for tsv in sorted(clips.parent.glob("*.tsv")):
        try:
            rows = _read_tsv(tsv, header=True, columns=("path", "sentence"))
        except CorpusError:
            continue
        for r in rows:
            out.setdefault(r["path"], r["sentence"])
    return out


def read_cvss(
    root: str | os.PathLike[str],
    *,
    source_audio: str | os.PathLike[str] | None,
    split: str = "test",
    limit: int | None = None,
) -> list[CorpusUtterance]:
    """CVSS-C (see the module docstring). ``root``: the CVSS-C folder of one source language
    (``<split>.tsv`` + ``<split>/``); source_audio: the Common Voice ``clips`` folder."""
    base = Path(root)
    if source_audio is None:
        raise CorpusError(
            "CVSS-C holds only the target side: give the CoVoST / Common Voice source clips "
            "folder (--source-audio DIR, source_audio=)"
        )
    clips = Path(source_audio)
    rows = _read_tsv(base / f"{split}.tsv", header=False, columns=("path", "translation"))
    sentences = _common_voice_sentences(clips)
    utts = [
        CorpusUtterance(
            id=Path(r["path"]).stem,
            audio=clips / r["path"],
            source_text=sentences.get(r["path"]),
            target_text=r["translation"],
            target_audio=base / split / f"{r['path']}.wav",
        )
        for r in rows
    ]
    return _check(_limit(utts, limit), str(base / f"{split}.tsv"))


_MANIFEST_KEYS: Mapping[str, tuple[str, ...]] = {
    "audio": ("audio", "path", "audio_path"),
    "id": ("id", "utterance_id"),
    "offset": ("offset", "offset_s"),
    "duration": ("duration", "duration_s"),
    "source_text": ("source_text", "sentence", "transcript"),
    "target_text": ("target_text", "translation"),
    "target_audio": ("target_audio",),
}


def _field(row: Mapping[str, Any], key: str) -> Any:
    for name in _MANIFEST_KEYS[key]:
        value = row.get(name)
        if value not in (None, ""):
            return value
    return None


def _manifest_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise CorpusError(f"no manifest file {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".jsonl", ".json"):
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise CorpusError(f"{path} is not JSON lines: {exc}") from exc
        if not all(isinstance(r, dict) for r in rows):
            raise CorpusError(f"{path}: every line must be a JSON object")
        return rows
    return list(csv.DictReader(text.splitlines()))


def _float_or(value: Any, default: float | None, where: str) -> float | None:
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise CorpusError(f"{where}: expected seconds, got {value!r}") from exc


def read_manifest(
    path: str | os.PathLike[str], *, limit: int | None = None
) -> list[CorpusUtterance]:
    """A CSV or JSONL manifest (see the module docstring)."""
    file = Path(path)
    rows = _manifest_rows(file)
    if (
        rows
        and _field(rows[0], "audio") is None
        and not any(k in rows[0] for k in _MANIFEST_KEYS["audio"])
    ):
        raise CorpusError(
            f"{file} lacks the audio column (one of {list(_MANIFEST_KEYS['audio'])}); "
            f"it has {sorted(rows[0])}"
        )
    utts = []
    for i, row in enumerate(rows):
        where = f"{file} entry {i + 1}"
        audio = _field(row, "audio")
        if audio is None:
            raise CorpusError(f"{where} has no audio path")
        tgt_audio = _field(row, "target_audio")
        utts.append(
            CorpusUtterance(
                id=str(_field(row, "id") or f"{Path(audio).stem}-{i}"),
                audio=file.parent / audio,
                offset_s=_float_or(_field(row, "offset"), 0.0, where) or 0.0,
                duration_s=_float_or(_field(row, "duration"), None, where),
                source_text=_field(row, "source_text"),
                target_text=_field(row, "target_text"),
                target_audio=file.parent / tgt_audio if tgt_audio else None,
            )
        )
    return _check(_limit(utts, limit), str(file))


def read_corpus(
    path: str | os.PathLike[str],
    *,
    layout: Layout,
    source_lang: str = "en",
    target_lang: str | None = "es",
    split: str = "test",
    source_audio: str | os.PathLike[str] | None = None,
    limit: int | None = None,
) -> list[CorpusUtterance]:
    """Read ``path`` in ``layout`` (``covost2``, ``fleurs``, ``cvss``, ``manifest``).

    source_lang / target_lang: ISO 639-1 codes (covost2 and fleurs choose files by them).
    split: ``train`` / ``dev`` / ``test`` (not for manifests). source_audio: CVSS-C's source
    clips folder. limit: keep the first N utterances.
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be >= 1, got {limit}")
    if layout == "covost2":
        return read_covost2(path, source_lang=source_lang, target_lang=target_lang,
                            split=split, limit=limit)  # fmt: skip
    if layout == "fleurs":
        return read_fleurs(path, source_lang=source_lang, target_lang=target_lang,
                           split=split, limit=limit)  # fmt: skip
    if layout == "cvss":
        return read_cvss(path, source_audio=source_audio, split=split, limit=limit)
    if layout == "manifest":
        return read_manifest(path, limit=limit)
    raise ConfigError(f"unknown corpus layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
