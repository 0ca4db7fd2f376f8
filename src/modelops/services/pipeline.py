"""A bounded, as-completed pipeline of simulation groups, with adaptive chunking.

The runner keeps ``capacity`` groups in flight and takes results as they complete, never waiting for a whole batch.
Underneath, groups are packed into tasks: a task should take at least tens of milliseconds so the engine's per-task
cost (1-4 ms on Dask) stays a small fraction of the work. The pipeline measures how long groups take and sizes
chunks to about ``target_task_s``; at most ``max_tasks`` tasks are ever submitted to the engine at once, so the
scheduler and the workers' memory stay bounded however many groups a caller hands over.
"""

from __future__ import annotations

import math
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from modelops.services.tasks import GroupResult, SimulationGroup, bounded

if TYPE_CHECKING:
    from modelops.services.protocol import ExecutionService

DEFAULT_TARGET_TASK_S = 0.2
DEFAULT_MAX_CHUNK = 256
IN_FLIGHT_PER_SLOT = 2
MAX_TASKS_REFRESH_S = 5.0


class TaskBackend(Protocol):
    """Where chunks run: ``dispatch`` starts one; ``wait`` returns the next finished one or None on timeout."""

    def dispatch(self, chunk: Sequence[SimulationGroup]) -> None: ...

    def wait(
        self, timeout: float | None
    ) -> tuple[Sequence[SimulationGroup], list[GroupResult] | BaseException] | None: ...

    def cancel_all(self) -> None: ...


def failed_results(chunk: Sequence[SimulationGroup], exc: BaseException | str) -> list[GroupResult]:
    """Results for a chunk whose task died (worker lost, cancelled by the engine...): every group failed."""
    if isinstance(exc, BaseException):
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        error = bounded(f"the task running this group failed: {type(exc).__name__}: {exc}\n{text}")
    else:
        error = bounded(exc)
    from modelops.services.tasks import ReplicateOutcome

    return [
        GroupResult(
            g.param_id,
            tuple(ReplicateOutcome(i, s, False, error, 0.0, False) for i, s in enumerate(g.seeds)),
            None,
            error,
            0.0,
        )
        for g in chunk
    ]


class GroupPipeline:
    """Submit groups, take results as they complete. A context manager: leaving it cancels what is in flight.

    - ``capacity``: how many groups the caller should keep in flight (grows as chunks grow);
    - ``in_flight``: groups submitted whose results have not been returned yet;
    - ``submit`` never blocks; ``next_result`` returns the first completed group, or None on timeout or when
      nothing is in flight.
    """

    def __init__(
        self,
        backend: TaskBackend,
        *,
        max_tasks: int | Callable[[], int],
        target_task_s: float = DEFAULT_TARGET_TASK_S,
        max_chunk: int = DEFAULT_MAX_CHUNK,
        adaptive: bool = True,
    ):
        self._backend = backend
        # A callable follows a cluster that scales (workers joining an autoscaled pool); asked every few seconds.
        self._max_tasks_fn = max_tasks if callable(max_tasks) else None
        self._max_tasks = max_tasks() if callable(max_tasks) else max_tasks
        self._max_tasks_at = time.monotonic()
        if self._max_tasks < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {self._max_tasks}")
        self.target_task_s = target_task_s
        self.max_chunk = max(1, max_chunk)
        self.adaptive = adaptive
        self._pending: deque[SimulationGroup] = deque()
        self._ready: deque[GroupResult] = deque()
        self._tasks = 0
        self._in_flight = 0
        self._mean_group_s: float | None = None
        self._closed = False
        self.tasks_submitted = 0

    # -- sizing ---------------------------------------------------------------------------------------------------

    @property
    def max_tasks(self) -> int:
        """Tasks allowed in the engine at once."""
        if self._max_tasks_fn is not None and time.monotonic() - self._max_tasks_at > MAX_TASKS_REFRESH_S:
            self._max_tasks = max(1, self._max_tasks_fn())
            self._max_tasks_at = time.monotonic()
        return self._max_tasks

    @property
    def chunk_size(self) -> int:
        """Groups per task now: about ``target_task_s`` of work, from the mean group duration observed so far."""
        if not self.adaptive or self._mean_group_s is None:
            return 1
        if self._mean_group_s <= 0:
            return self.max_chunk
        return max(1, min(self.max_chunk, round(self.target_task_s / self._mean_group_s)))

    @property
    def capacity(self) -> int:
        return self.max_tasks * self.chunk_size

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _observe(self, results: Iterable[GroupResult]) -> None:
        for r in results:
            d = max(r.duration_s, 0.0)
            # Exponential moving average: follows drift (cache hits, slower regions of parameter space) quickly.
            self._mean_group_s = d if self._mean_group_s is None else 0.8 * self._mean_group_s + 0.2 * d

    # -- flow -----------------------------------------------------------------------------------------------------

    def submit(self, group: SimulationGroup) -> None:
        """Queue ``group``; it is sent to the engine as soon as a full chunk and a task slot are available."""
        if self._closed:
            raise RuntimeError("this pipeline was cancelled or closed; open a new one with service.pipeline()")
        if not isinstance(group, SimulationGroup):
            raise TypeError(f"submit() takes a SimulationGroup, got {type(group).__name__}")
        self._pending.append(group)
        self._in_flight += 1
        self._pump(flush=False)

    def _pump(self, *, flush: bool) -> None:
        size = self.chunk_size
        max_tasks = self.max_tasks
        while self._tasks < max_tasks and self._pending and (flush or len(self._pending) >= size):
            take = min(size, len(self._pending))
            if flush:
                # The caller is waiting (often: no more groups to come). Spread the remainder over the free task
                # slots rather than one big last task, so the tail of a batch does not run on a single worker.
                take = min(take, math.ceil(len(self._pending) / (max_tasks - self._tasks)))
            chunk = [self._pending.popleft() for _ in range(take)]
            self._backend.dispatch(chunk)
            self._tasks += 1
            self.tasks_submitted += 1

    def next_result(self, timeout: float | None = None) -> GroupResult | None:
        """The first completed group's result; None if ``timeout`` passes first or nothing is in flight."""
        if self._ready:
            return self._take()
        if self._in_flight == 0:
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready:
            # The caller is waiting: send partial chunks now rather than leave task slots idle.
            self._pump(flush=True)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            done = self._backend.wait(remaining)
            if done is None:
                return None
            chunk, outcome = done
            self._tasks -= 1
            if isinstance(outcome, BaseException):
                results = failed_results(chunk, outcome)
            else:
                results = outcome
                self._observe(results)
            self._ready.extend(results)
        return self._take()

    def _take(self) -> GroupResult:
        self._in_flight -= 1
        return self._ready.popleft()

    def results(self) -> Iterator[GroupResult]:
        """Drain everything in flight, yielding results as they complete."""
        while self._in_flight:
            result = self.next_result()
            if result is None:  # defensive: a backend that lost track of a task must not spin forever
                break
            yield result

    def cancel(self) -> None:
        """Drop queued groups and cancel running tasks; results not yet taken are discarded."""
        self._pending.clear()
        self._ready.clear()
        self._backend.cancel_all()
        self._tasks = 0
        self._in_flight = 0
        self._closed = True

    def __enter__(self) -> GroupPipeline:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()


def default_max_tasks(slots: int) -> int:
    """Tasks kept in flight by default: a small multiple of the worker slots, so no worker waits for work."""
    return max(1, IN_FLIGHT_PER_SLOT * max(1, slots))


def run_groups(
    service: ExecutionService, groups: Iterable[SimulationGroup], max_in_flight: int | None = None
) -> Iterator[GroupResult]:
    """Run ``groups`` on ``service`` (in process, the pool or Dask), keeping the pipeline full; yield results as they
    complete.

    Consumes ``groups`` lazily, so it may be a generator of millions; memory stays bounded by the capacity.
    """
    source = iter(groups)
    with service.pipeline(max_in_flight) as pipe:
        exhausted = False
        while True:
            while not exhausted and pipe.in_flight < pipe.capacity:
                group = next(source, None)
                if group is None:
                    exhausted = True
                    break
                pipe.submit(group)
            if pipe.in_flight == 0:
                return
            result = pipe.next_result()
            if result is None:
                return
            yield result
