"""The process pool next to the other services: same results, same surface, limits on every backend."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modelops.runner.services import open_service, service_description
from modelops.services import (
    LocalSimulationService,
    ModelLoadError,
    PoolSimulationService,
    RunContext,
    from_ipc,
    run_groups,
)
from modelops.specs.study import ExecutionSpec
from modelops_contracts import SimulationService, derive_seed, make_param_id

from .conftest import MODELS_DIR

FAULTS = str(Path(__file__).resolve().parents[1] / "faults" / "models")


def _walk_groups(context: RunContext, n: int = 12, replicates: int = 3) -> list:
    groups = []
    for k in range(n):
        params = {"steps": 10 + k, "drift": k / 10}
        pid = make_param_id(params)
        groups.append(context.group(params, pid, [derive_seed(pid, i) for i in range(replicates)]))
    return groups


def _fingerprint(results) -> dict:
    out = {}
    for r in results:
        assert r.ok, r.error
        out[r.param_id] = (
            r.evaluation.loss,
            dict(r.evaluation.target_losses),
            tuple(tuple(sorted((name, bytes(b)) for name, b in rep.outputs.items())) for rep in r.replicates),
        )
    return out


def test_exec_pool_results_are_identical_to_in_process_and_dask(dask_service) -> None:
    context = RunContext(
        "exec_models:walk",
        search_path=(MODELS_DIR,),
        evaluator_ref="exec_models:make_evaluator",
        evaluator_config={"target": 1.5},
        return_outputs=True,
    )
    groups = _walk_groups(context)
    with PoolSimulationService(2) as pool:
        pool.prepare(context)
        on_pool = _fingerprint(run_groups(pool, groups))
        # full groups from another context are sent whole, and still run
        other = RunContext("exec_models:walk", search_path=(MODELS_DIR,), return_outputs=True)
        assert all(r.ok for r in run_groups(pool, _walk_groups(other, n=3)))
    local = LocalSimulationService()
    local.prepare(context)
    in_process = _fingerprint(run_groups(local, groups))
    dask_service.prepare(context)
    on_dask = _fingerprint(run_groups(dask_service, groups))
    assert on_pool == in_process == on_dask
    assert len(on_pool) == len(groups)


def test_exec_pool_is_a_simulation_service() -> None:
    with PoolSimulationService(2, search_path=[MODELS_DIR]) as service:
        assert isinstance(service, SimulationService)
        assert service.slots == 2
        futures = [service.submit("exec_models:walk", {"steps": 5}, seed) for seed in (3, 4, 5)]
        outs = service.gather(futures)
        assert [from_ipc(o)["summary"]["seed"][0] for o in outs] == [3, 4, 5]


def test_exec_prepare_reports_bad_targets_as_an_evaluator_error() -> None:
    context = RunContext(
        "exec_models:walk",
        search_path=(MODELS_DIR,),
        evaluator_ref="exec_models:make_evaluator",
        evaluator_config={"no_target": 1},
    )
    with PoolSimulationService(1) as pool, pytest.raises(ModelLoadError) as info:
        pool.prepare(context)
    assert info.value.stage == "evaluator" and "refused the study's targets" in str(info.value)
    with pytest.raises(ModelLoadError) as info:
        LocalSimulationService().prepare(context)
    assert info.value.stage == "evaluator"


def test_exec_in_process_timeout_stops_a_python_loop() -> None:
    context = RunContext("fault_models:hang", search_path=(FAULTS,))
    groups = [context.group({"k": k, "hang": k == 1}, make_param_id({"k": k, "hang": k == 1}), (k,)) for k in range(3)]
    service = LocalSimulationService(timeout_s=0.5, retries=0)
    results = {r.param_id: r for r in run_groups(service, groups)}
    hung = results[groups[1].param_id]
    assert hung.timed_out and hung.error.startswith("timeout: the group ran longer than 0.5 s")
    assert results[groups[0].param_id].ok and results[groups[2].param_id].ok


@pytest.mark.slow
def test_exec_dask_timeout_kills_the_worker_and_fails_the_group() -> None:
    from modelops.services.dask import DaskSimulationService

    context = RunContext("fault_models:hang", search_path=(FAULTS,))
    params = [{"k": k, "hang": k == 2} for k in range(6)]
    groups = [context.group(p, make_param_id(p), (k,)) for k, p in enumerate(params)]
    with DaskSimulationService(n_workers=2, memory_limit=None, timeout_s=2.0, retries=0) as service:
        started = time.monotonic()
        results = {r.param_id: r for r in run_groups(service, groups)}
        assert time.monotonic() - started < 60
        hung = results[groups[2].param_id]
        assert hung.timed_out and "timeout: the group ran longer than 2.0 s" in hung.error
        assert all(results[g.param_id].ok for g in groups if g is not groups[2])
        service.wait_for_workers(2, timeout=60)  # the killed worker was replaced


@pytest.mark.slow
def test_exec_remote_dask_timeout_restarts_the_worker_through_its_nanny(dask_cli) -> None:
    from modelops.services.dask import DaskSimulationService

    context = RunContext("fault_models:hang", search_path=(FAULTS,))
    params = [{"k": k, "hang": k == 1} for k in range(5)]
    groups = [context.group(p, make_param_id(p), (k,)) for k, p in enumerate(params)]
    with DaskSimulationService(dask_cli.address, timeout_s=2.0, retries=0) as service:
        results = {r.param_id: r for r in run_groups(service, groups)}
        hung = results[groups[1].param_id]
        assert hung.timed_out and "its worker was restarted" in hung.error
        assert all(results[g.param_id].ok for g in groups if g is not groups[1])
        service.wait_for_workers(2, timeout=60)


@pytest.mark.parametrize(
    ("spec", "workers", "scheduler", "expected"),
    [
        ({}, None, None, (False, "process pool")),
        ({"workers": 3}, None, None, (False, "process pool, 3 workers")),
        ({"workers": 3, "backend": "dask"}, None, None, (False, "local dask cluster, 3 workers")),
        ({"workers": 3, "backend": "inprocess"}, None, None, (False, "in process")),
        ({"workers": 0, "backend": "pool"}, None, None, (False, "in process")),
        ({"backend": "pool"}, None, "tcp://flag:8786", (True, "dask scheduler tcp://flag:8786")),
        ({"backend": "dask"}, 2, None, (False, "local dask cluster, 2 workers")),
    ],
)
def test_exec_backend_choice(spec, workers, scheduler, expected) -> None:
    assert service_description(ExecutionSpec.model_validate(spec), workers, scheduler)[1].startswith(expected[1])
    assert service_description(ExecutionSpec.model_validate(spec), workers, scheduler)[0] == expected[0]


def test_exec_backend_spec_validation() -> None:
    with pytest.raises(ValueError, match="a scheduler needs backend 'dask' or 'auto'"):
        ExecutionSpec.model_validate({"scheduler": "tcp://x:8786", "backend": "pool"})
    with pytest.raises(ValueError):
        ExecutionSpec.model_validate({"retries": 11})
    with pytest.raises(ValueError):
        ExecutionSpec.model_validate({"timeout_s": 0})
    spec = ExecutionSpec.model_validate({"timeout_s": 2, "retries": 0})
    assert (spec.backend, spec.timeout_s, spec.retries) == ("auto", 2.0, 0)


def test_exec_open_service_passes_the_limits() -> None:
    spec = ExecutionSpec.model_validate({"workers": 1, "timeout_s": 3, "retries": 2})
    with open_service(spec) as service:
        assert isinstance(service, PoolSimulationService)
        assert (service.slots, service.timeout_s, service.retries) == (1, 3.0, 2)
    local = open_service(ExecutionSpec.model_validate({"workers": 0, "timeout_s": 3}))
    assert isinstance(local, LocalSimulationService) and local.timeout_s == 3.0
