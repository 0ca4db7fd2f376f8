"""Reading (and, for `down --purge`, deleting) what runs on the cluster, through the Kubernetes Python client.

The only module of ``modelops.k8s`` with effects. Every function takes the API objects it needs, so the CLI
builds them once from a kubeconfig (``clients``) and the tests can hand in their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from modelops.k8s.common import PART_OF


class ClusterError(RuntimeError):
    """The cluster could not be read; the message says what failed and how to fix it."""


@dataclass(frozen=True)
class Clients:
    core: Any
    apps: Any
    batch: Any


def clients(kubeconfig: str) -> Clients:
    """API clients for the cluster a kubeconfig (its text) points at."""
    from kubernetes import client, config

    try:
        api = config.new_client_from_config_dict(yaml.safe_load(kubeconfig))
    except Exception as exc:  # the client raises ConfigException, KeyError, TypeError... for a bad file
        raise ClusterError(f"the kubeconfig is not usable: {exc}") from None
    return Clients(client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api))


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from kubernetes.client.exceptions import ApiException

    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        if exc.status == 404:
            return None
        if exc.status in (401, 403):
            raise ClusterError(
                f"the cluster refused to {what} ({exc.status} {exc.reason}); refresh your credentials "
                "(`mops infra up` re-exports the kubeconfig, or `az aks get-credentials`)"
            ) from None
        raise ClusterError(f"could not {what}: {exc.status} {exc.reason}") from None
    except Exception as exc:  # urllib3 connection errors and timeouts
        raise ClusterError(
            f"could not reach the cluster to {what}: {type(exc).__name__}: {exc}; check the cluster is running "
            "and the kubeconfig points at it"
        ) from None


@dataclass(frozen=True)
class WorkloadStatus:
    kind: str
    name: str
    desired: int
    ready: int

    @property
    def healthy(self) -> bool:
        return self.ready >= self.desired


def workspace_status(c: Clients, namespace: str) -> list[WorkloadStatus]:
    """Each modelops Deployment in the workspace namespace with its desired and ready replicas."""
    found = _call(
        f"list Deployments in {namespace}",
        c.apps.list_namespaced_deployment,
        namespace,
        label_selector=f"app.kubernetes.io/part-of={PART_OF}",
    )
    out = []
    for d in found.items if found is not None else []:
        out.append(WorkloadStatus("Deployment", d.metadata.name, d.spec.replicas or 0, d.status.ready_replicas or 0))
    return sorted(out, key=lambda w: w.name)


@dataclass(frozen=True)
class PodStatus:
    name: str
    phase: str
    restarts: int
    reason: str | None = None


@dataclass(frozen=True)
class JobStatus:
    name: str
    exists: bool
    completions: int = 0
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    pods: tuple[PodStatus, ...] = field(default_factory=tuple)

    @property
    def state(self) -> str:
        if not self.exists:
            return "absent"
        if self.succeeded >= self.completions > 0:
            return "complete"
        if self.active:
            return "running"
        if self.failed:
            return "failing"
        return "pending"


def _pods(c: Clients, namespace: str, job_name: str) -> list[Any]:
    found = _call(
        f"list the pods of Job {job_name}",
        c.core.list_namespaced_pod,
        namespace,
        label_selector=f"job-name={job_name}",
    )
    return list(found.items) if found is not None else []


def job_status(c: Clients, namespace: str, job_name: str) -> JobStatus:
    job = _call(f"read Job {job_name}", c.batch.read_namespaced_job, job_name, namespace)
    if job is None:
        return JobStatus(job_name, exists=False)
    pods = []
    for p in _pods(c, namespace, job_name):
        statuses = p.status.container_statuses or []
        restarts = sum(s.restart_count or 0 for s in statuses)
        waiting = next((s.state.waiting.reason for s in statuses if s.state and s.state.waiting), None)
        pods.append(PodStatus(p.metadata.name, p.status.phase or "Unknown", restarts, waiting))
    st = job.status
    return JobStatus(
        job_name,
        exists=True,
        completions=job.spec.completions or 1,
        active=st.active or 0,
        succeeded=st.succeeded or 0,
        failed=st.failed or 0,
        pods=tuple(sorted(pods, key=lambda p: p.name)),
    )


def job_logs(c: Clients, namespace: str, job_name: str, *, tail: int | None = None) -> Iterator[tuple[str, str]]:
    """(pod name, its log text) for every pod of a Job, oldest pod first."""
    pods = sorted(_pods(c, namespace, job_name), key=lambda p: p.metadata.creation_timestamp or 0)
    for p in pods:
        kwargs: dict[str, Any] = {}  # one container per pod: no container name needed
        if tail is not None:
            kwargs["tail_lines"] = tail
        text = _call(
            f"read the log of {p.metadata.name}", c.core.read_namespaced_pod_log, p.metadata.name, namespace, **kwargs
        )
        yield p.metadata.name, text or ""


def delete_namespace(c: Clients, namespace: str) -> bool:
    """Delete a namespace and everything in it (its PVCs too); False when it did not exist."""
    return _call(f"delete namespace {namespace}", c.core.delete_namespace, namespace) is not None


@dataclass(frozen=True)
class RunOnCluster:
    run_id: str
    namespace: str
    slug: str
    runners: JobStatus


def list_runs(c: Clients) -> list[RunOnCluster]:
    """Every adaptive run's namespace on the cluster (label modelops.io/plane=adaptive) and its runner Job."""
    found = _call("list namespaces", c.core.list_namespace, label_selector="modelops.io/plane=adaptive")
    out = []
    for ns in found.items if found is not None else []:
        lbls = ns.metadata.labels or {}
        slug = lbls.get("app.kubernetes.io/instance", "")
        run_id = lbls.get("modelops.io/run-id", slug)
        out.append(RunOnCluster(run_id, ns.metadata.name, slug, job_status(c, ns.metadata.name, f"runner-{slug}")))
    return sorted(out, key=lambda r: r.run_id)


def scale_deployment(c: Clients, namespace: str, name: str, replicas: int) -> int | None:
    """Set a Deployment's replicas; returns the previous count, or None when it does not exist."""
    scale = _call(f"read the scale of {name}", c.apps.read_namespaced_deployment_scale, name, namespace)
    if scale is None:
        return None
    _call(
        f"scale {name}",
        c.apps.patch_namespaced_deployment_scale,
        name,
        namespace,
        {"spec": {"replicas": replicas}},
    )
    return scale.spec.replicas or 0
