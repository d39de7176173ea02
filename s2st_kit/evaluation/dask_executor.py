"""Running an evaluation on Dask distributed: the same sessions, one task per utterance.

* :class:`EvalWorkerPlugin` is registered once per evaluation; on every worker its
  ``setup`` starts a private event loop in a thread (the sessions are asyncio code; the
  worker's own loop keeps serving Dask) and builds the :class:`~.runner.EnginePool` there —
  **once per worker**, ``concurrency`` engine sets, not once per utterance.
* :func:`run_task` (the task) finds the plugin on its worker and runs one utterance on that
  loop; each worker runs ``concurrency`` tasks at once (its threads).
* :func:`run_on_dask` starts a ``LocalCluster`` (``workers`` processes) or connects to a
  scheduler ``address`` (or uses a given ``Client``), maps the utterances and hands each
  result to ``on_result`` as it completes (the caller saves it). Blocking: call it in a
  thread from async code.

Requires the ``scale`` extra: ``pip install 's2st_kit[scale]'`` (``dask[distributed]``).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError
from .corpus import CorpusUtterance
from .runner import EnginePool, EvalSettings, UtteranceResult, run_utterance

__all__ = ["PLUGIN_NAME", "EvalWorkerPlugin", "run_on_dask", "run_task"]

PLUGIN_NAME = "s2st-eval"

try:  # the scale extra; without it this module imports, and running says what to install
    from distributed import WorkerPlugin as _PluginBase
except ImportError:  # pragma: no cover - exercised only without the extra
    _PluginBase = object  # type: ignore[assignment,misc]  # a stand-in base without Dask


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(
            "--executor dask needs Dask distributed: pip install 's2st_kit[scale]'"
        ) from exc
    return distributed


class EvalWorkerPlugin(_PluginBase):
    """Per-worker state of an evaluation: an event loop thread and the engine pool.

    Dask calls ``setup(worker)`` when the plugin is registered (and on workers that join
    later) and ``teardown(worker)`` when it is removed or the worker closes.
    """

    name = PLUGIN_NAME

    def __init__(self, settings: EvalSettings, concurrency: int) -> None:
        self.settings = settings
        self.concurrency = concurrency
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.pool: EnginePool | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings, "concurrency": self.concurrency}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["settings"], state["concurrency"])  # type: ignore[misc]  # re-init after unpickling

    def setup(self, worker: Any = None) -> None:
        """Start the loop thread and build the engines on it (once per worker)."""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="s2st-eval", daemon=True)
        self.thread.start()
        pool = EnginePool(self.settings, self.concurrency)
        self.pool = self._call(pool.open())

    def _call(self, coro: Any) -> Any:
        if self.loop is None:
            raise ConfigError("the s2st evaluation plugin is not set up on this worker")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def run(self, utt: CorpusUtterance) -> UtteranceResult:
        """One utterance on this worker's loop and engines (blocks the calling thread)."""
        if self.pool is None:
            raise ConfigError("the s2st evaluation plugin is not set up on this worker")
        result: UtteranceResult = self._call(run_utterance(self.pool, utt))
        result.row["engine_pool"] = f"{os.getpid()}-{id(self.pool)}"  # which worker's engines
        return result

    def teardown(self, worker: Any = None) -> None:
        """Close the engines and stop the loop thread."""
        if self.pool is not None:
            self._call(self.pool.aclose())
            self.pool = None
        if self.loop is not None and self.thread is not None:
            self._call(self.loop.shutdown_default_executor())  # to_thread's threads
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()
            self.loop = None


def run_task(utt: CorpusUtterance) -> UtteranceResult:
    """The Dask task: run ``utt`` with the plugin of the worker it landed on."""
    distributed = _distributed()
    worker = distributed.get_worker()
    plugin: EvalWorkerPlugin = worker.plugins[PLUGIN_NAME]
    return plugin.run(utt)


def _client(
    distributed: Any, *, workers: int, concurrency: int, address: str | None
) -> tuple[Any, Any]:
    """A Client and the LocalCluster it owns (None when connecting to ``address``)."""
    if address:
        return distributed.Client(address), None
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=concurrency, processes=True,
        dashboard_address=":0", silence_logs=40,
    )  # fmt: skip
    return distributed.Client(cluster), cluster


def run_on_dask(
    utterances: Sequence[CorpusUtterance],
    settings: EvalSettings,
    *,
    on_result: Callable[[UtteranceResult], None],
    workers: int = 2,
    concurrency: int = 1,
    address: str | None = None,
    client: Any = None,
    on_client: Callable[[Any], None] | None = None,
) -> str | None:
    """Run ``utterances`` on Dask (see the module docstring); returns the dashboard link.

    client: an existing ``distributed.Client`` (kept open); else one is made for
    ``address`` or a new LocalCluster of ``workers`` processes × ``concurrency`` threads,
    closed at the end. on_client: called with the client before the tasks are submitted
    (e.g. to print ``client.dashboard_link``).
    """
    distributed = _distributed()
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    owned_cluster = None
    owned = client is None
    if client is None:
        client, owned_cluster = _client(
            distributed, workers=workers, concurrency=concurrency, address=address
        )
    try:
        if on_client is not None:
            on_client(client)
        plugin = EvalWorkerPlugin(settings, concurrency)
        client.register_plugin(plugin, name=PLUGIN_NAME)
        futures = client.map(run_task, list(utterances), pure=False,
                             key=[f"s2st-eval-{u.id}-{id(plugin)}" for u in utterances])  # fmt: skip
        for future in distributed.as_completed(futures):
            on_result(future.result())
        client.unregister_worker_plugin(PLUGIN_NAME)
        return str(client.dashboard_link) if client.dashboard_link else None
    finally:
        if owned:
            client.close()
            if owned_cluster is not None:
                owned_cluster.close()
