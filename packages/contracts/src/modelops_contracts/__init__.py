"""modelops_contracts: the seams between the ModelOps runtime and the Calabaria science.

Standard library only. Everything a runtime and an algorithm need to agree on lives here:

- :class:`UniqueParameterSet` and :func:`make_param_id` (stable parameter ids),
- :class:`TrialResult` and :class:`TrialStatus` (what an algorithm is told),
- :class:`SeedInfo` and :func:`derive_seed` (deterministic uint64 seeds),
- the protocols :class:`SimulationService` and :class:`AdaptiveAlgorithm`, and :data:`SimReturn`,
- :class:`TargetEvaluator` / :class:`TargetEvaluation` (worker-side scoring of replicates against data).
"""

from .errors import ContractViolationError
from .evaluation import TargetEvaluation, TargetEvaluator
from .params import UniqueParameterSet, canonical_json, make_param_id
from .protocols import AdaptiveAlgorithm, FutureLike, SimReturn, SimulationService
from .results import MAX_DIAGNOSTICS_BYTES, TrialResult, TrialStatus
from .seeds import UINT64_MAX, SeedInfo, derive_seed

__version__ = "0.1.0"

__all__ = [
    "MAX_DIAGNOSTICS_BYTES",
    "UINT64_MAX",
    "AdaptiveAlgorithm",
    "ContractViolationError",
    "FutureLike",
    "SeedInfo",
    "SimReturn",
    "SimulationService",
    "TargetEvaluation",
    "TargetEvaluator",
    "TrialResult",
    "TrialStatus",
    "UniqueParameterSet",
    "canonical_json",
    "derive_seed",
    "make_param_id",
]
