"""The quickstart notebook in a real JupyterLab, driven in Debian's headless Chromium.

JupyterLab runs on 127.0.0.1 (free port, random token, temporary root, user settings and
runtime directories); Playwright drives ``/usr/bin/chromium``. The test runs every cell
(Run → Run All Cells), then presses Start in the control panel and checks that transcripts,
translations and the segment table appear and that no widget failed to render.
Screenshots go to ``tests/artifacts/``. Server and browser are always stopped.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.offline]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
JUPYTER = Path(sys.executable).parent / "jupyter"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

#: JupyterLab user settings: no news / update prompts; keep every cell in the DOM.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if not JUPYTER.exists():
        return f"JupyterLab not installed in this environment ({JUPYTER} missing)"
    try:
        import jupyterlab  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"missing Python package: {exc.name}"
    return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on 127.0.0.1 serving a copy of ``notebooks/``; yields (url, root)."""
    reason = _skip_reason()
    if reason:
        print(f"skipping the browser test: {reason}")
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)
    settings = base / "settings"
    for name, value in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "IPYTHONDIR": str(base / "ipython"),
        "S2ST_NOTEBOOK_OUT": str(base / "out"),
        "MPLBACKEND": "agg",
    }
    log = open(base / "jupyterlab.log", "wb")
    proc = subprocess.Popen(
        [
            str(JUPYTER), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",  # no PyPI look-ups
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = (base / "jupyterlab.log").read_text(errors="replace")[-3000:]
                    pytest.fail(f"JupyterLab did not start:\n{tail}")
                time.sleep(0.3)
        yield f"{url}/lab/tree/01_quickstart.ipynb?token={token}", base
    finally:
        with _suppress():
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with _suppress():
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], ProcessLookupError | OSError)  # type: ignore[arg-type]


class _suppress_any:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def _busy_prompts(page) -> int:
    return page.evaluate(
        "() => [...document.querySelectorAll('.jp-InputArea-prompt')]"
        ".filter(e => e.textContent.includes('*')).length"
    )


def _settle(page, timeout_s: float = 45.0, quiet_s: float = 2.0) -> None:
    """Accept any dialog JupyterLab shows ("Select Kernel": python3 is preselected) until
    the kernel is idle and no dialog has appeared for ``quiet_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    last_dialog = time.monotonic()
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog")
        if dialog.count():
            with _suppress_any():
                dialog.locator("button.jp-mod-accept").click(timeout=2000)
            last_dialog = time.monotonic()
        elif (
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count()
            and time.monotonic() - last_dialog > quiet_s
        ):
            return
        page.wait_for_timeout(250)
    raise AssertionError("JupyterLab did not settle (kernel not idle or dialogs keep coming)")


def test_quickstart_in_jupyterlab(lab: tuple[str, Path], artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, _root = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
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
            _settle(page)
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
            # the cell that awaits panel.run() prints the count; then wait for the rest
            page.wait_for_selector(
                ".jp-OutputArea-output:has-text('segment(s) logged')", timeout=90_000
            )
            deadline = time.monotonic() + 60
            while _busy_prompts(page) and time.monotonic() < deadline:
                page.wait_for_timeout(500)
            assert _busy_prompts(page) == 0, "cells still running after a minute"
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
            with _suppress_any():
                page.screenshot(path=str(artifacts / "browser_failure.png"), full_page=True)
                (artifacts / "browser_console.log").write_text("\n".join(messages))
            raise
        finally:
            browser.close()
