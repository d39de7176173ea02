#!/usr/bin/env python3
"""Regenerate the sample clips in data/ with eSpeak NG (no network).

Each clip is a few sentences spoken by one eSpeak NG voice, separated by known silences,
resampled to 16 kHz mono 16-bit WAV. The script writes the WAV files and
``manifest.json`` (transcripts, reference translations written by hand, utterance spans,
sha256 of every file). Output is byte-for-byte reproducible with the same eSpeak NG data
and soxr versions (recorded in each entry's ``generator``).

Usage::

    python scripts/make_samples.py            # rewrite data/
    python scripts/make_samples.py --out DIR  # write somewhere else (tests compare hashes)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.metadata
import io
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from s2st_kit.engines.offline.espeak import ESpeakSynthesizer  # noqa: E402

SAMPLE_RATE = 16000
LEAD_S = 0.4  # silence before the first sentence (s)
GAP_S = 0.7  # silence between sentences (s)
TAIL_S = 0.5  # silence after the last sentence (s)
TRIM_LEVEL = 0.01  # samples below this (fraction of full scale) count as silence when trimming

#: id, voice, language, [(sentence, {target: reference translation})]
CLIPS: list[tuple[str, str, str, list[tuple[str, dict[str, str]]]]] = [
    (
        "en_home",
        "en-US",
        "en",
        [
            (
                "The house is very big.",
                {
                    "es": "La casa es muy grande.",
                    "fr": "La maison est très grande.",
                    "de": "Das Haus ist sehr groß.",
                },
            ),
            (
                "My sister lives in the city.",
                {
                    "es": "Mi hermana vive en la ciudad.",
                    "fr": "Ma sœur habite en ville.",
                    "de": "Meine Schwester wohnt in der Stadt.",
                },
            ),
            (
                "We drink coffee every morning.",
                {
                    "es": "Tomamos café todas las mañanas.",
                    "fr": "Nous buvons du café tous les matins.",
                    "de": "Wir trinken jeden Morgen Kaffee.",
                },
            ),
        ],
    ),
    (
        "en_travel",
        "en",
        "en",
        [
            (
                "Good morning, how are you today?",
                {
                    "es": "Buenos días, ¿cómo estás hoy?",
                    "fr": "Bonjour, comment vas-tu aujourd'hui ?",
                    "de": "Guten Morgen, wie geht es dir heute?",
                },
            ),
            (
                "The train leaves at nine o'clock.",
                {
                    "es": "El tren sale a las nueve.",
                    "fr": "Le train part à neuf heures.",
                    "de": "Der Zug fährt um neun Uhr ab.",
                },
            ),
            (
                "I would like a cup of tea.",
                {
                    "es": "Me gustaría una taza de té.",
                    "fr": "Je voudrais une tasse de thé.",
                    "de": "Ich hätte gern eine Tasse Tee.",
                },
            ),
        ],
    ),
    (
        "en_help",
        "en-US",
        "en",
        [
            (
                "Where is the nearest hospital?",
                {
                    "es": "¿Dónde está el hospital más cercano?",
                    "fr": "Où est l'hôpital le plus proche ?",
                    "de": "Wo ist das nächste Krankenhaus?",
                },
            ),
            (
                "Please speak more slowly.",
                {
                    "es": "Por favor, hable más despacio.",
                    "fr": "Parlez plus lentement, s'il vous plaît.",
                    "de": "Bitte sprechen Sie langsamer.",
                },
            ),
            (
                "Thank you for your help.",
                {
                    "es": "Gracias por su ayuda.",
                    "fr": "Merci pour votre aide.",
                    "de": "Vielen Dank für Ihre Hilfe.",
                },
            ),
        ],
    ),
    (
        "es_casa",
        "es",
        "es",
        [
            ("La casa es muy grande.", {"en": "The house is very big."}),
            ("Mi hermano trabaja en un hospital.", {"en": "My brother works in a hospital."}),
            ("Hoy hace mucho calor.", {"en": "It is very hot today."}),
        ],
    ),
    (
        "de_alltag",
        "de",
        "de",
        [
            ("Das Wetter ist heute schön.", {"en": "The weather is nice today."}),
            ("Ich lerne jeden Tag Deutsch.", {"en": "I learn German every day."}),
            ("Wo ist der Bahnhof?", {"en": "Where is the train station?"}),
        ],
    ),
    (
        "fr_marche",
        "fr",
        "fr",
        [
            ("Le chat dort sur le canapé.", {"en": "The cat is sleeping on the sofa."}),
            ("Nous allons au marché demain.", {"en": "We are going to the market tomorrow."}),
            ("Quelle heure est-il ?", {"en": "What time is it?"}),
        ],
    ),
]


def _trim(samples: np.ndarray) -> np.ndarray:
    """Cut leading and trailing near-silence so utterance spans are tight."""
    loud = np.flatnonzero(np.abs(samples) > TRIM_LEVEL)
    if loud.size == 0:
        return samples[:0]
    return samples[loud[0] : loud[-1] + 1]


async def _speak(synth: ESpeakSynthesizer, text: str, voice: str) -> np.ndarray:
    parts = [chunk.samples() async for chunk in synth.synthesize(text, voice=voice)]
    pcm = np.concatenate(parts).astype(np.float64) / 32768.0
    resampled = soxr.resample(pcm, synth.sample_rate, SAMPLE_RATE, quality="HQ")
    return _trim(resampled)


def _generator_string() -> str:
    versions = {
        pkg: importlib.metadata.version(pkg) for pkg in ("espeakng-loader", "soxr", "soundfile")
    }
    return "scripts/make_samples.py: eSpeak NG via " + ", ".join(
        f"{k} {v}" for k, v in versions.items()
    )


async def generate(out_dir: Path) -> list[dict[str, object]]:
    """Write every clip's WAV into ``out_dir``; return the manifest entries."""
    synth = ESpeakSynthesizer(rate=165)
    entries: list[dict[str, object]] = []
    try:
        for clip_id, voice, language, sentences in CLIPS:
            pieces = [np.zeros(round(LEAD_S * SAMPLE_RATE))]
            utterances = []
            position = len(pieces[0])
            for i, (text, refs) in enumerate(sentences):
                speech = await _speak(synth, text, voice)
                start = position
                pieces.append(speech)
                position += len(speech)
                utterances.append(
                    {
                        "text": text,
                        "start_s": round(start / SAMPLE_RATE, 3),
                        "end_s": round(position / SAMPLE_RATE, 3),
                        "translations": refs,
                    }
                )
                gap = GAP_S if i < len(sentences) - 1 else TAIL_S
                pieces.append(np.zeros(round(gap * SAMPLE_RATE)))
                position += round(gap * SAMPLE_RATE)
            audio = np.concatenate(pieces)
            buf = io.BytesIO()
            sf.write(buf, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
            data = buf.getvalue()
            name = f"{clip_id}.wav"
            (out_dir / name).write_bytes(data)
            targets = sorted({t for _, refs in sentences for t in refs})
            entries.append(
                {
                    "id": clip_id,
                    "file": name,
                    "language": language,
                    "voice": voice,
                    "transcript": " ".join(text for text, _ in sentences),
                    "translations": {
                        t: " ".join(refs[t] for _, refs in sentences) for t in targets
                    },
                    "utterances": utterances,
                    "sample_rate": SAMPLE_RATE,
                    "duration_s": round(len(audio) / SAMPLE_RATE, 3),
                    "source": "espeak-ng",
                    "generator": _generator_string(),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
    finally:
        await synth.aclose()
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "data", help="output folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    entries = asyncio.run(generate(args.out))
    manifest = args.out / "manifest.json"
    manifest.write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    total = sum((args.out / str(e["file"])).stat().st_size for e in entries)
    print(f"wrote {len(entries)} clips ({total / 1e6:.2f} MB) and {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
