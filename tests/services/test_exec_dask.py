"""DaskSimulationService on a LocalCluster: as-completed results, bounded in-flight tasks, chunking, errors."""

from __future__ import annotations

import os
import time

import pytest

from modelops.services import SimulationError, SimulationGroup, from_ipc, run_groups
from modelops.services.dask import ClusterConnectionError, DaskSimulationService
from modelops_contracts import SimReturn, SimulationService, derive_seed, make_param_id

from .conftest import MODELS_DIR


def busy_group(ms: float, k: int, r: int = 1) -> SimulationGroup:
    params = {"ms": ms, "k": k}
    pid = make_param_id(params)
    return SimulationGroup(
        "exec_models:busy", params, pid, tuple(derive_seed(pid, i) for i in range(r)), search_path=(MODELS_DIR,)
    )


def _scheduler_tasks(service: DaskSimulationService) -> int:
    """Tasks the scheduler has not finished yet (queued, waiting or running): the engine's in-flight work."""

    def count(dask_scheduler) -> int:
        active = ("queued", "waiting", "processing", "no-worker")
        return sum(ts.state in active for ts in dask_scheduler.tasks.values())

    return service.client.run_on_scheduler(count)


def test_exec_dask_service_is_a_simulation_service(dask_service: DaskSimulationService) -> None:
    import dask

    assert isinstance(dask_service, SimulationService)
    assert dask_service.slots == 2
    # the workers' statistical profiler is off (it slows simulations); the rest of the config is intact
    enabled = dask_service.client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
    assert set(enabled.values()) == {False}
    futures = [dask_service.submit("exec_models:walk", {"steps": 5}, seed) for seed in (3, 4, 5)]
    outs: list[SimReturn] = dask_service.gather(futures)
    assert [from_ipc(o)["summary"]["seed"][0] for o in outs] == [3, 4, 5]
    assert futures[0].done()


def test_exec_dask_errors_surface_as_failed_results(dask_service: DaskSimulationService) -> None:
    bad = dask_service.submit("exec_models:explode", {"fail_seed": None}, 9)
    with pytest.raises(SimulationError, match="seed 9") as ei:
        dask_service.gather([bad])
    assert "ZeroDivisionError: model blew up for seed 9" in ei.value.error and "Traceback" in ei.value.error
    wrong = dask_service.submit("exec_models:not_a_mapping", {}, 1)
    with pytest.raises(SimulationError, match=r"TypeError: simulation 'exec_models:not_a_mapping' returned"):
        wrong.result()
    # a failing group does not kill the pipeline: the others complete
    params = {"fail_seed": 2}
    groups = [busy_group(0, k) for k in range(4)]
    groups.append(
        SimulationGroup("exec_models:explode", params, make_param_id(params), (1, 2), search_path=(MODELS_DIR,))
    )
    results = list(run_groups(dask_service, groups))
    assert len(results) == 5 and sum(r.ok for r in results) == 4
    (failed,) = [r for r in results if not r.ok]
    assert [r.ok for r in failed.replicates] == [True, False] and failed.worker is not None


def test_exec_dask_results_come_as_completed_not_in_submission_order(dask_service: DaskSimulationService) -> None:
    slow = busy_group(1500, 0)
    fast = [busy_group(5, k) for k in range(1, 7)]
    # Two tasks in flight on two workers: the slow group holds one worker, the fast ones stream through the other.
    with dask_service.pipeline(max_in_flight=2) as pipe:
        pipe.submit(slow)
        for g in fast:
            pipe.submit(g)
        order = [r.param_id for r in pipe.results()]
    assert order[-1] == slow.param_id
    assert set(order[:-1]) == {g.param_id for g in fast}


def test_exec_dask_in_flight_is_bounded(dask_service: DaskSimulationService) -> None:
    groups = [busy_group(20, k) for k in range(30)]
    with dask_service.pipeline(max_in_flight=3) as pipe:
        for g in groups:
            pipe.submit(g)  # submit never blocks; the engine still sees at most 3 tasks
        peak = 0
        done = 0
        while pipe.in_flight:
            peak = max(peak, _scheduler_tasks(dask_service))
            assert pipe.next_result().ok
            done += 1
    assert done == 30 and 1 <= peak <= 3


def test_exec_dask_chunking_packs_tiny_groups(dask_service: DaskSimulationService) -> None:
    groups = [busy_group(0, k, r=2) for k in range(600)]
    with dask_service.pipeline() as pipe:
        initial_capacity = pipe.capacity
        got = []
        it = iter(groups)
        exhausted = False
        while True:
            while not exhausted and pipe.in_flight < pipe.capacity:
                g = next(it, None)
                if g is None:
                    exhausted = True
                    break
                pipe.submit(g)
            r = pipe.next_result()
            if r is None:
                break
            got.append(r)
        assert pipe.chunk_size > 1 and pipe.capacity > initial_capacity
        assert pipe.tasks_submitted < len(groups) // 5  # far fewer tasks than groups
    assert sorted(r.param_id for r in got) == sorted(g.param_id for g in groups)


def test_exec_dask_next_result_timeout_and_cancel(dask_service: DaskSimulationService) -> None:
    pipe = dask_service.pipeline(max_in_flight=2)
    pipe.submit(busy_group(3000, 99))
    t0 = time.monotonic()
    assert pipe.next_result(timeout=0.2) is None
    assert time.monotonic() - t0 < 2.5
    pipe.cancel()
    assert pipe.in_flight == 0 and pipe.next_result(timeout=0) is None
    # the cluster is free again: a new pipeline runs normally
    assert [r.ok for r in run_groups(dask_service, [busy_group(0, 5)])] == [True]


def test_exec_dask_from_env_and_unreachable_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    with pytest.raises(ClusterConnectionError, match="DASK_SCHEDULER_ADDRESS is not set"):
        DaskSimulationService.from_env()
    from modelops_testing.real_services import free_port

    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(ClusterConnectionError, match=r"cannot reach the Dask scheduler at 'tcp://127\.0\.0\.1:"):
        DaskSimulationService.from_env(connect_timeout=1)


@pytest.mark.slow
def test_exec_dask_worker_death_is_a_failed_group_not_a_dead_runner() -> None:
    import dask

    # Give up on a task after the first worker it kills (Dask's default retries it on 3 more workers).
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        DaskSimulationService(n_workers=1, memory_limit=None) as service,
    ):
        params = {"x": 1}
        killer = SimulationGroup("exec_models:crash", params, make_param_id(params), (1,), search_path=(MODELS_DIR,))
        results = list(run_groups(service, [busy_group(0, 1), killer], max_in_flight=1))
        by_id = {r.param_id: r for r in results}
        assert not by_id[killer.param_id].ok and "KilledWorker" in by_id[killer.param_id].error
        assert by_id[busy_group(0, 1).param_id].ok
        # the nanny restarted the worker: the service keeps working
        service.wait_for_workers(1, timeout=60)
        assert [r.ok for r in run_groups(service, [busy_group(0, 2)])] == [True]


@pytest.mark.slow
def test_exec_dask_pipeline_grows_with_the_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    import modelops.services.pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "MAX_TASKS_REFRESH_S", 0.0)
    import psutil

    with DaskSimulationService(n_workers=1, memory_limit=None) as service, service.pipeline() as pipe:
        assert pipe.max_tasks == 2 and pipe.capacity == 2
        service.cluster.scale(2)  # a worker joins, as in an autoscaled pool
        service.wait_for_workers(2, timeout=60)
        assert pipe.max_tasks == 4 and pipe.capacity == 4
        worker_pids = list(service.client.run(os.getpid).values())
    # leaving the context closed what the service started: client, cluster, worker processes
    assert service.cluster is None and service.client.status == "closed"
    assert not [p for p in worker_pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


@pytest.mark.timeout(180)
def test_exec_dask_a_result_lost_with_the_last_worker_fails_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C stops the local workers too; a result they computed but the runner had not fetched yet must not
    leave the runner waiting forever for a worker that could compute it again."""
    import signal

    import modelops.services.dask as dask_module
    from modelops.services.dask import _DaskBackend
    from modelops_testing.dask_cluster import dask_cli_cluster

    monkeypatch.setattr(dask_module, "NO_WORKER_PATIENCE_S", 3.0)

    with dask_cli_cluster(n_workers=1) as cluster, DaskSimulationService(cluster.address) as service:
        backend = _DaskBackend(service.client, retries=0)
        group = busy_group(0, 7)
        backend.dispatch([group])
        (task,) = backend._running.values()
        future = task.future
        while future.status != "finished":  # computed, held by the worker, not fetched
            time.sleep(0.05)
        # The worker process and its nanny (the `dask worker` process) die at once, as with a Ctrl-C.
        ((worker_pid, nanny_pid),) = service.client.run(lambda: (os.getpid(), os.getppid())).values()
        os.kill(nanny_pid, signal.SIGKILL)
        os.kill(worker_pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while service.client.nthreads() and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(RuntimeError, match="lost with the worker"):
            backend._fetch(future)
        chunk, outcome = backend.wait(timeout=30)
        # The group is sent again (its result was lost, not its fault); with no worker at all for the patience
        # period it fails, rather than waiting for ever.
        assert chunk == [group] and not outcome[0].ok
        assert "no Dask worker was alive for 3 s" in outcome[0].error
