"""LocalSimulationService: everything in the calling process, for debugging (breakpoints work) and tests.

It runs the very same task function as the Dask service (:func:`modelops.services.tasks.run_group`), so what works
here works on a cluster, minus pickling.

Limits: ``timeout_s`` is enforced with SIGALRM when the pipeline runs in the main thread (a simulation stuck in C code
that never returns to Python cannot be stopped in process: use a worker backend for untrusted models); a group over
budget is retried up to ``retries`` times, then returned failed with ``timed_out`` set. ``prepare`` imports the model
in this process: with ``workers: 0`` the runner runs user code itself, by choice.
"""

from __future__ import annotations

import signal
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from modelops.services.context import ModelLoadError, RunContext, warm
from modelops.services.pipeline import GroupPipeline
from modelops.services.tasks import GroupResult, SimulationGroup, bounded, outputs_or_raise, run_group
from modelops_contracts import SimReturn


class _Timeout(BaseException):
    """Raised by the alarm inside a simulation; a BaseException so run_group's error capture lets it through."""


def _run_limited(group: SimulationGroup, timeout_s: float | None, retries: int) -> GroupResult:
    """run_group(group), stopped after ``timeout_s`` x replicates when this is the main thread (SIGALRM)."""
    if timeout_s is None or threading.current_thread() is not threading.main_thread():
        return run_group(group)
    budget = timeout_s * len(group.seeds)

    def alarm(*_: Any) -> None:
        raise _Timeout

    for _attempt in range(retries + 1):
        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, budget)
        try:
            return run_group(group)
        except _Timeout:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    from modelops.services.pool import lost_result

    return lost_result(
        group,
        bounded(
            f"timeout: the group ran longer than {budget:.1f} s (timeout_s {timeout_s:g} s x {len(group.seeds)} "
            f"replicates) (attempt {retries + 1} of {retries + 1})"
        ),
        timed_out=True,
    )


class _InProcessBackend:
    """Chunks wait in a queue and run, oldest first, when the pipeline asks for a result."""

    def __init__(self, timeout_s: float | None = None, retries: int = 1) -> None:
        self._queue: deque[list[SimulationGroup]] = deque()
        self._timeout_s = timeout_s
        self._retries = retries

    def dispatch(self, chunk: Sequence[SimulationGroup]) -> None:
        self._queue.append(list(chunk))

    def wait(self, timeout: float | None) -> tuple[Sequence[SimulationGroup], list[GroupResult]] | None:
        if not self._queue:
            return None
        chunk = self._queue.popleft()
        return chunk, [_run_limited(g, self._timeout_s, self._retries) for g in chunk]

    def cancel_all(self) -> None:
        self._queue.clear()


class LocalSimulationService:
    """A SimulationService that runs simulations in this process.

    ``search_path`` is added to every group's import path (a model project's directory); ``cache_url`` enables the
    simulation cache for ``submit``.
    """

    slots = 1

    def __init__(
        self,
        *,
        search_path: Sequence[str | Path] = (),
        cache_url: str | None = None,
        timeout_s: float | None = None,
        retries: int = 1,
    ):
        self.search_path = tuple(str(p) for p in search_path)
        self.cache_url = cache_url
        self.timeout_s = timeout_s
        self.retries = retries

    def prepare(self, context: RunContext, timeout_s: float | None = None) -> None:
        """Import the model and build the evaluator here; ModelLoadError (with the cause) when they cannot load."""
        error = warm(context)
        if error is not None:
            raise ModelLoadError(error[1], stage=error[0], ref=context.fn_ref)

    def submit(self, fn_ref: str, params: Mapping[str, Any], seed: int, *, bundle_ref: str | None = None) -> Future:
        """Run ``fn(params, seed)`` now; the returned future holds its outputs or a SimulationError."""
        group = SimulationGroup.single(
            fn_ref, params, seed, bundle_ref=bundle_ref, cache_url=self.cache_url, search_path=self.search_path
        )
        future: Future = Future()
        try:
            future.set_result(outputs_or_raise(run_group(group), fn_ref))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def gather(self, futures: Sequence[Future]) -> list[SimReturn]:
        """Results in the order of ``futures``; the first failure raises its SimulationError."""
        return [f.result() for f in futures]

    def pipeline(self, max_in_flight: int | None = None) -> GroupPipeline:
        # In process there is one slot and nothing to amortise: one group per task, run when a result is asked for.
        return GroupPipeline(
            _InProcessBackend(self.timeout_s, self.retries), max_tasks=max_in_flight or 1, adaptive=False
        )

    def lost_all_workers(self) -> bool:
        """This process is the worker: never lost while the run is."""
        return False

    def close(self) -> None:
        """Nothing to release; present so both services are used the same way."""

    def __enter__(self) -> LocalSimulationService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
