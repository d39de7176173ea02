"""Browser microphone and speaker, for real: JupyterLab + Debian Chromium driven by Playwright.

Chromium's fake capture device plays ``data/en_home.wav`` (looped) into ``getUserMedia``; a
notebook displays :class:`BrowserMicrophone` and :class:`BrowserSpeaker`, starts a pipeline
(offline engines, or simulated ones with a printed reason) behind an :class:`EchoGuard`, and
writes its results to JSON when it has run for a while. The test clicks Start like a person
would, then checks: the audio that reached Python is the file (sample rate over the captured
time; a stretch of the recorded input matches the clip by cross-correlation and level),
recognised words of the clip appear, log rows have every timestamp, translations follow, the
translated audio arrived in the browser (counted on the JS side), capture → arrival delays.

The widget logic (queues, drops, delays, drain) is also tested without a browser below.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2st_kit.errors import PipelineStateError
from s2st_kit.records import AudioChunk

pytest.importorskip("anywidget")
from s2st_kit.notebook.browser_audio import BrowserMicrophone, BrowserSpeaker

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CLIP = ROOT / "data" / "en_home.wav"
RUN_S = 24.0  # how long the notebook's session listens after the microphone starts (s)


# -- without a browser ----------------------------------------------------------------------


def audio_message(seq: int, n: int = 4800, rate: int = 48000, lag_ms: float = 25.0):
    pcm = (np.arange(n, dtype=np.int16) % 1000).tobytes()
    content = {
        "type": "audio", "seq": seq, "sample_rate": rate,
        "t_capture_ms": time.time() * 1000 - lag_ms, "rms": 0.25,
    }  # fmt: skip
    return content, [memoryview(pcm)]


async def test_mic_source_queues_counts_and_measures_delay():
    mic = BrowserMicrophone(chunk_ms=100)
    src = mic.source(max_buffered_s=0.3)  # 3 chunks may wait
    for seq in (0, 1, 2, 4, 5):  # 3 never arrives; 4 and 5 find the queue full
        mic._on_message(mic, *audio_message(seq))
    assert src.sample_rate == 48000 and mic.level == 0.25
    assert src.stats.chunks == 3 and src.stats.dropped_chunks == 2 and src.stats.gaps == 1
    assert 20 < src.stats.delay_ms(50) < 200 and 0.02 < src.capture_delay_s < 0.2
    await src.aclose()
    chunks = [c async for c in src]
    assert [c.start_s for c in chunks] == [0.0, 0.1, 0.2]
    assert all(c.n_samples == 4800 and c.sample_rate == 48000 for c in chunks)
    with pytest.raises(PipelineStateError):
        async for _ in src:
            pass
    mic._on_message(mic, *audio_message(6))  # detached: nothing more is queued
    assert src.stats.chunks == 3
    summary = src.stats.as_dict()
    assert summary["delay_ms_p95"] >= summary["delay_ms_median"]


async def test_speaker_sink_drains_on_confirmation_or_estimate():
    spk = BrowserSpeaker()
    sent = []
    spk.send = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
    sink = spk.sink(confirm_timeout_s=1.0)
    pcm = np.zeros(2205, np.int16).tobytes()  # 0.1 s at 22050 Hz
    await sink.write(AudioChunk(pcm, 22050, 0.0))
    await sink.write(AudioChunk(pcm, 22050, 0.1))
    assert sink.sample_rate == 22050 and [c["first"] for c, _ in sent] == [True, False]
    assert bytes(sent[0][1][0]) == pcm

    async def browser_confirms():
        await asyncio.sleep(0.3)
        spk._on_message(spk, {"type": "played", "played_samples": 4410, "received_samples": 4410, "underruns": 0}, [])  # fmt: skip

    t0 = time.monotonic()
    await asyncio.gather(sink.drain(), browser_confirms())
    assert 0.25 < time.monotonic() - t0 < 0.9
    assert sink.stats.played_samples == 4410 and sink.stats.unconfirmed_drains == 0
    # No browser answering: drain ends on the estimate + confirm_timeout_s, and says so.
    sink.confirm_timeout_s = 0.2
    await sink.write(AudioChunk(pcm, 22050, 0.2))
    await sink.drain()
    assert sink.stats.unconfirmed_drains == 1
    await sink.aclose()
    with pytest.raises(PipelineStateError):
        await sink.write(AudioChunk(pcm, 22050, 0.3))


# -- the real browser -----------------------------------------------------------------------

NOTEBOOK_SETUP = r"""
import asyncio, json, pathlib, time
import ipywidgets as W
from IPython.display import display
from s2st_kit import Engines, Pipeline, PipelineConfig
from s2st_kit.audio.echo import EchoGuard
from s2st_kit.notebook.browser_audio import BrowserMicrophone, BrowserSpeaker

OUT = pathlib.Path({out!r})
RUN_S = {run_s!r}
try:
    engines = Engines.create("offline")
    ENGINE = "offline"
except Exception as exc:  # printed: the test reports it
    print(f"offline engines unavailable ({{exc}}); using simulated engines")
    engines = Engines.create("simulated")
    ENGINE = "simulated"
mic = BrowserMicrophone(chunk_ms=100, echo_cancellation=False, noise_suppression=False,
                        auto_gain_control=False)
speaker = BrowserSpeaker()
shown = W.HTML("<i>press Start on the microphone…</i>")
display(mic, speaker, shown)
"""

NOTEBOOK_RUN = r"""
guard = EchoGuard(mic.source(), speaker.sink())
pipe = Pipeline(engines, PipelineConfig(source_lang="en", target_lang="es", chunk_ms=100),
                source=guard.source, sink=guard.sink, log_path=OUT / "session.jsonl",
                record_input=OUT / "input.wav", clock=guard.clock)
lines = []

def show(ev):
    if ev.kind == "final":
        lines.append(f"<b>en</b> {ev.transcript.text}")
    elif ev.kind == "translation":
        lines.append(f"<b>es</b> {ev.translation.text}")
    else:
        return
    shown.value = "<br>".join(lines[-10:])

async def finish():
    try:
        await _finish()
    except BaseException:
        import traceback
        (OUT / "results.json").write_text(json.dumps({"error": traceback.format_exc()}))
        raise

async def _finish():
    await asyncio.sleep(RUN_S)
    t_stop = time.time()
    mic.stop()
    log = await pipe.stop()
    guard.save_json(guard.spans_path(OUT / "session.jsonl"))
    await asyncio.sleep(0.5)  # let the speaker's last counters sync
    (OUT / "results.json").write_text(json.dumps({
        "engine": ENGINE, "t_stop": t_stop,
        "rows": log.to_pandas().to_dict(orient="records"),
        "mic": guard.source.stats.as_dict(),
        "delays_ms": list(guard.source.stats.delays_ms),
        "mic_rate": guard.source.sample_rate,
        "speaker": guard.sink.stats.as_dict(),
        "speaker_trait_received": speaker.received_samples,
        "guard": guard.to_dict(),
        "pipeline": {"audio_s": pipe.stats.audio_s, "state": pipe.state.value,
                     "error": repr(pipe.error)},
    }, default=str))

started = []
LOOP = asyncio.get_running_loop()  # the cells' loop: widget callbacks may run on another one

def on_state(change):
    if change["new"] == "running" and not started:
        started.append(time.time())
        LOOP.call_soon_threadsafe(lambda: LOOP.create_task(finish()))

pipe.subscribe(show)
mic.observe(on_state, "state")
pipe.start()
print("session started")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path, out: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell(NOTEBOOK_SETUP.format(out=str(out), run_s=RUN_S).strip()),
        nbformat.v4.new_code_cell(NOTEBOOK_RUN.strip()),
    ]
    nbformat.write(nb, path)


@contextlib.contextmanager
def jupyter_lab(root: Path, home: Path):
    """JupyterLab on 127.0.0.1 (random port, random token); always stopped (process group)."""
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "PYTHONPATH": str(ROOT),
    }
    cmd = [
        str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    if os.geteuid() == 0:  # CI containers
        cmd.append("--allow-root")
    log = open(home / "jupyter.log", "wb")
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "JupyterLab did not start:\n" + (home / "jupyter.log").read_text()[-3000:]
                    ) from None
                time.sleep(0.3)
        yield url, token
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def fake_capture_wav(path: Path) -> Path:
    """The clip as Chromium's fake capture wants it: 16-bit PCM WAV (48 kHz mono here)."""
    import soxr

    data, rate = sf.read(CLIP, dtype="float32")
    sf.write(path, soxr.resample(data, rate, 48000), 48000, subtype="PCM_16")
    return path


def best_match(received: np.ndarray, clip: np.ndarray) -> tuple[float, int, int]:
    """Best normalised cross-correlation of a 1 s stretch of ``received`` against the looped clip.

    Returns (correlation, offset in received, offset in clip).
    """
    loop = np.concatenate([clip, clip])
    win = len(clip) // 7  # ~1 s
    best = (0.0, 0, 0)
    for start in range(0, len(received) - win, win // 2):
        seg = received[start : start + win]
        if np.sqrt(np.mean(seg**2)) < 0.02:  # silence (or muted): nothing to match
            continue
        n = len(loop) + win
        spec = np.fft.rfft(loop, n) * np.conj(np.fft.rfft(seg, n))
        corr = np.fft.irfft(spec, n)[: len(loop) - win]
        energy = np.sqrt(np.convolve(loop**2, np.ones(win), "valid")[: len(corr)])
        norm = corr / (energy * np.sqrt(np.sum(seg**2)) + 1e-9)
        k = int(np.argmax(norm))
        if norm[k] > best[0]:
            best = (float(norm[k]), start, k % len(clip))
    return best


def run_cell(page, index: int) -> None:
    """Select cell ``index`` and press Shift+Enter until the kernel takes it (a freshly
    opened notebook may drop a request sent before its kernel connection is ready)."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(10):
        prompt.click()
        page.keyboard.press("Shift+Enter")
        for _ in range(20):
            if prompt.inner_text().strip() not in ("[ ]:", ""):
                return
            page.wait_for_timeout(250)
    raise AssertionError(f"cell {index} never ran")


@pytest.mark.browser
@pytest.mark.slow
def test_browser_microphone_and_speaker_in_jupyterlab(tmp_path, artifacts):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    if shutil.which("jupyter", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("jupyter lab is not installed in this environment")
    out = tmp_path / "out"
    out.mkdir()
    nb_dir = tmp_path / "nb"
    nb_dir.mkdir()
    write_notebook(nb_dir / "browser_mic.ipynb", out)
    wav = fake_capture_wav(tmp_path / "fake_mic.wav")
    args = [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required",
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
    ]  # fmt: skip
    console: list[str] = []
    with jupyter_lab(nb_dir, tmp_path) as (url, token), playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.goto(f"{url}/lab/tree/browser_mic.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
            )
            with contextlib.suppress(Exception):  # the "Jupyter news?" toast
                page.get_by_role("button", name="No").click(timeout=3000)
            # Run the two cells with Shift+Enter, as a person would.
            run_cell(page, 0)
            page.locator(".s2st-audio-mic").wait_for(timeout=60_000)
            run_cell(page, 1)
            start = page.locator(".s2st-audio-mic button", has_text="Start")
            start.wait_for(timeout=60_000)
            page.locator(".jp-OutputArea-output", has_text="session started").wait_for(
                timeout=60_000
            )
            start.click()
            page.locator(".s2st-audio-mic[data-state='running']").wait_for(timeout=20_000)
            page.wait_for_timeout(4000)
            page.screenshot(path=str(artifacts / "browser_mic_running.png"))
            results = out / "results.json"
            deadline = time.monotonic() + RUN_S + 60
            while not results.exists():
                assert time.monotonic() < deadline, "the notebook never finished its session"
                page.wait_for_timeout(500)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(artifacts / "browser_mic_done.png"), full_page=True)
            received_dom = int(
                page.locator(".s2st-audio-speaker").first.get_attribute("data-received-samples")
                or 0
            )
        except Exception:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(artifacts / "browser_mic_failure.png"), full_page=True)
            print("\n".join(console[-40:]))
            raise
        finally:
            browser.close()
    res = json.loads(results.read_text())
    assert "error" not in res, res.get("error")
    (artifacts / "browser_mic_results.json").write_text(json.dumps(res, indent=1, default=str))
    print("engine:", res["engine"], "| mic:", res["mic"], "| speaker:", res["speaker"])
    errors = [c for c in console if c.startswith("error") and "s2st" in c.lower()]
    assert not errors, errors

    # The audio that reached Python is the file: rate over the captured time…
    mic = res["mic"]
    rate = res["mic_rate"]
    span = mic["last_arrival"] - mic["first_arrival"]
    assert span > RUN_S / 2
    measured_rate = (mic["samples"] - mic["samples"] / mic["chunks"]) / span
    assert abs(measured_rate / rate - 1) < 0.05, (measured_rate, rate)
    assert mic["dropped_chunks"] == 0 and mic["gaps"] == 0
    # …and what the pipeline recorded (16 kHz, after the echo guard) matches the clip.
    received, rec_rate = sf.read(out / "input.wav", dtype="float32")
    clip, clip_rate = sf.read(CLIP, dtype="float32")
    assert rec_rate == clip_rate
    assert abs(len(received) / rec_rate - res["pipeline"]["audio_s"]) < 0.2
    corr, at, at_clip = best_match(received, clip)
    print(f"received audio vs clip: correlation {corr:.3f}")
    assert corr > 0.9, f"no stretch of the received audio matches the clip (best {corr:.2f})"
    win = len(clip) // 7
    level_db = 20 * np.log10(
        np.sqrt(np.mean(received[at : at + win] ** 2))
        / np.sqrt(np.mean(np.concatenate([clip, clip])[at_clip : at_clip + win] ** 2))
    )
    print(f"level difference {level_db:+.2f} dB")
    assert abs(level_db) < 1.5, f"level differs by {level_db:.1f} dB"

    # Capture → arrival delays were measured for every chunk.
    delays = np.array(res["delays_ms"])
    assert len(delays) == mic["chunks"]
    print(f"capture→arrival delay: median {np.median(delays):.1f} ms, p95 {np.percentile(delays, 95):.1f} ms, max {delays.max():.1f} ms")  # fmt: skip
    assert 0 <= np.median(delays) < 500

    # Recognised words of the clip, rows with every timestamp, translations.
    rows = [r for r in res["rows"] if r["status"] == "ok"]
    assert rows, res["rows"]
    words = set(re.findall(r"[a-z]+", " ".join(r["transcript"].lower() for r in rows)))
    clip_words = {"the", "house", "is", "very", "big", "my", "sister", "lives", "in", "city",
                  "we", "drink", "coffee", "every", "morning"}  # fmt: skip
    if res["engine"] == "offline":
        assert len(words & clip_words) >= 2, words
    for r in rows:
        assert r["translation"].strip()
        stamps = {k: v for k, v in r.items() if k.startswith("t_")}
        assert all(v is not None for v in stamps.values()), stamps

    # The translated speech arrived in the browser (counted by the page) and was played.
    spk = res["speaker"]
    assert spk["samples_sent"] > 0
    assert received_dom == spk["samples_sent"] == res["speaker_trait_received"]
    assert spk["played_samples"] == spk["samples_sent"] and spk["unconfirmed_drains"] == 0
    # The echo guard muted the input while the translation played.
    guard = res["guard"]
    assert guard["enabled"] and guard["muted_spans"] >= 1 and guard["playback_spans"] >= 1
