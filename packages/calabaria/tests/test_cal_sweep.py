"""SweepAlgorithm: seeded designs, types, replay on resume, idempotent tell."""

from __future__ import annotations

import pytest

from calabaria.algorithms import SweepAlgorithm
from modelops_contracts import AdaptiveAlgorithm, TrialResult, TrialStatus

SPACE = {"beta": {"low": 0.01, "high": 1.0, "log": True}, "n": {"low": 1, "high": 4, "type": "int"}, "fixed": {"g": 1}}


def drain(alg: SweepAlgorithm, batch: int = 3) -> list[str]:
    ids = []
    while not alg.finished():
        asked = alg.ask(batch)
        assert asked, "not finished, yet nothing to ask"
        ids += [p.param_id for p in asked]
        alg.tell([TrialResult(p.param_id, p.params["beta"]) for p in asked])
    return ids


@pytest.mark.parametrize("method", ["sobol", "lhs", "random"])
def test_seeded_designs_are_reproducible_and_typed(method: str) -> None:
    a = SweepAlgorithm(SPACE, seed=11, method=method, n_points=16)
    b = SweepAlgorithm(SPACE, seed=11, method=method, n_points=16)
    c = SweepAlgorithm(SPACE, seed=12, method=method, n_points=16)
    assert isinstance(a, AdaptiveAlgorithm)
    assert [p.param_id for p in a.points] == [p.param_id for p in b.points]
    assert [p.param_id for p in a.points] != [p.param_id for p in c.points]
    assert a.n_trials == len(a.points) <= 16
    for p in a.points:
        assert type(p.params["n"]) is int and 1 <= p.params["n"] <= 4
        assert type(p.params["beta"]) is float and 0.01 <= p.params["beta"] <= 1.0
        assert p.params["g"] == 1
    assert sorted(drain(a)) == sorted(p.param_id for p in a.points)
    assert a.n_told() == a.n_trials and a.ask(5) == []


def test_grid() -> None:
    alg = SweepAlgorithm(SPACE, method="grid", grid_points_per_dim=3)
    assert alg.n_trials == 3 * 3  # 3 betas x 3 of the 4 integers
    assert len(SweepAlgorithm(SPACE, method="grid", grid_points_per_dim=5).points) == 5 * 4
    assert SweepAlgorithm(SPACE, method="grid", grid_points_per_dim=3, n_points=4).n_trials == 4


def test_resume_by_replaying_results_and_idempotent_tell() -> None:
    first = SweepAlgorithm(SPACE, seed=5, method="sobol", n_points=8)
    asked = first.ask(5)
    done = [TrialResult(p.param_id, 1.0) for p in asked[:3]]
    done.append(TrialResult(asked[3].param_id, float("nan"), {"reason": "boom"}, TrialStatus.FAILED))
    first.tell(done)
    # a restarted runner rebuilds the design and replays what it had, in another order and twice
    again = SweepAlgorithm(SPACE, seed=5, method="sobol", n_points=8)
    again.tell(list(reversed(done)) + done)
    assert again.n_told() == 4
    rest = again.ask(100)
    assert {p.param_id for p in rest}.isdisjoint(r.param_id for r in done)
    assert len(rest) == 4
    again.tell([TrialResult(p.param_id, 2.0) for p in rest])
    assert again.finished()
    again.tell([TrialResult("f" * 64, 1.0)])  # unknown ids are ignored (logged), not an error
    assert again.n_told() == 8


def test_bad_options() -> None:
    with pytest.raises(TypeError, match=r"unknown options \['npoints'\]"):
        SweepAlgorithm(SPACE, npoints=3)
    with pytest.raises(ValueError, match="method must be one of"):
        SweepAlgorithm(SPACE, method="halton")
    with pytest.raises(ValueError, match="n_points must be a positive int"):
        SweepAlgorithm(SPACE, n_points=0)
