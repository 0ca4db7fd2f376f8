"""The typed seams of the runner: what it asks of a simulation service and of an algorithm (issue 16)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from modelops.runner.algorithm import LegacyAlgorithm, adapt, budget_option
from modelops.runner.driver import RunError, RunOptions, run_study
from modelops.runner.study import resolve_study
from modelops.services.protocol import ExecutionService
from modelops.specs.study import load_study
from modelops.store.results import (
    LOSS_PREFIX,
    PARAM_PREFIX,
    REPLICATE_SCHEMA,
    TRIAL_SCHEMA,
    RunStore,
    replicate_row,
    trial_row,
)
from modelops_contracts import AdaptiveAlgorithm

MEMBERS = ("slots", "prepare", "pipeline", "lost_all_workers", "close", "__enter__", "__exit__")


def _run(spec: Path, runs: Path, run_id: str) -> object:
    return run_study(spec, RunOptions(runs_dir=str(runs), run_id=run_id, handle_signals=False))


def test_the_in_process_and_pool_services_are_execution_services() -> None:
    from modelops.services.local import LocalSimulationService
    from modelops.services.pool import PoolSimulationService

    with LocalSimulationService() as local:
        assert isinstance(local, ExecutionService)
        assert local.lost_all_workers() is False
    with PoolSimulationService(1) as pool:
        assert isinstance(pool, ExecutionService)
        assert pool.slots == 1 and pool.lost_all_workers() is False


def test_every_service_class_has_every_member_of_the_protocol() -> None:
    # The Dask service is checked by mypy (modelops.services.protocol) and here by its class: a LocalCluster is slow.
    from modelops.services.dask import DaskSimulationService
    from modelops.services.local import LocalSimulationService
    from modelops.services.pool import PoolSimulationService

    assert all(hasattr(ExecutionService, name) for name in MEMBERS)  # the list above is the protocol's
    for cls in (LocalSimulationService, PoolSimulationService, DaskSimulationService):
        for name in MEMBERS:
            assert hasattr(cls, name), f"{cls.__name__} lacks {name}"
        assert "max_in_flight" in inspect.signature(cls.pipeline).parameters


def test_the_calabaria_algorithms_declare_their_budget_and_close() -> None:
    from calabaria.algorithms import AbcSmcAlgorithm, OptunaAlgorithm, SweepAlgorithm

    space = {"slope": {"low": 0.0, "high": 4.0}}
    assert budget_option(SweepAlgorithm) == "n_points"
    assert budget_option(OptunaAlgorithm) == budget_option(AbcSmcAlgorithm) == "n_trials"
    sweep = SweepAlgorithm(space, seed=1, n_points=8)
    assert isinstance(sweep, AdaptiveAlgorithm) and adapt(sweep, "sweep") is sweep and sweep.budget() == 8
    abc = AbcSmcAlgorithm(space, seed=1, population_size=4, generations=2)
    try:
        assert isinstance(abc, AdaptiveAlgorithm) and abc.budget() is None
    finally:
        abc.close()
    optuna = OptunaAlgorithm(space, seed=1, n_trials=5)
    try:
        assert isinstance(optuna, AdaptiveAlgorithm) and optuna.budget() == 5
    finally:
        optuna.close()


def test_a_sweep_gets_the_study_budget_as_its_own_option(toy_study) -> None:
    spec_path = toy_study(algorithm={"ref": "sweep", "n_trials": 5, "seed": 2})
    resolved = resolve_study(load_study(spec_path), spec_path)
    assert resolved.n_trials == 5 and resolved.algorithm_options["n_points"] == 5
    assert "n_trials" not in resolved.algorithm_options and resolved.bundle_ref is None


def test_an_algorithm_of_the_first_protocol_still_runs(toy_study, tmp_path: Path) -> None:
    from seam_algorithms import FirstProtocolGrid  # the toy model's project is on sys.path once a study ran

    spec = toy_study(algorithm={"ref": "seam_algorithms:FirstProtocolGrid", "n_trials": 4, "seed": 1})
    seen: list[int | None] = []
    summary = run_study(
        spec,
        RunOptions(runs_dir=str(tmp_path / "runs"), run_id="legacy", handle_signals=False),
        progress=lambda p: seen.append(p.total),
    )
    assert summary.status == "completed" and summary.recorded == summary.completed == 4
    assert seen and set(seen) == {4}
    assert RunStore(str(tmp_path / "runs"), "legacy").load_trials().height == 4
    wrapped = adapt(FirstProtocolGrid({"slope": {"low": 0.0, "high": 1.0}}, n_trials=3), "x")
    assert isinstance(wrapped, LegacyAlgorithm) and wrapped.budget() == 3
    wrapped.close()  # nothing to close: the default does nothing


def test_an_object_that_cannot_be_told_results_is_refused_clearly(toy_study, tmp_path: Path) -> None:
    spec = toy_study(algorithm={"ref": "seam_algorithms:AskOnly", "seed": 1})
    with pytest.raises(RunError, match="has no tell method; an algorithm is an object with ask"):
        _run(spec, tmp_path / "runs", "askonly")


def test_row_builders_give_the_schema_columns_and_one_per_parameter_and_target() -> None:
    row = trial_row(
        "p1",
        "completed",
        float("inf"),
        {"beta": 0.3, "contacts": [1, 2]},
        n_replicates=2,
        n_failed=0,
        n_cached=1,
        duration_s=0.5,
        sim_s=float("nan"),
        worker="w",
        error=None,
        summaries=None,
        target_names=["incidence", "deaths"],
        target_losses={"incidence": 1.5},
    )
    journal_adds = {"trial", "runner", "seq", "told_at"}
    assert set(TRIAL_SCHEMA) - journal_adds <= set(row)
    assert row["loss"] is None and row["sim_s"] is None and row["summaries"] is None
    assert row[PARAM_PREFIX + "beta"] == 0.3 and row[PARAM_PREFIX + "contacts"] == "[1, 2]"
    assert row[LOSS_PREFIX + "incidence"] == 1.5 and row[LOSS_PREFIX + "deaths"] is None
    rep = replicate_row(
        "p1", 0, 7, ok=True, cached=False, duration_s=0.1, error=None, target_names=["incidence"], losses={}
    )
    assert set(REPLICATE_SCHEMA) - {"runner", "seq"} <= set(rep) and rep[LOSS_PREFIX + "incidence"] is None
