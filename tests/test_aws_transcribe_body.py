"""The Transcribe request body that awscrt reads without spinning (adapter.WaitingBodyStream).

Logic-level tests drive the body from threads the way awscrt's event-loop thread does; the
end-to-end ones run the real SDK and awscrt against the loopback HTTP/2 fake. Counts, not
timings: a read that waits is checked by how many reads an idle interval takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time

import pytest

from s2st_kit.engines.aws.transcribe import AwsTranscribeRecognizer, TranscribeSettings
from s2st_kit.engines.aws.transcribe.adapter import (
    BODY_WAIT_S,
    AmazonTranscribeBackend,
    WaitingBodyStream,
)
from s2st_kit.errors import ConfigError
from tests.fakes import fake_aws_env
from tests.fakes.certs import make_self_signed_cert
from tests.fakes.transcribe_server import FakeTranscribeServer, Utterance, tone_clip
from tests.test_aws_transcribe import chunks_of

VOCAB = [Utterance(300.0, "good morning everyone."), Utterance(500.0, "thank you for coming.")]
PLAN = [(300.0, 0.3, 1.3), (500.0, 1.8, 2.6)]
LONG_WAIT_S = 30.0  # a reader still waiting this long means the wake-up was lost
JOIN_S = 10.0


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    fake_aws_env(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


def read_all(body: WaitingBodyStream, sizes: list[int]) -> bytes:
    """Read until the end of the body with buffers of the given sizes (cycled)."""
    out = bytearray()
    for i in range(100_000):
        buffer = bytearray(sizes[i % len(sizes)])
        try:
            n = body.readinto1(buffer)
        except BlockingIOError:
            continue
        if n == 0:
            return bytes(out)
        out += buffer[:n]
    raise AssertionError("the body never ended")


def until_not_blocked(read):
    """Call ``read`` again while it says "no data yet", as awscrt does. A wake-up may be
    spurious (one left by a write that found the thread busy), never lost: a lost one
    would leave the reader in a LONG_WAIT_S wait and fail the join."""
    for _ in range(100):
        try:
            return read()
        except BlockingIOError:
            continue
    raise AssertionError("no data after 100 wake-ups")


class InThread:
    """Run ``fn`` in a thread; ``result`` / ``error`` once it returns."""

    def __init__(self, fn) -> None:
        self.result: object = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn) -> None:
        try:
            self.result = fn()
        except BaseException as exc:
            self.error = exc

    def join(self) -> None:
        self.thread.join(JOIN_S)
        assert not self.thread.is_alive(), "the reader was not woken"


# ---------------------------------------------------------------------------------- logic
def test_every_byte_in_order_whatever_the_read_sizes():
    rng = random.Random(7)
    chunks = [rng.randbytes(rng.randint(1, 5000)) for _ in range(200)]
    body = WaitingBodyStream(wait_s=0.001)
    writer = InThread(lambda: [body.write(c) for c in chunks] and body.end_stream())
    got = read_all(body, [1, 7, 16384, 333, 4096])
    writer.join()
    assert got == b"".join(chunks)


def test_read_and_read1_return_what_was_written_then_the_end():
    body = WaitingBodyStream()
    assert body.write(b"abc") == 3 and body.write(b"") == 0 and body.write(b"defg") == 4
    assert body.read(2) == b"ab"
    assert body.read1() == b"cdefg"
    body.end_stream()
    assert body.read() == b"" and body.readinto(bytearray(8)) == 0
    assert not body.closed


def test_end_of_stream_comes_after_the_buffered_bytes_and_refuses_writes():
    body = WaitingBodyStream()
    body.write(b"last audio")
    body.end_stream()
    assert read_all(body, [4]) == b"last audio"
    with pytest.raises(OSError, match="no more writes"):
        body.write(b"late")


def test_close_drops_what_is_buffered_and_reads_as_ended():
    body = WaitingBodyStream()
    body.write(b"never sent")
    body.close()
    assert body.closed
    assert body.readinto1(bytearray(16)) == 0
    with pytest.raises(OSError):
        body.write(b"x")


def test_only_bytes_are_accepted():
    with pytest.raises(ValueError, match="only bytes"):
        WaitingBodyStream().write(bytearray(b"x"))


def test_an_empty_body_says_no_data_yet_after_its_wait():
    body = WaitingBodyStream(wait_s=0.001)
    with pytest.raises(BlockingIOError):
        body.readinto1(bytearray(16))
    with pytest.raises(BlockingIOError):
        body.read(16)
    assert body.reads == 2


def test_a_write_wakes_a_waiting_reader():
    body = WaitingBodyStream(wait_s=LONG_WAIT_S)
    buffer = bytearray(64)
    reader = InThread(lambda: until_not_blocked(lambda: body.readinto1(buffer)))
    time.sleep(0.05)  # let it start waiting (if it has not, the wake-up is simply pending)
    body.write(b"audio event")
    reader.join()
    assert reader.error is None and buffer[: reader.result] == b"audio event"


@pytest.mark.parametrize("how", ["end_stream", "close"])
def test_end_and_close_wake_a_waiting_reader(how):
    body = WaitingBodyStream(wait_s=LONG_WAIT_S)
    reader = InThread(lambda: until_not_blocked(lambda: body.readinto1(bytearray(64))))
    time.sleep(0.05)
    getattr(body, how)()
    reader.join()
    assert reader.error is None and reader.result == 0


def test_audio_for_another_body_wakes_the_thread_that_reads_both():
    """awscrt reads every stream of a connection on one thread: while it waits in A's read,
    audio written to B must not wait for A's timeout."""
    a, b = WaitingBodyStream(wait_s=LONG_WAIT_S), WaitingBodyStream(wait_s=LONG_WAIT_S)
    b.write(b"first")
    b_read_once = threading.Event()

    def crt_thread() -> bytes:
        assert b.read() == b"first"  # this thread now reads b
        with contextlib.suppress(BlockingIOError):  # take any wake-up left by a past thread
            WaitingBodyStream(wait_s=0.001).read()
        b_read_once.set()
        try:
            a.readinto1(bytearray(64))
        except BlockingIOError:  # woken for b's audio: a has none
            return b.read()
        raise AssertionError("a had no data")

    reader = InThread(crt_thread)
    assert b_read_once.wait(JOIN_S)
    time.sleep(0.05)
    b.write(b"second")
    reader.join()
    assert reader.error is None and reader.result == b"second"


def _idle_reads(body, seconds: float) -> int:
    end = time.monotonic() + seconds
    reads = 0
    while time.monotonic() < end:
        reads += 1
        try:
            body.readinto1(bytearray(16384))
        except BlockingIOError:
            pass
    return reads


def test_an_idle_body_does_not_spin():
    wait_s, idle_s = 0.01, 0.5
    body = WaitingBodyStream(wait_s=wait_s)
    reader = InThread(lambda: _idle_reads(body, idle_s))
    reader.join()
    assert 1 <= reader.result <= idle_s / wait_s + 2
    assert body.reads == reader.result


def test_the_sdk_body_it_replaces_does_spin():
    """The bug this fixes: the SDK's own body answers an empty read at once, every time."""
    from amazon_transcribe.structures import BufferableByteStream

    assert _idle_reads(BufferableByteStream(), 0.2) > 1000


def test_body_wait_is_bounded(aws_env):
    for bad in (0.0, -1.0, 0.5):
        with pytest.raises(ConfigError, match="body_wait_s"):
            AmazonTranscribeBackend(body_wait_s=bad)
    # the default bounds how long a result frame can wait behind an empty read (25 ms, well
    # under Transcribe's ~1 s to a final); audio never waits for it (a write wakes the read)
    assert 0 < BODY_WAIT_S <= 0.025


# ----------------------------------------------------------------------- end to end (fake)
class RecordingBackend(AmazonTranscribeBackend):
    """The real backend, keeping each request body it makes (to count awscrt's reads)."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.bodies: list[WaitingBodyStream] = []

    def _new_body(self) -> WaitingBodyStream:
        body = super()._new_body()
        self.bodies.append(body)
        return body


async def test_recognizer_end_to_end_every_event_read_once(aws_env, cert):
    delays: list[float] = []
    with FakeTranscribeServer(cert, vocabulary=VOCAB) as fake:
        backend = RecordingBackend(
            endpoint_url=fake.endpoint_url,
            ca_bundle=fake.cert.cert_path,
            send_delay_probe=delays.append,
        )
        rec = AwsTranscribeRecognizer(backend=backend, chunk_ms=100, final_timeout_s=5.0)
        results = [t async for t in rec.stream(chunks_of(tone_clip(PLAN)), language="en")]
        await rec.aclose()
    assert [t.text for t in results if t.is_final] == [u.text for u in VOCAB]
    stream = fake.streams[0]
    assert stream.ended_by_client and len(backend.bodies) == 1
    # one signed message per audio event plus the empty end-of-stream message, each read
    # exactly once by awscrt (no audio lost, none duplicated)
    assert len(delays) == len(stream.chunk_sizes) + 1
    assert backend.bodies[0].closed or backend.bodies[0].read() == b""


async def test_an_open_idle_stream_does_not_spin_the_crt_thread(aws_env, cert):
    wait_s, idle_s = 0.01, 0.5
    with FakeTranscribeServer(cert, vocabulary=VOCAB) as fake:
        backend = RecordingBackend(
            endpoint_url=fake.endpoint_url, ca_bundle=fake.cert.cert_path, body_wait_s=wait_s
        )
        handle = await backend.open(TranscribeSettings(language_code="en-US"))
        try:
            await handle.send(bytes(3200))
            body = backend.bodies[0]
            before = body.reads
            await asyncio.sleep(idle_s)  # the CRT thread reads on its own meanwhile
            idle_reads = body.reads - before
            await handle.end()
            finals = [r async for r in handle.results()]
        finally:
            await handle.aclose()
            await backend.aclose()
    assert 1 <= idle_reads <= idle_s / wait_s + 5
    assert finals == [] and fake.streams[0].ended_by_client
