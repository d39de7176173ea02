"""The simulated recognizer stays linear on long scripts (an hour of speech is ~1,800 utterances).

Regression: ``advance()`` used to scan the whole script, with a list membership test, for every
audio chunk — cubic in the session length (400 utterances took 3 s, an hour several minutes).
The check counts script accesses instead of timing anything.
"""

from __future__ import annotations

import numpy as np

from s2st_kit.engines.simulated import ScriptUtterance, SimulatedRecognizer
from s2st_kit.records import AudioChunk


class CountingScript(tuple):
    """A script tuple that counts how many utterances are read from it."""

    reads = 0

    def __getitem__(self, index):  # type: ignore[override]
        CountingScript.reads += 1
        return super().__getitem__(index)

    def __iter__(self):
        for item in super().__iter__():
            CountingScript.reads += 1
            yield item


async def test_long_script_costs_a_bounded_number_of_reads_per_chunk() -> None:
    n = 300
    script = [
        (f"Utterance number {i}, spoken here.", 0.5 + 2.0 * i, 1.8 + 2.0 * i) for i in range(n)
    ]
    rec = SimulatedRecognizer(script)
    rec.script = CountingScript(rec.script)
    CountingScript.reads = 0
    pcm = np.zeros(1600, np.int16).tobytes()
    n_chunks = int((2.0 * n + 1) * 10)

    async def chunks():
        for k in range(n_chunks):
            yield AudioChunk(pcm, 16000, k * 0.1)

    finals = [t async for t in rec.stream(chunks()) if t.is_final]
    assert [t.text for t in finals] == [s[0] for s in script]
    assert [t.utterance_id for t in finals] == list(range(n))
    # A full scan per chunk would be n * n_chunks = 1.8 M reads; a few per chunk is linear.
    assert CountingScript.reads < 10 * n_chunks, CountingScript.reads


async def test_stream_started_mid_script_skips_utterances_begun_before_it() -> None:
    script = [
        ScriptUtterance("first one here.", 0.2, 1.0),
        ScriptUtterance("second one here.", 1.5, 2.5),
    ]
    rec = SimulatedRecognizer(script)
    pcm = np.zeros(1600, np.int16).tobytes()

    async def chunks():
        for k in range(5, 30):  # the stream starts at 0.5 s, inside the first utterance
            yield AudioChunk(pcm, 16000, k * 0.1)

    finals = [t async for t in rec.stream(chunks()) if t.is_final]
    assert [t.text for t in finals] == ["second one here."]
