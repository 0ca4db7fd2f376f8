"""Execution: simulation services (in process, a process pool, Dask), group tasks, Arrow IPC, function refs.

The distributed engine is an implementation detail: callers build :class:`SimulationGroup` s and read
:class:`GroupResult` s, with :func:`run_groups` or a service's :meth:`pipeline`.

Every name loads lazily: ``import modelops.services.pool`` must not pay for polars, pyarrow and fsspec (~0.5-1.5 s)
before the pool's launcher is started, so the workers' start overlaps the runner's own imports.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DaskSimulationService": "modelops.services.dask",
    "ExecutionService": "modelops.services.protocol",
    "FnRefError": "modelops.core.fnref",
    "GroupPipeline": "modelops.services.pipeline",
    "GroupResult": "modelops.services.tasks",
    "LocalSimulationService": "modelops.services.local",
    "ModelLoadError": "modelops.services.context",
    "PoolSimulationService": "modelops.services.pool",
    "ReplicateOutcome": "modelops.services.tasks",
    "RunContext": "modelops.services.context",
    "SimulationError": "modelops.services.tasks",
    "SimulationGroup": "modelops.services.tasks",
    "from_ipc": "modelops.services.ipc",
    "read_replicate_outputs": "modelops.services.tasks",
    "replicate_output_path": "modelops.services.tasks",
    "resolve": "modelops.core.fnref",
    "run_group": "modelops.services.tasks",
    "run_groups": "modelops.services.pipeline",
    "to_ipc": "modelops.services.ipc",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelops.services' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
