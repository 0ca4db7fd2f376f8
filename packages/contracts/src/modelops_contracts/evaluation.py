"""The target-evaluation seam: how a worker turns a parameter set's replicate outputs into losses.

The runtime never imports the science package. A study names an evaluator *factory* by reference
(``"package.module:attr"``) plus a plain JSON-able config; each worker resolves the factory once, calls
``factory(config)`` to get a :class:`TargetEvaluator`, and hands it the decoded outputs of all replicates of one
parameter set. Only the small :class:`TargetEvaluation` travels back to the runner, never the tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from .errors import ContractViolationError


def _finite_losses(losses: Mapping[str, Any], what: str) -> Mapping[str, float]:
    out: dict[str, float] = {}
    for name, value in losses.items():
        if not isinstance(name, str) or not name:
            raise ContractViolationError(f"{what} keys must be non-empty target names, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ContractViolationError(f"{what}[{name!r}] must be a finite float, got {value!r}")
        out[name] = float(value)
    return MappingProxyType(out)


@dataclass(frozen=True)
class TargetEvaluation:
    """The losses of one parameter set.

    - ``loss``: the total (weighted sum over targets), finite.
    - ``target_losses``: each target's loss by the target's own name (unweighted), finite.
    - ``replicate_losses``: optionally, per replicate (in replicate order), each target's loss for that replicate.
    - ``summaries``: optionally, small JSON-able extras (aligned means, counts) for diagnostics.
    A failed evaluation is reported by raising an exception with a clear message, never by a silent 0 or NaN.
    """

    loss: float
    target_losses: Mapping[str, float] = field(default_factory=dict)
    replicate_losses: Sequence[Mapping[str, float]] = ()
    summaries: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.loss, bool) or not isinstance(self.loss, int | float) or not math.isfinite(self.loss):
            raise ContractViolationError(f"TargetEvaluation.loss must be a finite float, got {self.loss!r}")
        object.__setattr__(self, "loss", float(self.loss))
        object.__setattr__(self, "target_losses", _finite_losses(self.target_losses, "target_losses"))
        object.__setattr__(
            self,
            "replicate_losses",
            tuple(_finite_losses(r, f"replicate_losses[{i}]") for i, r in enumerate(self.replicate_losses)),
        )
        object.__setattr__(self, "summaries", MappingProxyType(dict(self.summaries)))


@runtime_checkable
class TargetEvaluator(Protocol):
    """Scores one parameter set's replicates against observed data.

    ``replicates[i]`` is replicate i's outputs: output name -> table (a polars DataFrame on ModelOps workers).
    Deterministic: the same outputs give the same evaluation.
    """

    def evaluate(self, replicates: Sequence[Mapping[str, Any]]) -> TargetEvaluation: ...
