"""Evaluate a translation system on a corpus: :func:`evaluate` (``s2st eval`` from a shell).

Every utterance runs as its own session (:func:`~.runner.run_utterance`), ``concurrency``
at a time, on this process's event loop (``executor="local"``) or on Dask workers
(``executor="dask"``, :mod:`.dask_executor`); engines are built once per process or
worker. Results go to a resumable Parquet dataset (:mod:`.store`) as each utterance
finishes; the corpus summary (:func:`~.scores.summarize`) and a latency-vs-quality plot
come from the whole folder, so a resumed run reports on every utterance.

Both executors give the same transcripts, translations and quality scores for the same
inputs (simulated or offline engines, unpaced); the timing columns are wall-clock
measurements and differ from run to run on any executor.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..errors import ConfigError
from .corpus import CorpusUtterance
from .runner import EnginePool, EvalSettings, UtteranceResult, run_utterance
from .scores import EvalSummary, plot_eval, summarize
from .store import ResultsStore

__all__ = ["EvalResult", "Executor", "evaluate"]

Executor = Literal["local", "dask"]


@dataclass(frozen=True, slots=True)
class EvalResult:
    """What :func:`evaluate` returns.

    utterances: one row per utterance (every one in ``out``, earlier runs included).
    segments: the sessions' segment logs (``utterance_id`` column). summary: corpus figures.
    ran / skipped: utterances run now / found finished in ``out``. out: the results folder
    (None: memory only). plot: the latency-vs-quality PNG written (None without ``out``).
    dashboard_link: the Dask dashboard of the run (None for the local executor).
    """

    utterances: pd.DataFrame
    segments: pd.DataFrame
    summary: EvalSummary
    ran: int
    skipped: int
    out: Path | None
    plot: Path | None
    dashboard_link: str | None


async def _run_local(
    todo: Sequence[CorpusUtterance], settings: EvalSettings, concurrency: int, save: Any
) -> None:
    """Run ``todo`` on this loop, ``concurrency`` at a time; ``save`` each result."""
    pool = await EnginePool(settings, concurrency).open()
    limit = asyncio.Semaphore(concurrency)

    async def one(utt: CorpusUtterance) -> None:
        async with limit:
            result = await run_utterance(pool, utt)
            await save(result)

    try:
        async with asyncio.TaskGroup() as group:
            for utt in todo:
                group.create_task(one(utt))
    finally:
        await pool.aclose()


@dataclass(slots=True)
class _Collector:
    """Keeps results (and saves them to ``store``) and moves the progress bar."""

    store: ResultsStore | None
    bar: Any
    results: list[UtteranceResult]

    def save_sync(self, result: UtteranceResult) -> None:
        if self.store is not None:
            self.store.save(result)
        self.results.append(result)
        self.bar.update(1)

    async def save(self, result: UtteranceResult) -> None:
        await asyncio.to_thread(self.save_sync, result)


def _frames(collector: _Collector) -> tuple[pd.DataFrame, pd.DataFrame]:
    if collector.store is not None:
        return collector.store.rows(), collector.store.segments()
    rows = pd.DataFrame([r.row for r in collector.results])
    segments = [r.segments for r in collector.results if not r.segments.empty]
    if len(rows):
        rows = rows.sort_values("utterance_id", ignore_index=True)
    return rows, (pd.concat(segments, ignore_index=True) if segments else pd.DataFrame())


async def evaluate(
    corpus: Sequence[CorpusUtterance],
    *,
    settings: EvalSettings | None = None,
    out: str | os.PathLike[str] | None = None,
    concurrency: int = 4,
    executor: Executor = "local",
    workers: int = 2,
    address: str | None = None,
    client: Any = None,
    progress: bool = True,
    on_dashboard: Any = None,
) -> EvalResult:
    """Run every utterance of ``corpus`` and score the corpus (see the module docstring).

    settings: engines, languages, policy, chunk_ms, pace (default ``EvalSettings()``:
        simulated engines, en → es, paced in real time).
    out: results folder (resumable Parquet dataset + ``latency_quality.png``); ``None``
        keeps everything in memory and cannot resume.
    concurrency: sessions at once per process / worker (default 4).
    executor: ``"local"`` (this process) or ``"dask"``; workers: LocalCluster processes;
        address: a Dask scheduler (``tcp://host:8786``) instead; client: an existing
        ``distributed.Client`` (kept open). on_dashboard: called with the Dask client
        before tasks run (e.g. to show ``client.dashboard_link``).
    """
    settings = settings or EvalSettings()
    if concurrency < 1:
        raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
    if executor not in ("local", "dask"):
        raise ConfigError(f"executor must be 'local' or 'dask', got {executor!r}")
    store = ResultsStore(out, settings) if out is not None else None
    done = await asyncio.to_thread(store.open) if store is not None else set()
    todo = [u for u in corpus if u.id not in done]
    from tqdm.auto import tqdm

    bar = tqdm(total=len(corpus), initial=len(corpus) - len(todo), desc="eval",
               unit="utt", disable=not progress)  # fmt: skip
    collector = _Collector(store, bar, [])
    link = None
    try:
        if executor == "local":
            await _run_local(todo, settings, concurrency, collector.save)
        elif todo or client is not None:
            link = await asyncio.to_thread(_dask, todo, settings, collector, concurrency,
                                           workers, address, client, on_dashboard)  # fmt: skip
    finally:
        bar.close()
    return await asyncio.to_thread(_result, collector, settings, len(todo), len(corpus), link)


def _dask(
    todo: Sequence[CorpusUtterance], settings: EvalSettings, collector: _Collector,
    concurrency: int, workers: int, address: str | None, client: Any, on_dashboard: Any,
) -> str | None:  # fmt: skip
    from .dask_executor import run_on_dask

    return run_on_dask(
        todo, settings, on_result=collector.save_sync, workers=workers,
        concurrency=concurrency, address=address, client=client, on_client=on_dashboard,
    )  # fmt: skip


def _result(
    collector: _Collector, settings: EvalSettings, ran: int, total: int, link: str | None
) -> EvalResult:
    rows, segments = _frames(collector)
    summary = summarize(rows, settings) if len(rows) else summarize(_empty_rows(), settings)
    plot = None
    if collector.store is not None and len(rows):
        fig = plot_eval(rows)
        plot = collector.store.out / "latency_quality.png"
        fig.savefig(plot, dpi=110, bbox_inches="tight")
    return EvalResult(rows, segments, summary, ran, total - ran,
                      collector.store.out if collector.store else None, plot, link)  # fmt: skip


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame(
        columns=["utterance_id", "source_text", "target_text", "transcript", "translation",
                 "latency_valid", "error"]
    )  # fmt: skip
