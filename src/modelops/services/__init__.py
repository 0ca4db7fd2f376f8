"""Execution: simulation services (in process, a process pool, Dask), group tasks, Arrow IPC, function refs.

The distributed engine is an implementation detail: callers build :class:`SimulationGroup` s and read
:class:`GroupResult` s, with :func:`run_groups` or a service's :meth:`pipeline`. Heavy modules (Dask) load lazily.
"""

from __future__ import annotations

from typing import Any

from modelops.services.context import ModelLoadError, RunContext
from modelops.services.fnref import FnRefError, resolve
from modelops.services.ipc import from_ipc, to_ipc
from modelops.services.local import LocalSimulationService
from modelops.services.pipeline import GroupPipeline, run_groups
from modelops.services.tasks import (
    GroupResult,
    ReplicateOutcome,
    SimulationError,
    SimulationGroup,
    read_replicate_outputs,
    replicate_output_path,
    run_group,
)

__all__ = [
    "DaskSimulationService",
    "FnRefError",
    "GroupPipeline",
    "GroupResult",
    "LocalSimulationService",
    "ModelLoadError",
    "PoolSimulationService",
    "ReplicateOutcome",
    "RunContext",
    "SimulationError",
    "SimulationGroup",
    "from_ipc",
    "read_replicate_outputs",
    "replicate_output_path",
    "resolve",
    "run_group",
    "run_groups",
    "to_ipc",
]


def __getattr__(name: str) -> Any:
    # distributed takes ~1 s to import; only pay for it when the Dask service is used.
    if name == "DaskSimulationService":
        from modelops.services.dask import DaskSimulationService

        return DaskSimulationService
    if name == "PoolSimulationService":
        from modelops.services.pool import PoolSimulationService

        return PoolSimulationService
    raise AttributeError(name)
