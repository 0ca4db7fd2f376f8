"""The scaler's decisions against a real Dask scheduler, with worker "pods" as processes started with the pods'
own `dask worker` arguments: a queue that grows scales the group up to max, a queue that drains scales it back to
min, and a pod running a simulation is never among those retired."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelops.k8s.scaler import Decision, GroupState, decide, retire, scheduler_state
from modelops.k8s.workspace import worker_args, worker_name
from modelops.specs.workspace import WorkerGroup
from modelops_testing.real_services import free_port, stop_process, wait_for_port

pytestmark = [pytest.mark.slow]
DASK = str(Path(sys.executable).parent / "dask")


class Harness:
    """Worker pods as processes: `start(pod)` runs the pod's command, `stop(pod)` is the pod's deletion."""

    def __init__(self, group: WorkerGroup, address: str, logs: Path) -> None:
        self.group, self.address, self.logs = group, address, logs
        self.pods: dict[str, subprocess.Popen] = {}
        self.count = 0

    def start(self) -> str:
        pod = f"{worker_name(self.group)}-{self.count:05d}"
        self.count += 1
        args = [a.replace("$(POD_NAME)", pod) for a in worker_args(self.group, self.address)]
        i = args.index("--dashboard-address")
        args[i + 1] = f"127.0.0.1:{free_port()}"  # each pod has its own network namespace; processes share one
        args[args.index("--local-directory") + 1] = str(self.logs / pod)
        log = (self.logs / f"{pod}.log").open("w")
        self.pods[pod] = subprocess.Popen([DASK, "worker", *args], stdout=log, stderr=subprocess.STDOUT)
        return pod

    def stop(self, pod: str) -> None:
        stop_process(self.pods.pop(pod), timeout=20)

    def apply(self, decision: Decision, client, state: GroupState) -> None:
        """What the scaler does on Kubernetes: retire through the scheduler, then scale the Deployment."""
        retire(client, state, decision.retire)
        for pod in decision.retire:
            self.stop(pod)
        while len(self.pods) < decision.replicas:
            self.start()


def _wait_workers(client, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(client.scheduler_info(n_workers=-1)["workers"]) != n:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {n} workers, have {len(client.scheduler_info()['workers'])}")
        time.sleep(0.2)


def test_cloud_autoscale_grows_drains_and_spares_busy_workers(tmp_path: Path) -> None:
    from distributed import Client

    port = free_port()
    sched = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", f":{free_port()}"],
        stdout=(tmp_path / "scheduler.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    group = WorkerGroup(name="default", replicas=1, processes=1, threads=1, autoscale={"min": 1, "max": 4})
    harness = Harness(group, f"tcp://127.0.0.1:{port}", tmp_path)
    decisions: list[tuple[str, Decision]] = []
    try:
        wait_for_port(port, timeout=30, proc=sched)
        harness.start()
        with Client(f"tcp://127.0.0.1:{port}", timeout=30) as client:
            _wait_workers(client, 1)

            def step(phase: str) -> Decision:
                state = scheduler_state(client, worker_name(group), group.processes)
                d = decide(state, processes=group.processes, min_pods=1, max_pods=4, current=len(harness.pods))
                decisions.append((phase, d))
                harness.apply(d, client, state)
                return d

            # The queue grows: 80 simulations of 0.4 s on one worker is 32 s of work.
            # (time.sleep: importable on the workers; a function of this test module would not unpickle there.)
            futures = client.map(time.sleep, [0.4] * 80, pure=False)
            time.sleep(1.5)
            grown = step("grow")
            assert grown.replicas == 4 and not grown.retire, grown
            _wait_workers(client, 4)
            client.gather(futures)  # the queue drains

            # One long simulation keeps one worker busy while the rest are idle.
            long = client.submit(time.sleep, 6.0, pure=False)
            time.sleep(1.0)
            busy_worker = next(iter(client.who_has([long]).values()), None) or [
                w for w, tasks in client.processing().items() if tasks
            ]
            busy_addr = busy_worker[0]
            info = client.scheduler_info(n_workers=-1)["workers"]
            busy_pod = info[busy_addr]["name"]
            shrunk = step("drain")
            assert busy_pod not in shrunk.retire, (busy_pod, shrunk)
            assert shrunk.replicas == 1 and len(shrunk.retire) == 3, shrunk
            assert long.result(timeout=60) is None and long.status == "finished"  # the busy worker finished
            idle = step("idle")
            assert idle.replicas == 1 and not idle.retire  # min reached: nothing more to do
    finally:
        for pod in list(harness.pods):
            harness.stop(pod)
        stop_process(sched, timeout=20)
    print("\nscaler decisions: " + "; ".join(f"{p}: {d.replicas} pods ({d.reason})" for p, d in decisions))


def test_cloud_autoscale_decide_bounds_and_idle_only() -> None:
    state = GroupState(desired_workers=50, pods={"p1": ("a",), "p2": ("b",)})
    assert decide(state, processes=2, min_pods=1, max_pods=10, current=2).replicas == 10  # capped at max
    quiet = GroupState(0, {"p1": ("a",), "p2": ("b",), "p3": ("c",)}, frozenset({"a", "c"}))
    d = decide(quiet, processes=1, min_pods=1, max_pods=10, current=3)
    assert d.replicas == 1 and d.retire == ("p1", "p3")  # b is busy: p2 stays
    all_busy = GroupState(0, {"p1": ("a",), "p2": ("b",)}, frozenset())
    assert decide(all_busy, processes=1, min_pods=0, max_pods=5, current=2).replicas == 2
    half = GroupState(0, {"p1": ("a0", "a1")}, frozenset({"a0"}))  # one of its two processes busy
    assert decide(half, processes=2, min_pods=0, max_pods=5, current=1).replicas == 1


def test_cloud_autoscale_apply_marks_retired_pods_cheapest_then_scales() -> None:
    """The two Kubernetes calls a decision makes, in order (a recording stand-in: no API server runs here)."""
    from modelops.k8s.scaler import DELETION_COST, ScaledGroup, apply_decision

    calls: list[tuple] = []

    class Api:
        def patch_namespaced_pod(self, name, ns, body):
            calls.append(("pod", name, ns, body))

        def patch_namespaced_deployment_scale(self, name, ns, body):
            calls.append(("scale", name, ns, body))

    group = ScaledGroup("dask-worker-burst", 2, 1, 8)
    apply_decision(Api(), Api(), "ns", group, Decision(2, ("p-a", "p-b")), current=4)
    assert calls == [
        ("pod", "p-a", "ns", {"metadata": {"annotations": {DELETION_COST: "-1000"}}}),
        ("pod", "p-b", "ns", {"metadata": {"annotations": {DELETION_COST: "-1000"}}}),
        ("scale", "dask-worker-burst", "ns", {"spec": {"replicas": 2}}),
    ]
    calls.clear()
    apply_decision(Api(), Api(), "ns", group, Decision(4), current=4)
    assert calls == []  # steady: nothing touched
