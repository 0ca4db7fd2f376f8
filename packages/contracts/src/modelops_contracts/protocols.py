"""The two protocols the runtime and the science meet through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from .params import UniqueParameterSet
from .results import TrialResult

SimReturn = Mapping[str, bytes]
"""A simulation's outputs on the wire: output name -> one Arrow IPC stream (bytes)."""


@runtime_checkable
class FutureLike(Protocol):
    """A handle on work submitted to a SimulationService (a Dask future, a concurrent.futures.Future...)."""

    def result(self, timeout: float | None = None) -> Any: ...

    def done(self) -> bool: ...


@runtime_checkable
class SimulationService(Protocol):
    """Runs simulations somewhere (in process, a process pool, a Dask cluster).

    Guarantees:
    - ``submit`` returns at once; the simulation ``fn_ref`` (a ``"package.module:function"`` reference, resolved
      where it runs, inside the bundle ``bundle_ref`` when one is given) is called as ``fn(params, seed)``.
    - the same (fn_ref, params, seed, bundle_ref) gives the same outputs: simulations are deterministic in their seed.
    - ``gather`` returns results in the order of ``futures``; each is a :data:`SimReturn`.
    """

    def submit(
        self, fn_ref: str, params: Mapping[str, Any], seed: int, *, bundle_ref: str | None = None
    ) -> FutureLike: ...

    def gather(self, futures: Sequence[FutureLike]) -> list[SimReturn]: ...


@runtime_checkable
class AdaptiveAlgorithm(Protocol):
    """An ask/tell search over parameter sets (Optuna, a Sobol sweep, ABC...).

    Guarantees:
    - every parameter set returned by ``ask`` has a stable ``param_id`` (:func:`make_param_id` of its params);
    - ``ask(n)`` may return fewer than ``n`` parameter sets, or none (when waiting on results or finished);
    - ``tell`` is idempotent per ``param_id`` (telling a result twice changes nothing) and order-free (results may
      arrive in any order, in any grouping, from any process sharing the algorithm's storage);
    - ``finished()`` becomes True once the algorithm wants no more results;
    - ``budget_option`` names the constructor option that takes a study's ``n_trials`` (a sweep's budget is its
      ``n_points``), so a runtime can hand the study's budget over without knowing the algorithm;
    - ``budget()`` is how many parameter sets the algorithm will ask for at most (None: it decides as it goes);
    - ``close()`` releases what the algorithm holds (threads, storage connections); it is called once, at the end.

    ``budget_option``, ``budget`` and ``close`` came after the first three: a runtime should supply defaults
    (``"n_trials"``, an ``n_trials`` attribute if any, nothing to close) for algorithms that lack them.
    """

    budget_option: ClassVar[str]

    def ask(self, n: int) -> list[UniqueParameterSet]: ...

    def tell(self, results: list[TrialResult]) -> None: ...

    def finished(self) -> bool: ...

    def budget(self) -> int | None: ...

    def close(self) -> None: ...
