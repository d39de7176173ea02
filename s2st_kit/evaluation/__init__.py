"""Evaluation at scale: corpus readers, per-utterance sessions, corpus scores, Dask, SimulEval.

* :mod:`.corpus` — CoVoST 2 / Common Voice, FLEURS, CVSS-C and CSV/JSONL manifests →
  :class:`CorpusUtterance` records (:func:`read_corpus`).
* :func:`evaluate` — every utterance as a session (paced in real time or not), scored
  (WER, BLEU, chrF, ASR-BLEU, SimulEval latency, AWS cost), results in a resumable Parquet
  folder; locally or on Dask (``executor="dask"``, extra ``s2st_kit[scale]``).
* :mod:`.simuleval_agent` — the cascade as a SimulEval agent, and any session log as
  SimulEval's ``instances.log`` (extra: ``pip install --no-deps simuleval textgrid``).

``s2st eval`` is the command-line front end (:mod:`s2st_kit.cli_eval`).
"""

from __future__ import annotations

from .corpus import (
    LAYOUTS,
    CorpusError,
    CorpusUtterance,
    Layout,
    read_corpus,
    read_covost2,
    read_cvss,
    read_fleurs,
    read_manifest,
)
from .evaluate import EvalResult, Executor, evaluate
from .runner import EnginePool, EvalSettings, Pace, UtteranceResult, run_utterance
from .scores import LATENCY_COLUMNS, EvalSummary, plot_eval, summarize

__all__ = [
    "LATENCY_COLUMNS",
    "LAYOUTS",
    "CorpusError",
    "CorpusUtterance",
    "EnginePool",
    "EvalResult",
    "EvalSettings",
    "EvalSummary",
    "Executor",
    "Layout",
    "Pace",
    "UtteranceResult",
    "evaluate",
    "plot_eval",
    "read_corpus",
    "read_covost2",
    "read_cvss",
    "read_fleurs",
    "read_manifest",
    "run_utterance",
    "summarize",
]
