"""One shape for a trial wherever it leaves the program: `mops run --json`, `mops runs show --json`, `Run.best`.

A trial row on disk is flat (``param.beta``, ``loss.incidence``, ``params_json``: columns that Parquet and polars
handle well). Outside, a trial is nested: ``params`` holds every parameter (searched and fixed, structured values as
they were, never JSON inside a string) and ``target_losses`` each target's loss, so a consumer reads the same keys
whichever command printed it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelops.store.results import LOSS_PREFIX, PARAM_PREFIX


@dataclass(frozen=True)
class Trial:
    """A recorded trial: its number, parameter id, status, loss, parameters and per-target losses."""

    trial: int
    param_id: str
    status: str
    loss: float | None
    params: Mapping[str, Any] = field(default_factory=dict)
    target_losses: Mapping[str, float | None] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Trial:
        """From a stored trial row (trials.parquet, or the runner's summary of the best trial)."""
        params_json = row.get("params_json")
        if isinstance(params_json, str):
            params = json.loads(params_json)
        else:
            params = {k.removeprefix(PARAM_PREFIX): v for k, v in row.items() if k.startswith(PARAM_PREFIX)}
        losses = {k.removeprefix(LOSS_PREFIX): _finite(v) for k, v in row.items() if k.startswith(LOSS_PREFIX)}
        return cls(
            trial=int(row["trial"]),
            param_id=str(row["param_id"]),
            status=str(row["status"]),
            loss=_finite(row.get("loss")),
            params=params,
            target_losses=losses,
            error=row.get("error"),
        )

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (docs/python-api.md, "The shape of a trial")."""
        return {
            "trial": self.trial,
            "param_id": self.param_id,
            "status": self.status,
            "loss": self.loss,
            "params": dict(self.params),
            "target_losses": dict(self.target_losses),
            "error": self.error,
        }


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def trial_json(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stored row (or None) in the public trial shape."""
    return None if row is None else Trial.from_row(row).to_json()
