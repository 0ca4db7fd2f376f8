"""Manifests of the workspace plane: a namespace with a Dask scheduler and groups of `dask worker` pods.

``build_workspace(spec)`` returns the list of manifests in apply order. The containers run the same `dask`
commands a local test runs as processes (tests/e2e starts them from these manifests), so what the pods do is tested
here, not assumed.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelops.k8s import network
from modelops.k8s.common import (
    IMAGE_DIGEST_SKIP,
    Manifest,
    checkov_skips,
    container,
    labels,
    metadata,
    namespace,
    pod_spec,
    secret,
    selector_labels,
)
from modelops.k8s.identity import PodIdentity
from modelops.specs.workspace import ImagePull, WorkerGroup, WorkspaceSpec

SCHEDULER = "dask-scheduler"
SCHEDULER_PORT = network.SCHEDULER_PORT
DASHBOARD_PORT = 8787
WORKER_HTTP_PORT = 8788
PULL_SECRET = "modelops-registry"
STORAGE_SECRET = "modelops-object-store"


class K8sConfigError(ValueError):
    """Something needed to build manifests is missing from the environment; the message says what to set."""


@dataclass(frozen=True)
class RegistryCredentials:
    registry: str
    username: str
    token: str = field(repr=False)  # from the environment; components mark the Secret built from it secret

    def dockerconfigjson(self) -> str:
        auth = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
        return json.dumps({"auths": {self.registry: {"username": self.username, "password": self.token, "auth": auth}}})


def registry_credentials(
    pull: ImagePull, image: str, environ: Mapping[str, str] | None = None
) -> RegistryCredentials | None:
    """GHCR credentials from the environment (None for ACR or public images); fails fast when they are missing."""
    if pull.resolve(image) != "ghcr":
        return None
    env = os.environ if environ is None else environ
    username, token = env.get(pull.username_env, ""), env.get(pull.token_env, "")
    missing = [name for name, value in ((pull.username_env, username), (pull.token_env, token)) if not value]
    if missing:
        raise K8sConfigError(
            f"the image {image} is on ghcr.io, which needs a pull secret, but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set. Export {pull.username_env} (your GitHub user) and "
            f"{pull.token_env} (a token with read:packages), or set spec.image_pull.kind: none for a public image"
        )
    return RegistryCredentials("ghcr.io", username, token)


def scheduler_address(ns: str) -> str:
    return f"tcp://{SCHEDULER}.{ns}:{SCHEDULER_PORT}"


def dashboard_url(ns: str) -> str:
    return f"http://{SCHEDULER}.{ns}:{DASHBOARD_PORT}"


def scheduler_selector(ns: str) -> dict[str, str]:
    return selector_labels(SCHEDULER, ns)


def pull_secret_manifest(ns: str, creds: RegistryCredentials, lbls: Mapping[str, str]) -> Manifest:
    return secret(
        PULL_SECRET, ns, lbls, {".dockerconfigjson": creds.dockerconfigjson()}, type_="kubernetes.io/dockerconfigjson"
    )


def _scheduler(spec: WorkspaceSpec, ns: str, pull_secrets: list[str]) -> list[Manifest]:
    s = spec.spec.scheduler
    lbls = labels(SCHEDULER, ns, **{"app.kubernetes.io/component": "scheduler"})
    sel = scheduler_selector(ns)
    probes = {
        # /health answers from the scheduler's HTTP server (port 8787) even without the bokeh dashboard.
        "readinessProbe": {"tcpSocket": {"port": SCHEDULER_PORT}, "initialDelaySeconds": 5, "periodSeconds": 10},
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": DASHBOARD_PORT},
            "initialDelaySeconds": 15,
            "periodSeconds": 20,
            "failureThreshold": 6,
        },
    }
    c = container(
        "scheduler",
        spec.image,
        command=["dask", "scheduler"],
        args=["--port", str(SCHEDULER_PORT), "--dashboard-address", f":{DASHBOARD_PORT}"],
        resources=s.resources.as_dict(),
        ports=[
            {"name": "tcp-comm", "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
            {"name": "http-dashboard", "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
        ],
        probes=probes,
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(SCHEDULER, ns, lbls, checkov_skips(IMAGE_DIGEST_SKIP)),
        "spec": {
            # One scheduler: Dask's scheduler holds the task graph in memory and cannot be replicated.
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": sel},
            "template": {
                # Dask's scheduler serves Prometheus metrics on its HTTP port.
                "metadata": {"labels": lbls, "annotations": network.scrape_annotations(DASHBOARD_PORT)},
                "spec": pod_spec(
                    [c],
                    node_selector=s.node_selector,
                    tolerations=[t.as_dict() for t in s.tolerations],
                    image_pull_secrets=pull_secrets,
                ),
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(SCHEDULER, ns, lbls),
        "spec": {
            "type": "ClusterIP",
            "selector": sel,
            "ports": [
                {"name": "tcp-comm", "port": SCHEDULER_PORT, "targetPort": SCHEDULER_PORT, "protocol": "TCP"},
                {"name": "http-dashboard", "port": DASHBOARD_PORT, "targetPort": DASHBOARD_PORT, "protocol": "TCP"},
            ],
        },
    }
    # Evicting the scheduler loses every in-flight task of every running study: voluntary disruptions (node
    # drains, autoscaler scale-down) must wait until `mops workspace down`.
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(SCHEDULER, ns, lbls),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": sel}},
    }
    return [deployment, service, pdb]


def worker_name(group: WorkerGroup) -> str:
    return f"dask-worker-{group.name}"


def worker_args(group: WorkerGroup, address: str) -> list[str]:
    """`dask worker` arguments: processes x threads, and the per-process memory limit derived from the pod's."""
    return [
        address,
        "--nworkers",
        str(group.processes),
        "--nthreads",
        str(group.threads),
        "--memory-limit",
        str(group.memory_limit_per_process),
        "--name",
        "$(POD_NAME)",  # the kubelet expands it; with several processes Dask appends -0, -1, ...
        "--local-directory",
        "/tmp/dask-worker-space",
        "--dashboard-address",
        f":{WORKER_HTTP_PORT}",
        "--no-dashboard",
        # A worker that cannot reach the scheduler for 10 minutes exits, and the Deployment restarts it.
        "--death-timeout",
        "600",
    ]


def _worker(
    spec: WorkspaceSpec,
    group: WorkerGroup,
    ns: str,
    pull_secrets: list[str],
    storage: bool,
    identity: PodIdentity | None = None,
) -> Manifest:
    name = worker_name(group)
    lbls = labels(name, ns, **{"app.kubernetes.io/component": "worker", "modelops.io/worker-group": group.name})
    res = group.resources.as_dict()
    node_selector = dict(group.node_selector)
    tolerations = [t.as_dict() for t in group.tolerations]
    if group.gpu is not None:
        gpu = group.gpu.resource_name
        res = {
            "requests": {**res["requests"], gpu: str(group.gpu.count)},
            "limits": {**res["limits"], gpu: str(group.gpu.count)},
        }
        node_selector.update(group.gpu.node_selector)
        # GPU nodes carry this taint so that only pods asking for GPUs land there.
        gpu_toleration = {"key": gpu, "operator": "Exists", "effect": "NoSchedule"}
        if gpu_toleration not in tolerations:
            tolerations.append(gpu_toleration)
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        # Dask's statistical profiler wakes every 10 ms and takes the GIL from the simulation thread; measured 3-7%
        # slower 10 ms simulations with it on (bench/bench_execution.py), so workers run without it, as locally.
        {"name": "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED", "value": "False"},
    ]
    env_from = [{"secretRef": {"name": STORAGE_SECRET}}] if storage else []
    mounts: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    if identity is not None:
        env += identity.env()
        mounts += identity.mounts()
        volumes += identity.volumes()
    c = container(
        "worker",
        spec.image,
        command=["dask", "worker"],
        args=worker_args(group, scheduler_address(ns)),
        env=env,
        env_from=env_from,
        resources=res,
        mounts=mounts,
        ports=[{"name": "http-health", "containerPort": WORKER_HTTP_PORT, "protocol": "TCP"}],
        probes={
            # The first worker process of the pod serves /health on 8788; the nanny restarts a dead process.
            "readinessProbe": {"httpGet": {"path": "/health", "port": WORKER_HTTP_PORT}, "periodSeconds": 10},
            "livenessProbe": {
                "httpGet": {"path": "/health", "port": WORKER_HTTP_PORT},
                "initialDelaySeconds": 30,
                "periodSeconds": 20,
                "failureThreshold": 6,
            },
        },
    )
    skips = dict(IMAGE_DIGEST_SKIP)
    if storage:
        skips["CKV_K8S_35"] = (
            "adlfs (fsspec's az://) reads the object-store credentials only from AZURE_STORAGE_* environment "
            "variables; they come from a Secret through envFrom, never from a value in this manifest"
        )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, ns, lbls, checkov_skips(skips)),
        "spec": {
            # With autoscale the scaler owns the count from here on; it starts inside [min, max].
            "replicas": (
                min(max(group.replicas, group.autoscale.min), group.autoscale.max)
                if group.autoscale
                else group.replicas
            ),
            "selector": {"matchLabels": selector_labels(name, ns)},
            "template": {
                # The first worker process of the pod serves /metrics (and /health) on 8788.
                "metadata": {"labels": lbls, "annotations": network.scrape_annotations(WORKER_HTTP_PORT)},
                "spec": pod_spec(
                    [c],
                    volumes=volumes,
                    node_selector=node_selector,
                    tolerations=tolerations,
                    image_pull_secrets=pull_secrets,
                    service_account=identity.service_account if identity is not None else None,
                ),
            },
        },
    }


def build_workspace(
    spec: WorkspaceSpec,
    namespace_name: str,
    *,
    credentials: RegistryCredentials | None = None,
    storage_env: Mapping[str, Any] | None = None,
    identity: PodIdentity | None = None,
) -> list[Manifest]:
    """Every manifest of the workspace, in apply order.

    ``credentials``: the GHCR pull secret (see ``registry_credentials``); ``storage_env``: object-store variables
    (AZURE_STORAGE_ACCOUNT_NAME, AZURE_STORAGE_SAS_TOKEN, ...) the workers get through a Secret, for the simulation
    cache and raw outputs (the SAS fallback); ``identity``: the workload identity the workers act as instead, with
    no credential in any Secret (both together are refused); ``namespace_name`` is ``spec.namespace_for(environment)``.
    """
    if identity is not None and storage_env:
        raise K8sConfigError(
            "both a workload identity and object-store credentials were given; workload identity needs no SAS or key "
            "(unset AZURE_STORAGE_SAS_TOKEN / AZURE_STORAGE_CONNECTION_STRING, or use storage auth: sas)"
        )
    ns = namespace_name
    base = labels("workspace", ns)
    out: list[Manifest] = [namespace(ns, {**base, network.PLANE_LABEL: "workspace"})]
    pull_secrets: list[str] = []
    if credentials is not None:
        out.append(pull_secret_manifest(ns, credentials, base))
        pull_secrets.append(PULL_SECRET)
    if storage_env:
        out.append(secret(STORAGE_SECRET, ns, base, storage_env))
    if identity is not None:
        out += identity.manifests(ns, base)
    out += network.baseline_policies(ns)
    out.append(network.scheduler_ingress_from_adaptive(ns, scheduler_selector(ns)))
    out.append(network.metrics_ingress(ns, [DASHBOARD_PORT, WORKER_HTTP_PORT]))
    out += _scheduler(spec, ns, pull_secrets)
    for group in spec.spec.all_groups():
        out.append(_worker(spec, group, ns, pull_secrets, bool(storage_env), identity))
    scaled = [g for g in spec.spec.all_groups() if g.autoscale is not None]
    if scaled:
        out += _scaler(spec, ns, scaled, pull_secrets)
    return out


def _scaler(spec: WorkspaceSpec, ns: str, groups: list[WorkerGroup], pull_secrets: list[str]) -> list[Manifest]:
    """The scaler (modelops.k8s.scaler): a ServiceAccount allowed to scale this namespace's worker Deployments and
    annotate their pods, nothing else, and one Deployment running `mops workspace autoscale`."""
    from modelops.k8s.scaler import SCALER, probe

    lbls = labels(SCALER, ns, **{"app.kubernetes.io/component": "scaler"})
    names = [worker_name(g) for g in groups]
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(SCALER, ns, lbls),
        "automountServiceAccountToken": False,
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata(SCALER, ns, lbls),
        "rules": [
            {"apiGroups": ["apps"], "resources": ["deployments/scale"], "resourceNames": names,
             "verbs": ["get", "patch"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["patch"]},
        ],
    }  # fmt: skip
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(SCALER, ns, lbls),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SCALER},
        "subjects": [{"kind": "ServiceAccount", "name": SCALER, "namespace": ns}],
    }
    args = ["workspace", "autoscale", "--namespace", ns, "--scheduler", scheduler_address(ns)]
    for g in groups:
        assert g.autoscale is not None
        args += ["--group", f"{worker_name(g)}:{g.processes}:{g.autoscale.min}:{g.autoscale.max}"]
    c = container(
        "scaler",
        spec.image,
        command=["mops"],
        args=args,
        resources={"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        probes={"readinessProbe": probe(), "livenessProbe": {**probe(), "failureThreshold": 4}},
    )
    pod = pod_spec([c], image_pull_secrets=pull_secrets, service_account=SCALER)
    # The one pod here that talks to the Kubernetes API, so the one that gets a token (scoped by the Role above).
    pod["automountServiceAccountToken"] = True
    skips = {
        **IMAGE_DIGEST_SKIP,
        "CKV_K8S_38": "the scaler scales the worker Deployments through the Kubernetes API; its token is limited "
        "by a Role to deployments/scale of those Deployments and patching pods in this namespace",
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(SCALER, ns, lbls, checkov_skips(skips)),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector_labels(SCALER, ns)},
            "template": {"metadata": {"labels": lbls}, "spec": pod},
        },
    }
    return [sa, role, binding, deployment]
