"""Choosing the simulation service: a remote scheduler, a local Dask cluster, or the current process.

Precedence (most specific first): --scheduler, --workers, $DASK_SCHEDULER_ADDRESS (what the adaptive pods set),
the spec's execution.scheduler, the spec's execution.workers, then a local cluster with one worker per core.
"""

from __future__ import annotations

import os
from typing import Any

from modelops.specs.study import ExecutionSpec

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


def service_description(execution: ExecutionSpec, workers: int | None, scheduler: str | None) -> tuple[bool, str]:
    """(whether simulations run on other machines, a one-line description) for the manifest and the CLI."""
    kind, value = _choice(execution, workers, scheduler)
    if kind == "scheduler":
        return True, f"dask scheduler {value}"
    if value == 0:
        return False, "in process"
    return False, f"local dask cluster, {value or os.cpu_count()} workers"


def open_service(execution: ExecutionSpec, workers: int | None = None, scheduler: str | None = None) -> Any:
    """A started simulation service (a context manager) as chosen by the precedence above."""
    kind, value = _choice(execution, workers, scheduler)
    if kind == "scheduler":
        from modelops.services.dask import DaskSimulationService

        return DaskSimulationService(value)
    if value == 0:
        from modelops.services.local import LocalSimulationService

        return LocalSimulationService()
    from modelops.services.dask import DaskSimulationService

    return DaskSimulationService(n_workers=value)
