"""OptunaAlgorithm on in-memory and journal storages: types, tell semantics, resume, leases, and TPE vs random."""

from __future__ import annotations

import time
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from optuna.trial import TrialState

from calabaria.algorithms import OptunaAlgorithm, SweepAlgorithm
from calabaria.algorithms.optuna_algorithm import PARAM_ID, REASON, STATUS
from modelops_contracts import AdaptiveAlgorithm, TrialResult, TrialStatus

SPACE = {
    "beta": {"low": 0.001, "high": 1.0, "log": True},
    "n": {"low": 1, "high": 50, "type": "int"},
    "mode": {"choices": ["a", "b"]},
    "fixed": {"gamma": 0.1},
}


def score(params) -> float:
    return (params["beta"] - 0.3) ** 2 + (params["n"] - 20) ** 2 / 100 + (params["mode"] == "b")


def test_asks_honour_types_bounds_and_fixed_values() -> None:
    alg = OptunaAlgorithm(SPACE, seed=1, n_trials=30)
    assert isinstance(alg, AdaptiveAlgorithm)
    seen = []
    while not alg.finished():
        asked = alg.ask(4)
        for p in asked:
            assert type(p.params["beta"]) is float and 0.001 <= p.params["beta"] <= 1.0
            assert type(p.params["n"]) is int and 1 <= p.params["n"] <= 50
            assert p.params["mode"] in ("a", "b") and p.params["gamma"] == 0.1
        seen += asked
        alg.tell([TrialResult(p.param_id, score(p.params)) for p in asked])
    assert len(seen) == 30 == alg.n_told() == alg.n_trials
    assert alg.ask(3) == []
    # log scale: a third of a log-uniform draw over [0.001, 1] falls below 0.01, against 1% on a linear scale
    assert sum(p.params["beta"] < 0.01 for p in seen) >= 3


def test_tell_is_idempotent_order_free_and_keeps_failure_reasons() -> None:
    alg = OptunaAlgorithm(SPACE, seed=2, n_trials=4)
    asked = alg.ask(4)
    results = [
        TrialResult(asked[0].param_id, 1.5),
        TrialResult(asked[1].param_id, float("nan"), {"reason": "target 'inc': empty join"}, TrialStatus.FAILED),
        TrialResult(asked[2].param_id, float("inf"), {"reason": "took 600 s"}, TrialStatus.TIMEOUT),
        TrialResult(asked[3].param_id, 0.5),
    ]
    alg.tell(list(reversed(results)))
    alg.tell(results)  # again: nothing changes
    alg.tell([TrialResult(asked[0].param_id, 99.0)])  # a later, different result for a told id is ignored
    trials = {t.user_attrs[PARAM_ID]: t for t in alg.study.trials}
    assert len(trials) == 4 and alg.finished() and alg.n_told() == 4
    assert trials[asked[0].param_id].values == [1.5]
    failed, timed_out = trials[asked[1].param_id], trials[asked[2].param_id]
    assert failed.state == TrialState.FAIL and failed.user_attrs[REASON] == "target 'inc': empty join"
    assert timed_out.state == TrialState.FAIL and timed_out.user_attrs[STATUS] == "timeout"
    assert alg.study.best_value == 0.5


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"n_trials": 3, "sampler": "nope"}, ValueError, "unknown sampler 'nope'"),
        ({"n_trials": 3, "n_trails": 3}, TypeError, "unknown options ['n_trails']"),
        ({}, TypeError, "needs n_trials"),
        ({"n_trials": 0}, ValueError, "positive int"),
        ({"n_trials": 3, "direction": "down"}, ValueError, "direction must be"),
        ({"n_trials": 3, "heartbeat": 5, "lease_seconds": 2}, ValueError, "lease_seconds > heartbeat"),
        ({"n_trials": 3, "sampler_options": {"bogus": 1}}, TypeError, "not valid for sampler 'tpe'"),
        ({"n_trials": 3, "storage": "journal://relative.log"}, ValueError, "absolute path"),
        ({"n_trials": 3, "storage": "nosuchdb://x"}, ValueError, "cannot open Optuna storage"),
    ],
)
def test_bad_options_are_clear(kwargs: dict, error: type, needle: str) -> None:
    with pytest.raises(error) as info:
        OptunaAlgorithm(SPACE, **kwargs)
    assert needle in str(info.value)


def test_samplers_that_need_missing_packages_say_which() -> None:
    for sampler, package in (("cmaes", "cmaes"), ("gp", "torch")):
        try:
            __import__(package)
        except ImportError:
            with pytest.raises(ValueError, match=f"needs .*pip install {package}"):
                OptunaAlgorithm(SPACE, n_trials=3, sampler=sampler)
        else:
            OptunaAlgorithm(SPACE, n_trials=3, sampler=sampler).ask(1)


def test_random_sampler_and_maximize() -> None:
    alg = OptunaAlgorithm(SPACE, seed=4, n_trials=6, sampler="random", direction="maximize")
    for p in alg.ask(6):
        alg.tell([TrialResult(p.param_id, score(p.params))])
    assert alg.finished() and alg.study.direction.name == "MAXIMIZE"


def test_journal_study_resumes_in_a_new_instance_and_accepts_results_it_did_not_ask(tmp_path: Path) -> None:
    url = f"journal://{tmp_path / 'study.log'}"
    first = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=5, n_trials=8)
    asked = first.ask(5)
    first.tell([TrialResult(p.param_id, score(p.params)) for p in asked[:3]])
    second = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=5, n_trials=8)
    assert second.n_told() == 3 and not second.finished()
    # a result for a trial the first instance asked arrives through the second one
    second.tell([TrialResult(p.param_id, score(p.params)) for p in asked[3:]])
    assert second.n_told() == 5
    rest = second.ask(10)
    assert len(rest) == 3  # the budget counts every trial in the storage
    second.tell([TrialResult(p.param_id, score(p.params)) for p in rest])
    assert second.finished() and first.finished()
    with pytest.raises(ValueError, match="was created to minimize"):
        OptunaAlgorithm(SPACE, storage=url, study_name="s", n_trials=8, direction="maximize")
    first.close()
    second.close()


def test_journal_lease_expiry_retries_the_parameters_of_an_abandoned_runner(tmp_path: Path) -> None:
    url = f"journal://{tmp_path / 'study.log'}"
    gone = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=6, n_trials=5, heartbeat=0.2, lease_seconds=0.6)
    lost = gone.ask(2)
    gone.close(release=False)  # its leases stop being renewed, as if the process had died
    alive = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=7, n_trials=5, heartbeat=0.2, lease_seconds=0.6)
    fresh = alive.ask(5)
    assert len(fresh) == 3  # two slots still belong to the silent runner
    alive.tell([TrialResult(p.param_id, score(p.params)) for p in fresh])
    deadline = time.monotonic() + 20
    retried = []
    while len(retried) < 2 and time.monotonic() < deadline:
        retried += alive.ask(5)
        time.sleep(0.1)
    assert sorted(p.param_id for p in retried) == sorted(p.param_id for p in lost)
    alive.tell([TrialResult(p.param_id, score(p.params)) for p in retried])
    assert alive.finished() and alive.n_told() == 5
    told = [t for t in alive.study.trials if t.state == TrialState.COMPLETE]
    assert len(told) == 5 and len({t.user_attrs[PARAM_ID] for t in told}) == 5
    alive.close()


def test_tpe_beats_random_on_a_smooth_function_reproducibly() -> None:
    space = {"x": {"low": -5.0, "high": 5.0}, "y": {"low": -5.0, "high": 5.0}}

    def f(p) -> float:
        return (p["x"] - 1.5) ** 2 + 2 * (p["y"] + 0.5) ** 2 + 0.5 * p["x"] * p["y"]

    # the minimum, from the gradient: x = 52/31, y = -22/31
    optimum = f({"x": 52 / 31, "y": -22 / 31})

    def gap(sampler: str) -> float:
        alg = OptunaAlgorithm(space, seed=2024, n_trials=60, sampler=sampler)
        while not alg.finished():
            alg.tell([TrialResult(p.param_id, f(p.params)) for p in alg.ask(4)])
        return alg.study.best_value - optimum

    tpe, rnd = gap("tpe"), gap("random")
    print(f"60 trials, seed 2024: TPE best - optimum = {tpe:.4f}, random = {rnd:.4f}")
    assert 0 <= tpe < rnd
    assert gap("tpe") == tpe  # same seed, same search


def test_entry_points_name_both_algorithms() -> None:
    found = {ep.name: ep.load() for ep in entry_points(group="modelops.algorithms")}
    assert found["optuna"] is OptunaAlgorithm and found["sweep"] is SweepAlgorithm


def test_a_small_discrete_space_finishes_without_running_a_point_twice() -> None:
    space = {"k": {"low": 1, "high": 3, "type": "int"}, "m": {"choices": ["a", "b"]}}
    assert OptunaAlgorithm(space, n_trials=50).n_trials == 6  # only 6 distinct points exist
    alg = OptunaAlgorithm(space, seed=0, n_trials=6)
    told: list[str] = []
    for _ in range(200):
        if alg.finished():
            break
        asked = alg.ask(2)
        alg.tell([TrialResult(p.param_id, p.params["k"] + (p.params["m"] == "a")) for p in asked])
        told += [p.param_id for p in asked]
    assert alg.finished() and len(told) == len(set(told)) == 6


def test_a_runner_that_closes_releases_its_untold_trials_for_immediate_retry(tmp_path: Path) -> None:
    url = f"journal://{tmp_path / 'study.log'}"
    stopping = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=8, n_trials=4)
    asked = stopping.ask(4)
    stopping.tell([TrialResult(asked[0].param_id, 1.0)])
    stopping.close()  # interrupted with three trials asked and untold
    resumed = OptunaAlgorithm(SPACE, storage=url, study_name="s", seed=8, n_trials=4)
    again = resumed.ask(4)  # no lease to wait for (default lease: 30 s)
    assert sorted(p.param_id for p in again) == sorted(p.param_id for p in asked[1:])
    resumed.tell([TrialResult(p.param_id, 2.0) for p in again])
    assert resumed.finished() and resumed.n_told() == 4
    resumed.close()


def test_cmaes_sampler_runs_the_budget() -> None:
    space = {"x": {"low": -3.0, "high": 3.0}, "y": {"low": -3.0, "high": 3.0}}
    alg = OptunaAlgorithm(space, seed=5, n_trials=24, sampler="cmaes")
    while not alg.finished():
        batch = alg.ask(4)
        assert batch, "CMA-ES stopped proposing before the budget was used"
        alg.tell([TrialResult(p.param_id, (p.params["x"] - 1) ** 2 + (p.params["y"] + 0.5) ** 2) for p in batch])
    assert alg.n_told() == 24
