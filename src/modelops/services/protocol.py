"""The seam between the runner and the simulation services: what a run really asks of a service.

The contracts' :class:`~modelops_contracts.SimulationService` (``submit``/``gather`` of single simulations) is what
science code may use; a run needs more: prepare the workers with the run's context, keep a pipeline of groups full,
know how many groups run at once, and notice when every worker is gone. :class:`ExecutionService` names exactly that,
and the in-process, process-pool and Dask services all implement it (tests/runner/test_service_protocol.py checks).

This module imports nothing at run time (the protocol's types are for the checker only): the runner imports it while
the pool's workers are still starting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from typing import Self

    from modelops.services.context import RunContext
    from modelops.services.pipeline import GroupPipeline


@runtime_checkable
class ExecutionService(Protocol):
    """A started simulation service, as the runner uses it (a context manager: leaving it closes the service).

    - ``slots``: simulations that can run at once now (the runner sizes its window of asked trials from it);
    - ``prepare(context)``: ship the run's constant fields to the workers and import the model there; raises
      :class:`~modelops.services.context.ModelLoadError` when the model or the evaluator cannot load;
    - ``pipeline(max_in_flight)``: a bounded as-completed :class:`~modelops.services.pipeline.GroupPipeline`;
    - ``lost_all_workers()``: True once nothing submitted can finish any more because every worker is gone (a local
      Dask cluster whose workers died with a Ctrl-C); services that replace their workers say False;
    - ``close()``: stop the workers and release what the service holds.
    """

    @property
    def slots(self) -> int: ...

    def prepare(self, context: RunContext, timeout_s: float | None = None) -> None: ...

    def pipeline(self, max_in_flight: int | None = None) -> GroupPipeline: ...

    def lost_all_workers(self) -> bool: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: Any) -> None: ...


if TYPE_CHECKING:
    # mypy checks that every service implements the protocol (an instance of each is assignable to it).
    from modelops.services.dask import DaskSimulationService
    from modelops.services.local import LocalSimulationService
    from modelops.services.pool import PoolSimulationService

    def _implementations(
        local: LocalSimulationService, pool: PoolSimulationService, dask: DaskSimulationService
    ) -> tuple[ExecutionService, ExecutionService, ExecutionService]:
        return local, pool, dask
