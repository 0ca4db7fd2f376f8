"""Autoscaling of worker groups (``autoscale: {min, max}``): the scheduler's demand, never a busy worker evicted.

Why a scaler of our own rather than an HPA or KEDA on a ``desired_workers`` metric: an HPA changes a Deployment's
replica count and Kubernetes then picks which pods to delete, by its own ranking; it cannot know which Dask workers
hold running simulations or results not yet fetched, so a scale-down can kill a busy worker and cost its group
(retried, but work lost). Only the scheduler knows which workers are idle. So the decision is Dask's own: the
scheduler's ``adaptive_target()`` (the workers its queued and running tasks need, Dask's adaptive-scaling estimate)
sizes the group, and on the way down ``workers_to_close()`` names the idle workers whose data can move; only pods
all of whose worker processes are among them are retired (gracefully, through the scheduler), and only then is the
Deployment scaled down, with those pods marked cheapest to delete (``controller.kubernetes.io/pod-deletion-cost``).

``decide`` is pure (tested with the pod-equivalent process harness in tests/cloud_autoscale, against a real
scheduler under a queue that grows and drains); ``scheduler_state`` reads a live scheduler through a Dask client.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


@dataclass(frozen=True)
class GroupState:
    """What the scheduler says about one worker group: its pods' worker processes and the demand."""

    desired_workers: int  # Dask's adaptive target, in worker processes, for the whole cluster
    pods: Mapping[str, Sequence[str]]  # pod name -> its worker addresses
    closable: frozenset[str] = field(default_factory=frozenset)  # addresses the scheduler can close now


@dataclass(frozen=True)
class Decision:
    replicas: int
    retire: tuple[str, ...] = ()  # pod names to retire before scaling down
    reason: str = ""


def decide(state: GroupState, *, processes: int, min_pods: int, max_pods: int, current: int) -> Decision:
    """How many pods the group should run, and which idle pods go first when it shrinks."""
    want = math.ceil(state.desired_workers / max(1, processes))
    want = max(min_pods, min(max_pods, want))
    if want > current:
        return Decision(want, (), f"demand {state.desired_workers} workers: {current} -> {want} pods")
    if want == current:
        return Decision(current, (), "steady")
    # Down: only pods whose every worker process the scheduler would close (idle, data movable).
    idle = sorted(pod for pod, workers in state.pods.items() if workers and set(workers) <= state.closable)
    # A pod with no registered workers yet (starting) is neither busy nor counted idle: it stays.
    can_go = idle[: current - want]
    if not can_go:
        return Decision(current, (), f"demand allows {want} pods but every pod is busy")
    return Decision(current - len(can_go), tuple(can_go), f"idle pods retired: {current} -> {current - len(can_go)}")


def _scheduler_view(dask_scheduler: Any, prefix: str, processes: int) -> dict[str, Any]:
    """Runs on the scheduler (``client.run_on_scheduler``): demand, this group's workers by pod, closable ones."""
    pods: dict[str, list[str]] = {}
    for address, ws in dask_scheduler.workers.items():
        name = str(ws.name)
        if name.startswith(prefix):
            # `dask worker --name POD --nworkers N` names the processes POD-0 .. POD-(N-1) when N > 1.
            pod = name.rsplit("-", 1)[0] if processes > 1 else name
            pods.setdefault(pod, []).append(address)
    # workers_to_close() ranks workers it could close and *includes busy ones* when the others can take their work
    # (seen against a real scheduler: the worker running a 6 s task was named). Retiring such a worker would
    # reschedule its running simulation, so only workers with nothing processing are closable here.
    closable = [
        address
        for address in dask_scheduler.workers_to_close(n=len(dask_scheduler.workers))
        if not dask_scheduler.workers[address].processing
    ]
    return {"desired": dask_scheduler.adaptive_target(), "pods": pods, "closable": list(closable)}


def scheduler_state(client: Any, group_prefix: str, processes: int) -> GroupState:
    """The group's state from a live scheduler (``group_prefix``: the Deployment name, e.g. dask-worker-default)."""
    view = client.run_on_scheduler(_scheduler_view, prefix=group_prefix, processes=processes)
    return GroupState(int(view["desired"]), {k: tuple(v) for k, v in view["pods"].items()}, frozenset(view["closable"]))


def retire(client: Any, state: GroupState, pods: Sequence[str]) -> list[str]:
    """Retire the pods' workers through the scheduler (their results move to other workers first)."""
    addresses = [a for pod in pods for a in state.pods.get(pod, ())]
    if addresses:
        client.retire_workers(workers=addresses, close_workers=True, remove=True)
    return addresses


# --- on the cluster: the scaler Deployment and its loop --------------------------------------------------------
SCALER = "modelops-scaler"
INTERVAL_S = 15.0
HEARTBEAT = "/tmp/modelops-scaler.alive"  # touched after every round; the pod's probes read its age


def probe(max_age_s: int = 120) -> dict[str, Any]:
    check = f"test $(( $(date +%s) - $(stat -c %Y {HEARTBEAT}) )) -lt {max_age_s}"
    return {"exec": {"command": ["sh", "-c", check]}, "initialDelaySeconds": 30, "periodSeconds": 30}


@dataclass(frozen=True)
class ScaledGroup:
    deployment: str
    processes: int
    min_pods: int
    max_pods: int


def apply_decision(apps: Any, core: Any, ns: str, group: ScaledGroup, decision: Decision, current: int) -> None:
    """Mark the retired pods cheapest to delete, then set the Deployment's replicas (Kubernetes deletes the
    cheapest pods first when a ReplicaSet shrinks)."""
    for pod in decision.retire:
        core.patch_namespaced_pod(pod, ns, {"metadata": {"annotations": {DELETION_COST: "-1000"}}})
    if decision.replicas != current:
        apps.patch_namespaced_deployment_scale(group.deployment, ns, {"spec": {"replicas": decision.replicas}})


def run_loop(client: Any, apps: Any, core: Any, ns: str, groups: Sequence[ScaledGroup], *, rounds: int | None = None,
             interval: float = INTERVAL_S, log: Any = print, heartbeat: str | None = HEARTBEAT) -> None:  # fmt: skip
    """Every ``interval`` seconds, for each group: read the scheduler, decide, retire idle pods, scale."""
    import time
    from pathlib import Path

    done = 0
    while rounds is None or done < rounds:
        for group in groups:
            try:
                current = apps.read_namespaced_deployment_scale(group.deployment, ns).spec.replicas or 0
                state = scheduler_state(client, group.deployment, group.processes)
                decision = decide(
                    state, processes=group.processes, min_pods=group.min_pods, max_pods=group.max_pods, current=current
                )
                if decision.retire:
                    retire(client, state, decision.retire)
                apply_decision(apps, core, ns, group, decision, current)
                if decision.replicas != current:
                    log(f"{group.deployment}: {decision.reason}")
            except Exception as exc:  # one bad round (API hiccup, scheduler restart) must not end the scaler
                log(f"{group.deployment}: skipped this round: {type(exc).__name__}: {exc}")
        done += 1
        if heartbeat:
            Path(heartbeat).touch()
        time.sleep(interval)
