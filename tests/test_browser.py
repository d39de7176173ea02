"""The quickstart notebook in a real JupyterLab, driven in Debian's headless Chromium.

JupyterLab runs on 127.0.0.1 (free port, random token, temporary root, user settings and
runtime directories); Playwright drives ``/usr/bin/chromium``. The test runs every cell
(Run → Run All Cells), then presses Start in the control panel and checks that transcripts,
translations and the segment table appear and that no widget failed to render.
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
            panel.locator(".s2st-state:has-text('stopped')").wait_for(timeout=60_000)
            panel.locator(".s2st-segments tbody tr").first.wait_for(timeout=30_000)
            page.wait_for_timeout(1000)  # the last chart redraw
            panel.screenshot(path=str(artifacts / "browser_panel_after_start.png"))

            transcripts = panel.locator(".s2st-transcript").all_inner_texts()
            translations = panel.locator(".s2st-translation").all_inner_texts()
            rows = panel.locator(".s2st-segments tbody tr").count()
            assert any(t.strip() for t in transcripts), "no transcript shown"
            assert any(t.strip("→ ").strip() for t in translations), "no translation shown"
            assert rows > 0, "empty segment table"
            assert panel.locator(".s2st-state:has-text('stopped')").count() == 1
            assert panel.locator(".s2st-last-error").count() == 0
            assert panel.locator("img").count() >= 1  # the latency chart
            body = page.inner_text("body")
            assert "Error displaying widget" not in body
            assert "Traceback" not in body
        except BaseException:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(artifacts / "browser_failure.png"), full_page=True)
                (artifacts / "browser_console.log").write_text("\n".join(messages))
            raise
        finally:
            browser.close()
