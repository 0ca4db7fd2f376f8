"""What an algorithm is told about a trial."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from .errors import ContractViolationError

MAX_DIAGNOSTICS_BYTES = 65_536


class TrialStatus(StrEnum):
    """How a trial ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class TrialResult:
    """The outcome of evaluating one parameter set.

    - ``loss`` must be finite when ``status`` is COMPLETED; FAILED and TIMEOUT may carry any float (usually inf/nan).
    - ``diagnostics`` must be JSON-serialisable and at most 64 KiB (65,536 bytes) as UTF-8 JSON: per-target losses,
      seeds, timings, a failure reason. It is stored read-only.
    """

    param_id: str
    loss: float
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    status: TrialStatus = TrialStatus.COMPLETED

    def __post_init__(self) -> None:
        if not isinstance(self.param_id, str) or not self.param_id:
            raise ContractViolationError("TrialResult.param_id must be a non-empty string")
        try:
            status = TrialStatus(self.status)
        except ValueError:
            raise ContractViolationError(
                f"TrialResult.status {self.status!r} is not one of {[s.value for s in TrialStatus]}"
            ) from None
        object.__setattr__(self, "status", status)
        if isinstance(self.loss, bool) or not isinstance(self.loss, int | float):
            raise ContractViolationError(f"TrialResult.loss must be a float, not {type(self.loss).__name__}")
        loss = float(self.loss)
        object.__setattr__(self, "loss", loss)
        if status is TrialStatus.COMPLETED and not math.isfinite(loss):
            raise ContractViolationError(
                f"TrialResult.loss must be finite for COMPLETED status (got {loss!r}); "
                "report a failed evaluation as TrialStatus.FAILED"
            )
        if not isinstance(self.diagnostics, Mapping):
            raise ContractViolationError("TrialResult.diagnostics must be a mapping")
        try:
            # ensure_ascii=False: the limit is in UTF-8 bytes (as documented); the default would count each non-ASCII
            # character as a 6-byte \uXXXX escape (20,000 "é" = 40 KB of UTF-8 were refused as 120 KB).
            encoded = json.dumps(dict(self.diagnostics), allow_nan=True, ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ContractViolationError(f"TrialResult.diagnostics must be JSON-serialisable: {exc}") from None
        if len(encoded) > MAX_DIAGNOSTICS_BYTES:
            raise ContractViolationError(
                f"TrialResult.diagnostics is too large: {len(encoded)} bytes as UTF-8 JSON, the limit is "
                f"{MAX_DIAGNOSTICS_BYTES}; keep large outputs in the results store, not in diagnostics"
            )
        object.__setattr__(self, "diagnostics", MappingProxyType(dict(self.diagnostics)))
