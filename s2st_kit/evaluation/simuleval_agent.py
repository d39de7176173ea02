"""SimulEval interoperability: the cascade as a SimulEval agent, and session logs as
SimulEval's ``instances.log``.

**Export** (:func:`instance_record`, :func:`write_instances_log`): any session's segment log
becomes one line of SimulEval's ``instances.log`` (the JSON that SimulEval's
``TextOutputInstance`` / ``SpeechOutputInstance`` ``summarize()`` writes; times in **ms**),
with the mapping of :mod:`s2st_kit.metrics`: text output — every target word's ``delays``
is its segment's commit time (``t_asr_final``, source consumed), ``elapsed`` the time its
translation existed (``t_mt_end``); speech output — one chunk per segment, ``durations``
its synthesised length and ``intervals`` SimulEval's layout. ``simuleval --score-only
--output DIR`` then scores the folder (a ``config.yaml`` is written beside it).

**Agent** (:class:`S2STAgent`, speech in → text out)::

    simuleval --agent-class s2st_kit.evaluation.simuleval_agent.S2STAgent \\
        --source sources.txt --target targets.txt --output OUT --source-segment-size 320 \\
        --s2st-engines offline --s2st-to es --s2st-log-dir OUT/s2st

SimulEval's evaluator pushes source segments and pops output synchronously. The agent feeds
them to a live pipeline session running on its own event loop (a thread; engines built once
for all instances) and **paces** the reading like a microphone (each ``push`` returns once
the wall clock has reached the end of the audio pushed), so the session's latencies are
real-time ones; every ``pop`` returns the translations logged since the previous one, and
the last segment waits for the session to finish. Each instance's segment log is saved as
``<log dir>/instance-<k>.parquet``.

What SimulEval then scores correctly, for this real-time agent: the non-computation-aware
``delays`` are the source read when a translation was returned, i.e. s2st_kit's output
time (``t_mt_end``) rounded up to the next source segment — the comparable s2st_kit score
is the computation-aware one (``AL_CA``); s2st_kit's non-computation-aware ``AL`` takes the
commit time, before translation. What it does not: SimulEval's computation-aware
``elapsed`` adds the wall time since the instance started to the source read
(``delay + wall``), which assumes an agent that is fed faster than real time; for a
real-time agent it counts the stream time twice (``elapsed ≈ 2 × delay``), so its ``_CA``
scores are not meaningful here. Also, SimulEval 1.1.4 builds its plain scorers with the
``--computation-aware`` flag too, so with that flag ``AL`` and ``AL_CA`` are the same
(computation-aware) number: score twice, with and without it.

Install: ``pip install --no-deps simuleval==1.1.4 textgrid`` (SimulEval pins tqdm 4.64.1 and
pytest-flake8, which conflict with this project's pins; the rest of its run-time imports
are ours).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..metrics import session_instance, speech_output_layout

__all__ = ["instance_record", "write_instances_log"]

OutputType = Literal["text", "speech"]


def _ms(values: Iterable[float]) -> list[float]:
    return [float(v) * 1000.0 for v in values]


def instance_record(
    df: pd.DataFrame,
    *,
    index: int,
    source_duration_s: float,
    reference: str | None = None,
    output: OutputType = "text",
    source: str | None = None,
    stream_start_t: float | None = None,
) -> dict[str, Any]:
    """One session as one ``instances.log`` record (see the module docstring; times in ms).

    df: the session's segment log. index: the instance number. source_duration_s: ``|X|``
    (s). reference: the reference translation. output: ``"text"`` (the translation's
    words) or ``"speech"`` (the synthesised segments). source: the source audio path.
    """
    ins = session_instance(df, source_duration_s=source_duration_s, reference=reference,
                           stream_start_t=stream_start_t)  # fmt: skip
    record: dict[str, Any] = {
        "index": index,
        "reference": reference or "",
        "source": source or "",
        "source_length": source_duration_s * 1000.0,
    }
    if output == "text":
        record.update(prediction=" ".join(ins.tokens), delays=_ms(ins.text_delays),
                      elapsed=_ms(ins.text_elapsed), prediction_length=len(ins.tokens))  # fmt: skip
        return record
    delays, durations = _ms(ins.speech_delays), _ms(ins.speech_durations)
    layout = speech_output_layout(delays, durations)
    record.update(
        prediction=f"{index}_pred.wav", delays=delays, durations=durations, elapsed=[],
        intervals=[[s, d] for s, d in layout.intervals],
        prediction_offset=delays[0] if delays else source_duration_s * 1000.0,
        prediction_length=(layout.end_s - delays[0]) / 1000.0 if delays else 0.0,
    )  # fmt: skip
    return record


def write_instances_log(
    records: Sequence[dict[str, Any]], folder: str | os.PathLike[str], *, output: OutputType
) -> Path:
    """Write ``folder/instances.log`` (and the ``config.yaml`` SimulEval's ``--score-only``
    reads the data types from); returns the log's path."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(
        f"source_type: speech\ntarget_type: {output}\n", encoding="utf-8"
    )
    path = out / "instances.log"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the agent


class _PushSource:
    """An audio source fed from another thread (the SimulEval evaluator's)."""

    def __init__(self, sample_rate: int, loop: asyncio.AbstractEventLoop) -> None:
        self.sample_rate = sample_rate
        self._loop = loop
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    def push(self, chunk: Any) -> None:
        """Thread-safe: hand a chunk (``None`` = end of input) to the loop."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, chunk)

    def __aiter__(self) -> Any:
        return self._chunks()

    async def _chunks(self) -> Any:
        while (chunk := await self._queue.get()) is not None:
            yield chunk

    async def aclose(self) -> None:
        """End the input."""
        self._queue.put_nowait(None)


class _LiveSession:
    """One SimulEval instance as a live pipeline session on the agent's loop."""

    def __init__(self, agent: Any, sample_rate: int) -> None:
        from ..audio import MemorySink, PacedSink
        from ..pipeline import Pipeline

        self.agent = agent
        self.source = _PushSource(sample_rate, agent.loop)
        self.position_s = 0.0
        self.wall_start = time.monotonic()
        self.outputs: list[str] = []
        self.lock = threading.Lock()
        config = agent.settings.config(f"simuleval-{agent.instances}")
        self.pipe = Pipeline(agent.engines, config, source=self.source,
                             sink=PacedSink(MemorySink()))  # fmt: skip
        self.running = threading.Event()
        self.pipe.subscribe(self._on_event)
        self.task = agent.call(self._start())
        # The stream starts when the session does (after validation and model warm-up), as
        # a microphone opened by the session would; a failed start ends the wait too.
        self.running.wait(timeout=120)
        self.wall_start = time.monotonic()

    async def _start(self) -> Any:
        return self.pipe.start()

    def _on_event(self, event: Any) -> None:
        """Translations as soon as they exist (rows are logged only after playback)."""
        from ..events import StateChanged, TranslationReady

        if isinstance(event, StateChanged) and event.state != "idle":
            self.running.set()
        elif isinstance(event, TranslationReady):
            text = event.translation.text.strip()
            if text:
                with self.lock:
                    self.outputs.append(text)

    def feed(self, samples: Sequence[float], rate: int) -> None:
        """Push ``samples`` once the wall clock reaches their end, as a microphone delivers
        audio only after it was spoken (real time)."""
        from ..records import AudioChunk

        if not len(samples):
            return
        pcm = (np.clip(np.asarray(samples, np.float32), -1, 1) * 32767).astype(np.int16)
        start, self.position_s = self.position_s, self.position_s + len(pcm) / rate
        delay = self.wall_start + self.position_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.source.push(AudioChunk(pcm.tobytes(), rate, start))

    def take(self) -> str:
        """The translations logged since the last call, joined."""
        with self.lock:
            out, self.outputs = self.outputs, []
        return " ".join(out)

    def finish(self) -> pd.DataFrame:
        """End the input, wait for the session, return its log."""
        self.source.push(None)
        log = self.agent.call(self._wait())
        frame: pd.DataFrame = log.to_pandas()
        return frame

    async def _wait(self) -> Any:
        return await self.task


try:
    from simuleval.agents import SpeechToTextAgent as _AgentBase
    from simuleval.agents.actions import ReadAction, WriteAction
except ImportError:  # pragma: no cover - without simuleval the export still works
    _AgentBase = object  # no agent class without SimulEval
else:
    __all__ += ["S2STAgent"]


class S2STAgent(_AgentBase):  # type: ignore[misc]  # SimulEval has no types: Any base
    """The s2st_kit cascade as a SimulEval speech-to-text agent (see the module docstring)."""

    source_type = "speech"
    target_type = "text"

    def __init__(self, args: Any = None) -> None:
        from .runner import EnginePool, EvalSettings

        self.settings = EvalSettings(
            engines=args.s2st_engines, source_lang=args.s2st_from, target_lang=args.s2st_to,
            policy=args.s2st_policy, chunk_ms=args.s2st_chunk_ms, preset=args.s2st_preset,
            asr_bleu=False,
        )  # fmt: skip
        self.log_dir = Path(args.s2st_log_dir) if args.s2st_log_dir else None
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="s2st-agent", daemon=True).start()
        self.pool = self.call(EnginePool(self.settings, 1).open())
        self.engines = self.call(self._engines())
        self.session: _LiveSession | None = None
        self.instances = 0
        super().__init__(args)

    async def _engines(self) -> Any:
        if self.settings.engines == "simulated":
            raise ConfigError(
                "the SimulEval agent needs real engines (--s2st-engines offline or aws): the "
                "simulated recognizer follows a script, which a live stream does not come with"
            )
        return await self.pool._free.get()

    def call(self, coro: Any) -> Any:
        """Run ``coro`` on the agent's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    @staticmethod
    def add_args(parser: Any) -> None:
        """The agent's options (all prefixed ``--s2st-``)."""
        parser.add_argument("--s2st-engines", default="offline",
                            help="engine bundle: offline (default) or aws")  # fmt: skip
        parser.add_argument("--s2st-from", default="en")
        parser.add_argument("--s2st-to", default="es")
        parser.add_argument("--s2st-policy", default="final")
        parser.add_argument("--s2st-chunk-ms", type=int, default=100)
        parser.add_argument("--s2st-preset", default="instant")
        parser.add_argument("--s2st-log-dir", default=None,
                            help="save each instance's segment log here")  # fmt: skip

    def reset(self) -> None:
        """A new instance begins (SimulEval calls this before each one)."""
        super().reset()
        self.session = None

    def push(self, source_segment: Any, states: Any = None, upstream_states: Any = None) -> None:
        """Feed the segment to the live session, paced in real time."""
        super().push(source_segment, states, upstream_states)
        if source_segment.is_empty:
            return
        if self.session is None:
            self.session = _LiveSession(self, int(source_segment.sample_rate))
        self.session.feed(source_segment.content, int(source_segment.sample_rate))

    def policy(self) -> Any:
        """Write what was translated since the last step; at the end, everything left."""
        session = self.session
        if session is None:
            return ReadAction()
        if self.states.source_finished:
            df = session.finish()
            self._save(df)
            return WriteAction(session.take(), finished=True)
        text = session.take()
        return WriteAction(text, finished=False) if text else ReadAction()

    def _save(self, df: pd.DataFrame) -> None:
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            df.to_parquet(self.log_dir / f"instance-{self.instances}.parquet", index=False)
        self.instances += 1
