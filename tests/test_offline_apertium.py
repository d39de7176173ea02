"""Real Apertium pipelines: translations, escaping, restart after a crash, missing pairs."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time

import pytest

from s2st_kit.engines.offline.apertium import (
    ApertiumTranslator,
    build_stages,
    create_translator,
    escape_text,
    iso639_1,
    unescape_output,
)
from s2st_kit.errors import EngineNotInstalledError, UnsupportedLanguageError

pytestmark = pytest.mark.offline

if shutil.which("lt-proc") is None or not os.path.exists("/usr/share/apertium/modes/eng-spa.mode"):
    pytest.skip(
        "Apertium or its English-Spanish pair is not installed "
        "(apt-get install apertium apertium-eng-spa)",
        allow_module_level=True,
    )


@pytest.fixture
async def translator():
    tr = create_translator()
    try:
        yield tr
    finally:
        await tr.aclose()


SENTENCES = [
    ("The house is big.", ["casa", "grande"]),
    ("I like the red car.", ["gusta", "coche", "rojo"]),
    ("My sister lives in the city.", ["hermana", "ciudad"]),
    ("The dog sleeps in the garden.", ["perro", "jardín"]),
    ("We drink coffee every morning.", ["café", "mañana"]),
]


async def test_english_to_spanish_key_words(translator: ApertiumTranslator) -> None:
    for text, words in SENTENCES:
        result = await translator.translate(text, source="en", target="es")
        assert result.source_text == text and result.engine == "apertium"
        assert (result.source, result.target) == ("en", "es")
        for word in words:
            assert word in result.text.lower(), (text, result.text)


async def test_unknown_words_are_not_marked(translator: ApertiumTranslator) -> None:
    result = await translator.translate("The xyzzy house.", source="en", target="es")
    assert "xyzzy" in result.text and "*" not in result.text and "#" not in result.text


async def test_reserved_characters_round_trip(translator: ApertiumTranslator) -> None:
    nasty = r"Cost: $5 ^a/b <c> {d} [e] \f @g *h #i ~j 50% a|b"
    result = await asyncio.wait_for(
        translator.translate(nasty, source="en", target="es"), timeout=10
    )
    for token in ["$5", "<c>", "{d}", "[e]", r"\f", "@g", "*h", "#i", "~j", "50%", "|"]:
        assert token in result.text, (token, result.text)
    # the next sentence is not corrupted by the previous one
    after = await translator.translate("The house is big.", source="en", target="es")
    assert after.text == "La casa es grande."
    assert translator.restarts("en", "es") == 0


async def test_control_characters_do_not_break_framing(translator: ApertiumTranslator) -> None:
    result = await translator.translate("The\x00 house\x01 is big.", source="en", target="es")
    assert "casa" in result.text
    after = await translator.translate("The dog.", source="en", target="es")
    assert after.text == "El perro."


async def test_killed_pipeline_restarts_and_retries(translator: ApertiumTranslator) -> None:
    await translator.translate("Hello.", source="en", target="es")
    pids = translator.pipeline_pids("en", "es")
    assert len(pids) > 3
    os.kill(pids[len(pids) // 2], signal.SIGKILL)  # a middle stage dies
    result = await translator.translate("The house is big.", source="en", target="es")
    assert result.text == "La casa es grande."
    assert translator.restarts("en", "es") >= 1
    assert translator.pipeline_pids("en", "es") != pids


@pytest.mark.parametrize("stage", ["first", "middle"])
async def test_dead_pipeline_detected_mid_call(translator: ApertiumTranslator, stage: str) -> None:
    """The stage dies but still looks alive (not yet reaped): the sentence is retried.

    A dead middle stage makes the stages after it flush a NUL on EOF, which must not be
    taken for an (empty) answer.
    """
    await translator.translate("Hello.", source="en", target="es")
    direction = translator._directions[("en", "es")]
    pipeline = direction.pipeline
    assert pipeline is not None
    original = pipeline.alive
    pipeline.alive = lambda: True  # type: ignore[method-assign]  # hide the death once
    victim = pipeline.procs[0 if stage == "first" else len(pipeline.procs) // 2]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    result = await translator.translate("The red car.", source="en", target="es")
    assert "coche" in result.text
    assert translator.restarts("en", "es") == 1
    pipeline.alive = original  # type: ignore[method-assign]


async def test_missing_pair_names_the_package(translator: ApertiumTranslator) -> None:
    with pytest.raises(UnsupportedLanguageError, match="apt-get install apertium-"):
        await translator.translate("Hello.", source="en", target="fr")
    with pytest.raises(UnsupportedLanguageError, match="apertium-spa-cat"):
        translator.check_pair("es", "ca")


def test_pairs_discovered_from_modes(translator: ApertiumTranslator) -> None:
    pairs = translator.pairs()
    assert ("en", "es") in pairs and ("es", "en") in pairs
    assert all(len(s) == 2 and len(t) == 2 for s, t in pairs)


def test_missing_apertium_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(EngineNotInstalledError, match="apt-get install apertium"):
        ApertiumTranslator()


def test_empty_modes_dir(tmp_path) -> None:
    tr = ApertiumTranslator(modes_dir=tmp_path)
    assert tr.pairs() == frozenset()


def test_helpers() -> None:
    assert iso639_1("eng") == "en" and iso639_1("spa") == "es" and iso639_1("en") == "en"
    assert escape_text("a^b$c") == r"a\^b\$c"
    assert unescape_output(r"a\^b [~] c") == "a^b ~ c"
    stages = build_stages("lt-proc 'x.bin' | apertium-tagger -g $2 'p' | lt-proc $1 'g.bin'")
    assert stages == [
        ["lt-proc", "-z", "x.bin"],
        ["apertium-tagger", "-z", "-g", "p"],
        ["lt-proc", "-z", "-n", "g.bin"],
    ]


async def test_resident_pipeline_is_faster_than_spawning(translator: ApertiumTranslator) -> None:
    """Measures (prints with -s) resident vs per-sentence spawn latency; no speed assert."""
    text = "The weather is nice today."
    await translator.translate(text, source="en", target="es")  # warm up
    n = 20
    t0 = time.perf_counter()
    for _ in range(n):
        await translator.translate(text, source="en", target="es")
    resident_ms = (time.perf_counter() - t0) / n * 1000
    spawn_n = 3
    t0 = time.perf_counter()
    for _ in range(spawn_n):
        await asyncio.to_thread(
            subprocess.run,
            ["apertium", "eng-spa"],
            input=text.encode(),
            capture_output=True,
            check=True,
        )
    spawn_ms = (time.perf_counter() - t0) / spawn_n * 1000
    print(f"\nApertium en-es per sentence: resident {resident_ms:.1f} ms, spawn {spawn_ms:.0f} ms")
