"""SweepAlgorithm: a fixed design over the parameter space (grid, Sobol or Latin hypercube), asked in order.

The design is a pure function of (space, method, n_points, grid_points_per_dim, seed), so a restarted runner rebuilds
the same points and replays earlier results with ``tell`` (matched by param_id) before asking; told points are never
asked again. Finished when every point has a terminal result (completed, failed or timed out).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from modelops_contracts import TrialResult, UniqueParameterSet

from ..parameters import ParameterSpace, unit_points
from ._common import check_n, parameter_set, reject_unknown

log = logging.getLogger(__name__)
METHODS = ("grid", "sobol", "lhs", "random")
DEFAULT_POINTS = 64


class SweepAlgorithm:
    """Ask/tell over a precomputed design; implements modelops_contracts.AdaptiveAlgorithm."""

    def __init__(
        self,
        space: ParameterSpace | Mapping[str, Any],
        *,
        storage: Any = None,
        study_name: str = "modelops",
        seed: int | None = None,
        **options: Any,
    ):
        reject_unknown("SweepAlgorithm", options, {"method", "n_points", "grid_points_per_dim"})
        if storage is not None:
            # The design is deterministic and results are replayed by the runtime, so there is nothing to store.
            log.debug("SweepAlgorithm keeps its state in memory; storage %r is not used", storage)
        self.space = ParameterSpace.coerce(space)
        self.study_name = study_name
        self.seed = seed
        self.method = options.get("method", "sobol")
        if self.method not in METHODS:
            raise ValueError(f"SweepAlgorithm method must be one of {list(METHODS)}, got {self.method!r}")
        n_points = options.get("n_points")
        if n_points is not None and (isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 1):
            raise ValueError(f"n_points must be a positive int, got {n_points!r}")
        per_dim = options.get("grid_points_per_dim", 5)
        if isinstance(per_dim, bool) or not isinstance(per_dim, int) or per_dim < 1:
            raise ValueError(f"grid_points_per_dim must be a positive int, got {per_dim!r}")
        if self.method == "grid":
            raw = self.space.grid(per_dim)
            if n_points is not None:
                raw = raw[:n_points]
        else:
            n = n_points if n_points is not None else DEFAULT_POINTS
            raw = [self.space.from_unit(u) for u in unit_points(len(self.space), n, method=self.method, seed=seed)]
        points: dict[str, UniqueParameterSet] = {}
        for params in raw:
            ps = parameter_set(self.space, params)
            points.setdefault(ps.param_id, ps)  # integer/categorical spaces can repeat a point: run it once
        self.points: tuple[UniqueParameterSet, ...] = tuple(points.values())
        self._index = {p.param_id: p for p in self.points}
        self._asked: set[str] = set()
        self._told: dict[str, TrialResult] = {}
        self._cursor = 0

    @property
    def n_trials(self) -> int:
        return len(self.points)

    def n_told(self) -> int:
        return len(self._told)

    def ask(self, n: int) -> list[UniqueParameterSet]:
        out: list[UniqueParameterSet] = []
        while len(out) < check_n(n) and self._cursor < len(self.points):
            point = self.points[self._cursor]
            self._cursor += 1
            if point.param_id in self._told or point.param_id in self._asked:
                continue
            self._asked.add(point.param_id)
            out.append(point)
        return out

    def tell(self, results: list[TrialResult]) -> None:
        for result in results:
            if result.param_id not in self._index:
                log.warning("SweepAlgorithm: ignoring a result for param_id %s, not in the design", result.param_id)
                continue
            self._told.setdefault(result.param_id, result)  # first result wins: tell is idempotent

    def finished(self) -> bool:
        return len(self._told) >= len(self.points)

    def results(self) -> dict[str, TrialResult]:
        """The terminal result of every told point, by param_id."""
        return dict(self._told)
