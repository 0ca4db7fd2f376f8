"""SweepAlgorithm: a fixed design over the parameter space (grid, Sobol, Latin hypercube or random), asked in order.

The design is a pure function of (space, method, n_points, grid_points_per_dim, seed), so a restarted runner rebuilds
the same points and replays earlier results with ``tell`` (matched by param_id) before asking; told points are never
asked again. Finished when every point has a terminal result (completed, failed or timed out).

Designs are streamed, never materialised whole: a grid point is decoded from its index (mixed radix over the axes),
Sobol and random points are drawn in chunks of ``CHUNK`` from a stateful generator (the same sequence as one big draw),
so a 10^12-point grid or a 10^9-point Sobol design starts in constant memory; memory grows only with the points asked.
Designs up to ``EXACT_LIMIT`` points are listed at construction (exact ``n_trials`` after removing repeated points,
which integer and categorical spaces can produce; ``points`` lists them). Larger ones skip repeats as they are asked,
and ``n_trials`` is then the design's size, an upper bound: the sweep is finished once the design is exhausted and
everything asked is told. Latin hypercubes need the whole design at once (each dimension is a permutation), so
they are refused above ``LHS_LIMIT`` points, with the advice to use Sobol.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from modelops_contracts import TrialResult, UniqueParameterSet

from ..parameters import ParameterSpace, unit_points
from ._common import check_n, parameter_set, reject_unknown

log = logging.getLogger(__name__)
METHODS = ("grid", "sobol", "lhs", "random")
DEFAULT_POINTS = 64
CHUNK = 1024  # a power of two: scipy's Sobol warns unless its first draw is one
EXACT_LIMIT = 100_000  # designs up to this size are listed up front (exact n_trials, a ``points`` tuple)
LHS_LIMIT = 1_000_000  # Latin hypercubes are built whole: n_points x dims floats
MAX_POINTS = 10**15  # far beyond any run; a design larger than this is a mistake in the spec
SOBOL_30_BITS = 2**30  # scipy's default Sobol engine (30 bits) draws at most this many points


class SweepAlgorithm:
    """Ask/tell over a deterministic design; implements modelops_contracts.AdaptiveAlgorithm."""

    # A sweep's budget is its number of points: a study's n_trials is given as n_points.
    budget_option: ClassVar[str] = "n_points"

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
        if per_dim > MAX_POINTS:
            raise ValueError(f"grid_points_per_dim {per_dim} is absurd (more than {MAX_POINTS:.0e} points)")
        self._axes: list[list[Any]] = []
        if self.method == "grid":
            self._axes = [p.grid(per_dim) for p in self.space.parameters]
            full = math.prod(len(a) for a in self._axes)
            if n_points is None and full > MAX_POINTS:
                raise ValueError(
                    f"the grid has {_size(full)} points ({' x '.join(str(len(a)) for a in self._axes)}), more than "
                    f"any run could evaluate (limit {MAX_POINTS:.0e}); lower grid_points_per_dim, set n_points to run "
                    "the first n_points of the grid, or use method: sobol"
                )
            size = full if n_points is None else min(full, n_points)
        else:
            size = n_points if n_points is not None else DEFAULT_POINTS
            if size > MAX_POINTS:
                raise ValueError(f"n_points {_size(size)} is more than any run could evaluate (limit {MAX_POINTS:.0e})")
            if self.method == "lhs" and size > LHS_LIMIT:
                raise ValueError(
                    f"method lhs builds its whole design in memory; n_points {_size(size)} is above its limit of "
                    f"{LHS_LIMIT:,}. Use method: sobol (streamed, as evenly spread) for larger designs"
                )
        self._size = size
        self._stream = self._design()
        self._exhausted = False
        self._listed: tuple[UniqueParameterSet, ...] | None = None
        self._seen: set[str] = set()  # param_ids of the listed design, or those the cursor has passed
        self._early: dict[str, TrialResult] = {}  # results told before the cursor reached their point (a resume)
        if size <= EXACT_LIMIT:
            points: dict[str, UniqueParameterSet] = {}
            for params in self._stream:
                ps = parameter_set(self.space, params)
                points.setdefault(ps.param_id, ps)  # integer/categorical spaces can repeat a point: run it once
            self._listed = tuple(points.values())
            self._seen = set(points)
        self._cursor = 0
        self._asked: set[str] = set()
        self._told: dict[str, TrialResult] = {}

    # --- the design, streamed -------------------------------------------------------------------------------------

    def _design(self) -> Iterator[dict[str, Any]]:
        """The design's parameter sets, in order, computed as they are consumed."""
        if self.method == "grid":
            radices = [len(a) for a in self._axes]
            for index in range(self._size):
                # itertools.product order: the last parameter varies fastest
                values = []
                for axis, radix in zip(reversed(self._axes), reversed(radices), strict=True):
                    index, digit = divmod(index, radix)
                    values.append(axis[digit])
                yield dict(zip(self.space.names, reversed(values), strict=True))
            return
        for chunk in self._unit_chunks():
            for row in chunk:
                yield self.space.from_unit(row)

    def _unit_chunks(self) -> Iterator[np.ndarray]:
        dim, n = len(self.space), self._size
        if dim == 0 or self.method == "lhs":
            yield unit_points(dim, n, method=self.method, seed=self.seed)  # bounded by LHS_LIMIT
            return
        if self.method == "random":
            rng = np.random.default_rng(self.seed)
            draw = lambda k: rng.random((k, dim))  # noqa: E731 - same stream as one rng.random((n, dim))
        else:
            from scipy.stats import qmc

            # 30 bits (scipy's default, the sequence earlier versions drew) while it suffices, 64 beyond.
            sampler = qmc.Sobol(d=dim, scramble=True, seed=self.seed, bits=None if n <= SOBOL_30_BITS else 64)
            draw = sampler.random
        done = 0
        while done < n:
            k = min(CHUNK, n - done) if n - done >= CHUNK or done else CHUNK  # first draw a power of two
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # balance warnings: a prefix is still low-discrepancy
                chunk = draw(k)[: n - done]
            done += len(chunk)
            yield chunk

    def _next_point(self) -> UniqueParameterSet | None:
        if self._listed is not None:
            if self._cursor >= len(self._listed):
                return None
            self._cursor += 1
            return self._listed[self._cursor - 1]
        while True:
            params = next(self._stream, None)
            if params is None:
                self._exhausted = True
                return None
            self._cursor += 1
            ps = parameter_set(self.space, params)
            if ps.param_id in self._seen:
                continue
            self._seen.add(ps.param_id)
            early = self._early.pop(ps.param_id, None)
            if early is not None:
                self._told.setdefault(ps.param_id, early)
            return ps

    # --- the protocol -------------------------------------------------------------------------------------------

    @property
    def n_trials(self) -> int:
        return len(self._listed) if self._listed is not None else self._size

    @property
    def points(self) -> tuple[UniqueParameterSet, ...]:
        """Every point of the design (designs up to EXACT_LIMIT points; larger ones are only streamed)."""
        if self._listed is None:
            raise ValueError(
                f"the design has {_size(self._size)} points, too many to list (limit {EXACT_LIMIT:,}); ask for them"
            )
        return self._listed

    def budget(self) -> int:
        """The design's size (after removing repeated points, for designs listed up front)."""
        return self.n_trials

    def close(self) -> None:
        """Nothing to release: the design and its results live in memory."""

    def n_told(self) -> int:
        return len(self._told)

    def ask(self, n: int) -> list[UniqueParameterSet]:
        out: list[UniqueParameterSet] = []
        while len(out) < check_n(n):
            point = self._next_point()
            if point is None:
                break
            if point.param_id in self._told or point.param_id in self._asked:
                continue
            self._asked.add(point.param_id)
            out.append(point)
        return out

    def tell(self, results: list[TrialResult]) -> None:
        for result in results:
            if result.param_id in self._seen:
                self._told.setdefault(result.param_id, result)  # first result wins: tell is idempotent
            elif self._listed is not None or self._exhausted:
                log.warning("SweepAlgorithm: ignoring a result for param_id %s, not in the design", result.param_id)
            else:
                # Not reached yet (a resumed run replays before it asks): kept until the cursor passes its point.
                self._early.setdefault(result.param_id, result)

    def finished(self) -> bool:
        if len(self._told) >= self.n_trials:
            return True
        # A streamed design may hold repeated points (n_trials is then an upper bound): done once exhausted and told.
        return self._listed is None and self._exhausted and self._asked <= set(self._told)

    def results(self) -> dict[str, TrialResult]:
        """The terminal result of every told point, by param_id."""
        return dict(self._told)


def _size(n: int) -> str:
    return f"{n:,}" if n < 10**15 else f"{float(n):.3g}"
