"""Shared harness for the real-browser tests: a JupyterLab server on 127.0.0.1 and helpers
to drive its notebooks from Playwright in Debian's Chromium.

The server gets a random port and token, temporary config/runtime/settings directories (no
news or update checks, read-only extension manager: nothing leaves the machine) and is always
stopped with its whole process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
JUPYTER = Path(sys.executable).with_name("jupyter")
#: Chromium flags for a sandbox with no network but loopback.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

#: JupyterLab user settings: no news / update prompts; keep every cell in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
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


@contextlib.contextmanager
def jupyter_lab(
    root: Path, home: Path, env_extra: dict[str, str] | None = None
) -> Iterator[tuple[str, str]]:
    """JupyterLab on 127.0.0.1 serving ``root``; yields ``(url, token)``.

    home: a scratch folder for its config, runtime, settings and log (``jupyter.log``).
    env_extra: environment for the server, inherited by the kernels it starts.
    """
    port, token = free_port(), secrets.token_hex(16)
    settings = home / "settings"
    for name, value in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "MPLBACKEND": "agg",
        "PYTHONPATH": str(ROOT),
        **(env_extra or {}),
    }
    cmd = [
        str(JUPYTER), "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    if os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    log = open(home / "jupyter.log", "wb")
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
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
                    log.flush()
                    tail = (home / "jupyter.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"JupyterLab did not start:\n{tail}") from None
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
            proc.wait(timeout=10)
        log.close()


def busy_cells(page) -> int:
    """How many cells show a running prompt ``[*]``."""
    return page.evaluate(
        "() => [...document.querySelectorAll('.jp-InputArea-prompt')]"
        ".filter(e => e.textContent.includes('*')).length"
    )


def settle(page, timeout_s: float = 60.0, quiet_s: float = 2.0) -> None:
    """Accept any dialog JupyterLab shows ("Select Kernel": python3 is preselected) until
    the kernel is idle and no dialog has appeared for ``quiet_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    last_dialog = time.monotonic()
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog")
        if dialog.count():
            with contextlib.suppress(Exception):
                dialog.locator("button.jp-mod-accept").click(timeout=2000)
            last_dialog = time.monotonic()
        elif (
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count()
            and time.monotonic() - last_dialog > quiet_s
        ):
            return
        page.wait_for_timeout(250)
    raise AssertionError("JupyterLab did not settle (kernel not idle or dialogs keep coming)")
