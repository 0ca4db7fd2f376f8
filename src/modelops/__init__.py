"""ModelOps: run simulation-based calibration at scale, locally or on Kubernetes.

The Python API (docs/python-api.md)::

    import modelops

    run = modelops.run("examples/sir/study.yaml", workers=2)   # or a dict, or a StudySpec
    run.best, run.trials, run.plot.fit()
    again = modelops.open_run(run.run_id)

``import modelops`` stays cheap: the names below are imported when first used (module ``__getattr__``), so the CLI
and the workers do not pay for polars, pydantic or matplotlib until they need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "run": "modelops.api.runs",
    "open_run": "modelops.api.runs",
    "Run": "modelops.api.runs",
    "RunPlots": "modelops.api.runs",
    "Study": "modelops.api.study",
    "study": "modelops.api.study",
    "Trial": "modelops.store.trial",
    "RunError": "modelops.runner.driver",
    "RunProgress": "modelops.runner.driver",
    "SpecError": "modelops.specs.base",
    "StudySpec": "modelops.specs.study",
    "ModelSpec": "modelops.specs.study",
    "ParameterSpec": "modelops.specs.study",
    "TargetSpec": "modelops.specs.study",
    "AlgorithmSpec": "modelops.specs.study",
    "ExecutionSpec": "modelops.specs.study",
    "RunNotFound": "modelops.store.results",
}
# names whose attribute in the defining module differs from the public one
_RENAMED = {"study": "as_study"}

__all__ = [
    "AlgorithmSpec",
    "ExecutionSpec",
    "ModelSpec",
    "ParameterSpec",
    "Run",
    "RunError",
    "RunNotFound",
    "RunPlots",
    "RunProgress",
    "SpecError",
    "Study",
    "StudySpec",
    "TargetSpec",
    "Trial",
    "__version__",
    "open_run",
    "run",
    "study",
]

if TYPE_CHECKING:
    from modelops.api.runs import Run, RunPlots, open_run, run
    from modelops.api.study import Study
    from modelops.api.study import as_study as study
    from modelops.runner.driver import RunError, RunProgress
    from modelops.specs.base import SpecError
    from modelops.specs.study import (
        AlgorithmSpec,
        ExecutionSpec,
        ModelSpec,
        ParameterSpec,
        StudySpec,
        TargetSpec,
    )
    from modelops.store.results import RunNotFound
    from modelops.store.trial import Trial


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
