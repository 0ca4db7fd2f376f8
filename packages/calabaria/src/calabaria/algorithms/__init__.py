"""Ask/tell algorithms implementing modelops_contracts.AdaptiveAlgorithm.

Constructed by reference as ``Factory(space, *, storage=None, study_name="modelops", seed=None, **options)``:

- :class:`OptunaAlgorithm` (``"calabaria.algorithms:OptunaAlgorithm"``, entry point ``optuna``): Optuna samplers over
  any Optuna storage, shared safely by several runners;
- :class:`SweepAlgorithm` (``"calabaria.algorithms:SweepAlgorithm"``, entry point ``sweep``): grid, Sobol, LHS;
- :class:`AbcSmcAlgorithm` (``"calabaria.algorithms:AbcSmcAlgorithm"``, entry point ``abc-smc``): ABC-SMC posteriors.
"""

from .abc_smc import AbcSmcAlgorithm
from .optuna_algorithm import OptunaAlgorithm
from .sweep import SweepAlgorithm

__all__ = ["AbcSmcAlgorithm", "OptunaAlgorithm", "SweepAlgorithm"]
