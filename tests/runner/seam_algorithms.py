"""Algorithms written against the first AdaptiveAlgorithm protocol (ask/tell/finished only), for the seam tests.

Imported by reference from the toy study's model project (this directory): ``seam_algorithms:FirstProtocolGrid``.
"""

from __future__ import annotations

from typing import Any

from modelops_contracts import TrialResult, UniqueParameterSet


class FirstProtocolGrid:
    """``n_trials`` evenly spaced slopes; no budget_option, budget() or close(): the runner supplies them."""

    def __init__(
        self, space: dict[str, Any], *, storage: Any = None, study_name: str = "", seed: Any = None, n_trials: int = 4
    ) -> None:
        low, high = space["slope"]["low"], space["slope"]["high"]
        fixed = dict(space.get("fixed", {}))
        self.n_trials = n_trials  # what runners read for the progress total before budget() existed
        step = (high - low) / max(1, n_trials - 1)
        self._points = [UniqueParameterSet.from_dict({**fixed, "slope": low + i * step}) for i in range(n_trials)]
        self._told: dict[str, TrialResult] = {}
        self._cursor = 0

    def ask(self, n: int) -> list[UniqueParameterSet]:
        out = self._points[self._cursor : self._cursor + n]
        self._cursor += len(out)
        return out

    def tell(self, results: list[TrialResult]) -> None:
        for result in results:
            self._told.setdefault(result.param_id, result)

    def finished(self) -> bool:
        return len(self._told) >= len(self._points)


class AskOnly:
    """Not an algorithm: it cannot be told results."""

    def __init__(self, space: dict[str, Any], **options: Any) -> None:
        self.space = space

    def ask(self, n: int) -> list[UniqueParameterSet]:
        return []
