"""LocalSimulationService: everything in the calling process, for debugging (breakpoints work) and tests.

It runs the very same task function as the Dask service (:func:`modelops.services.tasks.run_group`), so what works
here works on a cluster, minus pickling.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from modelops.services.pipeline import GroupPipeline
from modelops.services.tasks import GroupResult, SimulationGroup, outputs_or_raise, run_chunk, run_group
from modelops_contracts import SimReturn


class _InProcessBackend:
    """Chunks wait in a queue and run, oldest first, when the pipeline asks for a result."""

    def __init__(self) -> None:
        self._queue: deque[list[SimulationGroup]] = deque()

    def dispatch(self, chunk: Sequence[SimulationGroup]) -> None:
        self._queue.append(list(chunk))

    def wait(self, timeout: float | None) -> tuple[Sequence[SimulationGroup], list[GroupResult]] | None:
        if not self._queue:
            return None
        chunk = self._queue.popleft()
        return chunk, run_chunk(chunk)

    def cancel_all(self) -> None:
        self._queue.clear()


class LocalSimulationService:
    """A SimulationService that runs simulations in this process.

    ``search_path`` is added to every group's import path (a model project's directory); ``cache_url`` enables the
    simulation cache for ``submit``.
    """

    slots = 1

    def __init__(self, *, search_path: Sequence[str | Path] = (), cache_url: str | None = None):
        self.search_path = tuple(str(p) for p in search_path)
        self.cache_url = cache_url

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
        return GroupPipeline(_InProcessBackend(), max_tasks=max_in_flight or 1, adaptive=False)

    def close(self) -> None:
        """Nothing to release; present so both services are used the same way."""

    def __enter__(self) -> LocalSimulationService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
