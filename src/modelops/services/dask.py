"""DaskSimulationService: simulation groups on a Dask cluster, local or remote.

``DaskSimulationService()`` starts a LocalCluster on this machine (processes, one thread each, one worker per core);
``DaskSimulationService("tcp://scheduler:8786")`` connects to a running scheduler (a workspace on Kubernetes) and
checks that the cluster runs the same software; ``DaskSimulationService.from_env()`` reads DASK_SCHEDULER_ADDRESS,
as the adaptive runner pod does. Either way the tasks are the same functions the local service runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from modelops.services.context import DEFAULT_PREPARE_TIMEOUT_S, ModelLoadError, RunContext, warm
from modelops.services.pipeline import DEFAULT_MAX_CHUNK, DEFAULT_TARGET_TASK_S, GroupPipeline, default_max_tasks
from modelops.services.pool import lost_result
from modelops.services.tasks import GroupResult, SimulationGroup, outputs_or_raise, run_chunk, run_group
from modelops.services.versions import WORKER_PACKAGES, ClusterVersionError, find_mismatches
from modelops_contracts import SimReturn

ENV_ADDRESS = "DASK_SCHEDULER_ADDRESS"
# Fetching a finished task's result takes milliseconds, unless the worker holding it died meanwhile: then Dask
# recomputes it on another worker (waited for, this long at most), or, with no worker left, never (given up at once).
FETCH_SLICE_S = 1.0
FETCH_PATIENCE_S = 600.0
#: With work in flight and no worker at all this long, the work fails instead of waiting for workers that never come.
NO_WORKER_PATIENCE_S = 120.0
WAIT_SLICE_S = 1.0
#: A task lost with a worker before it started is re-sent as it was, at most this many times.
MAX_UNSTARTED_LOSSES = 3
#: A timed-out worker on a remote cluster is restarted by its nanny, which SIGKILLs it after 80% of this.
RESTART_TIMEOUT_S = 10.0
#: A LocalCluster short of workers this long is scaled back to its size.
HEAL_AFTER_S = 5.0


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


def _restart_worker(client: Any, address: str) -> None:
    """Ask ``address``'s nanny to stop it (SIGKILL after a few seconds if it does not stop: hung or SIGSTOPped) and
    start a new one. In a thread: it takes seconds, and the runner keeps taking results meanwhile."""

    def restart() -> None:
        try:
            client.restart_workers([address], timeout=RESTART_TIMEOUT_S, raise_for_error=False)
        except Exception as exc:  # the worker may be gone already
            logging.getLogger("modelops.services").warning("could not restart worker %s: %s", address, exc)

    threading.Thread(target=restart, name="mops-restart-worker", daemon=True).start()


def _run_chunk_started(groups: list[SimulationGroup], key: str, topic: str) -> list[GroupResult]:
    """run_chunk, announcing its start (for the runner's per-simulation deadline) on an event topic."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(topic, (key, worker.address))
    return run_chunk(groups)


@dataclass
class _Chunk:
    """What the pipeline dispatched; its results fill in as its tasks (the first, or the retries) finish."""

    groups: list[SimulationGroup]
    results: list[GroupResult | None]
    remaining: int


@dataclass
class _Task:
    future: Any
    chunk: _Chunk
    indices: list[int]
    attempts: int
    budget_s: float | None
    started: float | None = None
    worker: str | None = None
    losses: int = 0  # times lost before it started (not counted as attempts, up to MAX_UNSTARTED_LOSSES)

    @property
    def groups(self) -> list[SimulationGroup]:
        return [self.chunk.groups[i] for i in self.indices]


class _DaskBackend:
    """Chunks as Dask futures; completions arrive through done-callbacks into a thread-safe queue.

    Limits, enforced from the runner's side so they hold on any cluster: with ``timeout_s`` each task announces its
    start (a Dask event) and, once past ``timeout_s`` x its replicates, is cancelled and its worker killed (the nanny
    starts a new one). A task lost with its worker (KilledWorker, a result lost) or over time is split into its groups,
    each run alone (not counted as an attempt: which group was to blame is unknown); a group alone that is lost again
    is retried ``retries`` times, then failed with the cause.
    """

    def __init__(
        self,
        client: Any,
        *,
        timeout_s: float | None = None,
        retries: int = 1,
        kill_worker: Any = None,
        heal: Any = None,
    ) -> None:
        self._client = client
        self._done: queue.Queue = queue.Queue()
        self._running: dict[str, _Task] = {}
        self._finished: deque[_Chunk] = deque()
        self._token = uuid.uuid4().hex[:8]
        self._n = 0
        self._timeout_s = timeout_s
        self._retries = retries
        self._kill_worker = kill_worker or (lambda address: _restart_worker(client, address))
        self._starts: queue.Queue = queue.Queue()
        self._topic = f"mops-start-{self._token}"
        self._no_workers_since: float | None = None
        self._heal = heal
        self._just_done: dict[str, _Task] = {}
        client.subscribe_topic(self._topic, lambda event: self._starts.put((time.monotonic(), event[1])))

    def dispatch(self, chunk: Sequence[SimulationGroup]) -> None:
        groups = list(chunk)
        self._submit(_Chunk(groups, [None] * len(groups), len(groups)), list(range(len(groups))), 0)

    def _submit(self, chunk: _Chunk, indices: list[int], attempts: int, losses: int = 0) -> None:
        self._n += 1
        # Named keys make the dashboard readable: one task prefix per pipeline.
        key = f"mops-groups-{self._token}-{self._n}"
        groups = [chunk.groups[i] for i in indices]
        # Every task announces its start: a task lost with a worker before it started is not to blame (it was only
        # queued there), and the deadline counts from the start.
        future = self._client.submit(_run_chunk_started, groups, key, self._topic, key=key, pure=False)
        budget = None if self._timeout_s is None else self._timeout_s * sum(len(g.seeds) for g in groups)
        self._running[future.key] = _Task(future, chunk, indices, attempts, budget, losses=losses)
        future.add_done_callback(self._done.put)

    def _finish(self, chunk: _Chunk, index: int, result: GroupResult) -> None:
        if chunk.results[index] is None:
            chunk.results[index] = result
            chunk.remaining -= 1
            if chunk.remaining == 0:
                self._finished.append(chunk)

    def _lost(self, task: _Task, cause: str, *, timed_out: bool = False) -> None:
        """Split, retry or fail the groups of a task that did not return results."""
        self._drain_starts()
        if task.started is None and not timed_out and task.losses < MAX_UNSTARTED_LOSSES:
            # Queued on a worker that died running another task: run it again, as it was.
            self._submit(task.chunk, task.indices, task.attempts, task.losses + 1)
            return
        if len(task.indices) > 1:
            for index in task.indices:
                self._submit(task.chunk, [index], task.attempts)
            return
        (index,) = task.indices
        if task.attempts < self._retries:
            self._submit(task.chunk, [index], task.attempts + 1)
            return
        attempt = f" (attempt {task.attempts + 1} of {self._retries + 1})"
        self._finish(task.chunk, index, lost_result(task.chunk.groups[index], cause + attempt, timed_out=timed_out))

    def _drain_starts(self) -> None:
        while True:
            try:
                at, (key, worker) = self._starts.get_nowait()
            except queue.Empty:
                return
            task = self._running.get(key) or self._just_done.get(key)
            if task is not None:
                task.started, task.worker = at, worker

    def _check_deadlines(self) -> float | None:
        """Expire tasks past their budget; seconds until the next deadline (None: none)."""
        self._drain_starts()
        if self._timeout_s is None:
            return None
        now = time.monotonic()
        nearest: float | None = None
        for key, task in list(self._running.items()):
            if task.started is None or task.budget_s is None:
                continue
            left = task.started + task.budget_s - now
            if left > 0:
                nearest = left if nearest is None else min(nearest, left)
                continue
            del self._running[key]
            self._client.cancel([task.future])
            if task.worker:
                self._kill_worker(task.worker)
            self._lost(
                task,
                f"timeout: the group ran longer than {task.budget_s:.1f} s (timeout_s {self._timeout_s:g} s x "
                f"{sum(len(g.seeds) for g in task.groups)} replicates); its worker was restarted",
                timed_out=True,
            )
        return nearest

    def _check_workers(self) -> None:
        """No worker for NO_WORKER_PATIENCE_S: fail what is in flight rather than wait for ever."""
        if self._heal is not None:
            self._heal()
        if not self._running:
            return
        if self._client.nthreads():
            self._no_workers_since = None
            return
        now = time.monotonic()
        if self._no_workers_since is None:
            self._no_workers_since = now
            return
        if now - self._no_workers_since > NO_WORKER_PATIENCE_S:
            tasks = list(self._running.values())
            self._running.clear()
            self._client.cancel([t.future for t in tasks])
            for task in tasks:
                for index in task.indices:
                    self._finish(
                        task.chunk,
                        index,
                        lost_result(
                            task.chunk.groups[index],
                            f"no Dask worker was alive for {NO_WORKER_PATIENCE_S:.0f} s to run this group",
                        ),
                    )

    def wait(self, timeout: float | None) -> tuple[Sequence[SimulationGroup], list[GroupResult]] | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished:
            if not self._running:
                return None
            next_deadline = self._check_deadlines()
            if self._finished:
                break
            slice_s = WAIT_SLICE_S if next_deadline is None else min(WAIT_SLICE_S, next_deadline + 0.01)
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                slice_s = min(slice_s, remaining)
            try:
                future = self._done.get(timeout=slice_s)
            except queue.Empty:
                self._check_workers()
                continue
            task = self._running.pop(future.key, None)
            if task is None:  # a callback for a task we already cancelled, expired or gave up on
                continue
            self._just_done = {future.key: task}
            if future.status == "finished":
                try:
                    results = self._fetch(future)
                except Exception as exc:  # result lost between completion and fetch (worker died)
                    # The group ran to the end; its worker died later: not this group's fault.
                    task.started = None
                    self._lost(task, f"the result was lost with its worker: {exc}")
                    continue
                for index, result in zip(task.indices, results, strict=True):
                    self._finish(task.chunk, index, result)
                continue
            if future.status == "lost":  # computed, then lost with its worker: not this group's fault
                task.started = None
            cause = future.exception() if future.status == "error" else RuntimeError(f"task {future.status}")
            self._lost(
                task, f"the worker running this group died or the task was lost: {type(cause).__name__}: {cause}"
            )
        chunk = self._finished.popleft()
        return chunk.groups, chunk.results  # type: ignore[return-value]

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
        futures = [t.future for t in self._running.values()]
        self._running.clear()
        self._finished.clear()
        if futures:
            self._client.cancel(futures)
        if self._timeout_s is not None:
            with contextlib.suppress(Exception):
                self._client.unsubscribe_topic(self._topic)


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
        timeout_s: float | None = None,
        retries: int = 1,
    ):
        import dask.config
        from distributed import Client, LocalCluster

        self.search_path = tuple(str(p) for p in search_path)
        self.cache_url = cache_url
        self.timeout_s = timeout_s
        self.retries = retries
        self.cluster: Any = None
        self._short_since: float | None = None
        self._n_local = 0
        if address is None:
            n = self._n_local = n_workers or os.cpu_count() or 1
            # Our backend retries a group lost with its worker (``retries``); Dask's own retries on top (3 more
            # workers killed per crashing task, and every task queued on those workers blamed too) would multiply
            # the damage a crashing model does. The scheduler runs in this process and reads this at start.
            with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
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
                    # (The nanny merges this over the global config shallowly: hand it the whole, deep-merged config.)
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
        # A synchronous client returns the versions themselves (the coroutine is the asynchronous client's).
        versions = cast("Mapping[str, Any]", self.client.get_versions(packages=list(WORKER_PACKAGES)))
        mismatches = find_mismatches(versions)
        if mismatches:
            raise ClusterVersionError(mismatches)

    @property
    def slots(self) -> int:
        """Total worker threads now (at least 1, so a pipeline on a cluster still scaling up has room)."""
        return max(1, sum(self.client.nthreads().values()))

    @property
    def address(self) -> str:
        scheduler: Any = self.client.scheduler  # never None on a connected client
        return scheduler.address

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
            _DaskBackend(
                self.client,
                timeout_s=self.timeout_s,
                retries=self.retries,
                kill_worker=self._kill_local,
                heal=self._heal if self.cluster is not None else None,
            ),
            # By default follow the cluster's size as workers join or leave.
            max_tasks=max_in_flight or (lambda: default_max_tasks(self.slots)),
            target_task_s=target_task_s,
            max_chunk=max_chunk,
        )

    def _heal(self) -> None:
        """Bring a LocalCluster back to its size when it has lost workers for HEAL_AFTER_S.

        A nanny usually restarts a worker that a model killed, but after a burst of crashes the LocalCluster was seen
        to drop its nannies altogether (no worker left: the run waited until the fetch patience ran out). Asking the
        cluster for its size again starts the missing nannies.
        """
        if self.cluster is None:
            return
        now = time.monotonic()
        if len(self.cluster.workers) >= self._n_local:
            self._short_since = None
            return
        if self._short_since is None:
            self._short_since = now
        elif now - self._short_since > HEAL_AFTER_S:
            logging.getLogger("modelops.services").warning(
                "the local Dask cluster lost workers (%d of %d left); starting new ones",
                len(self.cluster.workers),
                self._n_local,
            )
            try:
                self.cluster.scale(self._n_local)
                self.cluster.sync(self.cluster._correct_state)
            except Exception as exc:
                logging.getLogger("modelops.services").warning("could not restart local workers: %r", exc)
            self._short_since = None

    def _kill_local(self, address: str) -> None:
        """Kill a worker of our LocalCluster at once (its nanny starts another); elsewhere ask its nanny."""
        pid = None
        if self.cluster is not None:
            info = self.client.scheduler_info().get("workers", {}).get(address, {})
            pid = info.get("pid")
        if pid is None:
            _restart_worker(self.client, address)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def prepare(self, context: RunContext, timeout_s: float | None = None) -> None:
        """Import the model and build the evaluator on every worker now; ModelLoadError with the cause if not.

        Workers that join later warm on their first task. With no worker yet (a cluster scaling from zero), waits
        up to a minute for one, then leaves the check to the first tasks.
        """
        from distributed import wait as dask_wait

        limit = timeout_s or DEFAULT_PREPARE_TIMEOUT_S
        workers = list(self.client.nthreads())
        if not workers:
            try:
                self.client.wait_for_workers(1, timeout=min(60.0, limit))
            except (TimeoutError, OSError):
                return
            workers = list(self.client.nthreads())
        futures = [
            self.client.submit(warm, context, workers=[w], allow_other_workers=False, pure=False) for w in workers
        ]
        _, not_done = dask_wait(futures, timeout=limit)
        if not_done:
            self.client.cancel(list(not_done))
            raise ModelLoadError(
                f"the Dask workers did not finish importing the model {context.fn_ref!r} within {limit:.0f} s "
                "(is its module doing long work, or waiting, at import?)",
                ref=context.fn_ref,
            )
        for future in futures:
            if future.status == "error":
                exc = future.exception()
                raise ModelLoadError(
                    f"cannot load the model {context.fn_ref!r}: a Dask worker died while importing it "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); its module crashes the "
                    "Python process at import, or calls os._exit / sys.exit",
                    ref=context.fn_ref,
                )
            error = future.result()
            if error is not None:
                raise ModelLoadError(error[1], stage=error[0], ref=context.fn_ref)

    def lost_all_workers(self) -> bool:
        """True when the cluster has no worker left (the local nannies died with a Ctrl-C), or cannot be asked."""
        try:
            return not self.client.nthreads()
        except Exception:
            return True

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
