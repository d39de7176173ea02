"""9. CPU a Transcribe stream costs the client, SDK as shipped vs s2st_kit, and the send delay.

The loopback fake (:class:`tests.fakes.transcribe_server.FakeTranscribeServer`, HTTP/2 + TLS)
runs in a spawned child process, so this process is the client alone: its CPU time
(``time.process_time``, every thread: the asyncio loop, the awscrt event-loop threads) over
each phase's wall time is the figure, in % of one core. Each phase streams 100 ms audio
events at real time (a 180 Hz tone 2 s on / 1 s off, which the fake transcribes, so
partial and final results flow back) for ``STREAM_S`` s (quick: ``QUICK_STREAM_S``):

1. **SDK as shipped**: ``amazon_transcribe``'s own ``TranscribeStreamingClient`` and its
   default request body; one task sends ``send_audio_event`` at real time, one reads the
   results, then ``end_stream`` (the SDK's README example). Only the TLS trust of the fake's
   certificate is added (:func:`s2st_kit.engines.aws.transcribe.adapter.set_tls_context`).
2. **s2st_kit**: one :class:`~s2st_kit.engines.aws.transcribe.AwsTranscribeRecognizer`
   session (``chunk_ms=100``) fed by a real-time :class:`~benchmarks.common.ToneSource`.
3. **s2st_kit, 4 streams**: four such sessions at once; CPU of the whole process.

The send delay is :class:`~s2st_kit.engines.aws.transcribe.adapter.WaitingBodyStream`'s
probe: seconds from handing an audio event to the request body (on the event loop) to the
awscrt thread reading its last byte, over phases 2 and 3; p95 in ms. Per-thread CPU
(``/proc/self/task/*/stat``) is in the JSON details, to show where the time goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from unittest import mock

from s2st_kit.engines.aws.transcribe import AmazonTranscribeBackend, AwsTranscribeRecognizer
from s2st_kit.engines.aws.transcribe.adapter import (
    BODY_WAIT_S,
    close_connections,
    set_tls_context,
)

from .common import BenchResult, ToneSource, percentile

NAME = "aws_cpu"
STREAM_S = 20.0
QUICK_STREAM_S = 3.0
CHUNK_MS = 100
TONE_HZ = 180.0  # ToneSource's tone
TARGET_ONE_PCT = 3.0
TARGET_FOUR_PCT = 8.0
TARGET_DELAY_MS = 10.0
_REGION = "us-west-2"


# --------------------------------------------------------------------------- the fake, in a child


def _serve(conn: Connection) -> None:
    """Child process: run the fake until the parent says stop; report its own CPU (s)."""
    from tests.fakes.certs import make_self_signed_cert
    from tests.fakes.transcribe_server import FakeTranscribeServer, Utterance

    with tempfile.TemporaryDirectory() as tmp:
        cert = make_self_signed_cert(Path(tmp))
        vocabulary = [Utterance(TONE_HZ, "first we open the valve.")]
        with FakeTranscribeServer(cert, vocabulary=vocabulary) as fake:
            conn.send((fake.endpoint_url, str(cert.cert_path)))
            conn.recv()
            conn.send(time.process_time())


@contextlib.contextmanager
def _fake_in_child() -> Iterator[tuple[str, str, dict[str, float]]]:
    """Start the fake in a spawned process; yields (endpoint_url, ca_path, child stats)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child,), daemon=True)
    process.start()
    stats: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 60
        while not parent.poll(0.2):
            if not process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Transcribe server did not start (child process)")
        url, ca_path = parent.recv()
        yield url, ca_path, stats
        parent.send("stop")
        if parent.poll(20):
            stats["fake_cpu_s"] = parent.recv()
    finally:
        process.join(20)
        if process.is_alive():
            process.terminate()
            process.join(5)


@contextlib.contextmanager
def _fake_credentials() -> Iterator[None]:
    """Fake AWS credentials in the environment for the run (restored afterwards)."""
    from tests.fakes import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY

    env = {
        "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": _REGION,
        "AWS_REGION": _REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    with mock.patch.dict(os.environ, env):
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE"):
            os.environ.pop(name, None)
        yield


# --------------------------------------------------------------------------- measuring


def thread_cpu_s() -> dict[str, float]:
    """CPU time (s, user + system) of each thread of this process, keyed ``"tid name"``."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (task / "stat").read_text()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            out[f"{task.name} {name}"] = (int(fields[11]) + int(fields[12])) / tick
    return out


@dataclass
class Phase:
    """One measured phase: process CPU (s) over wall time (s), and the per-thread split."""

    name: str
    wall_s: float = 0.0
    cpu_s: float = 0.0
    threads: dict[str, float] | None = None
    finals: int = 0
    load_1min: float = float("nan")  # load average at the end of the phase

    @property
    def core_pct(self) -> float:
        """CPU as % of one core."""
        return 100.0 * self.cpu_s / self.wall_s if self.wall_s > 0 else float("nan")


@contextlib.contextmanager
def measured(phase: Phase) -> Iterator[None]:
    """Fill ``phase`` with the process CPU and wall time spent inside the block."""
    threads0 = thread_cpu_s()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    yield
    phase.cpu_s = time.process_time() - cpu0
    phase.wall_s = time.perf_counter() - wall0
    phase.load_1min = os.getloadavg()[0]
    threads1 = thread_cpu_s()
    phase.threads = {
        k: round(v - threads0.get(k, 0.0), 3)
        for k, v in threads1.items()
        if v - threads0.get(k, 0.0) >= 0.01
    }


def _source(duration_s: float) -> ToneSource:
    spans = [(t, min(t + 2.0, duration_s)) for t in range(0, int(duration_s), 3)]
    return ToneSource(duration_s, spans, chunk_ms=CHUNK_MS, realtime=True)


# --------------------------------------------------------------------------- the phases


async def sdk_as_shipped(url: str, ca_path: str, duration_s: float) -> Phase:
    """The unmodified SDK: its client and body, events at real time, results read."""
    import awscrt.io
    from amazon_transcribe import __version__
    from amazon_transcribe.client import TranscribeStreamingClient
    from amazon_transcribe.endpoints import StaticEndpointResolver

    client = TranscribeStreamingClient(
        region=_REGION, endpoint_resolver=StaticEndpointResolver(url)
    )
    options = awscrt.io.TlsContextOptions()
    options.override_default_trust_store_from_path(ca_filepath=ca_path)
    set_tls_context(client, awscrt.io.ClientTlsContext(options), __version__)
    phase = Phase("sdk")
    with measured(phase):
        stream = await client.start_stream_transcription(
            language_code="en-US", media_sample_rate_hz=16000, media_encoding="pcm"
        )

        async def send() -> None:
            async for chunk in _source(duration_s):
                await stream.input_stream.send_audio_event(audio_chunk=chunk.pcm)
            await stream.input_stream.end_stream()

        async def receive() -> None:
            async for event in stream.output_stream:
                results = getattr(getattr(event, "transcript", None), "results", None) or ()
                phase.finals += sum(not r.is_partial for r in results)

        await asyncio.gather(send(), receive())
    close_connections(client)
    return phase


async def s2st_kit_streams(
    url: str, ca_path: str, duration_s: float, n: int, delays_s: list[float]
) -> Phase:
    """``n`` concurrent AwsTranscribeRecognizer sessions at real time."""
    backend = AmazonTranscribeBackend(
        endpoint_url=url, ca_bundle=ca_path, send_delay_probe=delays_s.append
    )
    recognizer = AwsTranscribeRecognizer(backend=backend, chunk_ms=CHUNK_MS)
    phase = Phase(f"s2st_kit x{n}")

    async def session() -> int:
        stream = recognizer.stream(_source(duration_s), language="en")
        return sum([t.is_final async for t in stream])

    try:
        with measured(phase):
            phase.finals = sum(await asyncio.gather(*(session() for _ in range(n))))
    finally:
        await recognizer.aclose()
    return phase


# --------------------------------------------------------------------------- the run


async def run(*, quick: bool = False) -> BenchResult:
    """Three phases against one fake in a child process (about 70 s; quick: about 15 s)."""
    result = BenchResult(NAME)
    duration_s = QUICK_STREAM_S if quick else STREAM_S
    delays_s: list[float] = []
    with _fake_credentials(), _fake_in_child() as (url, ca_path, fake_stats):
        sdk = await sdk_as_shipped(url, ca_path, duration_s)
        await asyncio.sleep(0.5)
        one = await s2st_kit_streams(url, ca_path, duration_s, 1, delays_s)
        await asyncio.sleep(0.5)
        four = await s2st_kit_streams(url, ca_path, duration_s, 4, delays_s)
    add_figures(result, sdk, one, four, delays_s)
    result.details = {
        "stream_s": duration_s,
        "chunk_ms": CHUNK_MS,
        "body_wait_s": BODY_WAIT_S,
        "phases": {p.name: _phase_details(p) for p in (sdk, one, four)},
        "send_delays": len(delays_s),
        "send_delay_p50_ms": percentile(delays_s, 50) * 1000,
        "send_delay_max_ms": max(delays_s, default=float("nan")) * 1000,
        **fake_stats,
    }
    return result


def _phase_details(phase: Phase) -> dict[str, Any]:
    return {
        "wall_s": round(phase.wall_s, 3),
        "cpu_s": round(phase.cpu_s, 3),
        "core_pct": round(phase.core_pct, 2),
        "finals": phase.finals,
        "load_1min": round(phase.load_1min, 2),
        "thread_cpu_s": phase.threads,
    }


def add_figures(
    result: BenchResult, sdk: Phase, one: Phase, four: Phase, delays_s: list[float]
) -> None:
    """The four table lines."""
    result.add(
        "Transcribe stream CPU, SDK as shipped",
        sdk.core_pct,
        "% core",
        note=f"{sdk.wall_s:.0f} s at real time, {sdk.finals} finals; the awscrt thread spins, "
        f"so this is what the scheduler let it have (load average {sdk.load_1min:.1f})",
    )
    result.add(
        "Transcribe stream CPU, s2st_kit",
        one.core_pct,
        "% core",
        target=f"<= {TARGET_ONE_PCT:g} %",
        ok=one.core_pct <= TARGET_ONE_PCT,
        note=f"{one.finals} finals",
    )
    result.add(
        "Transcribe 4 streams CPU, s2st_kit",
        four.core_pct,
        "% core",
        target=f"<= {TARGET_FOUR_PCT:g} %",
        ok=four.core_pct <= TARGET_FOUR_PCT,
        note=f"{four.finals} finals",
    )
    p95_ms = percentile(delays_s, 95) * 1000
    result.add(
        "Transcribe send delay added, p95",
        p95_ms,
        "ms",
        target=f"<= {TARGET_DELAY_MS:g} ms",
        ok=p95_ms <= TARGET_DELAY_MS if delays_s else None,
        note=f"{len(delays_s)} events, body wait {BODY_WAIT_S * 1000:g} ms",
    )
