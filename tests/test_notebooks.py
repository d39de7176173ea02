"""The notebooks in ``notebooks/``: committed without outputs, in sync with their generator,
and each one runs top to bottom in a fresh ``python3`` kernel (the venv's own ipykernel)
without cloud credentials, showing what it should.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))


def _generator():
    spec = importlib.util.spec_from_file_location(
        "make_notebooks", ROOT / "scripts" / "make_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_seven_notebooks_exist():
    assert NAMES == [
        "01_quickstart", "02_live_microphone", "03_latency_analysis",
        "04_chunk_size_sweep", "05_voices", "06_aws", "07_long_speech", "08_conversation", "09_corpus_eval",
    ]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebooks_have_no_outputs(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], (
                f"{name}: cell {cell.id} has outputs (run scripts/make_notebooks.py)"
            )
            assert cell.execution_count is None, f"{name}: cell {cell.id} has an execution count"


def test_notebooks_match_their_generator():
    assert _generator().main(["--check"]) == 0, "notebooks are stale: run scripts/make_notebooks.py"


# --------------------------------------------------------------------------- execution


@pytest.fixture
def no_cloud(monkeypatch, tmp_path):
    """A kernel environment without AWS credentials, writing outputs to ``tmp_path``."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("S2ST_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "agg")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return tmp_path


def execute(nb: nbformat.NotebookNode, timeout_s: int = 180) -> nbformat.NotebookNode:
    """Run every cell in a fresh python3 kernel with ``notebooks/`` as working directory.
    A cell that raises fails the run (nbclient's CellExecutionError)."""
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=timeout_s,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    return nb


def outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def text_of(nb: nbformat.NotebookNode) -> str:
    parts = []
    for o in outputs(nb):
        if o.output_type == "stream":
            parts.append(o.text)
        elif "data" in o:
            parts.append(o.data.get("text/html") or o.data.get("text/plain", ""))
    return "\n".join(parts)


def count(nb: nbformat.NotebookNode, mime: str) -> int:
    return sum(1 for o in outputs(nb) if mime in o.get("data", {}))


def test_the_kernel_is_this_environment(no_cloud):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import sys, ipykernel; print(sys.executable); print(ipykernel.__file__)"
        )
    ]
    executable, ipykernel_file = execute(nb, timeout_s=60).cells[0].outputs[0].text.split()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(ipykernel_file).resolve().is_relative_to(Path(sys.prefix).resolve())


EXPECT = {
    "01_quickstart": lambda nb, text: (
        "segment(s) logged" in text and "<table" in text and "translation" in text
        and count(nb, "image/png") >= 1 and count(nb, "application/vnd.jupyter.widget-view+json") >= 1
    ),
    "02_live_microphone": lambda nb, text: "paced in real time" in text or "live input" in text,
    # six plots; a seventh (the offline demo's timeline) only when `make demo` has run
    "03_latency_analysis": lambda nb, text: count(nb, "image/png") >= 6 and "StartOffset" in text,
    "04_chunk_size_sweep": lambda nb, text: count(nb, "image/png") >= 3 and "speech_end_to_play_s" in text,
    "05_voices": lambda nb, text: "first_audio_ms" in text and text.count("<audio") >= 7,
    "06_aws": lambda nb, text: True,
    # lag side by side, lag and speed, the trade-off curve; the simulated segment at two speeds
    # (three more players when eSpeak NG is installed)
    "07_long_speech": lambda nb, text: (
        count(nb, "image/png") >= 3 and text.count("<audio") >= 2
        and "With control it stays flat" in text and "max_speedup" in text
    ),
    # the call: what each side hears (two players), latency by direction; fan-out: 3 players
    "08_conversation": lambda nb, text: (
        "A hears" in text and "of English" in text and "B hears" in text and "of Spanish" in text
        and text.count("<audio") >= 5 and count(nb, "image/png") >= 3
        and "one recognizer stream" in text
    ),
    # the Dask dashboard link, the corpus table with sacrebleu's signature, the plot
    "09_corpus_eval": lambda nb, text: (
        "Dask dashboard: http" in text and "BLEU signature" in text
        and count(nb, "image/png") >= 1 and "latency: NOT MEANINGFUL" in text
    ),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.offline
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, no_cloud):
    nb = execute(nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4))
    text = text_of(nb)
    assert "Traceback" not in text
    assert not [
        o
        for o in outputs(nb)
        if o.output_type == "stream" and o.name == "stderr" and "Error" in o.text
    ]
    assert EXPECT[name](nb, text), f"{name}: expected output missing:\n{text[:3000]}"
    if name == "01_quickstart":
        table = next(
            o.data["text/html"]
            for o in outputs(nb)
            if "transcript" in o.get("data", {}).get("text/html", "")
        )
        assert table.count("<tr") >= 2  # header and at least one segment
    if name == "06_aws":
        assert "AWS credentials: missing" in text
        assert text.count("skipped: no AWS credentials") == 3  # every cloud cell skipped itself
