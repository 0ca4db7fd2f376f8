"""DaskSimulationService: simulation groups on a Dask cluster, local or remote.

``DaskSimulationService()`` starts a LocalCluster on this machine (processes, one thread each, one worker per core);
``DaskSimulationService("tcp://scheduler:8786")`` connects to a running scheduler (a workspace on Kubernetes) and
checks that the cluster runs the same software; ``DaskSimulationService.from_env()`` reads DASK_SCHEDULER_ADDRESS,
as the adaptive runner pod does. Either way the tasks are the same functions the local service runs.
"""

from __future__ import annotations

import logging
import os
import queue
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelops.services.pipeline import DEFAULT_MAX_CHUNK, DEFAULT_TARGET_TASK_S, GroupPipeline, default_max_tasks
from modelops.services.tasks import GroupResult, SimulationGroup, outputs_or_raise, run_chunk, run_group
from modelops.services.versions import WORKER_PACKAGES, ClusterVersionError, find_mismatches
from modelops_contracts import SimReturn

ENV_ADDRESS = "DASK_SCHEDULER_ADDRESS"
# Fetching a finished task's result takes milliseconds, unless the worker holding it died meanwhile: then Dask
# recomputes it on another worker (waited for, this long at most), or, with no worker left, never (given up at once).
FETCH_SLICE_S = 1.0
FETCH_PATIENCE_S = 600.0


class ClusterConnectionError(RuntimeError):
    """The scheduler could not be reached."""


class SimFuture:
    """A handle on one submitted simulation: ``result()`` gives its outputs or raises SimulationError."""

    def __init__(self, future: Any, fn_ref: str):
        self.future = future
        self.fn_ref = fn_ref

    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float | None = None) -> SimReturn:
        return outputs_or_raise(self.future.result(timeout=timeout), self.fn_ref)


class _DaskBackend:
    """Chunks as Dask futures; completions arrive through done-callbacks into a thread-safe queue."""

    def __init__(self, client: Any):
        self._client = client
        self._done: queue.Queue = queue.Queue()
        self._running: dict[str, tuple[Any, list[SimulationGroup]]] = {}
        self._token = uuid.uuid4().hex[:8]
        self._n = 0

    def dispatch(self, chunk: Sequence[SimulationGroup]) -> None:
        self._n += 1
        # Named keys make the dashboard readable: one task prefix per pipeline.
        key = f"mops-groups-{self._token}-{self._n}"
        future = self._client.submit(run_chunk, list(chunk), key=key, pure=False)
        self._running[future.key] = (future, list(chunk))
        future.add_done_callback(self._done.put)

    def wait(self, timeout: float | None) -> tuple[Sequence[SimulationGroup], list[GroupResult] | BaseException] | None:
        while True:
            try:
                future = self._done.get(timeout=timeout)
            except queue.Empty:
                return None
            entry = self._running.pop(future.key, None)
            if entry is None:  # a callback for a task we already cancelled
                continue
            _, chunk = entry
            if future.status == "finished":
                try:
                    return chunk, self._fetch(future)
                except Exception as exc:  # result lost between completion and fetch (worker died)
                    return chunk, exc
            exc = future.exception() if future.status == "error" else RuntimeError(f"task {future.status}")
            return chunk, exc

    def _fetch(self, future: Any) -> list[GroupResult]:
        """A finished task's result; raises if its worker died with it and no worker is left to recompute it.

        Without the bound, a Ctrl-C that stops the local workers just after a task finished left the runner waiting
        for that result forever (Dask waits for a worker to recompute the lost result).
        """
        deadline = time.monotonic() + FETCH_PATIENCE_S
        while True:
            try:
                return future.result(timeout=FETCH_SLICE_S)
            except TimeoutError:
                if not self._client.nthreads():
                    raise RuntimeError(
                        f"the result of task {future.key} was lost with the worker that computed it, and no worker "
                        "is left to compute it again"
                    ) from None
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the result of task {future.key} was lost with the worker that computed it, and no other "
                        f"worker computed it again within {FETCH_PATIENCE_S:.0f} s"
                    ) from None

    def cancel_all(self) -> None:
        futures = [f for f, _ in self._running.values()]
        self._running.clear()
        if futures:
            self._client.cancel(futures)


class DaskSimulationService:
    """A SimulationService on Dask.

    - ``address=None``: start a LocalCluster (``n_workers`` defaults to the number of cores, ``threads_per_worker``
      to 1, dashboard on a free port) and close it on exit;
    - ``address="tcp://host:8786"``: connect (within ``connect_timeout`` seconds) and, unless
      ``check_versions=False``, raise ClusterVersionError if the scheduler or a worker runs different versions.
    ``search_path`` and ``cache_url`` apply to ``submit``; groups carry their own. ``profile=True`` turns on the
    workers' statistical profiler (the dashboard's Profile tab) on a LocalCluster; it is off because it slows
    simulations by a few percent.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        n_workers: int | None = None,
        threads_per_worker: int = 1,
        search_path: Sequence[str | Path] = (),
        cache_url: str | None = None,
        check_versions: bool = True,
        connect_timeout: float = 30.0,
        memory_limit: str | float | None = "auto",
        profile: bool = False,
    ):
        import dask.config
        from distributed import Client, LocalCluster

        self.search_path = tuple(str(p) for p in search_path)
        self.cache_url = cache_url
        self.cluster: Any = None
        if address is None:
            n = n_workers or os.cpu_count() or 1
            self.cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=threads_per_worker,
                processes=True,
                dashboard_address="127.0.0.1:0",
                host="127.0.0.1",
                silence_logs=logging.WARNING,
                memory_limit=memory_limit,
                # Dask's statistical profiler wakes every 10 ms and takes the GIL from the simulation thread:
                # measured 3-7% slower 10 ms simulations. Its dashboard tab is rarely worth that; opt in.
                # (The nanny merges this over the global config shallowly, so hand it the whole, deep-merged config.)
                config=dask.config.merge(
                    dask.config.config, {"distributed": {"worker": {"profile": {"enabled": profile}}}}
                ),
            )
            try:
                self.client = Client(self.cluster)
            except BaseException:
                self.cluster.close()
                raise
        else:
            try:
                with warnings.catch_warnings():
                    # Dask warns about version mismatches itself; we raise a clearer error below instead.
                    warnings.simplefilter("ignore", UserWarning)
                    self.client = Client(address, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise ClusterConnectionError(
                    f"cannot reach the Dask scheduler at {address!r} within {connect_timeout:.0f} s ({exc}). "
                    f"Check that it is running and that the address (or ${ENV_ADDRESS}) is right"
                ) from None
            if check_versions:
                try:
                    self.check_versions()
                except BaseException:
                    self.client.close()
                    raise

    @classmethod
    def from_env(cls, **kwargs: Any) -> DaskSimulationService:
        """Connect to the scheduler named by DASK_SCHEDULER_ADDRESS (set in every runner pod)."""
        address = os.environ.get(ENV_ADDRESS, "").strip()
        if not address:
            raise ClusterConnectionError(
                f"{ENV_ADDRESS} is not set; set it to the scheduler's address (e.g. tcp://dask-scheduler:8786), "
                "or use DaskSimulationService() for a local cluster"
            )
        return cls(address, **kwargs)

    # -- cluster facts --------------------------------------------------------------------------------------------

    def check_versions(self) -> None:
        """Raise ClusterVersionError naming every package whose version differs from this client's."""
        mismatches = find_mismatches(self.client.get_versions(packages=list(WORKER_PACKAGES)))
        if mismatches:
            raise ClusterVersionError(mismatches)

    @property
    def slots(self) -> int:
        """Total worker threads now (at least 1, so a pipeline on a cluster still scaling up has room)."""
        return max(1, sum(self.client.nthreads().values()))

    @property
    def address(self) -> str:
        return self.client.scheduler.address

    @property
    def dashboard_link(self) -> str | None:
        return self.client.dashboard_link

    def wait_for_workers(self, n: int, timeout: float | None = None) -> None:
        self.client.wait_for_workers(n, timeout=timeout)

    # -- SimulationService ------------------------------------------------------------------------------------------

    def submit(self, fn_ref: str, params: Mapping[str, Any], seed: int, *, bundle_ref: str | None = None) -> SimFuture:
        """Start ``fn(params, seed)`` on the cluster; returns at once."""
        group = SimulationGroup.single(
            fn_ref, params, seed, bundle_ref=bundle_ref, cache_url=self.cache_url, search_path=self.search_path
        )
        return SimFuture(self.client.submit(run_group, group, pure=False), fn_ref)

    def gather(self, futures: Sequence[SimFuture]) -> list[SimReturn]:
        """Outputs in the order of ``futures`` (fetched in one round trip); the first failure raises."""
        results = self.client.gather([f.future for f in futures])
        return [outputs_or_raise(r, f.fn_ref) for r, f in zip(results, futures, strict=True)]

    def pipeline(
        self,
        max_in_flight: int | None = None,
        *,
        target_task_s: float = DEFAULT_TARGET_TASK_S,
        max_chunk: int = DEFAULT_MAX_CHUNK,
    ) -> GroupPipeline:
        """A bounded as-completed pipeline; ``max_in_flight`` tasks at most (default 2 x slots, re-read every few
        seconds, so an autoscaled cluster gets more work as it grows)."""
        return GroupPipeline(
            _DaskBackend(self.client),
            # By default follow the cluster's size as workers join or leave.
            max_tasks=max_in_flight or (lambda: default_max_tasks(self.slots)),
            target_task_s=target_task_s,
            max_chunk=max_chunk,
        )

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the client and, if this service started it, the LocalCluster."""
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
                self.cluster = None

    def __enter__(self) -> DaskSimulationService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
