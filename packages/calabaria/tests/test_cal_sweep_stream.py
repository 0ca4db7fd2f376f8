"""Streamed sweep designs: the same points as the materialised designs, constant memory for huge ones, clear
refusals for absurd sizes, and repeats and resumes handled while streaming."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from calabaria.algorithms import SweepAlgorithm
from calabaria.algorithms import sweep as sweep_module
from calabaria.parameters import ParameterSpace, unit_points
from modelops_contracts import TrialResult

SPACE = {"beta": {"low": 0.01, "high": 1.0, "log": True}, "n": {"low": 1, "high": 4, "type": "int"}, "fixed": {"g": 1}}


def ids_of(points) -> list[str]:
    return [p.param_id for p in points]


@pytest.mark.parametrize("method", ["sobol", "random", "lhs"])
@pytest.mark.parametrize("n", [1, 7, 64, 1500])  # 1500: more than one chunk, and not a power of two
def test_streamed_points_equal_the_materialised_design(method: str, n: int) -> None:
    space = ParameterSpace.coerce({"a": {"low": 0.0, "high": 1.0}, "b": {"low": -5.0, "high": 5.0}})
    alg = SweepAlgorithm(space, seed=3, method=method, n_points=n)
    expected = [space.from_unit(u) for u in unit_points(2, n, method=method, seed=3)]
    assert [p.params for p in alg.points] == expected


def test_the_grid_streams_in_itertools_product_order() -> None:
    space = ParameterSpace.coerce(SPACE)
    alg = SweepAlgorithm(space, method="grid", grid_points_per_dim=3)
    assert [p.params for p in alg.points] == space.grid(3)


def _peak_mb(build) -> tuple[float, float, object]:
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        alg = build()
        asked = alg.ask(200)
        assert len(asked) == 200
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak / 2**20, time.perf_counter() - t0, alg


def test_a_1e12_point_grid_starts_in_constant_memory() -> None:
    space = {f"p{i}": {"low": 0.0, "high": 1.0} for i in range(12)}  # 10^12 points
    peak, seconds, alg = _peak_mb(lambda: SweepAlgorithm(space, method="grid", grid_points_per_dim=10))
    print(f"1e12-point grid: n_trials {alg.n_trials:.3g}, peak {peak:.1f} MiB, {seconds:.2f} s to start and ask 200")
    assert alg.n_trials == 10**12
    assert peak < 16


def test_a_1e9_point_sobol_design_starts_in_constant_memory() -> None:
    space = {"a": {"low": 0.0, "high": 1.0}, "b": {"low": 1.0, "high": 100.0, "log": True}}
    peak, seconds, alg = _peak_mb(lambda: SweepAlgorithm(space, method="sobol", n_points=10**9, seed=1))
    print(f"1e9-point Sobol: peak {peak:.1f} MiB, {seconds:.2f} s to start and ask 200")
    assert alg.n_trials == 10**9
    assert peak < 16
    # the streamed prefix is the prefix of the same Sobol sequence a small design draws
    small = SweepAlgorithm(space, method="sobol", n_points=200, seed=1)
    fresh = SweepAlgorithm(space, method="sobol", n_points=10**9, seed=1)
    assert ids_of(fresh.ask(200)) == ids_of(small.points)


def test_absurd_sizes_are_refused_with_the_fix() -> None:
    space = {f"p{i}": {"low": 0.0, "high": 1.0} for i in range(30)}
    with pytest.raises(ValueError, match=r"the grid has .* points .* lower grid_points_per_dim, set n_points"):
        SweepAlgorithm(space, method="grid", grid_points_per_dim=10)
    # a prefix of the same grid is fine, and streamed
    assert SweepAlgorithm(space, method="grid", grid_points_per_dim=10, n_points=5).n_trials == 5
    with pytest.raises(ValueError, match="more than any run could evaluate"):
        SweepAlgorithm(space, method="sobol", n_points=10**16)
    with pytest.raises(ValueError, match=r"method lhs builds its whole design in memory.*Use method: sobol"):
        SweepAlgorithm(space, method="lhs", n_points=10**7)


def test_a_streamed_design_skips_repeats_and_finishes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep_module, "EXACT_LIMIT", 10)  # stream even this small design
    alg = SweepAlgorithm({"k": {"low": 1, "high": 3, "type": "int"}}, method="random", n_points=50, seed=2)
    assert alg.n_trials == 50  # an upper bound while streaming
    with pytest.raises(ValueError, match="too many to list"):
        alg.points  # noqa: B018
    asked = []
    while not alg.finished():
        batch = alg.ask(4)
        if not batch:
            break
        asked += batch
        alg.tell([TrialResult(p.param_id, 1.0) for p in batch])
    assert sorted(p.params["k"] for p in asked) == [1, 2, 3]  # each repeated point run once
    assert alg.finished()


def test_a_streamed_design_resumes_from_replayed_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep_module, "EXACT_LIMIT", 10)
    first = SweepAlgorithm(SPACE, seed=5, method="sobol", n_points=40)
    asked = first.ask(25)
    done = [TrialResult(p.param_id, 1.0) for p in asked[:20]]
    again = SweepAlgorithm(SPACE, seed=5, method="sobol", n_points=40)
    again.tell(done + done)  # replayed before any ask, twice: kept until the cursor reaches them
    rest = []
    while batch := again.ask(8):
        rest += batch
        again.tell([TrialResult(p.param_id, 2.0) for p in batch])
    assert {p.param_id for p in rest}.isdisjoint(r.param_id for r in done)
    assert again.finished() and again.n_told() == 20 + len(rest)
    again.tell([TrialResult("f" * 64, 1.0)])  # not in the design: ignored once the design is exhausted
    assert again.n_told() == 20 + len(rest)
