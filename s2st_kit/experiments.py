"""Experiments: sweeps over configurations × clips, replays of recorded sessions, comparisons.

* :func:`sweep` runs every combination of a grid of :class:`~s2st_kit.config.PipelineConfig`
  fields (``chunk_ms``, ``policy``, ``voice``, ...) on every clip and returns one row per
  segment with the configuration columns. Results go to a Parquet file after each finished
  (configuration, clip) *cell*; running the same sweep again skips finished cells, so an
  interrupted sweep resumes where it stopped.
* :func:`replay` runs the input audio a live session saved beside its log
  (``Pipeline(record_input=...)``; by convention ``<log>.input.wav``, see
  :func:`input_audio_path`) through another configuration.
* :func:`compare` tabulates two sessions' per-stage latencies side by side.
* :func:`evaluate` runs a corpus (CoVoST 2, FLEURS, CVSS-C, a manifest) utterance by
  utterance, locally or on Dask, and scores it (:mod:`s2st_kit.evaluation`).

Everything here is ``async`` (await it in a notebook cell); nothing blocks the event loop.
With the simulated engines (the default) runs are deterministic and need no audio device
or network; clips are fed as fast as the pipeline consumes them unless ``realtime=True``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd

from .audio.file import FileSource
from .config import PipelineConfig, PolicyName
from .datasets import Clip, find_clip
from .engines import Engines
from .errors import ConfigError
from .log import SegmentLog
from .metrics import stage_summary
from .pipeline import Pipeline

__all__ = [
    "ClipInput",
    "compare",
    "evaluate",
    "input_audio_path",
    "replay",
    "simulated_engines",
    "sweep",
]

#: Grid keys that are not PipelineConfig fields: they choose the simulated engines' model.
ENGINE_KEYS = ("preset", "seed")
_CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(PipelineConfig))


@dataclass(frozen=True, slots=True)
class ClipInput:
    """A clip to run: an audio file, an id for the results, and optionally a script.

    script: ``(text, start_s, end_s)`` utterances for the simulated recognizer; ``None``
    lets :func:`~s2st_kit.engines.simulated.engines_for_clip` find one for ``path``
    (speech found by energy, carrying a LibriVox clip's reference transcript).
    mt_references: ``{target_lang: {utterance text: translation}}`` that the simulated
    translator returns verbatim (from the manifest's per-utterance translations).
    """

    id: str
    path: Path
    script: tuple[tuple[str, float, float], ...] | None = None
    mt_references: Mapping[str, Mapping[str, str]] | None = dataclasses.field(
        default=None, compare=False
    )

    @classmethod
    def of(cls, item: str | os.PathLike[str] | Clip | ClipInput) -> ClipInput:
        """From a path (looked up in the data manifest), a datasets Clip, or as is."""
        if isinstance(item, ClipInput):
            return item
        if isinstance(item, Clip):
            return cls._of_clip(item)
        clip = find_clip(Path(item))
        if clip is None:
            return cls(id=Path(item).stem, path=Path(item))
        return cls._of_clip(clip)

    @classmethod
    def _of_clip(cls, clip: Clip) -> ClipInput:
        script = tuple((u.text, u.start_s, u.end_s) for u in clip.utterances) or None
        references: dict[str, dict[str, str]] = {}
        for u in clip.utterances:
            for lang, text in u.translations.items():
                references.setdefault(lang, {})[u.text] = text
        return cls(id=clip.id, path=clip.path, script=script, mt_references=references or None)


EngineFactory = Callable[[PipelineConfig, ClipInput], Engines]


async def simulated_engines(
    clip: ClipInput, *, preset: str = "cloud-like", seed: int = 0
) -> Engines:
    """Simulated recognizer / translator / synthesizer for ``clip`` (deterministic per seed).

    The recognizer follows the clip's script, or speech found by energy in its audio; the
    translator returns the clip's reference translations where it has them (see
    :func:`~s2st_kit.engines.simulated.engines_for_clip`).
    """
    from .engines.simulated import aengines_for_clip

    found = await aengines_for_clip(
        clip.path, script=clip.script, references=clip.mt_references, preset=preset, seed=seed
    )
    return found.build()


async def _make_engines(
    engines: str | EngineFactory,
    config: PipelineConfig,
    clip: ClipInput,
    engine_opts: Mapping[str, Any],
) -> Engines:
    if callable(engines):
        made = engines(config, clip)
        return await made if asyncio.iscoroutine(made) else made
    if engines == "simulated":
        return await simulated_engines(clip, **engine_opts)
    return Engines.create(engines)


async def _run_one(
    engines: Engines,
    config: PipelineConfig,
    audio: Path,
    *,
    realtime: bool,
    log_path: Path | None = None,
) -> pd.DataFrame:
    source = FileSource(audio, chunk_ms=config.chunk_ms, realtime=realtime)
    try:
        log = await Pipeline(engines, config, source=source, log_path=log_path).run()
    finally:
        await engines.aclose()
    log.close()
    return log.to_pandas()


def _cell_key(clip_id: str, params: Mapping[str, Any]) -> str:
    return json.dumps({"clip": clip_id, **params}, sort_keys=True, default=str)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)  # atomic: a crash leaves the previous complete file


async def _finish_even_if_cancelled(coro: Any) -> None:
    """Await ``coro``; if the caller is cancelled meanwhile, let it finish, then re-raise."""
    task = asyncio.ensure_future(coro)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


async def sweep(
    clips: Iterable[str | os.PathLike[str] | Clip | ClipInput],
    grid: Mapping[str, Sequence[Any]],
    *,
    engines: str | EngineFactory = "simulated",
    out: str | os.PathLike[str] | None = "sweep.parquet",
    concurrency: int = 2,
    preset: str = "cloud-like",
    seed: int = 0,
    base_config: PipelineConfig | None = None,
    realtime: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Run every grid combination on every clip; one row per segment.

    clips: audio files (looked up in data/manifest.json for a script), datasets Clips or
        :class:`ClipInput`.
    grid: ``{field: [values]}`` over PipelineConfig fields (``chunk_ms``, ``policy``,
        ``voice``, ``max_inflight``, ...), plus ``preset`` / ``seed`` for the simulated
        engines, e.g. ``{"chunk_ms": [50, 100, 200], "policy": ["final", "stable"]}``.
    engines: ``"simulated"`` (default), another bundle name for :meth:`Engines.create`, or
        a factory ``(config, clip) -> Engines`` (may be async). Engines are closed per cell.
    out: Parquet file written after every finished cell (atomically); cells already in it
        are not run again. ``None`` keeps results in memory only.
    concurrency: cells run at the same time (default 2).
    preset / seed: the simulated engines' latency preset and seed (unless in the grid).
    base_config: the configuration the grid modifies (default ``PipelineConfig()``).
    realtime: pace the clips like a microphone (slow; default: as fast as consumed).
    progress: show a tqdm progress bar (notebook widget or terminal).

    Returned and stored rows are the segment log (with derived columns) plus ``clip_id``,
    ``cell`` (a JSON key of clip and grid values) and a column per grid key. A cell whose
    session committed no segment is stored as one row with ``status="empty"`` so that it
    counts as finished. If a cell raises, the sweep stops with that error; finished cells
    are already saved.
    """
    if concurrency < 1:
        raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
    base = base_config or PipelineConfig()
    cells = await asyncio.to_thread(_sweep_cells, clips, grid, base)
    out_path = Path(out) if out is not None else None
    frames = await asyncio.to_thread(_finished_frames, out_path)
    done = set(frames[0]["cell"].astype(str)) if frames else set()
    todo = [cell for cell in cells if cell.key not in done]
    run = _SweepRun(
        engines=engines, base=base, engine_opts={"preset": preset, "seed": seed},
        realtime=realtime, out_path=out_path, frames=frames, concurrency=concurrency,
    )  # fmt: skip
    from tqdm.auto import tqdm

    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), desc="sweep", disable=not progress)
    try:
        await run.all(todo, bar)
    finally:
        bar.close()
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True, slots=True)
class _Cell:
    """One (grid combination, clip) of a sweep; ``key`` identifies it in the results."""

    params: dict[str, Any]
    clip: ClipInput

    @property
    def key(self) -> str:
        return _cell_key(self.clip.id, self.params)


def _sweep_cells(
    clips: Iterable[str | os.PathLike[str] | Clip | ClipInput],
    grid: Mapping[str, Sequence[Any]],
    base: PipelineConfig,
) -> list[_Cell]:
    """Every (combination, clip), after checking every configuration (nothing runs on a typo)."""
    unknown = [k for k in grid if k not in _CONFIG_FIELDS and k not in ENGINE_KEYS]
    if unknown:
        raise ConfigError(
            f"unknown grid key(s) {unknown}; use PipelineConfig fields "
            f"({', '.join(sorted(_CONFIG_FIELDS))}) or {', '.join(ENGINE_KEYS)}"
        )
    clip_inputs = [ClipInput.of(c) for c in clips]
    keys = list(grid)
    combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]
    cells = [_Cell(params, clip) for params in combos for clip in clip_inputs]
    for cell in cells:
        base.replace(**{k: v for k, v in cell.params.items() if k in _CONFIG_FIELDS})
    return cells


def _finished_frames(out_path: Path | None) -> list[pd.DataFrame]:
    """The rows an earlier run of the sweep saved (``[]`` when there are none)."""
    if out_path is None or not out_path.exists():
        return []
    existing = pd.read_parquet(out_path)
    return [existing] if len(existing) else []


@dataclass(slots=True)
class _SweepRun:
    """Runs a sweep's cells, ``concurrency`` at a time, saving the rows after each cell."""

    engines: str | EngineFactory
    base: PipelineConfig
    engine_opts: dict[str, Any]
    realtime: bool
    out_path: Path | None
    frames: list[pd.DataFrame]
    concurrency: int
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    async def all(self, cells: list[_Cell], bar: Any) -> None:
        """Run ``cells`` in one TaskGroup; a single failed cell raises its own error."""
        limit = asyncio.Semaphore(self.concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                for cell in cells:
                    group.create_task(self.one(cell, limit, bar))
        except BaseExceptionGroup as group_error:
            if len(group_error.exceptions) == 1:  # one failed cell: raise its own error
                raise group_error.exceptions[0] from None
            raise

    async def one(self, cell: _Cell, limit: asyncio.Semaphore, bar: Any) -> None:
        key = cell.key
        config_changes = {k: v for k, v in cell.params.items() if k in _CONFIG_FIELDS}
        engine_opts = {**self.engine_opts}
        engine_opts.update({k: v for k, v in cell.params.items() if k in ENGINE_KEYS})
        session = hashlib.sha1(key.encode()).hexdigest()[:12]
        config = self.base.replace(session_id=f"sweep-{session}", **config_changes)
        async with limit:  # a cell keeps its slot until its rows are saved
            eng = await _make_engines(self.engines, config, cell.clip, engine_opts)
            df = await _run_one(eng, config, cell.clip.path, realtime=self.realtime)
            await self.save(_cell_rows(df, config, cell), bar)

    async def save(self, df: pd.DataFrame, bar: Any) -> None:
        """Add a finished cell's rows and rewrite the results file (atomically)."""
        async with self.lock:
            self.frames.append(df)
            if self.out_path is not None:
                snapshot = pd.concat(self.frames, ignore_index=True)
                await _finish_even_if_cancelled(
                    asyncio.to_thread(_write_parquet, snapshot, self.out_path)
                )
            bar.update(1)


def _cell_rows(df: pd.DataFrame, config: PipelineConfig, cell: _Cell) -> pd.DataFrame:
    """A cell's segment rows with ``clip_id``, ``cell`` and a column per grid key."""
    if df.empty:
        df = pd.DataFrame(
            [{"session_id": config.session_id, "status": "empty",
              "error": "no segment was committed"}]
        )  # fmt: skip
    df = df.assign(clip_id=cell.clip.id, cell=cell.key)
    for name, value in cell.params.items():
        if name not in df.columns or df[name].isna().all():
            df[name] = value
    return df


# --------------------------------------------------------------------------- replay


def input_audio_path(log_path: str | os.PathLike[str]) -> Path:
    """Where a session's input audio is saved beside its log: ``talk.jsonl`` → ``talk.input.wav``."""
    return Path(log_path).with_suffix(".input.wav")


def _config_from_log(df: pd.DataFrame) -> PipelineConfig:
    if df.empty:
        raise ConfigError("the log has no rows; cannot recover its configuration")
    first = df.iloc[0]

    def get(name: str, default: Any) -> Any:
        value = first.get(name, default)
        return default if value is None or (isinstance(value, float) and pd.isna(value)) else value

    return PipelineConfig(
        source_lang=str(get("source_lang", "en")),
        target_lang=str(get("target_lang", "es")),
        voice=get("voice", None),
        chunk_ms=int(get("chunk_ms", 100)) or 100,
        # A logged name; PipelineConfig rejects one that is not a PolicyName.
        policy=cast(PolicyName, str(get("policy", "final")) or "final"),
    )


def _script_from_log(df: pd.DataFrame) -> tuple[tuple[str, float, float], ...]:
    rows = df.sort_values("segment_id") if "segment_id" in df.columns else df
    script = []
    for row in rows.itertuples(index=False):
        text = str(getattr(row, "transcript", "") or "").strip()
        start, end = getattr(row, "audio_start_s", None), getattr(row, "audio_end_s", None)
        if text and start is not None and end is not None and not pd.isna(start):
            script.append((text, float(start), float(end)))
    return tuple(script)


async def replay(
    session: str | os.PathLike[str] | pd.DataFrame | SegmentLog,
    *,
    config: PipelineConfig | Mapping[str, Any] | None = None,
    input_audio: str | os.PathLike[str] | None = None,
    engines: str | EngineFactory = "simulated",
    preset: str = "cloud-like",
    seed: int = 0,
    realtime: bool = False,
    log_path: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Run a recorded session's input audio again, possibly with another configuration.

    session: the original log (JSONL / Parquet path, DataFrame or SegmentLog).
    config: a PipelineConfig, or changes (``{"chunk_ms": 200}``) to the configuration read
        from the log's first row (languages, voice, chunk_ms, policy); ``None`` = the same.
    input_audio: the saved input WAV; default :func:`input_audio_path` of the log path.
    engines: as for :func:`sweep`. With ``"simulated"`` the recognizer's script is the
        original log's transcripts at their audio spans and the translator returns the
        original translations of committed texts it has seen, so a replay with an identical
        configuration reproduces the original transcripts and translations.
    log_path: JSONL file for the new session's log (default: memory only).
    Returns the new session's segment log as a DataFrame (with derived columns).
    """
    original, audio = await _recorded_session(session, input_audio)
    new_config = _replay_config(_config_from_log(original), config)
    translations = _translations_from_log(original)
    clip = ClipInput(
        id=audio.stem,
        path=audio,
        script=_script_from_log(original),
        mt_references={new_config.target_lang: translations} if translations else None,
    )
    eng = await _make_engines(engines, new_config, clip, {"preset": preset, "seed": seed})
    return await _run_one(
        eng,
        new_config,
        audio,
        realtime=realtime,
        log_path=Path(log_path) if log_path is not None else None,
    )


async def _recorded_session(
    session: str | os.PathLike[str] | pd.DataFrame | SegmentLog,
    input_audio: str | os.PathLike[str] | None,
) -> tuple[pd.DataFrame, Path]:
    """The original log as a DataFrame and its input audio file (checked to exist)."""
    if isinstance(session, str | os.PathLike):
        original = (await asyncio.to_thread(SegmentLog.load, session)).to_pandas()
        if input_audio is None:
            input_audio = input_audio_path(session)
    elif isinstance(session, SegmentLog):
        original = session.to_pandas()
    else:
        original = session
    if input_audio is None:
        raise ConfigError(
            "replay needs the session's input audio: pass input_audio=, or a log path with "
            "the audio saved beside it (Pipeline(record_input=...) as <log>.input.wav)"
        )
    audio = Path(input_audio)
    if not await asyncio.to_thread(audio.exists):
        raise ConfigError(
            f"no input audio at {audio}; record it with Pipeline(record_input=...) "
            "or pass input_audio="
        )
    return original, audio


def _replay_config(
    base: PipelineConfig, config: PipelineConfig | Mapping[str, Any] | None
) -> PipelineConfig:
    if config is None:
        return base
    if isinstance(config, PipelineConfig):
        return config
    return base.replace(**dict(config))


def _translations_from_log(original: pd.DataFrame) -> dict[str, str]:
    """``{committed text: translation}`` of the log's ok rows."""
    translations: dict[str, str] = {}
    for row in original.itertuples(index=False):
        text, translated = getattr(row, "transcript", None), getattr(row, "translation", None)
        if getattr(row, "status", "ok") == "ok" and text and translated:
            translations[str(text).strip()] = str(translated)
    return translations


# --------------------------------------------------------------------------- compare


def compare(
    df_a: pd.DataFrame, df_b: pd.DataFrame, *, labels: Sequence[str] = ("A", "B")
) -> pd.DataFrame:
    """Per-stage latency of two sessions side by side (seconds).

    Rows: the six decomposition stages and ``ear_to_ear_s``. Columns: ``median_<A>``,
    ``median_<B>``, ``median_delta`` (B − A), ``p90_<A>``, ``p90_<B>``, ``p90_delta``,
    ``count_<A>``, ``count_<B>`` (ok rows with a value).
    """
    if len(labels) != 2 or labels[0] == labels[1]:
        raise ValueError("labels must be two different names, e.g. ('100 ms', '200 ms')")
    a, b = (str(x) for x in labels)
    sa, sb = stage_summary(df_a), stage_summary(df_b)
    table = pd.DataFrame(
        {
            f"median_{a}": sa["median"],
            f"median_{b}": sb["median"],
            "median_delta": sb["median"] - sa["median"],
            f"p90_{a}": sa["p90"],
            f"p90_{b}": sb["p90"],
            "p90_delta": sb["p90"] - sa["p90"],
            f"count_{a}": sa["count"],
            f"count_{b}": sb["count"],
        }
    )
    table.index.name = "stage"
    return table


# --------------------------------------------------------------------------- evaluate


async def evaluate(
    corpus: str | os.PathLike[str] | Sequence[Any],
    *,
    layout: str = "manifest",
    engines: str = "simulated",
    source_lang: str = "en",
    target_lang: str = "es",
    policy: PolicyName = "final",
    chunk_ms: int = 100,
    pace: str = "realtime",
    preset: str = "cloud-like",
    seed: int = 0,
    split: str = "test",
    source_audio: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    out: str | os.PathLike[str] | None = "eval",
    concurrency: int = 4,
    executor: str = "local",
    workers: int = 2,
    address: str | None = None,
    client: Any = None,
    on_dashboard: Callable[[Any], None] | None = None,
    progress: bool = True,
) -> Any:
    """Evaluate on a corpus: every utterance a session, scored; ``s2st eval`` from Python.

    corpus: a corpus path read with ``layout`` (``covost2``, ``fleurs``, ``cvss``,
        ``manifest``; ``split``, ``source_audio`` and ``limit`` as
        :func:`~s2st_kit.evaluation.read_corpus`), or a list of
        :class:`~s2st_kit.evaluation.CorpusUtterance`.
    engines / source_lang / target_lang / policy / chunk_ms (ms) / pace (``"realtime"``:
        latency is meaningful; ``"none"``: quality only) / preset / seed: see
        :class:`~s2st_kit.evaluation.EvalSettings`.
    out: results folder (resumable Parquet dataset; ``None``: memory only).
    concurrency: sessions at once per process / Dask worker. executor: ``"local"`` or
        ``"dask"`` (a LocalCluster of ``workers`` processes, the scheduler at ``address``, or
        ``client``); on_dashboard: called with the Dask client (its ``dashboard_link``).
    Returns an :class:`~s2st_kit.evaluation.EvalResult` (per-utterance rows, segment logs,
    corpus summary).
    """
    from .evaluation import EvalSettings, read_corpus
    from .evaluation import evaluate as run_evaluation

    if isinstance(corpus, str | os.PathLike):
        utterances = await asyncio.to_thread(
            read_corpus, corpus, layout=cast(Any, layout), source_lang=source_lang,
            target_lang=target_lang, split=split, source_audio=source_audio, limit=limit,
        )  # fmt: skip
    else:
        utterances = list(corpus)[:limit]
    settings = EvalSettings(
        engines=engines, source_lang=source_lang, target_lang=target_lang, policy=policy,
        chunk_ms=chunk_ms, pace=cast(Any, pace), preset=preset, seed=seed,
    )  # fmt: skip
    return await run_evaluation(
        utterances, settings=settings, out=out, concurrency=concurrency,
        executor=cast(Any, executor), workers=workers, address=address, client=client,
        on_dashboard=on_dashboard, progress=progress,
    )  # fmt: skip
