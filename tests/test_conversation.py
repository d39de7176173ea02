"""Two-party conversations: each party hears only the other, translated; echo guard; stereo."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import soundfile as sf
from conftest import speechlike

from s2st_kit import (
    ConfigError,
    Conversation,
    Engines,
    MemorySink,
    MemorySource,
    PacedSink,
    Party,
    PipelineConfig,
    UnsupportedLanguageError,
    split_stereo,
)
from s2st_kit.audio.file import FileSource
from s2st_kit.engines.simulated import (
    SimulatedRecognizer,
    SimulatedSynthesizer,
    SimulatedTranslator,
)
from s2st_kit.errors import AudioFormatError
from s2st_kit.events import SegmentLogged
from s2st_kit.records import AudioChunk

RATE = 16000
A_SCRIPT = [("Hello, I would like to book a table.", 0.3, 2.4), ("For two people.", 6.0, 7.2)]
B_SCRIPT = [("Claro, ¿para qué hora?", 3.0, 4.6), ("Perfecto, hasta luego.", 8.0, 9.4)]


def party_source(script, duration_s: float = 10.0, **kw) -> MemorySource:
    audio = speechlike(duration_s, RATE, [(a, b) for _, a, b in script])
    return MemorySource(audio, RATE, **kw)


def simulated(script) -> SimulatedRecognizer:
    return SimulatedRecognizer(script)


async def test_each_party_hears_only_the_other_in_their_language(tmp_path, no_leaks):
    tts = SimulatedSynthesizer()
    engines = Engines(simulated(A_SCRIPT), SimulatedTranslator(), tts)
    a_hears, b_hears = MemorySink(), MemorySink()
    talk = Conversation(
        engines,
        a=Party("en", source=party_source(A_SCRIPT), sink=a_hears),
        b=Party("es", source=party_source(B_SCRIPT), sink=b_hears, recognizer=simulated(B_SCRIPT)),
        log_path=tmp_path / "call.jsonl",
    )
    df = (await talk.run()).to_pandas()

    assert len(df) == 4 and (df.status == "ok").all() and df.session_id.nunique() == 1
    a, b = df[df.party == "a"], df[df.party == "b"]
    assert list(a.transcript) == [s[0] for s in A_SCRIPT]
    assert list(b.transcript) == [s[0] for s in B_SCRIPT]
    assert (
        set(a.listener) == {"b"} and set(a.target_lang) == {"es"} and set(a.source_lang) == {"en"}
    )
    assert (
        set(b.listener) == {"a"} and set(b.target_lang) == {"en"} and set(b.source_lang) == {"es"}
    )
    assert list(a.translation) == [f"[es] {s[0]}" for s in A_SCRIPT]
    assert list(b.translation) == [f"[en] {s[0]}" for s in B_SCRIPT]
    # What each loudspeaker played is exactly the other party's translated speech, in order.
    for sink, rows in ((a_hears, b), (b_hears, a)):
        voice = rows.voice.iloc[0]
        expected = np.concatenate([tts.render(text, voice) for text in rows.translation])
        assert np.array_equal(sink.audio(), expected)
    # files were not echo-guarded (no acoustic path): nothing muted
    assert talk.guards == {}
    assert (tmp_path / "call.jsonl").read_text().count("\n") == 4


async def test_a_conversation_needs_two_languages_and_is_validated_first():
    engines = Engines(simulated(A_SCRIPT), SimulatedTranslator(), SimulatedSynthesizer())
    with pytest.raises(ConfigError, match="two languages"):
        Conversation(
            engines,
            a=Party("en", source=party_source(A_SCRIPT)),
            b=Party("en", source=party_source(B_SCRIPT)),
        )
    b_sink = MemorySink()
    talk = Conversation(
        engines,
        a=Party("en", source=party_source(A_SCRIPT), sink=MemorySink()),
        b=Party("xx", source=party_source(B_SCRIPT), sink=b_sink),
    )
    with pytest.raises(UnsupportedLanguageError, match="xx"):
        await talk.run()
    assert len(talk.log) == 0


class Loopback:
    """A room: what the party's loudspeaker plays reaches their microphone.

    ``sink`` collects what is played (16 kHz); ``source`` is a microphone paced at ``speed``
    that captures, in each chunk, the audio played since the previous one (else silence).
    """

    def __init__(self, duration_s: float, speed: float) -> None:
        self.duration_s, self.speed = duration_s, speed
        self.sample_rate = RATE
        self.played: list[np.ndarray] = []
        self.heard_played_s = 0.0
        outer = self

        class _Sink:
            sample_rate = RATE

            async def write(self, chunk: AudioChunk) -> None:
                outer.played.append(chunk.samples().copy())

            async def drain(self) -> None:
                pass

            async def aclose(self) -> None:
                pass

        self.sink = PacedSink(_Sink(), speed=speed, buffer_s=0.05)

    def __aiter__(self):
        return self._chunks()

    async def _chunks(self):
        step = RATE // 20  # 50 ms
        loop = asyncio.get_running_loop()
        t0, pending = loop.time(), np.zeros(0, np.int16)
        for i in range(int(self.duration_s * 20)):
            await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.05 / self.speed - loop.time()))
            if self.played:
                pending = np.concatenate([pending, *self.played])
                self.heard_played_s += sum(len(p) for p in self.played) / RATE
                self.played.clear()
            chunk = np.zeros(step, np.int16)
            take = pending[:step]
            chunk[step - len(take) :] = take  # the newest audio at the end of the chunk
            pending = pending[step:]
            yield AudioChunk(chunk.tobytes(), RATE, i * step / RATE)

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize("guarded", [True, False])
async def test_the_echo_guard_keeps_a_loudspeaker_out_of_its_own_microphone(guarded):
    """A's microphone hears only A's loudspeaker (B's words in English, eSpeak NG); the real
    English recognizer listens. Guarded: A says nothing, so A has no segment. Unguarded (the
    control): the loudspeaker's speech comes back as A's segments."""
    pytest.importorskip("pocketsphinx")
    offline = Engines.create("offline")
    room = Loopback(duration_s=12.0, speed=2.0)
    b_script = [("Buenos días. Quiero reservar una mesa para dos personas.", 0.3, 3.5)]
    b_src = party_source(b_script, 5.0, realtime=True, speed=2.0)
    talk = Conversation(
        offline,
        PipelineConfig(chunk_ms=50),
        a=Party("en", source=room, sink=room.sink, echo_guard=guarded),
        b=Party("es", source=b_src, sink=MemorySink(), recognizer=simulated(b_script)),
    )
    try:
        df = (await talk.run()).to_pandas()
    finally:
        await offline.aclose()
    b_rows = df[df.party == "b"]
    assert len(b_rows) == 1 and (b_rows.status == "ok").all()
    assert room.heard_played_s > 1.0, "A's loudspeaker played B's translation into the room"
    a_rows = df[df.party == "a"]
    if guarded:
        assert len(a_rows) == 0, f"echo came back as A's speech: {list(a_rows.transcript)}"
        assert talk.guards["a"].muted_s >= room.heard_played_s - 0.1
    else:
        assert len(a_rows) >= 1 and a_rows.transcript.str.len().sum() > 0


def write_stereo(path, left: np.ndarray, right: np.ndarray) -> None:
    sf.write(str(path), np.stack([left, right], axis=1), RATE, subtype="PCM_16")


async def test_a_stereo_call_is_split_by_channel(tmp_path):
    left = speechlike(10.0, RATE, [(a, b) for _, a, b in A_SCRIPT])
    right = speechlike(10.0, RATE, [(a, b) for _, a, b in B_SCRIPT]) // 2
    call = tmp_path / "call.wav"
    write_stereo(call, left, right)
    a_src, b_src = split_stereo(call, realtime=False)
    for src, channel in ((a_src, left), (b_src, right)):
        got = np.concatenate([c.samples() async for c in FileSource(call, channel=src.channel)])
        assert np.array_equal(got, channel)
    # A conversation on the split call: each side's rows come from its own channel.
    engines = Engines(simulated(A_SCRIPT), SimulatedTranslator(), SimulatedSynthesizer())
    a_src, b_src = split_stereo(call, realtime=False)
    talk = Conversation(
        engines,
        a=Party("en", source=a_src, sink=MemorySink()),
        b=Party("es", source=b_src, sink=MemorySink(), recognizer=simulated(B_SCRIPT)),
    )
    df = (await talk.run()).to_pandas()
    assert sorted(df.party) == ["a", "a", "b", "b"]
    assert talk.pipelines["a"].stats.audio_s == pytest.approx(10.0, abs=0.01)


def test_stereo_split_refuses_a_mono_file_and_a_missing_channel(tmp_path):
    mono = tmp_path / "mono.wav"
    sf.write(str(mono), speechlike(1.0, RATE, [(0.1, 0.5)]), RATE, subtype="PCM_16")
    with pytest.raises(AudioFormatError, match=r"2 channels.*pass both files"):
        split_stereo(mono)
    with pytest.raises(AudioFormatError, match="no channel 1"):
        FileSource(mono, channel=1)


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    from tests.fakes import fake_aws_env

    fake_aws_env(monkeypatch, tmp_path)


async def test_aws_one_transcribe_stream_per_party_in_its_own_language(aws_env, tmp_path):
    """Through the real SDKs against the fakes: two concurrent Transcribe streams (en-US and
    es-US) from one recognizer, Translate both ways, Polly in each party's language."""
    pytest.importorskip("amazon_transcribe")
    from s2st_kit.engines.aws.polly import AwsPollySynthesizer
    from s2st_kit.engines.aws.transcribe import AwsTranscribeRecognizer
    from s2st_kit.engines.aws.translate import AwsTranslator
    from tests.fakes.certs import make_self_signed_cert
    from tests.fakes.polly_server import FakePollyServer
    from tests.fakes.transcribe_server import FakeTranscribeServer, tone_clip
    from tests.fakes.transcribe_server import Utterance as Heard
    from tests.fakes.translate_server import FakeTranslateServer

    vocabulary = [Heard(500.0, "hello world.", "en-US"), Heard(700.0, "hola gato.", "es-US")]
    cert = make_self_signed_cert(tmp_path / "tls")
    with (
        FakeTranscribeServer(cert, vocabulary=vocabulary) as ts,
        FakeTranslateServer() as tr,
        FakePollyServer(ttfb_s=0.02, pace=20.0) as po,
    ):
        engines = Engines(
            AwsTranscribeRecognizer(
                endpoint_url=ts.endpoint_url, ca_bundle=ts.cert.cert_path,
                connect_timeout_s=3, final_timeout_s=5, reconnect_backoff_s=0.01,
            ),
            AwsTranslator(endpoint_url=tr.endpoint_url, backoff_base_s=0.001, max_attempts=2),
            AwsPollySynthesizer(endpoint_url=po.endpoint_url, backoff_base_s=0.001),
        )  # fmt: skip
        a_src = MemorySource(tone_clip([(500.0, 0.3, 1.3)]), RATE, realtime=True, speed=2)
        b_src = MemorySource(tone_clip([(700.0, 0.3, 1.3)]), RATE, realtime=True, speed=2)
        a_hears, b_hears = MemorySink(), MemorySink()
        talk = Conversation(
            engines,
            a=Party("en", source=a_src, sink=a_hears),
            b=Party("es", source=b_src, sink=b_hears),
        )
        try:
            df = (await talk.run()).to_pandas()
        finally:
            await engines.aclose()
        codes = sorted(s.headers.get("x-amzn-transcribe-language-code", "") for s in ts.streams)
    assert codes == ["en-US", "es-US"]
    assert (df.status == "ok").all() and len(df) == 2
    a, b = df[df.party == "a"].iloc[0], df[df.party == "b"].iloc[0]
    assert (a.transcript, a.translation, a.target_lang) == ("hello world.", "hola mundo.", "es")
    assert (b.transcript, b.translation, b.target_lang) == ("hola gato.", "hello cat.", "en")
    assert a_hears.duration_s == pytest.approx(b.tts_audio_s, rel=1e-3)
    assert b_hears.duration_s == pytest.approx(a.tts_audio_s, rel=1e-3)


async def test_stop_ends_both_directions_and_keeps_the_log(no_leaks):
    engines = Engines(simulated(A_SCRIPT), SimulatedTranslator(), SimulatedSynthesizer())
    talk = Conversation(
        engines,
        a=Party("en", source=party_source(A_SCRIPT, realtime=True, speed=4), sink=MemorySink()),
        b=Party(
            "es", source=party_source(B_SCRIPT, realtime=True, speed=4), sink=MemorySink(),
            recognizer=simulated(B_SCRIPT),
        ),
    )  # fmt: skip
    first = asyncio.Event()
    talk.pipelines["a"].subscribe(lambda ev: first.set() if isinstance(ev, SegmentLogged) else None)
    task = talk.start()
    async with asyncio.timeout(30):
        await first.wait()
    log = await talk.stop(drain=False)
    assert task.done() and len(log) >= 1
    assert all(p.state.value == "stopped" for p in talk.pipelines.values())
    assert talk.pipelines["a"].stats.audio_s < 10.0  # stopped before A's recording ended
