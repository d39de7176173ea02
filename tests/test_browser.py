"""The quickstart notebook in a real JupyterLab, driven in Debian's headless Chromium.

JupyterLab runs on 127.0.0.1 (free port, random token, temporary root, user settings and
runtime directories); Playwright drives ``/usr/bin/chromium``. The test runs every cell
(Run → Run All Cells), then presses Start in the control panel and checks that transcripts,
translations and the segment table appear and that no widget failed to render. Then it
uses the panel as a person would (issue 14): a typo in the path box (warned, Start refuses
saying the file does not exist, the last session's results stay, Start/Stop keep their
size), settings that make no sense (a visible hint), the browser microphone (one Start:
the panel's), and the per-stage chart.
Screenshots go to ``tests/artifacts/``. Server and browser are always stopped.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

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

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.offline]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on 127.0.0.1 serving a copy of ``notebooks/``; yields (url, root)."""
    reason = skip_reason()
    if reason:
        print(f"skipping the browser test: {reason}")
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)
    try:
        with jupyter_lab(root, base, {"S2ST_NOTEBOOK_OUT": str(base / "out")}) as (url, token):
            yield f"{url}/lab/tree/01_quickstart.ipynb?token={token}", base
    except RuntimeError as exc:
        pytest.fail(str(exc))


def test_quickstart_in_jupyterlab(lab: tuple[str, Path], artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, _root = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            messages: list[str] = []
        except BaseException:
            browser.close()
            raise
        try:
            page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
            page.goto(url)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            settle(page)
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            # the cell that awaits panel.run() prints the count; then wait for the rest
            page.wait_for_selector(
                ".jp-OutputArea-output:has-text('segment(s) logged')", timeout=90_000
            )
            deadline = time.monotonic() + 60
            while busy_cells(page) and time.monotonic() < deadline:
                page.wait_for_timeout(500)
            assert busy_cells(page) == 0, "cells still running after a minute"
            page.screenshot(path=str(artifacts / "browser_run_all.png"), full_page=True)

            panel = page.locator(".s2st-panel").first
            panel.scroll_into_view_if_needed()
            panel.screenshot(path=str(artifacts / "browser_panel_after_run_all.png"))
            assert panel.locator(".s2st-segments tbody tr").count() > 0

            # a second session from the Start button
            panel.locator("button:has-text('Start')").click()
            panel.locator(".s2st-state:has-text('running')").wait_for(timeout=30_000)
            page.wait_for_timeout(3000)
            panel.screenshot(path=str(artifacts / "browser_panel_running.png"))
            panel.locator(".s2st-state:has-text('finished')").wait_for(timeout=60_000)
            panel.locator(".s2st-segments tbody tr").first.wait_for(timeout=30_000)
            page.wait_for_timeout(1000)  # the last chart redraw
            panel.screenshot(path=str(artifacts / "browser_panel_after_start.png"))

            transcripts = panel.locator(".s2st-transcript").all_inner_texts()
            translations = panel.locator(".s2st-translation").all_inner_texts()
            rows = panel.locator(".s2st-segments tbody tr").count()
            assert any(t.strip() for t in transcripts), "no transcript shown"
            assert any(t.strip("→ ").strip() for t in translations), "no translation shown"
            assert rows > 0, "empty segment table"
            assert panel.locator(".s2st-state:has-text('finished · end of input')").count() == 1
            assert panel.locator(".s2st-segments-count:has-text('played')").count() == 1
            assert panel.locator(".s2st-last-error").count() == 0
            assert panel.locator("img").count() >= 1  # the latency chart
            body = page.inner_text("body")
            assert "Error displaying widget" not in body
            assert "Traceback" not in body
            use_the_panel_by_hand(page, panel, artifacts)
        except BaseException:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(artifacts / "browser_failure.png"), full_page=True)
                (artifacts / "browser_console.log").write_text("\n".join(messages))
            raise
        finally:
            browser.close()


def use_the_panel_by_hand(page, panel, artifacts: Path) -> None:
    """Issue 14's panel items in the browser, with a screenshot of each step."""
    start = panel.locator("button:has-text('Start')").first
    width = start.bounding_box()["width"]
    rows = panel.locator(".s2st-segments tbody tr").count()
    path = panel.locator(".s2st-path input")
    recording = path.input_value()
    assert recording.endswith("quickstart_en.wav"), recording  # the box shows the input
    clip = panel.locator("select").filter(has=page.locator("option:has-text('your file')"))
    assert "quickstart_en.wav" in clip.locator("option:checked").inner_text()  # not blank
    typo = recording.replace("quickstart_en", "quickstart_en_typo")
    path.fill(typo)
    panel.locator(".s2st-problem:has-text('does not exist')").wait_for(timeout=10_000)
    panel.screenshot(path=str(artifacts / "browser_panel_typo.png"))
    start.click()
    panel.locator(".s2st-last-error:has-text('does not exist')").wait_for(timeout=10_000)
    page.wait_for_timeout(1500)  # a rising clock would show by now
    panel.screenshot(path=str(artifacts / "browser_panel_refused.png"))
    assert panel.locator(".s2st-segments tbody tr").count() == rows  # results kept
    assert abs(start.bounding_box()["width"] - width) < 1  # not squeezed by the error
    assert panel.locator(".s2st-segments-count").count() == 0  # no stale figures
    path.fill(recording)
    panel.locator(".s2st-problem").wait_for(state="detached", timeout=10_000)

    panel.locator("button:has-text('simulated')").first.click()  # the recognizer
    panel.locator(".s2st-hint:has-text('placeholder words')").wait_for(timeout=10_000)
    panel.locator("select").filter(has=page.locator("option:has-text('Spanish (es)')")).first \
        .select_option(label="Spanish (es)")  # fmt: skip
    clip.select_option(index=0)  # data/en_home.wav — English
    panel.locator(".s2st-hint:has-text('the clip is English speech')").wait_for(timeout=10_000)
    panel.screenshot(path=str(artifacts / "browser_panel_hints.png"))

    panel.locator("button:has-text('browser microphone')").click()
    panel.locator(".s2st-mic-help").wait_for(timeout=10_000)
    page.wait_for_timeout(1000)
    mic = panel.locator(".s2st-audio-mic")
    assert mic.count() == 1 and mic.locator("button:visible").count() == 0  # one Start: ours
    panel.screenshot(path=str(artifacts / "browser_panel_microphone.png"))
    panel.locator("button:has-text('file')").first.click()

    panel.locator("button:has-text('per stage')").click()
    page.wait_for_timeout(2000)  # the chart renders in a thread
    panel.screenshot(path=str(artifacts / "browser_panel_stages.png"))


STOP_DURING_RUN_CELLS = [
    """\
from s2st_kit.datasets import librivox_clips, join_clips, sample_clip
from s2st_kit.notebook import ControlPanel
from pathlib import Path
clips = librivox_clips()
talk = join_clips(clips, Path("talk.wav")) if clips else sample_clip("en").path
panel = ControlPanel(asr="simulated", mt="simulated", tts="simulated", input_path=str(talk))
panel""",
    """\
log = await panel.run()
print(f"run returned: {len(log)} segment(s), {panel.pipeline.stats.audio_s:.1f} s of audio")""",
]


def test_stop_while_a_cell_awaits_panel_run(tmp_path: Path, artifacts: Path) -> None:
    """JupyterLab 4 + ipykernel 7 handle widget clicks while a cell runs (subshells, on
    another loop): Stop pressed during ``await panel.run()`` ends the session, the cell
    returns early, and no error is shown."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    import nbformat
    from playwright.sync_api import sync_playwright

    root = tmp_path / "nb"
    root.mkdir()
    cells = [nbformat.v4.new_code_cell(c) for c in STOP_DURING_RUN_CELLS]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), root / "stop_run.ipynb")
    with jupyter_lab(root, tmp_path, {}) as (url, token), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS)  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.goto(f"{url}/lab/tree/stop_run.ipynb?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            settle(page)
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            panel = page.locator(".s2st-panel").first
            panel.locator(".s2st-state:has-text('running')").wait_for(timeout=60_000)
            page.wait_for_timeout(2000)
            assert busy_cells(page) == 1  # the cell awaiting panel.run()
            panel.locator("button.jupyter-button:has-text('Stop')").click()
            done = page.locator(".jp-OutputArea-output:has-text('run returned')")
            done.wait_for(timeout=30_000)
            panel.locator(".s2st-state:has-text('stopped')").wait_for(timeout=10_000)
            panel.screenshot(path=str(artifacts / "browser_panel_stop_during_run.png"))
            assert panel.locator(".s2st-last-error").count() == 0
            audio_s = float(done.inner_text().split(", ")[1].split(" s")[0])
            assert audio_s < 20, done.inner_text()  # stopped early, not at the end
        finally:
            browser.close()
