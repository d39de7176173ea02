"""Live captions in a real browser: JupyterLab + Debian Chromium driven by Playwright.

A notebook (written here) displays a :class:`BrowserSpeaker` and :class:`LiveCaptions`, then
runs a session on the simulated stack (English clip of ``data/`` → Spanish) whose speech plays
through the browser speaker. The captions' JS picks the highlighted word every animation
frame from the speaker's own playback clock and keeps a trace of each change. The test reads
that trace and the session's words table: the highlight must step through each segment's
words in order, each step within 150 ms of the word's start in the words table (times
relative to the segment's first word, so the browser's scheduling lead cancels out).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from jupyterlab_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    busy_cells,
    jupyter_lab,
    settle,
    skip_reason,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOLERANCE_S = 0.150

SETUP = """\
import asyncio, os, pathlib
from IPython.display import display
from s2st_kit import FileSource, Pipeline, PipelineConfig
from s2st_kit.engines.simulated import engines_for_clip
from s2st_kit.notebook.browser_audio import BrowserSpeaker
from s2st_kit.notebook.captions_widget import LiveCaptions

OUT = pathlib.Path(os.environ["S2ST_CAPTIONS_OUT"])
OUT.mkdir(parents=True, exist_ok=True)
speaker = BrowserSpeaker()
captions = LiveCaptions(speaker=speaker)
rendered = asyncio.Event()  # the speaker's browser side says "ready" once it exists
speaker.on_msg(lambda _w, msg, _b: rendered.set() if msg.get("type") == "ready" else None)
display(speaker, captions)
"""

SESSION = """\
clip = {clip!r}
engines = engines_for_clip(clip, preset="instant").build()
sink = speaker.sink()
pipe = Pipeline(engines, PipelineConfig(source_lang="en", target_lang="es"),
                source=FileSource(clip, realtime=False), sink=sink)
captions.attach(pipe)

async def session():
    await rendered.wait()  # audio sent before the browser side exists would be lost
    try:
        log = await pipe.run()
        log.save(OUT / "s.parquet")
        pipe.words.save(OUT / "s.words.parquet")
        (OUT / "done").write_text("ok")
    except Exception as exc:
        (OUT / "done").write_text(repr(exc))

task = asyncio.get_running_loop().create_task(session())
print("session scheduled")
"""


def _notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell(SESSION.format(clip=str(ROOT / "data" / "en_home.wav"))),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def _steps(trace: list[dict], sid: int) -> dict[int, float]:
    """Browser time (s) at which each word of segment ``sid`` was first highlighted."""
    out: dict[int, float] = {}
    for entry in trace:
        word = entry.get("word")
        if entry.get("segment_id") == sid and word is not None and word not in out:
            out[word] = entry["t_ms"] / 1000.0
    return out


def test_highlight_follows_the_browser_playback_clock(tmp_path, artifacts) -> None:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    import playwright.sync_api as playwright

    out = tmp_path / "out"
    nb_dir = tmp_path / "nb"
    nb_dir.mkdir()
    _notebook(nb_dir / "captions.ipynb")
    args = ["--autoplay-policy=no-user-gesture-required", *CHROMIUM_ARGS]
    console: list[str] = []
    with jupyter_lab(nb_dir, tmp_path, {"S2ST_CAPTIONS_OUT": str(out)}) as (url, token), \
            playwright.sync_playwright() as pw:  # fmt: skip
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.goto(f"{url}/lab/tree/captions.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            settle(page)
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            page.locator(".jp-OutputArea-output", has_text="session scheduled").wait_for(
                timeout=90_000
            )
            page.locator(".s2st-captions").wait_for(timeout=30_000)
            deadline = time.monotonic() + 120
            while not (out / "done").exists():
                assert time.monotonic() < deadline, "the session did not finish"
                page.wait_for_timeout(500)
            assert (out / "done").read_text() == "ok", (out / "done").read_text()
            page.wait_for_timeout(500)
            page.screenshot(path=str(artifacts / "browser_captions.png"))
            trace = page.evaluate(
                "() => document.querySelector('.s2st-captions').__s2stCaptionTrace"
            )
            assert busy_cells(page) == 0
        except Exception:
            with contextlib.suppress(Exception):
                page.screenshot(
                    path=str(artifacts / "browser_captions_failure.png"), full_page=True
                )
            print("\n".join(console[-40:]))
            raise
        finally:
            browser.close()
    (artifacts / "browser_captions_trace.json").write_text(json.dumps(trace, indent=0))
    segments = pd.read_parquet(out / "s.parquet")
    words = pd.read_parquet(out / "s.words.parquet")
    played = segments[segments.status == "ok"]
    assert len(played) >= 2
    worst = 0.0
    for sid in played.segment_id:
        target = words[(words.segment_id == sid) & (words.side == "target")].sort_values(
            "word_index"
        )
        steps = _steps(trace, int(sid))
        assert sorted(steps) == list(range(len(target))), (
            sid,
            sorted(steps),
        )  # every word, in order
        order = [steps[k] for k in range(len(target))]
        assert order == sorted(order)
        ends = [e["t_ms"] for e in trace if e["segment_id"] == sid and e["word"] is None]
        assert ends and max(ends) / 1000.0 > order[-1], f"segment {sid}: the highlight stayed on"
        starts = target.start_s.to_numpy()
        for k in range(1, len(target)):
            browser_s = steps[k] - steps[0]
            table_s = starts[k] - starts[0]
            worst = max(worst, abs(browser_s - table_s))
            assert abs(browser_s - table_s) <= TOLERANCE_S, (sid, k, browser_s, table_s)
    print(
        f"highlight vs words table: worst difference {worst * 1000:.0f} ms over {len(words[words.side == 'target'])} words"
    )
