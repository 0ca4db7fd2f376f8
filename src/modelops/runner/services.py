"""Choosing the simulation service: a remote Dask scheduler, local worker processes, or the current process.

Where (most specific first): --scheduler, --workers, $DASK_SCHEDULER_ADDRESS (what the adaptive pods set), the spec's
execution.scheduler, the spec's execution.workers, then one worker per core on this machine.
What runs local work (execution.backend): ``auto`` = the process pool (measured faster than a Dask LocalCluster here:
bench/bench_backends.py), ``pool``, ``dask`` (a LocalCluster), ``inprocess``; ``workers: 0`` is always in process.
A scheduler address always means Dask. Every service gets the simulation limits (execution.timeout_s, retries).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from modelops.specs.study import ExecutionSpec

if TYPE_CHECKING:
    from modelops.services.protocol import ExecutionService

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


def _choice(execution: ExecutionSpec, workers: int | None, scheduler: str | None) -> tuple[str, Any]:
    if scheduler:
        return "scheduler", scheduler
    if workers is not None:
        return "workers", workers
    if os.environ.get(SCHEDULER_ENV):
        return "scheduler", os.environ[SCHEDULER_ENV]
    if execution.scheduler:
        return "scheduler", execution.scheduler
    return "workers", execution.workers


def _engine(execution: ExecutionSpec, workers: int | None, scheduler: str | None) -> tuple[str, Any]:
    """("dask-remote", address) | ("inprocess", None) | ("pool", n) | ("dask-local", n)."""
    kind, value = _choice(execution, workers, scheduler)
    if kind == "scheduler":
        return "dask-remote", value
    if value == 0 or execution.backend == "inprocess":
        return "inprocess", None
    n = value or os.cpu_count() or 1
    if execution.backend == "dask":
        return "dask-local", n
    return "pool", n


def service_description(execution: ExecutionSpec, workers: int | None, scheduler: str | None) -> tuple[bool, str]:
    """(whether simulations run on other machines, a one-line description) for the manifest and the CLI."""
    engine, value = _engine(execution, workers, scheduler)
    if engine == "dask-remote":
        return True, f"dask scheduler {value}"
    if engine == "inprocess":
        return False, "in process"
    if engine == "dask-local":
        return False, f"local dask cluster, {value} workers"
    return False, f"process pool, {value} workers"


def open_service(
    execution: ExecutionSpec, workers: int | None = None, scheduler: str | None = None, preload: tuple[str, ...] = ()
) -> ExecutionService:
    """A started simulation service (a context manager) as chosen above; its workers start now.

    ``preload``: modules the pool's workers import before they are needed (e.g. the evaluator's module); ignored by
    the other services.
    """
    engine, value = _engine(execution, workers, scheduler)
    timeout_s, retries = execution.timeout_s, execution.retries
    if engine == "dask-remote":
        from modelops.services.dask import DaskSimulationService

        return DaskSimulationService(value, timeout_s=timeout_s, retries=retries)
    if engine == "inprocess":
        from modelops.services.local import LocalSimulationService

        return LocalSimulationService(timeout_s=timeout_s, retries=retries)
    if engine == "dask-local":
        from modelops.services.dask import DaskSimulationService

        return DaskSimulationService(n_workers=value, timeout_s=timeout_s, retries=retries)
    from modelops.services.pool import PoolSimulationService

    return PoolSimulationService(value, preload=preload, timeout_s=timeout_s, retries=retries)
