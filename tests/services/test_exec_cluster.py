"""The same results in process and on `dask scheduler` + two `dask worker` processes started as pods start them;
and a clear error when a worker runs different package versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelops.services import LocalSimulationService, SimulationGroup, run_groups
from modelops.services.dask import DaskSimulationService
from modelops.services.versions import ClusterVersionError, Mismatch, find_mismatches
from modelops_contracts import derive_seed, make_param_id
from modelops_testing.dask_cluster import DaskCliCluster, dask_cli_cluster

from .conftest import MODELS_DIR

pytestmark = pytest.mark.slow


def study_groups(cache_url: str | None = None) -> list[SimulationGroup]:
    groups = []
    for k in range(12):
        params = {"steps": 15, "drift": k / 10}
        pid = make_param_id(params)
        groups.append(
            SimulationGroup(
                "exec_models:walk",
                params,
                pid,
                tuple(derive_seed(pid, i, base_seed=42) for i in range(3)),
                evaluator_ref="exec_models:make_evaluator",
                evaluator_config={"target": 3.0},
                return_outputs=True,
                cache_url=cache_url,
                search_path=(MODELS_DIR,),
            )
        )
    return groups


def _by_id(results) -> dict:
    return {r.param_id: r for r in results}


def test_exec_same_results_locally_and_on_cli_cluster(dask_cli: DaskCliCluster, tmp_path: Path) -> None:
    groups = study_groups()
    local = _by_id(run_groups(LocalSimulationService(), groups))
    with DaskSimulationService(dask_cli.address) as remote_service:
        assert remote_service.slots == 2
        remote = _by_id(run_groups(remote_service, groups, max_in_flight=4))
        # the contracts' submit/gather path agrees too
        g = groups[0]
        outs = remote_service.gather([remote_service.submit(g.fn_ref, g.params, s) for s in g.seeds])
    assert local.keys() == remote.keys() and len(local) == 12
    for pid, lr in local.items():
        rr = remote[pid]
        assert lr.ok and rr.ok
        assert [r.outputs for r in lr.replicates] == [r.outputs for r in rr.replicates]
        assert lr.evaluation == rr.evaluation
    assert outs == [dict(r.outputs) for r in local[groups[0].param_id].replicates]
    assert {r.worker for r in remote.values()} == {"w0", "w1"}  # both worker processes did work


def test_exec_cli_cluster_shares_a_cache_with_local_runs(dask_cli: DaskCliCluster, tmp_path: Path) -> None:
    url = str(tmp_path / "cache")
    first = _by_id(run_groups(LocalSimulationService(), study_groups(url)))
    with DaskSimulationService(dask_cli.address) as service:
        again = _by_id(run_groups(service, study_groups(url)))
    assert all(r.n_cached == 3 for r in again.values())
    assert all(first[p].evaluation == again[p].evaluation for p in first)


def test_exec_version_mismatch_names_the_packages(tmp_path: Path) -> None:
    # A worker whose environment has another modelops-contracts installed: its metadata says 9.9.9.
    fake = tmp_path / "site"
    dist = fake / "modelops_contracts-9.9.9.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: modelops-contracts\nVersion: 9.9.9\n")
    with dask_cli_cluster(1, worker_env=[{"PYTHONPATH": str(fake)}]) as cluster:
        with pytest.raises(ClusterVersionError) as ei:
            DaskSimulationService(cluster.address)
        message = str(ei.value)
        assert "modelops-contracts: client 0.1.0, worker tcp://127.0.0.1:" in message and "9.9.9" in message
        assert "same image" in message
        with DaskSimulationService(cluster.address, check_versions=False) as service:
            assert service.slots == 1


def test_exec_version_comparison_rules() -> None:
    pkgs = {"python": "3.11.9.final.0", "dask": "1", "distributed": "1", "modelops": "0.1.0"}
    versions = {
        "client": {"packages": pkgs},
        "scheduler": {"packages": {**pkgs, "python": "3.11.4.final.0", "modelops": None}},
        "workers": {"tcp://w": {"packages": {**pkgs, "python": "3.12.1.final.0", "dask": "2"}}},
    }
    found = find_mismatches(versions)
    # patch releases of Python and ModelOps missing on the scheduler are fine; a worker's Python/dask are not
    assert found == [
        Mismatch("python", "3.11.9.final.0", "worker tcp://w", "3.12.1.final.0"),
        Mismatch("dask", "1", "worker tcp://w", "2"),
    ]
