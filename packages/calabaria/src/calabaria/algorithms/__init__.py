"""Ask/tell algorithms implementing modelops_contracts.AdaptiveAlgorithm.

Constructed by reference as ``Factory(space, *, storage=None, study_name="modelops", seed=None, **options)``:

- :class:`OptunaAlgorithm` (``"calabaria.algorithms:OptunaAlgorithm"``, entry point ``optuna``): Optuna samplers over
  any Optuna storage, shared safely by several runners;
- :class:`SweepAlgorithm` (``"calabaria.algorithms:SweepAlgorithm"``, entry point ``sweep``): grid, Sobol, LHS;
- :class:`AbcSmcAlgorithm` (``"calabaria.algorithms:AbcSmcAlgorithm"``, entry point ``abc-smc``): ABC-SMC posteriors.
"""

from typing import TYPE_CHECKING

from .abc_smc import AbcSmcAlgorithm
from .optuna_algorithm import OptunaAlgorithm
from .sweep import SweepAlgorithm

__all__ = ["AbcSmcAlgorithm", "OptunaAlgorithm", "SweepAlgorithm"]

if TYPE_CHECKING:
    from modelops_contracts import AdaptiveAlgorithm

    # mypy checks that each algorithm implements the protocol (an instance of each is assignable to it).
    def _implementations(
        optuna: OptunaAlgorithm, sweep: SweepAlgorithm, abc: AbcSmcAlgorithm
    ) -> tuple[AdaptiveAlgorithm, AdaptiveAlgorithm, AdaptiveAlgorithm]:
        return optuna, sweep, abc
